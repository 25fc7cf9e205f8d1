//! The IKEv2 Diffie-Hellman groups behind one API (IANA Transform Type 4, RFC 7296 §3.3.2).
//!
//! ```text
//! let me = DhGroup::Ecp256.generate(&mut rng, WeakGroups::Reject)?;
//! send(me.public());                       // KE payload data
//! let g_ir = me.shared_secret(peer_ke)?;   // validated, fixed-length g^ir
//! ```

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::curve25519::{self, X25519Private};
use super::ecp::{Ecp256, Ecp384, Ecp521};
use super::errors::DhError;
use super::modp::{self, ModpPrivate, ModpSpec};

/// The Diffie-Hellman groups this crate implements, by IANA number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DhGroup {
    /// Group 1, 768-bit MODP (RFC 2409 §6.1). Weak: needs [`WeakGroups::Allow`].
    Modp768,
    /// Group 2, 1024-bit MODP (RFC 2409 §6.2). Weak: needs [`WeakGroups::Allow`].
    Modp1024,
    /// Group 5, 1536-bit MODP (RFC 3526 §2). Weak: needs [`WeakGroups::Allow`].
    Modp1536,
    /// Group 14, 2048-bit MODP (RFC 3526 §3).
    Modp2048,
    /// Group 15, 3072-bit MODP (RFC 3526 §4).
    Modp3072,
    /// Group 16, 4096-bit MODP (RFC 3526 §5).
    Modp4096,
    /// Group 19, 256-bit random ECP, NIST P-256 (RFC 5903 §3.1).
    Ecp256,
    /// Group 20, 384-bit random ECP, NIST P-384 (RFC 5903 §3.2).
    Ecp384,
    /// Group 21, 521-bit random ECP, NIST P-521 (RFC 5903 §3.3).
    Ecp521,
    /// Group 31, Curve25519 (RFC 8031 §4).
    Curve25519,
}

/// Whether the weak groups 1, 2 and 5 may be used. The caller states it at each use, so a
/// weak group never slips in through a default (RFC 8247 §2.4 recommends against all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeakGroups {
    /// Refuse groups 1, 2 and 5 with [`DhError::WeakGroupNotAllowed`].
    Reject,
    /// Accept them (legacy peers the operator configured explicitly).
    Allow,
}

impl DhGroup {
    /// Every implemented group, in IANA number order.
    pub const ALL: [DhGroup; 10] = [
        DhGroup::Modp768,
        DhGroup::Modp1024,
        DhGroup::Modp1536,
        DhGroup::Modp2048,
        DhGroup::Modp3072,
        DhGroup::Modp4096,
        DhGroup::Ecp256,
        DhGroup::Ecp384,
        DhGroup::Ecp521,
        DhGroup::Curve25519,
    ];

    /// The group for an IANA Transform Type 4 number.
    pub fn from_iana(id: u16) -> Result<Self, DhError> {
        Self::ALL.into_iter().find(|g| g.iana() == id).ok_or(DhError::UnsupportedGroup(id))
    }

    /// IANA Transform Type 4 number (RFC 7296 §3.3.2 registry; RFC 5903, RFC 8031 add 19-21, 31).
    pub const fn iana(self) -> u16 {
        match self {
            DhGroup::Modp768 => 1,
            DhGroup::Modp1024 => 2,
            DhGroup::Modp1536 => 5,
            DhGroup::Modp2048 => 14,
            DhGroup::Modp3072 => 15,
            DhGroup::Modp4096 => 16,
            DhGroup::Ecp256 => Ecp256::ID,
            DhGroup::Ecp384 => Ecp384::ID,
            DhGroup::Ecp521 => Ecp521::ID,
            DhGroup::Curve25519 => curve25519::ID,
        }
    }

    /// Length of the KE payload's Key Exchange Data (RFC 7296 §3.4, RFC 5903 §7,
    /// RFC 8031 §2).
    pub const fn public_len(self) -> usize {
        match self.kind() {
            Kind::Modp(s) => s.len,
            Kind::Ecp(field) => 2 * field,
            Kind::X25519 => curve25519::LEN,
        }
    }

    /// Length of the shared secret g^ir: the modulus length for MODP, the x coordinate for
    /// ECP (RFC 5903 §7), 32 for X25519.
    pub const fn shared_len(self) -> usize {
        match self.kind() {
            Kind::Modp(s) => s.len,
            Kind::Ecp(field) => field,
            Kind::X25519 => curve25519::LEN,
        }
    }

    /// Groups 1, 2 and 5 (RFC 8247 §2.4).
    pub const fn is_weak(self) -> bool {
        matches!(self, DhGroup::Modp768 | DhGroup::Modp1024 | DhGroup::Modp1536)
    }

    /// Ok unless the group is weak and `weak` is [`WeakGroups::Reject`].
    pub fn check_allowed(self, weak: WeakGroups) -> Result<(), DhError> {
        if self.is_weak() && weak == WeakGroups::Reject {
            return Err(DhError::WeakGroupNotAllowed(self.iana()));
        }
        Ok(())
    }

    /// A fresh private value and its public value.
    pub fn generate<R: CryptoRng + ?Sized>(
        self,
        rng: &mut R,
        weak: WeakGroups,
    ) -> Result<DhPrivate, DhError> {
        self.check_allowed(weak)?;
        let inner = match self {
            DhGroup::Ecp256 => Inner::Ecp256(Ecp256::generate(rng)),
            DhGroup::Ecp384 => Inner::Ecp384(Ecp384::generate(rng)),
            DhGroup::Ecp521 => Inner::Ecp521(Ecp521::generate(rng)),
            DhGroup::Curve25519 => Inner::X25519(X25519Private::generate(rng)),
            DhGroup::Modp768 => Inner::Modp(modp::GROUP_1.generate(rng)),
            DhGroup::Modp1024 => Inner::Modp(modp::GROUP_2.generate(rng)),
            DhGroup::Modp1536 => Inner::Modp(modp::GROUP_5.generate(rng)),
            DhGroup::Modp2048 => Inner::Modp(modp::GROUP_14.generate(rng)),
            DhGroup::Modp3072 => Inner::Modp(modp::GROUP_15.generate(rng)),
            DhGroup::Modp4096 => Inner::Modp(modp::GROUP_16.generate(rng)),
        };
        Ok(DhPrivate { group: self, inner })
    }

    /// Imports a private value (big-endian exponent for MODP, big-endian scalar for ECP,
    /// the 32 raw bytes for X25519). For known-answer tests and HA state transfer; live
    /// exchanges use [`DhGroup::generate`].
    pub fn private_from_bytes(self, secret: &[u8], weak: WeakGroups) -> Result<DhPrivate, DhError> {
        self.check_allowed(weak)?;
        let inner = match self {
            DhGroup::Ecp256 => Inner::Ecp256(Ecp256::from_scalar(secret)?),
            DhGroup::Ecp384 => Inner::Ecp384(Ecp384::from_scalar(secret)?),
            DhGroup::Ecp521 => Inner::Ecp521(Ecp521::from_scalar(secret)?),
            DhGroup::Curve25519 => Inner::X25519(X25519Private::from_scalar(secret)?),
            DhGroup::Modp768 => Inner::Modp(modp::GROUP_1.import_exponent(secret)?),
            DhGroup::Modp1024 => Inner::Modp(modp::GROUP_2.import_exponent(secret)?),
            DhGroup::Modp1536 => Inner::Modp(modp::GROUP_5.import_exponent(secret)?),
            DhGroup::Modp2048 => Inner::Modp(modp::GROUP_14.import_exponent(secret)?),
            DhGroup::Modp3072 => Inner::Modp(modp::GROUP_15.import_exponent(secret)?),
            DhGroup::Modp4096 => Inner::Modp(modp::GROUP_16.import_exponent(secret)?),
        };
        Ok(DhPrivate { group: self, inner })
    }

    const fn kind(self) -> Kind {
        match self {
            DhGroup::Modp768 => Kind::Modp(modp::GROUP_1),
            DhGroup::Modp1024 => Kind::Modp(modp::GROUP_2),
            DhGroup::Modp1536 => Kind::Modp(modp::GROUP_5),
            DhGroup::Modp2048 => Kind::Modp(modp::GROUP_14),
            DhGroup::Modp3072 => Kind::Modp(modp::GROUP_15),
            DhGroup::Modp4096 => Kind::Modp(modp::GROUP_16),
            DhGroup::Ecp256 => Kind::Ecp(Ecp256::FIELD_LEN),
            DhGroup::Ecp384 => Kind::Ecp(Ecp384::FIELD_LEN),
            DhGroup::Ecp521 => Kind::Ecp(Ecp521::FIELD_LEN),
            DhGroup::Curve25519 => Kind::X25519,
        }
    }
}

enum Kind {
    Modp(ModpSpec),
    /// Field length in bytes.
    Ecp(usize),
    X25519,
}

/// One side's private DH value and its public value. The secret is zeroized on drop and
/// never printed.
pub struct DhPrivate {
    group: DhGroup,
    inner: Inner,
}

enum Inner {
    Modp(ModpPrivate),
    Ecp256(Ecp256),
    Ecp384(Ecp384),
    Ecp521(Ecp521),
    X25519(X25519Private),
}

impl DhPrivate {
    /// The group this value belongs to.
    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// The KE payload's Key Exchange Data: exactly [`DhGroup::public_len`] bytes.
    pub fn public(&self) -> &[u8] {
        match &self.inner {
            Inner::Modp(k) => k.public(),
            Inner::Ecp256(k) => k.public(),
            Inner::Ecp384(k) => k.public(),
            Inner::Ecp521(k) => k.public(),
            Inner::X25519(k) => k.public(),
        }
    }

    /// Validates the peer's KE data and computes g^ir ([`DhGroup::shared_len`] bytes).
    pub fn shared_secret(&self, peer_public: &[u8]) -> Result<SharedSecret, DhError> {
        let bytes = match &self.inner {
            Inner::Modp(k) => k.shared_secret(peer_public)?,
            Inner::Ecp256(k) => k.shared_secret(peer_public)?,
            Inner::Ecp384(k) => k.shared_secret(peer_public)?,
            Inner::Ecp521(k) => k.shared_secret(peer_public)?,
            Inner::X25519(k) => k.shared_secret(peer_public)?,
        };
        Ok(SharedSecret(bytes))
    }
}

impl fmt::Debug for DhPrivate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DhPrivate")
            .field("group", &self.group)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The Diffie-Hellman shared secret g^ir, zeroized on drop and never printed.
pub struct SharedSecret(Zeroizing<Vec<u8>>);

impl SharedSecret {
    /// Wraps bytes obtained elsewhere (known-answer tests, HA state transfer).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        SharedSecret(Zeroizing::new(bytes.to_vec()))
    }

    /// The secret's bytes, for the key derivation only.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedSecret(<{} bytes redacted>)", self.0.len())
    }
}
