//! Message IDs and reliability (RFC 7296 sections 2.1 to 2.3) with a window of one: our
//! requests ([`Requests`]: one outstanding, retransmitted on the [`Retransmit`] schedule)
//! and the peer's ([`Responses`]: the next expected ID and the last answer, replayed
//! verbatim for a retransmitted request).
//!
//! The two directions are counted separately: each side numbers the requests it sends from
//! 0, and a response carries its request's ID (section 2.2).

use crate::ikev2::wire::ExchangeType;
use crate::retransmit::{Retransmit, RetransmitPolicy, Timeout};
use crate::time::Time;

/// What one of our requests was for, so that its response (or its loss) is handled right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// IKE_SA_INIT.
    SaInit,
    /// IKE_AUTH.
    Auth,
    /// An empty INFORMATIONAL: the liveness check (section 1.4).
    Liveness,
    /// INFORMATIONAL with a Delete of the IKE SA.
    DeleteIke,
    /// INFORMATIONAL with a Delete of these Child SAs (our inbound SPIs).
    DeleteChild(Vec<u32>),
    /// INFORMATIONAL carrying an error notify about the IKE SA (section 2.21.2); the SA is
    /// dead whatever the answer.
    Notice,
    /// CREATE_CHILD_SA (section 1.3): a new or rekeyed Child SA, or an IKE SA rekey; what
    /// exactly is kept with the exchange's secrets by the established state.
    CreateChildSa,
    /// INFORMATIONAL with IKEV2_MESSAGE_ID_SYNC in Message ID 0 (RFC 6311 section 4), sent
    /// by a unit that took the IKE SA over; the answer must echo `nonce`.
    MidSync { nonce: [u8; 4] },
}

/// The one request we have in flight.
#[derive(Debug)]
pub(crate) struct Outstanding {
    pub message_id: u32,
    pub exchange: ExchangeType,
    /// The datagrams of the request: the message, or all its SKF fragments (RFC 7383
    /// section 2.6: a retransmission resends every fragment).
    pub datagrams: Vec<Vec<u8>>,
    pub retransmit: Retransmit,
    pub purpose: Purpose,
}

/// What the retransmission timer asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RequestTimeout {
    /// Nothing due.
    Wait,
    /// Send these datagrams again.
    Resend(Vec<Vec<u8>>),
    /// The schedule ran out: the peer is unreachable.
    GiveUp { sends: u32, waited: core::time::Duration, purpose: Purpose },
}

/// Our requests: window size 1 (section 2.3, the default without SET_WINDOW_SIZE).
#[derive(Debug, Default)]
pub(crate) struct Requests {
    next_id: u32,
    outstanding: Option<Outstanding>,
}

impl Requests {
    /// The ID the next request gets.
    pub fn next_id(&self) -> u32 {
        self.next_id
    }

    /// Sets the ID the next request gets (an IKE SA taken over from a failed unit, RFC
    /// 6311 Message ID synchronisation).
    pub fn set_next_id(&mut self, id: u32) {
        self.next_id = id;
    }

    /// Records a request sent with an ID outside the sequence (RFC 6311's Message ID 0),
    /// which leaves [`Requests::next_id`] as it is.
    pub fn sent_out_of_sequence(
        &mut self,
        now: Time,
        policy: RetransmitPolicy,
        message_id: u32,
        exchange: ExchangeType,
        datagrams: Vec<Vec<u8>>,
        purpose: Purpose,
    ) {
        self.outstanding = Some(Outstanding {
            message_id,
            exchange,
            datagrams,
            retransmit: Retransmit::start(policy, now),
            purpose,
        });
    }

    /// True when a new request may be sent.
    pub fn is_idle(&self) -> bool {
        self.outstanding.is_none()
    }

    /// What the outstanding request is for.
    pub fn purpose(&self) -> Option<&Purpose> {
        self.outstanding.as_ref().map(|o| &o.purpose)
    }

    /// Records a request just sent with [`Requests::next_id`].
    pub fn sent(
        &mut self,
        now: Time,
        policy: RetransmitPolicy,
        exchange: ExchangeType,
        datagrams: Vec<Vec<u8>>,
        purpose: Purpose,
    ) {
        self.outstanding = Some(Outstanding {
            message_id: self.next_id,
            exchange,
            datagrams,
            retransmit: Retransmit::start(policy, now),
            purpose,
        });
        self.next_id = self.next_id.wrapping_add(1);
    }

    /// Replaces the outstanding request's bytes under the same ID and restarts its
    /// schedule: IKE_SA_INIT again with a COOKIE or another KE group (sections 1.2, 2.6),
    /// which keeps Message ID 0.
    pub fn resend_as(&mut self, now: Time, policy: RetransmitPolicy, bytes: Vec<u8>) {
        if let Some(o) = &mut self.outstanding {
            o.datagrams = vec![bytes];
            o.retransmit = Retransmit::start(policy, now);
        }
    }

    /// Whether a response with this ID and exchange answers the outstanding request;
    /// anything else is stale or forged (section 2.3: ignore it).
    pub fn matches(&self, message_id: u32, exchange: ExchangeType) -> bool {
        self.outstanding
            .as_ref()
            .is_some_and(|o| o.message_id == message_id && o.exchange == exchange)
    }

    /// The answer came: the request is done.
    pub fn complete(&mut self) -> Option<Outstanding> {
        self.outstanding.take()
    }

    /// When the retransmission timer fires.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.outstanding.as_ref().and_then(|o| o.retransmit.poll_timeout())
    }

    /// Runs the retransmission timer.
    pub fn on_timeout(&mut self, now: Time) -> RequestTimeout {
        let Some(o) = &mut self.outstanding else { return RequestTimeout::Wait };
        match o.retransmit.on_timeout(now) {
            Timeout::Wait => RequestTimeout::Wait,
            Timeout::Resend { .. } => RequestTimeout::Resend(o.datagrams.clone()),
            Timeout::GiveUp { sends, waited } => {
                let purpose = o.purpose.clone();
                self.outstanding = None;
                RequestTimeout::GiveUp { sends, waited, purpose }
            }
        }
    }
}

/// How to treat a request from the peer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RequestCheck {
    /// The next request: process it.
    New,
    /// A retransmission of the request answered last: send the cached answer (all its
    /// datagrams) again, without processing it again (section 2.1).
    Replay(Vec<Vec<u8>>),
    /// Outside the window, or the same ID with other bytes: drop it.
    Drop,
}

/// The peer's requests: the next expected ID and the last answer.
#[derive(Debug, Default)]
pub(crate) struct Responses {
    expected: u32,
    /// Message ID, the request's bytes (of its first fragment, if fragmented: RFC 7383
    /// section 2.6.1 replays only on that one) and our answer's datagrams.
    last: Option<(u32, Vec<u8>, Vec<Vec<u8>>)>,
}

impl Responses {
    /// Classifies a request by its ID and bytes.
    pub fn check(&self, message_id: u32, bytes: &[u8]) -> RequestCheck {
        if message_id == self.expected {
            return RequestCheck::New;
        }
        match &self.last {
            // Only an identical retransmission gets the cached answer, so a forged or
            // corrupted request with an old ID cannot make us send anything.
            Some((id, request, answer)) if *id == message_id && request == bytes => {
                RequestCheck::Replay(answer.clone())
            }
            _ => RequestCheck::Drop,
        }
    }

    /// The ID the peer's next request must have.
    pub fn expected(&self) -> u32 {
        self.expected
    }

    /// Sets the ID the peer's next request must have (an IKE SA taken over from a failed
    /// unit, RFC 6311). The cached answer is forgotten: it belongs to the old numbering.
    pub fn set_expected(&mut self, id: u32) {
        self.expected = id;
        self.last = None;
    }

    /// Records our answer to request `message_id` (which was [`RequestCheck::New`]).
    pub fn answered(&mut self, message_id: u32, request: &[u8], answer: Vec<Vec<u8>>) {
        self.last = Some((message_id, request.to_vec(), answer));
        self.expected = message_id.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_number_from_zero_and_match_only_their_answer() {
        let mut r = Requests::default();
        let p = RetransmitPolicy::default();
        assert!(r.is_idle());
        r.sent(Time::ZERO, p, ExchangeType::IkeSaInit, vec![vec![1]], Purpose::SaInit);
        assert!(!r.is_idle());
        assert!(r.matches(0, ExchangeType::IkeSaInit));
        assert!(!r.matches(0, ExchangeType::IkeAuth), "same ID, other exchange");
        assert!(!r.matches(1, ExchangeType::IkeSaInit));
        assert_eq!(r.on_timeout(Time::from_secs(1)), RequestTimeout::Resend(vec![vec![1]]));
        r.resend_as(Time::from_secs(1), p, vec![2]);
        assert_eq!(r.poll_timeout(), Some(Time::from_secs(2)), "schedule restarted");
        assert_eq!(r.complete().map(|o| o.datagrams), Some(vec![vec![2]]));
        assert_eq!(r.next_id(), 1);
        assert_eq!(r.on_timeout(Time::from_secs(500)), RequestTimeout::Wait);
    }

    #[test]
    fn requests_give_up_after_the_schedule() {
        let mut r = Requests::default();
        r.sent(
            Time::ZERO,
            RetransmitPolicy::default(),
            ExchangeType::Informational,
            vec![vec![]],
            Purpose::Liveness,
        );
        let mut resends = 0;
        loop {
            let t = r.poll_timeout().expect("timer");
            match r.on_timeout(t) {
                RequestTimeout::Resend(_) => resends += 1,
                RequestTimeout::GiveUp { sends, waited, purpose } => {
                    assert_eq!((sends, waited.as_secs(), purpose), (7, 127, Purpose::Liveness));
                    break;
                }
                RequestTimeout::Wait => panic!("due but waiting"),
            }
        }
        assert_eq!(resends, 6);
        assert!(r.is_idle());
    }

    #[test]
    fn responses_replay_only_identical_retransmissions() {
        let mut r = Responses::default();
        assert_eq!(r.check(0, b"req0"), RequestCheck::New);
        assert_eq!(r.check(1, b"req1"), RequestCheck::Drop, "ahead of the window");
        r.answered(0, b"req0", vec![b"ans0".to_vec()]);
        assert_eq!(r.expected, 1);
        assert_eq!(r.check(0, b"req0"), RequestCheck::Replay(vec![b"ans0".to_vec()]));
        assert_eq!(r.check(0, b"other"), RequestCheck::Drop);
        assert_eq!(r.check(1, b"req1"), RequestCheck::New);
        r.answered(1, b"req1", vec![b"ans1".to_vec()]);
        assert_eq!(r.check(0, b"req0"), RequestCheck::Drop, "older than the last answer");
    }
}
