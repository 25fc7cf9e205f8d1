//! A real strongSwan peer for interop tests: charon with `kernel-libipsec` (userspace ESP:
//! the kernel here has no ESP XFRM) in a network namespace the test made, driven by
//! `swanctl` over a vici socket in the test's directory.
//!
//! Each charon gets its own mount namespace with a private tmpfs on /run, so its
//! compiled-in /run paths (pid file, default sockets) never clash with another charon's;
//! everything the test needs (vici socket, log, config) lives in the test's directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The daemon.
pub const CHARON: &str = "/usr/lib/ipsec/charon";

/// One running charon; killed (and its files removed with the test's directory) on drop.
pub struct Charon {
    pub ns: String,
    pub dir: PathBuf,
    child: Option<Child>,
}

/// `strongswan.conf` for a test charon: only the plugins the tests need, userspace ESP,
/// everything logged at the levels that show the derived keys (`ike`/`chd` 4) into
/// `charon.log` beside it.
fn strongswan_conf(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"charon {{
    load_modular = no
    load = random nonce aes sha1 sha2 hmac gmp curve25519 openssl chapoly gcm pem pkcs1 pkcs8 x509 pubkey constraints revocation kdf xauth-generic kernel-libipsec kernel-netlink socket-default vici updown
    install_routes = no
    # The IKEv1 interop tests run Aggressive Mode with a PSK on purpose (opted in on both
    # sides, as the IKEv1 issue asks).
    i_dont_care_about_security_and_use_aggressive_mode_psk = yes
    retransmit_tries = 3
    retransmit_timeout = 1.0
    retransmit_base = 1.4
    plugins {{
        vici {{
            socket = unix://{d}/charon.vici
        }}
        kernel-libipsec {{
            allow_peer_ts = yes
        }}
    }}
    filelog {{
        test {{
            path = {d}/charon.log
            time_format = %T
            default = 1
            ike = 4
            chd = 4
            cfg = 2
            net = 2
            flush_line = yes
        }}
    }}
    syslog {{
        daemon {{
            default = -1
        }}
    }}
}}
swanctl {{
    socket = unix://{d}/charon.vici
}}
"#
    )
}

impl Charon {
    /// Starts charon in namespace `ns` with `swanctl_conf` (a `swanctl.conf` text) and
    /// loads it; `dir` must exist and its path be short (unix sockets take 108 bytes).
    pub fn start(ns: &str, dir: &Path, swanctl_conf: &str) -> Result<Charon, String> {
        let conf = dir.join("strongswan.conf");
        std::fs::write(&conf, strongswan_conf(dir)).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("swanctl.conf"), swanctl_conf).map_err(|e| e.to_string())?;
        let vici = dir.join("charon.vici");
        if vici.as_os_str().len() > 100 {
            return Err(format!("{}: too long for a unix socket", vici.display()));
        }
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "unshare", "-m", "--propagation", "private", "sh", "-c"])
            .arg(format!("mount -t tmpfs fg-charon /run && exec {CHARON}"))
            .env("STRONGSWAN_CONF", &conf)
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                std::fs::File::create(dir.join("charon.out")).map_err(|e| e.to_string())?,
            ))
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("charon.err")).map_err(|e| e.to_string())?,
            ))
            .spawn()
            .map_err(|e| format!("cannot start charon: {e}"))?;
        let mut c = Charon { ns: ns.to_owned(), dir: dir.to_owned(), child: Some(child) };
        let start = Instant::now();
        while !vici.exists() {
            if let Some(status) = c.child.as_mut().and_then(|ch| ch.try_wait().ok()).flatten() {
                return Err(format!("charon exited ({status}): {}", c.log_tail(30)));
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(format!("charon's vici socket did not appear: {}", c.log_tail(30)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = c.swanctl(&["--load-all", "--file", &dir.join("swanctl.conf").to_string_lossy()]);
        if !out.status.success() {
            return Err(format!(
                "swanctl --load-all: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(c)
    }

    /// Runs `swanctl ARGS` against this charon (bounded to 30 s).
    pub fn swanctl(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("swanctl");
        cmd.args(args).env("STRONGSWAN_CONF", self.dir.join("strongswan.conf"));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("swanctl");
        super::wait_bounded(child, Duration::from_secs(30))
    }

    /// Runs `swanctl ARGS` with `SWANCTL_DIR` set to this charon's directory (bounded to
    /// 30 s): `--load-creds` then reads the `x509/`, `x509ca/` and `private/` folders there,
    /// where certificate tests put charon's certificate, CA and private key (swanctl.conf
    /// can name certificates by absolute path, private keys only through those folders).
    pub fn swanctl_in_dir(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("swanctl");
        cmd.args(args)
            .env("STRONGSWAN_CONF", self.dir.join("strongswan.conf"))
            .env("SWANCTL_DIR", &self.dir);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("swanctl");
        super::wait_bounded(child, Duration::from_secs(30))
    }

    /// charon's process id (`ip netns exec`, `unshare` and `sh` all exec it in place).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// The last `n` lines of charon's log (for failure messages).
    pub fn log_tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("charon.log")).unwrap_or_default();
        let err = std::fs::read_to_string(self.dir.join("charon.err")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().chain(err.lines()).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The whole log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("charon.log")).unwrap_or_default()
    }
}

impl Drop for Charon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM first: charon deletes its SAs and says goodbye to peers.
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
