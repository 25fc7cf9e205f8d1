//! Network namespaces a test makes for itself (and removes again), and commands run in them.

use std::process::Command;

/// Network namespaces made for one test, deleted on drop (with their veths).
pub struct Namespaces(pub Vec<String>);

impl Namespaces {
    /// Creates them, or says why not (no root, no netns support) so the test can skip.
    pub fn create(names: &[String]) -> Result<Self, String> {
        let mut made = Namespaces(Vec::new());
        for n in names {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
            let out = Command::new("ip")
                .args(["netns", "add", n])
                .output()
                .map_err(|e| format!("cannot run ip: {e}"))?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
            }
            made.0.push(n.clone());
        }
        Ok(made)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

/// Runs `cmd` in namespace `ns`; panics with its stderr on failure.
pub fn in_ns(ns: &str, cmd: &[&str]) {
    let out =
        Command::new("ip").args(["netns", "exec", ns]).args(cmd).output().expect("ip netns exec");
    assert!(out.status.success(), "{ns}: {cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Uid:").map(|u| u.split_whitespace().nth(1) == Some("0"))
            })
        })
        .unwrap_or(false)
}
