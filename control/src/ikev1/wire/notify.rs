//! The Notification payload (RFC 2408 section 3.14) and the notify message types of ISAKMP
//! (RFC 2408 section 3.14.1), the IPsec DOI (RFC 2407 section 4.6.3) and DPD (RFC 3706).

use super::WireError;
use super::codec::{Mode, Reader, Result, clamped, fit, strict};

/// INVALID-PAYLOAD-TYPE.
pub const INVALID_PAYLOAD_TYPE: u16 = 1;
/// DOI-NOT-SUPPORTED.
pub const DOI_NOT_SUPPORTED: u16 = 2;
/// SITUATION-NOT-SUPPORTED.
pub const SITUATION_NOT_SUPPORTED: u16 = 3;
/// INVALID-COOKIE.
pub const INVALID_COOKIE: u16 = 4;
/// INVALID-MAJOR-VERSION.
pub const INVALID_MAJOR_VERSION: u16 = 5;
/// INVALID-MINOR-VERSION.
pub const INVALID_MINOR_VERSION: u16 = 6;
/// INVALID-EXCHANGE-TYPE.
pub const INVALID_EXCHANGE_TYPE: u16 = 7;
/// INVALID-FLAGS.
pub const INVALID_FLAGS: u16 = 8;
/// INVALID-MESSAGE-ID.
pub const INVALID_MESSAGE_ID: u16 = 9;
/// INVALID-PROTOCOL-ID.
pub const INVALID_PROTOCOL_ID: u16 = 10;
/// INVALID-SPI.
pub const INVALID_SPI: u16 = 11;
/// INVALID-TRANSFORM-ID.
pub const INVALID_TRANSFORM_ID: u16 = 12;
/// ATTRIBUTES-NOT-SUPPORTED.
pub const ATTRIBUTES_NOT_SUPPORTED: u16 = 13;
/// NO-PROPOSAL-CHOSEN.
pub const NO_PROPOSAL_CHOSEN: u16 = 14;
/// BAD-PROPOSAL-SYNTAX.
pub const BAD_PROPOSAL_SYNTAX: u16 = 15;
/// PAYLOAD-MALFORMED.
pub const PAYLOAD_MALFORMED: u16 = 16;
/// INVALID-KEY-INFORMATION.
pub const INVALID_KEY_INFORMATION: u16 = 17;
/// INVALID-ID-INFORMATION.
pub const INVALID_ID_INFORMATION: u16 = 18;
/// INVALID-CERT-ENCODING.
pub const INVALID_CERT_ENCODING: u16 = 19;
/// INVALID-CERTIFICATE.
pub const INVALID_CERTIFICATE: u16 = 20;
/// CERT-TYPE-UNSUPPORTED.
pub const CERT_TYPE_UNSUPPORTED: u16 = 21;
/// INVALID-CERT-AUTHORITY.
pub const INVALID_CERT_AUTHORITY: u16 = 22;
/// INVALID-HASH-INFORMATION.
pub const INVALID_HASH_INFORMATION: u16 = 23;
/// AUTHENTICATION-FAILED.
pub const AUTHENTICATION_FAILED: u16 = 24;
/// INVALID-SIGNATURE.
pub const INVALID_SIGNATURE: u16 = 25;
/// ADDRESS-NOTIFICATION.
pub const ADDRESS_NOTIFICATION: u16 = 26;
/// NOTIFY-SA-LIFETIME.
pub const NOTIFY_SA_LIFETIME: u16 = 27;
/// CERTIFICATE-UNAVAILABLE.
pub const CERTIFICATE_UNAVAILABLE: u16 = 28;
/// UNSUPPORTED-EXCHANGE-TYPE.
pub const UNSUPPORTED_EXCHANGE_TYPE: u16 = 29;
/// UNEQUAL-PAYLOAD-LENGTHS.
pub const UNEQUAL_PAYLOAD_LENGTHS: u16 = 30;
/// CONNECTED (RFC 2408 section 3.14.1, status).
pub const CONNECTED: u16 = 16384;
/// RESPONDER-LIFETIME (RFC 2407 section 4.6.3.1): the responder's lifetime attributes.
pub const RESPONDER_LIFETIME: u16 = 24576;
/// REPLAY-STATUS (RFC 2407 section 4.6.3.2).
pub const REPLAY_STATUS: u16 = 24577;
/// INITIAL-CONTACT (RFC 2407 section 4.6.3.3).
pub const INITIAL_CONTACT: u16 = 24578;
/// R-U-THERE (RFC 3706 section 5.1): data is a 4-byte sequence number.
pub const R_U_THERE: u16 = 36136;
/// R-U-THERE-ACK (RFC 3706 section 5.1).
pub const R_U_THERE_ACK: u16 = 36137;

/// The name of a notify message type, for logs; `None` for one this module has no constant
/// for.
pub fn notify_name(kind: u16) -> Option<&'static str> {
    Some(match kind {
        INVALID_PAYLOAD_TYPE => "INVALID_PAYLOAD_TYPE",
        DOI_NOT_SUPPORTED => "DOI_NOT_SUPPORTED",
        SITUATION_NOT_SUPPORTED => "SITUATION_NOT_SUPPORTED",
        INVALID_COOKIE => "INVALID_COOKIE",
        INVALID_MAJOR_VERSION => "INVALID_MAJOR_VERSION",
        INVALID_MINOR_VERSION => "INVALID_MINOR_VERSION",
        INVALID_EXCHANGE_TYPE => "INVALID_EXCHANGE_TYPE",
        INVALID_FLAGS => "INVALID_FLAGS",
        INVALID_MESSAGE_ID => "INVALID_MESSAGE_ID",
        INVALID_PROTOCOL_ID => "INVALID_PROTOCOL_ID",
        INVALID_SPI => "INVALID_SPI",
        INVALID_TRANSFORM_ID => "INVALID_TRANSFORM_ID",
        ATTRIBUTES_NOT_SUPPORTED => "ATTRIBUTES_NOT_SUPPORTED",
        NO_PROPOSAL_CHOSEN => "NO_PROPOSAL_CHOSEN",
        BAD_PROPOSAL_SYNTAX => "BAD_PROPOSAL_SYNTAX",
        PAYLOAD_MALFORMED => "PAYLOAD_MALFORMED",
        INVALID_KEY_INFORMATION => "INVALID_KEY_INFORMATION",
        INVALID_ID_INFORMATION => "INVALID_ID_INFORMATION",
        INVALID_CERT_ENCODING => "INVALID_CERT_ENCODING",
        INVALID_CERTIFICATE => "INVALID_CERTIFICATE",
        CERT_TYPE_UNSUPPORTED => "CERT_TYPE_UNSUPPORTED",
        INVALID_CERT_AUTHORITY => "INVALID_CERT_AUTHORITY",
        INVALID_HASH_INFORMATION => "INVALID_HASH_INFORMATION",
        AUTHENTICATION_FAILED => "AUTHENTICATION_FAILED",
        INVALID_SIGNATURE => "INVALID_SIGNATURE",
        ADDRESS_NOTIFICATION => "ADDRESS_NOTIFICATION",
        NOTIFY_SA_LIFETIME => "NOTIFY_SA_LIFETIME",
        CERTIFICATE_UNAVAILABLE => "CERTIFICATE_UNAVAILABLE",
        UNSUPPORTED_EXCHANGE_TYPE => "UNSUPPORTED_EXCHANGE_TYPE",
        UNEQUAL_PAYLOAD_LENGTHS => "UNEQUAL_PAYLOAD_LENGTHS",
        CONNECTED => "CONNECTED",
        RESPONDER_LIFETIME => "RESPONDER_LIFETIME",
        REPLAY_STATUS => "REPLAY_STATUS",
        INITIAL_CONTACT => "INITIAL_CONTACT",
        R_U_THERE => "R_U_THERE",
        R_U_THERE_ACK => "R_U_THERE_ACK",
        _ => return None,
    })
}

/// Whether a notify type reports an error (1 to 16383) rather than a status (RFC 2408
/// section 3.14.1).
pub fn is_error(kind: u16) -> bool {
    (1..16384).contains(&kind)
}

/// A Notification payload body (RFC 2408 section 3.14).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    /// Domain of Interpretation ([`DOI_IPSEC`](super::DOI_IPSEC); 0 is seen for generic
    /// ISAKMP errors).
    pub doi: u32,
    /// Protocol ID the SPI belongs to ([`protocol`](super::protocol)).
    pub protocol: u8,
    /// The SPI: the 16 cookie bytes for the ISAKMP SA (DPD, INITIAL-CONTACT), 4 bytes for
    /// an IPsec SA, or empty.
    pub spi: Vec<u8>,
    /// Notify message type.
    pub kind: u16,
    /// Notification data.
    pub data: Vec<u8>,
}

impl Notification {
    /// Parses the payload body (after the generic header).
    pub fn parse(body: &[u8]) -> core::result::Result<Notification, WireError> {
        let mut r = Reader::new(body, "notification payload");
        let doi = r.u32()?;
        let protocol = r.u8()?;
        let spi_size = r.u8()?;
        let kind = r.u16()?;
        let spi = r.bytes(usize::from(spi_size))?.to_vec();
        let data = r.rest().to_vec();
        Ok(Notification { doi, protocol, spi, kind, data })
    }

    /// The body bytes; an SPI over 255 bytes is cut to fit.
    pub fn body_bytes(&self) -> Vec<u8> {
        clamped(|out, mode| self.emit(out, mode))
    }

    /// The body bytes, or [`WireError::TooLong`] if the SPI is over 255 bytes.
    pub fn try_body_bytes(&self) -> core::result::Result<Vec<u8>, WireError> {
        strict(|out, mode| self.emit(out, mode))
    }

    /// The name of the notify type, for logs.
    pub fn name(&self) -> Option<&'static str> {
        notify_name(self.kind)
    }

    /// The DPD sequence number of an R-U-THERE or R-U-THERE-ACK (RFC 3706 section 5.1): the
    /// 4 data bytes, big-endian.
    pub fn dpd_sequence(&self) -> Option<u32> {
        match self.kind {
            R_U_THERE | R_U_THERE_ACK => {
                <[u8; 4]>::try_from(self.data.as_slice()).ok().map(u32::from_be_bytes)
            }
            _ => None,
        }
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>, mode: Mode) -> Result<()> {
        let spi_len = fit(mode, "notification SPI", self.spi.len(), usize::from(u8::MAX))?;
        out.extend_from_slice(&self.doi.to_be_bytes());
        out.push(self.protocol);
        out.push(u8::try_from(spi_len).unwrap_or(u8::MAX));
        out.extend_from_slice(&self.kind.to_be_bytes());
        out.extend_from_slice(self.spi.get(..spi_len).unwrap_or(&self.spi));
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn dpd_layout() {
        let n = Notification {
            doi: 1,
            protocol: 1,
            spi: hex!("0102030405060708 1112131415161718").to_vec(),
            kind: R_U_THERE,
            data: 7u32.to_be_bytes().to_vec(),
        };
        let bytes = n.body_bytes();
        assert_eq!(bytes, hex!("00000001 01 10 8d28 0102030405060708 1112131415161718 00000007"));
        assert_eq!(Notification::parse(&bytes), Ok(n.clone()));
        assert_eq!(n.dpd_sequence(), Some(7));
        assert_eq!(n.name(), Some("R_U_THERE"));
        for len in 0..24 {
            assert!(Notification::parse(&bytes[..len]).is_err(), "{len}");
        }
    }

    #[test]
    fn names_and_classes() {
        assert_eq!(notify_name(INITIAL_CONTACT), Some("INITIAL_CONTACT"));
        assert_eq!(notify_name(R_U_THERE_ACK), Some("R_U_THERE_ACK"));
        assert_eq!(notify_name(0), None);
        assert!(is_error(NO_PROPOSAL_CHOSEN));
        assert!(!is_error(INITIAL_CONTACT));
    }
}
