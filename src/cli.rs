//! The command line (clap derive).
use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    /// Start DPDK from a profile and forward between port pairs (0<->1, 2<->3, ...).
    Run(RunArgs),
    /// Validate a profile and print the EAL command line it gives.
    CheckConfig {
        /// The profile (TOML), e.g. dpdk-config/lab.toml.
        file: PathBuf,
    },
    /// Show tunnels, SAs and counters of a running appliance (not implemented yet).
    Show(NotYet),
    /// Clear SAs or counters of a running appliance (not implemented yet).
    Clear(NotYet),
    /// Trace packets through a running appliance (not implemented yet).
    Debug(NotYet),
    /// Measure forwarding and ESP throughput (not implemented yet).
    Bench(NotYet),
    /// Generate test traffic and configurations (not implemented yet).
    Gen(NotYet),
    /// Apply ESP SAs to every packet of a capture, offline: encap IP → ESP, decap ESP → IP.
    Esp(crate::esp_tool::EspArgs),
    /// Print the versions of ferrogate and DPDK.
    Version,
}

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The profile (TOML), e.g. dpdk-config/lab.toml.
    #[arg(long, short)]
    pub profile: PathBuf,
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
        match self {
            Command::Show(_) => {
                Some(("show", "the operator API issue (show/clear over the control socket)"))
            }
            Command::Clear(_) => {
                Some(("clear", "the operator API issue (show/clear over the control socket)"))
            }
            Command::Debug(_) => Some(("debug", "the packet-trace/debug issue")),
            Command::Bench(_) => Some(("bench", "the benchmark issue (scripts/bench.sh)")),
            Command::Gen(_) => Some(("gen", "the traffic and configuration generator issue")),
            _ => None,
        }
    }
}
