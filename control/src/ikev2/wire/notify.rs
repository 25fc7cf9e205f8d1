//! The Notify payload (RFC 7296 section 3.10) and its message types, NAT detection
//! (RFC 7296 section 2.23) included.

use core::fmt;
use core::net::IpAddr;

use sha1::{Digest, Sha1};

use super::codec::{Reader, Writer, ensure};
use super::{DhGroup, Error, Hex, PayloadBody, ProtocolId, Result};

/// Length of a NAT_DETECTION_*_IP notification's data: a SHA-1 hash (RFC 7296 section 2.23).
pub const NAT_DETECTION_HASH_LEN: usize = 20;

/// Longest COOKIE notification data (RFC 7296 section 2.6: 1 to 64 octets).
const MAX_COOKIE_LEN: usize = 64;

/// First status type: 0..=16383 report errors, 16384.. report status (RFC 7296 section
/// 3.10.1).
const FIRST_STATUS_TYPE: u16 = 16384;

enum_with_unknown! {
    /// Notify message types (RFC 7296 section 3.10.1, IANA "IKEv2 Notify Message Types").
    /// Error types are below 16384, status types from 16384 on.
    pub enum NotifyType(u16) {
        /// A critical payload of an unknown type; data: its type (RFC 7296 section 3.10.1).
        UnsupportedCriticalPayload = 1 => "UNSUPPORTED_CRITICAL_PAYLOAD",
        /// A message for an unrecognised IKE SPI (RFC 7296 section 3.10.1).
        InvalidIkeSpi = 4 => "INVALID_IKE_SPI",
        /// A major version above ours; data: our highest (RFC 7296 section 3.10.1).
        InvalidMajorVersion = 5 => "INVALID_MAJOR_VERSION",
        /// A malformed message (RFC 7296 section 3.10.1).
        InvalidSyntax = 7 => "INVALID_SYNTAX",
        /// A Message ID outside the window (RFC 7296 section 3.10.1).
        InvalidMessageId = 9 => "INVALID_MESSAGE_ID",
        /// An ESP or AH packet with an unknown SPI (RFC 7296 section 3.10.1).
        InvalidSpi = 11 => "INVALID_SPI",
        /// None of the proposals was acceptable (RFC 7296 section 3.10.1).
        NoProposalChosen = 14 => "NO_PROPOSAL_CHOSEN",
        /// The KE payload's group is not the one wanted; data: that group (RFC 7296 section
        /// 3.10.1).
        InvalidKePayload = 17 => "INVALID_KE_PAYLOAD",
        /// AUTH or ID verification failed (RFC 7296 section 3.10.1).
        AuthenticationFailed = 24 => "AUTHENTICATION_FAILED",
        /// Only one pair of traffic selectors is acceptable (RFC 7296 section 3.10.1).
        SinglePairRequired = 34 => "SINGLE_PAIR_REQUIRED",
        /// No more Child SAs are accepted on this IKE SA (RFC 7296 section 3.10.1).
        NoAdditionalSas = 35 => "NO_ADDITIONAL_SAS",
        /// No internal address could be assigned (RFC 7296 section 3.10.1).
        InternalAddressFailure = 36 => "INTERNAL_ADDRESS_FAILURE",
        /// A CP payload was required and missing (RFC 7296 section 3.10.1).
        FailedCpRequired = 37 => "FAILED_CP_REQUIRED",
        /// The traffic selectors are unacceptable (RFC 7296 section 3.10.1).
        TsUnacceptable = 38 => "TS_UNACCEPTABLE",
        /// A packet's selectors do not match its SA (RFC 7296 section 3.10.1).
        InvalidSelectors = 39 => "INVALID_SELECTORS",
        /// Try again later, e.g. during a rekey collision (RFC 7296 section 3.10.1).
        TemporaryFailure = 43 => "TEMPORARY_FAILURE",
        /// The Child SA to rekey or delete does not exist (RFC 7296 section 3.10.1).
        ChildSaNotFound = 44 => "CHILD_SA_NOT_FOUND",
        /// No other IKE SA with the peer exists (RFC 7296 section 3.10.1).
        InitialContact = 16384 => "INITIAL_CONTACT",
        /// Window size for overlapping requests; data: 4 octets (RFC 7296 section 3.10.1).
        SetWindowSize = 16385 => "SET_WINDOW_SIZE",
        /// Other selectors would also be acceptable (RFC 7296 section 3.10.1).
        AdditionalTsPossible = 16386 => "ADDITIONAL_TS_POSSIBLE",
        /// IPComp is supported (RFC 7296 section 3.10.1).
        IpcompSupported = 16387 => "IPCOMP_SUPPORTED",
        /// Hash of the sender's address and port (RFC 7296 section 2.23).
        NatDetectionSourceIp = 16388 => "NAT_DETECTION_SOURCE_IP",
        /// Hash of the receiver's address and port (RFC 7296 section 2.23).
        NatDetectionDestinationIp = 16389 => "NAT_DETECTION_DESTINATION_IP",
        /// Stateless cookie, 1..64 octets (RFC 7296 section 2.6).
        Cookie = 16390 => "COOKIE",
        /// Transport mode is requested (RFC 7296 section 1.3.1).
        UseTransportMode = 16391 => "USE_TRANSPORT_MODE",
        /// Hash and URL certificate lookup is supported (RFC 7296 section 3.10.1).
        HttpCertLookupSupported = 16392 => "HTTP_CERT_LOOKUP_SUPPORTED",
        /// This CREATE_CHILD_SA rekeys the SA with the given SPI (RFC 7296 section 1.3.3).
        RekeySa = 16393 => "REKEY_SA",
        /// TFC padding is not supported (RFC 7296 section 1.3.1).
        EspTfcPaddingNotSupported = 16394 => "ESP_TFC_PADDING_NOT_SUPPORTED",
        /// Non-first fragments are also sent (RFC 7296 section 1.3.1).
        NonFirstFragmentsAlso = 16395 => "NON_FIRST_FRAGMENTS_ALSO",
        /// MOBIKE is supported (RFC 4555 section 4.2.1).
        MobikeSupported = 16396 => "MOBIKE_SUPPORTED",
        /// Remaining lifetime of the IKE SA's authentication (RFC 4478 section 3).
        AuthLifetime = 16403 => "AUTH_LIFETIME",
        /// Multiple authentication exchanges are supported (RFC 4739 section 3.1).
        MultipleAuthSupported = 16404 => "MULTIPLE_AUTH_SUPPORTED",
        /// Another authentication exchange follows (RFC 4739 section 3.2).
        AnotherAuthFollows = 16405 => "ANOTHER_AUTH_FOLLOWS",
        /// IKE fragmentation is supported (RFC 7383 section 2.3).
        Ikev2FragmentationSupported = 16430 => "IKEV2_FRAGMENTATION_SUPPORTED",
        /// Hash algorithms accepted for RFC 7427 signatures; data: 2-octet IDs (RFC 7427
        /// section 4).
        SignatureHashAlgorithms = 16431 => "SIGNATURE_HASH_ALGORITHMS",
        /// The IKE_INTERMEDIATE exchange is supported (RFC 9242 section 3).
        IntermediateExchangeSupported = 16438 => "INTERMEDIATE_EXCHANGE_SUPPORTED",
    }
}

impl NotifyType {
    /// An error type (0..=16383): the request failed (RFC 7296 section 3.10.1).
    pub fn is_error(self) -> bool {
        u16::from(self) < FIRST_STATUS_TYPE
    }

    /// A status type (16384..): information only (RFC 7296 section 3.10.1).
    pub fn is_status(self) -> bool {
        !self.is_error()
    }
}

/// The bytes that NAT detection hashes with SHA-1: SPIi | SPIr | IP address | port
/// (RFC 7296 section 2.23), for a source or destination address of the IKE datagram.
pub fn nat_detection_input(spi_i: u64, spi_r: u64, addr: IpAddr, port: u16) -> Vec<u8> {
    let mut input = Vec::with_capacity(8 + 8 + 16 + 2);
    input.extend_from_slice(&spi_i.to_be_bytes());
    input.extend_from_slice(&spi_r.to_be_bytes());
    match addr {
        IpAddr::V4(a) => input.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => input.extend_from_slice(&a.octets()),
    }
    input.extend_from_slice(&port.to_be_bytes());
    input
}

/// The Notify payload body.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct NotifyRepr {
    /// Protocol ID of the SA the notification concerns; [`ProtocolId::Reserved`] (0) when the
    /// SPI is empty (RFC 7296 section 3.10).
    pub protocol: ProtocolId,
    /// SPI of that SA; empty for IKE SA notifications.
    pub spi: Vec<u8>,
    /// Notify Message Type.
    pub notify_type: NotifyType,
    /// Notification Data.
    pub data: Vec<u8>,
}

impl NotifyRepr {
    /// A notification that concerns no particular SA: protocol 0, no SPI.
    pub fn new(notify_type: NotifyType, data: Vec<u8>) -> NotifyRepr {
        NotifyRepr { protocol: ProtocolId::Reserved, spi: Vec::new(), notify_type, data }
    }

    /// A NAT_DETECTION_SOURCE_IP or NAT_DETECTION_DESTINATION_IP notification: the SHA-1
    /// hash of [`nat_detection_input`] (RFC 7296 section 2.23).
    pub fn nat_detection(
        notify_type: NotifyType,
        spi_i: u64,
        spi_r: u64,
        addr: IpAddr,
        port: u16,
    ) -> NotifyRepr {
        let hash = Sha1::digest(nat_detection_input(spi_i, spi_r, addr, port));
        NotifyRepr::new(notify_type, hash.to_vec())
    }

    /// The group an INVALID_KE_PAYLOAD asks for.
    pub fn invalid_ke_group(&self) -> Option<DhGroup> {
        match (self.notify_type, self.data.as_slice()) {
            (NotifyType::InvalidKePayload, &[a, b]) => {
                Some(DhGroup::from(u16::from_be_bytes([a, b])))
            }
            _ => None,
        }
    }

    /// The window size of a SET_WINDOW_SIZE.
    pub fn window_size(&self) -> Option<u32> {
        match (self.notify_type, <[u8; 4]>::try_from(self.data.as_slice())) {
            (NotifyType::SetWindowSize, Ok(w)) => Some(u32::from_be_bytes(w)),
            _ => None,
        }
    }

    /// The hash algorithm IDs of a SIGNATURE_HASH_ALGORITHMS (RFC 7427 section 4).
    pub fn signature_hash_algorithms(&self) -> Option<Vec<u16>> {
        if self.notify_type != NotifyType::SignatureHashAlgorithms {
            return None;
        }
        Some(self.data.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect())
    }

    /// Checks the data lengths RFCs fix for some types: NAT detection a SHA-1 hash, COOKIE
    /// 1..=64 octets, INVALID_KE_PAYLOAD a 2-octet group, SET_WINDOW_SIZE 4 octets,
    /// UNSUPPORTED_CRITICAL_PAYLOAD and INVALID_MAJOR_VERSION one octet,
    /// SIGNATURE_HASH_ALGORITHMS whole 2-octet IDs.
    fn check(&self) -> Result<()> {
        let n = self.data.len();
        let ok = match self.notify_type {
            NotifyType::NatDetectionSourceIp | NotifyType::NatDetectionDestinationIp => {
                n == NAT_DETECTION_HASH_LEN
            }
            NotifyType::Cookie => (1..=MAX_COOKIE_LEN).contains(&n),
            NotifyType::InvalidKePayload => n == 2,
            NotifyType::SetWindowSize => n == 4,
            NotifyType::UnsupportedCriticalPayload | NotifyType::InvalidMajorVersion => n == 1,
            NotifyType::SignatureHashAlgorithms => n.is_multiple_of(2),
            _ => true,
        };
        if ok { Ok(()) } else { Err(Error::Malformed("notification data length")) }
    }
}

impl PayloadBody for NotifyRepr {
    fn parse(body: &[u8]) -> Result<NotifyRepr> {
        let mut r = Reader::new(body);
        let protocol = ProtocolId::from(r.u8()?);
        let spi_size = r.u8()?;
        let notify_type = NotifyType::from(r.u16()?);
        let spi = r.bytes(usize::from(spi_size))?.to_vec();
        let repr = NotifyRepr { protocol, spi, notify_type, data: r.rest().to_vec() };
        repr.check()?;
        Ok(repr)
    }

    fn buffer_len(&self) -> usize {
        4 + self.spi.len() + self.data.len()
    }

    fn emit(&self, buf: &mut [u8]) -> Result<()> {
        self.check()?;
        let spi_size = u8::try_from(self.spi.len()).map_err(|_| Error::TooLong)?;
        ensure(buf, self.buffer_len())?;
        let mut w = Writer::new(buf);
        w.u8(self.protocol.into())?;
        w.u8(spi_size)?;
        w.u16(self.notify_type.into())?;
        w.bytes(&self.spi)?;
        w.bytes(&self.data)
    }
}

impl fmt::Display for NotifyRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "N({})", self.notify_type)?;
        if !self.spi.is_empty() {
            write!(f, " {} spi={}", self.protocol, Hex(&self.spi))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::super::test_util::check_body;
    use super::*;

    #[test]
    fn test_rekey_sa() {
        // REKEY_SA for ESP SPI 0xc0ffee01: protocol 3, SPI size 4, type 16393, SPI, no data.
        let bytes = [0x03, 0x04, 0x40, 0x09, 0xc0, 0xff, 0xee, 0x01];
        let repr = NotifyRepr {
            protocol: ProtocolId::Esp,
            spi: vec![0xc0, 0xff, 0xee, 0x01],
            notify_type: NotifyType::RekeySa,
            data: vec![],
        };
        check_body(&bytes, &repr, bytes.len());
        assert_eq!(repr.to_string(), "N(REKEY_SA) ESP spi=c0ffee01");
    }

    #[test]
    fn test_invalid_ke() {
        let bytes = [0x00, 0x00, 0x00, 0x11, 0x00, 0x0e];
        let repr = NotifyRepr::new(NotifyType::InvalidKePayload, vec![0x00, 0x0e]);
        check_body(&bytes, &repr, bytes.len());
        assert_eq!(repr.invalid_ke_group(), Some(DhGroup::Modp2048));
        assert!(repr.notify_type.is_error());
    }

    #[test]
    fn test_classification() {
        assert!(NotifyType::from(16383).is_error());
        assert!(NotifyType::from(16384).is_status());
        assert!(NotifyType::ChildSaNotFound.is_error());
        assert!(NotifyType::SignatureHashAlgorithms.is_status());
        assert_eq!(NotifyType::from(16431), NotifyType::SignatureHashAlgorithms);
        assert_eq!(NotifyType::from(9999).to_string(), "UNKNOWN(9999)");
    }

    #[test]
    fn test_data_lengths() {
        assert!(NotifyRepr::parse(&[0, 0, 0x40, 0x04, 1, 2, 3]).is_err());
        assert!(NotifyRepr::parse(&[0, 0, 0x40, 0x06]).is_err());
        assert!(NotifyRepr::parse(&[0, 0, 0x40, 0x06, 1]).is_ok());
        assert!(NotifyRepr::parse(&[0, 0, 0x40, 0x2f, 0, 2, 0]).is_err());
        let sha = NotifyRepr::parse(&[0, 0, 0x40, 0x2f, 0, 2, 0, 4]).unwrap();
        assert_eq!(sha.signature_hash_algorithms(), Some(vec![2, 4]));
        assert!(NotifyRepr::parse(&[0, 4, 0x40, 0x09, 1, 2, 3]).is_err());
        let w = NotifyRepr::parse(&[0, 0, 0x40, 0x01, 0, 0, 0, 10]).unwrap();
        assert_eq!(w.window_size(), Some(10));
        assert!(NotifyRepr::new(NotifyType::Cookie, vec![0; 65]).to_vec().is_err());
    }

    #[test]
    fn test_nat_detection() {
        let input = nat_detection_input(1, 2, IpAddr::from([192, 0, 2, 1]), 500);
        assert_eq!(
            input,
            [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 192, 0, 2, 1, 0x01, 0xf4]
        );
        let n = NotifyRepr::nat_detection(
            NotifyType::NatDetectionSourceIp,
            1,
            2,
            IpAddr::from([192, 0, 2, 1]),
            500,
        );
        assert_eq!(n.data.len(), NAT_DETECTION_HASH_LEN);
        // hashlib.sha1(input).hexdigest() in Python.
        let expected = [
            0xe5, 0x51, 0x65, 0x0f, 0xd0, 0xb1, 0xc2, 0x4a, 0x93, 0x7f, 0x8f, 0x25, 0x1b, 0x19,
            0x5b, 0x30, 0xfe, 0xc9, 0x44, 0xe4,
        ];
        assert_eq!(n.data, expected);
        assert_eq!(NotifyRepr::parse(&n.to_vec().unwrap()).unwrap(), n);
    }
}
