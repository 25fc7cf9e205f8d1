//! Does a certificate name the IKE identity its holder claims (RFC 7296 section 3.5, RFC
//! 4945 section 3.1)?
//!
//! - ID_IPV4_ADDR / ID_IPV6_ADDR: a subjectAltName iPAddress, octet for octet;
//! - ID_FQDN: a subjectAltName dNSName, ASCII case-insensitively (one trailing dot ignored);
//! - ID_RFC822_ADDR: a subjectAltName rfc822Name, the local part exactly and the domain
//!   case-insensitively (RFC 5280 section 7.5);
//! - ID_DER_ASN1_DN: the subject (or a directoryName subjectAltName), DER octet for octet;
//! - ID_DER_ASN1_GN: a subjectAltName GeneralName, DER octet for octet.
//!
//! No wildcards: RFC 4945 section 3.1 leaves them undefined for IKE identities.

use core::net::IpAddr;

use crate::ikev2::wire::{IdRepr, IdType};

use super::cert::{AltName, Certificate};

/// The outcome of matching an identity against a certificate. `NotApplicable` lets a
/// `peer-id-validate if-supported` policy accept identities a certificate cannot vouch for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdMatch {
    /// The certificate names the identity.
    Match,
    /// The certificate names identities of this type, none of them this one.
    Mismatch,
    /// The certificate holds no name of this type, or the type cannot be checked against a
    /// certificate (ID_KEY_ID, ID_NULL, ...).
    NotApplicable,
}

impl Certificate {
    /// Matches an IKE identity against the subject and subjectAltName.
    pub fn match_id(&self, id: &IdRepr) -> IdMatch {
        match id.id_type {
            IdType::Ipv4Addr | IdType::Ipv6Addr => {
                let want: Option<IpAddr> =
                    id.as_ipv4().map(IpAddr::from).or(id.as_ipv6().map(IpAddr::from));
                let Some(want) = want else { return IdMatch::Mismatch };
                // Only addresses of the identity's family count as names of its type.
                self.match_alt(|n| match n {
                    AltName::Ip(ip) if ip.is_ipv4() == want.is_ipv4() => Some(*ip == want),
                    _ => None,
                })
            }
            IdType::Fqdn => {
                let Some(want) = id.as_text() else { return IdMatch::Mismatch };
                self.match_alt(|n| match n {
                    AltName::Dns(name) => Some(fqdn_eq(name, want)),
                    _ => None,
                })
            }
            IdType::Rfc822Addr => {
                let Some(want) = id.as_text() else { return IdMatch::Mismatch };
                self.match_alt(|n| match n {
                    AltName::Rfc822(addr) => Some(rfc822_eq(addr, want)),
                    _ => None,
                })
            }
            IdType::DerAsn1Dn => {
                let dirs = self.alt_names().filter_map(|n| match n {
                    AltName::Directory(d) => Some(d.as_slice()),
                    _ => None,
                });
                let mut candidates = dirs.peekable();
                // An empty subject (SEQUENCE of no RDNs) names nobody (RFC 5280 section
                // 4.1.2.6 puts the identity in subjectAltName then).
                let subject_empty = self.subject_der() == [0x30, 0x00];
                if subject_empty && candidates.peek().is_none() {
                    return IdMatch::NotApplicable;
                }
                let mut all = candidates.chain((!subject_empty).then_some(self.subject_der()));
                if all.any(|dn| dn == id.data.as_slice()) {
                    IdMatch::Match
                } else {
                    IdMatch::Mismatch
                }
            }
            IdType::DerAsn1Gn => {
                let mut names = self.alt_names_der().peekable();
                if names.peek().is_none() {
                    IdMatch::NotApplicable
                } else if names.any(|n| n == id.data.as_slice()) {
                    IdMatch::Match
                } else {
                    IdMatch::Mismatch
                }
            }
            _ => IdMatch::NotApplicable,
        }
    }

    /// The ID_DER_ASN1_DN identity of the certificate's subject: the usual IDi/IDr of a
    /// certificate-authenticated peer.
    pub fn subject_id(&self) -> IdRepr {
        IdRepr { id_type: IdType::DerAsn1Dn, data: self.subject_der().to_vec() }
    }

    /// `Some(equal)` for each subjectAltName of the kind `f` recognises.
    fn match_alt(&self, f: impl Fn(&AltName) -> Option<bool>) -> IdMatch {
        let mut seen = false;
        for n in self.alt_names() {
            match f(n) {
                Some(true) => return IdMatch::Match,
                Some(false) => seen = true,
                None => {}
            }
        }
        if seen { IdMatch::Mismatch } else { IdMatch::NotApplicable }
    }
}

fn fqdn_eq(a: &str, b: &str) -> bool {
    let a = a.strip_suffix('.').unwrap_or(a);
    let b = b.strip_suffix('.').unwrap_or(b);
    !a.is_empty() && a.eq_ignore_ascii_case(b)
}

fn rfc822_eq(a: &str, b: &str) -> bool {
    match (a.rsplit_once('@'), b.rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && da.eq_ignore_ascii_case(db),
        // A bare domain (RFC 5280 allows it in name constraints, not in a SAN) or a
        // malformed address: only an exact match counts.
        _ => a == b && !a.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_comparisons() {
        assert!(fqdn_eq("GW1.Example.TEST", "gw1.example.test"));
        assert!(fqdn_eq("gw1.example.test.", "gw1.example.test"));
        assert!(!fqdn_eq("gw1.example.test", "gw1.example.tes"));
        assert!(!fqdn_eq(".", ""));
        assert!(rfc822_eq("gw1@EXAMPLE.test", "gw1@example.TEST"));
        assert!(!rfc822_eq("GW1@example.test", "gw1@example.test"));
        assert!(!rfc822_eq("gw1@example.test", "example.test"));
    }
}
