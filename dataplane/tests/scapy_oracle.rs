//! ferrogate's ESP checked against an independent implementation, both ways.
//!
//! The oracle is `tests/oracle/scapy_esp.py`: scapy's `SecurityAssociation` (with the
//! `cryptography` package for the transforms scapy lacks: AES-GMAC, truncated GCM ICVs, HMAC
//! with ESN). For every transform, IPv4 and IPv6 outer headers, raw ESP and ESP-in-UDP,
//! tunnel and transport mode, with and without ESN, and inner packets from 28 to 9028 bytes:
//! - ferrogate encapsulates → the oracle decapsulates and must get the original packet back;
//! - the oracle encapsulates → ferrogate decapsulates and must get the original packet back.
//!
//! Needs Debian's `python3-scapy` (installed by `scripts/setup.sh`).

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::process::{Command, Stdio};

use dataplane::buf::{PacketBuf, VecBuf};
use dataplane::crypto::{AesKeyLen, Cipher, EngineKind, Integ, SaKeys, Transform};
use dataplane::esp::{self, Disposition, EspWorker, VecBufAlloc};
use dataplane::sa::{Direction, Encap, InboundSa, Mode, OutboundSa, SaConfig};
use dataplane::wire::checksum;
use serde_json::{Value, json};

const PYTHON: &str = "/usr/bin/python3";
const ORACLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracle/scapy_esp.py");

/// UDP payload sizes of the inner packets: around every block and alignment boundary, up
/// to a 9000-byte jumbo payload.
const SIZES: &[usize] =
    &[0, 1, 2, 3, 13, 14, 15, 16, 17, 31, 63, 64, 65, 127, 500, 1000, 1400, 1472, 4000, 9000];
const PER_COMBO: usize = 5;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic test data, not for keys in production.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn transforms() -> Vec<Transform> {
    use AesKeyLen::*;
    let t = |c, i| Transform::new(c, i).unwrap();
    vec![
        t(Cipher::AesGcm { key: Aes128, icv_len: 16 }, Integ::None),
        t(Cipher::AesGcm { key: Aes192, icv_len: 16 }, Integ::None),
        t(Cipher::AesGcm { key: Aes256, icv_len: 16 }, Integ::None),
        t(Cipher::AesGcm { key: Aes128, icv_len: 12 }, Integ::None),
        t(Cipher::AesGcm { key: Aes256, icv_len: 8 }, Integ::None),
        t(Cipher::AesGmac(Aes128), Integ::None),
        t(Cipher::AesGmac(Aes256), Integ::None),
        t(Cipher::AesCbc(Aes128), Integ::HmacSha1_96),
        t(Cipher::AesCbc(Aes128), Integ::HmacSha256_128),
        t(Cipher::AesCbc(Aes192), Integ::HmacSha384_192),
        t(Cipher::AesCbc(Aes256), Integ::HmacSha512_256),
        t(Cipher::AesCbc(Aes256), Integ::HmacSha256_128),
        t(Cipher::AesCtr(Aes128), Integ::HmacSha256_128),
        t(Cipher::AesCtr(Aes256), Integ::HmacSha1_96),
        t(Cipher::ChaCha20Poly1305, Integ::None),
        t(Cipher::Null, Integ::HmacSha256_128),
        t(Cipher::Null, Integ::HmacSha1_96),
    ]
}

fn oracle_names(t: Transform) -> (&'static str, &'static str, u8) {
    let (cipher, icv) = match t.cipher() {
        Cipher::AesGcm { icv_len, .. } => ("aes-gcm", icv_len),
        Cipher::AesGmac(_) => ("aes-gmac", 16),
        Cipher::AesCbc(_) => ("aes-cbc", 16),
        Cipher::AesCtr(_) => ("aes-ctr", 16),
        Cipher::ChaCha20Poly1305 => ("chacha20-poly1305", 16),
        Cipher::Null => ("null", 16),
    };
    let integ = match t.integ() {
        Integ::None => "none",
        Integ::HmacSha1_96 => "sha1-96",
        Integ::HmacSha256_128 => "sha256-128",
        Integ::HmacSha384_192 => "sha384-192",
        Integ::HmacSha512_256 => "sha512-256",
    };
    (cipher, integ, icv)
}

/// An IPv4 or IPv6 UDP packet with correct lengths and checksums.
fn udp_packet(src: IpAddr, dst: IpAddr, payload: &[u8], fill: u8) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let mut udp = vec![0u8; udp_len];
    udp[0..2].copy_from_slice(&1234u16.to_be_bytes());
    udp[2..4].copy_from_slice(&5678u16.to_be_bytes());
    udp[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
    udp[8..].copy_from_slice(payload);
    let mut pkt = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0x45, fill & 0xfc, 0, 0, 0x12, 0x34, 0, 0, 63, 17, 0, 0];
            h[2..4].copy_from_slice(&((20 + udp_len) as u16).to_be_bytes());
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let c = !checksum::data(&h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            let ph = checksum::pseudo_header_v4(&s, &d, 17u8.into(), udp_len as u16);
            let c = !checksum::combine(&[ph, checksum::data(&udp)]);
            udp[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
            h
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = vec![0x60 | (fill >> 6), (fill << 2) & 0xf0, 0x0a, 0xbc, 0, 0, 17, 63];
            h[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let ph = checksum::pseudo_header_v6(&s, &d, 17u8.into(), udp_len as u32);
            let c = !checksum::combine(&[ph, checksum::data(&udp)]);
            udp[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
            h
        }
        _ => unreachable!("addresses of one family"),
    };
    pkt.extend_from_slice(&udp);
    pkt
}

struct Combo {
    transform: Transform,
    outer_v6: bool,
    udp: bool,
    mode: Mode,
    esn: bool,
    engine: EngineKind,
}

const SEQ_HI: u32 = 3;
const FIRST_SEQ_LO: u32 = 7;

impl Combo {
    fn addrs(&self) -> (IpAddr, IpAddr) {
        if self.outer_v6 {
            ("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap())
        } else {
            ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap())
        }
    }

    fn config(&self, dir: Direction, enc: &[u8], auth: &[u8]) -> SaConfig {
        let (local, remote) = self.addrs();
        let (local, remote) =
            if dir == Direction::Outbound { (local, remote) } else { (remote, local) };
        let mut cfg =
            SaConfig::new(0x1000_0001, dir, self.transform, SaKeys::new(enc, auth), local, remote);
        cfg.mode = self.mode;
        cfg.esn = self.esn;
        cfg.engine = self.engine;
        cfg.mtu = 9600;
        cfg.replay_window = 128;
        cfg.encap =
            if self.udp { Encap::Udp { src_port: 4500, dst_port: 4500 } } else { Encap::Raw };
        // The first packet carries FIRST_SEQ_LO (and SEQ_HI with ESN) so the high half is used.
        let hi = if self.esn { u64::from(SEQ_HI) << 32 } else { 0 };
        cfg.initial_seq = hi | u64::from(FIRST_SEQ_LO - 1);
        cfg
    }

    fn inner(&self, k: usize, size: usize, rng: &mut Rng) -> Vec<u8> {
        let payload = rng.bytes(size);
        let fill = rng.next() as u8;
        let (local, remote) = self.addrs();
        match self.mode {
            Mode::Transport => udp_packet(local, remote, &payload, fill),
            Mode::Tunnel if k.is_multiple_of(2) => {
                udp_packet("10.0.0.1".parse().unwrap(), "10.1.0.1".parse().unwrap(), &payload, fill)
            }
            Mode::Tunnel => {
                udp_packet("fd00::1".parse().unwrap(), "fd01::1".parse().unwrap(), &payload, fill)
            }
        }
    }

    fn case(&self, id: usize, op: &str, seq_lo: u32, enc: &[u8], auth: &[u8], pkt: &[u8]) -> Value {
        let (cipher, integ, icv) = oracle_names(self.transform);
        let (local, remote) = self.addrs();
        json!({
            "id": id, "op": op, "cipher": cipher, "integ": integ, "icv_len": icv,
            "enc_key": hex(enc), "auth_key": hex(auth), "spi": 0x1000_0001u32,
            "seq": seq_lo, "esn": self.esn, "seq_hi": if self.esn { SEQ_HI } else { 0 },
            "mode": if self.mode == Mode::Tunnel { "tunnel" } else { "transport" },
            "outer_src": local.to_string(), "outer_dst": remote.to_string(),
            "nat_t": if self.udp { json!([4500, 4500]) } else { Value::Null },
            "packet": hex(pkt),
        })
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Runs every case through one oracle process; replies come back in order.
fn run_oracle(cases: &[Value]) -> Vec<Value> {
    let mut child = Command::new(PYTHON)
        .arg(ORACLE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {PYTHON} (run scripts/setup.sh): {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input: String = cases.iter().map(|c| format!("{c}\n")).collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let replies: Vec<Value> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    writer.join().unwrap().unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "oracle failed ({status}): is python3-scapy installed? run scripts/setup.sh"
    );
    assert_eq!(
        replies.len(),
        cases.len(),
        "oracle answered {} of {} cases",
        replies.len(),
        cases.len()
    );
    replies
}

fn combos() -> Vec<Combo> {
    let mut out = Vec::new();
    for (ti, transform) in transforms().into_iter().enumerate() {
        for c in 0..8usize {
            let n = ti * 8 + c;
            let engine = if n % 2 == 1 && EngineKind::IpsecMb.available() {
                EngineKind::IpsecMb
            } else {
                EngineKind::RustCrypto
            };
            out.push(Combo {
                transform,
                outer_v6: c & 1 != 0,
                udp: c & 2 != 0,
                mode: if c & 4 != 0 { Mode::Transport } else { Mode::Tunnel },
                esn: (c + ti) % 2 == 1,
                engine,
            });
        }
    }
    out
}

/// Falls back to the pure-Rust engine where ipsec-mb does not do a transform.
fn build<T>(combo: &mut Combo, mk: impl Fn(&Combo) -> Result<T, dataplane::sa::SaError>) -> T {
    match mk(combo) {
        Ok(sa) => sa,
        Err(_) if combo.engine != EngineKind::RustCrypto => {
            combo.engine = EngineKind::RustCrypto;
            mk(combo).unwrap()
        }
        Err(e) => panic!("{}: {e}", combo.transform),
    }
}

#[test]
fn ferrogate_encap_oracle_decap() {
    let mut rng = Rng(0x5eed_0001);
    let mut worker = EspWorker::new();
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for (ci, mut combo) in combos().into_iter().enumerate() {
        let enc = rng.bytes(combo.transform.enc_key_len());
        let auth = rng.bytes(combo.transform.auth_key_len());
        let sa =
            build(&mut combo, |c| OutboundSa::new(&c.config(Direction::Outbound, &enc, &auth)));
        let sizes: Vec<usize> =
            (0..PER_COMBO).map(|k| SIZES[(ci * PER_COMBO + k) % SIZES.len()]).collect();
        let inners: Vec<Vec<u8>> =
            sizes.iter().enumerate().map(|(k, &s)| combo.inner(k, s, &mut rng)).collect();
        let mut pkts: Vec<VecBuf> = inners.iter().map(|p| VecBuf::from_slice(p)).collect();
        let sas = vec![&sa; pkts.len()];
        let mut extra = Vec::new();
        let disp = esp::encap_burst(&mut worker, &sas, &mut pkts, &mut extra, &mut VecBufAlloc, 1)
            .to_vec();
        assert!(extra.is_empty(), "{}: unexpected fragments", combo.transform);
        for (k, (pkt, inner)) in pkts.iter().zip(&inners).enumerate() {
            assert_eq!(disp[k], Disposition::Forward, "{} packet {k}", combo.transform);
            let seq_lo = FIRST_SEQ_LO + k as u32;
            cases.push(combo.case(cases.len(), "decrypt", seq_lo, &enc, &auth, pkt.data()));
            expected.push((
                format!(
                    "{} {} engine {:?} size {}",
                    combo.transform,
                    describe(&combo),
                    combo.engine,
                    inner.len()
                ),
                inner.clone(),
            ));
        }
    }
    let replies = run_oracle(&cases);
    let mut failures = Vec::new();
    for (reply, (what, inner)) in replies.iter().zip(&expected) {
        if reply["ok"] != true {
            failures.push(format!("{what}: oracle could not decrypt: {}", reply["error"]));
        } else if unhex(reply["packet"].as_str().unwrap()) != *inner {
            failures.push(format!("{what}: oracle decrypted something else"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn oracle_encap_ferrogate_decap() {
    let mut rng = Rng(0x5eed_0002);
    let mut worker = EspWorker::new();
    let mut combos = combos();
    let mut cases = Vec::new();
    let mut inners = Vec::new();
    let mut keys = Vec::new();
    for (ci, combo) in combos.iter().enumerate() {
        let enc = rng.bytes(combo.transform.enc_key_len());
        let auth = rng.bytes(combo.transform.auth_key_len());
        for k in 0..PER_COMBO {
            let inner = combo.inner(k, SIZES[(ci * PER_COMBO + k + 3) % SIZES.len()], &mut rng);
            cases.push(combo.case(
                cases.len(),
                "encrypt",
                FIRST_SEQ_LO + k as u32,
                &enc,
                &auth,
                &inner,
            ));
            inners.push(inner);
        }
        keys.push((enc, auth));
    }
    let replies = run_oracle(&cases);
    let mut failures = Vec::new();
    for (ci, combo) in combos.iter_mut().enumerate() {
        let (enc, auth) = &keys[ci];
        let sa = build(combo, |c| InboundSa::new(&c.config(Direction::Inbound, enc, auth)));
        let range = ci * PER_COMBO..(ci + 1) * PER_COMBO;
        let mut pkts: Vec<VecBuf> = Vec::new();
        for r in &replies[range.clone()] {
            assert_eq!(
                r["ok"], true,
                "{}: oracle could not encrypt: {}",
                combo.transform, r["error"]
            );
            pkts.push(VecBuf::from_slice(&unhex(r["packet"].as_str().unwrap())));
        }
        let results = esp::decap_burst(
            &mut worker,
            &mut pkts,
            |spi| (spi == 0x1000_0001).then_some(&sa),
            &mut VecBufAlloc,
            1,
        )
        .to_vec();
        for (k, i) in range.enumerate() {
            let what = format!(
                "{} {} engine {:?} size {}",
                combo.transform,
                describe(combo),
                combo.engine,
                inners[i].len()
            );
            if results[k].disposition != Disposition::Forward {
                failures.push(format!("{what}: {:?}", results[k].disposition));
            } else if pkts[k].data() != inners[i].as_slice() {
                failures.push(format!("{what}: decapsulated something else"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn describe(c: &Combo) -> String {
    format!(
        "{} over {} {}{}",
        if c.mode == Mode::Tunnel { "tunnel" } else { "transport" },
        if c.outer_v6 { "IPv6" } else { "IPv4" },
        if c.udp { "UDP-encapsulated" } else { "raw ESP" },
        if c.esn { " ESN" } else { "" }
    )
}
