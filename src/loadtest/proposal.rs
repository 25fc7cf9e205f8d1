//! strongSwan-style proposal strings (`aes256gcm16-prfsha384-curve25519`,
//! `aes256-sha256-modp2048`, several separated by commas) turned into the state machine's
//! [`LocalProposal`]s, so the load tester takes the same strings as the responder's
//! `swanctl.conf` it is pointed at.

use core::time::Duration;

use control::crypto::{DhGroup as V1Group, WeakGroups};
use control::ikev1::keys::HashAlg;
use control::ikev1::proposal::{AuthMethod, EncapMode, Phase1Policy, Phase2Policy, esp_transform};
use control::ikev1::wire::{esp_id, p2attr};
use control::ikev2::proposal::{Encr, LocalProposal, is_aead};
use control::ikev2::wire::{DhGroup, EncrId, EsnId, IntegId, PrfId, ProtocolId};

/// One keyword of a proposal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Encr(Encr),
    Integ(IntegId),
    Prf(PrfId),
    Dh(DhGroup),
    Esn(EsnId),
}

fn encr(word: &str) -> Option<Encr> {
    match word {
        "3des" => return Some((EncrId::TripleDes, None)),
        "null" => return Some((EncrId::Null, None)),
        "chacha20poly1305" => return Some((EncrId::ChaCha20Poly1305, None)),
        "aes" => return Some((EncrId::AesCbc, Some(128))),
        _ => {}
    }
    let rest = word.strip_prefix("aes")?;
    let bits: u16 = match rest.get(..3)? {
        "128" => 128,
        "192" => 192,
        "256" => 256,
        _ => return None,
    };
    let id = match rest.get(3..)? {
        "" => EncrId::AesCbc,
        "ctr" => EncrId::AesCtr,
        "gcm8" | "gcm64" => EncrId::AesGcm8,
        "gcm12" | "gcm96" => EncrId::AesGcm12,
        "gcm16" | "gcm128" | "gcm" => EncrId::AesGcm16,
        "ccm8" | "ccm64" => EncrId::AesCcm8,
        "ccm12" | "ccm96" => EncrId::AesCcm12,
        "ccm16" | "ccm128" | "ccm" => EncrId::AesCcm16,
        "gmac" => EncrId::NullAuthAesGmac,
        _ => return None,
    };
    Some((id, Some(bits)))
}

fn token(word: &str) -> Option<Token> {
    if let Some(e) = encr(word) {
        return Some(Token::Encr(e));
    }
    let t = match word {
        "md5" => Token::Integ(IntegId::HmacMd5_96),
        "sha" | "sha1" => Token::Integ(IntegId::HmacSha1_96),
        "sha256" | "sha2_256" => Token::Integ(IntegId::HmacSha2_256_128),
        "sha384" | "sha2_384" => Token::Integ(IntegId::HmacSha2_384_192),
        "sha512" | "sha2_512" => Token::Integ(IntegId::HmacSha2_512_256),
        "aesxcbc" => Token::Integ(IntegId::AesXcbc96),
        "aescmac" => Token::Integ(IntegId::AesCmac96),
        "prfmd5" => Token::Prf(PrfId::HmacMd5),
        "prfsha1" => Token::Prf(PrfId::HmacSha1),
        "prfsha256" => Token::Prf(PrfId::HmacSha2_256),
        "prfsha384" => Token::Prf(PrfId::HmacSha2_384),
        "prfsha512" => Token::Prf(PrfId::HmacSha2_512),
        "prfaesxcbc" => Token::Prf(PrfId::Aes128Xcbc),
        "prfaescmac" => Token::Prf(PrfId::Aes128Cmac),
        "modp768" => Token::Dh(DhGroup::Modp768),
        "modp1024" => Token::Dh(DhGroup::Modp1024),
        "modp1536" => Token::Dh(DhGroup::Modp1536),
        "modp2048" => Token::Dh(DhGroup::Modp2048),
        "modp3072" => Token::Dh(DhGroup::Modp3072),
        "modp4096" => Token::Dh(DhGroup::Modp4096),
        "modp6144" => Token::Dh(DhGroup::Modp6144),
        "modp8192" => Token::Dh(DhGroup::Modp8192),
        "modp2048s256" => Token::Dh(DhGroup::Modp2048s256),
        "ecp256" => Token::Dh(DhGroup::Ecp256),
        "ecp384" => Token::Dh(DhGroup::Ecp384),
        "ecp521" => Token::Dh(DhGroup::Ecp521),
        "curve25519" | "x25519" => Token::Dh(DhGroup::Curve25519),
        "curve448" | "x448" => Token::Dh(DhGroup::Curve448),
        "esn" => Token::Esn(EsnId::Yes),
        "noesn" => Token::Esn(EsnId::No),
        _ => return None,
    };
    Some(t)
}

/// The PRF strongSwan derives from an integrity keyword when an IKE proposal names none.
fn prf_of(integ: IntegId) -> Option<PrfId> {
    match integ {
        IntegId::HmacMd5_96 => Some(PrfId::HmacMd5),
        IntegId::HmacSha1_96 => Some(PrfId::HmacSha1),
        IntegId::HmacSha2_256_128 => Some(PrfId::HmacSha2_256),
        IntegId::HmacSha2_384_192 => Some(PrfId::HmacSha2_384),
        IntegId::HmacSha2_512_256 => Some(PrfId::HmacSha2_512),
        IntegId::AesXcbc96 => Some(PrfId::Aes128Xcbc),
        IntegId::AesCmac96 => Some(PrfId::Aes128Cmac),
        _ => None,
    }
}

fn push<T: PartialEq>(list: &mut Vec<T>, v: T) {
    if !list.contains(&v) {
        list.push(v);
    }
}

/// Parses one proposal (`-`-separated keywords).
fn parse_one(text: &str, protocol: ProtocolId) -> Result<LocalProposal, String> {
    let mut p = LocalProposal {
        protocol,
        encr: vec![],
        prf: vec![],
        integ: vec![],
        dh: vec![],
        esn: vec![],
    };
    let ike = protocol == ProtocolId::Ike;
    for word in text.split('-') {
        let w = word.trim().to_ascii_lowercase();
        match token(&w) {
            Some(Token::Encr(e)) => push(&mut p.encr, e),
            Some(Token::Integ(i)) => push(&mut p.integ, i),
            Some(Token::Prf(f)) if ike => push(&mut p.prf, f),
            Some(Token::Dh(g)) => push(&mut p.dh, g),
            Some(Token::Esn(e)) if !ike => push(&mut p.esn, e),
            Some(_) => {
                let what = if ike { "an IKE" } else { "an ESP" };
                return Err(format!("'{word}' does not belong in {what} proposal ('{text}')"));
            }
            None => return Err(format!("unknown algorithm keyword '{word}' in '{text}'")),
        }
    }
    if p.encr.is_empty() {
        return Err(format!("proposal '{text}' has no encryption algorithm"));
    }
    let aead = p.encr.iter().filter(|(id, _)| is_aead(*id)).count();
    if aead != 0 && aead != p.encr.len() {
        // RFC 7296 3.3: AEAD and non-AEAD ciphers cannot share a proposal's integrity
        // transforms; strongSwan wants them in separate proposals too.
        return Err(format!(
            "proposal '{text}' mixes AEAD and non-AEAD ciphers: split it with ','"
        ));
    }
    if aead != 0 && !p.integ.is_empty() && !ike {
        return Err(format!("proposal '{text}': an AEAD cipher takes no integrity algorithm"));
    }
    if aead == 0 && p.integ.is_empty() {
        return Err(format!("proposal '{text}' needs an integrity algorithm (e.g. sha256)"));
    }
    if ike {
        if p.prf.is_empty() {
            p.prf = p.integ.iter().filter_map(|&i| prf_of(i)).collect();
        }
        if aead != 0 {
            p.integ.clear();
        }
        if p.prf.is_empty() {
            return Err(format!("IKE proposal '{text}' needs a PRF (e.g. prfsha256)"));
        }
        if p.dh.is_empty() {
            return Err(format!("IKE proposal '{text}' needs a DH group (e.g. curve25519)"));
        }
    }
    Ok(p)
}

/// Parses a comma-separated list of proposals, most preferred first.
pub fn parse_proposals(text: &str, protocol: ProtocolId) -> Result<Vec<LocalProposal>, String> {
    let list: Vec<LocalProposal> = text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse_one(s.trim(), protocol))
        .collect::<Result<_, _>>()?;
    if list.is_empty() {
        return Err("empty proposal list".into());
    }
    Ok(list)
}

/// The IKEv1 ISAKMP SA lifetime offered: a day, longer than any run, so that no phase-1
/// renewal interferes with the measurements (the responder may bring it down).
const IKEV1_P1_LIFETIME: Duration = Duration::from_secs(86_400);

/// An IKEv2 group's IKEv1 counterpart: the crypto suite both versions share, with the weak
/// groups 1, 2 and 5 refused as IKEv2 refuses them.
fn v1_group(g: DhGroup, text: &str) -> Result<V1Group, String> {
    let group = V1Group::from_iana(g.into())
        .map_err(|_| format!("'{text}': DH group {g:?} is not available with IKEv1"))?;
    group
        .check_allowed(WeakGroups::Reject)
        .map_err(|_| format!("'{text}': weak DH group {g:?} refused"))?;
    Ok(group)
}

/// An IKEv1 hash (the phase-1 PRF and integrity both) for a PRF of the proposal.
fn v1_hash(prf: PrfId, text: &str) -> Result<HashAlg, String> {
    Ok(match prf {
        PrfId::HmacSha1 => HashAlg::Sha1,
        PrfId::HmacSha2_256 => HashAlg::Sha256,
        PrfId::HmacSha2_384 => HashAlg::Sha384,
        PrfId::HmacSha2_512 => HashAlg::Sha512,
        PrfId::HmacMd5 => return Err(format!("'{text}': MD5 refused")),
        other => return Err(format!("'{text}': PRF {other:?} has no IKEv1 hash")),
    })
}

/// IKE proposals (parsed by [`parse_proposals`] for [`ProtocolId::Ike`]) as IKEv1 phase-1
/// policies: one per cipher, hash and group of each proposal, in order, with PSK
/// authentication. IKEv1's phase 1 here is AES-CBC only (no AEAD, RFC 2409 has none), and
/// its one hash serves as PRF and integrity: the proposal's PRFs (or the ones its integrity
/// keywords imply) pick it.
pub fn ikev1_phase1(list: &[LocalProposal], text: &str) -> Result<Vec<Phase1Policy>, String> {
    let mut out = Vec::new();
    for p in list {
        for &(id, bits) in &p.encr {
            let bits = match (id, bits) {
                (EncrId::AesCbc, Some(b @ (128 | 192 | 256))) => b,
                _ => {
                    return Err(format!(
                        "'{text}': IKEv1 phase 1 supports only AES-CBC (aes128, aes192, aes256)"
                    ));
                }
            };
            for &prf in &p.prf {
                let hash = v1_hash(prf, text)?;
                for &g in &p.dh {
                    let policy = Phase1Policy {
                        encryption_key_bits: bits,
                        hash,
                        auth: AuthMethod::Psk,
                        group: v1_group(g, text)?,
                        lifetime: IKEV1_P1_LIFETIME,
                    };
                    push(&mut out, policy);
                }
            }
        }
    }
    Ok(out)
}

/// ESP proposals (parsed for [`ProtocolId::Esp`]) as IKEv1 transform sets, tunnel mode,
/// one per cipher, integrity algorithm and PFS group, each checked against what the
/// dataplane runs ([`esp_transform`]). ESN has no transform-set field here: `esn` is
/// refused (`noesn` is what IKEv1 negotiates anyway).
pub fn ikev1_phase2(list: &[LocalProposal], text: &str) -> Result<Vec<Phase2Policy>, String> {
    let mut out = Vec::new();
    for p in list {
        if p.esn.contains(&EsnId::Yes) {
            return Err(format!("'{text}': extended sequence numbers are not offered with IKEv1"));
        }
        let pfs: Vec<Option<V1Group>> = if p.dh.is_empty() {
            vec![None]
        } else {
            p.dh.iter().map(|&g| v1_group(g, text).map(Some)).collect::<Result<_, _>>()?
        };
        for &(id, bits) in &p.encr {
            let esp = match id {
                EncrId::AesCbc => esp_id::ESP_AES_CBC,
                EncrId::AesCtr => esp_id::ESP_AES_CTR,
                EncrId::AesGcm8 => esp_id::ESP_AES_GCM_8,
                EncrId::AesGcm12 => esp_id::ESP_AES_GCM_12,
                EncrId::AesGcm16 => esp_id::ESP_AES_GCM_16,
                EncrId::NullAuthAesGmac => esp_id::ESP_NULL_AUTH_AES_GMAC,
                EncrId::TripleDes => esp_id::ESP_3DES,
                EncrId::Null => esp_id::ESP_NULL,
                other => {
                    return Err(format!("'{text}': cipher {other:?} is not available with IKEv1"));
                }
            };
            let auths: Vec<Option<u16>> = if is_aead(id) || id == EncrId::NullAuthAesGmac {
                vec![None]
            } else {
                p.integ
                    .iter()
                    .map(|&i| match i {
                        IntegId::HmacSha1_96 => Ok(Some(p2attr::AUTH_HMAC_SHA1)),
                        IntegId::HmacSha2_256_128 => Ok(Some(p2attr::AUTH_HMAC_SHA2_256)),
                        IntegId::HmacSha2_384_192 => Ok(Some(p2attr::AUTH_HMAC_SHA2_384)),
                        IntegId::HmacSha2_512_256 => Ok(Some(p2attr::AUTH_HMAC_SHA2_512)),
                        other => Err(format!(
                            "'{text}': integrity {other:?} is not available with IKEv1"
                        )),
                    })
                    .collect::<Result<_, _>>()?
            };
            for &auth in &auths {
                for &group in &pfs {
                    let policy = Phase2Policy {
                        esp_id: esp,
                        key_bits: bits,
                        auth,
                        mode: EncapMode::Tunnel,
                        pfs: group,
                        // No lifetimes of our own, as with IKEv2: the only rekeys are the
                        // storm's (and the responder's, which are counted).
                        lifetime_seconds: 0,
                        lifetime_kilobytes: 0,
                    };
                    esp_transform(&policy).map_err(|e| format!("'{text}': {e}"))?;
                    push(&mut out, policy);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ike_aead_proposal() {
        let p = parse_proposals("aes256gcm16-prfsha384-curve25519", ProtocolId::Ike).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].encr, vec![(EncrId::AesGcm16, Some(256))]);
        assert_eq!(p[0].prf, vec![PrfId::HmacSha2_384]);
        assert!(p[0].integ.is_empty());
        assert_eq!(p[0].dh, vec![DhGroup::Curve25519]);
    }

    #[test]
    fn ike_cbc_proposal_derives_the_prf() {
        let p = parse_proposals("aes256-sha256-modp2048", ProtocolId::Ike).unwrap();
        assert_eq!(p[0].encr, vec![(EncrId::AesCbc, Some(256))]);
        assert_eq!(p[0].integ, vec![IntegId::HmacSha2_256_128]);
        assert_eq!(p[0].prf, vec![PrfId::HmacSha2_256]);
        assert_eq!(p[0].dh, vec![DhGroup::Modp2048]);
    }

    #[test]
    fn esp_proposals_and_lists() {
        let p = parse_proposals("aes128gcm16,aes256-sha512-ecp256-esn", ProtocolId::Esp).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].encr, vec![(EncrId::AesGcm16, Some(128))]);
        assert!(p[0].dh.is_empty());
        assert_eq!(p[1].integ, vec![IntegId::HmacSha2_512_256]);
        assert_eq!(p[1].dh, vec![DhGroup::Ecp256], "a DH group in ESP is a PFS group");
        assert_eq!(p[1].esn, vec![EsnId::Yes]);
    }

    #[test]
    fn refusals() {
        for (s, proto) in [
            ("aes256-prfsha256", ProtocolId::Ike),
            ("aes256gcm16-curve25519", ProtocolId::Ike),
            ("aes256", ProtocolId::Esp),
            ("aes256gcm16-aes256-sha256", ProtocolId::Esp),
            ("rot13-sha256", ProtocolId::Esp),
            ("aes128gcm16-prfsha256", ProtocolId::Esp),
            ("", ProtocolId::Esp),
            ("aes128-sha1-modp2048-noesn", ProtocolId::Ike),
        ] {
            assert!(parse_proposals(s, proto).is_err(), "{s} accepted");
        }
    }

    #[test]
    fn ikev1_mappings() {
        let text = "aes256-sha256-modp2048,aes128-sha1-curve25519";
        let ike = parse_proposals(text, ProtocolId::Ike).unwrap();
        let p1 = ikev1_phase1(&ike, text).unwrap();
        assert_eq!(p1.len(), 2);
        assert_eq!(p1[0].encryption_key_bits, 256);
        assert_eq!(p1[0].hash, HashAlg::Sha256);
        assert_eq!(p1[0].group, V1Group::Modp2048);
        assert_eq!(p1[0].auth, AuthMethod::Psk);
        assert_eq!(p1[1].hash, HashAlg::Sha1);
        assert_eq!(p1[1].group, V1Group::Curve25519);
        let text = "aes128gcm16,aes256-sha256-ecp256";
        let esp = parse_proposals(text, ProtocolId::Esp).unwrap();
        let p2 = ikev1_phase2(&esp, text).unwrap();
        assert_eq!(p2.len(), 2);
        assert_eq!(
            (p2[0].esp_id, p2[0].key_bits, p2[0].auth),
            (esp_id::ESP_AES_GCM_16, Some(128), None)
        );
        assert_eq!(p2[1].auth, Some(p2attr::AUTH_HMAC_SHA2_256));
        assert_eq!(p2[1].pfs, Some(V1Group::Ecp256));
        assert!(p2.iter().all(|p| p.mode == EncapMode::Tunnel));
    }

    #[test]
    fn ikev1_refusals() {
        for s in [
            "aes128gcm16-prfsha256-curve25519",
            "aes128ctr-sha256-curve25519",
            "aes128-sha256-modp1024",
            "aes128-sha256-curve448",
            "aes128-md5-modp2048",
        ] {
            let ike = parse_proposals(s, ProtocolId::Ike).unwrap();
            assert!(ikev1_phase1(&ike, s).is_err(), "{s} accepted");
        }
        for s in ["chacha20poly1305", "aes128-sha256-esn", "aes128-aesxcbc"] {
            let esp = parse_proposals(s, ProtocolId::Esp).unwrap();
            assert!(ikev1_phase2(&esp, s).is_err(), "{s} accepted");
        }
    }
}
