//! The results of a run: a serde structure printed as JSON (`--json`) or as text.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::engine::RekeyKind;

/// Counts by cause, with the first message seen for each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Failures {
    /// Cause key (`peer_unreachable`, `authentication_failed`, ...) → count.
    pub counts: BTreeMap<String, u64>,
    /// Cause key → the first full message of that cause.
    pub examples: BTreeMap<String, String>,
}

impl Failures {
    /// Counts one failure.
    pub fn add(&mut self, key: &str, text: &str) {
        *self.counts.entry(key.to_owned()).or_insert(0) += 1;
        if !self.examples.contains_key(key) {
            self.examples.insert(key.to_owned(), text.to_owned());
        }
    }

    /// All failures.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// Why the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Every phase ran to its end.
    Completed,
    /// The `--duration` cap cut it short.
    DurationCap,
    /// SIGINT or SIGTERM.
    Interrupted,
}

/// Setup latency percentiles (first IKE_SA_INIT sent to the first Child SA up), ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub p50_ms: u64,
    pub p90_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

/// The setup phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phase {
    /// Tunnels asked for.
    pub requested: u64,
    /// Tunnels started.
    pub started: u64,
    /// Tunnels with their IKE SA and first Child SA up.
    pub up: u64,
    /// Tunnels that failed.
    pub failed: u64,
    /// From the first start to the last tunnel resolved (up or failed).
    pub seconds: f64,
    /// From the first start to the last tunnel up, if all came up.
    pub time_to_all_up_s: Option<f64>,
    /// Tunnels up per second, from the first start to the last tunnel up.
    pub rate_per_s: f64,
    /// Requests retransmitted during the setup.
    pub retransmits: u64,
    /// Setup latency.
    pub latency: Option<Latency>,
    /// Failures by cause.
    pub failures: Failures,
}

/// The rekey storm.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RekeyReport {
    /// What was rekeyed.
    pub kind: RekeyKind,
    /// Tunnels asked to rekey.
    pub tunnels: u64,
    /// Child SA rekeys that completed (new pair up).
    pub child_ok: u64,
    /// IKE SA rekeys that completed.
    pub ike_ok: u64,
    /// Rekeys that failed.
    pub failed: u64,
    /// From the first request to the last outcome.
    pub seconds: f64,
    /// Completed rekeys per second (to the last success).
    pub rate_per_s: f64,
    /// Failures by cause.
    pub failures: Failures,
}

/// The teardown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeardownReport {
    /// IKE SAs closed.
    pub requested: u64,
    /// Deleted with the responder's acknowledgement (or abandoned before being up). IKEv1
    /// has no acknowledgement of a DELETE (an Informational exchange is one message): there
    /// it counts the DELETEs sent, and `seconds` is the time to send them.
    pub deleted: u64,
    /// Still waiting when the teardown bound ran out.
    pub unfinished: u64,
    /// How long it took.
    pub seconds: f64,
    /// Deletes that failed, by cause.
    pub failures: Failures,
}

/// Round-trip times of the echo replies, ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rtt {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// `--traffic`: ICMP echo through every tunnel after the setup.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrafficReport {
    /// Where the echo requests went (inside the remote selectors).
    pub target: String,
    /// Echo requests per tunnel.
    pub per_tunnel: u32,
    /// How long each tunnel waited for its replies.
    pub timeout_s: f64,
    /// Tunnels tested: up, with a usable Child SA, requests sent.
    pub tunnels: u64,
    /// Tested tunnels with at least one reply.
    pub answered: u64,
    /// Tested tunnels with every reply.
    pub all_answered: u64,
    /// Tested tunnels without any reply.
    pub silent: u64,
    /// Tunnels not tested (not up, no usable Child SA, no raw socket, ...).
    pub not_tested: u64,
    /// Those by cause.
    pub not_tested_causes: Failures,
    /// Echo requests sent (ESP handed to the kernel).
    pub requests: u64,
    /// Echo requests not sent (full socket buffer, send error).
    pub send_failed: u64,
    /// Those by cause.
    pub send_failures: Failures,
    /// Valid echo replies received in time, one per request at most.
    pub replies: u64,
    /// (requests − replies) / requests, %: drops anywhere on the way and back, the
    /// responder's included.
    pub loss_percent: f64,
    /// Valid replies after their tunnel's timeout (not counted as replies).
    pub late: u64,
    /// Second replies to one request.
    pub duplicates: u64,
    /// ESP for one of our SAs that did not decrypt (ICV, replay, padding, ...).
    pub decrypt_failed: u64,
    /// Those by the ESP engine's reason.
    pub decrypt_failures: Failures,
    /// ESP for an SPI we do not know.
    pub unknown_spi: u64,
    /// Packets from the target that were no ESP the engine could read.
    pub malformed: u64,
    /// Decrypted packets that were not the echo reply expected on that tunnel.
    pub unexpected: u64,
    /// Those by cause.
    pub unexpected_causes: Failures,
    /// Raw ESP from other addresses than the target (ignored).
    pub foreign: u64,
    /// ESP from the target before or after the traffic phase (not decrypted).
    pub outside_phase: u64,
    /// NAT keepalives from the target.
    pub keepalives: u64,
    /// Errors reading the raw socket.
    pub recv_errors: u64,
    /// From the first request to the last tunnel done.
    pub seconds: f64,
    /// Round-trip times.
    pub rtt: Option<Rtt>,
    /// The smallest bound on tunnels awaiting replies: below `max_inflight` when tunnels
    /// timed out and the sending backed off.
    pub min_in_flight: u64,
}

/// Resident memory of a process at three points, and the CPU time the setup cost it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    /// The process (none: the load tester itself).
    pub pid: Option<u32>,
    /// RSS before the first tunnel.
    pub before_kib: Option<u64>,
    /// RSS when the setup ended.
    pub up_kib: Option<u64>,
    /// RSS at the end of the run.
    pub end_kib: Option<u64>,
    /// (up − before) / tunnels up.
    pub bytes_per_tunnel: Option<f64>,
    /// User and system CPU time from before the first tunnel to the setup's end.
    pub setup_cpu_s: Option<f64>,
    /// That per tunnel up, ms.
    pub cpu_ms_per_tunnel: Option<f64>,
}

/// Memory and CPU per tunnel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Memory {
    /// The responder's, with `--responder-pid`.
    pub responder: Option<Usage>,
    /// The load tester's own.
    pub loadtester: Usage,
}

/// What the sockets saw: IKE datagrams (with `--traffic`, its ESP is counted in
/// [`TrafficReport`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SocketStats {
    /// Sockets (source address/port pairs).
    pub sockets: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams received.
    pub received: u64,
    /// Sends dropped on a full socket buffer.
    pub send_dropped: u64,
    /// Other send errors.
    pub send_errors: u64,
    /// Receive errors.
    pub recv_errors: u64,
    /// ICMP port unreachable from the target (nothing listening), as far as reported.
    pub port_unreachable: u64,
    /// Datagrams from other addresses than the target (dropped).
    pub foreign: u64,
    /// Received datagrams that were no IKE message.
    pub malformed: u64,
    /// IKE messages for no SA of ours.
    pub unknown_spi: u64,
    /// Datagrams an SA wanted to send elsewhere than the target (not sent).
    pub not_to_target: u64,
}

/// The whole result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// All tunnels up, every rekey done, none lost, not cut short.
    pub ok: bool,
    /// The responder.
    pub target: String,
    /// The IKE version the tunnels were opened with (1: Main Mode and Quick Mode, 2).
    pub ike_version: u8,
    /// Why the run ended.
    pub stopped: StopReason,
    /// The whole run.
    pub elapsed_s: f64,
    /// The target setup rate (none: as fast as possible).
    pub target_rate: Option<f64>,
    /// The in-flight bound.
    pub max_inflight: u64,
    /// The setup.
    pub setup: Phase,
    /// All requests retransmitted in the run.
    pub retransmits: u64,
    /// Tunnels that went down after being up, by cause.
    pub lost_after_up: Failures,
    /// Rekeys the responder started.
    pub peer_rekeys: u64,
    /// ICMP echo through every tunnel (`--traffic`), after the setup.
    pub traffic: Option<TrafficReport>,
    /// The rekey storm, if asked for.
    pub rekey: Option<RekeyReport>,
    /// The teardown (none with `--keep`).
    pub teardown: Option<TeardownReport>,
    /// Whether the tunnels were left up.
    pub kept: bool,
    /// Memory per tunnel.
    pub memory: Memory,
    /// Socket counters.
    pub sockets: SocketStats,
    /// Tunnels by final state.
    pub by_state: BTreeMap<String, u64>,
}

fn failures_text(out: &mut String, f: &Failures) {
    for (k, n) in &f.counts {
        let ex = f.examples.get(k).map(String::as_str).unwrap_or_default();
        let _ = writeln!(out, "    {k}: {n} (e.g. {ex})");
    }
}

fn traffic_text(o: &mut String, t: &TrafficReport, max_inflight: u64) {
    let _ = writeln!(
        o,
        "traffic to {} ({} echo requests per tunnel, {:.1}s timeout): {}/{} tested tunnels \
         answered ({} fully), {} silent, {} not tested, {:.2}s",
        t.target,
        t.per_tunnel,
        t.timeout_s,
        t.answered,
        t.tunnels,
        t.all_answered,
        t.silent,
        t.not_tested,
        t.seconds
    );
    failures_text(o, &t.not_tested_causes);
    if t.min_in_flight < max_inflight {
        let _ = writeln!(
            o,
            "  backed off to {} tunnels awaiting replies (of {max_inflight}) after timeouts",
            t.min_in_flight
        );
    }
    let rtt = t.rtt.map_or_else(String::new, |r| {
        format!(
            "; round trip p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms
        )
    });
    let _ = writeln!(
        o,
        "  {} requests sent, {} replies, {:.2}% lost, {} late, {} duplicates, {} not sent{rtt}",
        t.requests, t.replies, t.loss_percent, t.late, t.duplicates, t.send_failed
    );
    failures_text(o, &t.send_failures);
    let _ = writeln!(
        o,
        "  {} decrypt failures, {} unknown SPI, {} malformed, {} unexpected inner packets, {} \
         outside the phase",
        t.decrypt_failed, t.unknown_spi, t.malformed, t.unexpected, t.outside_phase
    );
    failures_text(o, &t.decrypt_failures);
    failures_text(o, &t.unexpected_causes);
}

fn kib(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |k| format!("{k} KiB"))
}

impl Report {
    /// The human-readable form.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let s = &self.setup;
        let _ = writeln!(
            o,
            "loadtest {} (IKEv{}): {} ({:?}, {:.1}s)",
            self.target,
            self.ike_version,
            if self.ok { "OK" } else { "NOT OK" },
            self.stopped,
            self.elapsed_s
        );
        let pacing = match self.target_rate {
            Some(r) => format!("target {r:.0}/s, at most {} in flight", self.max_inflight),
            None => format!("as fast as possible, at most {} in flight", self.max_inflight),
        };
        let _ = writeln!(
            o,
            "setup: {}/{} tunnels up, {} failed, {:.1} tunnels/s ({pacing})",
            s.up, s.requested, s.failed, s.rate_per_s
        );
        match s.time_to_all_up_s {
            Some(t) => {
                let _ = writeln!(o, "  time to {}: {t:.2}s", s.requested);
            }
            None => {
                let _ = writeln!(o, "  not all tunnels came up (setup took {:.2}s)", s.seconds);
            }
        }
        if let Some(l) = s.latency {
            let _ = writeln!(
                o,
                "  setup latency: p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
                l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            );
        }
        let _ = writeln!(
            o,
            "  retransmits: {} in the setup, {} in all",
            s.retransmits, self.retransmits
        );
        if s.failed > 0 {
            let _ = writeln!(o, "  failures by cause:");
            failures_text(&mut o, &s.failures);
        }
        if self.lost_after_up.total() > 0 {
            let _ = writeln!(o, "lost after up: {}", self.lost_after_up.total());
            failures_text(&mut o, &self.lost_after_up);
        }
        if let Some(t) = &self.traffic {
            traffic_text(&mut o, t, self.max_inflight);
        }
        if let Some(r) = &self.rekey {
            let _ = writeln!(
                o,
                "rekey storm ({:?}): {} tunnels, {} Child SA and {} IKE SA rekeys done, {} failed, \
                 {:.2}s, {:.1} rekeys/s",
                r.kind, r.tunnels, r.child_ok, r.ike_ok, r.failed, r.seconds, r.rate_per_s
            );
            failures_text(&mut o, &r.failures);
        }
        if self.peer_rekeys > 0 {
            let _ = writeln!(o, "rekeys started by the responder: {}", self.peer_rekeys);
        }
        match &self.teardown {
            Some(t) => {
                let _ = writeln!(
                    o,
                    "teardown: {}/{} deleted in {:.2}s, {} unfinished",
                    t.deleted, t.requested, t.seconds, t.unfinished
                );
                failures_text(&mut o, &t.failures);
            }
            None if self.kept => {
                let _ = writeln!(o, "teardown: skipped (--keep), the tunnels stay up");
            }
            None => {}
        }
        let mem = |name: &str, r: &Usage, o: &mut String| {
            let per = r
                .bytes_per_tunnel
                .map_or_else(|| "-".to_owned(), |b| format!("{:.1} KiB/tunnel", b / 1024.0));
            let cpu = match (r.setup_cpu_s, r.cpu_ms_per_tunnel) {
                (Some(s), Some(ms)) => format!("; setup CPU {s:.2}s, {ms:.2} ms/tunnel"),
                (Some(s), None) => format!("; setup CPU {s:.2}s"),
                _ => String::new(),
            };
            let pid = r.pid.map_or_else(String::new, |p| format!(" (pid {p})"));
            let _ = writeln!(
                o,
                "{name}{pid}: RSS {} before, {} up, {} at the end: {per}{cpu}",
                kib(r.before_kib),
                kib(r.up_kib),
                kib(r.end_kib)
            );
        };
        if let Some(r) = &self.memory.responder {
            mem("responder", r, &mut o);
        }
        mem("loadtester", &self.memory.loadtester, &mut o);
        let k = &self.sockets;
        let _ = writeln!(
            o,
            "sockets: {} ({} sent, {} received, {} dropped on full buffers, {} send errors, \
             {} port unreachable, {} unknown SPI, {} malformed, {} from elsewhere, {} not sent: \
             not for the target)",
            k.sockets,
            k.sent,
            k.received,
            k.send_dropped,
            k.send_errors,
            k.port_unreachable,
            k.unknown_spi,
            k.malformed,
            k.foreign,
            k.not_to_target
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_by_cause_and_keep_the_first_message() {
        let mut f = Failures::default();
        f.add("peer_unreachable", "first");
        f.add("peer_unreachable", "second");
        f.add("ts_unacceptable", "TS_UNACCEPTABLE");
        assert_eq!(f.total(), 3);
        assert_eq!(f.counts["peer_unreachable"], 2);
        assert_eq!(f.examples["peer_unreachable"], "first");
    }
}
