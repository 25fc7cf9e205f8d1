//! Typed errors of the IKE crypto suite.
//!
//! Each maps to one IKE outcome: a peer value that fails validation is `INVALID_KE_PAYLOAD` /
//! `INVALID_SYNTAX`, an ICV failure is a silent drop (RFC 7296 §2.21.1), and configuration
//! mistakes (unknown transform, weak group not allowed) are caught before any exchange.

use thiserror::Error;

/// Diffie-Hellman / ECDH / X25519 errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DhError {
    /// The IANA Transform Type 4 number is not a group this crate implements.
    #[error("unsupported Diffie-Hellman group {0}")]
    UnsupportedGroup(u16),
    /// A weak group (1, 2 or 5) was requested without `allow_weak`.
    #[error("Diffie-Hellman group {0} is weak and was not explicitly allowed")]
    WeakGroupNotAllowed(u16),
    /// The peer's KE data has the wrong length for the group (RFC 7296 §3.4).
    #[error("KE data length {got} does not match group {group} (expected {expected})")]
    WrongPublicLength {
        /// IANA group number.
        group: u16,
        /// Length the group requires.
        expected: usize,
        /// Length received.
        got: usize,
    },
    /// MODP peer value outside 1 < y < p-1 (RFC 6989 §2.1, SP 800-56A rev3 §5.6.2.3.1).
    #[error("MODP public value out of range (must satisfy 1 < y < p-1)")]
    PublicOutOfRange,
    /// ECP peer value not a point on the curve, or the identity (RFC 5903 §7, RFC 6989 §2).
    #[error("ECP public value is not a valid curve point")]
    InvalidPoint,
    /// An imported private value is out of range for the group (known-answer tests, state
    /// import).
    #[error("private value out of range for the group")]
    InvalidPrivateKey,
    /// X25519 produced the all-zero output (RFC 7748 §6.1, RFC 8031 §2.3).
    #[error("X25519 shared secret is all-zero (low-order peer point)")]
    LowOrderPoint,
}

/// PRF and key-derivation errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PrfError {
    /// The IANA Transform Type 2 number is not a PRF this crate implements.
    #[error("unsupported PRF {0}")]
    UnsupportedPrf(u16),
    /// prf+ asked for more than 255 blocks (RFC 7296 §2.13).
    #[error("prf+ output of {requested} bytes exceeds 255 blocks ({max} bytes)")]
    OutputTooLong {
        /// Bytes requested.
        requested: usize,
        /// Largest output for this PRF.
        max: usize,
    },
}

/// Errors of the SK (Encrypted) payload ciphers and integrity algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SkError {
    /// The IANA Transform Type 1 number (or key length) is not implemented.
    #[error("unsupported encryption transform {id} with key length {key_bits} bits")]
    UnsupportedEncr {
        /// IANA Transform Type 1 number.
        id: u16,
        /// Key Length attribute in bits (0 when absent).
        key_bits: u16,
    },
    /// The IANA Transform Type 3 number is not implemented.
    #[error("unsupported integrity transform {0}")]
    UnsupportedInteg(u16),
    /// A combined-mode (AEAD) cipher was given an integrity algorithm, or a plain cipher none
    /// (RFC 5282 §8: AEAD proposals carry no integrity transform; others must).
    #[error("integrity transform does not fit the encryption transform")]
    IntegMismatch,
    /// A key has the wrong length for its algorithm.
    #[error("key length {got} does not match the algorithm (expected {expected})")]
    WrongKeyLength {
        /// Bytes required.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// The IV has the wrong length for the cipher.
    #[error("IV length {got} does not match the cipher (expected {expected})")]
    WrongIvLength {
        /// Bytes required.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// CBC input is not a whole number of blocks (RFC 7296 §3.14: the sender pads).
    #[error("CBC input of {0} bytes is not a multiple of the block size")]
    NotBlockAligned(usize),
    /// The plaintext is longer than the AEAD accepts (never for IKE-sized messages).
    #[error("plaintext of {0} bytes is too long for the cipher")]
    TooLong(usize),
    /// The encrypted data is shorter than its ICV, or the ICV buffer has the wrong length.
    #[error("encrypted data of {0} bytes is shorter than the ICV")]
    Truncated(usize),
    /// The integrity check failed: the message must be dropped (RFC 7296 §2.21.1).
    #[error("integrity check value mismatch")]
    IcvMismatch,
    /// The decrypted Pad Length byte points before the start of the plaintext.
    #[error("pad length {pad} exceeds the decrypted length {len}")]
    BadPadding {
        /// Pad Length byte.
        pad: usize,
        /// Decrypted length (padding and Pad Length byte included).
        len: usize,
    },
}
