//! The control thread's side of the appliance: the workers' events, SA reclamation and the
//! operator socket's answers.
//!
//! Without an IKE daemon (a later part of the project) punted IKE packets and ACQUIREs are
//! counted and logged (rate-limited): with static SAs they mean a peer or a policy that the
//! config does not cover.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use dataplane::crypto::Cipher;
use dataplane::esp::ControlReason;
use dataplane::pipeline::Counters;
use dataplane::queue::{ControlEnd, Event};
use dataplane::sa::{Direction, Encap, Mode};
use dataplane::spd::SaIndex;
use dataplane::table::SaTable;

use std::sync::Arc;

use dataplane::queue::Command;
use dataplane::spd::PolicyId;

use super::config::{ApplianceConfig, PolicyAction};
use super::reload;
use super::report::EventStats;
use super::runtime::Published;
use super::runtime::{self, BuiltSa};
use crate::dpdk::{Mbuf, Mempool, Port};
use crate::operator::model::{
    self, ClearSaKind, InterfaceSnap, Request, Response, SaSnap, Snapshot, WorkerSnap,
};
use crate::operator::server::OperatorServer;

/// The longest wait between two rebuilds of the SPD for dynamic crypto map entries: a
/// rebuild that took `t` is followed by the next one no sooner than `4 t` (a fifth of the
/// control thread at most), and `t` counts as at most a quarter of this.
const DYNAMIC_SPD_MAX_GAP: std::time::Duration = std::time::Duration::from_millis(20);

/// At most one log line per kind of event per this interval.
const LOG_INTERVAL_S: u64 = 5;

pub(crate) struct Control {
    /// The running config: the one started with, or the last one reloaded.
    cfg: ApplianceConfig,
    /// Table index of each static outbound SA, by SPI.
    outbound: HashMap<u32, SaIndex>,
    /// The SPD id of each of `cfg.policies` (stable across reloads).
    policy_ids: Vec<PolicyId>,
    next_policy_id: u32,
    /// The first protect policy of each tunnel (its selectors are shown), by tunnel name.
    tunnel_policy: HashMap<String, usize>,
    stats: EventStats,
    last_log: [Option<Instant>; 3],
    /// The IKEv2 daemon, when a crypto map uses IKEv2.
    ike: Option<super::ike::IkeDaemon>,
    /// The failover unit, with `[ha]`.
    ha: Option<super::ha::HaUnit>,
    /// IKE packets dropped while this unit was not the active one.
    ike_while_standby: u64,
    /// Dynamic SPD entries changed since the last rebuild, and when that was and how long
    /// it took.
    dynamic_spd_pending: bool,
    dynamic_spd_built: Option<(Instant, std::time::Duration)>,
}

impl Control {
    pub(crate) fn new(
        cfg: ApplianceConfig,
        outbound: HashMap<u32, SaIndex>,
        policy_ids: Vec<PolicyId>,
    ) -> Self {
        let next_policy_id = policy_ids.iter().map(|p| p.0 + 1).max().unwrap_or(0);
        let tunnel_policy = tunnel_policies(&cfg);
        let ike = super::ike::IkeDaemon::new(&cfg, &policy_ids);
        Control {
            ike,
            cfg,
            outbound,
            policy_ids,
            next_policy_id,
            tunnel_policy,
            stats: EventStats::default(),
            last_log: [None; 3],
            ha: None,
            ike_while_standby: 0,
            dynamic_spd_pending: false,
            dynamic_spd_built: None,
        }
    }

    /// Runs the failover unit from now on (the workers hold its standby addresses).
    pub(crate) fn set_ha(&mut self, ha: super::ha::HaUnit) {
        self.ha = Some(ha);
    }

    /// `show failover`, with what the control thread counts itself.
    fn failover_snapshot(&self) -> Option<crate::operator::failover::FailoverSnap> {
        let mut s = self.ha.as_ref()?.snapshot();
        s.ike_dropped_not_active = self.ike_while_standby;
        Some(s)
    }

    /// Whether the control thread should poll again at once (a failover role change is
    /// under way) rather than sleep.
    pub(crate) fn hurried(&self) -> bool {
        self.ha.as_ref().is_some_and(super::ha::HaUnit::hurried)
    }

    /// Whether this unit negotiates and forwards: always without `[ha]`.
    fn active(&self) -> bool {
        self.ha.as_ref().is_none_or(super::ha::HaUnit::is_active)
    }

    pub(crate) fn stats(&self) -> EventStats {
        let mut s = self.stats;
        if let Some(i) = self.ike.as_ref().map(|ike| ike.stats()) {
            s.ike_rx = i.rx;
            s.ike_tx = i.tx;
            s.ike_tx_dropped = i.tx_dropped;
            s.children_up = i.children_up;
            s.children_down = i.children_down;
            s.install_failed = i.install_failed;
            s.nat_keepalives_sent = i.nat_keepalives;
        }
        s
    }

    fn may_log(&mut self, kind: usize) -> bool {
        let now = Instant::now();
        let due =
            self.last_log[kind].is_none_or(|t| now.duration_since(t).as_secs() >= LOG_INTERVAL_S);
        if due {
            self.last_log[kind] = Some(now);
        }
        due
    }

    /// Drains every worker's events, runs IKE, and frees the SAs no worker can still see.
    /// `pool` gives the mbufs of the control plane's own packets (IKE); `now_ns` is the
    /// workers' clock.
    pub(crate) fn poll<'e>(
        &mut self,
        controls: &mut [ControlEnd<Mbuf<'e>>],
        table: &mut SaTable,
        pool: Option<&Mempool<'e>>,
        now_ns: u64,
    ) {
        for c in controls.iter_mut() {
            while let Some(ev) = c.events.pop() {
                match ev {
                    Event::Punt { reason, packet } => {
                        match reason {
                            ControlReason::Ike => self.stats.punts_ike += 1,
                            _ => self.stats.punts_other += 1,
                        }
                        if reason == ControlReason::NotEsp
                            && let Some(ha) = self.ha.as_mut()
                            && ha.on_punt(dataplane::buf::PacketBuf::data(&packet))
                        {
                            continue;
                        }
                        if reason != ControlReason::Ike {
                            continue;
                        }
                        if !self.active() {
                            // The mate answers for the tunnels.
                            self.ike_while_standby += 1;
                            continue;
                        }
                        if let Some(ike) = self.ike.as_mut() {
                            ike.on_punt(dataplane::buf::PacketBuf::data(&packet));
                        } else if self.may_log(0) {
                            tracing::info!(
                                "IKE packet ({} bytes) punted by worker {}: no crypto map uses \
                                 IKEv2; static SAs only",
                                dataplane::buf::PacketBuf::len(&packet),
                                c.worker
                            );
                        }
                    }
                    Event::Acquire(a) => {
                        self.stats.acquires += 1;
                        if !self.active() {
                            continue;
                        }
                        let handled = self.ike.as_mut().is_some_and(|ike| ike.on_acquire(a.policy));
                        if !handled && self.may_log(1) {
                            tracing::warn!(
                                "ACQUIRE from worker {}: traffic {:?} matches {} which has no SA",
                                c.worker,
                                a.key,
                                a.policy
                            );
                        }
                    }
                    Event::Sa(e) => {
                        let hard = match e.kind {
                            dataplane::sa::SaEventKind::SoftExpired(_) => {
                                self.stats.sa_soft += 1;
                                false
                            }
                            dataplane::sa::SaEventKind::HardExpired(_) => {
                                self.stats.sa_hard += 1;
                                true
                            }
                        };
                        let ike = self.ike.as_mut();
                        if ike.is_some_and(|ike| ike.on_lifetime(e.spi, e.direction, hard)) {
                            continue;
                        }
                        if self.may_log(2) {
                            tracing::warn!(
                                "SA {:#x} ({:?}): lifetime event {:?}",
                                e.spi,
                                e.direction,
                                e.kind
                            );
                        }
                    }
                    Event::Counters(_) => {}
                }
            }
        }
        let mut took_over = false;
        if let Some(ha) = self.ha.as_mut() {
            let change = ha.poll(controls, table, pool, self.ike.as_mut(), now_ns);
            if change == Some(super::ha::RoleChange::Standby) {
                // The SAs went with the role: a fresh daemon, nothing negotiated.
                self.ike = super::ike::IkeDaemon::new(&self.cfg, &self.policy_ids);
            }
            took_over = change == Some(super::ha::RoleChange::Active);
        }
        // Only the active unit negotiates: a standby's timers would talk to the peers of
        // SAs its mate now carries.
        let runs_ike = self.ha.as_ref().is_none_or(super::ha::HaUnit::runs_ike);
        if let Some(ike) = self.ike.as_mut()
            && runs_ike
        {
            ike.process(controls, table, now_ns);
        }
        if self.ike.as_mut().is_some_and(|ike| ike.dynamic_spd().take_changed()) {
            self.dynamic_spd_pending = true;
        }
        // Once per poll (every Child SA of the burst at once), and before the answers go
        // out: a peer's first packet finds its policy. Only a rebuild that took long
        // (tens of thousands of entries) spaces the next one out.
        if self.dynamic_spd_pending
            && (took_over || self.dynamic_spd_built.is_none_or(|(t, took)| t.elapsed() >= took * 4))
        {
            self.dynamic_spd_pending = false;
            let t0 = Instant::now();
            self.install_dynamic_spd(controls);
            self.dynamic_spd_built = Some((t0, t0.elapsed().min(DYNAMIC_SPD_MAX_GAP / 4)));
        }
        if took_over && let Some(ha) = self.ha.as_mut() {
            ha.claim_addresses(controls);
        }
        if let Some(ike) = self.ike.as_mut()
            && runs_ike
        {
            ike.flush(controls, pool);
        }
        table.reclaim();
    }

    /// The SPD again, with the dynamic crypto map entries' policies as they are now (their
    /// bindings went to the workers with each Child SA; the workers keep them across SPD
    /// installs).
    fn install_dynamic_spd(&mut self, controls: &mut [ControlEnd<Mbuf<'_>>]) {
        let extra = self.ike.as_mut().map(|ike| ike.dynamic_spd().entries()).unwrap_or_default();
        let n = extra.len();
        match runtime::build_spd_with(&self.cfg, &self.policy_ids, &self.outbound, extra) {
            Ok((spd, _)) => {
                let spd = Arc::new(spd);
                for c in controls.iter_mut() {
                    if let Err(e) = push_all(c, vec![Command::InstallSpd(Arc::clone(&spd))]) {
                        tracing::error!("dynamic SPD entries not installed: {e}");
                    }
                }
                tracing::debug!("SPD rebuilt with {n} dynamic entries");
            }
            Err(e) => tracing::error!("dynamic SPD entries not installed: {e:#}"),
        }
    }

    /// Re-reads the config file and applies what changed (see [`super::reload`]): the
    /// lines to show the operator, or why nothing was applied.
    pub(crate) fn reload(
        &mut self,
        controls: &mut [ControlEnd<Mbuf<'_>>],
        table: &mut SaTable,
    ) -> Result<Vec<String>, String> {
        let path = self.cfg.profile.path.clone();
        if self.cfg.document.0.is_empty() {
            return Err("this appliance was not started from a config file".into());
        }
        let new =
            ApplianceConfig::load_full(&path).map_err(|e| format!("{e}\n(nothing was applied)"))?;
        let restart = reload::restart_sections_changed(&self.cfg, &new);
        if !restart.is_empty() {
            return Err(format!(
                "{}: [{}] changed; that needs a restart (nothing was applied)",
                path.display(),
                restart.join("], [")
            ));
        }
        let diff = reload::sa_diff(&self.cfg, &new);
        let old_by_tunnel = runtime::policies_by_tunnel(&self.cfg);
        let new_by_tunnel = runtime::policies_by_tunnel(&new);
        // Inbound SAs whose selectors (the mirror of their tunnel's policies) moved are
        // replaced too.
        let mut replace = diff.changed.clone();
        let mut selectors_moved = 0;
        for &(o, n) in &diff.unchanged {
            let s = &new.sas[n];
            if s.direction == Direction::Inbound
                && runtime::inbound_selectors(&self.cfg, &old_by_tunnel, &self.cfg.sas[o])
                    != runtime::inbound_selectors(&new, &new_by_tunnel, s)
            {
                replace.push((o, n));
                selectors_moved += 1;
            }
        }
        // Everything is built before anything is touched: an SA that does not build
        // leaves the running state as it is.
        let added: Vec<(usize, BuiltSa)> = diff
            .added
            .iter()
            .map(|&n| runtime::build_sa(&new, &new_by_tunnel, &new.sas[n]).map(|b| (n, b)))
            .collect::<anyhow::Result<_>>()
            .map_err(|e| format!("{e:#} (nothing was applied)"))?;
        let replaced: Vec<(usize, BuiltSa)> = replace
            .iter()
            .map(|&(_, n)| runtime::build_sa(&new, &new_by_tunnel, &new.sas[n]).map(|b| (n, b)))
            .collect::<anyhow::Result<_>>()
            .map_err(|e| format!("{e:#} (nothing was applied)"))?;

        // New SAs first; a full table undoes the ones already installed.
        let mut index = self.outbound.clone();
        let mut installed: Vec<(Direction, u32, Option<SaIndex>)> = Vec::new();
        for (n, built) in added {
            let spi = new.sas[n].spec.spi;
            let r = match built {
                BuiltSa::Outbound(sa) => table.install_outbound(sa).map(|idx| {
                    index.insert(spi, idx);
                    installed.push((Direction::Outbound, spi, Some(idx)));
                }),
                BuiltSa::Inbound(sa) => table.install_inbound(sa).map(|()| {
                    installed.push((Direction::Inbound, spi, None));
                }),
            };
            if let Err(e) = r {
                for (dir, spi, idx) in installed {
                    let _ = match (dir, idx) {
                        (Direction::Outbound, Some(idx)) => table.delete_outbound(idx),
                        _ => table.delete_inbound(spi),
                    };
                }
                return Err(format!("installing SA {spi:#x}: {e:?} (nothing was applied)"));
            }
        }
        // Same SPI, new contents: the outbound SA is switched in its slot (make before
        // break), the inbound one replaced under its SPI.
        for (n, built) in replaced {
            let spi = new.sas[n].spec.spi;
            let r = match built {
                BuiltSa::Outbound(sa) => match self.outbound.get(&spi) {
                    Some(&idx) => table.rekey_outbound(idx, sa),
                    None => table.install_outbound(sa).map(|idx| {
                        index.insert(spi, idx);
                    }),
                },
                BuiltSa::Inbound(sa) => table.replace_inbound(sa),
            };
            r.map_err(|e| format!("re-keying SA {spi:#x}: {e:?}"))?;
        }
        for &o in &diff.removed {
            let s = &self.cfg.sas[o];
            if s.direction == Direction::Outbound {
                index.remove(&s.spec.spi);
            }
        }

        // The SPD with stable ids: the bindings of unchanged policies carry over.
        let (ids, retired) = reload::policy_ids(
            &self.cfg.policies,
            &self.policy_ids,
            &new.policies,
            &mut self.next_policy_id,
        );
        // The dynamic entries' Child SAs keep their policies across a reload.
        let extra = self.ike.as_mut().map(|ike| ike.dynamic_spd().entries()).unwrap_or_default();
        let (spd, binds) =
            runtime::build_spd_with(&new, &ids, &index, extra).map_err(|e| format!("{e:#}"))?;
        let spd = Arc::new(spd);
        let old_binding: HashMap<PolicyId, SaIndex> = self
            .cfg
            .policies
            .iter()
            .zip(&self.policy_ids)
            .filter_map(|(p, id)| match p.action {
                PolicyAction::Protect { sa } => self.outbound.get(&sa).map(|&i| (*id, i)),
                _ => None,
            })
            .collect();
        let mut commands: Vec<(PolicyId, Option<SaIndex>)> = binds
            .iter()
            .filter(|(id, idx)| old_binding.get(id) != Some(idx))
            .map(|&(id, idx)| (id, Some(idx)))
            .collect();
        commands.extend(retired.iter().map(|&id| (id, None)));
        // IKE's tunnels move to the new policy ids in the same burst.
        let ike_change = self.ike.as_mut().map(|ike| ike.reconfigure(&new, &ids));
        if let Some(r) = &ike_change {
            commands.extend(r.binds.iter().copied());
        }
        for c in controls.iter_mut() {
            // One burst: the worker sees the new SPD and its new bindings together.
            let mut batch: Vec<Command<Mbuf<'_>>> = Vec::with_capacity(commands.len() + 1);
            batch.push(Command::InstallSpd(Arc::clone(&spd)));
            batch.extend(commands.iter().map(|&(policy, sa)| Command::BindSa { policy, sa }));
            push_all(c, batch)?;
        }
        // What no policy can reach any more goes last.
        for &o in &diff.removed {
            let s = &self.cfg.sas[o];
            let r = match s.direction {
                Direction::Outbound => match self.outbound.get(&s.spec.spi) {
                    Some(&idx) => table.delete_outbound(idx),
                    None => Ok(()),
                },
                Direction::Inbound => table.delete_inbound(s.spec.spi),
            };
            if let Err(e) = r {
                tracing::warn!("reload: deleting SA {:#x}: {e:?}", s.spec.spi);
            }
        }

        let old_ids: std::collections::HashSet<PolicyId> =
            self.policy_ids.iter().copied().collect();
        let kept = ids.iter().filter(|id| old_ids.contains(id)).count();
        let summary = reload::Summary {
            sas_added: diff.added.len(),
            sas_rekeyed: diff.changed.len(),
            sas_removed: diff.removed.len(),
            inbound_selectors_changed: selectors_moved,
            policies_added: ids.len() - kept,
            policies_removed: retired.len(),
            policies_kept: kept,
            notes: crypto_notes(&control::policy::PolicyConfig::diff(
                &self.cfg.policy,
                &new.policy,
            )),
        };
        for w in &new.warnings {
            tracing::warn!("reload: {w}");
        }
        let mut summary = summary;
        match (ike_change, self.ike.as_mut()) {
            (Some(r), Some(ike)) => {
                summary.notes.extend(r.notes.iter().cloned());
                ike.finish_reconfigure(table, r);
            }
            _ => self.ike = super::ike::IkeDaemon::new(&new, &ids),
        }
        self.tunnel_policy = tunnel_policies(&new);
        self.cfg = new;
        self.outbound = index;
        self.policy_ids = ids;
        Ok(summary.lines())
    }

    /// The answer to one operator request.
    pub(crate) fn answer(
        &mut self,
        req: &Request,
        ports: &[Port<'_>],
        published: &[Published],
        lcores: &[u32],
        table: &SaTable,
        started: Instant,
    ) -> Response {
        match req {
            Request::Ping => Response::Pong,
            Request::Snapshot => {
                Response::Ok(self.snapshot(ports, published, lcores, table, started))
            }
            Request::RunningConfig => Response::RunningConfig {
                text: crate::operator::policy_view::running_config(
                    &self.cfg.document.0,
                    &self.cfg.policy,
                ),
            },
            Request::CryptoMap => {
                let mut maps = crate::operator::policy_view::crypto_maps(&self.cfg.policy);
                // The multi-peer failover index lives in the IKE daemon.
                for (name, sequence, peer) in self.ike.iter().flat_map(|i| i.current_peers()) {
                    if let Some(m) =
                        maps.iter_mut().find(|m| m.name == name && m.sequence == sequence)
                        && let Some(i) = m.peers.iter().position(|p| *p == peer.to_string())
                    {
                        m.current_peer = i;
                    }
                }
                Response::CryptoMaps { maps }
            }
            Request::Initiate { map, sequence } => match self.ike.as_mut() {
                Some(ike) => match ike.initiate(map, *sequence) {
                    Ok(line) => Response::Initiated { line },
                    Err(e) => Response::error(e),
                },
                None => Response::error("no crypto map uses IKE"),
            },
            Request::Ikev2Sa => Response::Ikev2Sas {
                sas: self.ike.as_ref().map(|ike| ike.snapshot()).unwrap_or_default(),
            },
            Request::Ikev1Sa => Response::Ikev1Sas {
                sas: self.ike.as_ref().map(|ike| ike.snapshot_ikev1()).unwrap_or_default(),
            },
            Request::ClearSa { what, peer } => match self.ike.as_mut() {
                Some(ike) => Response::SasCleared {
                    count: match what {
                        ClearSaKind::Ikev2 => ike.clear_ike(*peer),
                        ClearSaKind::Ikev1 => ike.clear_ikev1(*peer),
                        ClearSaKind::Ipsec => ike.clear_children(*peer),
                    },
                },
                None => Response::error(
                    "no crypto map uses IKE: static SAs are removed by editing the config \
                     and reloading",
                ),
            },
            Request::ShowFailover => match self.failover_snapshot() {
                Some(status) => Response::Failover { status },
                None => Response::error("failover is not configured (no [ha] section)"),
            },
            Request::Failover { action } => match self.ha.as_mut() {
                Some(ha) => match ha.command(*action) {
                    Ok(line) => Response::FailoverDone { line },
                    Err(e) => Response::error(e),
                },
                None => Response::error("failover is not configured (no [ha] section)"),
            },
            // The operator server answers these itself (it keeps the counter baselines).
            other => Response::error(format!("{other:?} is not handled by the appliance")),
        }
    }

    fn snapshot(
        &self,
        ports: &[Port<'_>],
        published: &[Published],
        lcores: &[u32],
        table: &SaTable,
        started: Instant,
    ) -> Snapshot {
        let cfg = &self.cfg;
        let interfaces = cfg
            .interfaces
            .iter()
            .map(|ic| {
                let port = &ports[ic.port];
                let s = port.stats().unwrap_or_default();
                let link = port.link().ok();
                let mac = ic.mac.or_else(|| port.mac().ok()).unwrap_or_default();
                InterfaceSnap {
                    name: ic.name.clone(),
                    role: match ic.role {
                        dataplane::l3::Role::Inside => model::ROLE_INSIDE.into(),
                        dataplane::l3::Role::Outside => model::ROLE_OUTSIDE.into(),
                    },
                    port: port.id(),
                    device: port.name().to_owned(),
                    driver: port.driver().unwrap_or_default(),
                    mac: crate::forward::fmt_mac(mac),
                    vlan: ic.vlan,
                    addresses: ic.addresses.iter().map(|(a, l)| format!("{a}/{l}")).collect(),
                    mtu: ic.mtu,
                    link_up: link.is_some_and(|l| l.up),
                    speed_mbps: link.map_or(0, |l| l.speed_mbps),
                    rx_packets: s.rx_packets,
                    rx_bytes: s.rx_bytes,
                    tx_packets: s.tx_packets,
                    tx_bytes: s.tx_bytes,
                    rx_missed: s.rx_missed,
                    rx_errors: s.rx_errors,
                    tx_errors: s.tx_errors,
                    rx_nombuf: s.rx_nombuf,
                }
            })
            .collect();
        let mut drops = BTreeMap::new();
        let workers = published
            .iter()
            .zip(lcores)
            .enumerate()
            .map(|(w, (p, &lcore))| {
                let mut counters: BTreeMap<String, u64> = Counters::NAMES
                    .iter()
                    .zip(p.pipeline())
                    .map(|(n, v)| ((*n).to_owned(), v))
                    .collect();
                counters.insert("tx_ring_full".into(), p.tx_full());
                counters.insert("handoff_ring_full".into(), p.handoff_full());
                for r in dataplane::sa::DropReason::ALL {
                    let v = p.esp_drops()[r.index()];
                    if v != 0 {
                        *drops.entry(r.name().to_owned()).or_insert(0) += v;
                    }
                }
                WorkerSnap { worker: w as u32, lcore, counters }
            })
            .collect();
        // The workers' clock starts with the run (see runtime::Clock), as does `started`.
        let now_ns = started.elapsed().as_nanos() as u64;
        let mut sas: Vec<SaSnap> =
            cfg.sas.iter().filter_map(|s| self.sa_snap(s, None, table, now_ns)).collect();
        if let Some(ike) = &self.ike {
            for (s, idx, (local, remote)) in ike.sas() {
                if let Some(mut snap) = self.sa_snap(s, idx, table, now_ns) {
                    snap.local_ident = Some(local.clone());
                    snap.remote_ident = Some(remote.clone());
                    sas.push(snap);
                }
            }
        }
        Snapshot {
            instance: cfg.profile.eal.file_prefix.clone(),
            uptime_s: started.elapsed().as_secs_f64(),
            interfaces,
            workers,
            sas,
            drops,
        }
    }

    /// One SA for the operator; `outbound` is the table index of an outbound SA that is not
    /// one of the config's static SAs.
    fn sa_snap(
        &self,
        s: &super::config::StaticSa,
        outbound: Option<SaIndex>,
        table: &SaTable,
        now_ns: u64,
    ) -> Option<SaSnap> {
        let spec = &s.spec;
        let (counters, seq, (left_ns, left_bytes, _)) = match s.direction {
            Direction::Inbound => {
                let sa = table.inbound(spec.spi)?;
                (sa.counters(), sa.replay_window().top(), sa.lifetime_remaining(now_ns))
            }
            Direction::Outbound => {
                let idx = outbound.or_else(|| self.outbound.get(&spec.spi).copied())?;
                let sa = table.outbound(idx)?;
                (sa.counters(), sa.last_seq(), sa.lifetime_remaining(now_ns))
            }
        };
        // The interface whose address is the SA's local endpoint.
        let interface = self
            .cfg
            .interfaces
            .iter()
            .find(|i| i.addresses.iter().any(|(a, _)| *a == spec.local))
            .map_or_else(String::new, |i| i.name.clone());
        // Selectors: the tunnel's (first) protect policy.
        let policy = self.tunnel_policy.get(&s.tunnel).map(|&i| &self.cfg.policies[i]);
        Some(SaSnap {
            tunnel: s.tunnel.clone(),
            interface,
            direction: match s.direction {
                Direction::Inbound => model::Direction::Inbound,
                Direction::Outbound => model::Direction::Outbound,
            },
            spi: spec.spi,
            transform: asa_transform(spec.transform),
            mode: match spec.mode {
                Mode::Tunnel => "tunnel".into(),
                Mode::Transport => "transport".into(),
            },
            local: spec.local.to_string(),
            remote: spec.remote.to_string(),
            encap: match spec.encap {
                Encap::Raw => "esp".into(),
                Encap::Udp { src_port, dst_port } => format!("udp {src_port}->{dst_port}"),
            },
            esn: spec.esn,
            replay_window: spec.replay_window,
            local_ident: policy.map(|p| p.src.to_string()),
            remote_ident: policy.map(|p| p.dst.to_string()),
            packets: counters.packets.get(),
            bytes: counters.bytes.get(),
            seq,
            drops: counters.drops.nonzero().map(|(r, n)| (r.name().to_owned(), n)).collect(),
            lifetime_remaining_s: left_ns.map(|n| n / 1_000_000_000),
            lifetime_remaining_kb: left_bytes.map(|b| b / 1024),
            path_mtu: spec.mtu,
        })
    }
}

/// The crypto-map part of a reload, one line per kind of change. Until IKE runs (the IKEv2
/// issue), crypto maps hold no tunnels: a teardown is reported, there is nothing to tear.
fn crypto_notes(d: &control::policy::PolicyDiff) -> Vec<String> {
    if d.is_empty() {
        return vec!["crypto policy: unchanged".into()];
    }
    let keys = |v: &[control::policy::MapKey]| {
        v.iter().map(|k| format!("crypto map {k}")).collect::<Vec<_>>().join(", ")
    };
    let mut out = Vec::new();
    for (what, list) in [
        ("added", &d.maps_added),
        ("removed", &d.maps_removed),
        ("changed (peer index reset to the first peer)", &d.maps_changed),
        (
            "tunnels torn down (a transform set, proposal, IKE policy or tunnel group they use changed)",
            &d.tunnels_to_tear_down,
        ),
    ] {
        if !list.is_empty() {
            out.push(format!("{what}: {}", keys(list)));
        }
    }
    out.push(format!("crypto map entries untouched: {}", d.maps_untouched.len()));
    out
}

/// The first protect policy of each tunnel, by tunnel name (built once: a snapshot of
/// 100,000 tunnels must not search lists per SA).
fn tunnel_policies(cfg: &ApplianceConfig) -> HashMap<String, usize> {
    let tunnel_of: HashMap<u32, &str> = cfg
        .sas
        .iter()
        .filter(|o| o.direction == Direction::Outbound)
        .map(|o| (o.spec.spi, o.tunnel.as_str()))
        .collect();
    let mut tunnel_policy = HashMap::new();
    for (i, p) in cfg.policies.iter().enumerate() {
        if let PolicyAction::Protect { sa } = p.action
            && let Some(t) = tunnel_of.get(&sa)
        {
            tunnel_policy.entry((*t).to_owned()).or_insert(i);
        }
    }
    tunnel_policy
}

/// The transform as the ASA names it (`esp-aes-gcm-256`, `esp-aes-256 esp-sha-256-hmac`).
pub(crate) fn asa_transform(t: dataplane::crypto::Transform) -> String {
    use dataplane::crypto::{AesKeyLen, Integ};
    let bits = |k: AesKeyLen| match k {
        AesKeyLen::Aes128 => 128,
        AesKeyLen::Aes192 => 192,
        AesKeyLen::Aes256 => 256,
    };
    let enc = match t.cipher() {
        Cipher::Null => "esp-null".to_owned(),
        Cipher::AesCbc(k) => format!("esp-aes-{}", bits(k)),
        Cipher::AesCtr(k) => format!("esp-aes-ctr-{}", bits(k)),
        Cipher::AesGcm { key, icv_len: 16 } => format!("esp-aes-gcm-{}", bits(key)),
        Cipher::AesGcm { key, icv_len } => format!("esp-aes-gcm-{}-icv{}", bits(key), icv_len),
        Cipher::AesGmac(k) => format!("esp-aes-gmac-{}", bits(k)),
        Cipher::ChaCha20Poly1305 => "esp-chacha20-poly1305".to_owned(),
    };
    let integ = match t.integ() {
        Integ::None => return enc,
        Integ::HmacSha1_96 => "esp-sha-hmac",
        Integ::HmacSha256_128 => "esp-sha-256-hmac",
        Integ::HmacSha384_192 => "esp-sha-384-hmac",
        Integ::HmacSha512_256 => "esp-sha-512-hmac",
    };
    format!("{enc} {integ}")
}

/// Pushes `batch` onto a worker's command ring in one burst when it fits; what does not
/// fit waits (the worker drains its ring between bursts) for at most a second.
pub(crate) fn push_all<'e>(
    c: &mut ControlEnd<Mbuf<'e>>,
    mut batch: Vec<Command<Mbuf<'e>>>,
) -> Result<(), String> {
    let deadline = Instant::now() + std::time::Duration::from_secs(1);
    loop {
        c.commands.push_burst(&mut batch);
        if batch.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "worker {} does not take commands ({} left): is it stuck?",
                c.worker,
                batch.len()
            ));
        }
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
}

/// Binds the operator socket; a failure is logged and the appliance runs without it.
pub(crate) fn bind_operator(cfg: &ApplianceConfig) -> Option<OperatorServer> {
    let path = cfg.operator_socket.clone().unwrap_or_else(|| {
        crate::operator::client::default_socket_path(&cfg.profile.eal.file_prefix)
    });
    match OperatorServer::bind(&path) {
        Ok(s) => {
            tracing::info!("operator socket {}", path.display());
            Some(s)
        }
        Err(e) => {
            tracing::warn!(
                "operator socket {}: {e}; `ferrogate show` will not work",
                path.display()
            );
            None
        }
    }
}

impl Control {
    /// Serves waiting Prometheus scrapes with the raw snapshot, built only when one is due.
    pub(crate) fn poll_metrics(
        &self,
        server: &mut crate::metrics::MetricsServer,
        ports: &[Port<'_>],
        published: &[Published],
        lcores: &[u32],
        table: &SaTable,
        started: Instant,
    ) {
        let snapshot = || self.snapshot(ports, published, lcores, table, started);
        let ike = || self.ike.as_ref().map(|ike| ike.counters());
        let failover = || self.failover_snapshot();
        let scrape = &mut || crate::metrics::Scrape {
            snapshot: snapshot(),
            ike: ike(),
            failover: failover(),
        };
        server.poll(Instant::now(), scrape);
    }
}
