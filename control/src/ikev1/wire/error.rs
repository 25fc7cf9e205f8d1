//! Codec errors. Each names the structure that was wrong and the numbers involved, so the
//! state machine can log it and answer with the matching notify ([`WireError::notify`]).

use super::PayloadType;
use super::notify;

/// Why bytes did not parse as an ISAKMP message or payload, or why a value could not be
/// emitted by the checked (`try_`) emitters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The buffer ends before a fixed-size field, or before the end a length field announces.
    #[error("{what} truncated: needs {need} bytes, {have} left")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Bytes the field needs.
        need: usize,
        /// Bytes that were left.
        have: usize,
    },
    /// A length field below the structure's minimum size.
    #[error("{what}: length field {len} is below the minimum {min}")]
    BadLength {
        /// The structure whose length field is wrong.
        what: &'static str,
        /// The length field.
        len: usize,
        /// The smallest valid value.
        min: usize,
    },
    /// Bytes left inside a structure after its last element (inside an SA, a proposal, a
    /// Delete): the enclosing length and the inner contents disagree.
    #[error("{what}: {extra} unexpected bytes after the last element")]
    TrailingBytes {
        /// The structure with leftover bytes.
        what: &'static str,
        /// How many bytes were left over.
        extra: usize,
    },
    /// The header's major version is not 1 (RFC 2408 section 3.1); the value is the whole
    /// version octet, so an IKEv2 packet shows as `0x20`.
    #[error("unsupported ISAKMP version {0:#04x} (major version must be 1)")]
    UnsupportedVersion(u8),
    /// [`Message::parse`](super::Message::parse) was given a message with the E flag set:
    /// its body must be decrypted first.
    #[error("message is encrypted (E flag set)")]
    Encrypted,
    /// An SA payload whose IPsec DOI situation has the secrecy or integrity bits, which add
    /// labelled-domain fields this codec does not parse (RFC 2407 section 4.6.1).
    #[error("unsupported SA situation {0:#010x}")]
    UnsupportedSituation(u32),
    /// The chain holds more than [`MAX_PAYLOADS`](super::MAX_PAYLOADS) payloads.
    #[error("more than {} payloads in one chain", super::MAX_PAYLOADS)]
    TooManyPayloads,
    /// The SA payload holds more than [`MAX_PROPOSALS`](super::MAX_PROPOSALS) proposals.
    #[error("more than {} proposals in one SA payload", super::MAX_PROPOSALS)]
    TooManyProposals,
    /// A Proposal or Transform payload outside an SA payload (RFC 2408 sections 3.5, 3.6).
    #[error("{0} payload outside an SA payload")]
    TopLevelSubstructure(PayloadType),
    /// A next-payload field inside an SA that is neither the expected substructure type nor
    /// 0 where the chain must end: proposals chain with 2, transforms with 3 (RFC 2408
    /// sections 3.5, 3.6).
    #[error("{what}: next-payload field {next} where {expected} was required")]
    BadSubstructure {
        /// The structure whose next-payload field is wrong.
        what: &'static str,
        /// The value found.
        next: u8,
        /// The value the position requires.
        expected: u8,
    },
    /// A count field that disagrees with the elements present.
    #[error("{what}: declares {declared}, found {found}")]
    CountMismatch {
        /// What was counted.
        what: &'static str,
        /// The count field.
        declared: usize,
        /// The elements present.
        found: usize,
    },
    /// Identification data whose length is wrong for its ID type (RFC 2407 section 4.6.2),
    /// or a NAT-OA payload with a non-address ID type (RFC 3947 section 5.2).
    #[error("ID type {id_type} with {len} data bytes")]
    BadId {
        /// The ID type.
        id_type: u8,
        /// The identification data length.
        len: usize,
    },
    /// An address range that cannot be a proxy ID: mixed address families or start above
    /// end.
    #[error("address range: {0}")]
    BadRange(&'static str),
    /// A field value the payload's definition rules out; the text says which.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// Checked emission: a value does not fit its field.
    #[error("{what}: {len} does not fit (at most {max})")]
    TooLong {
        /// The field.
        what: &'static str,
        /// The value or length that was too big.
        len: usize,
        /// The largest the field holds.
        max: usize,
    },
}

impl WireError {
    /// The ISAKMP notify a responder sends for a message that failed to parse this way (RFC
    /// 2408 section 3.14.1): INVALID-MAJOR-VERSION, SITUATION-NOT-SUPPORTED,
    /// INVALID-PAYLOAD-TYPE, BAD-PROPOSAL-SYNTAX for SA structure errors,
    /// INVALID-ID-INFORMATION, otherwise PAYLOAD-MALFORMED.
    pub fn notify(&self) -> u16 {
        match self {
            WireError::UnsupportedVersion(_) => notify::INVALID_MAJOR_VERSION,
            WireError::UnsupportedSituation(_) => notify::SITUATION_NOT_SUPPORTED,
            WireError::TopLevelSubstructure(_) => notify::INVALID_PAYLOAD_TYPE,
            WireError::TooManyProposals
            | WireError::BadSubstructure { .. }
            | WireError::CountMismatch { .. } => notify::BAD_PROPOSAL_SYNTAX,
            WireError::BadId { .. } | WireError::BadRange(_) => notify::INVALID_ID_INFORMATION,
            _ => notify::PAYLOAD_MALFORMED,
        }
    }
}
