//! `scripts/demo.sh`: the IKEv2 lab it builds (as root, with strongSwan installed) runs end
//! to end and leaves nothing behind; without root it says what is missing; the config it
//! runs, `dpdk-config/ikev2-lab.toml`, passes `ferrogate check-config` and keeps its
//! pre-shared key out of the repository.
mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::netns::is_root;
use common::*;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/demo.sh");
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/dpdk-config/ikev2-lab.toml");
/// The key file and operator socket directory the config names.
const RUN: &str = "/run/ferrogate-demo";
const NAMESPACES: [&str; 3] = ["fgdemo-host", "fgdemo-fg", "fgdemo-sw"];

/// Runs `argv` with `FERROGATE_BIN` set to the binary cargo built (the script builds
/// nothing then), bounded to two minutes.
fn run_script(argv: &[&str]) -> Output {
    let child = Command::new(argv[0])
        .args(&argv[1..])
        .env("FERROGATE_BIN", FERROGATE)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    wait_bounded(child, Duration::from_secs(120))
}

/// The text after `prefix` on the first line of `text` that has it, up to the next blank.
fn word_after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.split_once(prefix)?.1.split_whitespace().next())
}

/// What the lab may have left: its namespaces, its run directory, charon's directories.
fn lab_leftovers() -> Vec<String> {
    let mut out: Vec<String> = NAMESPACES
        .iter()
        .map(|n| format!("/run/netns/{n}"))
        .chain([RUN.to_owned()])
        .filter(|p| Path::new(p).exists())
        .collect();
    if let Ok(d) = std::fs::read_dir("/tmp") {
        out.extend(
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("fgdemo-sw."))
                .map(|e| e.path().display().to_string()),
        );
    }
    out
}

#[test]
fn lab_config_passes_check_config_without_a_key_in_it() {
    let out = run_ferrogate(&["check-config", CONFIG], Duration::from_secs(30));
    let stdout = assert_success(&out);
    assert!(stdout.starts_with(&format!("{CONFIG}: ok\n")), "{stdout}");
    for part in [
        "appliance: 2 interface(s), 1 route(s)",
        "crypto: 1 crypto map entries, 0 IKEv1 / 1 IKEv2 policies",
        "--vdev net_af_packet0,iface=fgdemo-in --vdev net_af_packet1,iface=fgdemo-out",
    ] {
        assert!(stdout.contains(part), "missing {part:?} in\n{stdout}");
    }
    // The only complaint allowed is the key file the demo writes while it runs (absent
    // outside a run): no inline key, so the 0644 file in git is fine.
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in stderr.lines().filter(|l| !l.is_empty()) {
        assert!(
            line.starts_with("warning: `ferrogate run` would refuse this config:")
                || line
                    == format!(
                        "cannot open secret file {RUN}/psk: No such file or directory (os error 2)"
                    ),
            "unexpected check-config message {line:?} in\n{stderr}"
        );
    }
    let text = std::fs::read_to_string(CONFIG).unwrap();
    let keys: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("pre_shared_key") && !l.trim_start().starts_with('#'))
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().all(|l| l.contains(&format!("_file = \"{RUN}/psk\""))), "{keys:?}");
}

#[test]
fn demo_without_root_lists_what_is_missing() {
    // As root, drop to nobody for this run (setpriv, util-linux).
    let argv: Vec<&str> = if is_root() {
        if !Command::new("setpriv").arg("--version").output().is_ok_and(|o| o.status.success()) {
            eprintln!("skipped: running as root and setpriv is missing");
            return;
        }
        vec!["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", SCRIPT]
    } else {
        vec![SCRIPT]
    };
    let out = run_script(&argv);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("demo: the IKEv2 lab needs:\n"), "{stderr}");
    assert!(
        stderr.contains("  - root: the lab creates network namespaces (sudo scripts/demo.sh)\n"),
        "{stderr}"
    );
    assert!(stderr.contains("scripts/setup.sh (as root) installs the packages"), "{stderr}");
    assert!(out.stdout.is_empty(), "it went on: {}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn demo_runs_the_ikev2_lab_end_to_end_and_cleans_up() {
    if !is_root() || !has_two_cpus() {
        eprintln!("skipped: needs root and two CPUs");
        return;
    }
    if !Path::new(common::strongswan::CHARON).exists() {
        eprintln!("skipped: strongSwan is not installed (scripts/setup.sh installs it)");
        return;
    }
    let out = run_script(&[SCRIPT]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let context = format!("stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "demo failed ({})\n{context}", out.status);
    assert!(stdout.contains("\n== demo OK: IKEv2 tunnel initiated by ferrogate"), "{context}");

    // ferrogate initiated (the host's ping made the ACQUIRE), and charon answered.
    assert!(
        stdout.contains(
            "ferrogate: crypto map outside_map 10: traffic needs a tunnel, initiating to 192.0.2.2"
        ),
        "{context}"
    );
    assert!(stdout.contains("(initiator) established"), "{context}");
    assert!(stdout.contains("192.0.2.1 is initiating an IKE_SA"), "{context}");
    assert!(stdout.contains("5 packets transmitted, 5 received, 0% packet loss"), "{context}");

    // 1 MiB with the same SHA-256 at both ends.
    let sent = word_after(&stdout, "fgdemo-host: sent 1048576 bytes, sha256 ");
    let got = word_after(&stdout, "fgdemo-sw: received 1048576 bytes from 10.1.0.2, sha256 ");
    assert!(sent.is_some_and(|s| s.len() == 64) && sent == got, "{sent:?} {got:?}\n{context}");
    assert!(stdout.contains("sha256 match (1048576 bytes in "), "{context}");

    // ferrogate's SAs: the negotiated transform, the traffic, and the SPIs charon has.
    assert_eq!(stdout.matches("transform: esp-aes-gcm-256").count(), 2, "{context}");
    let encaps: u64 = word_after(&stdout, "#pkts encaps: ")
        .and_then(|n| n.trim_end_matches(',').parse().ok())
        .unwrap_or(0);
    assert!(encaps >= 5 + 700, "1 MiB and the pings went out through the SA: {encaps}\n{context}");
    let spi = |prefix: &str| {
        word_after(&stdout, prefix)
            .and_then(|s| s.strip_prefix("0x"))
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| panic!("no {prefix:?}\n{context}"))
    };
    let (outbound, inbound) = (spi("current outbound spi: "), spi("current inbound spi : "));
    // charon's inbound SPI is ferrogate's outbound one and the other way round.
    let charon = |prefix: &str| word_after(&stdout, prefix).map(|s| s.trim_end_matches(','));
    assert_eq!(charon("     in  "), Some(outbound.as_str()), "{context}");
    assert_eq!(charon("     out "), Some(inbound.as_str()), "{context}");

    // Nothing left: namespaces, key file, socket, charon's directory.
    assert_eq!(lab_leftovers(), Vec::<String>::new(), "{context}");
}
