//! The IKE daemon's side of stateful failover (issue 9): its established IKEv2 SAs as the
//! replication records of [`control::ha`] on the active unit, and the records of a failed
//! (or yielding) mate taken over on the unit that becomes active: same IKE and Child SA
//! SPIs, keys and Message IDs, sequence numbers jumped ahead, the crypto map's peer index
//! kept ("HA switchover: No" in the reference document's table).
//!
//! Dynamic entries' SAs (remote access) are replicated too: a client keeps its address,
//! leased again from this unit's pools ([`IkeSa::import`]), and its Child SAs get their
//! own SPD policies here as they did on the mate. IKEv1 SAs are not replicated: after a
//! takeover their peers renegotiate.

use std::collections::HashMap;
use std::time::Instant;

use control::failover::{Input as FailoverInput, SaRef};
use control::ha::{ChildSaRecord, IkeSaRecord, MapRef, Takeover};
use control::ikev2::sa::{IkeSa, SaHandle};
use control::policy::IkeVersion;
use control::time::Time;
use dataplane::queue::ControlEnd;
use dataplane::table::SaTable;

use super::{IkeDaemon, Owner, TARGET};
use crate::dpdk::Mbuf;

/// What a takeover installed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Adopted {
    pub ike_sas: u64,
    pub child_sas: u64,
    /// Records that did not fit this unit's configuration or dataplane.
    pub failed: u64,
}

impl IkeDaemon {
    /// The daemon's clock (what the records' lifetimes count from).
    pub(crate) fn ha_now(&self) -> Time {
        self.now()
    }

    /// Established IKEv2 SAs, the ones replicated.
    pub(crate) fn ha_handles(&self) -> Vec<SaHandle> {
        let mut v: Vec<SaHandle> = self
            .established
            .keys()
            .copied()
            .filter(|h| matches!(Owner::of(*h), Owner::V2(_)))
            .collect();
        v.sort_unstable_by_key(|h| h.0);
        v
    }

    /// IKE SA `h` as records keyed by the handle, with its crypto map entry and peer
    /// index. Sequence numbers and replay windows are zero (the dataplane's, sent apart).
    pub(crate) fn ha_export(
        &self,
        h: SaHandle,
        now: Time,
    ) -> Option<(IkeSaRecord, Vec<ChildSaRecord>)> {
        let Owner::V2(inner) = Owner::of(h) else { return None };
        let (mut ike, mut children) = self.endpoint.sa(inner)?.export(now)?;
        ike.id = h.0;
        if let Some(&e) = self.owner.get(&h) {
            let entry = &self.entries[e];
            // A dynamic entry has no peer list: its peers are all "Peer1".
            let peer_index = if entry.plan.dynamic {
                Some(0)
            } else {
                entry.failover.peers().iter().position(|&p| p == ike.peer.ip())
            };
            ike.crypto_map = peer_index.map(|i| MapRef {
                name: entry.plan.map.clone(),
                seq: u32::from(entry.plan.sequence),
                peer_index: u8::try_from(i).unwrap_or(u8::MAX),
            });
        }
        for c in &mut children {
            c.ike_id = h.0;
        }
        Some((ike, children))
    }

    /// A Child SA's dataplane state: (the next outbound sequence number, the highest
    /// inbound one accepted). `None` when it is not installed.
    pub(crate) fn ha_child_state(&self, table: &SaTable, inbound_spi: u32) -> Option<(u64, u64)> {
        let c = self.children.get(&inbound_spi)?;
        let out = table.outbound(c.outbound)?.last_seq().saturating_add(1);
        let top = table.inbound(inbound_spi)?.replay_window().top();
        Some((out, top))
    }

    /// Installs what the mate replicated, on becoming active: every IKEv2 SA whose crypto
    /// map entry and peer this unit has too, adopted by the endpoint, its Child SAs in the
    /// dataplane (outbound sequence numbers as jumped by the takeover, inbound windows
    /// starting above the mate's last), the entry's traffic bound to them. Entries left
    /// without an SA start again from Peer1 (the reference document's HA guideline).
    pub(crate) fn ha_adopt(
        &mut self,
        controls: &mut [ControlEnd<Mbuf<'_>>],
        table: &mut SaTable,
        created_ns: u64,
        t: Takeover,
    ) -> Adopted {
        let now = self.now();
        let mut done = Adopted::default();
        let mut by_ike: HashMap<u64, Vec<ChildSaRecord>> = HashMap::new();
        for c in t.children {
            by_ike.entry(c.ike_id).or_default().push(c);
        }
        for rec in t.ike {
            let children = by_ike.remove(&rec.id).unwrap_or_default();
            match self.adopt_one(controls, table, created_ns, now, &rec, &children) {
                Ok(n) => {
                    done.ike_sas += 1;
                    done.child_sas += n;
                }
                Err(why) => {
                    done.failed += 1;
                    tracing::warn!(
                        target: TARGET,
                        "HA takeover: IKE SA {:016x}/{:016x} with {}: {why}",
                        rec.spi_i,
                        rec.spi_r,
                        rec.peer
                    );
                }
            }
        }
        done.failed += by_ike.values().map(|v| v.len() as u64).sum::<u64>();
        for e in 0..self.entries.len() {
            if self.entries[e].sa.is_none() && !self.entries[e].plan.dynamic {
                let actions = self.entries[e].failover.handle(now, FailoverInput::HaSwitchover);
                self.apply(e, actions);
            }
        }
        done
    }

    fn adopt_one(
        &mut self,
        controls: &mut [ControlEnd<Mbuf<'_>>],
        table: &mut SaTable,
        created_ns: u64,
        now: Time,
        rec: &IkeSaRecord,
        children: &[ChildSaRecord],
    ) -> Result<u64, String> {
        if rec.version != 2 {
            return Err(format!("IKEv{} SAs are not taken over", rec.version));
        }
        let peer = rec.peer.ip();
        let e = rec
            .crypto_map
            .as_ref()
            .and_then(|m| {
                self.entries
                    .iter()
                    .position(|e| e.plan.map == m.name && u32::from(e.plan.sequence) == m.seq)
            })
            .or_else(|| {
                self.entries
                    .iter()
                    .position(|e| e.plan.peers.iter().any(|p| p.remote_addr.ip() == peer))
            })
            .ok_or("no crypto map entry of this unit has the peer")?;
        let dynamic = self.entries[e].plan.dynamic;
        let cfg = self.entries[e]
            .plan
            .peers
            .iter()
            .find(|p| dynamic || p.remote_addr.ip() == peer)
            .cloned()
            .ok_or("the crypto map entry does not list the peer for IKEv2")?;
        let sa =
            IkeSa::import(now, cfg, rec, children, 0, &mut self.rng).map_err(|e| e.to_string())?;
        let info = sa.established_info().cloned().ok_or("not established")?;
        let resumed = sa.resumed_children();
        let h = self.endpoint.adopt(now, sa);
        let saref = SaRef { peer, version: IkeVersion::Ikev2, initiator: false };
        self.owner.insert(h, e);
        self.sa_refs.insert(h, saref);
        if rec.nat {
            self.natt_port.insert(peer, rec.peer.port());
            if let Some(every) = self.keepalive_every {
                self.keepalive_due.insert(h, Instant::now() + every);
            }
        }
        self.established.insert(h, info);
        self.up_since.insert(h, Instant::now());
        if !dynamic {
            self.entries[e].sa = Some(h);
        }
        // The entry's machine is fresh: it takes the replicated peer index, then the SA
        // (a dynamic entry's is never consulted).
        if let Some(m) = rec.crypto_map.as_ref().filter(|_| !dynamic) {
            let input = FailoverInput::ClusterPeerIndex {
                peer_index: usize::from(m.peer_index),
                version: IkeVersion::Ikev2,
            };
            let actions = self.entries[e].failover.handle(now, input);
            self.apply(e, actions);
        }
        if !dynamic {
            let actions = self.entries[e].failover.handle(now, FailoverInput::Established(saref));
            self.apply(e, actions);
        }
        let before = self.stats.children_up;
        for c in resumed {
            let r = children.iter().find(|r| r.inbound_spi == c.inbound_spi);
            let resume = r.map(|r| (r.outbound_seq, r.replay.highest));
            self.child_up_at(controls, table, created_ns, h, c, resume);
        }
        self.had_child.insert(h);
        tracing::info!(
            target: TARGET,
            "HA takeover: IKE SA {:016x}/{:016x} with {} resumed ({} Child SA(s))",
            rec.spi_i,
            rec.spi_r,
            rec.peer,
            self.stats.children_up - before
        );
        Ok(self.stats.children_up - before)
    }

    /// On becoming standby: every Child SA leaves the dataplane and the entries' traffic
    /// is unbound, without a word to the peers (the mate carries the tunnels on).
    pub(crate) fn ha_withdraw(
        &mut self,
        controls: &mut [ControlEnd<Mbuf<'_>>],
        table: &mut SaTable,
    ) {
        let spis: Vec<u32> = self.children.keys().copied().collect();
        for spi in spis {
            self.child_down(controls, table, spi);
        }
    }
}
