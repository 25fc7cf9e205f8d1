//! Codec errors, each naming what was wrong so the state machine can log it and answer with
//! the right notify.

use super::NotifyType;

/// Why bytes did not parse as an IKEv2 message or payload, or why a `Repr` could not be
/// emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends before a fixed-size field or before the end a length field announces.
    #[error("truncated")]
    Truncated,
    /// A length field is below its minimum or disagrees with the enclosing structure.
    #[error("inconsistent length field")]
    BadLength,
    /// The IKE header's major version is not 2 (RFC 7296 section 2.5).
    #[error("unsupported IKE major version {0}")]
    InvalidMajorVersion(u8),
    /// The chain holds more than [`MAX_PAYLOADS`](super::MAX_PAYLOADS) payloads.
    #[error("too many payloads")]
    TooManyPayloads,
    /// A payload of an unknown type has the critical bit set (RFC 7296 section 2.5).
    #[error("unsupported critical payload type {0}")]
    UnsupportedCritical(u8),
    /// Bytes follow the payload that ends the chain (Next Payload 0, or SK / SKF).
    #[error("bytes after the last payload")]
    TrailingBytes,
    /// An SK or SKF payload is not the last payload of the message (RFC 7296 section 3.14,
    /// RFC 7383 section 2.5).
    #[error("encrypted payload is not the last payload")]
    EncryptedNotLast,
    /// An SPI size that the protocol does not allow (RFC 7296 sections 3.3.1, 3.11).
    #[error("invalid SPI size {0}")]
    InvalidSpiSize(u8),
    /// A nonce outside 16..=256 bytes (RFC 7296 section 3.9).
    #[error("invalid nonce length {0}")]
    InvalidNonceLength(usize),
    /// A traffic selector whose start is above its end (RFC 7296 section 3.13.1).
    #[error("traffic selector start above end")]
    InvalidTsRange,
    /// Fragment Number 0, Total Fragments 0 or Number above Total (RFC 7383 section 2.5).
    #[error("invalid fragment {number} of {total}")]
    InvalidFragment {
        /// The Fragment Number field.
        number: u16,
        /// The Total Fragments field.
        total: u16,
    },
    /// A field value the payload's definition rules out; the text says which.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// Emission: the output buffer is shorter than `buffer_len`.
    #[error("output buffer too small")]
    Exhausted,
    /// Emission: a value does not fit its length field.
    #[error("value too long for its length field")]
    TooLong,
}

/// Result of a codec operation.
pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    /// The error notify a responder sends for a request that failed to parse this way
    /// (RFC 7296 sections 2.5 and 3.10.1): UNSUPPORTED_CRITICAL_PAYLOAD (whose data is the
    /// payload type), INVALID_MAJOR_VERSION, otherwise INVALID_SYNTAX.
    pub fn notify_type(&self) -> NotifyType {
        match self {
            Error::UnsupportedCritical(_) => NotifyType::UnsupportedCriticalPayload,
            Error::InvalidMajorVersion(_) => NotifyType::InvalidMajorVersion,
            _ => NotifyType::InvalidSyntax,
        }
    }
}
