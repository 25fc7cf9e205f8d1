//! The IKE_AUTH exchange (RFC 7296 section 1.2): identities, AUTH (section 2.15: pre-shared
//! key or a certificate signature, each side as configured, see
//! [`AuthConfig`](super::config::AuthConfig)) and the first Child SA, all inside the SK
//! payload. A Child SA refused with NO_PROPOSAL_CHOSEN or TS_UNACCEPTABLE leaves the IKE SA
//! up (section 2.21.3); a failed AUTH ends it (section 2.21.2).
//!
//! With certificates the messages are (section 1.2, CERTREQ per section 3.7):
//!
//! ```text
//! initiator: IDi, [CERT+], [CERTREQ], [IDr], AUTH, SA, TSi, TSr
//! responder: IDr, [CERT+], AUTH, SA, TSi, TSr
//! ```
//!
//! CERT payloads go out whenever our side signs; a CERTREQ naming our CAs whenever the
//! peer must use a certificate (the responder's goes in its IKE_SA_INIT answer).

use rand_core::CryptoRng;

use crate::ikev2::proposal::Selected;
use crate::ikev2::wire::{
    AuthMethod, AuthRepr, CertRepr, CertReqRepr, ExchangeType, IdRepr, NotifyRepr, NotifyType,
    Payload, PayloadBody, PayloadType, TsRepr,
};
use crate::log::IKEV2_PROTOCOL;
use crate::pki::{CertRequest, HashAlg};
use crate::time::Time;

use super::auth::{AuthVerified, SignedOctets, psk_auth, verify};
use super::cert_auth;
use super::child::{self, ChildOffer, KeySource, allocate_spi};
use super::children::Origin;
use super::config::{LocalAuth, RemoteAuth};
use super::context::{Context, Inbound, State, error_notify};
use super::established::Established;
use super::events::{AuthInfo, Event, FailureCause, IkeSaInfo, ProtocolError};
use super::exchange::Purpose;
use super::keys::IkeKeys;
use super::protect::Opened;
use super::remote_access::{self, Served};

/// What IKE_SA_INIT leaves for IKE_AUTH.
pub(crate) struct AuthSetup {
    pub keys: IkeKeys,
    pub ike: Selected,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub message1: Vec<u8>,
    pub message2: Vec<u8>,
    pub nat_detected: bool,
    /// The hashes of the peer's SIGNATURE_HASH_ALGORITHMS (RFC 7427; empty if none).
    pub peer_hashes: Vec<HashAlg>,
    /// The peer's CERTREQs of IKE_SA_INIT (the responder's; the initiator's come with
    /// IKE_AUTH).
    pub peer_certreq: CertRequest,
}

/// The payloads of an opened IKE_AUTH message.
struct AuthPayloads<'a> {
    id: Option<&'a IdRepr>,
    auth: Option<&'a AuthRepr>,
    sa: Option<&'a crate::ikev2::wire::SaRepr>,
    tsi: Option<&'a TsRepr>,
    tsr: Option<&'a TsRepr>,
    certs: Vec<CertRepr>,
    certreqs: Vec<CertReqRepr>,
}

fn auth_payloads(o: &Opened, id_type: PayloadType) -> AuthPayloads<'_> {
    let mut a = AuthPayloads {
        id: None,
        auth: None,
        sa: None,
        tsi: None,
        tsr: None,
        certs: Vec::new(),
        certreqs: Vec::new(),
    };
    for p in &o.payloads {
        match p {
            Payload::Cert(c) => a.certs.push(c.clone()),
            Payload::CertReq(c) => a.certreqs.push(c.clone()),
            Payload::IdI(id) if id_type == PayloadType::IdI => a.id = a.id.or(Some(id)),
            Payload::IdR(id) if id_type == PayloadType::IdR => a.id = a.id.or(Some(id)),
            Payload::Auth(x) => a.auth = a.auth.or(Some(x)),
            Payload::Sa(x) => a.sa = a.sa.or(Some(x)),
            Payload::TsI(x) => a.tsi = a.tsi.or(Some(x)),
            Payload::TsR(x) => a.tsr = a.tsr.or(Some(x)),
            _ => {}
        }
    }
    a
}

/// Checks the peer's identity and AUTH, by pre-shared key or certificate as configured.
/// `Err` is the reason for AUTHENTICATION_FAILED.
fn authenticate(
    cx: &Context,
    setup: &AuthSetup,
    now: Time,
    o: &Opened,
    a: &AuthPayloads<'_>,
) -> Result<(IdRepr, AuthVerified, AuthInfo), String> {
    let id_type = if cx.initiator { PayloadType::IdR } else { PayloadType::IdI };
    let (Some(id), Some(auth), Some(id_body)) = (a.id, a.auth, o.raw_body(id_type)) else {
        return Err("no identity or AUTH payload".into());
    };
    if let Some(expected) = &cx.cfg.remote_id
        && expected != id
    {
        return Err(format!("peer identity {id} is not the configured {expected}"));
    }
    // The peer signs its own message of IKE_SA_INIT and our nonce.
    let (real_message, peer_nonce, sk_p) = if cx.initiator {
        (&setup.message2, &setup.ni, &setup.keys.sk_pr)
    } else {
        (&setup.message1, &setup.nr, &setup.keys.sk_pi)
    };
    let octets = SignedOctets { real_message, peer_nonce, sk_p, id_body };
    if let RemoteAuth::Certificate(pc) = &cx.cfg.auth.remote {
        let prf = setup.keys.prf;
        let (token, info) = cert_auth::verify_peer(pc, now, &a.certs, id, auth, &octets, prf)?;
        return Ok((id.clone(), token, info));
    }
    if auth.method != AuthMethod::SharedKeyMic {
        return Err(format!("auth method {} instead of PSK", auth.method));
    }
    let psk = cx.cfg.remote_psk(id);
    verify(setup.keys.prf, psk.as_bytes(), &octets, &auth.data)
        .map(|token| (id.clone(), token, AuthInfo::Psk))
        .ok_or_else(|| format!("AUTH of {id} does not verify"))
}

/// Our side of IKE_AUTH: the ID payload, CERT payloads (certificate authentication only)
/// and the AUTH payload.
struct OurAuth {
    id: Payload,
    certs: Vec<Payload>,
    auth: Payload,
    info: AuthInfo,
}

/// Makes our ID, CERT and AUTH payloads; `request` is what the peer's CERTREQs ask for.
/// `Err` says why we cannot authenticate (an identity that does not encode, a key no AUTH
/// method both sides support fits).
fn our_auth<R: CryptoRng + ?Sized>(
    cx: &Context,
    setup: &AuthSetup,
    request: &CertRequest,
    rng: &mut R,
) -> Result<OurAuth, String> {
    let (real_message, peer_nonce, sk_p) = if cx.initiator {
        (&setup.message1, &setup.nr, &setup.keys.sk_pi)
    } else {
        (&setup.message2, &setup.ni, &setup.keys.sk_pr)
    };
    let (id, certs, auth, info) = match &cx.cfg.auth.local {
        LocalAuth::Psk => {
            let id = cx.cfg.local_id.clone();
            let id_body =
                id.to_vec().map_err(|e| format!("local identity cannot be encoded: {e}"))?;
            let octets = SignedOctets { real_message, peer_nonce, sk_p, id_body: &id_body };
            let data = psk_auth(setup.keys.prf, cx.cfg.psk_local.as_bytes(), &octets);
            let auth = AuthRepr {
                method: AuthMethod::SharedKeyMic,
                algorithm_identifier: None,
                data: data.as_bytes().to_vec(),
            };
            (id, Vec::new(), auth, AuthInfo::Psk)
        }
        LocalAuth::Certificate(lc) => {
            let s = cert_auth::sign_ours(
                &cx.cfg.local_id,
                lc,
                request,
                &setup.peer_hashes,
                setup.keys.prf,
                real_message,
                peer_nonce,
                sk_p,
                rng,
            )?;
            (s.id, s.certs, s.auth, s.info)
        }
    };
    let id = if cx.initiator { Payload::IdI(id) } else { Payload::IdR(id) };
    Ok(OurAuth { id, certs, auth: Payload::Auth(auth), info })
}

/// IKEV2_MESSAGE_ID_SYNC_SUPPORTED (RFC 6311 section 3), if we are one unit of a failover
/// pair: then a unit that takes the IKE SA over may resynchronise the Message IDs.
fn mid_sync_supported(cx: &Context) -> Option<Payload> {
    cx.mid_sync.local.then(|| {
        Payload::Notify(NotifyRepr::new(super::ha_export::MESSAGE_ID_SYNC_SUPPORTED, vec![]))
    })
}

/// Whether the peer's IKE_AUTH message announces RFC 6311 support.
fn announces_mid_sync(payloads: &[Payload]) -> bool {
    payloads.iter().any(|p| {
        matches!(p, Payload::Notify(n)
            if n.notify_type == super::ha_export::MESSAGE_ID_SYNC_SUPPORTED)
    })
}

/// A CERTREQ naming our CAs, when the peer must authenticate with a certificate.
fn our_certreq(cx: &Context) -> Option<Payload> {
    match &cx.cfg.auth.remote {
        RemoteAuth::Certificate(pc) => Some(Payload::CertReq(pc.trust.certreq())),
        RemoteAuth::Psk => None,
    }
}

fn ike_info(
    cx: &Context,
    setup: &AuthSetup,
    peer_id: IdRepr,
    local_auth: AuthInfo,
    remote_auth: AuthInfo,
) -> IkeSaInfo {
    IkeSaInfo {
        spi_i: cx.spi_i,
        spi_r: cx.spi_r,
        initiator: cx.initiator,
        peer: cx.cfg.remote_addr,
        peer_id,
        transforms: setup.ike.clone(),
        nat_detected: setup.nat_detected,
        local_auth,
        remote_auth,
        virtual_ips: Vec::new(),
        internal_dns: Vec::new(),
        internal_domains: Vec::new(),
    }
}

fn key_source(setup: &AuthSetup, initiator: bool) -> KeySource<'_> {
    KeySource {
        prf: setup.keys.prf,
        sk_d: &setup.keys.sk_d,
        g_ir: None,
        ni: &setup.ni,
        nr: &setup.nr,
        initiator,
    }
}

/// Sends the initiator's IKE_AUTH request.
pub(crate) fn start<R: CryptoRng + ?Sized>(
    cx: &mut Context,
    now: Time,
    setup: AuthSetup,
    rng: &mut R,
) -> State {
    let spi_in = allocate_spi(cx.spis.as_mut(), rng);
    let offer = ChildOffer::first(&cx.cfg.child, spi_in);
    let ours = match our_auth(cx, &setup, &setup.peer_certreq, rng) {
        Ok(a) => a,
        Err(why) => {
            tracing::info!(target: IKEV2_PROTOCOL, peer = %cx.cfg.remote_addr,
                "cannot authenticate to the peer: {why}");
            return cx.fail(now, FailureCause::AuthenticationFailed(why));
        }
    };
    // IDi, [CERT+], [CERTREQ], [IDr], AUTH (section 1.2). IDr says which of the
    // responder's identities we want; after our AUTH would also do, but strongSwan and the
    // ASA expect it before.
    let mut payloads = vec![ours.id];
    payloads.extend(ours.certs);
    payloads.extend(our_certreq(cx));
    if let Some(id) = &cx.cfg.remote_id {
        payloads.push(Payload::IdR(id.clone()));
    }
    payloads.push(ours.auth);
    let local_auth = ours.info;
    // CP(CFG_REQUEST) between AUTH and SA (RFC 7296 section 3.15.3).
    payloads.extend(remote_access::client_request(cx));
    payloads.push(Payload::Sa(offer.sa()));
    payloads.push(Payload::TsI(TsRepr { selectors: offer.tsi.clone() }));
    payloads.push(Payload::TsR(TsRepr { selectors: offer.tsr.clone() }));
    payloads.extend(mid_sync_supported(cx));
    cx.request_encrypted(&setup.keys, now, ExchangeType::IkeAuth, &payloads, Purpose::Auth, rng);
    State::SentAuth(Box::new(ExpectAuthResponse { setup, offer, local_auth }))
}

/// The initiator after its IKE_AUTH request.
pub(crate) struct ExpectAuthResponse {
    setup: AuthSetup,
    offer: ChildOffer,
    /// How our request authenticated us.
    local_auth: AuthInfo,
}

impl ExpectAuthResponse {
    pub(crate) fn keys(&self) -> &IkeKeys {
        &self.setup.keys
    }

    pub fn handle_response<R: CryptoRng + ?Sized>(
        self: Box<Self>,
        cx: &mut Context,
        now: Time,
        msg: &Inbound<'_>,
        rng: &mut R,
    ) -> State {
        let o = match cx.open(&self.setup.keys, msg) {
            Ok(o) => o,
            Err(None) => return State::SentAuth(self),
            Err(Some(e)) => {
                return cx.fail(now, FailureCause::ProtocolError(ProtocolError::Malformed(e)));
            }
        };
        cx.requests.complete();
        cx.last_heard = now;
        cx.mid_sync.peer = announces_mid_sync(&o.payloads);
        let a = auth_payloads(&o, PayloadType::IdR);
        if a.auth.is_none() {
            let cause = match error_notify(&o.payloads) {
                Some(NotifyType::AuthenticationFailed) => {
                    FailureCause::AuthenticationFailed("peer rejected our AUTH".into())
                }
                Some(t) => FailureCause::ProtocolError(ProtocolError::ErrorNotify(t)),
                None => FailureCause::ProtocolError(ProtocolError::MissingPayload {
                    exchange: ExchangeType::IkeAuth,
                    payload: PayloadType::Auth,
                }),
            };
            return cx.fail(now, cause);
        }
        let (peer_id, token, remote_auth) = match authenticate(cx, &self.setup, now, &o, &a) {
            Ok(x) => x,
            Err(why) => {
                tracing::info!(target: IKEV2_PROTOCOL, peer = %cx.cfg.remote_addr,
                    "responder AUTH failed: {why}");
                // Tell the responder, which thinks the SA is up (section 2.21.2).
                let n =
                    [Payload::Notify(NotifyRepr::new(NotifyType::AuthenticationFailed, vec![]))];
                let keys = &self.setup.keys;
                cx.request_encrypted(
                    keys,
                    now,
                    ExchangeType::Informational,
                    &n,
                    Purpose::Notice,
                    rng,
                );
                return cx.fail(now, FailureCause::AuthenticationFailed(why));
            }
        };
        let mut info = ike_info(cx, &self.setup, peer_id, self.local_auth.clone(), remote_auth);
        let given = remote_access::client_reply(cx, &o.payloads);
        (info.virtual_ips, info.internal_dns, info.internal_domains) =
            (given.addrs, given.dns, given.domains);
        cx.events.push_back(Event::Established(info.clone()));
        // The Child SA's outcome: installed, or refused (and to delete if the responder
        // installed it, section 2.9).
        let mut up = None;
        let mut delete = None;
        match (a.sa, a.tsi, a.tsr) {
            (Some(sa), Some(tsi), Some(tsr)) => {
                match self.offer.accept(sa, &tsi.selectors, &tsr.selectors) {
                    Ok((selected, ts)) => {
                        let ks = key_source(&self.setup, true);
                        let spi_in = self.offer.spi_in;
                        match child::install(&token, ts, selected, spi_in, &ks, &cx.cfg.child, None)
                        {
                            Ok(c) => up = Some(c),
                            Err(e) => {
                                delete = Some(spi_in);
                                let cause = FailureCause::ProtocolError(e);
                                cx.events.push_back(Event::ChildSaFailed(cause));
                            }
                        }
                    }
                    Err(cause) => {
                        tracing::debug!(target: IKEV2_PROTOCOL, "Child SA refused: {cause}");
                        delete = Some(self.offer.spi_in);
                        cx.events.push_back(Event::ChildSaFailed(cause));
                    }
                }
            }
            _ => {
                let cause = match error_notify(&o.payloads) {
                    Some(NotifyType::NoProposalChosen) => {
                        let ours: Vec<String> =
                            self.offer.proposals.iter().map(ToString::to_string).collect();
                        FailureCause::NoProposalChosen(format!(
                            "peer chose none of our ESP offer [{}]",
                            ours.join(", ")
                        ))
                    }
                    Some(NotifyType::TsUnacceptable) => FailureCause::TsUnacceptable,
                    Some(NotifyType::InternalAddressFailure) => {
                        FailureCause::InternalAddressFailure(
                            "the responder assigned us no address".into(),
                        )
                    }
                    Some(t) => FailureCause::ProtocolError(ProtocolError::ErrorNotify(t)),
                    None => FailureCause::ProtocolError(ProtocolError::MissingPayload {
                        exchange: ExchangeType::IkeAuth,
                        payload: PayloadType::Sa,
                    }),
                };
                cx.events.push_back(Event::ChildSaFailed(cause));
            }
        }
        let this = *self;
        let origin = Origin { ni: this.setup.ni, nr: this.setup.nr, we_initiated: true };
        let mut est = Established::new(this.setup.keys, token, info, now);
        est.origin = Some(origin.clone());
        if let Some(c) = up {
            est.add_child(now, &c, cx.cfg.child.clone(), Some(origin), rng);
            cx.events.push_back(Event::ChildSaUp(c));
        }
        if let Some(spi) = delete {
            est.queue_delete_child(spi);
        }
        Box::new(est).start(cx, now, rng)
    }
}

/// The responder after its IKE_SA_INIT answer.
pub(crate) struct ExpectAuthRequest {
    setup: AuthSetup,
    /// Half-open SAs are given up after the peer's whole retransmission schedule.
    deadline: Time,
}

impl ExpectAuthRequest {
    pub(crate) fn keys(&self) -> &IkeKeys {
        &self.setup.keys
    }

    pub fn new(cx: &Context, now: Time, setup: AuthSetup) -> ExpectAuthRequest {
        ExpectAuthRequest { setup, deadline: now + cx.drain_time() }
    }

    pub fn deadline(&self) -> Time {
        self.deadline
    }

    pub fn handle_timeout(self: Box<Self>, cx: &mut Context, now: Time) -> State {
        if now < self.deadline {
            return State::WaitAuth(self);
        }
        let waited = now.since(self.deadline) + cx.drain_time();
        cx.fail(now, FailureCause::PeerUnreachable { sends: 1, waited })
    }

    pub fn handle_request<R: CryptoRng + ?Sized>(
        self: Box<Self>,
        cx: &mut Context,
        now: Time,
        msg: &Inbound<'_>,
        rng: &mut R,
    ) -> State {
        if msg.header.exchange_type != ExchangeType::IkeAuth {
            cx.stats.unexpected += 1;
            return State::WaitAuth(self);
        }
        let keys = &self.setup.keys;
        let o = match cx.open(keys, msg) {
            Ok(o) => o,
            Err(None) => return State::WaitAuth(self),
            Err(Some(e)) => {
                let n = [Payload::Notify(NotifyRepr::new(NotifyType::InvalidSyntax, vec![]))];
                cx.answer_encrypted(keys, msg, &n, rng);
                return cx.fail(now, FailureCause::ProtocolError(ProtocolError::Malformed(e)));
            }
        };
        cx.stats.requests_processed += 1;
        cx.last_heard = now;
        cx.mid_sync.peer = announces_mid_sync(&o.payloads);
        let a = auth_payloads(&o, PayloadType::IdI);
        let (peer_id, token, remote_auth) = match authenticate(cx, &self.setup, now, &o, &a) {
            Ok(x) => x,
            Err(why) => {
                tracing::info!(target: IKEV2_PROTOCOL, peer = %cx.cfg.remote_addr,
                    "initiator AUTH failed: {why}");
                let n =
                    [Payload::Notify(NotifyRepr::new(NotifyType::AuthenticationFailed, vec![]))];
                cx.answer_encrypted(keys, msg, &n, rng);
                return cx.fail(now, FailureCause::AuthenticationFailed(why));
            }
        };
        let request = CertRequest::from_payloads(&a.certreqs);
        let ours = match our_auth(cx, &self.setup, &request, rng) {
            Ok(x) => x,
            Err(why) => {
                // The peer is authentic but we cannot prove who we are: it must not wait
                // for an AUTH that never comes.
                tracing::info!(target: IKEV2_PROTOCOL, peer = %cx.cfg.remote_addr,
                    "cannot authenticate to the peer: {why}");
                let n =
                    [Payload::Notify(NotifyRepr::new(NotifyType::AuthenticationFailed, vec![]))];
                cx.answer_encrypted(keys, msg, &n, rng);
                return cx.fail(now, FailureCause::AuthenticationFailed(why));
            }
        };
        // IDr, [CERT+], AUTH (section 1.2).
        let mut payloads = vec![ours.id];
        payloads.extend(ours.certs);
        payloads.push(ours.auth);
        let local_auth = ours.info;
        let mut child_sa = None;
        let mut child_failed = None;
        // Remote access: CP(CFG_REPLY) after AUTH (section 3.15.3), the client's side of
        // the Child SA narrowed to its address; without one, no Child SA.
        let mut given = remote_access::Given::default();
        let mut refused = None;
        match remote_access::serve(cx, &peer_id, &o.payloads) {
            Served::SiteToSite => {}
            Served::Assigned { reply, given: g } => {
                payloads.push(reply);
                given = g;
            }
            Served::Refused { notify, cause } => refused = Some((notify, cause)),
        }
        let auth_len = payloads.len();
        match (a.sa, a.tsi, a.tsr) {
            (Some(_), Some(_), Some(_)) if refused.is_some() => {
                if let Some((notify, cause)) = refused {
                    payloads.push(Payload::Notify(NotifyRepr::new(notify, vec![])));
                    child_failed = Some(cause);
                }
            }
            (Some(sa), Some(tsi), Some(tsr)) => {
                match child::respond(&cx.cfg.child, sa, &tsi.selectors, &tsr.selectors) {
                    Ok((selected, ts)) => {
                        let spi_in = allocate_spi(cx.spis.as_mut(), rng);
                        payloads.push(Payload::Sa(selected.to_wire(&spi_in.to_be_bytes())));
                        payloads.push(Payload::TsI(TsRepr { selectors: ts.remote().to_vec() }));
                        payloads.push(Payload::TsR(TsRepr { selectors: ts.local().to_vec() }));
                        let ks = key_source(&self.setup, false);
                        match child::install(&token, ts, selected, spi_in, &ks, &cx.cfg.child, None)
                        {
                            Ok(c) => child_sa = Some(c),
                            Err(e) => {
                                payloads.truncate(auth_len);
                                payloads.push(Payload::Notify(NotifyRepr::new(
                                    NotifyType::NoProposalChosen,
                                    vec![],
                                )));
                                child_failed = Some(FailureCause::ProtocolError(e));
                            }
                        }
                    }
                    Err((notify, cause)) => {
                        tracing::debug!(target: IKEV2_PROTOCOL, "Child SA refused: {cause}");
                        payloads.push(Payload::Notify(NotifyRepr::new(notify, vec![])));
                        child_failed = Some(cause);
                    }
                }
            }
            _ => {
                child_failed = Some(FailureCause::ProtocolError(ProtocolError::MissingPayload {
                    exchange: ExchangeType::IkeAuth,
                    payload: PayloadType::Sa,
                }));
            }
        }
        payloads.extend(mid_sync_supported(cx));
        cx.answer_encrypted(keys, msg, &payloads, rng);
        let mut info = ike_info(cx, &self.setup, peer_id, local_auth, remote_auth);
        (info.virtual_ips, info.internal_dns, info.internal_domains) =
            (given.addrs, given.dns, given.domains);
        cx.events.push_back(Event::Established(info.clone()));
        let this = *self;
        let origin = Origin { ni: this.setup.ni, nr: this.setup.nr, we_initiated: false };
        let mut est = Established::new(this.setup.keys, token, info, now);
        est.origin = Some(origin.clone());
        if let Some(c) = child_sa {
            est.add_child(now, &c, cx.cfg.child.clone(), Some(origin), rng);
            cx.events.push_back(Event::ChildSaUp(c));
        }
        if let Some(cause) = child_failed {
            cx.events.push_back(Event::ChildSaFailed(cause));
        }
        Box::new(est).start(cx, now, rng)
    }
}
