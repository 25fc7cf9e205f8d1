//! Cache-line-aligned runtime SAs, one per direction (VPP's `ipsec_sa_outb_rt_t` /
//! `ipsec_sa_inb_rt_t`): everything a worker reads per packet, computed once at install.
//!
//! A runtime SA is shared (`&`) between its owning worker, which mutates the replay window,
//! lifetimes and counters through single-writer relaxed atomics, and the control thread,
//! which only reads. The outbound sequence number alone is a true atomic, advanced once per
//! run of packets on the SA (see [`OutboundSa::take_seq`]). Ownership is claimed once with [`OutboundSa::try_claim`]
//! (a CAS, off the per-packet path); packets of an SA owned by another worker must be handed
//! to that worker, which is the caller's job.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::crypto::SaCipher;
use crate::spd::{FlowKey, TrafficSelector};
use crate::wire::checksum;

use super::Direction;
use super::config::{DfPolicy, DscpPolicy, Encap, FragPolicy, Mode, SaConfig, SaError};
use super::counters::SaCounters;
use super::lifetime::{LifetimeRt, Lifetimes, SaEvent};
use super::replay::ReplayWindow;

const NO_OWNER: u32 = u32::MAX;

/// Most sequence numbers reserved at once (VPP's frame size): bounds how far concurrent
/// reservations can push the counter past what a worker saw.
pub(crate) const MAX_SEQ_BLOCK: usize = 256;
/// Below `u64::MAX - SEQ_WRAP_GUARD` a plain `fetch_add` cannot wrap the counter even with
/// 2^24 workers reserving [`MAX_SEQ_BLOCK`] at once.
const SEQ_WRAP_GUARD: u64 = 1 << 32;

/// Outbound sequence numbers reserved by one worker for a run of packets on one SA: `left`
/// numbers from `next` on. Give the unused rest back with [`OutboundSa::release_seq`] when
/// the run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeqBlock {
    next: u64,
    left: u64,
}

impl SeqBlock {
    pub(crate) const EMPTY: SeqBlock = SeqBlock { next: 0, left: 0 };
}

/// IPv4 header length without options.
pub(crate) const IPV4_HDR: usize = 20;
/// IPv6 fixed header length.
pub(crate) const IPV6_HDR: usize = 40;
/// UDP header length.
pub(crate) const UDP_HDR: usize = 8;
/// IP protocol number of ESP (RFC 4303).
pub(crate) const PROTO_ESP: u8 = 50;
/// IP protocol number of UDP.
pub(crate) const PROTO_UDP: u8 = 17;

/// Cache lines of an SA table node (its 8-byte key, then an [`OutboundSa`] or
/// [`InboundSa`]) that hold every field the packet path reads or writes; checked by a test.
pub(crate) const NODE_HOT_LINES: usize = 4;

/// Outbound runtime SA. `repr(C)` keeps the declared order: everything encapsulation reads
/// or writes per packet (the header fields, the lifetime, the traffic counters and the
/// cipher's engine half) lies in the first [`NODE_HOT_LINES`] cache lines of its table node, so
/// one prefetch covers it; the cold fields follow. No `align(64)` here: the table's node,
/// which starts with the key checked on lookup, is the aligned unit.
#[repr(C)]
#[derive(Debug)]
pub struct OutboundSa {
    // Hot: read or written for every packet.
    pub(crate) seq: AtomicU64,
    pub(crate) seq_soft: u64,
    pub(crate) seq_max: u64,
    pub(crate) spi: u32,
    pub(crate) ident: AtomicU32,
    pub(crate) mode: Mode,
    pub(crate) esn: bool,
    pub(crate) outer_v6: bool,
    pub(crate) ttl: u8,
    pub(crate) mtu: u16,
    pub(crate) tfc_pad_to: u16,
    pub(crate) df: DfPolicy,
    pub(crate) frag: FragPolicy,
    pub(crate) dscp: DscpPolicy,
    pub(crate) udp: Option<(u16, u16)>,
    /// Prebuilt outer IP (+ UDP) header of tunnel mode; length, ident, TOS, DF and checksum
    /// are patched per packet. In transport mode only the UDP part is used.
    pub(crate) outer: [u8; IPV6_HDR + UDP_HDR],
    pub(crate) outer_len: u8,
    /// Ones' complement sum of the IPv4 template with the per-packet fields zero.
    pub(crate) outer_csum_base: u16,
    pub(crate) lifetime: LifetimeRt,
    pub(crate) cipher: SaCipher,
    counters: SaCounters,
    // Cold.
    pub(crate) local: IpAddr,
    pub(crate) remote: IpAddr,
    pub(crate) icmp_src_v4: Option<Ipv4Addr>,
    pub(crate) icmp_src_v6: Option<Ipv6Addr>,
    owner: AtomicU32,
}

impl OutboundSa {
    /// Builds the runtime SA: the crypto context (key schedules: once, here), the outer
    /// header template and the sequence number limits.
    pub fn new(cfg: &SaConfig) -> Result<Self, SaError> {
        cfg.validate(Direction::Outbound)?;
        let cipher = SaCipher::new(cfg.engine, cfg.transform, &cfg.keys)?;
        let seq_max = if cfg.esn { u64::MAX } else { u64::from(u32::MAX) };
        let udp = match cfg.encap {
            Encap::Raw => None,
            Encap::Udp { src_port, dst_port } => Some((src_port, dst_port)),
        };
        let mut outer = [0u8; IPV6_HDR + UDP_HDR];
        let proto = if udp.is_some() { PROTO_UDP } else { PROTO_ESP };
        let ip_len = match (cfg.local, cfg.remote) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                outer[0] = 0x45;
                outer[8] = cfg.ttl;
                outer[9] = proto;
                outer[12..16].copy_from_slice(&s.octets());
                outer[16..20].copy_from_slice(&d.octets());
                IPV4_HDR
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                outer[0] = 0x60;
                outer[6] = proto;
                outer[7] = cfg.ttl;
                outer[8..24].copy_from_slice(&s.octets());
                outer[24..40].copy_from_slice(&d.octets());
                IPV6_HDR
            }
            _ => return Err(SaError::FamilyMismatch),
        };
        let mut outer_len = ip_len;
        if let Some((sp, dp)) = udp {
            outer[ip_len..ip_len + 2].copy_from_slice(&sp.to_be_bytes());
            outer[ip_len + 2..ip_len + 4].copy_from_slice(&dp.to_be_bytes());
            outer_len += UDP_HDR;
        }
        let outer_csum_base = checksum::data(&outer[..IPV4_HDR]);
        Ok(OutboundSa {
            seq: AtomicU64::new(cfg.initial_seq),
            seq_soft: seq_max - seq_max / 8,
            seq_max,
            spi: cfg.spi,
            ident: AtomicU32::new(0),
            mode: cfg.mode,
            esn: cfg.esn,
            outer_v6: cfg.local.is_ipv6(),
            ttl: cfg.ttl,
            mtu: cfg.mtu,
            tfc_pad_to: cfg.tfc_pad_to.unwrap_or(0),
            df: cfg.df,
            frag: cfg.frag,
            dscp: cfg.dscp,
            udp,
            outer,
            outer_len: outer_len as u8,
            outer_csum_base,
            cipher,
            lifetime: LifetimeRt::new(&cfg.lifetimes, cfg.created_ns),
            counters: SaCounters::default(),
            local: cfg.local,
            remote: cfg.remote,
            icmp_src_v4: cfg.icmp_src_v4.or(match cfg.local {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            }),
            icmp_src_v6: cfg.icmp_src_v6.or(match cfg.local {
                IpAddr::V6(a) => Some(a),
                IpAddr::V4(_) => None,
            }),
            owner: AtomicU32::new(NO_OWNER),
        })
    }

    pub fn spi(&self) -> u32 {
        self.spi
    }
    pub fn mode(&self) -> Mode {
        self.mode
    }
    pub fn esn(&self) -> bool {
        self.esn
    }
    pub fn local(&self) -> IpAddr {
        self.local
    }
    pub fn remote(&self) -> IpAddr {
        self.remote
    }
    pub fn cipher(&self) -> &SaCipher {
        &self.cipher
    }
    pub fn counters(&self) -> &SaCounters {
        &self.counters
    }
    /// Outer TTL / hop limit.
    pub fn ttl(&self) -> u8 {
        self.ttl
    }
    /// Outside MTU.
    pub fn mtu(&self) -> u16 {
        self.mtu
    }
    /// The last sequence number used (0 before the first packet); for HA sync.
    pub fn last_seq(&self) -> u64 {
        self.seq.load(Ordering::Relaxed).min(self.seq_max)
    }
    /// Starts loading what encapsulating a `len`-byte packet reads behind the SA's
    /// pointers: its key data. Call it once the SA's own hot lines are in
    /// (`SaReader::prefetch_outbound_node` a stage earlier), or the pointer load stalls.
    #[inline]
    pub fn prefetch(&self, len: usize) {
        self.cipher.prefetch(false, len);
    }

    /// Changes the SA's lifetimes in place (control thread; see [`Lifetimes`]). Time limits
    /// still count from the SA's creation.
    pub fn set_lifetimes(&self, l: &Lifetimes) {
        self.lifetime.set(l);
    }
    /// What is left before the hard limits at `now`: `(nanoseconds, bytes, packets)`,
    /// `None` for an unlimited one.
    pub fn lifetime_remaining(&self, now: u64) -> (Option<u64>, Option<u64>, Option<u64>) {
        self.lifetime.remaining(now)
    }
    /// Whether a hard lifetime (or the sequence space) ran out.
    pub fn is_expired(&self, now: u64) -> bool {
        self.lifetime.is_hard_expired(now)
    }

    /// Claims the SA for `worker`: `true` if it is now (or already was) this worker's.
    pub fn try_claim(&self, worker: u32) -> bool {
        claim(&self.owner, worker)
    }
    /// The owning worker, if claimed.
    pub fn owner(&self) -> Option<u32> {
        owner(&self.owner)
    }

    /// One packet's worth of [`OutboundSa::take_seq`].
    #[cfg(test)]
    pub(crate) fn next_seq(&self, events: &mut Vec<SaEvent>) -> Option<u64> {
        let mut block = SeqBlock::EMPTY;
        self.take_seq(&mut block, 1, events)
    }

    /// Hands out the next sequence number from `block`, first refilling it with up to
    /// `want` numbers (the packets left in the caller's run on this SA) when it is empty.
    /// `None` when it would wrap (RFC 4303 3.3.3: the sender must not cycle the counter;
    /// the SA is then dead and a hard event is raised). Raises the soft event when 7/8 of
    /// the space is used, early enough to rekey at any rate.
    ///
    /// The counter is a real atomic (the one locked instruction per run of packets):
    /// counter-mode IVs (GCM, GMAC, CTR, ChaCha20) are built from the sequence number, so a
    /// number handed out twice would repeat a nonce under one key and give the key away.
    /// That must not depend on callers keeping SA ownership straight; with a unique number
    /// per packet an outbound SA may even be shared by workers (DPDK librte_ipsec does the
    /// same), at the price of approximate statistics. Reserving a block per run keeps that
    /// guarantee (a block is a disjoint range of the counter) with one `fetch_add` per run
    /// instead of one per packet.
    #[inline]
    pub(crate) fn take_seq(
        &self,
        block: &mut SeqBlock,
        want: usize,
        events: &mut Vec<SaEvent>,
    ) -> Option<u64> {
        if block.left == 0 {
            *block = self.reserve_seq(want, events)?;
        }
        let s = block.next;
        if s > self.seq_max {
            // Another holder's block or ours ran past the end: never use those numbers.
            self.lifetime.sequence_event(true, self.spi, Direction::Outbound, events);
            return None;
        }
        block.left -= 1;
        // Only the very last number (u64::MAX, ESN) wraps here, and then `left` is 0.
        block.next = s.wrapping_add(1);
        if s >= self.seq_soft {
            self.lifetime.sequence_event(false, self.spi, Direction::Outbound, events);
        }
        Some(s)
    }

    /// Reserves up to `want` sequence numbers (at least 1, at most [`MAX_SEQ_BLOCK`]).
    fn reserve_seq(&self, want: usize, events: &mut Vec<SaEvent>) -> Option<SeqBlock> {
        let n = want.clamp(1, MAX_SEQ_BLOCK) as u64;
        // Checked first so an exhausted counter stays put (an ESN counter never wraps to 0).
        let cur = self.seq.load(Ordering::Relaxed);
        if cur >= self.seq_max {
            self.lifetime.sequence_event(true, self.spi, Direction::Outbound, events);
            return None;
        }
        let (old, got) = if cur <= u64::MAX - SEQ_WRAP_GUARD {
            // Far from u64::MAX: concurrent holders push the counter at most (workers x
            // MAX_SEQ_BLOCK) past what we loaded, nowhere near wrapping. A block may run
            // past `seq_max`; `take_seq` refuses those numbers and `release_seq` trims it.
            (self.seq.fetch_add(n, Ordering::Relaxed), n)
        } else {
            // Near u64::MAX (ESN only): a clamped compare-and-swap so the counter never
            // wraps, whatever other workers do.
            let r = self.seq.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                (c < self.seq_max).then(|| c + n.min(self.seq_max - c))
            });
            match r {
                Ok(old) => (old, n.min(self.seq_max - old)),
                Err(_) => {
                    self.lifetime.sequence_event(true, self.spi, Direction::Outbound, events);
                    return None;
                }
            }
        };
        // `old < u64::MAX - got` here: the fast path is far from it and the clamped path
        // stops at `seq_max`.
        Some(SeqBlock { next: old + 1, left: got })
    }

    /// Gives back the unused tail of `block` when nobody reserved after it (the counter
    /// still ends where the block does), so a run with drops leaves no gap in the
    /// sequence. Otherwise the numbers are skipped: gaps are harmless to the receiver,
    /// reuse would not be.
    ///
    /// Safe because the counter never drops below a number in use: the swap succeeds only
    /// if every block reserved after this one was already given back whole.
    #[inline]
    pub(crate) fn release_seq(&self, block: SeqBlock) {
        if block.left > 0 {
            // `next >= 1` and `next + left - 1` was the counter's value after our reservation.
            let _ = self.seq.compare_exchange(
                block.next + (block.left - 1),
                block.next - 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// The next identification of an outer IPv6 fragment header (fragmenting after
    /// encryption: rare, and several workers may share the SA, hence a locked add).
    #[inline]
    pub(crate) fn next_ident(&self) -> u16 {
        self.ident.fetch_add(1, Ordering::Relaxed).wrapping_add(1) as u16
    }
}

/// Inbound runtime SA (`repr(C)`: hot fields first, see [`OutboundSa`]).
#[repr(C)]
#[derive(Debug)]
pub struct InboundSa {
    // Hot.
    pub(crate) replay: ReplayWindow,
    pub(crate) spi: u32,
    pub(crate) mode: Mode,
    pub(crate) esn: bool,
    /// Not the primary SA of its peer and selectors (ASA single-SA mode): inbound packets
    /// are dropped as `vpn-overlap-conflict`. Set by the control thread
    /// ([`InboundSa::set_non_primary`]); a relaxed load on the packet path, in a line it
    /// reads anyway.
    pub(crate) non_primary: AtomicBool,
    pub(crate) encap: Encap,
    /// Ones' complement sum of the peer's original (pre-NAT) addresses, for the transport
    /// mode checksum fix of RFC 3948 3.1.2.
    pub(crate) original_sum: Option<u16>,
    /// What decrypted packets may carry; empty = anything.
    selectors: Box<[TrafficSelector]>,
    pub(crate) lifetime: LifetimeRt,
    pub(crate) cipher: SaCipher,
    counters: SaCounters,
    // Cold.
    pub(crate) local: IpAddr,
    pub(crate) remote: IpAddr,
    owner: AtomicU32,
}

impl InboundSa {
    /// Builds the runtime SA: crypto context and replay window.
    pub fn new(cfg: &SaConfig) -> Result<Self, SaError> {
        cfg.validate(Direction::Inbound)?;
        let cipher = SaCipher::new(cfg.engine, cfg.transform, &cfg.keys)?;
        let replay = if cfg.initial_seq == 0 {
            ReplayWindow::new(cfg.replay_window)
        } else {
            ReplayWindow::starting_at(cfg.replay_window, cfg.initial_seq)
        }
        .with_lab_sequence_restart(cfg.lab_sequence_restart);
        Ok(InboundSa {
            replay,
            spi: cfg.spi,
            mode: cfg.mode,
            esn: cfg.esn,
            non_primary: AtomicBool::new(false),
            cipher,
            lifetime: LifetimeRt::new(&cfg.lifetimes, cfg.created_ns),
            counters: SaCounters::default(),
            local: cfg.local,
            remote: cfg.remote,
            encap: cfg.encap,
            original_sum: cfg
                .original_addrs
                .map(|o| checksum::combine(&[addr_sum(o.peer), addr_sum(o.local)])),
            selectors: cfg.traffic_selectors.clone().into_boxed_slice(),
            owner: AtomicU32::new(NO_OWNER),
        })
    }

    /// The traffic selectors decrypted packets must match (empty: no check).
    pub fn traffic_selectors(&self) -> &[TrafficSelector] {
        &self.selectors
    }

    /// Whether the decrypted IP packet `ip` lies inside the SA's traffic selectors (RFC 4301
    /// 5.2, step 4); always true for an SA without selectors, false for an unreadable packet.
    #[inline]
    pub fn admits(&self, ip: &[u8]) -> bool {
        if self.selectors.is_empty() {
            return true;
        }
        FlowKey::from_ip(ip).is_ok_and(|k| self.selectors.iter().any(|s| s.matches(&k)))
    }

    pub fn spi(&self) -> u32 {
        self.spi
    }
    pub fn mode(&self) -> Mode {
        self.mode
    }
    pub fn esn(&self) -> bool {
        self.esn
    }
    pub fn local(&self) -> IpAddr {
        self.local
    }
    pub fn remote(&self) -> IpAddr {
        self.remote
    }
    pub fn encap(&self) -> Encap {
        self.encap
    }
    pub fn cipher(&self) -> &SaCipher {
        &self.cipher
    }
    pub fn counters(&self) -> &SaCounters {
        &self.counters
    }
    pub fn replay_window(&self) -> &ReplayWindow {
        &self.replay
    }
    /// Starts loading what decapsulating a `len`-byte packet reads behind the SA's pointers: the replay
    /// bitmap's word at the top of the window, the key data and the traffic selectors. As
    /// for [`OutboundSa::prefetch`], the SA's own hot lines come a stage earlier.
    #[inline]
    pub fn prefetch(&self, len: usize) {
        self.replay.prefetch();
        self.cipher.prefetch(true, len);
        if let Some(first) = self.selectors.first() {
            crate::prefetch::lines(first, 2);
        }
    }
    /// Changes the SA's lifetimes in place (control thread; see [`Lifetimes`]).
    pub fn set_lifetimes(&self, l: &Lifetimes) {
        self.lifetime.set(l);
    }
    /// Marks the SA as not (or again as) the primary SA of its peer and selectors (control
    /// thread, ASA single-SA mode): while marked, decapsulation drops its packets as
    /// [`DropReason::VpnOverlapConflict`](super::DropReason::VpnOverlapConflict) before
    /// any crypto. Takes effect for the next burst; nothing is locked.
    pub fn set_non_primary(&self, non_primary: bool) {
        self.non_primary.store(non_primary, Ordering::Relaxed);
    }
    /// Whether the SA is marked non-primary (see [`InboundSa::set_non_primary`]).
    pub fn is_non_primary(&self) -> bool {
        self.non_primary.load(Ordering::Relaxed)
    }
    /// What is left before the hard limits at `now`: `(nanoseconds, bytes, packets)`.
    pub fn lifetime_remaining(&self, now: u64) -> (Option<u64>, Option<u64>, Option<u64>) {
        self.lifetime.remaining(now)
    }
    /// Whether a hard lifetime ran out.
    pub fn is_expired(&self, now: u64) -> bool {
        self.lifetime.is_hard_expired(now)
    }
    /// Claims the SA for `worker`: `true` if it is now (or already was) this worker's.
    pub fn try_claim(&self, worker: u32) -> bool {
        claim(&self.owner, worker)
    }
    /// The owning worker, if claimed.
    pub fn owner(&self) -> Option<u32> {
        owner(&self.owner)
    }
}

fn addr_sum(a: IpAddr) -> u16 {
    match a {
        IpAddr::V4(a) => checksum::data(&a.octets()),
        IpAddr::V6(a) => checksum::data(&a.octets()),
    }
}

fn claim(owner: &AtomicU32, worker: u32) -> bool {
    match owner.compare_exchange(NO_OWNER, worker, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => true,
        Err(current) => current == worker,
    }
}

fn owner(owner: &AtomicU32) -> Option<u32> {
    Some(owner.load(Ordering::Acquire)).filter(|&o| o != NO_OWNER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{AesKeyLen, Cipher, EngineKind, Integ, SaKeys, Transform};
    use core::net::Ipv4Addr;

    fn cfg(dir: Direction) -> SaConfig {
        let t = Transform::new(Cipher::AesGcm { key: AesKeyLen::Aes128, icv_len: 16 }, Integ::None)
            .unwrap();
        let mut c = SaConfig::new(
            0x1000,
            dir,
            t,
            SaKeys::new(&[1; 20], &[]),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        );
        c.engine = EngineKind::RustCrypto;
        c
    }

    #[test]
    fn runtimes_are_sync_and_their_hot_fields_fit_the_prefetched_lines() {
        use crate::sa::counters::Counter;
        use crate::table::Node;
        use core::mem::{align_of, offset_of, size_of};
        fn is_sync<T: Sync + Send>() {}
        is_sync::<OutboundSa>();
        is_sync::<InboundSa>();
        // Table nodes start cache lines; the packet path reads up to the traffic counters
        // (the drop counters after them are written only on drops) and the cipher's engine
        // half, which the pipeline prefetches as `NODE_HOT_LINES` lines from the node.
        assert_eq!(align_of::<Node<OutboundSa>>(), 64);
        assert_eq!(align_of::<Node<InboundSa>>(), 64);
        let hot = NODE_HOT_LINES * 64;
        let out = offset_of!(Node<OutboundSa>, value);
        assert!(out + offset_of!(OutboundSa, counters) + 2 * size_of::<Counter>() <= hot);
        assert!(out + offset_of!(OutboundSa, cipher) + size_of::<SaCipher>() <= hot);
        let inb = offset_of!(Node<InboundSa>, value);
        assert!(inb + offset_of!(InboundSa, counters) + 2 * size_of::<Counter>() <= hot);
        assert!(inb + offset_of!(InboundSa, cipher) + size_of::<SaCipher>() <= hot);
        assert_eq!(offset_of!(SaCounters, packets), 0);
        assert_eq!(offset_of!(SaCounters, bytes), size_of::<Counter>());
    }

    #[test]
    fn claim_once() {
        let sa = OutboundSa::new(&cfg(Direction::Outbound)).unwrap();
        assert_eq!(sa.owner(), None);
        assert!(sa.try_claim(3));
        assert!(sa.try_claim(3));
        assert!(!sa.try_claim(4));
        assert_eq!(sa.owner(), Some(3));
    }

    #[test]
    fn config_is_validated() {
        let mut c = cfg(Direction::Outbound);
        assert_eq!(InboundSa::new(&c).unwrap_err(), SaError::WrongDirection);
        c.remote = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(OutboundSa::new(&c).unwrap_err(), SaError::FamilyMismatch);
        let mut c = cfg(Direction::Outbound);
        c.spi = 255;
        assert_eq!(OutboundSa::new(&c).unwrap_err(), SaError::ReservedSpi(255));
        let mut c = cfg(Direction::Outbound);
        c.mtu = 500;
        assert_eq!(OutboundSa::new(&c).unwrap_err(), SaError::MtuTooSmall(500));
        let mut c = cfg(Direction::Outbound);
        c.keys = SaKeys::new(&[1; 16], &[]);
        assert!(matches!(OutboundSa::new(&c).unwrap_err(), SaError::Crypto(_)));
        let dbg = format!("{:?}", cfg(Direction::Inbound));
        assert!(dbg.contains("<redacted>") && !dbg.contains("[1, 1"));
    }

    #[test]
    fn sequence_numbers_stop_before_wrapping() {
        let mut c = cfg(Direction::Outbound);
        c.initial_seq = u64::from(u32::MAX) - 1;
        let sa = OutboundSa::new(&c).unwrap();
        let mut ev = Vec::new();
        assert_eq!(sa.next_seq(&mut ev), Some(u64::from(u32::MAX)));
        assert_eq!(sa.next_seq(&mut ev), None);
        assert_eq!(sa.next_seq(&mut ev), None);
        assert_eq!(sa.last_seq(), u64::from(u32::MAX));
        assert_eq!(ev.len(), 2, "one soft, one hard event");
        c.esn = true;
        let sa = OutboundSa::new(&c).unwrap();
        assert_eq!(sa.next_seq(&mut ev), Some(u64::from(u32::MAX)));
        assert_eq!(sa.next_seq(&mut ev), Some(1 << 32));
    }

    fn take_n(sa: &OutboundSa, n: usize, ev: &mut Vec<SaEvent>) -> Vec<Option<u64>> {
        let mut b = SeqBlock::EMPTY;
        let out = (0..n).map(|k| sa.take_seq(&mut b, n - k, ev)).collect();
        sa.release_seq(b);
        out
    }

    #[test]
    fn a_block_straddling_the_end_stops_exactly_at_the_last_number() {
        for esn in [false, true] {
            let mut c = cfg(Direction::Outbound);
            c.esn = esn;
            c.initial_seq = u64::from(u32::MAX) - 3;
            let sa = OutboundSa::new(&c).unwrap();
            let mut ev = Vec::new();
            let got = take_n(&sa, 6, &mut ev);
            let base = u64::from(u32::MAX) - 2;
            if esn {
                let want: Vec<_> = (0..6).map(|k| Some(base + k)).collect();
                assert_eq!(got, want);
                assert_eq!(sa.last_seq(), base + 5);
                assert_eq!(ev.len(), 0, "ESN: 2^32 is no limit");
            } else {
                assert_eq!(got, [Some(base), Some(base + 1), Some(base + 2), None, None, None]);
                assert_eq!(sa.last_seq(), u64::from(u32::MAX));
                assert_eq!(sa.seq.load(Ordering::Relaxed), u64::from(u32::MAX), "trimmed");
                assert_eq!(ev.len(), 2, "one soft, one hard event");
                assert_eq!(sa.next_seq(&mut ev), None);
                assert_eq!(ev.len(), 2);
            }
        }
    }

    #[test]
    fn unused_numbers_go_back_unless_someone_reserved_after() {
        let sa = OutboundSa::new(&cfg(Direction::Outbound)).unwrap();
        let mut ev = Vec::new();
        let mut b = SeqBlock::EMPTY;
        assert_eq!(sa.take_seq(&mut b, 10, &mut ev), Some(1));
        sa.release_seq(b);
        assert_eq!(sa.next_seq(&mut ev), Some(2), "2..=10 were given back");
        let mut b = SeqBlock::EMPTY;
        assert_eq!(sa.take_seq(&mut b, 10, &mut ev), Some(3));
        // Another worker reserves after us: our tail is skipped, never reused.
        assert_eq!(sa.next_seq(&mut ev), Some(13));
        assert_eq!(sa.take_seq(&mut b, 9, &mut ev), Some(4));
        sa.release_seq(b);
        assert_eq!(sa.next_seq(&mut ev), Some(14));
    }

    #[test]
    fn near_u64_max_the_counter_never_wraps() {
        let mut c = cfg(Direction::Outbound);
        c.esn = true;
        c.initial_seq = u64::MAX - 2;
        let sa = OutboundSa::new(&c).unwrap();
        let mut ev = Vec::new();
        let got = take_n(&sa, 4, &mut ev);
        assert_eq!(got, [Some(u64::MAX - 1), Some(u64::MAX), None, None]);
        assert_eq!(sa.seq.load(Ordering::Relaxed), u64::MAX);
        assert_eq!(sa.next_seq(&mut ev), None);
    }

    #[test]
    fn concurrent_blocks_never_share_a_number() {
        let sa = OutboundSa::new(&cfg(Direction::Outbound)).unwrap();
        let seen: Vec<Vec<u64>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|t| {
                    let sa = &sa;
                    s.spawn(move || {
                        let mut ev = Vec::new();
                        let mut out = Vec::new();
                        for round in 0..200 {
                            let run = 1 + (round * 7 + t) % 40;
                            let mut b = SeqBlock::EMPTY;
                            // Use only part of the run, as when packets drop.
                            for k in 0..run {
                                if (k + round) % 5 != 0 {
                                    out.extend(sa.take_seq(&mut b, run - k, &mut ev));
                                }
                            }
                            sa.release_seq(b);
                        }
                        out
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all: Vec<u64> = seen.concat();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "a sequence number was handed out twice");
        assert!(sa.last_seq() >= *all.last().unwrap());
    }
}
