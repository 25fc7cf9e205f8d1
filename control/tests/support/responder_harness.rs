// The responder state machine under hostile input, shared by the cargo-fuzz target
// (`control/fuzz/fuzz_targets/ikev2_responder.rs`) and the property test that runs in CI
// (`control/tests/ikev2_responder_fuzz.rs`), both of which `include!` this file.
//
// A real initiator and a responder endpoint talk through a network the input controls:
// each datagram is delivered, dropped, duplicated, truncated or has one byte changed, and
// raw input bytes can be injected as datagrams from the initiator's address or from a
// stranger; the clock jumps by input-chosen steps. The responder must never panic and
// never hold more than a handful of SAs.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;

use control::ikev2::proposal::LocalProposal;
use control::ikev2::sa::{ChildConfig, IkeEndpoint, IkeSa, Mode, PeerConfig, Psk};
use control::ikev2::selectors::{PolicySelectors, from_prefix};
use control::ikev2::wire::{DhGroup, EncrId, IdRepr, ProtocolId};
use control::retransmit::RetransmitPolicy;
use control::time::Time;
use rand_core::{Infallible, TryCryptoRng, TryRng};

const H_INITIATOR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 500);
const H_RESPONDER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 500);
const H_STRANGER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)), 500);

/// Deterministic xorshift generator: fuzzing needs repeatable runs, not secrecy.
struct HarnessRng(u64);

impl TryRng for HarnessRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        Ok(x)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for HarnessRng {}

/// The input, read a byte at a time (zeros once it runs out).
struct Ops<'a>(&'a [u8]);

impl Ops<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn harness_config(initiator: bool) -> PeerConfig {
    let net = |a: [u8; 4]| from_prefix(IpAddr::V4(Ipv4Addr::from(a)), 16);
    let (local_addr, remote_addr, local, remote) = if initiator {
        (H_INITIATOR, H_RESPONDER, net([10, 1, 0, 0]), net([10, 2, 0, 0]))
    } else {
        (H_RESPONDER, H_INITIATOR, net([10, 2, 0, 0]), net([10, 1, 0, 0]))
    };
    let aead = (EncrId::ChaCha20Poly1305, None);
    PeerConfig {
        local_addr,
        remote_addr,
        local_id: IdRepr::ipv4(match local_addr.ip() {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        }),
        remote_id: None,
        psk_local: Psk::new(b"fuzzing-only-psk"),
        psk_remote: Psk::new(b"fuzzing-only-psk"),
        psk_by_id: vec![],
        ike_proposals: vec![LocalProposal {
            protocol: ProtocolId::Ike,
            encr: vec![aead],
            prf: vec![control::ikev2::wire::PrfId::HmacSha2_256],
            integ: vec![],
            dh: vec![DhGroup::Curve25519],
            esn: vec![],
        }],
        child: ChildConfig {
            esp_proposals: vec![LocalProposal {
                protocol: ProtocolId::Esp,
                encr: vec![aead],
                prf: vec![],
                integ: vec![],
                dh: vec![],
                esn: vec![],
            }],
            selectors: PolicySelectors { local: vec![local], remote: vec![remote] },
            lifetime_seconds: 3600,
            lifetime_kilobytes: 0,
            mode: Mode::Tunnel,
        },
        retransmit: RetransmitPolicy {
            interval: Duration::from_millis(200),
            tries: 3,
            ..RetransmitPolicy::default()
        },
        dpd_interval: Duration::from_secs(5),
        dpd_retry: Duration::ZERO,
        remote_access: None,
        fragmentation: Some(control::ikev2::sa::DEFAULT_FRAGMENT_MTU),
        allow_weak_dh: false,
        auth: Default::default(),
    }
}

/// Delivers `bytes` as the input says.
fn harness_deliver(ops: &mut Ops<'_>, bytes: &[u8], mut to: impl FnMut(&[u8])) {
    match ops.byte() % 8 {
        0 => {}
        1 => {
            let mut b = bytes.to_vec();
            if !b.is_empty() {
                let at = usize::from(ops.byte()) * 256 + usize::from(ops.byte());
                let len = b.len();
                b[at % len] ^= ops.byte() | 1;
            }
            to(&b);
        }
        2 => {
            let keep = usize::from(ops.byte()) % bytes.len().max(1);
            to(&bytes[..keep]);
        }
        3 => {
            to(bytes);
            to(bytes);
        }
        _ => to(bytes),
    }
}

/// Runs one input through the pair. Panics (the finding) when an invariant breaks;
/// returns whether the responder brought a Child SA up.
fn run_responder_harness(data: &[u8]) -> bool {
    let mut ops = Ops(data);
    let seed = u64::from_le_bytes(core::array::from_fn(|_| ops.byte())) | 1;
    let mut rng = HarnessRng(seed);
    let mut now = Time::ZERO;
    let Ok(mut initiator) = IkeSa::initiate(now, harness_config(true), &mut rng) else {
        panic!("the harness configuration is valid");
    };
    let mut responder = IkeEndpoint::new(vec![harness_config(false)]);
    let mut child_up = false;
    for _ in 0..24 {
        if ops.is_empty() {
            break;
        }
        while let Some(t) = initiator.poll_transmit() {
            harness_deliver(&mut ops, &t.bytes, |b| {
                responder.handle(now, b, H_INITIATOR, &mut rng)
            });
        }
        while let Some(t) = responder.poll_transmit() {
            harness_deliver(&mut ops, &t.bytes, |b| {
                initiator.handle(now, b, H_RESPONDER, &mut rng)
            });
        }
        let op = ops.byte();
        if op & 0x80 != 0 {
            let n = usize::from(ops.byte()) * 4;
            let raw = ops.take(n);
            let from = if op & 0x40 != 0 { H_STRANGER } else { H_INITIATOR };
            responder.handle(now, &raw, from, &mut rng);
        }
        now = now + Duration::from_millis(u64::from(ops.byte()) * 40);
        initiator.handle_timeout(now, &mut rng);
        responder.handle_timeout(now, &mut rng);
        while initiator.poll_event().is_some() {}
        while let Some((_, ev)) = responder.poll_event() {
            child_up |= matches!(ev, control::ikev2::sa::Event::ChildSaUp(_));
        }
        assert!(responder.len() <= 8, "the responder holds {} SAs", responder.len());
    }
    child_up
}
