//! The IKE_SA_INIT exchange (RFC 7296 section 1.2): proposals, Diffie-Hellman, nonces and
//! NAT detection, with the two ways a responder can send the initiator back (COOKIE,
//! section 2.6; INVALID_KE_PAYLOAD, section 1.2).
//!
//! With certificates configured on either side, both roles add SIGNATURE_HASH_ALGORITHMS
//! (RFC 7427 section 4) and remember the peer's; a responder that wants the initiator's
//! certificate adds a CERTREQ naming its CAs (section 3.7).

use core::net::SocketAddr;

use rand_core::CryptoRng;

use crate::crypto::DhPrivate;
use crate::ikev2::proposal::{Selected, accept_choice, select};
use crate::ikev2::wire::{
    DhGroup, ExchangeType, KeRepr, Message, NonceRepr, NotifyRepr, NotifyType, Payload, Proposal,
    SaRepr,
};
use crate::log::IKEV2_PROTOCOL;
use crate::pki::auth::{peer_signature_hashes, signature_hash_algorithms_data};
use crate::pki::{CertRequest, HashAlg};
use crate::time::Time;

use super::child::offer_proposals;
use super::config::{ConfigError, RemoteAuth};
use super::context::{Context, Inbound, NATT_PORT, State, error_notify, init_error_answer};
use super::events::{FailureCause, ProtocolError};
use super::exchange::Purpose;
use super::keys::{IkeAlgs, IkeKeys, crypto_group};
use super::{Accept, Transmit, ike_auth};

/// Our nonce length: 32 bytes, at least half the key size of every PRF we implement
/// (RFC 7296 section 2.10).
const NONCE_LEN: usize = 32;

/// How many COOKIE answers we follow before giving up on a responder that keeps asking.
const MAX_COOKIE_ROUNDS: u8 = 3;

pub(crate) fn nonce<R: CryptoRng + ?Sized>(rng: &mut R) -> Vec<u8> {
    let mut n = vec![0u8; NONCE_LEN];
    rng.fill_bytes(&mut n);
    n
}

/// The NAT_DETECTION_SOURCE_IP / _DESTINATION_IP pair for a message from `src` to `dst`
/// (RFC 7296 section 2.23).
fn nat_notifies(spi_i: u64, spi_r: u64, src: SocketAddr, dst: SocketAddr) -> [Payload; 2] {
    [
        Payload::Notify(NotifyRepr::nat_detection(
            NotifyType::NatDetectionSourceIp,
            spi_i,
            spi_r,
            src.ip(),
            src.port(),
        )),
        Payload::Notify(NotifyRepr::nat_detection(
            NotifyType::NatDetectionDestinationIp,
            spi_i,
            spi_r,
            dst.ip(),
            dst.port(),
        )),
    ]
}

/// Whether the peer's NAT detection hashes disagree with the addresses we see: a NAT sits
/// between us. Absent hashes mean the peer does not do NAT detection: no NAT assumed.
fn nat_detected(m: &Message, spi_i: u64, spi_r: u64, src: SocketAddr, dst: SocketAddr) -> bool {
    let [expect_src, expect_dst] = nat_notifies(spi_i, spi_r, src, dst);
    let data = |p: &Payload| match p {
        Payload::Notify(n) => n.data.clone(),
        _ => Vec::new(),
    };
    let (expect_src, expect_dst) = (data(&expect_src), data(&expect_dst));
    let src_ok = m
        .notifies()
        .filter(|n| n.notify_type == NotifyType::NatDetectionSourceIp)
        .map(|n| n.data == expect_src)
        .reduce(|a, b| a || b);
    let dst_ok = m.notify(NotifyType::NatDetectionDestinationIp).map(|n| n.data == expect_dst);
    src_ok == Some(false) || dst_ok == Some(false)
}

/// Our SIGNATURE_HASH_ALGORITHMS, when certificates are configured on either side.
fn hash_algorithms_notify(cx: &Context) -> Option<Payload> {
    cx.cfg.auth.uses_certificates().then(|| {
        Payload::Notify(NotifyRepr::new(
            NotifyType::SignatureHashAlgorithms,
            signature_hash_algorithms_data(),
        ))
    })
}

/// IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 section 2.3): empty data.
fn fragmentation_notify() -> Payload {
    Payload::Notify(NotifyRepr::new(NotifyType::Ikev2FragmentationSupported, Vec::new()))
}

/// The hashes the peer's SIGNATURE_HASH_ALGORITHMS lists (empty without one).
fn peer_hashes(m: &Message) -> Vec<HashAlg> {
    m.notify(NotifyType::SignatureHashAlgorithms)
        .and_then(|n| n.signature_hash_algorithms())
        .map(|ids| peer_signature_hashes(&ids))
        .unwrap_or_default()
}

/// The peer's CERTREQ payloads, merged.
fn peer_certreq(m: &Message) -> CertRequest {
    let reqs: Vec<_> = m
        .payloads
        .iter()
        .filter_map(|p| if let Payload::CertReq(c) = p { Some(c.clone()) } else { None })
        .collect();
    CertRequest::from_payloads(&reqs)
}

/// The initiator after its IKE_SA_INIT request.
pub(crate) struct ExpectSaInitResponse {
    dh: DhPrivate,
    ni: Vec<u8>,
    sent: Vec<Proposal>,
    cookie: Option<Vec<u8>>,
    cookie_rounds: u8,
    ke_retried: bool,
    /// The request as last sent: RealMessage1 of the initiator's AUTH.
    message1: Vec<u8>,
}

impl ExpectSaInitResponse {
    fn request(&self, cx: &Context) -> Option<Vec<u8>> {
        let mut payloads = Vec::new();
        if let Some(c) = &self.cookie {
            // COOKIE goes first (section 2.6).
            payloads.push(Payload::Notify(NotifyRepr::new(NotifyType::Cookie, c.clone())));
        }
        payloads.push(Payload::Sa(SaRepr { proposals: self.sent.clone() }));
        payloads.push(Payload::Ke(KeRepr {
            group: DhGroup::from(self.dh.group().iana()),
            data: self.dh.public().to_vec(),
        }));
        payloads.push(Payload::Nonce(NonceRepr { data: self.ni.clone() }));
        payloads.extend(nat_notifies(cx.spi_i, 0, cx.cfg.local_addr, cx.cfg.remote_addr));
        payloads.extend(hash_algorithms_notify(cx));
        if cx.cfg.fragmentation.is_some() {
            payloads.push(fragmentation_notify());
        }
        let header = cx.header(ExchangeType::IkeSaInit, false, 0);
        Message { header, payloads }.to_vec().ok()
    }

    /// Sends the request again under Message ID 0 after a COOKIE or INVALID_KE_PAYLOAD.
    fn resend(mut self: Box<Self>, cx: &mut Context, now: Time) -> State {
        let Some(bytes) = self.request(cx) else {
            return cx.fail(
                now,
                FailureCause::ProtocolError(ProtocolError::Unsupported(
                    "IKE_SA_INIT does not fit a message".into(),
                )),
            );
        };
        self.message1 = bytes.clone();
        cx.send_to(cx.cfg.remote_addr, bytes.clone());
        cx.requests.resend_as(now, cx.cfg.retransmit, bytes);
        State::SentInit(self)
    }

    pub fn handle_response<R: CryptoRng + ?Sized>(
        mut self: Box<Self>,
        cx: &mut Context,
        now: Time,
        msg: &Inbound<'_>,
        rng: &mut R,
    ) -> State {
        // Unauthenticated: anything malformed is dropped and we keep waiting (section 2.4).
        let Ok(m) = Message::parse(msg.bytes) else {
            cx.stats.malformed += 1;
            return State::SentInit(self);
        };
        tracing::debug!(target: IKEV2_PROTOCOL, "received {m}");
        if let Some(c) = m.notify(NotifyType::Cookie)
            && m.payloads.iter().all(|p| !matches!(p, Payload::Sa(_)))
        {
            if self.cookie_rounds >= MAX_COOKIE_ROUNDS {
                return cx.fail(
                    now,
                    FailureCause::ProtocolError(ProtocolError::ErrorNotify(NotifyType::Cookie)),
                );
            }
            self.cookie_rounds += 1;
            self.cookie = Some(c.data.clone());
            return self.resend(cx, now);
        }
        if let Some(n) = m.notify(NotifyType::InvalidKePayload) {
            let Some(group) = n.invalid_ke_group() else {
                cx.stats.malformed += 1;
                return State::SentInit(self);
            };
            let requested = u16::from(group);
            // Retry once, and only with a group we offered (section 1.2); a second demand
            // means the two sides cannot agree.
            let offered = self.sent.iter().any(|p| {
                p.transforms_of(crate::ikev2::wire::TransformType::Dh)
                    .any(|t| t.transform_id == requested)
            });
            if self.ke_retried || !offered || requested == self.dh.group().iana() {
                return cx.fail(now, FailureCause::InvalidKe { requested });
            }
            let dh = crypto_group(group)
                .and_then(|g| g.generate(rng, cx.cfg.weak()).map_err(ProtocolError::KeyExchange));
            match dh {
                Ok(dh) => {
                    tracing::debug!(target: IKEV2_PROTOCOL, "INVALID_KE_PAYLOAD: retrying with {group}");
                    self.dh = dh;
                    self.ke_retried = true;
                    return self.resend(cx, now);
                }
                Err(_) => return cx.fail(now, FailureCause::InvalidKe { requested }),
            }
        }
        if let Some(t) = error_notify(&m.payloads) {
            let cause = if t == NotifyType::NoProposalChosen {
                let ours: Vec<String> = self.sent.iter().map(ToString::to_string).collect();
                FailureCause::NoProposalChosen(format!(
                    "peer chose none of our offer [{}]",
                    ours.join(", ")
                ))
            } else {
                FailureCause::ProtocolError(ProtocolError::ErrorNotify(t))
            };
            return cx.fail(now, cause);
        }
        match self.complete(cx, now, msg, &m, rng) {
            Ok(state) => state,
            Err(e) => cx.fail(now, FailureCause::ProtocolError(e)),
        }
    }

    fn complete<R: CryptoRng + ?Sized>(
        self: Box<Self>,
        cx: &mut Context,
        now: Time,
        msg: &Inbound<'_>,
        m: &Message,
        rng: &mut R,
    ) -> Result<State, ProtocolError> {
        let (sa, ke, nr) = init_payloads(m)?;
        let selected =
            accept_choice(&self.sent, sa).map_err(|e| ProtocolError::BadChoice(e.to_string()))?;
        let ours = self.dh.group().iana();
        if selected.dh.map(u16::from) != Some(ours) || u16::from(ke.group) != ours {
            return Err(ProtocolError::KeGroupMismatch { expected: ours, got: ke.group.into() });
        }
        if msg.header.spi_r == 0 {
            return Err(ProtocolError::BadChoice("responder SPI zero".into()));
        }
        let g_ir = self.dh.shared_secret(&ke.data).map_err(ProtocolError::KeyExchange)?;
        let algs = IkeAlgs::from_selected(&selected)?;
        cx.spi_r = msg.header.spi_r;
        let keys = IkeKeys::derive(algs, &g_ir, &self.ni, &nr.data, cx.spi_i, cx.spi_r, true)?;
        cx.requests.complete();
        cx.last_heard = now;
        // Fragments only when both announced (RFC 7383 section 2.3), whatever a peer
        // answers to a request that did not offer them.
        cx.frag.peer_supports = cx.cfg.fragmentation.is_some()
            && m.notify(NotifyType::Ikev2FragmentationSupported).is_some();
        let nat = nat_detected(m, cx.spi_i, cx.spi_r, msg.from, cx.cfg.local_addr);
        if nat {
            // RFC 7296 section 2.23: behind a NAT, everything after IKE_SA_INIT (IKE and
            // ESP) goes over UDP 4500, which the NAT maps apart from port 500.
            cx.cfg.remote_addr.set_port(NATT_PORT);
            cx.cfg.local_addr.set_port(NATT_PORT);
        }
        let this = *self;
        let setup = ike_auth::AuthSetup {
            keys,
            ike: selected,
            ni: this.ni,
            nr: nr.data.clone(),
            message1: this.message1,
            message2: msg.bytes.to_vec(),
            nat_detected: nat,
            peer_hashes: peer_hashes(m),
            peer_certreq: peer_certreq(m),
        };
        Ok(ike_auth::start(cx, now, setup, rng))
    }
}

fn init_payloads(m: &Message) -> Result<(&SaRepr, &KeRepr, &NonceRepr), ProtocolError> {
    let missing =
        |payload| ProtocolError::MissingPayload { exchange: ExchangeType::IkeSaInit, payload };
    use crate::ikev2::wire::PayloadType as T;
    let sa = m.payloads.iter().find_map(|p| if let Payload::Sa(s) = p { Some(s) } else { None });
    let ke = m.payloads.iter().find_map(|p| if let Payload::Ke(k) = p { Some(k) } else { None });
    let n = m.payloads.iter().find_map(|p| if let Payload::Nonce(n) = p { Some(n) } else { None });
    Ok((sa.ok_or(missing(T::Sa))?, ke.ok_or(missing(T::Ke))?, n.ok_or(missing(T::Nonce))?))
}

/// Starts the initiator: the first configured DH group is the guess for the KE payload.
pub(crate) fn start<R: CryptoRng + ?Sized>(
    cx: &mut Context,
    now: Time,
    rng: &mut R,
) -> Result<State, ConfigError> {
    let first = cx
        .cfg
        .ike_proposals
        .first()
        .and_then(|p| p.dh.first().copied())
        .ok_or(ConfigError::IncompleteIkeProposal(0))?;
    let group = crypto_group(first).map_err(|e| ConfigError::Unsupported(e.to_string()))?;
    let dh =
        group.generate(rng, cx.cfg.weak()).map_err(|e| ConfigError::Unsupported(e.to_string()))?;
    let s = Box::new(ExpectSaInitResponse {
        dh,
        ni: nonce(rng),
        sent: offer_proposals(&cx.cfg.ike_proposals, &[]),
        cookie: None,
        cookie_rounds: 0,
        ke_retried: false,
        message1: Vec::new(),
    });
    let bytes = s.request(cx).ok_or_else(|| ConfigError::Unsupported("offer too large".into()))?;
    let mut s = s;
    s.message1 = bytes.clone();
    cx.send_request(now, ExchangeType::IkeSaInit, bytes, Purpose::SaInit);
    Ok(State::SentInit(s))
}

/// Answers an IKE_SA_INIT request as the responder (`cx` holds the initiator's SPI and our
/// new one). `Err` is an answer without state.
pub(crate) fn respond<R: CryptoRng + ?Sized>(
    cx: &mut Context,
    now: Time,
    m: &Message,
    bytes: &[u8],
    from: SocketAddr,
    rng: &mut R,
) -> Result<State, Box<Accept>> {
    tracing::debug!(target: IKEV2_PROTOCOL, "received {m} from {from}");
    let stateless =
        |cx: &Context, n: NotifyRepr, failure: Option<FailureCause>| match init_error_answer(
            &m.header, n,
        ) {
            Some(bytes) => Accept::Stateless {
                failure,
                transmit: Transmit { to: from, from: cx.cfg.local_addr, bytes },
            },
            None => Accept::Drop,
        };
    let Ok((sa, ke, ni)) = init_payloads(m) else { return Err(Box::new(Accept::Drop)) };
    let selected: Selected = match select(&cx.cfg.ike_proposals, sa, Some(ke.group)) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(target: IKEV2_PROTOCOL, "{e}");
            let n = NotifyRepr::new(NotifyType::NoProposalChosen, Vec::new());
            let cause = FailureCause::NoProposalChosen(e.to_string());
            return Err(Box::new(stateless(cx, n, Some(cause))));
        }
    };
    let Some(group) = selected.dh else { return Err(Box::new(Accept::Drop)) };
    if group != ke.group {
        // Section 1.2: tell the initiator which group to use; it retries, no state here.
        let n =
            NotifyRepr::new(NotifyType::InvalidKePayload, u16::from(group).to_be_bytes().to_vec());
        return Err(Box::new(stateless(cx, n, None)));
    }
    let setup = (|| {
        let g = crypto_group(group)?;
        let dh = g.generate(rng, cx.cfg.weak()).map_err(ProtocolError::KeyExchange)?;
        let g_ir = dh.shared_secret(&ke.data).map_err(ProtocolError::KeyExchange)?;
        let nr = nonce(rng);
        let keys = IkeKeys::derive(
            IkeAlgs::from_selected(&selected)?,
            &g_ir,
            &ni.data,
            &nr,
            cx.spi_i,
            cx.spi_r,
            false,
        )?;
        Ok::<_, ProtocolError>((dh, nr, keys))
    })();
    let (dh, nr, keys) = match setup {
        Ok(x) => x,
        Err(e) => {
            let n = NotifyRepr::new(NotifyType::InvalidSyntax, Vec::new());
            return Err(Box::new(stateless(cx, n, Some(FailureCause::ProtocolError(e)))));
        }
    };
    let nat = nat_detected(m, cx.spi_i, 0, from, cx.cfg.local_addr);
    let mut payloads = vec![
        Payload::Sa(selected.to_wire(&[])),
        Payload::Ke(KeRepr { group, data: dh.public().to_vec() }),
        Payload::Nonce(NonceRepr { data: nr.clone() }),
    ];
    payloads.extend(nat_notifies(cx.spi_i, cx.spi_r, cx.cfg.local_addr, from));
    // HDR, SAr1, KEr, Nr, [CERTREQ] (section 1.2): the initiator learns which CAs we trust
    // before it picks the certificate for IKE_AUTH.
    if let RemoteAuth::Certificate(pc) = &cx.cfg.auth.remote {
        payloads.push(Payload::CertReq(pc.trust.certreq()));
    }
    payloads.extend(hash_algorithms_notify(cx));
    // RFC 7383 section 2.3: the responder announces fragmentation only to an initiator
    // that did, and only when fragmentation is configured.
    if cx.cfg.fragmentation.is_some() && m.notify(NotifyType::Ikev2FragmentationSupported).is_some()
    {
        cx.frag.peer_supports = true;
        payloads.push(fragmentation_notify());
    }
    let answer = Message { header: cx.header(ExchangeType::IkeSaInit, true, 0), payloads };
    let Ok(answer) = answer.to_vec() else { return Err(Box::new(Accept::Drop)) };
    cx.answer(from, 0, bytes, answer.clone());
    cx.stats.requests_processed += 1;
    cx.last_heard = now;
    Ok(State::WaitAuth(Box::new(ike_auth::ExpectAuthRequest::new(
        cx,
        now,
        ike_auth::AuthSetup {
            keys,
            ike: selected,
            ni: ni.data.clone(),
            nr,
            message1: bytes.to_vec(),
            message2: answer,
            nat_detected: nat,
            peer_hashes: peer_hashes(m),
            peer_certreq: CertRequest::default(),
        },
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ikev2::wire::{ExchangeType, HeaderRepr};

    fn message(payloads: Vec<Payload>) -> Message {
        let header = HeaderRepr {
            spi_i: 7,
            spi_r: 0,
            exchange_type: ExchangeType::IkeSaInit,
            initiator: true,
            response: false,
            version_flag: false,
            message_id: 0,
        };
        Message { header, payloads }
    }

    #[test]
    fn nat_detection_compares_both_hashes() {
        let a: SocketAddr = "192.0.2.1:500".parse().unwrap();
        let b: SocketAddr = "198.51.100.1:500".parse().unwrap();
        let natted: SocketAddr = "203.0.113.9:61000".parse().unwrap();
        let m = message(nat_notifies(7, 0, a, b).to_vec());
        assert!(!nat_detected(&m, 7, 0, a, b), "addresses as sent");
        assert!(nat_detected(&m, 7, 0, natted, b), "source rewritten");
        assert!(nat_detected(&m, 7, 0, a, natted), "destination rewritten");
        assert!(nat_detected(&m, 8, 0, a, b), "hashes cover the SPIs");
        assert!(!nat_detected(&message(vec![]), 7, 0, natted, b), "no hashes: no NAT known");
    }
}
