//! The command line: help, version, profile checking, and honest refusals for the
//! subcommands later work brings.
mod common;

use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(30);

fn ferrogate(args: &[&str]) -> (i32, String, String) {
    let out = run_ferrogate(args, LIMIT);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["run", "check-config", "show", "clear", "debug", "bench", "gen", "version"] {
        let (code, stdout, _) = ferrogate(&[sub, "--help"]);
        assert_eq!(code, 0, "{sub} --help");
        assert!(stdout.contains("Usage: ferrogate"), "{sub}: {stdout}");
    }
    let (code, stdout, _) = ferrogate(&["--help"]);
    assert_eq!(code, 0);
    for sub in ["run", "check-config", "show", "clear", "debug", "bench", "gen", "version"] {
        assert!(stdout.contains(sub), "top-level help lists {sub}");
    }
}

#[test]
fn version_names_ferrogate_and_dpdk() {
    let (code, stdout, _) = ferrogate(&["version"]);
    assert_eq!(code, 0);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some(concat!("ferrogate ", env!("CARGO_PKG_VERSION"))));
    let dpdk = lines.next().unwrap_or_default();
    assert!(dpdk.starts_with("DPDK 2"), "{stdout}");
}

#[test]
fn unimplemented_subcommands_say_so_and_fail() {
    for sub in ["debug", "gen"] {
        let (code, stdout, stderr) = ferrogate(&[sub, "anything"]);
        assert_eq!(code, 2, "{sub}");
        assert!(stdout.is_empty(), "{sub} printed {stdout}");
        assert!(
            stderr.starts_with(&format!(
                "ferrogate {sub}: not implemented yet; it arrives with the "
            )),
            "{sub}: {stderr}"
        );
    }
}

#[test]
fn check_config_accepts_the_shipped_profiles() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dpdk-config");
    for name in ["lab.toml", "bare-metal.toml"] {
        let path = dir.join(name);
        let (code, stdout, stderr) = ferrogate(&["check-config", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{name}: {stderr}");
        assert!(stdout.starts_with(&format!("{}: ok\n", path.display())), "{stdout}");
        assert!(stdout.contains("EAL arguments: -l "), "{stdout}");
    }
}

#[test]
fn check_config_reports_file_line_and_field() {
    let env = TestEnv::new("cli-bad");
    let path = env.path("bad.toml");
    std::fs::write(&path, "[eal]\nfile_prefix = \"x\"\nworker_cores = [0]\n").unwrap();
    let (code, stdout, stderr) = ferrogate(&["check-config", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert_eq!(
        stderr.trim_end(),
        format!("{}:3:16: eal.worker_cores: core 0 is the main core", path.display())
    );
    // `run` checks the profile the same way before touching DPDK.
    let (code, _, stderr) = ferrogate(&["run", "--profile", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains(":3:16: eal.worker_cores: core 0 is the main core"), "{stderr}");
}

#[test]
fn run_rejects_a_bad_duration() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dpdk-config/lab.toml");
    let (code, _, stderr) =
        ferrogate(&["run", "--profile", dir.to_str().unwrap(), "--duration", "0"]);
    assert_eq!(code, 1);
    assert_eq!(stderr.trim_end(), "--duration must be a positive number of seconds");
}
