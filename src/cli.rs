//! The command line (clap derive).
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Where the service's config lives (scripts/install.sh puts an example there).
pub const DEFAULT_CONFIG: &str = "/etc/ferrogate/ferrogate.toml";

/// ferrogate: an IPsec VPN concentrator with a DPDK kernel-bypass dataplane.
#[derive(Debug, Parser)]
#[command(name = "ferrogate", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the appliance from a config file (a file without `[[interface]]` tables is a
    /// port-pair forwarder profile: 0<->1, 2<->3, ...).
    Run(RunArgs),
    /// Validate a config file: print every error (file:line:col: field: message) and exit
    /// non-zero, or print what it configures.
    CheckConfig {
        /// The config file (TOML).
        #[arg(default_value = DEFAULT_CONFIG)]
        file: PathBuf,
    },
    /// Show interfaces, IPsec SAs and counters of a running appliance (over its operator
    /// socket).
    Show(crate::operator::ShowArgs),
    /// Clear counters of a running appliance (over its operator socket).
    Clear(crate::operator::ClearArgs),
    /// Make a running appliance re-read its config file and apply what changed, as SIGHUP
    /// does (over its operator socket); prints what it applied or why it applied nothing.
    Reload(crate::operator::show::Connect),
    /// Start a crypto map entry's next IKE attempt without waiting for traffic (`initiate
    /// crypto map NAME SEQ`): the multi-peer failover's manual trigger.
    Initiate(crate::operator::initiate::InitiateArgs),
    /// Failover pair commands: `failover active` (this unit takes over), `failover standby`
    /// (the ASA's `no failover active`), `failover reload-standby`.
    Failover(crate::operator::failover::FailoverArgs),
    /// Raise the log level of a control-plane facility of a running appliance, as the
    /// reference document's `debug crypto ...` commands do: `debug crypto ikev2 protocol
    /// 255`; level 0 turns it off; `debug show` lists what is on.
    Debug(crate::operator::debug::DebugArgs),
    /// Turn every `debug crypto` facility off (`undebug all`).
    Undebug(crate::operator::debug::UndebugArgs),
    /// Measure ESP throughput (enc/dec, 64 B/IMIX/1420 B, 1 and 100,000 tunnels) against
    /// the I/O-only baseline, on replayed traffic (net_pcap -> net_null).
    Bench(crate::bench::BenchArgs),
    /// Traffic generator: N flows over M tunnels, plaintext or ESP, fixed rate or maximum,
    /// on any DPDK port; measures rate, loss, reordering and latency of what comes back, or
    /// writes a pcap.
    Gen(Box<crate::r#gen::GenArgs>),
    /// Tunnel-scale load test: open N IKEv2 tunnels against a responder from many source
    /// ports or addresses, at a target rate or as fast as possible; reports setup rate,
    /// failures by cause, rekey storms and the responder's memory per tunnel.
    Loadtest(Box<crate::loadtest::LoadtestArgs>),
    /// Apply ESP SAs to every packet of a capture, offline: encap IP → ESP, decap ESP → IP.
    Esp(crate::esp_tool::EspArgs),
    /// Convert the crypto sections of a Cisco ASA running-config into a ferrogate config,
    /// reporting every line it cannot map.
    ImportAsa(crate::import_asa::ImportAsaArgs),
    /// Print the versions of ferrogate and DPDK.
    Version,
}

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The profile or appliance config (TOML), e.g. dpdk-config/lab.toml: with
    /// `[[interface]]` tables it runs the IPsec appliance, without them the port-pair
    /// forwarder.
    #[arg(long, short, visible_alias = "config", short_alias = 'c', default_value = DEFAULT_CONFIG)]
    pub profile: PathBuf,
    /// Appliance: start the measured interval of the report after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub warmup: Option<f64>,
    /// Appliance: write the final report (counters, measured rates) as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    /// Stop after this many seconds (default: run until SIGINT/SIGTERM).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Use plain memory (--no-huge) whatever the profile says.
    #[arg(long)]
    pub no_huge: bool,
    /// Require hugepages whatever the profile says.
    #[arg(long, conflicts_with = "no_huge")]
    pub huge: bool,
    /// Override the profile's --file-prefix (to run two copies of one profile).
    #[arg(long, value_name = "PREFIX")]
    pub file_prefix: Option<String>,
}

/// Arguments accepted by subcommands that do not exist yet: anything, so that the message
/// saying so is what the user sees.
#[derive(Debug, clap::Args)]
pub struct NotYet {
    /// Ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub args: Vec<String>,
}

impl Command {
    /// For a subcommand that is not implemented yet: the work that brings it.
    pub fn not_yet(&self) -> Option<(&'static str, &'static str)> {
        // Every subcommand is implemented; kept for the next one that is not.
        let _ = self;
        None
    }
}
