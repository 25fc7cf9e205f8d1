//! Building and opening the Encrypted and Authenticated payload SK (RFC 7296 section 3.14;
//! RFC 5282 section 5.1 for the AEAD suites) with the codec's [`Encrypted`] view.
//!
//! Sending: the inner chain is emitted, padded to the cipher's block, placed in an SK payload
//! with room for IV and ICV, the whole message emitted, and then sealed in place, so the
//! integrity / AEAD tag covers exactly the bytes that go on the wire. Receiving: the ICV is
//! checked before anything inside is parsed (section 2.21.1: a bad ICV is a silent drop).

use rand_core::CryptoRng;

use crate::crypto::{SkCipher, SkError, strip_padding};
use crate::ikev2::fragment;
use crate::ikev2::wire::{
    self, Encrypted, Header, HeaderRepr, Message, Payload, PayloadType, Payloads, SkRepr,
    chain_len, emit_chain, parse_chain,
};

/// Why a received message could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// No SK payload, or its framing is broken: unauthenticated garbage.
    Framing,
    /// An SKF fragment: IKE fragmentation (RFC 7383) is not implemented.
    Fragment,
    /// The ICV did not verify.
    Integrity,
    /// Authentic, but the plaintext's padding or payload chain is malformed.
    Content(wire::Error),
}

/// An opened message: the inner chain both parsed and as bytes (the AUTH
/// computation signs the ID payload's body as received).
#[derive(Debug)]
pub(crate) struct Opened {
    pub first: PayloadType,
    pub plain: Vec<u8>,
    pub payloads: Vec<Payload>,
}

impl Opened {
    /// The body bytes of the first inner payload of type `ty`, as received.
    pub fn raw_body(&self, ty: PayloadType) -> Option<&[u8]> {
        Payloads::new(self.first, &self.plain)
            .map_while(Result::ok)
            .find(|p| p.payload_type == ty)
            .map(|p| p.body)
    }
}

/// Emits `header` and an SK payload holding `inner`, sealed with `cipher`; the IV comes from
/// `rng` (unpredictable for CBC, as section 3.14 requires; unique for the AEAD suites).
pub(crate) fn seal<R: CryptoRng + ?Sized>(
    cipher: &SkCipher,
    header: HeaderRepr,
    inner: &[Payload],
    rng: &mut R,
) -> Result<Vec<u8>, SkError> {
    let inner_len = chain_len(inner);
    let pad = cipher.pad_len(inner_len);
    let (iv_len, icv_len) = (cipher.iv_len(), cipher.icv_len());
    let mut plain = vec![0u8; inner_len + pad + 1];
    let first = emit_chain(inner, &mut plain).map_err(|_| SkError::TooLong(inner_len))?;
    // Padding bytes stay zero; the Pad Length octet ends the plaintext (section 3.14).
    plain[inner_len + pad] = u8::try_from(pad).map_err(|_| SkError::TooLong(pad))?;
    let sk = SkRepr { next_payload: first, data: vec![0; iv_len + plain.len() + icv_len] };
    let message = Message { header, payloads: vec![Payload::Encrypted(sk)] };
    let mut bytes = message.to_vec().map_err(|_| SkError::TooLong(inner_len))?;
    let mut view = Encrypted::new_checked(&mut bytes[..]).map_err(|_| SkError::TooLong(0))?;
    let (aad, parts) =
        view.aad_and_parts_mut(iv_len, icv_len).map_err(|_| SkError::Truncated(icv_len))?;
    rng.fill_bytes(parts.iv);
    parts.ciphertext.copy_from_slice(&plain);
    cipher.seal_in_place(aad, parts.iv, parts.ciphertext, parts.icv)?;
    Ok(bytes)
}

/// Emits `header` and SKF fragments of `inner` (RFC 7383 section 2.5), each sealed on its
/// own and each an IP datagram of at most `mtu` bytes with `outer_overhead` bytes of
/// headers around it.
pub(crate) fn seal_fragments<R: CryptoRng + ?Sized>(
    cipher: &SkCipher,
    header: HeaderRepr,
    inner: &[Payload],
    mtu: usize,
    outer_overhead: usize,
    rng: &mut R,
) -> Result<Vec<Vec<u8>>, fragment::FragmentError> {
    let mut chain = vec![0u8; chain_len(inner)];
    let first = emit_chain(inner, &mut chain)?;
    let layout = fragment::FragmentLayout::for_cipher(mtu, outer_overhead, cipher);
    let pieces = fragment::split(
        first,
        &chain,
        layout.max_fragment_data()?,
        fragment::DEFAULT_MAX_FRAGMENTS,
    )?;
    fragment::seal_fragments(&header, &pieces, cipher, rng)
}

/// The plaintext of a message reassembled from SKF fragments, as [`open`] gives it for an
/// SK message.
pub(crate) fn opened_from(whole: &fragment::Reassembled) -> Result<Opened, wire::Error> {
    let payloads = parse_chain(whole.first_payload, &whole.chain)?;
    Ok(Opened { first: whole.first_payload, plain: whole.chain.clone(), payloads })
}

/// Checks and decrypts a whole message whose last payload is SK.
pub(crate) fn open(cipher: &SkCipher, bytes: &[u8]) -> Result<Opened, OpenError> {
    let header = Header::new_checked(bytes).map_err(|_| OpenError::Framing)?;
    HeaderRepr::parse(&header).map_err(|_| OpenError::Framing)?;
    let view = Encrypted::new_checked(bytes).map_err(|_| OpenError::Framing)?;
    if view.payload_type() == PayloadType::EncryptedFragment {
        return Err(OpenError::Fragment);
    }
    let parts = view.split(cipher.iv_len(), cipher.icv_len()).map_err(|_| OpenError::Framing)?;
    let mut buf = parts.ciphertext.to_vec();
    cipher.open_in_place(view.associated_data(), parts.iv, &mut buf, parts.icv).map_err(
        |e| match e {
            SkError::IcvMismatch => OpenError::Integrity,
            // Wrong lengths (e.g. a CBC ciphertext that is not whole blocks) are framing
            // errors: nothing was authenticated.
            _ => OpenError::Framing,
        },
    )?;
    let plain = strip_padding(&buf)
        .map_err(|_| OpenError::Content(wire::Error::Malformed("SK padding")))?
        .to_vec();
    let first = view.next_payload();
    let payloads = parse_chain(first, &plain).map_err(OpenError::Content)?;
    Ok(Opened { first, plain, payloads })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{AesKeySize, EncrAlg, GcmIcv, IntegAlg};
    use crate::ikev2::wire::{DeleteRepr, ExchangeType, IdRepr, ProtocolId};

    /// A counter "RNG": enough for IVs in a unit test.
    struct Counter(u8);
    impl rand_core::TryRng for Counter {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(u32::from(self.0))
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            Ok(u64::from(self.0))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            for b in dst {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
            Ok(())
        }
    }
    impl rand_core::TryCryptoRng for Counter {}

    fn header() -> HeaderRepr {
        HeaderRepr {
            spi_i: 1,
            spi_r: 2,
            exchange_type: ExchangeType::Informational,
            initiator: true,
            response: false,
            version_flag: false,
            message_id: 3,
        }
    }

    fn ciphers() -> Vec<SkCipher> {
        vec![
            SkCipher::new(
                EncrAlg::AesCbc(AesKeySize::Aes256),
                Some(IntegAlg::HmacSha256_128),
                &[7; 32],
                &[8; 32],
            )
            .unwrap(),
            SkCipher::new(EncrAlg::AesGcm(AesKeySize::Aes128, GcmIcv::Icv16), None, &[7; 20], &[])
                .unwrap(),
            SkCipher::new(EncrAlg::ChaCha20Poly1305, None, &[7; 36], &[]).unwrap(),
        ]
    }

    #[test]
    fn seal_then_open_round_trips_and_any_flipped_bit_is_an_integrity_failure() {
        let inner = vec![
            Payload::IdI(IdRepr::fqdn("a.example")),
            Payload::Delete(DeleteRepr { protocol: ProtocolId::Esp, spis: vec![0x1234_5678] }),
        ];
        for c in ciphers() {
            let bytes = seal(&c, header(), &inner, &mut Counter(0)).unwrap();
            let opened = open(&c, &bytes).unwrap();
            assert_eq!(opened.payloads, inner);
            assert_eq!(opened.raw_body(PayloadType::IdI).unwrap(), &inner_id_body()[..]);
            // Header, SK header, IV, ciphertext and ICV are all covered.
            for i in 0..bytes.len() {
                let mut bad = bytes.clone();
                bad[i] ^= 0x01;
                let e = open(&c, &bad).unwrap_err();
                assert!(matches!(e, OpenError::Integrity | OpenError::Framing), "byte {i}: {e:?}");
            }
        }
    }

    fn inner_id_body() -> Vec<u8> {
        let mut v = vec![2, 0, 0, 0];
        v.extend_from_slice(b"a.example");
        v
    }

    #[test]
    fn fragments_and_plain_messages_are_refused() {
        let c = &ciphers()[1];
        let plain = Message { header: header(), payloads: vec![] }.to_vec().unwrap();
        assert_eq!(open(c, &plain).unwrap_err(), OpenError::Framing);
        let mut bytes = seal(c, header(), &[], &mut Counter(0)).unwrap();
        assert_eq!(open(c, &bytes).unwrap().payloads, vec![]);
        bytes.truncate(bytes.len() - 1);
        assert_eq!(open(c, &bytes).unwrap_err(), OpenError::Framing);
    }
}
