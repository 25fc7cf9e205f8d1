//! The CREATE_CHILD_SA exchange (RFC 7296 section 1.3) on an established IKE SA, both ways:
//! a further Child SA (1.3.1), the rekeying of a Child SA (1.3.3, 2.8) and of the IKE SA
//! itself (1.3.2, 2.18), with their collisions (2.8.1, 2.8.2, 2.25).
//!
//! Rekeying is make-before-break. The initiator of a Child SA rekey reports the new pair
//! up when the answer arrives, the responder when it answers; then the initiator deletes
//! the old pair with an INFORMATIONAL, and each side reports it down when that exchange
//! completes. An IKE SA rekey makes a new generation (see
//! [`generation`](super::generation)) that inherits every Child SA; its initiator deletes
//! the old one.
//!
//! Collisions, as the RFC resolves them:
//! - both peers rekey the same Child SA (or the IKE SA) at once: each answers the other's
//!   request as usual, both new SAs come up, and the one whose exchange has the lowest of
//!   the four nonces is redundant: its initiator deletes it, and the initiator of the
//!   survivor deletes the old SA (2.8.1, 2.8.2);
//! - one peer's rekey completed before the other's request arrived: the request is for an
//!   SA being deleted and gets TEMPORARY_FAILURE (2.25.1); once deleted, CHILD_SA_NOT_FOUND;
//! - a rekey of an SA we are deleting, or any CREATE_CHILD_SA while we delete the IKE SA,
//!   gets TEMPORARY_FAILURE (2.25); so does an IKE SA rekey while a CREATE_CHILD_SA of ours
//!   is in flight (its answer would belong to the old SA), as strongSwan does;
//! - TEMPORARY_FAILURE answers to our requests are retried after a random 2 to 4 s, if the
//!   request still makes sense then.

use core::time::Duration;

use rand_core::CryptoRng;

use crate::crypto::DhPrivate;
use crate::ikev2::proposal::{accept_choice, select};
use crate::ikev2::wire::{
    DhGroup, ExchangeType, KeRepr, NonceRepr, NotifyRepr, NotifyType, Payload, PayloadType,
    Proposal, ProtocolId, SaRepr, TsRepr,
};
use crate::log::IKEV2_PROTOCOL;
use crate::time::Time;

use super::child::{
    self, ChildOffer, KeySource, allocate_spi, offer_proposals, offers_group, pfs_group,
};
use super::children::{ChildState, Origin, ours_redundant};
use super::config::ChildConfig;
use super::context::{Context, Inbound};
use super::established::{Established, Queued};
use super::events::{Event, FailureCause, ProtocolError};
use super::exchange::Purpose;
use super::generation::{Fate, NewGen};
use super::init::nonce;
use super::keys::{IkeAlgs, IkeKeys, crypto_group};
use super::random_ike_spi;

/// The most Child SA pairs one IKE SA holds; a request for another gets NO_ADDITIONAL_SAS
/// (section 1.3). Rekeying is not limited (its new pair replaces one).
pub(crate) const MAX_CHILD_SAS: usize = 64;

/// How often a request answered TEMPORARY_FAILURE is tried again before giving up.
const MAX_ATTEMPTS: u8 = 8;

/// The wait before trying again after TEMPORARY_FAILURE: 2 s and a random up-to-2 s, so
/// that two peers refusing each other do not retry in lock step.
fn retry_delay<R: CryptoRng + ?Sized>(rng: &mut R) -> Duration {
    Duration::from_millis(2000 + rng.next_u64() % 2001)
}

/// What one of our CREATE_CHILD_SA exchanges is for.
#[derive(Debug, Clone)]
pub(crate) enum CreateKind {
    /// Rekey the Child SA with this inbound SPI.
    RekeyChild(u32),
    /// A further Child SA under this policy.
    NewChild(Box<ChildConfig>),
    /// Rekey the IKE SA.
    RekeyIke,
}

impl CreateKind {
    /// Whether two requests would do the same (two new Child SAs never do).
    pub fn same(&self, other: &CreateKind) -> bool {
        match (self, other) {
            (CreateKind::RekeyChild(a), CreateKind::RekeyChild(b)) => a == b,
            (CreateKind::RekeyIke, CreateKind::RekeyIke) => true,
            _ => false,
        }
    }

    fn is_child(&self) -> bool {
        !matches!(self, CreateKind::RekeyIke)
    }
}

/// A CREATE_CHILD_SA of ours, queued or to be retried.
#[derive(Debug, Clone)]
pub(crate) struct CreateReq {
    pub kind: CreateKind,
    /// The KE group the peer asked for with INVALID_KE_PAYLOAD, instead of our first.
    pub group: Option<DhGroup>,
    /// Sends so far that the peer refused with TEMPORARY_FAILURE.
    pub attempts: u8,
    pub ke_retried: bool,
}

impl CreateReq {
    pub fn new(kind: CreateKind) -> CreateReq {
        CreateReq { kind, group: None, attempts: 0, ke_retried: false }
    }
}

/// Both new SAs of a simultaneous rekey exist once our answer comes: what we need then to
/// tell which is redundant.
struct Collision {
    /// The peer's request's nonce and our answer's.
    peer_ni: Vec<u8>,
    our_nr: Vec<u8>,
    theirs: Theirs,
}

/// The SA the peer's crossing rekey made.
enum Theirs {
    /// Its inbound SPI (ours).
    Child(u32),
    /// Its generation's SPIs.
    Ike { spi_i: u64, spi_r: u64 },
}

enum OutKind {
    Child { offer: ChildOffer, cfg: ChildConfig, rekey_of: Option<u32> },
    Ike { sent: Vec<Proposal>, spi: u64 },
}

/// Our CREATE_CHILD_SA in flight, with the secrets its answer needs.
pub(crate) struct Outgoing {
    pub req: CreateReq,
    ni: Vec<u8>,
    dh: Option<DhPrivate>,
    what: OutKind,
    collision: Option<Collision>,
}

impl Outgoing {
    pub fn is_ike(&self) -> bool {
        matches!(self.what, OutKind::Ike { .. })
    }

    fn rekeys_child(&self, inbound: u32) -> bool {
        matches!(self.req.kind, CreateKind::RekeyChild(x) if x == inbound)
    }
}

/// The payloads a CREATE_CHILD_SA message may carry (the first of each).
#[derive(Default)]
struct CreatePayloads<'a> {
    sa: Option<&'a SaRepr>,
    nonce: Option<&'a NonceRepr>,
    ke: Option<&'a KeRepr>,
    tsi: Option<&'a TsRepr>,
    tsr: Option<&'a TsRepr>,
    rekey: Option<&'a NotifyRepr>,
}

impl<'a> CreatePayloads<'a> {
    fn of(payloads: &'a [Payload]) -> CreatePayloads<'a> {
        let mut c = CreatePayloads::default();
        for p in payloads {
            match p {
                Payload::Sa(x) => c.sa = c.sa.or(Some(x)),
                Payload::Nonce(x) => c.nonce = c.nonce.or(Some(x)),
                Payload::Ke(x) => c.ke = c.ke.or(Some(x)),
                Payload::TsI(x) => c.tsi = c.tsi.or(Some(x)),
                Payload::TsR(x) => c.tsr = c.tsr.or(Some(x)),
                Payload::Notify(n) if n.notify_type == NotifyType::RekeySa => {
                    c.rekey = c.rekey.or(Some(n));
                }
                _ => {}
            }
        }
        c
    }
}

fn missing(payload: PayloadType) -> ProtocolError {
    ProtocolError::MissingPayload { exchange: ExchangeType::CreateChildSa, payload }
}

fn notify(t: NotifyType) -> Vec<Payload> {
    vec![Payload::Notify(NotifyRepr::new(t, vec![]))]
}

fn spi8(spi: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(spi).ok().map(u64::from_be_bytes).filter(|&s| s != 0)
}

fn ke_payload(dh: &DhPrivate) -> Payload {
    Payload::Ke(KeRepr { group: DhGroup::from(dh.group().iana()), data: dh.public().to_vec() })
}

fn generate<R: CryptoRng + ?Sized>(
    cx: &Context,
    group: DhGroup,
    rng: &mut R,
) -> Result<DhPrivate, ProtocolError> {
    crypto_group(group)?.generate(rng, cx.cfg.weak()).map_err(ProtocolError::KeyExchange)
}

/// Our request: its payloads and what its answer needs.
struct Built {
    payloads: Vec<Payload>,
    what: OutKind,
    ni: Vec<u8>,
    dh: Option<DhPrivate>,
}

/// The new IKE SA generation our rekey request and the answer make (section 2.18).
fn derive_new_ike(
    old: &IkeKeys,
    sent: &[Proposal],
    our_spi: u64,
    dh: Option<DhPrivate>,
    ni: &[u8],
    payloads: &[Payload],
) -> Result<(NewGen, Vec<u8>), ProtocolError> {
    let p = CreatePayloads::of(payloads);
    let sa = p.sa.ok_or(missing(PayloadType::Sa))?;
    let nr = p.nonce.ok_or(missing(PayloadType::Nonce))?;
    let ke = p.ke.ok_or(missing(PayloadType::Ke))?;
    let dh = dh.ok_or_else(|| ProtocolError::Unsupported("IKE SA rekey without KE".into()))?;
    let selected = accept_choice(sent, sa).map_err(|e| ProtocolError::BadChoice(e.to_string()))?;
    let ours = dh.group().iana();
    if selected.dh.map(u16::from) != Some(ours) || u16::from(ke.group) != ours {
        return Err(ProtocolError::KeGroupMismatch { expected: ours, got: ke.group.into() });
    }
    let peer_spi = spi8(&selected.spi)
        .ok_or_else(|| ProtocolError::BadChoice("IKE SA rekey answer without an SPI".into()))?;
    let g_ir = dh.shared_secret(&ke.data).map_err(ProtocolError::KeyExchange)?;
    let algs = IkeAlgs::from_selected(&selected)?;
    let keys = old.rekey(algs, &g_ir, ni, &nr.data, our_spi, peer_spi, true)?;
    let new = NewGen { spi_i: our_spi, spi_r: peer_spi, initiator: true, keys, ike: selected };
    Ok((new, nr.data.clone()))
}

impl Established {
    /// Sends one of our CREATE_CHILD_SA requests, if it still makes sense.
    pub(super) fn start_create<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        now: Time,
        req: CreateReq,
        rng: &mut R,
    ) {
        let built = match &req.kind {
            CreateKind::RekeyChild(old) => {
                let Some(c) = self.child(*old).filter(|c| c.state == ChildState::Installed) else {
                    tracing::debug!(target: IKEV2_PROTOCOL, "Child SA {old:08x}: nothing to rekey");
                    return;
                };
                let (cfg, tsi, tsr) = (c.cfg.clone(), c.local_ts.clone(), c.remote_ts.clone());
                self.build_child(cx, &req, cfg, Some(*old), tsi, tsr, rng)
            }
            CreateKind::NewChild(cfg) => {
                let cfg = ChildConfig::clone(cfg);
                let (tsi, tsr) = (cfg.selectors.local.clone(), cfg.selectors.remote.clone());
                self.build_child(cx, &req, cfg, None, tsi, tsr, rng)
            }
            CreateKind::RekeyIke => self.build_ike(cx, &req, rng),
        };
        let b = match built {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(target: IKEV2_PROTOCOL, "cannot start CREATE_CHILD_SA: {e}");
                if req.kind.is_child() {
                    cx.events.push_back(Event::ChildSaFailed(FailureCause::ProtocolError(e)));
                }
                return;
            }
        };
        let keys = &self.keys;
        let (x, p) = (ExchangeType::CreateChildSa, Purpose::CreateChildSa);
        cx.request_encrypted(keys, now, x, &b.payloads, p, rng);
        if cx.requests.is_idle() {
            // Not built (an internal error, counted): nothing is in flight.
            return;
        }
        self.ccs = Some(Outgoing { req, ni: b.ni, dh: b.dh, what: b.what, collision: None });
    }

    /// SA, Ni, [KEi], TSi, TSr, with N(REKEY_SA) first for a rekey (section 1.3.1, 1.3.3).
    #[allow(clippy::too_many_arguments)]
    fn build_child<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        req: &CreateReq,
        cfg: ChildConfig,
        rekey_of: Option<u32>,
        tsi: Vec<crate::ikev2::wire::TrafficSelector>,
        tsr: Vec<crate::ikev2::wire::TrafficSelector>,
        rng: &mut R,
    ) -> Result<Built, ProtocolError> {
        let group = req.group.or_else(|| pfs_group(&cfg));
        let dh = group.map(|g| generate(cx, g, rng)).transpose()?;
        let spi_in = allocate_spi(cx.spis.as_mut(), rng);
        let offer = ChildOffer::create(&cfg, spi_in, tsi, tsr);
        let ni = nonce(rng);
        let mut payloads = Vec::new();
        if let Some(old) = rekey_of {
            // The SPI "the exchange initiator would expect in inbound ESP" (1.3.3).
            payloads.push(Payload::Notify(NotifyRepr {
                protocol: ProtocolId::Esp,
                spi: old.to_be_bytes().to_vec(),
                notify_type: NotifyType::RekeySa,
                data: vec![],
            }));
        }
        payloads.push(Payload::Sa(offer.sa()));
        payloads.push(Payload::Nonce(NonceRepr { data: ni.clone() }));
        payloads.extend(dh.as_ref().map(ke_payload));
        payloads.push(Payload::TsI(TsRepr { selectors: offer.tsi.clone() }));
        payloads.push(Payload::TsR(TsRepr { selectors: offer.tsr.clone() }));
        tracing::debug!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i,
            "CREATE_CHILD_SA for {} (SPI {spi_in:08x}, PFS {group:?})",
            rekey_of.map_or("a new Child SA".to_string(), |o| format!("rekeying {o:08x}")));
        Ok(Built { payloads, what: OutKind::Child { offer, cfg, rekey_of }, ni, dh })
    }

    /// SA (with our new SPI), Ni, KEi (section 1.3.2), KE in the current SA's group.
    fn build_ike<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        req: &CreateReq,
        rng: &mut R,
    ) -> Result<Built, ProtocolError> {
        let group = req
            .group
            .or(self.info.transforms.dh)
            .or_else(|| cx.cfg.ike_proposals.iter().find_map(|p| p.dh.first().copied()))
            .ok_or_else(|| ProtocolError::Unsupported("no DH group for the IKE SA".into()))?;
        let dh = generate(cx, group, rng)?;
        let spi = random_ike_spi(rng);
        let sent = offer_proposals(&cx.cfg.ike_proposals, &spi.to_be_bytes());
        let ni = nonce(rng);
        let payloads = vec![
            Payload::Sa(SaRepr { proposals: sent.clone() }),
            Payload::Nonce(NonceRepr { data: ni.clone() }),
            ke_payload(&dh),
        ];
        tracing::debug!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i, "rekeying the IKE SA ({spi:016x})");
        Ok(Built { payloads, what: OutKind::Ike { sent, spi }, ni, dh: Some(dh) })
    }

    /// The answer to our CREATE_CHILD_SA, on the current generation.
    pub(super) fn create_response<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        now: Time,
        payloads: &[Payload],
        rng: &mut R,
    ) {
        let Some(out) = self.ccs.take() else { return };
        if out.is_ike() {
            self.ike_rekey_answer(cx, now, out, payloads, None, rng);
        } else {
            self.child_answer(cx, now, out, payloads, rng);
        }
    }

    /// The peer refused our request with `n`.
    fn refused<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        now: Time,
        mut req: CreateReq,
        n: &NotifyRepr,
        offer: Option<(&ChildOffer, &ChildConfig)>,
        rng: &mut R,
    ) {
        tracing::debug!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i, "CREATE_CHILD_SA refused: {n}");
        let cause = match n.notify_type {
            NotifyType::TemporaryFailure if req.attempts + 1 < MAX_ATTEMPTS => {
                req.attempts += 1;
                self.retries.push((now + retry_delay(rng), req));
                return;
            }
            NotifyType::InvalidKePayload => {
                let offered = |g: DhGroup| match offer {
                    Some((_, cfg)) => offers_group(cfg, g),
                    None => cx.cfg.ike_proposals.iter().any(|p| p.dh.contains(&g)),
                };
                match n.invalid_ke_group() {
                    Some(g) if !req.ke_retried && offered(g) => {
                        // The same exchange again at once, KE in the group asked for
                        // (section 1.3); the answer never installed anything.
                        req.group = Some(g);
                        req.ke_retried = true;
                        self.queue.push_front(Queued::Create(req));
                        return;
                    }
                    g => FailureCause::InvalidKe { requested: g.map_or(0, u16::from) },
                }
            }
            NotifyType::ChildSaNotFound => {
                // The peer deleted the pair; its DELETE came or comes.
                return;
            }
            NotifyType::NoProposalChosen => {
                let ours: Vec<String> = offer
                    .map(|(o, _)| o.proposals.iter().map(ToString::to_string).collect())
                    .unwrap_or_default();
                FailureCause::NoProposalChosen(format!(
                    "peer chose none of our offer [{}]",
                    ours.join(", ")
                ))
            }
            NotifyType::TsUnacceptable => FailureCause::TsUnacceptable,
            t => FailureCause::ProtocolError(ProtocolError::ErrorNotify(t)),
        };
        if req.kind.is_child() {
            cx.events.push_back(Event::ChildSaFailed(cause));
        } else {
            // The current IKE SA stays until its hard lifetime.
            tracing::warn!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i, "IKE SA rekey failed: {cause}");
        }
    }

    /// The answer to our request for a new or rekeyed Child SA.
    fn child_answer<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        now: Time,
        out: Outgoing,
        payloads: &[Payload],
        rng: &mut R,
    ) {
        let Outgoing { req, ni, dh, what, collision } = out;
        let OutKind::Child { offer, cfg, rekey_of } = what else { return };
        if let Some(n) = payloads.iter().find_map(|p| match p {
            Payload::Notify(n) if n.notify_type.is_error() => Some(n),
            _ => None,
        }) {
            self.refused(cx, now, req, n, Some((&offer, &cfg)), rng);
            return;
        }
        let installed = (|| {
            let p = CreatePayloads::of(payloads);
            let protocol = |e| FailureCause::ProtocolError(e);
            let sa = p.sa.ok_or(missing(PayloadType::Sa)).map_err(protocol)?;
            let nr = p.nonce.ok_or(missing(PayloadType::Nonce)).map_err(protocol)?;
            let tsi = p.tsi.ok_or(missing(PayloadType::TsI)).map_err(protocol)?;
            let tsr = p.tsr.ok_or(missing(PayloadType::TsR)).map_err(protocol)?;
            let (selected, ts) = offer.accept(sa, &tsi.selectors, &tsr.selectors)?;
            let g_ir = match (selected.dh, &dh) {
                (None, _) => None,
                (Some(g), Some(d)) if u16::from(g) == d.group().iana() => {
                    let ke =
                        p.ke.filter(|k| k.group == g).ok_or(protocol(missing(PayloadType::Ke)))?;
                    Some(
                        d.shared_secret(&ke.data)
                            .map_err(|e| protocol(ProtocolError::KeyExchange(e)))?,
                    )
                }
                (Some(g), d) => {
                    let expected = d.as_ref().map_or(0, |d| d.group().iana());
                    return Err(protocol(ProtocolError::KeGroupMismatch {
                        expected,
                        got: g.into(),
                    }));
                }
            };
            let ks = KeySource {
                prf: self.keys.prf,
                sk_d: &self.keys.sk_d,
                g_ir: g_ir.as_ref(),
                ni: &ni,
                nr: &nr.data,
                initiator: true,
            };
            let c = child::install(&self.auth, ts, selected, offer.spi_in, &ks, &cfg, rekey_of)
                .map_err(protocol)?;
            Ok::<_, FailureCause>((c, nr.data.clone()))
        })();
        let (c, nr) = match installed {
            Ok(x) => x,
            Err(cause) => {
                tracing::debug!(target: IKEV2_PROTOCOL, "CREATE_CHILD_SA answer refused: {cause}");
                cx.events.push_back(Event::ChildSaFailed(cause));
                // The responder installed its half: delete it (section 2.9 does the same
                // for IKE_AUTH).
                self.queue_delete_child(offer.spi_in);
                return;
            }
        };
        let new_in = c.inbound_spi;
        tracing::info!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i,
            "Child SA {:08x}/{:08x} up{}", c.inbound_spi, c.outbound_spi,
            rekey_of.map_or(String::new(), |o| format!(", rekeying {o:08x}")));
        let origin = Origin { ni: ni.clone(), nr: nr.clone(), we_initiated: true };
        self.add_child(now, &c, cfg, Some(origin), rng);
        cx.events.push_back(Event::ChildSaUp(c));
        let Some(old) = rekey_of else { return };
        match collision {
            Some(Collision { peer_ni, our_nr, theirs: Theirs::Child(z) }) => {
                if ours_redundant(&ni, &nr, &peer_ni, &our_nr) {
                    // Ours is redundant: we made it, we delete it. The peer's replaces the
                    // old pair, which the peer deletes.
                    tracing::debug!(target: IKEV2_PROTOCOL, "simultaneous rekey: {new_in:08x} redundant");
                    self.start_delete_child(new_in);
                } else {
                    // The peer's is redundant (the peer deletes it); ours replaces the old
                    // pair, and we delete that.
                    tracing::debug!(target: IKEV2_PROTOCOL, "simultaneous rekey: {z:08x} redundant");
                    if let Some(zc) = self.child_mut(z).filter(|c| c.state == ChildState::Installed)
                    {
                        zc.state = ChildState::Replaced;
                        zc.soft = None;
                    }
                    self.start_delete_child(old);
                }
            }
            _ => self.start_delete_child(old),
        }
    }

    /// The answer to our IKE SA rekey, on the current generation (`via` `None`) or on old
    /// generation `via` (the peer's rekey crossed ours and we answered it first).
    pub(super) fn ike_rekey_answer<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        now: Time,
        out: Outgoing,
        payloads: &[Payload],
        via: Option<usize>,
        rng: &mut R,
    ) {
        let Outgoing { req, ni, dh, what, collision } = out;
        let OutKind::Ike { sent, spi } = what else { return };
        if let Some(n) = payloads.iter().find_map(|p| match p {
            Payload::Notify(n) if n.notify_type.is_error() => Some(n),
            _ => None,
        }) {
            if via.is_none() {
                self.refused(cx, now, req, n, None, rng);
            } else {
                // A newer generation (the peer's) exists already: nothing to retry.
                tracing::debug!(target: IKEV2_PROTOCOL, "crossed IKE SA rekey refused: {n}");
            }
            return;
        }
        let old_keys = match via {
            None => &self.keys,
            Some(i) => match self.old.get(i) {
                Some(g) => &g.keys,
                None => return,
            },
        };
        let (new, nr) = match derive_new_ike(old_keys, &sent, spi, dh, &ni, payloads) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i, "IKE SA rekey failed: {e}");
                return;
            }
        };
        let until = now + cx.drain_time();
        match (collision, via) {
            (
                Some(Collision { peer_ni, our_nr, theirs: Theirs::Ike { spi_i, spi_r } }),
                Some(i),
            ) => {
                if ours_redundant(&ni, &nr, &peer_ni, &our_nr) {
                    // Ours is redundant: we delete it; the peer's (current) survives and the
                    // peer deletes the old one.
                    tracing::debug!(target: IKEV2_PROTOCOL, "simultaneous IKE SA rekey: ours redundant");
                    self.old.push(new.into_old(Fate::WeDelete { sent: false }, until));
                } else {
                    tracing::debug!(target: IKEV2_PROTOCOL, "simultaneous IKE SA rekey: peer's redundant");
                    if cx.spi_i == spi_i && cx.spi_r == spi_r {
                        // The peer's becomes old; the peer deletes it.
                        self.promote(cx, now, new, Fate::PeerDeletes, rng);
                    } else {
                        // Something newer is current already: ours is moot.
                        self.old.push(new.into_old(Fate::WeDelete { sent: false }, until));
                    }
                    // We initiated the survivor: we delete the old one.
                    if let Some(g) = self.old.get_mut(i) {
                        g.fate = Fate::WeDelete { sent: false };
                    }
                }
            }
            (_, None) => self.promote(cx, now, new, Fate::WeDelete { sent: false }, rng),
            (_, Some(i)) => {
                self.promote(cx, now, new, Fate::PeerDeletes, rng);
                if let Some(g) = self.old.get_mut(i) {
                    g.fate = Fate::WeDelete { sent: false };
                }
            }
        }
        // The DELETEs go out with the next `send_next`.
    }

    /// The peer's CREATE_CHILD_SA request (on the current generation).
    pub(super) fn create_request<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        now: Time,
        msg: &Inbound<'_>,
        payloads: &[Payload],
        rng: &mut R,
    ) {
        let p = CreatePayloads::of(payloads);
        let (Some(sa), Some(ni)) = (p.sa, p.nonce) else {
            tracing::debug!(target: IKEV2_PROTOCOL, "CREATE_CHILD_SA without SA or nonce");
            cx.answer_encrypted(&self.keys, msg, &notify(NotifyType::InvalidSyntax), rng);
            return;
        };
        if self.closing(cx) {
            cx.answer_encrypted(&self.keys, msg, &notify(NotifyType::TemporaryFailure), rng);
            return;
        }
        if sa.proposals.iter().any(|pr| pr.protocol == ProtocolId::Ike) {
            self.ike_rekey_request(cx, now, msg, sa, &ni.data, p.ke, rng);
        } else {
            self.child_request(cx, now, msg, &p, sa, &ni.data, rng);
        }
    }

    /// The peer asks for a new Child SA or rekeys one.
    #[allow(clippy::too_many_arguments)]
    fn child_request<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        now: Time,
        msg: &Inbound<'_>,
        p: &CreatePayloads<'_>,
        sa: &SaRepr,
        ni: &[u8],
        rng: &mut R,
    ) {
        let (Some(tsi), Some(tsr)) = (p.tsi, p.tsr) else {
            cx.answer_encrypted(&self.keys, msg, &notify(NotifyType::InvalidSyntax), rng);
            return;
        };
        let (rekey_of, cfg) = match p.rekey {
            Some(n) => {
                let spi = <[u8; 4]>::try_from(n.spi.as_slice()).ok().map(u32::from_be_bytes);
                // REKEY_SA names the peer's inbound SPI: our outbound one.
                let found = spi
                    .filter(|_| n.protocol == ProtocolId::Esp)
                    .and_then(|s| self.children.iter().find(|c| c.outbound == s));
                let Some(c) = found else {
                    tracing::debug!(target: IKEV2_PROTOCOL, "rekey of an unknown Child SA: {n}");
                    let nf = NotifyRepr {
                        protocol: n.protocol,
                        spi: n.spi.clone(),
                        notify_type: NotifyType::ChildSaNotFound,
                        data: vec![],
                    };
                    cx.answer_encrypted(&self.keys, msg, &[Payload::Notify(nf)], rng);
                    return;
                };
                if c.state != ChildState::Installed {
                    // Being deleted, or replaced already (section 2.25.1).
                    tracing::debug!(target: IKEV2_PROTOCOL,
                        "rekey of Child SA {:08x} while {:?}: TEMPORARY_FAILURE", c.inbound, c.state);
                    cx.answer_encrypted(
                        &self.keys,
                        msg,
                        &notify(NotifyType::TemporaryFailure),
                        rng,
                    );
                    return;
                }
                (Some(c.inbound), c.cfg.clone())
            }
            None => {
                if self.children.len() >= MAX_CHILD_SAS {
                    cx.answer_encrypted(&self.keys, msg, &notify(NotifyType::NoAdditionalSas), rng);
                    return;
                }
                (None, cx.cfg.child.clone())
            }
        };
        let ke_group = p.ke.map(|k| k.group);
        let (selected, ts) =
            match child::respond_create(&cfg, sa, ke_group, &tsi.selectors, &tsr.selectors) {
                Ok(x) => x,
                Err((n, cause)) => {
                    tracing::debug!(target: IKEV2_PROTOCOL, "CREATE_CHILD_SA refused: {cause}");
                    cx.answer_encrypted(&self.keys, msg, &notify(n), rng);
                    cx.events.push_back(Event::ChildSaFailed(cause));
                    return;
                }
            };
        let pfs = match selected.dh {
            None => None,
            Some(g) => {
                let Some(ke) = p.ke.filter(|k| k.group == g) else {
                    // Section 1.3: the initiator retries with the group we want.
                    let n = NotifyRepr::new(
                        NotifyType::InvalidKePayload,
                        u16::from(g).to_be_bytes().to_vec(),
                    );
                    cx.answer_encrypted(&self.keys, msg, &[Payload::Notify(n)], rng);
                    return;
                };
                let shared = generate(cx, g, rng).and_then(|d| {
                    Ok((d.shared_secret(&ke.data).map_err(ProtocolError::KeyExchange)?, d))
                });
                match shared {
                    Ok(x) => Some(x),
                    Err(e) => {
                        tracing::debug!(target: IKEV2_PROTOCOL, "CREATE_CHILD_SA KE: {e}");
                        cx.answer_encrypted(
                            &self.keys,
                            msg,
                            &notify(NotifyType::InvalidSyntax),
                            rng,
                        );
                        return;
                    }
                }
            }
        };
        let nr = nonce(rng);
        let spi_in = allocate_spi(cx.spis.as_mut(), rng);
        let sa_answer = selected.to_wire(&spi_in.to_be_bytes());
        let ks = KeySource {
            prf: self.keys.prf,
            sk_d: &self.keys.sk_d,
            g_ir: pfs.as_ref().map(|x| &x.0),
            ni,
            nr: &nr,
            initiator: false,
        };
        let c = match child::install(&self.auth, ts, selected, spi_in, &ks, &cfg, rekey_of) {
            Ok(c) => c,
            Err(e) => {
                cx.answer_encrypted(&self.keys, msg, &notify(NotifyType::NoProposalChosen), rng);
                cx.events.push_back(Event::ChildSaFailed(FailureCause::ProtocolError(e)));
                return;
            }
        };
        let mut answer =
            vec![Payload::Sa(sa_answer), Payload::Nonce(NonceRepr { data: nr.clone() })];
        answer.extend(pfs.as_ref().map(|x| ke_payload(&x.1)));
        answer.push(Payload::TsI(TsRepr { selectors: c.remote_ts.clone() }));
        answer.push(Payload::TsR(TsRepr { selectors: c.local_ts.clone() }));
        cx.answer_encrypted(&self.keys, msg, &answer, rng);
        tracing::info!(target: IKEV2_PROTOCOL, spi_i = cx.spi_i,
            "Child SA {:08x}/{:08x} up (peer's request){}", c.inbound_spi, c.outbound_spi,
            rekey_of.map_or(String::new(), |o| format!(", rekeying {o:08x}")));
        let origin = Origin { ni: ni.to_vec(), nr: nr.clone(), we_initiated: false };
        self.add_child(now, &c, cfg, Some(origin), rng);
        cx.events.push_back(Event::ChildSaUp(c));
        let Some(old) = rekey_of else { return };
        // The peer initiated the replacement: it deletes the old pair (section 2.8).
        if let Some(oc) = self.child_mut(old) {
            oc.state = ChildState::Replaced;
            oc.soft = None;
        }
        match &mut self.ccs {
            Some(o) if o.rekeys_child(old) => {
                // Ours crossed it: both complete, the nonces decide (section 2.8.1).
                o.collision = Some(Collision {
                    peer_ni: ni.to_vec(),
                    our_nr: nr,
                    theirs: Theirs::Child(spi_in),
                });
            }
            _ => self.cancel_create(&CreateKind::RekeyChild(old)),
        }
    }

    /// The peer rekeys the IKE SA (section 1.3.2).
    #[allow(clippy::too_many_arguments)]
    fn ike_rekey_request<R: CryptoRng + ?Sized>(
        &mut self,
        cx: &mut Context,
        now: Time,
        msg: &Inbound<'_>,
        sa: &SaRepr,
        ni: &[u8],
        ke: Option<&KeRepr>,
        rng: &mut R,
    ) {
        if self.ccs.as_ref().is_some_and(|o| !o.is_ike()) {
            // Our Child SA exchange in flight belongs to this SA: not now.
            cx.answer_encrypted(&self.keys, msg, &notify(NotifyType::TemporaryFailure), rng);
            return;
        }
        let Some(ke) = ke else {
            cx.answer_encrypted(&self.keys, msg, &notify(NotifyType::InvalidSyntax), rng);
            return;
        };
        let selected = match select(&cx.cfg.ike_proposals, sa, Some(ke.group)) {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(target: IKEV2_PROTOCOL, "IKE SA rekey refused: {e}");
                cx.answer_encrypted(&self.keys, msg, &notify(NotifyType::NoProposalChosen), rng);
                return;
            }
        };
        let Some(group) = selected.dh else {
            cx.answer_encrypted(&self.keys, msg, &notify(NotifyType::NoProposalChosen), rng);
            return;
        };
        if group != ke.group {
            let n = NotifyRepr::new(
                NotifyType::InvalidKePayload,
                u16::from(group).to_be_bytes().to_vec(),
            );
            cx.answer_encrypted(&self.keys, msg, &[Payload::Notify(n)], rng);
            return;
        }
        let Some(peer_spi) = spi8(&selected.spi) else {
            cx.answer_encrypted(&self.keys, msg, &notify(NotifyType::InvalidSyntax), rng);
            return;
        };
        let made = (|| {
            let algs = IkeAlgs::from_selected(&selected)?;
            let dh = generate(cx, group, rng)?;
            let g_ir = dh.shared_secret(&ke.data).map_err(ProtocolError::KeyExchange)?;
            let nr = nonce(rng);
            let spi = random_ike_spi(rng);
            let keys = self.keys.rekey(algs, &g_ir, ni, &nr, peer_spi, spi, false)?;
            Ok::<_, ProtocolError>((dh, nr, spi, keys))
        })();
        let (dh, nr, spi, keys) = match made {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(target: IKEV2_PROTOCOL, "IKE SA rekey refused: {e}");
                cx.answer_encrypted(&self.keys, msg, &notify(NotifyType::NoProposalChosen), rng);
                return;
            }
        };
        let answer = [
            Payload::Sa(selected.to_wire(&spi.to_be_bytes())),
            Payload::Nonce(NonceRepr { data: nr.clone() }),
            ke_payload(&dh),
        ];
        cx.answer_encrypted(&self.keys, msg, &answer, rng);
        if let Some(o) = self.ccs.as_mut().filter(|o| o.is_ike()) {
            // Ours crossed it (section 2.8.2): both complete, the nonces decide.
            o.collision = Some(Collision {
                peer_ni: ni.to_vec(),
                our_nr: nr,
                theirs: Theirs::Ike { spi_i: peer_spi, spi_r: spi },
            });
        }
        self.cancel_create(&CreateKind::RekeyIke);
        let new = NewGen { spi_i: peer_spi, spi_r: spi, initiator: false, keys, ike: selected };
        self.promote(cx, now, new, Fate::PeerDeletes, rng);
    }
}
