//! Helpers shared by the integration tests: a tiny pcap writer/reader, deterministic test
//! frames, unique EAL file prefixes that clean up after themselves, and a bounded way to run
//! the `ferrogate` binary.
#![allow(dead_code)]

pub mod ike_child;
pub mod netns;
pub mod strongswan;
pub mod test_pki;

use ferrogate::pcap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The ferrogate binary cargo built for these tests.
pub const FERROGATE: &str = env!("CARGO_BIN_EXE_ferrogate");

/// Writes `frames` as an Ethernet pcap file (ferrogate's own writer).
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let file = std::fs::File::create(path).expect("create pcap");
    let mut w = pcap::Writer::new(std::io::BufWriter::new(file), pcap::LinkType::Ethernet)
        .expect("write pcap header");
    for (i, f) in frames.iter().enumerate() {
        w.write((1_700_000_000 + i as u64) * 1_000_000_000, f).expect("write pcap record");
    }
    w.into_inner().expect("flush pcap");
}

/// Reads the frames of a pcap file, refusing truncated records.
pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut r = pcap::Reader::new(std::io::BufReader::new(file))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut frames = Vec::new();
    while let Some(rec) = r.next_record().unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
        assert_eq!(rec.orig_len as usize, rec.data.len(), "{}: truncated capture", path.display());
        frames.push(rec.data);
    }
    frames
}

/// `n` distinct Ethernet/IPv4/UDP frames, 60 to 1514 bytes, numbered in the IP ID and the
/// payload so that loss, duplication or reordering shows.
pub fn test_frames(n: usize, seed: u8) -> Vec<Vec<u8>> {
    const SIZES: [usize; 8] = [60, 64, 128, 333, 594, 1000, 1400, 1514];
    (0..n)
        .map(|i| {
            let size = SIZES[i % SIZES.len()];
            let mut f = Vec::with_capacity(size);
            f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, seed]);
            f.extend_from_slice(&0x0800u16.to_be_bytes());
            let ip_len = (size - 14) as u16;
            let mut ip = [0u8; 20];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
            ip[4..6].copy_from_slice(&(i as u16).to_be_bytes());
            ip[8] = 64;
            ip[9] = 17;
            ip[12..16].copy_from_slice(&[10, seed, 0, 1]);
            ip[16..20].copy_from_slice(&[10, seed, 1, 1]);
            let sum = checksum(&ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            f.extend_from_slice(&ip);
            let udp_len = ip_len - 20;
            f.extend_from_slice(&(5000 + i as u16).to_be_bytes());
            f.extend_from_slice(&4500u16.to_be_bytes());
            f.extend_from_slice(&udp_len.to_be_bytes());
            f.extend_from_slice(&[0, 0]);
            while f.len() < size {
                f.push((f.len() as u8) ^ (i as u8) ^ seed);
            }
            f
        })
        .collect()
}

/// The IPv4 header checksum (the dataplane's own implementation).
fn checksum(b: &[u8]) -> u16 {
    !dataplane::wire::checksum::data(b)
}

/// A unique EAL `--file-prefix` and scratch directory for one test; removes DPDK's
/// hugepage and runtime files for the prefix, and the directory, when dropped.
pub struct TestEnv {
    pub prefix: String,
    pub dir: PathBuf,
}

impl TestEnv {
    pub fn new(name: &str) -> Self {
        let prefix = format!("fgt-{name}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&prefix);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create test dir");
        TestEnv { prefix, dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Files DPDK left for this prefix.
    pub fn leftovers(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Ok(d) = std::fs::read_dir("/dev/hugepages") {
            let stem = format!("{}map_", self.prefix);
            out.extend(
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(&stem))
                    .map(|e| e.path()),
            );
        }
        let run = Path::new("/var/run/dpdk").join(&self.prefix);
        if run.exists() {
            out.push(run);
        }
        out
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        for p in self.leftovers() {
            let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Free 2 MB hugepages on a mounted hugetlbfs, in MB.
pub fn hugepages_free_mb() -> u64 {
    let mounted = std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("hugetlbfs"));
    if !mounted {
        return 0;
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let get = |k: &str| -> u64 {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    get("HugePages_Free:") * get("Hugepagesize:") / 1024
}

/// Whether this machine has a second CPU for a worker lcore.
pub fn has_two_cpus() -> bool {
    std::thread::available_parallelism().map(|n| n.get() >= 2).unwrap_or(false)
}

/// Starts ferrogate with `args`, output captured.
pub fn spawn_ferrogate(args: &[&str]) -> Child {
    spawn(FERROGATE, args)
}

/// Starts `program` with `args`, output captured.
pub fn spawn(program: &str, args: &[&str]) -> Child {
    Command::new(program)
        .args(args)
        .env("FERROGATE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ferrogate")
}

/// Waits for `child` at most `limit`; kills it (and fails) past that, so no test leaves a
/// process behind.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        match child.try_wait().expect("wait for ferrogate") {
            Some(_) => return child.wait_with_output().expect("collect output"),
            None if start.elapsed() > limit => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("collect output");
                panic!(
                    "ferrogate ran past {limit:?} and was killed\nstdout:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Runs ferrogate to completion (bounded by `limit`).
pub fn run_ferrogate(args: &[&str], limit: Duration) -> Output {
    wait_bounded(spawn_ferrogate(args), limit)
}

/// Runs the command `argv` (which runs ferrogate, e.g. through `ip netns exec`) to
/// completion, bounded by `limit`.
pub fn run_command(argv: &[&str], limit: Duration) -> Output {
    wait_bounded(spawn(argv[0], &argv[1..]), limit)
}

/// Panics with both output streams unless the run succeeded.
pub fn assert_success(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ferrogate failed ({})\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
