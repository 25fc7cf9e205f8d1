//! What the running appliance publishes on its operator socket, and the request/response
//! protocol: one JSON object per line each way, one exchange per connection.
//!
//! Every field is a value the appliance measured or was configured with; fields it does not
//! know are `None` (or absent from a map), never a made-up default, so that the renderers
//! can leave them out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A point-in-time view of the whole appliance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The instance name (the EAL file prefix), which also names the socket.
    pub instance: String,
    /// Seconds since the appliance started forwarding.
    pub uptime_s: f64,
    /// The ports, in port order.
    pub interfaces: Vec<InterfaceSnap>,
    /// The forwarding workers, in worker order.
    pub workers: Vec<WorkerSnap>,
    /// The ESP SAs. Within one tunnel and direction they are listed oldest first, so the
    /// last one is the current SA (the one a rekey installed most recently).
    pub sas: Vec<SaSnap>,
    /// Drops not attributable to one SA or worker (e.g. `no-sa`), by reason name.
    pub drops: BTreeMap<String, u64>,
}

/// Which side of the concentrator a port faces.
pub const ROLE_INSIDE: &str = "inside";
/// The encrypted side (ESP / IKE).
pub const ROLE_OUTSIDE: &str = "outside";

/// One port as configured and as its NIC counts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterfaceSnap {
    /// The port's name from the profile.
    pub name: String,
    /// [`ROLE_INSIDE`] or [`ROLE_OUTSIDE`].
    pub role: String,
    /// The DPDK port id.
    pub port: u16,
    /// The PCI address or vdev string.
    pub device: String,
    /// The DPDK driver name (e.g. `net_ice`, `net_null`).
    pub driver: String,
    /// The MAC address, `02:00:00:00:00:01` form.
    pub mac: String,
    /// The 802.1Q VLAN id, if the interface is tagged.
    pub vlan: Option<u16>,
    /// The interface's addresses in CIDR notation.
    pub addresses: Vec<String>,
    /// The IP MTU.
    pub mtu: u16,
    /// Whether the link is up.
    pub link_up: bool,
    /// The link speed; 0 when the driver does not know it (or the link is down).
    pub speed_mbps: u32,
    /// Packets received (`rte_eth_stats.ipackets`).
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the NIC dropped because its RX queues were full (`imissed`).
    pub rx_missed: u64,
    /// Erroneous packets received (`ierrors`).
    pub rx_errors: u64,
    /// Failed transmissions (`oerrors`).
    pub tx_errors: u64,
    /// RX mbuf allocation failures (`rx_nombuf`).
    pub rx_nombuf: u64,
}

/// One forwarding worker's counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerSnap {
    /// The worker index.
    pub worker: u32,
    /// The EAL lcore it runs on.
    pub lcore: u32,
    /// Counters by name (`rx`, `tx`, `punts`, `drop_no_route`, ...).
    pub counters: BTreeMap<String, u64>,
}

/// The direction of an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Decapsulates what the peer sends.
    Inbound,
    /// Encapsulates what we send to the peer.
    Outbound,
}

/// One ESP SA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaSnap {
    /// The tunnel (crypto map entry / connection) the SA belongs to.
    pub tunnel: String,
    /// The interface the ESP packets use.
    pub interface: String,
    /// Inbound or outbound.
    pub direction: Direction,
    /// The SPI.
    pub spi: u32,
    /// The transform, ASA style (e.g. `esp-aes-gcm-256 esp-null-hmac`).
    pub transform: String,
    /// `tunnel` or `transport`.
    pub mode: String,
    /// This appliance's address, whatever the direction.
    pub local: String,
    /// The peer's address, whatever the direction.
    pub remote: String,
    /// `esp` for raw ESP, or `udp LOCAL->REMOTE` (ports, e.g. `udp 4500->4500`) for ESP in
    /// UDP (RFC 3948).
    pub encap: String,
    /// Extended sequence numbers (RFC 4303 2.2.1).
    pub esn: bool,
    /// The anti-replay window in packets; 0 when replay detection is off.
    pub replay_window: u32,
    /// This side's traffic selector (e.g. `10.1.0.0/16`), whatever the direction, when
    /// known.
    pub local_ident: Option<String>,
    /// The peer's traffic selector, whatever the direction, when known.
    pub remote_ident: Option<String>,
    /// Packets processed successfully (encapsulated, or decapsulated and verified).
    pub packets: u64,
    /// Bytes of those packets.
    pub bytes: u64,
    /// Outbound: the last sequence number used; inbound: the highest authenticated one.
    pub seq: u64,
    /// Drops charged to this SA, by reason name (`replay`, `auth-failed`, ...); only
    /// non-zero counters are present.
    pub drops: BTreeMap<String, u64>,
    /// Seconds until the hard lifetime, if the SA has a time lifetime.
    pub lifetime_remaining_s: Option<u64>,
    /// Kilobytes until the hard lifetime, if the SA has a volume lifetime.
    pub lifetime_remaining_kb: Option<u64>,
    /// The path MTU the SA encapsulates for.
    pub path_mtu: u16,
}

/// What a client asks. One JSON object per line, e.g. `{"request":"snapshot"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// The whole [`Snapshot`].
    Snapshot,
    /// Liveness check; answered with [`Response::Pong`].
    Ping,
    /// Zero the counters that later snapshots show, e.g.
    /// `{"request":"clear_counters","scope":"ipsec_sa"}`. The dataplane's counters have a
    /// single writer each and are never reset: the operator server remembers their values
    /// now and subtracts them from later snapshots (ASA `clear ... counters` semantics).
    /// Answered with [`Response::Cleared`]; the appliance's handler never sees it.
    ClearCounters {
        /// Which counters.
        scope: ClearScope,
    },
    /// Set one `debug crypto` facility's level (0: off); answered with [`Response::Debug`].
    Debug {
        /// Which facility.
        facility: crate::logging::Facility,
        /// 0..=255 (ASA debug levels).
        level: u8,
    },
    /// Turn every facility off; answered with [`Response::Debug`].
    UndebugAll,
    /// The facilities switched on; answered with [`Response::Debug`].
    ShowDebug,
    /// `show running-config`; answered with [`Response::RunningConfig`].
    RunningConfig,
    /// `show crypto map`; answered with [`Response::CryptoMaps`].
    CryptoMap,
    /// `show crypto ikev2 sa`; answered with [`Response::Ikev2Sas`].
    Ikev2Sa,
    /// `show crypto ikev1 sa`; answered with [`Response::Ikev1Sas`].
    Ikev1Sa,
    /// `clear crypto ikev2 sa [peer ADDR]` (delete IKE SAs and their Child SAs) or `clear
    /// crypto ipsec sa [peer ADDR]` (delete Child SAs, keep the IKE SAs): the peers are told
    /// with an INFORMATIONAL DELETE. Answered with [`Response::SasCleared`].
    ClearSa {
        /// IKE SAs or Child SAs.
        what: ClearSaKind,
        /// Only those with this peer.
        peer: Option<std::net::IpAddr>,
    },
    /// `ferrogate initiate crypto map NAME SEQ`: the operator's trigger for the entry's next
    /// IKE attempt (multi-peer failover without traffic). Answered with
    /// [`Response::Initiated`].
    Initiate {
        /// Crypto map name.
        map: String,
        /// Entry sequence number.
        sequence: u16,
    },
    /// Re-read the config file and apply what changed (`ferrogate reload`, like SIGHUP).
    /// Answered with [`Response::Reloaded`], or an error saying why nothing was applied.
    Reload,
    /// `show failover`; answered with [`Response::Failover`].
    ShowFailover,
    /// `failover active`, `no failover active`, `failover reload-standby`; answered with
    /// [`Response::FailoverDone`].
    Failover {
        /// What to do.
        action: super::failover::FailoverAction,
    },
}

/// What a [`Request::ClearSa`] deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClearSaKind {
    /// IKEv2 SAs (with their Child SAs).
    Ikev2,
    /// IKEv1 SAs (with their Quick Mode SAs).
    Ikev1,
    /// Child SAs only.
    Ipsec,
}

/// The counters a [`Request::ClearCounters`] zeroes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClearScope {
    /// Interface, worker and global drop counters (`clear counters`).
    Counters,
    /// Per-SA packets, bytes and drops (`clear crypto ipsec sa counters`); sequence numbers
    /// and lifetimes are state, not counters, and stay as they are.
    IpsecSa,
}

/// What the appliance answers, e.g. `{"response":"pong"}` or
/// `{"response":"ok","instance":"fg-lab",...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum Response {
    /// The snapshot asked for.
    Ok(Snapshot),
    /// The answer to [`Request::Ping`].
    Pong,
    /// The answer to [`Request::ClearCounters`].
    Cleared,
    /// The answer to the debug requests: every facility switched on, with its level.
    Debug {
        /// Facility → level.
        levels: BTreeMap<crate::logging::Facility, u8>,
    },
    /// The running configuration, secrets hidden.
    RunningConfig {
        /// TOML.
        text: String,
    },
    /// The crypto map entries.
    CryptoMaps {
        /// In (name, sequence) order.
        maps: Vec<super::policy_view::CryptoMapSnap>,
    },
    /// The IKEv2 SAs.
    Ikev2Sas {
        /// By id.
        sas: Vec<super::ike_view::IkeSaSnap>,
    },
    /// The IKEv1 (ISAKMP) SAs.
    Ikev1Sas {
        /// By id.
        sas: Vec<super::ike_view::Ikev1SaSnap>,
    },
    /// The answer to [`Request::ClearSa`]: how many deletes were started.
    SasCleared {
        /// SAs whose delete was sent.
        count: usize,
    },
    /// The answer to [`Request::Initiate`]: the peer the entry tries (or why none).
    Initiated {
        /// E.g. `initiating to 192.0.2.3 (Peer2, ikev2)` or `an IKE SA is up with ...`.
        line: String,
    },
    /// The answer to [`Request::Reload`]: what changed.
    Reloaded {
        /// One line per kind of change.
        lines: Vec<String>,
    },
    /// The failover pair's state.
    Failover {
        /// This unit, its mate and the replication.
        status: super::failover::FailoverSnap,
    },
    /// The answer to [`Request::Failover`]: what was started.
    FailoverDone {
        /// E.g. `switchover requested: the mate hands over`.
        line: String,
    },
    /// The request could not be served.
    Error {
        /// Why, for the operator.
        message: String,
    },
}

impl Response {
    /// An [`Response::Error`] with `message`.
    pub fn error(message: impl Into<String>) -> Response {
        Response::Error { message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_a_stable_wire_form() {
        assert_eq!(serde_json::to_string(&Request::Snapshot).unwrap(), r#"{"request":"snapshot"}"#);
        assert_eq!(serde_json::to_string(&Request::Ping).unwrap(), r#"{"request":"ping"}"#);
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"request":"ping"}"#).unwrap(),
            Request::Ping
        );
        assert!(serde_json::from_str::<Request>(r#"{"request":"reboot"}"#).is_err());
        assert_eq!(
            serde_json::to_string(&Request::ClearCounters { scope: ClearScope::IpsecSa }).unwrap(),
            r#"{"request":"clear_counters","scope":"ipsec_sa"}"#
        );
        assert_eq!(serde_json::to_string(&Request::Reload).unwrap(), r#"{"request":"reload"}"#);
    }

    #[test]
    fn responses_round_trip() {
        let snap = Snapshot {
            instance: "fg".into(),
            uptime_s: 1.5,
            interfaces: vec![],
            workers: vec![WorkerSnap {
                worker: 0,
                lcore: 1,
                counters: BTreeMap::from([("rx".into(), 3)]),
            }],
            sas: vec![],
            drops: BTreeMap::new(),
        };
        for r in [
            Response::Ok(snap),
            Response::Pong,
            Response::Cleared,
            Response::Reloaded { lines: vec!["static SAs: 1 added".into()] },
            Response::error("no"),
        ] {
            let line = serde_json::to_string(&r).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(serde_json::from_str::<Response>(&line).unwrap(), r);
        }
        assert_eq!(
            serde_json::to_string(&Response::error("x")).unwrap(),
            r#"{"response":"error","message":"x"}"#
        );
    }

    #[test]
    fn direction_is_lowercase() {
        assert_eq!(serde_json::to_string(&Direction::Inbound).unwrap(), r#""inbound""#);
        assert_eq!(serde_json::to_string(&Direction::Outbound).unwrap(), r#""outbound""#);
    }
}
