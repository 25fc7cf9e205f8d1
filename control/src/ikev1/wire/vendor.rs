//! Well-known Vendor ID payload bodies and their recognition.
//!
//! Matching follows strongSwan's IKEv1 vendor table (`isakmp_vendor.c`): NAT-T, DPD and
//! XAUTH IDs must match exactly; Cisco Unity by prefix, since its last two bytes carry a
//! version; the IKE fragmentation ID is the 16-byte hash alone or followed by a 4-byte
//! capability word, which must then have the IKE bit ([`FRAGMENTATION_IKE`]).

/// NAT-T of RFC 3947: MD5("RFC 3947").
pub const RFC3947_NAT_T: &[u8] = &[
    0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45, 0x5c, 0x57, 0x28, 0xf2, 0x0e, 0x95, 0x45, 0x2f,
];
/// draft-ietf-ipsec-nat-t-ike-02.
pub const NAT_T_DRAFT_02: &[u8] = &[
    0xcd, 0x60, 0x46, 0x43, 0x35, 0xdf, 0x21, 0xf8, 0x7c, 0xfd, 0xb2, 0xfc, 0x68, 0xb6, 0xa4, 0x48,
];
/// draft-ietf-ipsec-nat-t-ike-02 with a stray newline in the hashed name, as sent by many
/// implementations.
pub const NAT_T_DRAFT_02_N: &[u8] = &[
    0x90, 0xcb, 0x80, 0x91, 0x3e, 0xbb, 0x69, 0x6e, 0x08, 0x63, 0x81, 0xb5, 0xec, 0x42, 0x7b, 0x1f,
];
/// draft-ietf-ipsec-nat-t-ike-03.
pub const NAT_T_DRAFT_03: &[u8] = &[
    0x7d, 0x94, 0x19, 0xa6, 0x53, 0x10, 0xca, 0x6f, 0x2c, 0x17, 0x9d, 0x92, 0x15, 0x52, 0x9d, 0x56,
];
/// Dead Peer Detection, version 1.0 (RFC 3706 section 4).
pub const DPD: &[u8] = &[
    0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00,
];
/// XAUTH: the first 8 bytes of MD5("draft-ietf-ipsra-isakmp-xauth-06.txt").
pub const XAUTH: &[u8] = &[0x09, 0x00, 0x26, 0x89, 0xdf, 0xd6, 0xb7, 0x12];
/// Cisco Unity, version 1.0: MD5("CISCO-UNITY") truncated to 14 bytes, then major and
/// minor version.
pub const CISCO_UNITY: &[u8] = &[
    0x12, 0xf5, 0xf2, 0x8c, 0x45, 0x71, 0x68, 0xa9, 0x70, 0x2d, 0x9f, 0xe2, 0x74, 0xcc, 0x01, 0x00,
];
/// IKE fragmentation (Cisco / Microsoft proprietary): MD5("FRAGMENTATION"). Sent alone or
/// followed by a 4-byte big-endian capability word.
pub const FRAGMENTATION: &[u8] = &[
    0x40, 0x48, 0xb7, 0xd5, 0x6e, 0xbc, 0xe8, 0x85, 0x25, 0xe7, 0xde, 0x7f, 0x00, 0xd6, 0xc2, 0xd3,
];
/// The fragmentation capability bit for Main and Aggressive Mode messages (racoon's
/// reading; Cisco sends `0xc000_0000`, adding a bit for the other exchanges).
pub const FRAGMENTATION_IKE: u32 = 0x8000_0000;

/// The bytes of the Cisco Unity ID that do not vary with its version.
const CISCO_UNITY_PREFIX: usize = 14;

/// What a Vendor ID announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Known {
    /// RFC 3947 NAT traversal.
    NatTRfc3947,
    /// Draft 02 / 02\n / 03 NAT traversal (payload types 130 / 131, encapsulation modes
    /// 61443 / 61444).
    NatTDraft,
    /// Dead Peer Detection.
    Dpd,
    /// XAUTH.
    Xauth,
    /// Cisco Unity (any version).
    CiscoUnity,
    /// IKE fragmentation usable for Main / Aggressive Mode.
    Fragmentation,
    /// Anything else (including the fragmentation ID without the IKE capability bit).
    Other,
}

/// Classifies a received Vendor ID payload body.
pub fn classify(vid: &[u8]) -> Known {
    if vid == RFC3947_NAT_T {
        Known::NatTRfc3947
    } else if vid == NAT_T_DRAFT_02 || vid == NAT_T_DRAFT_02_N || vid == NAT_T_DRAFT_03 {
        Known::NatTDraft
    } else if vid == DPD {
        Known::Dpd
    } else if vid == XAUTH {
        Known::Xauth
    } else if vid.len() >= CISCO_UNITY.len() && vid.starts_with(&CISCO_UNITY[..CISCO_UNITY_PREFIX])
    {
        Known::CiscoUnity
    } else if is_fragmentation(vid) {
        Known::Fragmentation
    } else {
        Known::Other
    }
}

/// The fragmentation ID alone, or with a capability word that has [`FRAGMENTATION_IKE`].
fn is_fragmentation(vid: &[u8]) -> bool {
    match vid.split_at_checked(FRAGMENTATION.len()) {
        Some((hash, [])) => hash == FRAGMENTATION,
        Some((hash, caps)) => {
            hash == FRAGMENTATION
                && <[u8; 4]>::try_from(caps)
                    .is_ok_and(|c| u32::from_be_bytes(c) & FRAGMENTATION_IKE != 0)
        }
        None => false,
    }
}

/// The fragmentation Vendor ID with a capability word, as sent to announce support.
pub fn fragmentation_with_caps(caps: u32) -> Vec<u8> {
    let mut vid = FRAGMENTATION.to_vec();
    vid.extend_from_slice(&caps.to_be_bytes());
    vid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify(RFC3947_NAT_T), Known::NatTRfc3947);
        for v in [NAT_T_DRAFT_02, NAT_T_DRAFT_02_N, NAT_T_DRAFT_03] {
            assert_eq!(classify(v), Known::NatTDraft);
        }
        assert_eq!(classify(DPD), Known::Dpd);
        assert_eq!(classify(XAUTH), Known::Xauth);
        assert_eq!(classify(CISCO_UNITY), Known::CiscoUnity);
        assert_eq!(classify(FRAGMENTATION), Known::Fragmentation);
        assert_eq!(classify(&[]), Known::Other);
    }

    #[test]
    fn exact_and_prefix_rules() {
        // DPD and NAT-T are exact: a changed version byte or an extra byte is something else.
        let mut dpd = DPD.to_vec();
        dpd[15] = 1;
        assert_eq!(classify(&dpd), Known::Other);
        let mut natt = RFC3947_NAT_T.to_vec();
        natt.push(0);
        assert_eq!(classify(&natt), Known::Other);
        assert_eq!(classify(&XAUTH[..7]), Known::Other);
        // Unity by prefix: other versions, longer IDs; not shorter than 16 bytes.
        let mut unity = CISCO_UNITY.to_vec();
        unity[14] = 2;
        unity[15] = 5;
        assert_eq!(classify(&unity), Known::CiscoUnity);
        unity.push(9);
        assert_eq!(classify(&unity), Known::CiscoUnity);
        assert_eq!(classify(&CISCO_UNITY[..14]), Known::Other);
        // Fragmentation: the capability word must have the IKE bit.
        assert_eq!(classify(&fragmentation_with_caps(0x8000_0000)), Known::Fragmentation);
        assert_eq!(classify(&fragmentation_with_caps(0xc000_0000)), Known::Fragmentation);
        assert_eq!(classify(&fragmentation_with_caps(0x4000_0000)), Known::Other);
        let mut odd = FRAGMENTATION.to_vec();
        odd.push(0x80);
        assert_eq!(classify(&odd), Known::Other);
    }
}
