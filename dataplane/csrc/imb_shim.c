/*
 * ferrogate: a small C shim over intel-ipsec-mb 1.3 for the dataplane's `ipsec-mb` engine.
 *
 * The IMB_* API is made of macros over function-pointer fields of IMB_MGR; binding them
 * from Rust would mean mirroring the whole manager struct. This shim instead exposes a few
 * plain functions: manager lifetime, per-SA key precomputation, one synchronous GMAC call
 * and one run over a burst of job descriptors (multi-buffer jobs; AES-GCM direct) (`struct fg_imb_op`, mirrored
 * field for field by `FgImbOp` in src/crypto/ipsecmb/ffi.rs; fg_imb_op_size() lets the
 * Rust side check the two agree).
 *
 * Compiled by build.rs with -DLINUX (the header keys struct alignment on it) and
 * -DNO_COMPAT_IMB_API_053.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <intel-ipsec-mb.h>

/* Job kinds (FG_KIND_*) and hashes (FG_HASH_*): keep in sync with ffi.rs. */
enum {
        FG_KIND_GCM = 1,
        FG_KIND_CBC = 2,
        FG_KIND_CTR = 3,
        FG_KIND_NULL = 4,
        FG_KIND_CHACHA = 5,
};
enum {
        FG_HASH_NONE = 0,
        FG_HASH_SHA1 = 1,
        FG_HASH_SHA256 = 2,
        FG_HASH_SHA384 = 3,
        FG_HASH_SHA512 = 4,
};

struct fg_imb_op {
        uint8_t *buf;             /* the ESP packet (in-place processing) */
        const void *enc_keys;     /* expanded AES enc keys, gcm_key_data, or chacha key */
        const void *dec_keys;     /* expanded AES dec keys (CBC) */
        const void *ipad;         /* HMAC inner state after key ^ ipad */
        const void *opad;         /* HMAC outer state after key ^ opad */
        const uint8_t *iv;        /* nonce / counter block / CBC IV */
        uint8_t *tag_out;         /* untruncated-size scratch for the computed ICV */
        uint64_t cipher_off;      /* region start in buf */
        uint64_t cipher_len;      /* region length */
        uint64_t hash_len;        /* HMAC: bytes hashed from buf[0] */
        uint64_t iv_len;
        uint64_t aad_len;
        uint64_t tag_len;         /* ICV length (truncated) */
        uint8_t aad[16];          /* AEAD AAD (8 or 12 bytes) */
        uint32_t kind;
        uint32_t encrypt;         /* 1 = seal, 0 = open */
        uint32_t key_len;         /* AES key bytes */
        uint32_t hash;
        int32_t status;           /* out: IMB_STATUS */
        uint32_t reserved;
};

size_t fg_imb_op_size(void)
{
        return sizeof(struct fg_imb_op);
}

size_t fg_imb_gcm_key_size(void)
{
        return sizeof(struct gcm_key_data);
}

/* A manager initialised for the best code path of this CPU, or NULL. */
IMB_MGR *fg_imb_mgr_new(void)
{
        IMB_ARCH arch = IMB_ARCH_NONE;
        IMB_MGR *m = alloc_mb_mgr(0);

        if (m == NULL)
                return NULL;
        init_mb_mgr_auto(m, &arch);
        if (imb_get_errno(m) != 0 || arch == IMB_ARCH_NONE || arch == IMB_ARCH_NOAESNI) {
                free_mb_mgr(m);
                return NULL;
        }
        return m;
}

void fg_imb_mgr_free(IMB_MGR *m)
{
        if (m != NULL)
                free_mb_mgr(m);
}

/* IMB_ARCH of the manager's code path (2 SSE, 3 AVX, 4 AVX2, 5 AVX512). */
int fg_imb_mgr_arch(const IMB_MGR *m)
{
        return (int)m->used_arch;
}

/* Whether the VAES (vector AES) feature is in use. */
int fg_imb_mgr_vaes(const IMB_MGR *m)
{
        return (m->features & IMB_FEATURE_VAES) != 0;
}

/* AES key schedules (16-byte aligned, 240 bytes each). 0 on success. */
int fg_imb_aes_keyexp(IMB_MGR *m, const uint8_t *key, uint32_t key_len, void *enc, void *dec)
{
        switch (key_len) {
        case 16: IMB_AES_KEYEXP_128(m, key, enc, dec); return 0;
        case 24: IMB_AES_KEYEXP_192(m, key, enc, dec); return 0;
        case 32: IMB_AES_KEYEXP_256(m, key, enc, dec); return 0;
        default: return -1;
        }
}

/* GCM key data (key schedule + GHASH tables) into a 64-byte aligned gcm_key_data. */
int fg_imb_gcm_pre(IMB_MGR *m, const uint8_t *key, uint32_t key_len, void *gcm_key)
{
        struct gcm_key_data *kd = gcm_key;

        switch (key_len) {
        case 16: IMB_AES128_GCM_PRE(m, key, kd); return 0;
        case 24: IMB_AES192_GCM_PRE(m, key, kd); return 0;
        case 32: IMB_AES256_GCM_PRE(m, key, kd); return 0;
        default: return -1;
        }
}

/*
 * HMAC inner/outer states: one compression of (key ^ ipad) and (key ^ opad), as the job API
 * wants them (RFC 2104 §2). Keys are at most one block here (ESP keys are hash-sized).
 */
int fg_imb_hmac_pre(IMB_MGR *m, uint32_t hash, const uint8_t *key, uint32_t key_len,
                    uint8_t *ipad, uint8_t *opad)
{
        uint8_t block[128];
        uint32_t block_len = (hash == FG_HASH_SHA384 || hash == FG_HASH_SHA512) ? 128 : 64;
        uint32_t i;
        int rc = 0;

        if (key_len > block_len)
                return -1;
        for (int pass = 0; pass < 2; pass++) {
                uint8_t pad = pass == 0 ? 0x36 : 0x5c;
                uint8_t *out = pass == 0 ? ipad : opad;

                memset(block, pad, block_len);
                for (i = 0; i < key_len; i++)
                        block[i] ^= key[i];
                switch (hash) {
                case FG_HASH_SHA1: IMB_SHA1_ONE_BLOCK(m, block, out); break;
                case FG_HASH_SHA256: IMB_SHA256_ONE_BLOCK(m, block, out); break;
                case FG_HASH_SHA384: IMB_SHA384_ONE_BLOCK(m, block, out); break;
                case FG_HASH_SHA512: IMB_SHA512_ONE_BLOCK(m, block, out); break;
                default: rc = -1; break;
                }
        }
        /* the padded key is key material: clear it the way the compiler cannot elide */
        imb_clear_mem(block, sizeof(block));
        return rc;
}

/*
 * GMAC (RFC 4543) over head || tail, which need not be contiguous in memory (the ESN high
 * half sits between SPI and sequence number). head_len must be a multiple of 16 unless
 * tail_len is 0. Writes tag_len bytes of tag.
 */
int fg_imb_gmac(IMB_MGR *m, const void *gcm_key, uint32_t key_len, const uint8_t *nonce12,
                const uint8_t *head, uint64_t head_len, const uint8_t *tail, uint64_t tail_len,
                uint8_t *tag, uint64_t tag_len)
{
        const struct gcm_key_data *kd = gcm_key;
        struct gcm_context_data ctx;

        switch (key_len) {
        case 16:
                IMB_AES128_GMAC_INIT(m, kd, &ctx, nonce12, 12);
                IMB_AES128_GMAC_UPDATE(m, kd, &ctx, head, head_len);
                if (tail_len)
                        IMB_AES128_GMAC_UPDATE(m, kd, &ctx, tail, tail_len);
                IMB_AES128_GMAC_FINALIZE(m, kd, &ctx, tag, tag_len);
                break;
        case 24:
                IMB_AES192_GMAC_INIT(m, kd, &ctx, nonce12, 12);
                IMB_AES192_GMAC_UPDATE(m, kd, &ctx, head, head_len);
                if (tail_len)
                        IMB_AES192_GMAC_UPDATE(m, kd, &ctx, tail, tail_len);
                IMB_AES192_GMAC_FINALIZE(m, kd, &ctx, tag, tag_len);
                break;
        case 32:
                IMB_AES256_GMAC_INIT(m, kd, &ctx, nonce12, 12);
                IMB_AES256_GMAC_UPDATE(m, kd, &ctx, head, head_len);
                if (tail_len)
                        IMB_AES256_GMAC_UPDATE(m, kd, &ctx, tail, tail_len);
                IMB_AES256_GMAC_FINALIZE(m, kd, &ctx, tag, tag_len);
                break;
        default:
                return -1;
        }
        imb_clear_mem(&ctx, sizeof(ctx));
        return imb_get_errno(m);
}

static IMB_HASH_ALG hmac_alg(uint32_t hash)
{
        switch (hash) {
        case FG_HASH_SHA1: return IMB_AUTH_HMAC_SHA_1;
        case FG_HASH_SHA256: return IMB_AUTH_HMAC_SHA_256;
        case FG_HASH_SHA384: return IMB_AUTH_HMAC_SHA_384;
        case FG_HASH_SHA512: return IMB_AUTH_HMAC_SHA_512;
        default: return IMB_AUTH_NULL;
        }
}

static void fill_job(IMB_JOB *job, struct fg_imb_op *op)
{
        /* src is the packet and the offsets count from it; dst is where the cipher output
         * starts (ipsec-mb does not apply the offset to dst): in place. */
        job->src = op->buf;
        job->dst = op->buf + op->cipher_off;
        job->cipher_direction = op->encrypt ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
        job->chain_order = op->encrypt ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
        job->cipher_start_src_offset_in_bytes = op->cipher_off;
        job->msg_len_to_cipher_in_bytes = op->cipher_len;
        job->iv = op->iv;
        job->iv_len_in_bytes = op->iv_len;
        job->auth_tag_output = op->tag_out;
        job->auth_tag_output_len_in_bytes = op->tag_len;
        job->user_data = op;

        switch (op->kind) {
        case FG_KIND_GCM:
                job->cipher_mode = IMB_CIPHER_GCM;
                job->hash_alg = IMB_AUTH_AES_GMAC;
                job->enc_keys = op->enc_keys;
                job->dec_keys = op->enc_keys;
                job->key_len_in_bytes = op->key_len;
                job->hash_start_src_offset_in_bytes = op->cipher_off;
                job->msg_len_to_hash_in_bytes = op->cipher_len;
                job->u.GCM.aad = op->aad;
                job->u.GCM.aad_len_in_bytes = op->aad_len;
                break;
        case FG_KIND_CHACHA:
                job->cipher_mode = IMB_CIPHER_CHACHA20_POLY1305;
                job->hash_alg = IMB_AUTH_CHACHA20_POLY1305;
                job->enc_keys = op->enc_keys;
                job->dec_keys = op->enc_keys;
                job->key_len_in_bytes = 32;
                job->hash_start_src_offset_in_bytes = op->cipher_off;
                job->msg_len_to_hash_in_bytes = op->cipher_len;
                job->u.CHACHA20_POLY1305.aad = op->aad;
                job->u.CHACHA20_POLY1305.aad_len_in_bytes = op->aad_len;
                break;
        default: /* CBC, CTR or NULL cipher with HMAC over SPI .. region (+ ESN high half) */
                job->cipher_mode = op->kind == FG_KIND_CBC   ? IMB_CIPHER_CBC
                                   : op->kind == FG_KIND_CTR ? IMB_CIPHER_CNTR
                                                             : IMB_CIPHER_NULL;
                job->enc_keys = op->enc_keys;
                job->dec_keys = op->kind == FG_KIND_CBC ? op->dec_keys : op->enc_keys;
                job->key_len_in_bytes = op->key_len;
                job->hash_alg = hmac_alg(op->hash);
                job->hash_start_src_offset_in_bytes = 0;
                job->msg_len_to_hash_in_bytes = op->hash_len;
                job->u.HMAC._hashed_auth_key_xor_ipad = op->ipad;
                job->u.HMAC._hashed_auth_key_xor_opad = op->opad;
                break;
        }
}

static void complete(const IMB_JOB *job)
{
        struct fg_imb_op *op = job->user_data;

        op->status = (int32_t)job->status;
}

/*
 * Runs n jobs through the multi-buffer manager: submit all, collecting whatever completes
 * early, then flush. Every op's status is set (IMB_STATUS_COMPLETED on success).
 */
/*
 * AES-GCM through the direct (single-buffer) API: GCM is not multi-buffer in ipsec-mb, so
 * the job manager only adds its queueing (measured here: 64-byte packets sealed faster this
 * way). Encrypts or decrypts buf[cipher_off..+cipher_len] in place and writes the tag.
 */
static int32_t gcm_direct(IMB_MGR *m, struct fg_imb_op *op, struct gcm_context_data *ctx)
{
        const struct gcm_key_data *kd = op->enc_keys;
        uint8_t *p = op->buf + op->cipher_off;
        const uint64_t len = op->cipher_len;

#define FG_GCM(BITS)                                                                       \
        do {                                                                               \
                if (op->encrypt)                                                           \
                        IMB_AES##BITS##_GCM_ENC(m, kd, ctx, p, p, len, op->iv, op->aad,    \
                                                op->aad_len, op->tag_out, op->tag_len);    \
                else                                                                       \
                        IMB_AES##BITS##_GCM_DEC(m, kd, ctx, p, p, len, op->iv, op->aad,    \
                                                op->aad_len, op->tag_out, op->tag_len);    \
        } while (0)
        switch (op->key_len) {
        case 16: FG_GCM(128); break;
        case 24: FG_GCM(192); break;
        case 32: FG_GCM(256); break;
        default: return IMB_STATUS_INVALID_ARGS;
        }
#undef FG_GCM
        return imb_get_errno(m) == 0 ? IMB_STATUS_COMPLETED : IMB_STATUS_INVALID_ARGS;
}

void fg_imb_run(IMB_MGR *m, struct fg_imb_op *ops, uint32_t n)
{
        IMB_JOB *job;
        /* One GCM context for the burst: each call initialises it afresh, and it is wiped
         * once at the end (it holds keystream and GHASH state), not after every packet. */
        struct gcm_context_data gcm_ctx;
        int gcm_used = 0;

        for (uint32_t i = 0; i < n; i++) {
                ops[i].status = IMB_STATUS_INVALID_ARGS;
                if (ops[i].kind == FG_KIND_GCM && ops[i].iv_len == 12) {
                        ops[i].status = gcm_direct(m, &ops[i], &gcm_ctx);
                        gcm_used = 1;
                        continue;
                }
                job = IMB_GET_NEXT_JOB(m);
                fill_job(job, &ops[i]);
                job = IMB_SUBMIT_JOB(m);
                while (job != NULL) {
                        complete(job);
                        job = IMB_GET_COMPLETED_JOB(m);
                }
        }
        while ((job = IMB_FLUSH_JOB(m)) != NULL)
                complete(job);
        if (gcm_used)
                imb_clear_mem(&gcm_ctx, sizeof(gcm_ctx));
}
