//! Remote access in IKE_AUTH (RFC 7296 sections 2.19 and 3.15): the client's
//! CP(CFG_REQUEST) and the concentrator's CP(CFG_REPLY) with an internal address from the
//! pools, DNS servers, and the client's TSi narrowed to that address.
//!
//! ```text
//! initiator: IDi, AUTH, CP(CFG_REQUEST), SAi2, TSi, TSr
//! responder: IDr, AUTH, CP(CFG_REPLY), SAr2, TSi, TSr
//! ```
//!
//! The responder leases the addresses for the IKE SA (the leases live in its
//! [`Context`]): every Child SA of it, the first and any later one, has the client's side
//! narrowed to them, so a client can never claim an inner address it was not given. A
//! remote-access client that gets no address gets no Child SA (INTERNAL_ADDRESS_FAILURE,
//! section 3.15.4); its IKE SA stays, as the RFC allows.

use core::net::IpAddr;

use crate::ikev2::selectors::from_prefix;
use crate::ikev2::wire::{
    CfgAttribute, CfgAttributeType as A, CfgType, CpRepr, IdRepr, NotifyType, Payload, PayloadBody,
    TrafficSelector,
};
use crate::log::IKEV2_PROTOCOL;
use crate::pool::allocate_from;

use super::config::{RemoteAccess, RemoteAccessClient};
use super::context::Context;
use super::events::FailureCause;

/// The client's CP(CFG_REQUEST), if we are a remote-access client.
pub(crate) fn client_request(cx: &Context) -> Option<Payload> {
    let Some(RemoteAccess::Client(c)) = &cx.cfg.remote_access else { return None };
    let RemoteAccessClient { ipv4, ipv6 } = *c;
    let mut attributes = Vec::new();
    if ipv4 {
        attributes.push(CfgAttribute::request(A::InternalIp4Address));
        attributes.push(CfgAttribute::request(A::InternalIp4Dns));
    }
    if ipv4 || ipv6 {
        attributes.push(CfgAttribute::request(A::InternalDnsDomain));
    }
    if ipv6 {
        attributes.push(CfgAttribute::request(A::InternalIp6Address));
        attributes.push(CfgAttribute::request(A::InternalIp6Dns));
    }
    Some(Payload::Configuration(CpRepr { cfg_type: CfgType::Request, attributes }))
}

/// What a concentrator's CP(CFG_REPLY) gave a client.
#[derive(Debug, Default)]
pub(crate) struct Given {
    pub addrs: Vec<IpAddr>,
    pub dns: Vec<IpAddr>,
    pub domains: Vec<String>,
}

/// The addresses, DNS servers and domains of the responder's CP(CFG_REPLY), for a
/// remote-access client: the addresses become our side's selectors for later Child SAs
/// (the concentrator narrows them anyway).
pub(crate) fn client_reply(cx: &mut Context, payloads: &[Payload]) -> Given {
    if !matches!(cx.cfg.remote_access, Some(RemoteAccess::Client(_))) {
        return Given::default();
    }
    let attributes = payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Configuration(cp) if cp.cfg_type == CfgType::Reply => Some(cp),
            _ => None,
        })
        .flat_map(|cp| cp.attributes.iter());
    let mut g = Given::default();
    for a in attributes {
        match a.attr_type {
            A::InternalIp4Address => g.addrs.extend(a.as_ipv4().map(IpAddr::V4)),
            A::InternalIp6Address => {
                g.addrs.extend(a.as_ipv6_prefix().map(|(a, _)| IpAddr::V6(a)));
            }
            A::InternalIp4Dns => g.dns.extend(a.as_ipv4().map(IpAddr::V4)),
            A::InternalIp6Dns => g.dns.extend(a.as_ipv6().map(IpAddr::V6)),
            // A name we can show: printable ASCII, as RFC 8598 section 4 requires.
            A::InternalDnsDomain
                if !a.value.is_empty() && a.value.iter().all(|b| b.is_ascii_graphic()) =>
            {
                g.domains.push(String::from_utf8_lossy(&a.value).into_owned());
            }
            _ => {}
        }
    }
    if !g.addrs.is_empty() {
        cx.cfg.child.selectors.local = host_selectors(&g.addrs);
    }
    g
}

/// `/32` or `/128` selectors of `addrs`, any protocol and port.
pub(crate) fn host_selectors(addrs: &[IpAddr]) -> Vec<TrafficSelector> {
    addrs.iter().map(|&a| from_prefix(a, if a.is_ipv4() { 32 } else { 128 })).collect()
}

/// What the concentrator does with a client's IKE_AUTH request.
pub(crate) enum Served {
    /// Not a remote-access peer: nothing to do (a CP payload is ignored).
    SiteToSite,
    /// Addresses leased: send the CFG_REPLY before the SA payload; the Child SA's remote
    /// selectors are narrowed to them.
    Assigned { reply: Payload, given: Given },
    /// No Child SA: send `notify` instead of SA, TSi, TSr.
    Refused { notify: NotifyType, cause: FailureCause },
}

/// Answers the client's configuration request of an IKE_AUTH request: leases its
/// addresses into `cx.leases` and narrows the peer's side of every Child SA of this IKE SA
/// to them (to nothing if there are none).
pub(crate) fn serve(cx: &mut Context, peer_id: &IdRepr, payloads: &[Payload]) -> Served {
    let Some(RemoteAccess::Server(server)) = &cx.cfg.remote_access else {
        return Served::SiteToSite;
    };
    let server = server.clone();
    // From here on the client's side is what it is given, never what it claims.
    cx.cfg.child.selectors.remote.clear();
    let request = payloads.iter().find_map(|p| match p {
        Payload::Configuration(cp) if cp.cfg_type == CfgType::Request => Some(cp),
        _ => None,
    });
    let Some(request) = request else {
        // A client that asks for no address has no inner address we could accept.
        return Served::Refused {
            notify: NotifyType::TsUnacceptable,
            cause: FailureCause::TsUnacceptable,
        };
    };
    let asks = |t: A| request.attributes.iter().any(|a| a.attr_type == t);
    let (want4, want6) = (asks(A::InternalIp4Address), asks(A::InternalIp6Address));
    // The identity the client authenticated as: the same one gets its address back.
    let identity = peer_id.to_vec().unwrap_or_else(|_| peer_id.to_string().into_bytes());
    let mut attributes = Vec::new();
    let mut addrs = Vec::new();
    let mut why = Vec::new();
    for (wanted, ipv6) in [(want4, false), (want6, true)] {
        if !wanted {
            continue;
        }
        let family = if ipv6 { "IPv6" } else { "IPv4" };
        if !server.pools.iter().any(|p| p.range().is_ipv6() == ipv6) {
            why.push(format!("no {family} pool"));
            continue;
        }
        let Some(lease) = allocate_from(&server.pools, ipv6, &identity) else {
            why.push(format!("every {family} pool is exhausted"));
            continue;
        };
        match lease.addr() {
            IpAddr::V4(a) => {
                attributes.push(CfgAttribute::ipv4(A::InternalIp4Address, a));
                if asks(A::InternalIp4Netmask)
                    && let Some(mask) = lease.pool().range().ipv4_netmask()
                {
                    attributes.push(CfgAttribute::ipv4(A::InternalIp4Netmask, mask));
                }
            }
            IpAddr::V6(a) => {
                attributes.push(CfgAttribute::ipv6_prefix(A::InternalIp6Address, a, 128));
            }
        }
        addrs.push(lease.addr());
        cx.leases.push(lease);
    }
    if addrs.is_empty() {
        if !want4 && !want6 {
            why.push("CFG_REQUEST asks for no address".into());
        }
        let why = why.join(", ");
        tracing::info!(target: IKEV2_PROTOCOL, peer = %cx.cfg.remote_addr, id = %peer_id,
            "no internal address for the client: {why}");
        return Served::Refused {
            notify: NotifyType::InternalAddressFailure,
            cause: FailureCause::InternalAddressFailure(why),
        };
    }
    let (has4, has6) = (addrs.iter().any(IpAddr::is_ipv4), addrs.iter().any(IpAddr::is_ipv6));
    let mut dns = Vec::new();
    for &server_dns in &server.dns_servers {
        match server_dns {
            IpAddr::V4(d) if has4 || asks(A::InternalIp4Dns) => {
                attributes.push(CfgAttribute::ipv4(A::InternalIp4Dns, d));
            }
            IpAddr::V6(d) if has6 || asks(A::InternalIp6Dns) => attributes
                .push(CfgAttribute { attr_type: A::InternalIp6Dns, value: d.octets().to_vec() }),
            _ => continue,
        }
        dns.push(server_dns);
    }
    // RFC 8598 section 4: only to a client that asked.
    let mut domains = Vec::new();
    if asks(A::InternalDnsDomain) {
        for d in server.dns_domains.iter().filter(|d| !d.is_empty() && d.len() <= 253) {
            let value = d.as_bytes().to_vec();
            attributes.push(CfgAttribute { attr_type: A::InternalDnsDomain, value });
            domains.push(d.clone());
        }
    }
    tracing::info!(target: IKEV2_PROTOCOL, peer = %cx.cfg.remote_addr, id = %peer_id,
        "assigned {addrs:?} to the client");
    cx.cfg.child.selectors.remote = host_selectors(&addrs);
    let reply = Payload::Configuration(CpRepr { cfg_type: CfgType::Reply, attributes });
    Served::Assigned { reply, given: Given { addrs, dns, domains } }
}
