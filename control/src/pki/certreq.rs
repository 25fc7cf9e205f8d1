//! Certificate requests (RFC 7296 section 3.7): the Certification Authority field of an
//! X.509 CERTREQ is a concatenation of SHA-1 hashes of trusted CAs' DER
//! SubjectPublicKeyInfo.

use crate::ikev2::wire::{CertEncoding, CertReqRepr, SHA1_LEN};

use super::cert::Certificate;
use super::chain::TrustStore;

/// The Certification Authority field naming `cas`.
pub fn certreq_authorities<'a>(cas: impl IntoIterator<Item = &'a Certificate>) -> Vec<u8> {
    let mut out = Vec::new();
    for ca in cas {
        let h = ca.spki_sha1();
        if !out.chunks_exact(SHA1_LEN).any(|c: &[u8]| c == h.as_slice()) {
            out.extend_from_slice(h);
        }
    }
    out
}

impl TrustStore {
    /// The CERTREQ payload body asking for certificates under our CAs.
    pub fn certreq(&self) -> CertReqRepr {
        CertReqRepr {
            encoding: CertEncoding::X509Signature,
            authorities: certreq_authorities(self.anchors()),
        }
    }

    /// Our CAs that `request` names.
    pub fn requested_anchors(&self, request: &CertRequest) -> Vec<&Certificate> {
        self.anchors().iter().filter(|c| request.names(c.spki_sha1())).collect()
    }
}

/// What a peer's CERTREQ payloads ask for, merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertRequest {
    /// At least one X.509 request with an empty Certification Authority list: any CA.
    pub any_ca: bool,
    /// The CA key hashes named, without duplicates.
    pub authorities: Vec<[u8; SHA1_LEN]>,
}

impl CertRequest {
    /// Merges the requests for X.509 certificates (encodings 4, 12, 13, whose CA field RFC
    /// 7296 defines); other encodings and lists that are not whole SHA-1 hashes are ignored.
    pub fn from_payloads(requests: &[CertReqRepr]) -> CertRequest {
        let mut out = CertRequest::default();
        for req in requests {
            if !matches!(
                req.encoding,
                CertEncoding::X509Signature
                    | CertEncoding::HashUrlX509
                    | CertEncoding::HashUrlX509Bundle
            ) {
                continue;
            }
            let Some(hashes) = req.ca_hashes() else { continue };
            let mut empty = true;
            for h in hashes {
                empty = false;
                if let Ok(h) = <[u8; SHA1_LEN]>::try_from(h)
                    && !out.authorities.contains(&h)
                {
                    out.authorities.push(h);
                }
            }
            out.any_ca |= empty;
        }
        out
    }

    /// True if no usable X.509 request was received.
    pub fn is_empty(&self) -> bool {
        !self.any_ca && self.authorities.is_empty()
    }

    /// Whether the request names the CA with this SubjectPublicKeyInfo hash (an "any CA"
    /// request names every CA).
    pub fn names(&self, spki_sha1: &[u8; SHA1_LEN]) -> bool {
        self.any_ca || self.authorities.contains(spki_sha1)
    }
}
