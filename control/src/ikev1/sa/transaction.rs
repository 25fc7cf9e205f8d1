//! Legacy remote access over the Transaction exchange (ISAKMP exchange 6): XAUTH
//! (draft-beaulieu-ike-xauth-02) and Mode Config (draft-dukes-ike-mode-cfg-02), as Cisco's
//! legacy client, strongSwan's `xauth` and the ASA run them, between phase 1 and Quick Mode:
//!
//!   server -> client  [HASH, ATTR(REQUEST: XAUTH_TYPE, USER_NAME, USER_PASSWORD)]
//!   client -> server  [HASH, ATTR(REPLY: USER_NAME=alice, USER_PASSWORD=...)]
//!   server -> client  [HASH, ATTR(SET: XAUTH_STATUS=1|0)]
//!   client -> server  [HASH, ATTR(ACK: XAUTH_STATUS)]
//!   client -> server  [HASH, ATTR(REQUEST: INTERNAL_IP4_ADDRESS, NETMASK, DNS, ...)]
//!   server -> client  [HASH, ATTR(REPLY: INTERNAL_IP4_ADDRESS=10.9.0.10, ...)]
//!
//! HASH = prf(SKEYID_a, M-ID | ATTR); each exchange has its own Message ID and IV chain.
//! The server authenticates the user against its [`UserDb`], leases an address from the
//! tunnel group's pools (the [`crate::pool`] handles its IKEv2 clients share; released
//! when the ISAKMP SA ends) and then only accepts Quick Modes whose initiator proxy
//! identity is that address. Mode Config is "pull" (the client asks), what both clients do
//! by default.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::ikev1::keys;
use crate::ikev1::remote_access::UserDb;
use crate::ikev1::wire::{
    AttrValue, Attribute, ConfigAttributes, ExchangeType, Header, ISAKMP_VERSION, Payload,
    PayloadType, cfg, flags,
};
use crate::ikev2::sa::FailureCause;
use crate::log::IKEV1;
use crate::pool::{AddressPool, Lease, allocate_from};
use crate::retransmit::{Retransmit, Timeout};
use crate::time::Time;

use super::protect::Isakmp;
use super::{Ikev1Sa, quick};

/// XAUTH_TYPE generic (username and password).
const XAUTH_TYPE_GENERIC: u16 = 0;

/// The server side: who may log in, and what a client is given.
#[derive(Debug, Clone)]
pub struct RemoteAccessServer {
    /// The local user database.
    pub users: Arc<UserDb>,
    /// The tunnel group's address pools, tried in order (`address-pool`; Mode Config gives
    /// IPv4 addresses, so IPv6 pools are skipped). Handles shared with the group's IKEv2
    /// clients. Empty: XAUTH only, no Mode Config address, and no restriction on the
    /// client's Quick Mode identity.
    pub pools: Vec<AddressPool>,
    /// `dns-server value`.
    pub dns: Vec<Ipv4Addr>,
    /// `default-domain value`.
    pub domain: Option<String>,
}

/// The client side (a legacy client; ferrogate uses it to test the server).
#[derive(Clone)]
pub struct RemoteAccessClient {
    /// XAUTH user name.
    pub user: String,
    /// XAUTH password.
    pub password: Zeroizing<Vec<u8>>,
    /// Ask for an address with Mode Config and use it as our proxy identity.
    pub mode_config: bool,
}

impl fmt::Debug for RemoteAccessClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteAccessClient")
            .field("user", &self.user)
            .field("mode_config", &self.mode_config)
            .finish_non_exhaustive()
    }
}

/// Which side of legacy remote access this SA plays.
#[derive(Debug, Clone)]
pub enum RemoteAccess {
    /// The concentrator (phase-1 responder).
    Server(RemoteAccessServer),
    /// The client (phase-1 initiator).
    Client(RemoteAccessClient),
}

/// A Transaction message of ours awaiting its answer.
pub(super) struct Outstanding {
    mid: u32,
    identifier: u16,
    /// The chain IV after our message: the answer decrypts with it.
    iv: Vec<u8>,
    bytes: Vec<u8>,
    rtx: Retransmit,
}

/// Where remote access stands.
#[derive(Default)]
pub(super) enum RaState {
    /// No remote access on this SA, or phase 1 not done.
    #[default]
    Idle,
    /// Server: XAUTH REQUEST sent.
    XauthRequested(Outstanding),
    /// Server: XAUTH status SET sent.
    StatusSent { out: Outstanding, user: String, ok: bool },
    /// Server: the user is authenticated; Mode Config (if any) may follow.
    Authenticated { user: String, lease: Option<Lease> },
    /// Client: waiting for the server's requests (XAUTH, status).
    ClientWaiting,
    /// Client: Mode Config REQUEST sent.
    ClientConfigRequested(Outstanding),
    /// Client: done; `addr` is the address the server gave us.
    ClientDone { addr: Option<Ipv4Addr> },
}

impl RaState {
    fn name(&self) -> &'static str {
        match self {
            RaState::Idle => "idle",
            RaState::XauthRequested(_) => "xauth-requested",
            RaState::StatusSent { .. } => "status-sent",
            RaState::Authenticated { .. } => "authenticated",
            RaState::ClientWaiting => "client-waiting",
            RaState::ClientConfigRequested(_) => "client-config-requested",
            RaState::ClientDone { .. } => "client-done",
        }
    }

    /// The client's assigned address.
    pub(super) fn client_addr(&self) -> Option<Ipv4Addr> {
        match self {
            RaState::ClientDone { addr } => *addr,
            _ => None,
        }
    }

    /// Whether Quick Mode may run: always without remote access; for a client once XAUTH
    /// and Mode Config are done; for a server once the user is authenticated.
    pub(super) fn allows_quick_mode(&self, ra: Option<&RemoteAccess>) -> bool {
        matches!(
            (ra, self),
            (None, _)
                | (Some(RemoteAccess::Client(_)), RaState::ClientDone { .. })
                | (Some(RemoteAccess::Server(_)), RaState::Authenticated { .. })
        )
    }

    /// Whether a Quick Mode whose initiator protects `remote` may run: without remote
    /// access any; a remote-access server wants the user authenticated and, with an address
    /// pool, exactly the address it leased.
    pub(super) fn quick_mode_peer_ok(
        &self,
        ra: Option<&RemoteAccess>,
        remote: Option<Ipv4Addr>,
    ) -> bool {
        match ra {
            None | Some(RemoteAccess::Client(_)) => true,
            Some(RemoteAccess::Server(s)) => match self {
                RaState::Authenticated { lease, .. } => match (s.pools.is_empty(), lease) {
                    (true, _) => true,
                    (false, Some(l)) => remote.map(IpAddr::V4) == Some(l.addr()),
                    (false, None) => false,
                },
                _ => false,
            },
        }
    }

    /// The server's leased client address, which a Quick Mode's initiator identity must be.
    pub(super) fn leased(&self) -> Option<Ipv4Addr> {
        match self {
            RaState::Authenticated { lease: Some(l), .. } => match l.addr() {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            },
            _ => None,
        }
    }

    /// The authenticated XAUTH user (server).
    pub(super) fn user(&self) -> Option<&str> {
        match self {
            RaState::Authenticated { user, .. } => Some(user),
            _ => None,
        }
    }
}

fn header(sa: &Ikev1Sa, mid: u32) -> Header {
    Header {
        initiator_cookie: sa.cky_i,
        responder_cookie: sa.cky_r,
        next_payload: PayloadType::None,
        version: ISAKMP_VERSION,
        exchange: ExchangeType::Transaction,
        flags: flags::ENCRYPTION,
        message_id: mid,
        length: 0,
    }
}

/// Encrypts [HASH, ATTR] for `mid` from `iv`; returns the datagram and the next IV.
fn seal(sa: &Ikev1Sa, mid: u32, attrs: ConfigAttributes, iv: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let isakmp = sa.isakmp.as_ref()?;
    let rest = [Payload::Attributes(attrs)];
    let (first, chain) = Isakmp::hashed_chain(&rest, |r| keys::info_hash(&isakmp.keys, mid, r));
    Some(isakmp.seal_chain(&header(sa, mid), first, &chain, iv))
}

/// Sends a new request or set (fresh Message ID), retransmitted until answered.
fn send_new<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    kind: u8,
    attributes: Vec<Attribute>,
    rng: &mut R,
) -> Option<Outstanding> {
    let mid = quick::fresh_mid(sa, rng);
    let identifier = (rng.next_u32() & 0xffff) as u16;
    let iv = sa.isakmp.as_ref()?.exchange_iv(mid);
    let (bytes, next_iv) = seal(sa, mid, ConfigAttributes { kind, identifier, attributes }, &iv)?;
    sa.send(bytes.clone());
    Some(Outstanding {
        mid,
        identifier,
        iv: next_iv,
        bytes,
        rtx: Retransmit::start(sa.cfg.retransmit, now),
    })
}

/// Phase 1 is up: the server starts XAUTH; the client waits for it.
pub(super) fn phase1_done<R: CryptoRng + ?Sized>(sa: &mut Ikev1Sa, now: Time, rng: &mut R) {
    if sa.inner {
        // A renewal keeps the user and the address of the SA it replaces.
        return;
    }
    match &sa.cfg.remote_access {
        Some(RemoteAccess::Server(_)) => {
            let attrs = vec![
                Attribute::basic(cfg::XAUTH_TYPE, XAUTH_TYPE_GENERIC),
                Attribute { kind: cfg::XAUTH_USER_NAME, value: AttrValue::Variable(Vec::new()) },
                Attribute {
                    kind: cfg::XAUTH_USER_PASSWORD,
                    value: AttrValue::Variable(Vec::new()),
                },
            ];
            if let Some(out) = send_new(sa, now, cfg::REQUEST, attrs, rng) {
                sa.ra = RaState::XauthRequested(out);
            }
        }
        Some(RemoteAccess::Client(_)) => sa.ra = RaState::ClientWaiting,
        None => {}
    }
}

fn variable(attrs: &[Attribute], kind: u16) -> Option<&[u8]> {
    attrs.iter().find(|a| a.kind == kind).and_then(|a| match &a.value {
        AttrValue::Variable(v) => Some(v.as_slice()),
        AttrValue::Basic(_) => None,
    })
}

fn basic(attrs: &[Attribute], kind: u16) -> Option<u16> {
    attrs.iter().find(|a| a.kind == kind).and_then(|a| match a.value {
        AttrValue::Basic(v) => Some(v),
        AttrValue::Variable(_) => None,
    })
}

/// A Transaction message from the peer.
pub(super) fn handle<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    h: &Header,
    body: &[u8],
    datagram: &[u8],
    rng: &mut R,
) {
    let mid = h.message_id;
    let Some(isakmp) = &sa.isakmp else { return };
    let iv = match &sa.ra {
        RaState::XauthRequested(o)
        | RaState::StatusSent { out: o, .. }
        | RaState::ClientConfigRequested(o)
            if o.mid == mid =>
        {
            o.iv.clone()
        }
        _ => isakmp.exchange_iv(mid),
    };
    let Ok(opened) = isakmp.open(h, body, &iv) else {
        tracing::debug!(target: IKEV1, mid, "Transaction message does not decrypt");
        sa.stats.undecryptable += 1;
        return;
    };
    if Isakmp::check_hash(&opened, |r| keys::info_hash(&isakmp.keys, mid, r)).is_err() {
        tracing::debug!(target: IKEV1, mid, "Transaction message: HASH does not verify");
        sa.stats.bad_hash += 1;
        return;
    }
    let Some(attrs) = opened.parsed.payloads.iter().find_map(|p| match p {
        Payload::Attributes(a) => Some(a.clone()),
        _ => None,
    }) else {
        sa.stats.unexpected += 1;
        return;
    };
    sa.last_inbound = sa.last_inbound.max(now);
    let state = core::mem::take(&mut sa.ra);
    // The Message ID pairs a reply with its request: strongSwan answers with identifier 0
    // instead of echoing ours.
    sa.ra = match (state, attrs.kind) {
        (RaState::XauthRequested(o), cfg::REPLY) if o.mid == mid => {
            if attrs.identifier != o.identifier {
                tracing::trace!(target: IKEV1, ours = o.identifier, theirs = attrs.identifier, "XAUTH reply identifier differs");
            }
            server_check_password(sa, now, &attrs, rng)
        }
        (RaState::StatusSent { out, user, ok }, cfg::ACK) if out.mid == mid => {
            if ok {
                tracing::info!(target: IKEV1, peer = %sa.peer, user = %user, "XAUTH: user authenticated");
                RaState::Authenticated { user, lease: None }
            } else {
                sa.fail(FailureCause::AuthenticationFailed(format!(
                    "XAUTH: user \"{user}\" rejected"
                )));
                RaState::Idle
            }
        }
        (RaState::Authenticated { user, lease }, cfg::REQUEST) => {
            server_mode_config(sa, mid, &attrs, &opened.next_iv, datagram, user, lease)
        }
        (RaState::ClientWaiting, cfg::REQUEST) => {
            client_xauth_reply(sa, mid, &attrs, &opened.next_iv, datagram)
        }
        (RaState::ClientWaiting, cfg::SET) => {
            client_status(sa, now, mid, &attrs, &opened.next_iv, datagram, rng)
        }
        (RaState::ClientConfigRequested(o), cfg::REPLY) if o.mid == mid => {
            let addr = variable(&attrs.attributes, cfg::INTERNAL_IP4_ADDRESS)
                .and_then(|v| <[u8; 4]>::try_from(v).ok())
                .map(Ipv4Addr::from);
            tracing::info!(target: IKEV1, peer = %sa.peer, ?addr, "Mode Config: address assigned");
            sa.ra = RaState::ClientDone { addr };
            quick::start(sa, now, None, rng);
            return;
        }
        (other, kind) => {
            tracing::debug!(target: IKEV1, mid, kind, identifier = attrs.identifier, state = other.name(), "unexpected Transaction message");
            sa.stats.unexpected += 1;
            other
        }
    };
}

/// Server: the client's XAUTH REPLY.
fn server_check_password<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    attrs: &ConfigAttributes,
    rng: &mut R,
) -> RaState {
    let Some(RemoteAccess::Server(server)) = &sa.cfg.remote_access else { return RaState::Idle };
    let user = variable(&attrs.attributes, cfg::XAUTH_USER_NAME)
        .map(|u| String::from_utf8_lossy(u).into_owned())
        .unwrap_or_default();
    let password = variable(&attrs.attributes, cfg::XAUTH_USER_PASSWORD).unwrap_or_default();
    let ok = !user.is_empty() && server.users.check(&user, password);
    if !ok {
        tracing::warn!(target: IKEV1, peer = %sa.peer, user = %user, "XAUTH: authentication failed");
    }
    let attrs = vec![Attribute::basic(cfg::XAUTH_STATUS, u16::from(ok))];
    match send_new(sa, now, cfg::SET, attrs, rng) {
        Some(out) => RaState::StatusSent { out, user, ok },
        None => RaState::Idle,
    }
}

/// Server: a Mode Config REQUEST; the answer leases an address once per SA.
fn server_mode_config(
    sa: &mut Ikev1Sa,
    mid: u32,
    attrs: &ConfigAttributes,
    iv: &[u8],
    datagram: &[u8],
    user: String,
    mut lease: Option<Lease>,
) -> RaState {
    let Some(RemoteAccess::Server(server)) = sa.cfg.remote_access.clone() else {
        return RaState::Authenticated { user, lease };
    };
    let wants = |k: u16| attrs.attributes.iter().any(|a| a.kind == k);
    let mut reply = Vec::new();
    if wants(cfg::INTERNAL_IP4_ADDRESS) {
        if lease.is_none() && !server.pools.is_empty() {
            // The user is who the client is: the same user gets its last address back. The
            // prefix keeps these apart from IKEv2 identities (which start with their type).
            let identity = [b"xauth:".as_slice(), user.as_bytes()].concat();
            lease = allocate_from(&server.pools, false, &identity);
            if lease.is_none() {
                tracing::warn!(target: IKEV1, peer = %sa.peer, user = %user, "Mode Config: every address pool is exhausted");
            }
        }
        if let Some(l) = &lease
            && let IpAddr::V4(addr) = l.addr()
        {
            reply.push(Attribute {
                kind: cfg::INTERNAL_IP4_ADDRESS,
                value: AttrValue::Variable(addr.octets().to_vec()),
            });
            // As for IKEv2: the pool's block, the ASA's `ip local pool ... mask`.
            if let Some(mask) = l.pool().range().ipv4_netmask() {
                reply.push(Attribute {
                    kind: cfg::INTERNAL_IP4_NETMASK,
                    value: AttrValue::Variable(mask.octets().to_vec()),
                });
            }
        }
    }
    if wants(cfg::INTERNAL_IP4_DNS) {
        for d in &server.dns {
            reply.push(Attribute {
                kind: cfg::INTERNAL_IP4_DNS,
                value: AttrValue::Variable(d.octets().to_vec()),
            });
        }
    }
    if wants(cfg::UNITY_DEF_DOMAIN)
        && let Some(d) = &server.domain
    {
        reply.push(Attribute {
            kind: cfg::UNITY_DEF_DOMAIN,
            value: AttrValue::Variable(d.as_bytes().to_vec()),
        });
    }
    let answer =
        ConfigAttributes { kind: cfg::REPLY, identifier: attrs.identifier, attributes: reply };
    if let Some((bytes, _)) = seal(sa, mid, answer, iv) {
        sa.send_answer(datagram, bytes);
    }
    if let Some(l) = &lease {
        tracing::info!(target: IKEV1, peer = %sa.peer, user = %user, addr = %l.addr(), "Mode Config: address leased");
    }
    RaState::Authenticated { user, lease }
}

/// Client: the server's XAUTH REQUEST.
fn client_xauth_reply(
    sa: &mut Ikev1Sa,
    mid: u32,
    attrs: &ConfigAttributes,
    iv: &[u8],
    datagram: &[u8],
) -> RaState {
    let Some(RemoteAccess::Client(client)) = sa.cfg.remote_access.clone() else {
        return RaState::ClientWaiting;
    };
    if basic(&attrs.attributes, cfg::XAUTH_TYPE).is_some_and(|t| t != XAUTH_TYPE_GENERIC) {
        sa.stats.unexpected += 1;
        return RaState::ClientWaiting;
    }
    let reply = vec![
        Attribute {
            kind: cfg::XAUTH_USER_NAME,
            value: AttrValue::Variable(client.user.as_bytes().to_vec()),
        },
        Attribute {
            kind: cfg::XAUTH_USER_PASSWORD,
            value: AttrValue::Variable(client.password.to_vec()),
        },
    ];
    let answer =
        ConfigAttributes { kind: cfg::REPLY, identifier: attrs.identifier, attributes: reply };
    if let Some((bytes, _)) = seal(sa, mid, answer, iv) {
        sa.send_answer(datagram, bytes);
    }
    RaState::ClientWaiting
}

/// Client: the server's XAUTH status.
fn client_status<R: CryptoRng + ?Sized>(
    sa: &mut Ikev1Sa,
    now: Time,
    mid: u32,
    attrs: &ConfigAttributes,
    iv: &[u8],
    datagram: &[u8],
    rng: &mut R,
) -> RaState {
    let status = basic(&attrs.attributes, cfg::XAUTH_STATUS).unwrap_or(0);
    let ack = ConfigAttributes {
        kind: cfg::ACK,
        identifier: attrs.identifier,
        attributes: vec![Attribute::basic(cfg::XAUTH_STATUS, status)],
    };
    if let Some((bytes, _)) = seal(sa, mid, ack, iv) {
        sa.send_answer(datagram, bytes);
    }
    if status != 1 {
        sa.fail(FailureCause::AuthenticationFailed(
            "XAUTH: the server rejected our credentials".into(),
        ));
        return RaState::Idle;
    }
    let wants_config =
        matches!(&sa.cfg.remote_access, Some(RemoteAccess::Client(c)) if c.mode_config);
    if !wants_config {
        sa.ra = RaState::ClientDone { addr: None };
        quick::start(sa, now, None, rng);
        return core::mem::take(&mut sa.ra);
    }
    let request = vec![
        Attribute { kind: cfg::INTERNAL_IP4_ADDRESS, value: AttrValue::Variable(Vec::new()) },
        Attribute { kind: cfg::INTERNAL_IP4_NETMASK, value: AttrValue::Variable(Vec::new()) },
        Attribute { kind: cfg::INTERNAL_IP4_DNS, value: AttrValue::Variable(Vec::new()) },
    ];
    match send_new(sa, now, cfg::REQUEST, request, rng) {
        Some(out) => RaState::ClientConfigRequested(out),
        None => RaState::Idle,
    }
}

/// The retransmission timer of our outstanding request or set.
pub(super) fn next_timeout(sa: &Ikev1Sa) -> Option<Time> {
    match &sa.ra {
        RaState::XauthRequested(o)
        | RaState::StatusSent { out: o, .. }
        | RaState::ClientConfigRequested(o) => o.rtx.poll_timeout(),
        _ => None,
    }
}

/// Retransmits; gives up (the SA fails) when the schedule runs out: a client that never
/// answers XAUTH holds no SA.
pub(super) fn handle_timeout(sa: &mut Ikev1Sa, now: Time) {
    let o = match &mut sa.ra {
        RaState::XauthRequested(o)
        | RaState::StatusSent { out: o, .. }
        | RaState::ClientConfigRequested(o) => o,
        _ => return,
    };
    match o.rtx.on_timeout(now) {
        Timeout::Wait => {}
        Timeout::Resend { .. } => {
            let bytes = o.bytes.clone();
            sa.stats.retransmits += 1;
            sa.send(bytes);
        }
        Timeout::GiveUp { sends, waited } => {
            sa.ra = RaState::Idle;
            sa.fail(FailureCause::PeerUnreachable { sends, waited });
        }
    }
}
