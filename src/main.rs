//! The ferrogate appliance binary.
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::Parser;
use ferrogate::appliance::ApplianceConfig;
use ferrogate::cli::{Cli, Command, RunArgs};
use ferrogate::dpdk::Eal;
use ferrogate::forward::{self, RunOptions};
use ferrogate::profile::Hugepages;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Loadtest(_) = &cli.command {
        // Quieter default filter: thousands of tunnels must not log a line each.
        ferrogate::loadtest::init_logging();
    }
    ferrogate::logging::init();

    match cli.command {
        Command::Run(args) => run(&args),
        Command::CheckConfig { file } => match ApplianceConfig::load_full(&file) {
            Ok(c) => {
                let p = &c.profile;
                for w in &c.warnings {
                    eprintln!("{w}");
                }
                if let Err(e) = c.check_secret_files() {
                    eprintln!("warning: `ferrogate run` would refuse this config:\n{e}");
                }
                println!("{}: ok", file.display());
                if c.is_appliance() {
                    println!(
                        "  appliance: {} interface(s), {} route(s), {} static neighbour(s), \
                         {} static SA(s), {} policies",
                        c.interfaces.len(),
                        c.routes.len(),
                        c.neighbours.len(),
                        c.sas.len(),
                        c.policies.len()
                    );
                }
                let pol = &c.policy;
                if !pol.crypto_maps.is_empty() || !pol.tunnel_groups.is_empty() {
                    println!(
                        "  crypto: {} crypto map entries, {} IKEv1 / {} IKEv2 policies, {} transform \
                         set(s), {} IPsec proposal(s), {} tunnel group(s), {} access list(s)",
                        pol.crypto_maps.len(),
                        pol.ikev1_policies.len(),
                        pol.ikev2_policies.len(),
                        pol.transform_sets.len(),
                        pol.ipsec_proposals.len(),
                        pol.tunnel_groups.len(),
                        pol.access_lists.len()
                    );
                }
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
                let n = e.count();
                eprintln!("{}: {n} error{}", file.display(), if n == 1 { "" } else { "s" });
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
        Command::Show(args) => match ferrogate::operator::show::run(&args) {
            // Not print!: `show ... | head` must not panic on the closed pipe.
            Ok(text) => match std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("ferrogate show: {e}");
                    ExitCode::FAILURE
                }
            },
            Err(e) => {
                eprintln!("ferrogate show: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Clear(args) => match ferrogate::operator::clear::run(&args) {
            Ok(text) => {
                let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ferrogate clear: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Initiate(args) => match ferrogate::operator::initiate::run(&args) {
            Ok(text) => {
                let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ferrogate initiate: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Failover(args) => match ferrogate::operator::failover::run(&args) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ferrogate failover: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Reload(connect) => match ferrogate::operator::reload::run(&connect) {
            Ok(text) => {
                let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ferrogate reload: {e}");
                ExitCode::FAILURE
            }
        },
        Command::ImportAsa(args) => match ferrogate::import_asa::run(&args) {
            Ok(summary) => {
                eprint!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ferrogate import-asa: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Bench(args) => ferrogate::bench::main(&args),
        Command::Debug(args) => print_result("debug", ferrogate::operator::debug::run(&args)),
        Command::Undebug(args) => {
            print_result("undebug", ferrogate::operator::debug::run_undebug(&args))
        }
        Command::Gen(args) => ferrogate::r#gen::main(&args),
        Command::Loadtest(args) => ferrogate::loadtest::main(&args),
    }
}

fn run(args: &RunArgs) -> ExitCode {
    let config = match ApplianceConfig::load_full(&args.profile) {
        Ok(c) => {
            for w in &c.warnings {
                tracing::warn!("{w}");
            }
            if let Err(e) = c.check_secret_files() {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
            c
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let secs = |v: Option<f64>, flag: &str| match v {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            Err(format!("--{flag} must be a positive number of seconds"))
        }
        Some(s) => Ok(Some(Duration::from_secs_f64(s))),
        None => Ok(None),
    };
    let (duration, warmup) = match (secs(args.duration, "duration"), secs(args.warmup, "warmup")) {
        (Ok(d), Ok(w)) => (d, w),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
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
    // SIGHUP: reload the config file (the control thread clears the flag).
    let reload = Arc::new(AtomicBool::new(false));
    if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reload)) {
        eprintln!("cannot install the SIGHUP handler: {e}");
        return ExitCode::FAILURE;
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
        warmup,
        reload: Some(reload),
    };
    if config.is_appliance() {
        return match ferrogate::appliance::run(&config, &opts, stop) {
            Ok(report) => {
                println!(
                    "appliance: rx {} tx {} packets in {:.2}s with {} ({} punted, {} ACQUIREs)",
                    report.total("rx"),
                    report.total("tx"),
                    report.elapsed.as_secs_f64(),
                    if report.hugepages { "hugepages" } else { "--no-huge" },
                    report.total("punts"),
                    report.total("acquires"),
                );
                if let Some(m) = report.measured {
                    println!(
                        "measured: {:.3} Mpps rx, {:.3} Mpps tx over {:.2}s",
                        m.rx as f64 / m.seconds / 1e6,
                        m.tx as f64 / m.seconds / 1e6,
                        m.seconds
                    );
                }
                if let Some(path) = &args.report_json {
                    let text = serde_json::to_string_pretty(&report.to_json()).unwrap_or_default();
                    if let Err(e) = std::fs::write(path, text + "\n") {
                        eprintln!("ferrogate run: writing {}: {e}", path.display());
                        return ExitCode::FAILURE;
                    }
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ferrogate run: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match forward::run(&config.profile, &opts, stop) {
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

/// Prints a client command's text (a closed pipe is no error) or its message.
fn print_result(name: &str, r: Result<String, String>) -> ExitCode {
    match r {
        Ok(text) => match std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ferrogate {name}: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("ferrogate {name}: {e}");
            ExitCode::FAILURE
        }
    }
}
