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
    let all = [
        "run",
        "check-config",
        "show",
        "clear",
        "reload",
        "initiate",
        "debug",
        "undebug",
        "bench",
        "gen",
        "loadtest",
        "esp",
        "import-asa",
        "version",
    ];
    for sub in all {
        let (code, stdout, _) = ferrogate(&[sub, "--help"]);
        assert_eq!(code, 0, "{sub} --help");
        assert!(stdout.contains("Usage: ferrogate"), "{sub}: {stdout}");
    }
    let (code, stdout, _) = ferrogate(&["--help"]);
    assert_eq!(code, 0);
    for sub in all {
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
fn gen_without_a_port_says_which_flag_is_missing() {
    let (code, stdout, stderr) = ferrogate(&["gen", "--count", "1"]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty(), "gen printed {stdout}");
    assert!(stderr.contains("say which port to use: --port DEV"), "{stderr}");
}

#[test]
fn check_config_accepts_the_shipped_profiles() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dpdk-config");
    for name in ["lab.toml", "bare-metal.toml", "appliance-lab.toml", "site-to-site.toml"] {
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
        format!(
            "{p}:3:16: eal.worker_cores: core 0 is the main core\n{p}: 1 error",
            p = path.display()
        )
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

#[test]
fn check_config_prints_every_appliance_error_at_once() {
    let env = TestEnv::new("cli-appl");
    let path = env.path("bad.toml");
    // A route via a gateway off every subnet, a multicast neighbour MAC, an SA defined
    // twice and a wrong default action: four errors in four sections, and the policy part
    // (a weak group) still reported after them.
    let text = "[eal]\nfile_prefix = \"x\"\nworker_cores = [1]\n\
        [[port]]\nname = \"wan\"\nvdev = \"net_null0\"\n\
        [[interface]]\nname = \"outside\"\nport = \"wan\"\nrole = \"outside\"\n\
        address = \"192.0.2.1/24\"\n\
        [[route]]\ndestination = \"10.0.0.0/8\"\ninterface = \"outside\"\nvia = \"198.51.100.1\"\n\
        [[neighbour]]\ninterface = \"outside\"\naddress = \"192.0.2.2\"\nmac = \"01:00:5e:00:00:01\"\n\
        [[sa]]\ndirection = \"inbound\"\nspi = 4097\ntransform = \"aes128gcm16\"\n\
        enc_key = \"0x4c80cdefbb5d10da906ac73c3613a634c0ffee01\"\nlocal = \"192.0.2.1\"\nremote = \"192.0.2.2\"\n\
        [[sa]]\ndirection = \"inbound\"\nspi = 4097\ntransform = \"aes128gcm16\"\n\
        enc_key = \"0x4c80cdefbb5d10da906ac73c3613a634c0ffee01\"\nlocal = \"192.0.2.1\"\nremote = \"192.0.2.2\"\n\
        [dataplane]\ndefault_action = \"drop\"\n\
        [[ikev2_policy]]\npriority = 1\nencryption = [\"aes-256\"]\nintegrity = [\"sha256\"]\n\
        group = [2]\n";
    std::fs::write(&path, text).unwrap();
    let (code, stdout, stderr) = ferrogate(&["check-config", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    let p = path.display().to_string();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 6, "{stderr}");
    let want = [
        "route[0].via: gateway 198.51.100.1 is not on a subnet of interface 'outside'",
        "neighbour[0].mac: must be a unicast MAC like 02:00:00:00:00:01",
        "sa[1].spi: inbound spi 0x1001 defined twice",
        "dataplane.default_action: 'drop': expected bypass or discard",
        "ikev2_policy[0].group[0]: DH group 2 is weak",
    ];
    for (line, want) in lines.iter().zip(want) {
        assert!(line.starts_with(&p) && line.contains(want), "{line:?} lacks {want:?}\n{stderr}");
        // file:line:col: every one located.
        let loc: Vec<&str> = line[p.len()..].splitn(4, ':').collect();
        assert!(loc[1].parse::<u32>().is_ok() && loc[2].parse::<u32>().is_ok(), "{line}");
    }
    assert_eq!(lines[5], format!("{p}: 5 errors"));
}

#[test]
fn check_config_prints_every_policy_error_at_once() {
    let env = TestEnv::new("cli-policy");
    let path = env.path("bad.toml");
    let text = "[eal]\nfile_prefix = \"x\"\nworker_cores = [1]\n\
        [[port]]\nname = \"wan\"\nvdev = \"net_null0\"\n\
        [[interface]]\nname = \"outside\"\nport = \"wan\"\nrole = \"outside\"\n\
        address = \"192.0.2.1/24\"\n\
        [[ikev2_policy]]\npriority = 1\nencryption = [\"aes-512\"]\nintegrity = [\"sha256\"]\n\
        group = [2]\n\
        [[crypto_interface]]\ninterface = \"dmz\"\n";
    std::fs::write(&path, text).unwrap();
    let (code, stdout, stderr) = ferrogate(&["check-config", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty(), "{stdout}");
    let p = path.display();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(lines[0].starts_with(&format!("{p}:14:15: ikev2_policy[0].encryption[0]: unknown encryption \"aes-512\"; expected one of: des, 3des, aes,")), "{stderr}");
    assert_eq!(
        lines[1],
        format!(
            "{p}:16:10: ikev2_policy[0].group[0]: DH group 2 is weak; set [ike] allow_weak_dh = true to allow it"
        )
    );
    assert!(
        lines[2].starts_with(&format!(
            "{p}:18:13: crypto_interface[0].interface: no interface named \"dmz\"; defined: outside"
        )),
        "{stderr}"
    );
    assert_eq!(lines[3], format!("{p}: 3 errors"));
}

#[test]
fn import_asa_converts_a_running_config_and_reports_what_it_cannot_map() {
    let env = TestEnv::new("cli-asa");
    let asa = concat!(env!("CARGO_MANIFEST_DIR"), "/control/tests/data/asa/hub.cfg");
    let out = env.path("hub.toml");
    let (code, stdout, stderr) = ferrogate(&["import-asa", asa, "--output", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "the config went to the file");
    assert!(stderr.contains("the converted policy validates"), "{stderr}");
    assert!(stderr.contains("hub.cfg: 76 line(s) not mapped"), "{stderr}");
    assert!(stderr.contains(": not mapped: dynamic map dyn-ra has no IKEv2 proposal"), "{stderr}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "it holds pre-shared keys");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("[[crypto_map]]"), "{text}");
    // An existing file is never overwritten.
    let (code, _, stderr) = ferrogate(&["import-asa", asa, "-o", out.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("File exists"), "{stderr}");
    // To stdout without -o.
    let (code, stdout, _) = ferrogate(&["import-asa", asa]);
    assert_eq!(code, 0);
    assert_eq!(stdout, text);
}
