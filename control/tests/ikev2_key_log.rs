//! The endpoint's opt-in key log: Wireshark `ikev2_decryption_table` lines for each IKE SA
//! generation (rekeyed ones too) and `esp_sa` lines for both directions of each Child SA,
//! under the SPIs the SAs actually use.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;
use std::sync::{Arc, Mutex};

use control::ikev2::proposal::{Encr, LocalProposal};
use control::ikev2::sa::{
    ChildConfig, ChildSa, Event, IkeEndpoint, IkeSaInfo, Mode, PeerConfig, Psk, SaHandle,
};
use control::ikev2::selectors::{PolicySelectors, from_prefix};
use control::ikev2::wire::{DhGroup, EncrId, IdRepr, IntegId, PrfId, ProtocolId};
use control::keylog::{KeyLog, KeyLogTable};
use control::retransmit::RetransmitPolicy;
use control::time::Time;

include!("support/test_rng.rs");

/// A sink the test can read after handing it to the endpoint (the appliance's would
/// append to the two files).
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<(KeyLogTable, String)>>>);

impl KeyLog for Shared {
    fn append(&mut self, table: KeyLogTable, line: &str) {
        self.0.lock().expect("lock").push((table, line.to_owned()));
    }
}

impl Shared {
    fn lines(&self, table: KeyLogTable) -> Vec<String> {
        let v = self.0.lock().expect("lock");
        v.iter().filter(|(t, _)| *t == table).map(|(_, l)| l.clone()).collect()
    }
}

const R_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 500);
const I_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 500);

fn config(initiator: bool, encr: Encr, integ: Option<IntegId>) -> PeerConfig {
    let (i_net, r_net) = (
        from_prefix(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 0)), 16),
        from_prefix(IpAddr::V4(Ipv4Addr::new(10, 2, 0, 0)), 16),
    );
    let (local_addr, remote_addr, local, remote, me, peer) = if initiator {
        (I_ADDR, R_ADDR, i_net, r_net, "i.example", "r.example")
    } else {
        (R_ADDR, I_ADDR, r_net, i_net, "r.example", "i.example")
    };
    PeerConfig {
        local_addr,
        remote_addr,
        local_id: IdRepr::fqdn(me),
        remote_id: Some(IdRepr::fqdn(peer)),
        psk_local: Psk::new(b"correct horse battery staple"),
        psk_remote: Psk::new(b"correct horse battery staple"),
        psk_by_id: vec![],
        ike_proposals: vec![LocalProposal {
            protocol: ProtocolId::Ike,
            encr: vec![encr],
            prf: vec![PrfId::HmacSha2_256],
            integ: integ.into_iter().collect(),
            dh: vec![DhGroup::Ecp256],
            esn: vec![],
        }],
        child: ChildConfig {
            esp_proposals: vec![LocalProposal {
                protocol: ProtocolId::Esp,
                encr: vec![encr],
                prf: vec![],
                integ: integ.into_iter().collect(),
                dh: vec![],
                esn: vec![],
            }],
            selectors: PolicySelectors { local: vec![local], remote: vec![remote] },
            lifetime_seconds: 3600,
            lifetime_kilobytes: 4_608_000,
            mode: Mode::Tunnel,
        },
        retransmit: RetransmitPolicy::default(),
        dpd_interval: Duration::ZERO,
        dpd_retry: Duration::ZERO,
        remote_access: None,
        fragmentation: Some(control::ikev2::sa::DEFAULT_FRAGMENT_MTU),
        allow_weak_dh: false,
        auth: Default::default(),
    }
}

struct Pair {
    i: IkeEndpoint,
    r: IkeEndpoint,
    h: SaHandle,
    rng: TestRng,
    now: Time,
    logs: (Shared, Shared),
    events: (Vec<Event>, Vec<Event>),
}

impl Pair {
    fn new(encr: Encr, integ: Option<IntegId>) -> Pair {
        let mut rng = TestRng::new("key log");
        let (li, lr) = (Shared::default(), Shared::default());
        let mut i = IkeEndpoint::new(Vec::new());
        let mut r = IkeEndpoint::new(vec![config(false, encr, integ)]);
        i.set_key_log(Box::new(li.clone()));
        r.set_key_log(Box::new(lr.clone()));
        let h = i.connect(Time::ZERO, config(true, encr, integ), &mut rng).expect("config");
        Pair { i, r, h, rng, now: Time::ZERO, logs: (li, lr), events: (Vec::new(), Vec::new()) }
    }

    /// Delivers everything until both sides are quiet.
    fn settle(&mut self) {
        for _ in 0..100 {
            let mut quiet = true;
            while let Some(t) = self.i.poll_transmit() {
                quiet = false;
                self.r.handle(self.now, &t.bytes, I_ADDR, &mut self.rng);
            }
            while let Some(t) = self.r.poll_transmit() {
                quiet = false;
                self.i.handle(self.now, &t.bytes, R_ADDR, &mut self.rng);
            }
            self.events.0.extend(core::iter::from_fn(|| self.i.poll_event()).map(|e| e.1));
            self.events.1.extend(core::iter::from_fn(|| self.r.poll_event()).map(|e| e.1));
            if quiet {
                return;
            }
            self.now = self.now + Duration::from_millis(5);
        }
        panic!("no quiet");
    }
}

fn ike_infos(events: &[Event]) -> Vec<&IkeSaInfo> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Established(info) | Event::IkeSaRekeyed { info, .. } => Some(info),
            _ => None,
        })
        .collect()
}

fn children(events: &[Event]) -> Vec<&ChildSa> {
    events.iter().filter_map(|e| if let Event::ChildSaUp(c) = e { Some(c) } else { None }).collect()
}

/// The `esp_sa` line of (src, dst, spi), if logged.
fn esp_line(lines: &[String], src: IpAddr, dst: IpAddr, spi: u32) -> Option<&String> {
    let prefix = format!("\"IPv4\",\"{src}\",\"{dst}\",\"0x{spi:08x}\",");
    lines.iter().find(|l| l.starts_with(&prefix))
}

fn check_children(p: &Pair, expect: usize) {
    let (ei, er) = (p.logs.0.lines(KeyLogTable::EspSa), p.logs.1.lines(KeyLogTable::EspSa));
    let ci = children(&p.events.0);
    assert_eq!(ci.len(), expect);
    assert_eq!((ei.len(), er.len()), (2 * expect, 2 * expect), "both directions, each side");
    let (i, r) = (I_ADDR.ip(), R_ADDR.ip());
    for c in ci {
        // The initiator's inbound SA is the responder's outbound one: same line both sides.
        let inbound = esp_line(&ei, r, i, c.inbound_spi).expect("initiator's inbound SA");
        assert_eq!(Some(inbound), esp_line(&er, r, i, c.inbound_spi));
        let outbound = esp_line(&ei, i, r, c.outbound_spi).expect("initiator's outbound SA");
        assert_eq!(Some(outbound), esp_line(&er, i, r, c.outbound_spi));
        assert_ne!(inbound, outbound);
    }
}

#[test]
fn lines_appear_for_the_ike_sa_and_both_esp_directions_with_the_right_spis() {
    for (encr, integ, ike_name, esp_name) in [
        ((EncrId::AesGcm16, Some(128)), None, "AES-GCM-128 with 16 octet ICV [RFC5282]", "AES-GCM"),
        (
            (EncrId::AesCbc, Some(256)),
            Some(IntegId::HmacSha2_256_128),
            "AES-CBC-256 [RFC3602]",
            "AES-CBC",
        ),
    ] {
        let mut p = Pair::new(encr, integ);
        p.settle();
        let info = ike_infos(&p.events.0)[0].clone();
        let (ii, ir) = (
            p.logs.0.lines(KeyLogTable::Ikev2DecryptionTable),
            p.logs.1.lines(KeyLogTable::Ikev2DecryptionTable),
        );
        assert_eq!((ii.len(), ir.len()), (1, 1), "one IKE SA generation each");
        assert_eq!(ii, ir, "both sides log the same keys");
        assert!(ii[0].starts_with(&format!("{:016x},{:016x},", info.spi_i, info.spi_r)));
        assert!(ii[0].contains(ike_name), "{}", ii[0]);
        check_children(&p, 1);
        let esp = p.logs.0.lines(KeyLogTable::EspSa);
        assert!(esp[0].contains(esp_name), "{}", esp[0]);
        assert_eq!(p.i.stats().key_log_unsupported, 0);
    }
}

#[test]
fn rekeyed_ike_and_child_sas_are_logged_too() {
    let mut p = Pair::new((EncrId::AesGcm16, Some(128)), None);
    p.settle();
    p.now = p.now + Duration::from_secs(1);
    assert!(p.i.rekey_ike(p.now, p.h, &mut p.rng));
    p.settle();
    let infos: Vec<IkeSaInfo> = ike_infos(&p.events.0).into_iter().cloned().collect();
    assert_eq!(infos.len(), 2, "established, then rekeyed");
    let ii = p.logs.0.lines(KeyLogTable::Ikev2DecryptionTable);
    let ir = p.logs.1.lines(KeyLogTable::Ikev2DecryptionTable);
    assert_eq!((ii.len(), ir.len()), (2, 2));
    assert_eq!(ii, ir);
    for (line, info) in ii.iter().zip(&infos) {
        assert!(line.starts_with(&format!("{:016x},{:016x},", info.spi_i, info.spi_r)));
    }
    assert_ne!(ii[0], ii[1]);

    let spi = children(&p.events.0)[0].inbound_spi;
    p.now = p.now + Duration::from_secs(1);
    assert!(p.i.rekey_child(p.now, p.h, spi, &mut p.rng));
    p.settle();
    check_children(&p, 2);
}

#[test]
fn nothing_is_logged_without_a_sink_and_unexpressible_keys_are_counted() {
    let mut p = Pair::new((EncrId::AesGcm16, Some(128)), None);
    let _ = p.i.take_key_log();
    p.settle();
    assert!(p.logs.0.0.lock().unwrap().is_empty(), "taken away before any keys");
    assert_eq!(p.logs.1.lines(KeyLogTable::Ikev2DecryptionTable).len(), 1);

    // Wireshark's IKEv2 table has no ChaCha20-Poly1305.
    let mut p = Pair::new((EncrId::ChaCha20Poly1305, None), None);
    p.settle();
    assert!(p.logs.0.lines(KeyLogTable::Ikev2DecryptionTable).is_empty());
    assert_eq!(ike_infos(&p.events.0).len(), 1, "the SA itself is unaffected");
    assert!(p.i.stats().key_log_unsupported >= 1);
}
