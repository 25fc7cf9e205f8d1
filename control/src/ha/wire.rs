//! The failover link's messages and the clear header that carries them.
//!
//! A datagram is `header (40 bytes, clear, authenticated) | body (encrypted) | tag (16)`
//! ([`super::seal`] does the sealing); it is at most [`MAX_DATAGRAM`] bytes so that it
//! crosses any link with a 1500-byte MTU inside UDP without fragmenting.
//!
//! Header: `"FGHA" | version 1 | sender role (1 primary, 2 secondary) | 2 reserved zero
//! bytes | key id (8) | sender epoch (8) | echo (8) | sequence number (8)`. The epoch is the
//! sender's random boot id, the echo the receiver's epoch as the sender last saw it (0 if
//! none), the sequence number counts the sender's datagrams from 1.
//!
//! Body: a one-byte kind, then the kind's fields, big-endian, with no trailing bytes.

use zeroize::Zeroizing;

use super::codec::{Reader, WireError, Writer};
use super::record::Record;
use crate::policy::HaRole;

/// Largest datagram on the failover link.
pub const MAX_DATAGRAM: usize = 1400;
/// Clear header length.
pub const HEADER_LEN: usize = 40;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// Largest plaintext body.
pub const MAX_BODY: usize = MAX_DATAGRAM - HEADER_LEN - TAG_LEN;
/// A Replicate body's fixed part: kind, generation, sequence number, age, record count.
pub const REPLICATE_OVERHEAD: usize = 1 + 4 + 8 + 4 + 2;
/// First bytes of every datagram.
pub const MAGIC: [u8; 4] = *b"FGHA";
/// Protocol version.
pub const VERSION: u8 = 1;

/// `failover lan unit primary|secondary`: the unit's configured role, fixed for its
/// lifetime (unlike active/standby).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Wins ties.
    Primary,
    /// Loses ties.
    Secondary,
}

impl Role {
    pub(crate) const fn code(self) -> u8 {
        match self {
            Role::Primary => 1,
            Role::Secondary => 2,
        }
    }

    pub(crate) const fn from_code(c: u8) -> Option<Role> {
        match c {
            1 => Some(Role::Primary),
            2 => Some(Role::Secondary),
            _ => None,
        }
    }
}

impl From<HaRole> for Role {
    fn from(r: HaRole) -> Role {
        match r {
            HaRole::Primary => Role::Primary,
            HaRole::Secondary => Role::Secondary,
        }
    }
}

/// A unit's failover state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Just started: listening one hold time for an active mate before claiming active.
    Negotiating,
    /// Forwarding with the SAs, replicating them to the mate.
    Active,
    /// Receiving the replicated SAs, ready to take over.
    Standby,
}

impl State {
    const fn code(self) -> u8 {
        match self {
            State::Negotiating => 1,
            State::Active => 2,
            State::Standby => 3,
        }
    }

    const fn from_code(c: u8) -> Option<State> {
        match c {
            1 => Some(State::Negotiating),
            2 => Some(State::Active),
            3 => Some(State::Standby),
            _ => None,
        }
    }
}

/// Interface health: what the election and the split-brain rule compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Health {
    /// Monitored interfaces that are up.
    pub up: u16,
    /// Monitored interfaces.
    pub monitored: u16,
}

/// The periodic hello, sent by both units every hello interval (and at once on a change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hello {
    /// The sender's state.
    pub state: State,
    /// The sender's interface health.
    pub health: Health,
    /// Milliseconds since the sender started.
    pub uptime_ms: u64,
    /// The sender (just) gave up active for the receiver: take over now.
    pub handover: bool,
    /// A standby's bulk sync is complete and its store follows the active's stream.
    pub synced: bool,
    /// Active: its replication generation; standby: the generation it follows (0: none).
    pub repl_gen: u32,
    /// Active: the last replication sequence number it assigned; standby: the highest
    /// it applied in order (a cumulative acknowledgement).
    pub repl_seq: u64,
    /// Active: the sequence number that completes the generation's bulk sync (0: not yet).
    pub bulk_done_seq: u64,
    /// Active: the bulk sync request the generation serves; standby: its pending request.
    pub bulk_request: u32,
}

/// A failover link message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Liveness, state and health.
    Hello(Hello),
    /// Replicated changes, applied in `seq` order within `generation`.
    Replicate {
        /// Replication generation: a new one starts with a bulk sync from an empty store.
        generation: u32,
        /// Sequence number in the generation, from 1.
        seq: u64,
        /// Milliseconds since the oldest record in the message was read on the active
        /// (lets the standby date the values it holds for the takeover margin).
        age_ms: u32,
        /// The changes, in order.
        records: Vec<Record>,
    },
    /// Cumulative: everything up to `seq` of `generation` is applied.
    ReplicateAck {
        /// Generation.
        generation: u32,
        /// Highest sequence number applied in order.
        seq: u64,
    },
    /// A standby asks for a full copy (after start, reload, or losing the stream).
    BulkSyncRequest {
        /// The standby's request number; repeats of a served number are ignored.
        id: u32,
    },
    /// The bulk sync of `generation` is complete once everything up to `seq` is applied.
    BulkSyncDone {
        /// Generation.
        generation: u32,
        /// Its last bulk message.
        seq: u64,
        /// The request it serves.
        request: u32,
    },
    /// `failover active` on the standby (or its preemption): the active hands over.
    SwitchoverRequest {
        /// Request number, increasing per sender.
        id: u32,
        /// Asked by the preemption timer rather than an operator.
        preempt: bool,
    },
    /// `failover reload-standby` on the active: the standby restarts its copy.
    ReloadStandby,
}

const K_HELLO: u8 = 1;
const K_REPLICATE: u8 = 2;
const K_ACK: u8 = 3;
const K_BULK_REQ: u8 = 4;
const K_BULK_DONE: u8 = 5;
const K_SWITCHOVER: u8 = 6;
const K_RELOAD: u8 = 7;

const HELLO_HANDOVER: u8 = 1;
const HELLO_SYNCED: u8 = 2;

impl Message {
    /// The body, refusing one over [`MAX_BODY`].
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, WireError> {
        let mut w = Writer::new();
        match self {
            Message::Hello(h) => {
                w.u8(K_HELLO);
                w.u8(h.state.code());
                w.u8((if h.handover { HELLO_HANDOVER } else { 0 })
                    | (if h.synced { HELLO_SYNCED } else { 0 }));
                w.u16(h.health.up);
                w.u16(h.health.monitored);
                w.u64(h.uptime_ms);
                w.u32(h.repl_gen);
                w.u64(h.repl_seq);
                w.u64(h.bulk_done_seq);
                w.u32(h.bulk_request);
            }
            Message::Replicate { generation, seq, age_ms, records } => {
                w.u8(K_REPLICATE);
                w.u32(*generation);
                w.u64(*seq);
                w.u32(*age_ms);
                let n = u16::try_from(records.len()).map_err(|_| WireError::TooLong("records"))?;
                w.u16(n);
                for r in records {
                    r.encode(&mut w)?;
                }
            }
            Message::ReplicateAck { generation, seq } => {
                w.u8(K_ACK);
                w.u32(*generation);
                w.u64(*seq);
            }
            Message::BulkSyncRequest { id } => {
                w.u8(K_BULK_REQ);
                w.u32(*id);
            }
            Message::BulkSyncDone { generation, seq, request } => {
                w.u8(K_BULK_DONE);
                w.u32(*generation);
                w.u64(*seq);
                w.u32(*request);
            }
            Message::SwitchoverRequest { id, preempt } => {
                w.u8(K_SWITCHOVER);
                w.u32(*id);
                w.u8(u8::from(*preempt));
            }
            Message::ReloadStandby => w.u8(K_RELOAD),
        }
        if w.len() > MAX_BODY {
            return Err(WireError::TooLong("message"));
        }
        Ok(w.into_inner())
    }

    /// Parses a body; strict: unknown kinds, bad values and trailing bytes are errors.
    pub fn decode(body: &[u8]) -> Result<Message, WireError> {
        if body.len() > MAX_BODY {
            return Err(WireError::TooLong("message"));
        }
        let mut r = Reader::new(body);
        let m = match r.u8()? {
            K_HELLO => {
                let state = State::from_code(r.u8()?).ok_or(WireError::BadValue("state"))?;
                let flags = r.u8()?;
                if flags & !(HELLO_HANDOVER | HELLO_SYNCED) != 0 {
                    return Err(WireError::BadValue("hello flags"));
                }
                Message::Hello(Hello {
                    state,
                    handover: flags & HELLO_HANDOVER != 0,
                    synced: flags & HELLO_SYNCED != 0,
                    health: Health { up: r.u16()?, monitored: r.u16()? },
                    uptime_ms: r.u64()?,
                    repl_gen: r.u32()?,
                    repl_seq: r.u64()?,
                    bulk_done_seq: r.u64()?,
                    bulk_request: r.u32()?,
                })
            }
            K_REPLICATE => {
                let generation = r.u32()?;
                let seq = r.u64()?;
                let age_ms = r.u32()?;
                let n = usize::from(r.u16()?);
                // The smallest record is 5 bytes: never reserve more than the body can hold.
                let mut records = Vec::with_capacity(n.min(r.remaining() / 5));
                for _ in 0..n {
                    records.push(Record::decode(&mut r)?);
                }
                Message::Replicate { generation, seq, age_ms, records }
            }
            K_ACK => Message::ReplicateAck { generation: r.u32()?, seq: r.u64()? },
            K_BULK_REQ => Message::BulkSyncRequest { id: r.u32()? },
            K_BULK_DONE => {
                Message::BulkSyncDone { generation: r.u32()?, seq: r.u64()?, request: r.u32()? }
            }
            K_SWITCHOVER => {
                Message::SwitchoverRequest { id: r.u32()?, preempt: r.bool("preempt")? }
            }
            K_RELOAD => Message::ReloadStandby,
            value => return Err(WireError::UnknownKind { what: "message", value }),
        };
        r.finish()?;
        Ok(m)
    }
}

/// The clear header, authenticated as the AEAD's associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// The sender's role.
    pub role: Role,
    /// Fingerprint of the failover key ([`super::seal::FailoverKey::id`]).
    pub key_id: [u8; 8],
    /// The sender's boot epoch (never 0).
    pub epoch: u64,
    /// The receiver's epoch as the sender knows it (0: none yet).
    pub echo: u64,
    /// The sender's datagram counter (never 0).
    pub seq: u64,
}

impl Header {
    /// The 40 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..4].copy_from_slice(&MAGIC);
        h[4] = VERSION;
        h[5] = self.role.code();
        // h[6..8]: reserved, zero.
        h[8..16].copy_from_slice(&self.key_id);
        h[16..24].copy_from_slice(&self.epoch.to_be_bytes());
        h[24..32].copy_from_slice(&self.echo.to_be_bytes());
        h[32..40].copy_from_slice(&self.seq.to_be_bytes());
        h
    }

    /// Parses the first [`HEADER_LEN`] bytes of a datagram.
    pub fn decode(d: &[u8]) -> Result<Header, WireError> {
        let mut r = Reader::new(d.get(..HEADER_LEN).ok_or(WireError::Truncated)?);
        if r.take(4)? != MAGIC {
            return Err(WireError::BadValue("magic"));
        }
        if r.u8()? != VERSION {
            return Err(WireError::BadValue("version"));
        }
        let role = Role::from_code(r.u8()?).ok_or(WireError::BadValue("role"))?;
        if r.u16()? != 0 {
            return Err(WireError::BadValue("reserved"));
        }
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(r.take(8)?);
        let epoch = r.u64()?;
        let echo = r.u64()?;
        let seq = r.u64()?;
        if epoch == 0 {
            return Err(WireError::BadValue("epoch"));
        }
        if seq == 0 {
            return Err(WireError::BadValue("sequence number"));
        }
        Ok(Header { role, key_id, epoch, echo, seq })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ha::record::MAX_RECORD_LEN;
    use crate::ha::record::tests::max_child;

    fn all() -> Vec<Message> {
        vec![
            Message::Hello(Hello {
                state: State::Standby,
                health: Health { up: 3, monitored: 4 },
                uptime_ms: 12345,
                handover: true,
                synced: true,
                repl_gen: 7,
                repl_seq: 8,
                bulk_done_seq: 9,
                bulk_request: 10,
            }),
            Message::Replicate {
                generation: 1,
                seq: 2,
                age_ms: 3,
                records: vec![Record::DeleteIke(4), Record::UpsertChild(max_child())],
            },
            Message::ReplicateAck { generation: 1, seq: 2 },
            Message::BulkSyncRequest { id: 5 },
            Message::BulkSyncDone { generation: 1, seq: 2, request: 3 },
            Message::SwitchoverRequest { id: 9, preempt: true },
            Message::ReloadStandby,
        ]
    }

    #[test]
    fn messages_round_trip_and_prefixes_fail() {
        for m in all() {
            let b = m.encode().unwrap();
            assert_eq!(Message::decode(&b).unwrap(), m);
            for cut in 0..b.len() {
                assert!(Message::decode(&b[..cut]).is_err(), "{m:?} cut {cut}");
            }
            let mut longer = b.to_vec();
            longer.push(0);
            assert_eq!(Message::decode(&longer), Err(WireError::Trailing(1)));
        }
    }

    #[test]
    fn largest_record_fits_one_datagram() {
        const { assert!(REPLICATE_OVERHEAD + MAX_RECORD_LEN <= MAX_BODY) };
        let m = Message::Replicate {
            generation: 1,
            seq: 1,
            age_ms: 0,
            records: vec![Record::UpsertChild(max_child())],
        };
        assert_eq!(m.encode().unwrap().len(), REPLICATE_OVERHEAD + MAX_RECORD_LEN);
        let two = Message::Replicate {
            generation: 1,
            seq: 1,
            age_ms: 0,
            records: vec![Record::UpsertChild(max_child()), Record::UpsertChild(max_child())],
        };
        assert_eq!(two.encode(), Err(WireError::TooLong("message")));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Message::decode(&[]).is_err());
        assert_eq!(
            Message::decode(&[99]),
            Err(WireError::UnknownKind { what: "message", value: 99 })
        );
        let mut hello = all()[0].encode().unwrap().to_vec();
        hello[1] = 0;
        assert_eq!(Message::decode(&hello), Err(WireError::BadValue("state")));
        hello[1] = 1;
        hello[2] = 4;
        assert_eq!(Message::decode(&hello), Err(WireError::BadValue("hello flags")));
        // A record count far beyond the body does not allocate for it, and fails.
        let mut rep = vec![K_REPLICATE];
        rep.extend_from_slice(&[0; 16]);
        rep.extend_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(Message::decode(&rep), Err(WireError::Truncated));
    }

    #[test]
    fn header_round_trip_and_checks() {
        let h = Header { role: Role::Secondary, key_id: [1; 8], epoch: 2, echo: 0, seq: 3 };
        let b = h.encode();
        assert_eq!(Header::decode(&b), Ok(h));
        assert_eq!(Header::decode(&b[..39]), Err(WireError::Truncated));
        for (i, v, e) in [(0, b'X', "magic"), (4, 2, "version"), (5, 3, "role"), (6, 1, "reserved")]
        {
            let mut bad = b;
            bad[i] = v;
            assert_eq!(Header::decode(&bad), Err(WireError::BadValue(e)));
        }
        let zero_epoch = Header { epoch: 0, ..h }.encode();
        assert_eq!(Header::decode(&zero_epoch), Err(WireError::BadValue("epoch")));
        let zero_seq = Header { seq: 0, ..h }.encode();
        assert_eq!(Header::decode(&zero_seq), Err(WireError::BadValue("sequence number")));
    }
}
