//! The ferrogate appliance binary.
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::Parser;
use ferrogate::cli::{Cli, Command, RunArgs};
use ferrogate::dpdk::Eal;
use ferrogate::forward::{self, RunOptions};
use ferrogate::profile::{Hugepages, Profile};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FERROGATE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    match cli.command {
        Command::Run(args) => run(&args),
        Command::CheckConfig { file } => match Profile::load(&file) {
            Ok(p) => {
                println!("{}: ok", file.display());
                println!(
                    "  {} port(s), forwarding lcore(s) {:?}, hugepages {:?}",
                    p.ports.len(),
                    p.forwarding_cores(),
                    p.eal.hugepages
                );
                for (i, port) in p.ports.iter().enumerate() {
                    println!("  port {i} {:?}: {:?}", port.name, port.device);
                }
                let huge = p.eal.hugepages != Hugepages::Never;
                println!("  EAL arguments: {}", p.eal_args(huge).join(" "));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Esp(args) => match ferrogate::esp_tool::run(&args) {
            Ok(summary) => {
                print!("{}", summary.render());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ferrogate esp: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Version => {
            println!("ferrogate {}", env!("CARGO_PKG_VERSION"));
            println!("{}", Eal::version());
            ExitCode::SUCCESS
        }
        cmd @ (Command::Show(_)
        | Command::Clear(_)
        | Command::Debug(_)
        | Command::Bench(_)
        | Command::Gen(_)) => {
            let (name, issue) = cmd.not_yet().unwrap_or(("this command", "later work"));
            eprintln!("ferrogate {name}: not implemented yet; it arrives with {issue}.");
            ExitCode::from(2)
        }
    }
}

fn run(args: &RunArgs) -> ExitCode {
    let profile = match Profile::load(&args.profile) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let duration = match args.duration {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            eprintln!("--duration must be a positive number of seconds");
            return ExitCode::FAILURE;
        }
        Some(s) => Some(Duration::from_secs_f64(s)),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping exits at once.
        let registered =
            signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))
                .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)));
        if let Err(e) = registered {
            eprintln!("cannot install the signal handler: {e}");
            return ExitCode::FAILURE;
        }
    }
    let opts = RunOptions {
        duration,
        hugepages: if args.no_huge {
            Some(Hugepages::Never)
        } else if args.huge {
            Some(Hugepages::Always)
        } else {
            None
        },
        file_prefix: args.file_prefix.clone(),
    };
    match forward::run(&profile, &opts, stop) {
        Ok(report) => {
            let rx: u64 = report.workers.iter().map(|w| w.1).sum();
            let tx: u64 = report.workers.iter().map(|w| w.2).sum();
            let dropped: u64 = report.workers.iter().map(|w| w.3).sum();
            println!(
                "forwarded {tx} of {rx} packets ({dropped} dropped) in {:.2}s with {}",
                report.elapsed.as_secs_f64(),
                if report.hugepages { "hugepages" } else { "--no-huge" }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferrogate run: {e:#}");
            ExitCode::FAILURE
        }
    }
}
