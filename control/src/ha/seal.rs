//! Sealing failover datagrams with the shared `failover key`, and the receive-side checks
//! (key fingerprint, role, epoch, replay window, AES-256-GCM tag).
//!
//! **Keys.** HKDF-SHA256 (RFC 5869, written out with HMAC-SHA256) extracts a pseudo-random
//! key from the configured secret with a fixed salt; expanding it gives an 8-byte key id
//! (sent in the clear, so that a unit with another key is told apart from a forgery) and
//! one AES-256-GCM key per sender *and boot*: info = `"traffic" | role | epoch`. Each
//! unit picks a random 64-bit epoch when it starts, so its datagram counter can restart
//! at 1 after a reboot without ever reusing a (key, nonce) pair. The nonce is four zero
//! bytes and the 64-bit datagram sequence number.
//!
//! **Replay.** Datagrams from the mate's current epoch pass a 1024-bit sliding window on
//! the sequence number. A datagram from an unknown epoch is authenticated but only
//! *adopted* (its epoch becomes the mate's current one, the old one is retired for good)
//! when its header echoes our own epoch: it was then sealed after the sender heard from
//! this boot of ours, so it cannot be a recording from before it. Until then its content
//! is ignored ([`Opened::Probe`]), and we echo its epoch so that the next one is adopted.
//! After a reboot of either unit, recorded datagrams therefore neither count as a live
//! mate nor change anything.

use std::collections::VecDeque;

use aes_gcm::aead::array::Array;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;
use zeroize::Zeroizing;

use super::codec::WireError;
use super::wire::{HEADER_LEN, Header, MAX_DATAGRAM, Message, Role, TAG_LEN};

/// HKDF salt: a fixed label, versioning the derivation.
const SALT: &[u8] = b"ferrogate failover key v1";
/// Replay window width in datagrams.
pub const REPLAY_WINDOW: u64 = 1024;
/// Retired mate epochs remembered (datagrams from them are refused).
const RETIRED: usize = 16;

/// Why the failover key could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum KeyError {
    /// The configured secret is empty.
    #[error("the failover key is empty")]
    Empty,
}

/// The shared failover secret, reduced to an HKDF pseudo-random key. `Debug` shows the
/// key id only.
#[derive(Clone)]
pub struct FailoverKey {
    prk: Zeroizing<[u8; 32]>,
    id: [u8; 8],
}

impl core::fmt::Debug for FailoverKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "FailoverKey(id ")?;
        for b in self.id {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    // HMAC takes keys of any length: this cannot fail, and a failure leaves zeros that
    // no mate would match.
    if let Ok(mut m) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        for p in parts {
            m.update(p);
        }
        out.copy_from_slice(&m.finalize().into_bytes());
    }
    out
}

impl FailoverKey {
    /// Derives the key from the configured secret's bytes.
    pub fn new(secret: &[u8]) -> Result<FailoverKey, KeyError> {
        if secret.is_empty() {
            return Err(KeyError::Empty);
        }
        let prk = hmac_sha256(SALT, &[secret]);
        let okm = hmac_sha256(&*prk, &[b"key id", &[1]]);
        let mut id = [0u8; 8];
        id.copy_from_slice(&okm[..8]);
        Ok(FailoverKey { prk, id })
    }

    /// The key's public fingerprint, sent in every header.
    pub fn id(&self) -> [u8; 8] {
        self.id
    }

    fn traffic(&self, role: Role, epoch: u64) -> Aes256Gcm {
        let okm =
            hmac_sha256(&*self.prk, &[b"traffic", &[role.code()], &epoch.to_be_bytes(), &[1]]);
        Aes256Gcm::new(&Array::from(*okm))
    }
}

fn nonce(seq: u64) -> Array<u8, aes_gcm::aead::consts::U12> {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&seq.to_be_bytes());
    Array::from(n)
}

/// A sliding anti-replay window of [`REPLAY_WINDOW`] sequence numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    highest: u64,
    /// Bit `i` (word `i / 64`, bit `i % 64`) is set when `highest - i` was accepted.
    bits: [u64; (REPLAY_WINDOW / 64) as usize],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    /// Nothing seen.
    pub const fn new() -> Self {
        ReplayWindow { highest: 0, bits: [0; (REPLAY_WINDOW / 64) as usize] }
    }

    /// A window at `seq` with everything below it seen.
    pub const fn starting_at(seq: u64) -> Self {
        ReplayWindow { highest: seq, bits: [u64::MAX; (REPLAY_WINDOW / 64) as usize] }
    }

    /// Whether `seq` is new: above the window, or inside it and not yet seen.
    pub fn check(&self, seq: u64) -> bool {
        if seq == 0 {
            return false;
        }
        if seq > self.highest {
            return true;
        }
        let off = self.highest - seq;
        off < REPLAY_WINDOW && !self.get(off)
    }

    /// Marks `seq` seen (after [`ReplayWindow::check`] and authentication).
    pub fn accept(&mut self, seq: u64) {
        if seq > self.highest {
            self.shift(seq - self.highest);
            self.highest = seq;
            self.set(0);
        } else {
            self.set(self.highest - seq);
        }
    }

    /// The highest sequence number seen.
    pub fn highest(&self) -> u64 {
        self.highest
    }

    fn get(&self, off: u64) -> bool {
        let (w, b) = ((off / 64) as usize, off % 64);
        self.bits.get(w).is_some_and(|word| word >> b & 1 == 1)
    }

    fn set(&mut self, off: u64) {
        let (w, b) = ((off / 64) as usize, off % 64);
        if let Some(word) = self.bits.get_mut(w) {
            *word |= 1 << b;
        }
    }

    /// Moves every bit `n` places up (towards older), dropping those that leave.
    fn shift(&mut self, n: u64) {
        let words = self.bits.len();
        if n >= REPLAY_WINDOW {
            self.bits = [0; (REPLAY_WINDOW / 64) as usize];
            return;
        }
        let (ws, bs) = ((n / 64) as usize, (n % 64) as u32);
        for i in (0..words).rev() {
            let mut v = 0u64;
            if let Some(src) = i.checked_sub(ws) {
                v = self.bits[src] << bs;
                if bs > 0
                    && let Some(lower) = src.checked_sub(1)
                {
                    v |= self.bits[lower] >> (64 - bs);
                }
            }
            self.bits[i] = v;
        }
    }
}

/// Why a received datagram was refused. Every case is counted; none changes state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum OpenError {
    /// Shorter than a header and a tag, or longer than [`MAX_DATAGRAM`].
    #[error("bad datagram length {0}")]
    Length(usize),
    /// The clear header is malformed (magic, version, role, reserved, zero epoch or seq).
    #[error("malformed header: {0}")]
    Header(WireError),
    /// Sealed with another failover key (the key ids differ).
    #[error("sealed with another failover key")]
    WrongKey,
    /// The sender claims our own role: a misconfigured mate, or our own datagram
    /// reflected back.
    #[error("sender has our own role")]
    SameRole,
    /// From a mate epoch that was replaced by a newer one.
    #[error("from a retired mate epoch")]
    StaleEpoch,
    /// The sequence number was seen before or is behind the window.
    #[error("replayed")]
    Replayed,
    /// The tag does not verify (tampered, or a forged header).
    #[error("authentication failed")]
    AuthFailed,
    /// Authentic but the body does not parse (a bug or another protocol version).
    #[error("malformed body: {0}")]
    Body(WireError),
}

/// Why a message could not be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum SealError {
    /// The body is over the cap.
    #[error("message does not fit a datagram: {0}")]
    TooLarge(WireError),
    /// The 64-bit datagram counter ran out (never in practice; refusing beats reusing a
    /// nonce).
    #[error("datagram counter exhausted")]
    Exhausted,
    /// The cipher refused the input (cannot happen below its length limit).
    #[error("encryption failed")]
    Cipher,
}

/// How a datagram relates to the mate's epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Adoption {
    /// From the mate's current epoch.
    Current,
    /// The first epoch adopted.
    First,
    /// A new epoch replaced `previous`: the mate restarted.
    Restarted {
        /// The retired epoch.
        previous: u64,
    },
}

/// An accepted datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// From the mate's (possibly newly adopted) epoch: act on it.
    Message {
        /// The header.
        header: Header,
        /// The body.
        message: Message,
        /// Epoch status.
        adoption: Adoption,
    },
    /// Authentic, from an epoch not (yet) adopted: its content is ignored, but we now
    /// echo its epoch. `new` when this epoch was not the candidate already.
    Probe {
        /// The sender's epoch.
        epoch: u64,
        /// First datagram seen from it.
        new: bool,
    },
}

struct MateSession {
    epoch: u64,
    cipher: Aes256Gcm,
    window: ReplayWindow,
}

/// One unit's end of the failover link: seals what it sends, checks what it receives.
pub struct Channel {
    key: FailoverKey,
    role: Role,
    epoch: u64,
    send: Aes256Gcm,
    next_seq: u64,
    mate: Option<MateSession>,
    candidate: Option<u64>,
    retired: VecDeque<u64>,
}

impl core::fmt::Debug for Channel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Channel")
            .field("key", &self.key)
            .field("role", &self.role)
            .field("epoch", &self.epoch)
            .field("next_seq", &self.next_seq)
            .field("mate_epoch", &self.mate.as_ref().map(|m| m.epoch))
            .field("candidate", &self.candidate)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// Our end, for `role` in boot `epoch` (non-zero; the pair draws it at random).
    pub fn new(key: FailoverKey, role: Role, epoch: u64) -> Channel {
        let epoch = epoch.max(1);
        let send = key.traffic(role, epoch);
        Channel {
            key,
            role,
            epoch,
            send,
            next_seq: 1,
            mate: None,
            candidate: None,
            retired: VecDeque::new(),
        }
    }

    /// Our epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The mate's adopted epoch.
    pub fn mate_epoch(&self) -> Option<u64> {
        self.mate.as_ref().map(|m| m.epoch)
    }

    /// What we echo: the newest epoch of the mate we have authenticated.
    fn echo(&self) -> u64 {
        self.candidate.or(self.mate_epoch()).unwrap_or(0)
    }

    /// Seals `msg` into a datagram.
    pub fn seal(&mut self, msg: &Message) -> Result<Vec<u8>, SealError> {
        let body = msg.encode().map_err(SealError::TooLarge)?;
        let seq = self.next_seq;
        self.next_seq = seq.checked_add(1).ok_or(SealError::Exhausted)?;
        let header = Header {
            role: self.role,
            key_id: self.key.id,
            epoch: self.epoch,
            echo: self.echo(),
            seq,
        };
        let aad = header.encode();
        let mut out = Vec::with_capacity(HEADER_LEN + body.len() + TAG_LEN);
        out.extend_from_slice(&aad);
        out.extend_from_slice(&body);
        let tag = self
            .send
            .encrypt_inout_detached(&nonce(seq), &aad, (&mut out[HEADER_LEN..]).into())
            .map_err(|_| SealError::Cipher)?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Checks and opens a received datagram.
    pub fn open(&mut self, d: &[u8]) -> Result<Opened, OpenError> {
        if d.len() < HEADER_LEN + TAG_LEN || d.len() > MAX_DATAGRAM {
            return Err(OpenError::Length(d.len()));
        }
        let header = Header::decode(d).map_err(OpenError::Header)?;
        if header.key_id != self.key.id {
            return Err(OpenError::WrongKey);
        }
        if header.role == self.role {
            return Err(OpenError::SameRole);
        }
        let (aad, rest) = d.split_at(HEADER_LEN);
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut body = Zeroizing::new(ct.to_vec());
        let decrypt = |cipher: &Aes256Gcm, body: &mut [u8]| -> Result<(), OpenError> {
            let tag = Array::try_from(tag).map_err(|_| OpenError::AuthFailed)?;
            cipher
                .decrypt_inout_detached(&nonce(header.seq), aad, body.into(), &tag)
                .map_err(|_| OpenError::AuthFailed)
        };

        if let Some(m) = &mut self.mate
            && m.epoch == header.epoch
        {
            if !m.window.check(header.seq) {
                return Err(OpenError::Replayed);
            }
            decrypt(&m.cipher, &mut body)?;
            m.window.accept(header.seq);
            let message = Message::decode(&body).map_err(OpenError::Body)?;
            return Ok(Opened::Message { header, message, adoption: Adoption::Current });
        }
        if self.retired.contains(&header.epoch) {
            return Err(OpenError::StaleEpoch);
        }
        let cipher = self.key.traffic(header.role, header.epoch);
        decrypt(&cipher, &mut body)?;
        if header.echo != self.epoch {
            let new = self.candidate != Some(header.epoch);
            self.candidate = Some(header.epoch);
            return Ok(Opened::Probe { epoch: header.epoch, new });
        }
        // Parse before adopting: a body that does not parse changes nothing.
        let message = Message::decode(&body).map_err(OpenError::Body)?;
        // Everything the mate sealed in this epoch before this datagram counts as seen:
        // those were sent before it knew us (or are probes we already ignored), and
        // accepting one later would replay old news.
        let window = ReplayWindow::starting_at(header.seq);
        let previous = self.mate.replace(MateSession { epoch: header.epoch, cipher, window });
        if self.candidate == Some(header.epoch) {
            self.candidate = None;
        }
        let adoption = match previous {
            None => Adoption::First,
            Some(p) => {
                if self.retired.len() == RETIRED {
                    self.retired.pop_front();
                }
                self.retired.push_back(p.epoch);
                Adoption::Restarted { previous: p.epoch }
            }
        };
        Ok(Opened::Message { header, message, adoption })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::ha::wire::{Health, Hello, State};

    fn hello() -> Message {
        Message::Hello(Hello {
            state: State::Active,
            health: Health { up: 1, monitored: 1 },
            uptime_ms: 1,
            handover: false,
            synced: false,
            repl_gen: 0,
            repl_seq: 0,
            bulk_done_seq: 0,
            bulk_request: 0,
        })
    }

    fn pair(secret_a: &[u8], secret_b: &[u8]) -> (Channel, Channel) {
        (
            Channel::new(FailoverKey::new(secret_a).unwrap(), Role::Primary, 11),
            Channel::new(FailoverKey::new(secret_b).unwrap(), Role::Secondary, 22),
        )
    }

    /// Makes both sides adopt each other: a probe each way, then echoing datagrams.
    fn handshake(a: &mut Channel, b: &mut Channel) {
        let probe = a.seal(&hello()).unwrap();
        let early = a.seal(&hello()).unwrap();
        assert_eq!(b.open(&probe), Ok(Opened::Probe { epoch: 11, new: true }));
        let d = b.seal(&hello()).unwrap();
        assert!(matches!(a.open(&d), Ok(Opened::Message { adoption: Adoption::First, .. })));
        let d = a.seal(&hello()).unwrap();
        assert!(matches!(b.open(&d), Ok(Opened::Message { adoption: Adoption::First, .. })));
        // Sealed before the adoption, seen or not: old news, refused.
        assert_eq!(b.open(&probe), Err(OpenError::Replayed));
        assert_eq!(b.open(&early), Err(OpenError::Replayed));
    }

    #[test]
    fn window_matches_a_set_model() {
        let mut w = ReplayWindow::new();
        let mut seen = HashSet::new();
        let mut x: u64 = 0x1234_5678;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly near the top, sometimes big jumps.
            let seq = if x.is_multiple_of(50) {
                w.highest() + (x >> 8) % 3000
            } else {
                (w.highest() + 40).saturating_sub((x >> 8) % 1200)
            };
            let fresh = seq != 0
                && !seen.contains(&seq)
                && (seq > w.highest() || w.highest() - seq < REPLAY_WINDOW);
            assert_eq!(w.check(seq), fresh, "seq {seq} highest {}", w.highest());
            if fresh {
                w.accept(seq);
                seen.insert(seq);
            }
        }
    }

    #[test]
    fn seal_open_and_replay() {
        let (mut a, mut b) = pair(b"secret", b"secret");
        handshake(&mut a, &mut b);
        let d = a.seal(&hello()).unwrap();
        assert!(d.len() <= MAX_DATAGRAM);
        assert!(matches!(b.open(&d), Ok(Opened::Message { adoption: Adoption::Current, .. })));
        assert_eq!(b.open(&d), Err(OpenError::Replayed));
        // Tampering anywhere (header as AAD, body, tag) fails authentication.
        let fresh = a.seal(&hello()).unwrap();
        for i in [17, 25, HEADER_LEN, fresh.len() - 1] {
            let mut t = fresh.clone();
            t[i] ^= 1;
            assert!(matches!(b.open(&t), Err(OpenError::AuthFailed | OpenError::StaleEpoch)));
        }
        assert!(b.open(&fresh).is_ok(), "the untampered original still opens");
        // Our own datagram reflected back.
        assert_eq!(a.open(&fresh), Err(OpenError::SameRole));
    }

    #[test]
    fn wrong_key_is_told_apart() {
        let (mut a, mut b) = pair(b"one", b"two");
        let d = a.seal(&hello()).unwrap();
        assert_eq!(b.open(&d), Err(OpenError::WrongKey));
        assert!(matches!(FailoverKey::new(b""), Err(KeyError::Empty)));
    }

    #[test]
    fn recordings_from_an_old_epoch_are_never_adopted() {
        let (mut a, mut b) = pair(b"k", b"k");
        handshake(&mut a, &mut b);
        let recorded = a.seal(&hello()).unwrap();
        // b reboots: new epoch, nothing remembered. The recording echoes b's old epoch.
        let mut b2 = Channel::new(FailoverKey::new(b"k").unwrap(), Role::Secondary, 33);
        assert_eq!(b2.open(&recorded), Ok(Opened::Probe { epoch: 11, new: true }));
        assert_eq!(b2.open(&recorded), Ok(Opened::Probe { epoch: 11, new: false }));
        assert_eq!(b2.mate_epoch(), None);
        // a reboots too; once the new a echoes b2, it is adopted and a's old epoch is dead.
        let mut a2 = Channel::new(FailoverKey::new(b"k").unwrap(), Role::Primary, 44);
        let d = b2.seal(&hello()).unwrap(); // echoes 11 (the candidate)
        assert!(matches!(a2.open(&d), Ok(Opened::Probe { epoch: 33, .. })));
        let d = a2.seal(&hello()).unwrap(); // echoes 33
        assert!(matches!(b2.open(&d), Ok(Opened::Message { adoption: Adoption::First, .. })));
        // And on the side that stayed up: a restart retires the old epoch.
        let (mut a, mut b) = pair(b"k", b"k");
        handshake(&mut a, &mut b);
        let old = a.seal(&hello()).unwrap();
        let mut a3 = Channel::new(FailoverKey::new(b"k").unwrap(), Role::Primary, 55);
        let probe = a3.seal(&hello()).unwrap();
        assert!(matches!(b.open(&probe), Ok(Opened::Probe { epoch: 55, new: true })));
        let d = b.seal(&hello()).unwrap();
        let _ = a3.open(&d);
        let d = a3.seal(&hello()).unwrap();
        assert!(matches!(
            b.open(&d),
            Ok(Opened::Message { adoption: Adoption::Restarted { previous: 11 }, .. })
        ));
        assert_eq!(b.open(&old), Err(OpenError::StaleEpoch));
    }

    #[test]
    fn garbage_is_refused() {
        let (_, mut b) = pair(b"k", b"k");
        assert_eq!(b.open(&[]), Err(OpenError::Length(0)));
        assert_eq!(b.open(&[0; MAX_DATAGRAM + 1]), Err(OpenError::Length(MAX_DATAGRAM + 1)));
        assert!(matches!(b.open(&[0; 100]), Err(OpenError::Header(_))));
    }
}
