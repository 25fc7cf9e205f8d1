//! IKEv2 message fragmentation (RFC 7383): splitting an SK message's inner payloads into
//! SKF fragments that fit the path MTU, and reassembling received fragments.
//!
//! Sending: [`FragmentLayout`] says how many inner-payload bytes fit one fragment for the MTU
//! and the cipher; [`split`] cuts the plaintext payload chain into [`Fragment`]s; and
//! [`seal_fragments`] turns them into whole, encrypted IKE messages with an SKF payload each.
//!
//! Receiving: [`open_fragment`] checks and decrypts one SKF message (RFC 7383 section 2.6:
//! each fragment is authenticated on its own before it is kept), and a [`Reassembly`] per
//! (IKE SA, message ID) collects the decrypted fragments in any order, within limits on
//! count, bytes and time, and yields the inner payload chain with its first payload type.
//!
//! Fragmentation is only used once both peers sent IKE_FRAGMENTATION_SUPPORTED in
//! IKE_SA_INIT, and only for messages with an SK payload (RFC 7383 section 2.5); deciding
//! that is the state machine's job.

use core::fmt;
use core::time::Duration;

use rand_core::CryptoRng;

use super::wire::{
    self, Encrypted, GENERIC_HEADER_LEN, HEADER_LEN, HeaderRepr, Message, Payload, PayloadType,
    SkfRepr,
};
use crate::crypto::{SkCipher, SkError, strip_padding};
use crate::time::Time;

/// IPv4 and UDP headers: the outer overhead of IKE over IPv4 on port 500.
pub const IPV4_UDP_OVERHEAD: usize = 20 + 8;
/// IPv6 and UDP headers: the outer overhead of IKE over IPv6 on port 500.
pub const IPV6_UDP_OVERHEAD: usize = 40 + 8;
/// The non-ESP marker before IKE messages on UDP port 4500 (RFC 3948 section 2.2): add it to
/// the outer overhead there.
pub const NON_ESP_MARKER_LEN: usize = 4;
/// IPv4 datagram size to use when the path MTU is unknown (RFC 7383 section 2.5.1).
pub const DEFAULT_IPV4_MTU: usize = 576;
/// IPv6 datagram size to use when the path MTU is unknown (RFC 7383 section 2.5.1).
pub const DEFAULT_IPV6_MTU: usize = 1280;
/// Default most fragments per message accepted. 64 fragments of a 576-byte MTU carry about
/// 30 KB, enough for an IKE_AUTH with a long certificate chain.
pub const DEFAULT_MAX_FRAGMENTS: u16 = 64;
/// Default most reassembled bytes per message.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024;
/// Default time to complete a message from its first fragment. RFC 7383 sets none; this
/// spans a peer's first few retransmissions (RFC 7296 section 2.4), which refill lost
/// fragments.
pub const DEFAULT_REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(30);

/// The Fragment Number and Total Fragments fields (RFC 7383 section 2.5).
const FRAGMENT_FIELDS_LEN: usize = 4;
/// Bytes of an SKF message around the IV and ciphertext: IKE header, SKF generic header,
/// fragment fields.
const SKF_FIXED_LEN: usize = HEADER_LEN + GENERIC_HEADER_LEN + FRAGMENT_FIELDS_LEN;
/// The Pad Length octet ending every SK / SKF plaintext (RFC 7296 section 3.14).
const PAD_LENGTH_LEN: usize = 1;

/// Fragmentation errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FragmentError {
    /// The MTU leaves no room for even one byte of inner payload.
    #[error("MTU {mtu} leaves no room for fragment data")]
    MtuTooSmall {
        /// The MTU given.
        mtu: usize,
    },
    /// The message would need, or a fragment announces, more fragments than allowed.
    #[error("{total} fragments exceed the limit of {max}")]
    TooManyFragments {
        /// Fragments needed or announced.
        total: usize,
        /// The limit.
        max: u16,
    },
    /// Fragment Number 0, Total Fragments 0 or Number above Total (RFC 7383 section 2.5).
    #[error("invalid fragment {number} of {total}")]
    InvalidNumber {
        /// The Fragment Number.
        number: u16,
        /// The Total Fragments.
        total: u16,
    },
    /// The fragments so far exceed the byte limit; the partial message was dropped.
    #[error("reassembled message exceeds {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// A fragment of another message ID than this reassembly's.
    #[error("fragment of message {got}, reassembling {expected}")]
    WrongMessageId {
        /// This reassembly's message ID.
        expected: u32,
        /// The fragment's.
        got: u32,
    },
    /// The message has no SKF payload.
    #[error("not an SKF message")]
    NotAFragment,
    /// The message did not parse.
    #[error("codec: {0}")]
    Wire(#[from] wire::Error),
    /// Encryption failed, or the ICV did not verify (drop silently, RFC 7383 section 2.6).
    #[error("cipher: {0}")]
    Cipher(#[from] SkError),
}

/// One fragment's plaintext: a slice of the inner payload chain and its numbering.
#[derive(Clone, PartialEq, Eq)]
pub struct Fragment {
    /// Fragment Number, from 1.
    pub number: u16,
    /// Total Fragments.
    pub total: u16,
    /// The first inner payload's type in fragment 1; [`PayloadType::NoNextPayload`] in the
    /// others (RFC 7383 section 2.5).
    pub next_payload: PayloadType,
    /// This fragment's bytes of the inner payload chain.
    pub data: Vec<u8>,
}

impl fmt::Debug for Fragment {
    // The data is plaintext of an encrypted message: show its size only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Fragment({}/{} next={} {} bytes)",
            self.number,
            self.total,
            self.next_payload,
            self.data.len()
        )
    }
}

/// Sizes that decide how much inner payload one SKF fragment carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentLayout {
    /// Largest IP datagram to send: the path MTU, or [`DEFAULT_IPV4_MTU`] /
    /// [`DEFAULT_IPV6_MTU`].
    pub mtu: usize,
    /// IP and UDP headers plus, on port 4500, the non-ESP marker.
    pub outer_overhead: usize,
    /// The cipher's IV length.
    pub iv_len: usize,
    /// The cipher's ICV length.
    pub icv_len: usize,
    /// The cipher's padding unit (16 for AES-CBC, 1 for the AEAD suites).
    pub block_len: usize,
}

impl FragmentLayout {
    /// The layout for `cipher` at this MTU and outer overhead.
    pub fn for_cipher(mtu: usize, outer_overhead: usize, cipher: &SkCipher) -> FragmentLayout {
        FragmentLayout {
            mtu,
            outer_overhead,
            iv_len: cipher.iv_len(),
            icv_len: cipher.icv_len(),
            block_len: cipher.encr().block_len(),
        }
    }

    /// Inner-payload bytes one fragment carries: what is left of the MTU after the headers,
    /// IV and ICV, rounded down to whole cipher blocks, less the Pad Length octet. A full
    /// fragment then needs no padding; a shorter last one pads within the same blocks.
    pub fn max_fragment_data(&self) -> Result<usize, FragmentError> {
        let too_small = FragmentError::MtuTooSmall { mtu: self.mtu };
        let room = self
            .mtu
            .checked_sub(self.outer_overhead)
            .and_then(|r| r.checked_sub(SKF_FIXED_LEN))
            .and_then(|r| r.checked_sub(self.iv_len))
            .and_then(|r| r.checked_sub(self.icv_len))
            .ok_or(too_small)?;
        let block = self.block_len.max(1);
        let ciphertext = room - room % block;
        match ciphertext.checked_sub(PAD_LENGTH_LEN) {
            Some(n) if n > 0 => Ok(n),
            _ => Err(too_small),
        }
    }
}

/// Cuts the inner payload chain `chain` (first payload `first`) into fragments of at most
/// `max_data` bytes, all full but the last. An empty chain gives one empty fragment.
pub fn split(
    first: PayloadType,
    chain: &[u8],
    max_data: usize,
    max_fragments: u16,
) -> Result<Vec<Fragment>, FragmentError> {
    if max_data == 0 {
        return Err(FragmentError::MtuTooSmall { mtu: 0 });
    }
    let count = chain.len().div_ceil(max_data).max(1);
    let total = u16::try_from(count)
        .ok()
        .filter(|&t| t <= max_fragments)
        .ok_or(FragmentError::TooManyFragments { total: count, max: max_fragments })?;
    let mut pieces: Vec<&[u8]> = chain.chunks(max_data).collect();
    if pieces.is_empty() {
        pieces.push(&[]);
    }
    Ok(pieces
        .into_iter()
        .zip(1..=total)
        .map(|(data, number)| Fragment {
            number,
            total,
            next_payload: if number == 1 { first } else { PayloadType::NoNextPayload },
            data: data.to_vec(),
        })
        .collect())
}

/// Emits and encrypts each fragment as a whole IKE message: `header` (its Next Payload and
/// Length are computed) with one SKF payload. Each fragment gets a fresh IV from `rng`
/// (unpredictable, as CBC requires; unique with overwhelming probability, as the AEAD suites
/// require).
pub fn seal_fragments<R: CryptoRng + ?Sized>(
    header: &HeaderRepr,
    fragments: &[Fragment],
    cipher: &SkCipher,
    rng: &mut R,
) -> Result<Vec<Vec<u8>>, FragmentError> {
    let (iv_len, icv_len) = (cipher.iv_len(), cipher.icv_len());
    fragments
        .iter()
        .map(|f| {
            let pad = cipher.pad_len(f.data.len());
            let plain_len = f.data.len() + pad + PAD_LENGTH_LEN;
            let pad_octet = u8::try_from(pad).map_err(|_| SkError::TooLong(plain_len))?;
            let skf = SkfRepr {
                next_payload: f.next_payload,
                fragment_number: f.number,
                total_fragments: f.total,
                data: vec![0; iv_len + plain_len + icv_len],
            };
            let message =
                Message { header: *header, payloads: vec![Payload::EncryptedFragment(skf)] };
            let mut bytes = message.to_vec()?;
            let mut view = Encrypted::new_checked(&mut bytes[..])?;
            let (aad, parts) = view.aad_and_parts_mut(iv_len, icv_len)?;
            rng.fill_bytes(parts.iv);
            let (data, trailer) = parts.ciphertext.split_at_mut(f.data.len());
            data.copy_from_slice(&f.data);
            trailer.fill(0);
            if let Some(last) = trailer.last_mut() {
                *last = pad_octet;
            }
            cipher.seal_in_place(aad, parts.iv, parts.ciphertext, parts.icv)?;
            Ok(bytes)
        })
        .collect()
}

/// A decrypted fragment with the message ID it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedFragment {
    /// The IKE header's Message ID.
    pub message_id: u32,
    /// The fragment.
    pub fragment: Fragment,
}

/// Checks the ICV of one SKF message (the whole datagram after any non-ESP marker) and
/// decrypts it. Any error means: drop the datagram, keep no state.
pub fn open_fragment(message: &[u8], cipher: &SkCipher) -> Result<ReceivedFragment, FragmentError> {
    let view = Encrypted::new_checked(message)?;
    let (number, total) = view.fragment().ok_or(FragmentError::NotAFragment)?;
    let parts = view.split(cipher.iv_len(), cipher.icv_len())?;
    let mut plain = parts.ciphertext.to_vec();
    cipher.open_in_place(view.associated_data(), parts.iv, &mut plain, parts.icv)?;
    let data = strip_padding(&plain)?.to_vec();
    Ok(ReceivedFragment {
        message_id: view.header().message_id(),
        fragment: Fragment { number, total, next_payload: view.next_payload(), data },
    })
}

/// Limits of one [`Reassembly`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Most Total Fragments accepted.
    pub max_fragments: u16,
    /// Most bytes of inner payload collected.
    pub max_bytes: usize,
    /// Time from the first fragment to give up.
    pub timeout: Duration,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits {
            max_fragments: DEFAULT_MAX_FRAGMENTS,
            max_bytes: DEFAULT_MAX_BYTES,
            timeout: DEFAULT_REASSEMBLY_TIMEOUT,
        }
    }
}

/// A whole message's inner payloads, reassembled.
#[derive(Clone, PartialEq, Eq)]
pub struct Reassembled {
    /// Type of the first inner payload, from fragment 1.
    pub first_payload: PayloadType,
    /// The inner payload chain, for [`wire::parse_chain`].
    pub chain: Vec<u8>,
}

impl fmt::Debug for Reassembled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reassembled(first={} {} bytes)", self.first_payload, self.chain.len())
    }
}

/// What [`Reassembly::accept`] did with a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Kept; more are needed.
    Incomplete {
        /// Fragments held.
        received: u16,
        /// Total Fragments.
        total: u16,
    },
    /// Already held (or the message is already complete): ignored.
    Duplicate,
    /// Its Total Fragments is smaller than the current one: a fragment of an older
    /// fragmentation of the same message, ignored (RFC 7383 section 2.6).
    Stale,
    /// The last missing fragment: here is the message.
    Complete(Reassembled),
}

/// Reassembly of one message (one IKE SA and message ID) from decrypted fragments.
pub struct Reassembly {
    message_id: u32,
    limits: ReassemblyLimits,
    deadline: Option<Time>,
    total: u16,
    first_payload: Option<PayloadType>,
    slots: Vec<Option<Vec<u8>>>,
    received: u16,
    bytes: usize,
    complete: bool,
}

impl Reassembly {
    /// An empty reassembly for `message_id`.
    pub fn new(message_id: u32, limits: ReassemblyLimits) -> Reassembly {
        Reassembly {
            message_id,
            limits,
            deadline: None,
            total: 0,
            first_payload: None,
            slots: Vec::new(),
            received: 0,
            bytes: 0,
            complete: false,
        }
    }

    /// The message ID.
    pub fn message_id(&self) -> u32 {
        self.message_id
    }

    /// Fragments held.
    pub fn received(&self) -> u16 {
        self.received
    }

    /// The current Total Fragments (0 before the first fragment).
    pub fn total(&self) -> u16 {
        self.total
    }

    /// Inner-payload bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether the message was completed.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// When the partial message will be dropped, if fragments are held.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.deadline
    }

    /// Drops the partial message if its time is up; returns whether it did.
    pub fn handle_timeout(&mut self, now: Time) -> bool {
        match self.deadline {
            Some(d) if now >= d => {
                self.clear();
                true
            }
            _ => false,
        }
    }

    fn clear(&mut self) {
        self.deadline = None;
        self.total = 0;
        self.first_payload = None;
        self.slots = Vec::new();
        self.received = 0;
        self.bytes = 0;
    }

    fn start(&mut self, now: Time, total: u16) {
        self.clear();
        self.total = total;
        self.slots = vec![None; usize::from(total)];
        self.deadline = Some(now + self.limits.timeout);
    }

    /// Takes one decrypted fragment of this message. Hostile numbering and limit breaches
    /// are errors (the fragment is dropped; a byte-limit breach also drops the partial
    /// message). A partial message past its deadline is dropped first, so this fragment
    /// starts a new collection.
    pub fn accept(&mut self, now: Time, rx: ReceivedFragment) -> Result<Progress, FragmentError> {
        if rx.message_id != self.message_id {
            return Err(FragmentError::WrongMessageId {
                expected: self.message_id,
                got: rx.message_id,
            });
        }
        let Fragment { number, total, next_payload, data } = rx.fragment;
        if number == 0 || number > total {
            return Err(FragmentError::InvalidNumber { number, total });
        }
        if total > self.limits.max_fragments {
            return Err(FragmentError::TooManyFragments {
                total: usize::from(total),
                max: self.limits.max_fragments,
            });
        }
        if self.complete {
            return Ok(Progress::Duplicate);
        }
        self.handle_timeout(now);
        if total < self.total {
            return Ok(Progress::Stale);
        }
        if total > self.total {
            // The first fragment, or a re-fragmentation for a smaller MTU: newer wins and
            // what was held is discarded (RFC 7383 section 2.6).
            self.start(now, total);
        }
        let index = usize::from(number - 1);
        let Some(slot) = self.slots.get_mut(index) else {
            return Err(FragmentError::InvalidNumber { number, total });
        };
        if slot.is_some() {
            return Ok(Progress::Duplicate);
        }
        let bytes = self.bytes.saturating_add(data.len());
        if bytes > self.limits.max_bytes {
            self.clear();
            return Err(FragmentError::TooLarge { max: self.limits.max_bytes });
        }
        *slot = Some(data);
        self.bytes = bytes;
        self.received += 1;
        if number == 1 {
            self.first_payload = Some(next_payload);
        }
        if self.received < self.total {
            return Ok(Progress::Incomplete { received: self.received, total: self.total });
        }
        let mut chain = Vec::with_capacity(self.bytes);
        for piece in self.slots.iter().flatten() {
            chain.extend_from_slice(piece);
        }
        let first_payload = self.first_payload.unwrap_or(PayloadType::NoNextPayload);
        self.clear();
        self.complete = true;
        Ok(Progress::Complete(Reassembled { first_payload, chain }))
    }
}

impl fmt::Debug for Reassembly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reassembly")
            .field("message_id", &self.message_id)
            .field("received", &self.received)
            .field("total", &self.total)
            .field("bytes", &self.bytes)
            .field("deadline", &self.deadline)
            .field("complete", &self.complete)
            .finish()
    }
}
