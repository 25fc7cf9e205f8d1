//! IKEv2 remote access (RFC 7296 sections 2.19, 3.15) between a client initiator that
//! sends CP(CFG_REQUEST) (strongSwan's `leftsourceip=%config`) and the concentrator, which
//! leases an address from its pools, answers CP(CFG_REPLY) with it and the DNS servers, and
//! narrows the client's TSi to it. Runs on the deterministic pair harness.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::time::Duration;

use control::ikev2::proposal::{Encr, LocalProposal};
use control::ikev2::sa::{
    Event, FailureCause, IkeSaInfo, PeerConfig, RemoteAccess, RemoteAccessClient,
    RemoteAccessServer, SaHandle,
};
use control::ikev2::selectors::from_prefix;
use control::ikev2::wire::{DhGroup, EncrId, IdRepr, PrfId, ProtocolId};
use control::pool::{AddressPool, PoolRange};

include!("support/pair.rs");

const CHECK_LIVE: bool = false;
const EXACT_ADDRESSES: bool = true;

include!("support/gcm_suite.rs");

fn v4_pool(name: &str, first: [u8; 4], last: [u8; 4]) -> AddressPool {
    AddressPool::new(name, PoolRange::V4 { first: first.into(), last: last.into() })
}

fn ip4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

const DNS4: [u8; 4] = [10, 2, 0, 53];

fn dns6() -> IpAddr {
    "2001:db8:2::53".parse().unwrap()
}

/// The concentrator: protects 10.2/16, accepts any client identity with the shared key,
/// hands out addresses from `pools`.
fn server(pools: Vec<AddressPool>) -> PeerConfig {
    let mut r = psk_config(false, ike(), esp(), 3600);
    r.remote_id = None;
    r.child.selectors.remote = vec![net([0, 0, 0, 0], 0), from_prefix(IpAddr::V6(0.into()), 0)];
    r.remote_access = Some(RemoteAccess::Server(RemoteAccessServer {
        pools,
        dns_servers: vec![ip4(DNS4), dns6()],
        dns_domains: vec!["corp.example".into()],
    }));
    r
}

/// A client named `who` whose side is "any address" until the concentrator assigns one.
fn client(who: &str, ipv6: bool) -> PeerConfig {
    let mut i = psk_config(true, ike(), esp(), 3600);
    i.local_id = IdRepr::fqdn(who);
    i.child.selectors.local = vec![net([0, 0, 0, 0], 0)];
    if ipv6 {
        i.child.selectors.local.push(from_prefix(IpAddr::V6(0.into()), 0));
        i.child.selectors.remote.push(from_prefix("2001:db8:2::".parse().unwrap(), 48));
    }
    i.remote_access = Some(RemoteAccess::Client(RemoteAccessClient { ipv4: true, ipv6 }));
    i
}

/// The `Established` info of SA `h` of a side.
fn info(s: &Side, h: SaHandle) -> &IkeSaInfo {
    s.events
        .iter()
        .find_map(|e| match &e.2 {
            Event::Established(i) if e.1 == h => Some(i),
            _ => None,
        })
        .expect("established")
}

/// The responder's handle of the SA whose client is `who`.
fn rh_of(p: &Pair, who: &str) -> SaHandle {
    p.r.events
        .iter()
        .find_map(|e| match &e.2 {
            Event::Established(i) if i.peer_id == IdRepr::fqdn(who) => Some(e.1),
            _ => None,
        })
        .expect("responder has the client")
}

fn child_ups(s: &Side, h: SaHandle) -> Vec<&control::ikev2::sa::ChildSa> {
    s.events
        .iter()
        .filter_map(|e| match &e.2 {
            Event::ChildSaUp(c) if e.1 == h => Some(c),
            _ => None,
        })
        .collect()
}

fn child_fails(s: &Side, h: SaHandle) -> Vec<&FailureCause> {
    s.events
        .iter()
        .filter_map(|e| match &e.2 {
            Event::ChildSaFailed(c) if e.1 == h => Some(c),
            _ => None,
        })
        .collect()
}

impl Pair {
    /// Another client on the initiator endpoint, run until its exchanges are done.
    fn connect(&mut self, cfg: PeerConfig) -> SaHandle {
        let h = self.i.ep.connect(self.time, cfg, &mut self.i.rng).expect("valid config");
        self.run_for(Duration::from_secs(5));
        h
    }

    fn close(&mut self, h: SaHandle) {
        let now = self.time;
        self.i.ep.close(now, h, &mut self.i.rng);
        self.run_for(Duration::from_secs(5));
    }
}

#[test]
fn ikev2_ra_client_gets_an_address_dns_and_its_ts_narrowed_to_it() {
    let pool = v4_pool("ra", [10, 9, 0, 10], [10, 9, 0, 20]);
    let mut p = Pair::new(client("alice.example", false), server(vec![pool.clone()]));
    p.run_for(Duration::from_secs(5));
    let (ih, rh) = (p.h, p.rh());
    let vip = ip4([10, 9, 0, 10]);
    for s in [&p.i, &p.r] {
        let h = if core::ptr::eq(s, &p.i) { ih } else { rh };
        let i = info(s, h);
        assert_eq!(i.virtual_ips, vec![vip]);
        assert_eq!(i.internal_dns, vec![ip4(DNS4)], "only the IPv4 server for an IPv4 client");
        // Our client asks for INTERNAL_DNS_DOMAIN (RFC 8598); the group's default domain
        // comes back.
        assert_eq!(i.internal_domains, vec!["corp.example".to_owned()]);
    }
    assert!(pool.is_leased(vip));
    let (ci, cr) = (child_ups(&p.i, ih), child_ups(&p.r, rh));
    assert_eq!((ci.len(), cr.len()), (1, 1));
    let host = vec![from_prefix(vip, 32)];
    assert_eq!(cr[0].remote_ts, host, "the client's side is exactly its address");
    assert_eq!(ci[0].local_ts, host);
    assert_eq!(cr[0].local_ts, vec![net([10, 2, 0, 0], 16)]);
    assert!(child_fails(&p.r, rh).is_empty() && failures(&p.r).is_empty());
}

#[test]
fn ikev2_ra_two_clients_get_different_addresses() {
    let pool = v4_pool("ra", [10, 9, 0, 10], [10, 9, 0, 20]);
    let mut p = Pair::new(client("alice.example", false), server(vec![pool.clone()]));
    p.run_for(Duration::from_secs(5));
    let bob = p.connect(client("bob.example", false));
    assert_eq!(info(&p.i, p.h).virtual_ips, vec![ip4([10, 9, 0, 10])]);
    assert_eq!(info(&p.i, bob).virtual_ips, vec![ip4([10, 9, 0, 11])]);
    let rb = rh_of(&p, "bob.example");
    assert_eq!(child_ups(&p.r, rb)[0].remote_ts, vec![net([10, 9, 0, 11], 32)]);
    assert_eq!(pool.stats().in_use, 2);
}

#[test]
fn ikev2_ra_pools_are_tried_in_order() {
    let small = v4_pool("small", [10, 9, 0, 10], [10, 9, 0, 10]);
    let spill = v4_pool("spill", [10, 8, 0, 1], [10, 8, 0, 1]);
    let mut p =
        Pair::new(client("alice.example", false), server(vec![small.clone(), spill.clone()]));
    p.run_for(Duration::from_secs(5));
    let bob = p.connect(client("bob.example", false));
    assert_eq!(info(&p.i, p.h).virtual_ips, vec![ip4([10, 9, 0, 10])]);
    assert_eq!(info(&p.i, bob).virtual_ips, vec![ip4([10, 8, 0, 1])]);
    assert_eq!((small.stats().exhausted, spill.stats().exhausted), (1, 0));
}

#[test]
fn ikev2_ra_exhausted_pool_refuses_the_child_sa_with_internal_address_failure() {
    let pool = v4_pool("one", [10, 9, 0, 10], [10, 9, 0, 10]);
    let mut p = Pair::new(client("alice.example", false), server(vec![pool.clone()]));
    p.run_for(Duration::from_secs(5));
    let bob = p.connect(client("bob.example", false));
    let rb = rh_of(&p, "bob.example");
    // The IKE SA stays (RFC 7296 section 3.15.4), without a Child SA or an address.
    assert!(p.i.ep.sa(bob).is_some_and(|sa| sa.is_established()));
    assert!(child_ups(&p.i, bob).is_empty() && child_ups(&p.r, rb).is_empty());
    assert!(info(&p.i, bob).virtual_ips.is_empty() && info(&p.r, rb).virtual_ips.is_empty());
    assert!(
        matches!(child_fails(&p.r, rb)[..], [FailureCause::InternalAddressFailure(why)]
            if why.contains("exhausted")),
        "{:?}",
        child_fails(&p.r, rb)
    );
    assert!(matches!(child_fails(&p.i, bob)[..], [FailureCause::InternalAddressFailure(_)]));
    assert_eq!(pool.stats().exhausted, 1);
    assert_eq!(pool.stats().in_use, 1);
    // A later Child SA of bob's is refused too: it has no address to narrow to.
    let mut extra = client("bob.example", false).child;
    extra.selectors.local = vec![net([10, 9, 0, 10], 32)];
    let now = p.time;
    assert!(p.i.ep.create_child(now, bob, extra, &mut p.i.rng));
    p.run_for(Duration::from_secs(5));
    assert!(child_ups(&p.r, rb).is_empty(), "no Child SA claiming alice's address");
    assert_eq!(child_fails(&p.r, rb).len(), 2);
}

#[test]
fn ikev2_ra_ike_sa_end_releases_the_address_for_the_next_client() {
    let pool = v4_pool("one", [10, 9, 0, 10], [10, 9, 0, 10]);
    let mut p = Pair::new(client("alice.example", false), server(vec![pool.clone()]));
    p.run_for(Duration::from_secs(5));
    let vip = ip4([10, 9, 0, 10]);
    assert!(pool.is_leased(vip));
    let alice = p.h;
    let ra = rh_of(&p, "alice.example");
    assert_eq!(p.r.ep.sa(ra).map(|sa| sa.leased_addresses()), Some(vec![vip]));
    p.close(alice);
    assert!(!pool.is_leased(vip), "the client's IKE SA is gone: so is its lease");
    assert!(p.r.ep.sa(ra).is_none_or(|sa| sa.leased_addresses().is_empty()));
    assert_eq!(pool.stats().released, 1);
    let bob = p.connect(client("bob.example", false));
    assert_eq!(info(&p.i, bob).virtual_ips, vec![vip]);
    assert_eq!(child_ups(&p.i, bob).len(), 1);
}

#[test]
fn ikev2_ra_a_failed_client_releases_its_address() {
    // The client vanishes: the concentrator's liveness check gives up and ends the SA.
    let pool = v4_pool("one", [10, 9, 0, 10], [10, 9, 0, 10]);
    let mut rcfg = server(vec![pool.clone()]);
    rcfg.dpd_interval = Duration::from_secs(10);
    let mut p = Pair::new(client("alice.example", false), rcfg);
    p.run_for(Duration::from_secs(5));
    assert!(pool.is_leased(ip4([10, 9, 0, 10])));
    p.fault = Box::new(|_, _, _| Fate::Drop);
    p.run_for(Duration::from_secs(600));
    assert!(matches!(failures(&p.r)[..], [FailureCause::PeerUnreachable { .. }]));
    assert_eq!(pool.stats().in_use, 0);
}

#[test]
fn ikev2_ra_reconnecting_identity_gets_its_previous_address() {
    let pool = v4_pool("ra", [10, 9, 0, 10], [10, 9, 0, 20]);
    let mut p = Pair::new(client("alice.example", false), server(vec![pool.clone()]));
    p.run_for(Duration::from_secs(5));
    let alice = p.h;
    let bob = p.connect(client("bob.example", false));
    assert_eq!(info(&p.i, bob).virtual_ips, vec![ip4([10, 9, 0, 11])]);
    p.close(alice);
    let carol = p.connect(client("carol.example", false));
    assert_eq!(info(&p.i, carol).virtual_ips, vec![ip4([10, 9, 0, 12])], "not alice's");
    let again = p.connect(client("alice.example", false));
    assert_eq!(info(&p.i, again).virtual_ips, vec![ip4([10, 9, 0, 10])]);
    assert_eq!(pool.stats().reused_for_identity, 1);
}

#[test]
fn ikev2_ra_ike_sa_rekey_keeps_the_lease() {
    let pool = v4_pool("ra", [10, 9, 0, 10], [10, 9, 0, 20]);
    let mut p = Pair::new(client("alice.example", false), server(vec![pool.clone()]));
    p.run_for(Duration::from_secs(5));
    let vip = ip4([10, 9, 0, 10]);
    let (ih, rh) = (p.h, p.rh());
    let now = p.time;
    assert!(p.i.ep.rekey_ike(now, ih, &mut p.i.rng));
    p.run_for(Duration::from_secs(10));
    let rekeyed: Vec<&IkeSaInfo> =
        p.r.events
            .iter()
            .filter_map(|e| match &e.2 {
                Event::IkeSaRekeyed { info, .. } if e.1 == rh => Some(info),
                _ => None,
            })
            .collect();
    assert_eq!(rekeyed.len(), 1, "the IKE SA was rekeyed");
    assert_eq!(rekeyed[0].virtual_ips, vec![vip]);
    assert!(pool.is_leased(vip), "the lease moved to the new IKE SA");
    assert_eq!((pool.stats().in_use, pool.stats().released), (1, 0));
    // The rekeyed SA still narrows a new Child SA to the address.
    let mut extra = client("alice.example", false).child;
    extra.selectors.local = vec![net([0, 0, 0, 0], 0)];
    let now = p.time;
    assert!(p.i.ep.create_child(now, ih, extra, &mut p.i.rng));
    p.run_for(Duration::from_secs(5));
    let ups = child_ups(&p.r, rh);
    assert_eq!(ups.len(), 2);
    assert_eq!(ups[1].remote_ts, vec![from_prefix(vip, 32)]);
    p.close(ih);
    assert!(!pool.is_leased(vip));
}

#[test]
fn ikev2_ra_dual_stack_client_gets_both_families() {
    let v4 = v4_pool("ra4", [10, 9, 0, 10], [10, 9, 0, 20]);
    let v6 = AddressPool::new(
        "ra6",
        PoolRange::V6 { prefix: "2001:db8:9::".parse::<Ipv6Addr>().unwrap(), len: 64 },
    );
    let mut p = Pair::new(client("alice.example", true), server(vec![v6.clone(), v4.clone()]));
    p.run_for(Duration::from_secs(5));
    let (ih, rh) = (p.h, p.rh());
    let vip6: IpAddr = "2001:db8:9::1".parse().unwrap();
    let vip4 = ip4([10, 9, 0, 10]);
    assert_eq!(info(&p.i, ih).virtual_ips, vec![vip4, vip6]);
    assert_eq!(info(&p.i, ih).internal_dns, vec![ip4(DNS4), dns6()]);
    let cr = child_ups(&p.r, rh);
    assert_eq!(cr.len(), 1);
    assert_eq!(cr[0].remote_ts, vec![from_prefix(vip4, 32), from_prefix(vip6, 128)]);
    assert!(v6.is_leased(vip6) && v4.is_leased(vip4));
}

#[test]
fn ikev2_ra_a_client_without_cfg_request_gets_no_child_sa() {
    // A site-to-site style initiator at a remote-access group: it would pick its own inner
    // address, which the concentrator never accepts.
    let pool = v4_pool("ra", [10, 9, 0, 10], [10, 9, 0, 20]);
    let mut icfg = client("alice.example", false);
    icfg.remote_access = None;
    let mut p = Pair::new(icfg, server(vec![pool.clone()]));
    p.run_for(Duration::from_secs(5));
    let rh = p.rh();
    assert!(child_ups(&p.r, rh).is_empty());
    assert_eq!(child_fails(&p.r, rh), vec![&FailureCause::TsUnacceptable]);
    assert_eq!(pool.stats().allocated, 0);
}

#[test]
fn ikev2_ra_no_pool_of_the_family_is_an_internal_address_failure() {
    let v6 = AddressPool::new(
        "ra6",
        PoolRange::V6 { prefix: "2001:db8:9::".parse::<Ipv6Addr>().unwrap(), len: 64 },
    );
    let mut p = Pair::new(client("alice.example", false), server(vec![v6.clone()]));
    p.run_for(Duration::from_secs(5));
    let rh = p.rh();
    assert!(matches!(child_fails(&p.r, rh)[..], [FailureCause::InternalAddressFailure(w)]
        if w.contains("no IPv4 pool")));
    assert_eq!(v6.stats().allocated, 0, "an IPv4-only client gets nothing from an IPv6 pool");
}

#[test]
fn ikev2_ra_site_to_site_ignores_cfg_request() {
    // A plain responder (no remote access) ignores the CP payload: the Child SA is the
    // configured one and nothing is assigned.
    let mut icfg = psk_config(true, ike(), esp(), 3600);
    icfg.remote_access = Some(RemoteAccess::Client(RemoteAccessClient::default()));
    let mut p = Pair::new(icfg, psk_config(false, ike(), esp(), 3600));
    p.run_for(Duration::from_secs(5));
    let (ih, rh) = (p.h, p.rh());
    assert!(info(&p.i, ih).virtual_ips.is_empty() && info(&p.r, rh).virtual_ips.is_empty());
    assert_eq!(child_ups(&p.i, ih)[0].local_ts, vec![net([10, 1, 0, 0], 16)]);
}

#[test]
fn ikev2_ra_takeover_keeps_the_clients_address() {
    use control::ikev2::sa::{IkeSa, ImportError};
    let pool = v4_pool("ra", [10, 9, 0, 10], [10, 9, 0, 20]);
    let mut p = Pair::new(client("alice.example", false), server(vec![pool.clone()]));
    p.run_for(Duration::from_secs(5));
    let vip = ip4([10, 9, 0, 10]);
    let (ike, children) = p.r.ep.sa(p.rh()).expect("the concentrator's SA").export(p.time).unwrap();
    assert_eq!(ike.virtual_ips, vec![vip], "the lease travels with the IKE SA record");
    // The standby's own pool, with the same range: the client keeps its address there.
    let standby = v4_pool("ra", [10, 9, 0, 10], [10, 9, 0, 20]);
    let mut rng = TestRng::new("standby");
    let taken =
        IkeSa::import(p.time, server(vec![standby.clone()]), &ike, &children, 0, &mut rng).unwrap();
    assert!(standby.is_leased(vip));
    assert_eq!(taken.leased_addresses(), vec![vip]);
    let info = taken.established_info().unwrap();
    assert_eq!(info.virtual_ips, vec![vip]);
    // Rekeys of its Child SAs stay narrowed to the address.
    assert_eq!(taken.resumed_children()[0].remote_ts, vec![from_prefix(vip, 32)]);
    // A new client on the unit that took over gets another address; the takeover's lease
    // goes back with the SA.
    let bob = standby.allocate(b"bob").unwrap();
    assert_eq!(bob.addr(), ip4([10, 9, 0, 11]));
    drop(taken);
    assert!(!standby.is_leased(vip));
    // A unit whose pools do not hold the address (or whose address is taken) refuses.
    let elsewhere = v4_pool("other", [10, 8, 0, 1], [10, 8, 0, 9]);
    let r = IkeSa::import(p.time, server(vec![elsewhere]), &ike, &children, 0, &mut rng);
    assert!(matches!(r, Err(ImportError::Lease(a)) if a == vip), "{r:?}");
    let _held = standby.claim(vip, b"someone else").unwrap();
    let r = IkeSa::import(p.time, server(vec![standby.clone()]), &ike, &children, 0, &mut rng);
    assert!(matches!(r, Err(ImportError::Lease(a)) if a == vip), "{r:?}");
}
