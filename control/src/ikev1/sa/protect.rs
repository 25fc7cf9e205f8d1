//! The ISAKMP SA's protection of messages (RFC 2409 section 5 and appendix B): phase-1 keys,
//! the encryption with its CBC IV chains, and the HASH payloads that authenticate Quick Mode
//! and Informational messages.
//!
//! IV chains: phase 1 starts from hash(g^xi | g^xr) and continues with the last ciphertext
//! block of each message; every later exchange (Quick Mode, Informational) starts from
//! hash(last phase-1 block | M-ID) and chains within itself. A chain only advances over a
//! message that decrypted and authenticated: garbage must not desynchronise it.

use crate::ikev1::crypt::Phase1Cipher;
use crate::ikev1::keys::{self, HashAlg, Phase1Keys};
use crate::ikev1::wire::{
    Header, Parsed, Payload, PayloadType, assemble, emit_payloads, flags, parse_payloads,
};

/// The keys and IV state of an ISAKMP SA once its Diffie-Hellman completed.
pub(super) struct Isakmp {
    pub hash: HashAlg,
    pub keys: Phase1Keys,
    pub cipher: Phase1Cipher,
    /// The IV of the next phase-1 message; after phase 1, its last ciphertext block, from
    /// which every later exchange's IV is derived.
    pub iv: Vec<u8>,
}

/// A decrypted message.
pub(super) struct Opened {
    pub plaintext: Vec<u8>,
    pub parsed: Parsed,
    /// The IV that continues the chain after this message.
    pub next_iv: Vec<u8>,
}

/// Why an encrypted message was dropped.
#[derive(Debug)]
pub(super) enum OpenError {
    /// Not a whole number of blocks, or did not parse once decrypted (wrong key or IV:
    /// indistinguishable in IKEv1, which has no integrity check on phase-1 encryption).
    Undecryptable,
    /// The HASH payload is missing or wrong.
    BadHash,
}

impl Isakmp {
    pub fn block_len(&self) -> usize {
        self.cipher.block_len()
    }

    /// The first IV of a Quick Mode or Informational exchange.
    pub fn exchange_iv(&self, message_id: u32) -> Vec<u8> {
        keys::phase2_iv(self.hash, &self.iv, message_id, self.block_len())
    }

    /// Encrypts `payloads` under `header` (whose E flag is set here) with `iv`; returns the
    /// datagram and the IV that continues the chain.
    pub fn seal(&self, header: &Header, payloads: &[Payload], iv: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut plain = Vec::new();
        let first = emit_payloads(payloads, &mut plain);
        self.seal_chain(header, first, &plain, iv)
    }

    /// Encrypts an already encoded payload chain.
    pub fn seal_chain(
        &self,
        header: &Header,
        first: PayloadType,
        plain: &[u8],
        iv: &[u8],
    ) -> (Vec<u8>, Vec<u8>) {
        let (cipher, next_iv) = self.cipher.encrypt(iv, plain);
        let mut h = *header;
        h.flags |= flags::ENCRYPTION;
        (assemble(&h, first, &cipher), next_iv)
    }

    /// Decrypts and parses a message body.
    pub fn open(&self, header: &Header, body: &[u8], iv: &[u8]) -> Result<Opened, OpenError> {
        let (plaintext, next_iv) =
            self.cipher.decrypt(iv, body).map_err(|_| OpenError::Undecryptable)?;
        let parsed = parse_payloads(header.next_payload, &plaintext)
            .map_err(|_| OpenError::Undecryptable)?;
        Ok(Opened { plaintext, parsed, next_iv })
    }

    /// Builds a HASH-first chain (Quick Mode, Informational): `hash_of(rest)` computes the
    /// HASH payload's value over the encoded payloads that follow it.
    pub fn hashed_chain(
        rest: &[Payload],
        hash_of: impl FnOnce(&[u8]) -> Vec<u8>,
    ) -> (PayloadType, Vec<u8>) {
        let mut rest_bytes = Vec::new();
        let rest_first = emit_payloads(rest, &mut rest_bytes);
        let hash = hash_of(&rest_bytes);
        let mut chain = Vec::with_capacity(4 + hash.len() + rest_bytes.len());
        emit_payloads(&[Payload::Hash(hash)], &mut chain);
        // The HASH payload was emitted alone: point its Next Payload at the rest.
        chain[0] = u8::from(rest_first);
        chain.extend_from_slice(&rest_bytes);
        (PayloadType::Hash, chain)
    }

    /// Checks that an opened message starts with a HASH payload equal to `expected(rest)`,
    /// `rest` being the encoded payloads after it (padding excluded).
    pub fn check_hash(
        opened: &Opened,
        expected: impl FnOnce(&[u8]) -> Vec<u8>,
    ) -> Result<(), OpenError> {
        let Some(Payload::Hash(got)) = opened.parsed.payloads.first() else {
            return Err(OpenError::BadHash);
        };
        let Some(span) = opened.parsed.spans.first() else { return Err(OpenError::BadHash) };
        let rest = opened.plaintext.get(span.end..opened.parsed.end).ok_or(OpenError::BadHash)?;
        if keys::verify_hash(&expected(rest), got) { Ok(()) } else { Err(OpenError::BadHash) }
    }
}

/// The raw body (no generic header) of payload `i` of a parsed chain over `bytes`.
pub(super) fn raw_body<'a>(bytes: &'a [u8], parsed: &Parsed, i: usize) -> Option<&'a [u8]> {
    let span = parsed.spans.get(i)?;
    bytes.get(span.start.checked_add(4)?..span.end)
}

/// The NAT-D hash of one address (RFC 3947 section 3.2): HASH(CKY-I | CKY-R | IP | Port)
/// with the negotiated hash function.
pub(super) fn nat_d(hash: HashAlg, cky_i: u64, cky_r: u64, addr: core::net::SocketAddr) -> Vec<u8> {
    let ip = match addr.ip() {
        core::net::IpAddr::V4(a) => a.octets().to_vec(),
        core::net::IpAddr::V6(a) => a.octets().to_vec(),
    };
    hash.digest(&[&cky_i.to_be_bytes(), &cky_r.to_be_bytes(), &ip, &addr.port().to_be_bytes()])
}
