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

use super::config::{ApplianceConfig, PolicyAction};
use super::report::EventStats;
use super::runtime::Published;
use crate::dpdk::{Mbuf, Port};
use crate::operator::model::{
    self, InterfaceSnap, Request, Response, SaSnap, Snapshot, WorkerSnap,
};
use crate::operator::server::OperatorServer;

/// At most one log line per kind of event per this interval.
const LOG_INTERVAL_S: u64 = 5;

pub(crate) struct Control<'c> {
    cfg: &'c ApplianceConfig,
    /// Table index of each static outbound SA, by SPI.
    outbound: HashMap<u32, SaIndex>,
    /// The first protect policy of each tunnel (its selectors are shown), by tunnel name.
    tunnel_policy: HashMap<String, usize>,
    stats: EventStats,
    last_log: [Option<Instant>; 3],
}

impl<'c> Control<'c> {
    pub(crate) fn new(cfg: &'c ApplianceConfig, outbound: Vec<(u32, SaIndex)>) -> Self {
        // Maps built once: a snapshot of 100,000 tunnels must not search lists per SA.
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
        Control {
            cfg,
            outbound: outbound.into_iter().collect(),
            tunnel_policy,
            stats: EventStats::default(),
            last_log: [None; 3],
        }
    }

    pub(crate) fn stats(&self) -> EventStats {
        self.stats
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

    /// Drains every worker's events and frees the SAs no worker can still see.
    pub(crate) fn poll(&mut self, controls: &mut [ControlEnd<Mbuf<'_>>], table: &mut SaTable) {
        for c in controls.iter_mut() {
            while let Some(ev) = c.events.pop() {
                match ev {
                    Event::Punt { reason, packet } => {
                        match reason {
                            ControlReason::Ike => self.stats.punts_ike += 1,
                            _ => self.stats.punts_other += 1,
                        }
                        if reason == ControlReason::Ike && self.may_log(0) {
                            tracing::info!(
                                "IKE packet ({} bytes) punted by worker {}: no IKE daemon in \
                                 this build; static SAs only",
                                dataplane::buf::PacketBuf::len(&packet),
                                c.worker
                            );
                        }
                    }
                    Event::Acquire(a) => {
                        self.stats.acquires += 1;
                        if self.may_log(1) {
                            tracing::warn!(
                                "ACQUIRE from worker {}: traffic {:?} matches {} which has no SA",
                                c.worker,
                                a.key,
                                a.policy
                            );
                        }
                    }
                    Event::Sa(e) => {
                        match e.kind {
                            dataplane::sa::SaEventKind::SoftExpired(_) => self.stats.sa_soft += 1,
                            dataplane::sa::SaEventKind::HardExpired(_) => self.stats.sa_hard += 1,
                        }
                        if self.may_log(2) {
                            tracing::warn!(
                                "SA {:#x} ({:?}): lifetime event {:?}; static SAs are not rekeyed",
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
        table.reclaim();
    }

    /// The answer to one operator request.
    pub(crate) fn answer(
        &self,
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
        let cfg = self.cfg;
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
        let sas = cfg.sas.iter().filter_map(|s| self.sa_snap(s, table, now_ns)).collect();
        Snapshot {
            instance: cfg.profile.eal.file_prefix.clone(),
            uptime_s: started.elapsed().as_secs_f64(),
            interfaces,
            workers,
            sas,
            drops,
        }
    }

    fn sa_snap(&self, s: &super::config::StaticSa, table: &SaTable, now_ns: u64) -> Option<SaSnap> {
        let spec = &s.spec;
        let (counters, seq, (left_ns, left_bytes, _)) = match s.direction {
            Direction::Inbound => {
                let sa = table.inbound(spec.spi)?;
                (sa.counters(), sa.replay_window().top(), sa.lifetime_remaining(now_ns))
            }
            Direction::Outbound => {
                let idx = *self.outbound.get(&spec.spi)?;
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

/// The transform as the ASA names it (`esp-aes-gcm-256`, `esp-aes-256 esp-sha-256-hmac`).
fn asa_transform(t: dataplane::crypto::Transform) -> String {
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
