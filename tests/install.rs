//! scripts/install.sh under a temporary prefix: a dry run touches nothing, a real run
//! installs every file with its mode, a second run changes nothing, an existing config is
//! kept, `--uninstall` removes what it should and keeps the keys; and the systemd unit
//! passes `systemd-analyze verify` where that tool exists.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn install(args: &[&str]) -> (String, Output) {
    let out = Command::new("bash")
        .arg(repo().join("scripts/install.sh"))
        .args(args)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (text, out)
}

fn install_ok(args: &[&str]) -> String {
    let (text, out) = install(args);
    assert!(out.status.success(), "install.sh {args:?} failed:\n{text}");
    text
}

/// Every path under `root` with its mode, size, inode and modification time.
fn tree(root: &Path) -> BTreeMap<PathBuf, (u32, u64, u64, i64, i64)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                todo.push(e.path());
            }
            let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
            out.insert(rel, (m.mode() & 0o7777, m.len(), m.ino(), m.mtime(), m.mtime_nsec()));
        }
    }
    out
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_dry_run_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().to_str().unwrap();
    let text = install_ok(&["--dry-run", "--prefix", prefix, "--binary", "/bin/true"]);
    for want in [
        format!("would install {prefix}/usr/local/bin/ferrogate (mode 0755)"),
        format!("would install {prefix}/etc/systemd/system/ferrogate.service (mode 0644)"),
        format!("would create {prefix}/etc/ferrogate (mode 0750)"),
        format!("would create {prefix}/etc/ferrogate/ferrogate.toml (mode 0600)"),
        "5 change(s) would be made (dry run: nothing changed)".to_owned(),
    ] {
        assert!(text.contains(&want), "no {want:?} in:\n{text}");
    }
    assert!(tree(tmp.path()).is_empty(), "{:?}", tree(tmp.path()));

    // Without --binary a dry run does not build either.
    let text = install_ok(&["--dry-run", "--prefix", prefix]);
    assert!(text.contains("would run cargo build --release -p ferrogate"), "{text}");
    assert!(tree(tmp.path()).is_empty());
}

#[test]
fn an_install_under_a_prefix_is_complete_and_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let prefix = root.to_str().unwrap();
    let bin = env!("CARGO_BIN_EXE_ferrogate");
    let text = install_ok(&["--prefix", prefix, "--binary", bin]);
    assert!(text.contains("5 change(s) made"), "{text}");
    assert!(text.contains("not creating user ferrogate"), "{text}");

    let installed_bin = root.join("usr/local/bin/ferrogate");
    let unit = root.join("etc/systemd/system/ferrogate.service");
    let conf_dir = root.join("etc/ferrogate");
    let conf = conf_dir.join("ferrogate.toml");
    assert_eq!(std::fs::read(&installed_bin).unwrap(), std::fs::read(bin).unwrap());
    assert_eq!(mode(&installed_bin), 0o755);
    assert_eq!(
        std::fs::read(&unit).unwrap(),
        std::fs::read(repo().join("scripts/systemd/ferrogate.service")).unwrap()
    );
    assert_eq!(mode(&unit), 0o644);
    assert_eq!(mode(&conf_dir), 0o750);
    assert_eq!(mode(&conf), 0o600);
    assert_eq!(mode(&conf_dir.join("lab-traffic.pcap")), 0o644);

    // The config is the lab example as instance `ferrogate`, and ferrogate accepts it.
    let example = std::fs::read_to_string(repo().join("dpdk-config/appliance-lab.toml")).unwrap();
    let installed = std::fs::read_to_string(&conf).unwrap();
    let body: Vec<&str> = installed.lines().skip(2).collect();
    let want: Vec<String> = example
        .lines()
        .map(|l| {
            if l.starts_with("file_prefix = ") {
                "file_prefix = \"ferrogate\"".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    assert_eq!(body, want);
    assert!(installed.contains("\nfile_prefix = \"ferrogate\""));
    ferrogate::privilege::check_secret_file(&conf).unwrap();
    let check = Command::new(&installed_bin).arg("check-config").arg(&conf).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));

    // A second run changes nothing, down to inodes and modification times.
    let before = tree(root);
    let text = install_ok(&["--prefix", prefix, "--binary", bin]);
    assert!(text.contains("install: nothing to change"), "{text}");
    assert!(text.contains(&format!("kept the existing {}", conf.display())), "{text}");
    assert_eq!(tree(root), before);

    // A changed mode is put right, and only that.
    std::fs::set_permissions(&unit, std::fs::Permissions::from_mode(0o666)).unwrap();
    let text = install_ok(&["--prefix", prefix, "--binary", bin]);
    assert!(text.contains(&format!("chmod 0644 {}", unit.display())), "{text}");
    assert!(text.contains("1 change(s) made"), "{text}");
    assert_eq!(mode(&unit), 0o644);

    // An edited config is never overwritten; a too open one is pointed out.
    std::fs::write(&conf, "# mine\n").unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = install_ok(&["--prefix", prefix, "--binary", "/bin/true"]);
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "# mine\n");
    assert!(text.contains("has mode 644: others may read its keys; chmod 600"), "{text}");
    // ... while a new binary replaces the old one.
    assert!(text.contains("1 change(s) made"), "{text}");
    assert_eq!(std::fs::read(&installed_bin).unwrap(), std::fs::read("/bin/true").unwrap());

    // Uninstall removes the binary and the unit, keeps the keys; a second one does nothing.
    let text = install_ok(&["--uninstall", "--prefix", prefix]);
    assert!(text.contains("2 change(s) made"), "{text}");
    assert!(!installed_bin.exists() && !unit.exists());
    assert!(conf.exists(), "the config (keys) must be kept");
    assert!(text.contains("kept"), "{text}");
    let text = install_ok(&["--uninstall", "--prefix", prefix]);
    assert!(text.contains("install: nothing to change"), "{text}");
}

#[test]
fn bad_arguments_are_refused() {
    let (text, out) = install(&["--frobnicate"]);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("unknown argument: --frobnicate"), "{text}");
    assert!(text.contains("--dry-run"), "usage expected:\n{text}");

    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().to_str().unwrap();
    let (text, out) = install(&["--prefix", prefix, "--binary", "/nonexistent/ferrogate"]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("/nonexistent/ferrogate is not an executable file"), "{text}");
    let missing = tmp.path().join("none");
    let (text, out) = install(&["--prefix", missing.to_str().unwrap(), "--binary", "/bin/true"]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("is not a directory"), "{text}");
}

#[test]
fn the_script_passes_bash_n_and_shellcheck() {
    let script = repo().join("scripts/install.sh");
    let out = Command::new("bash").arg("-n").arg(&script).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    match Command::new("shellcheck").arg(&script).output() {
        Ok(out) => assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout)),
        Err(e) => eprintln!("skipped shellcheck: not runnable here ({e})"),
    }
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(repo().join("scripts/systemd/ferrogate.service")).unwrap();
    assert!(unit.contains(
        "\nExecStart=/usr/local/bin/ferrogate run --config /etc/ferrogate/ferrogate.toml\n"
    ));
    assert!(unit.contains("\nExecReload=/usr/local/bin/ferrogate reload\n"));
    assert!(unit.contains("\nRestart=on-failure\n"));
    assert!(unit.contains("\nLimitMEMLOCK=infinity\n"));
    // Every directive has a comment right above it (or is one of a commented group).
    let mut commented = false;
    for line in unit.lines() {
        if line.starts_with('#') {
            commented = true;
        } else if line.is_empty() || line.starts_with('[') {
            commented = false;
        } else {
            assert!(commented, "directive without a comment: {line}");
        }
    }
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("skipped systemd-analyze verify: systemd-analyze is not installed");
        return;
    }
    // verify insists that the commands exist: point them at the binary built for the tests.
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("ferrogate.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/ferrogate", env!("CARGO_BIN_EXE_ferrogate")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&copy).output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    // verify only warns about unknown keys and bad values: any output is a finding.
    let findings: Vec<&str> = text.lines().filter(|l| l.contains("ferrogate.service")).collect();
    assert!(findings.is_empty(), "{text}");
}
