//! Arbitrary bytes into ESP decapsulation: must never panic, whatever the packets.
//!
//! Input: a sequence of packets, each `[len_hi, len_lo, flags, bytes...]`. Flag bit 0
//! plants the SA's SPI at the raw-ESP position of an IPv4 packet so the fuzzer reaches
//! replay and crypto quickly; the remaining bits pick one of the SAs (tunnel / transport,
//! ESN, GCM / CBC-HMAC). Run with `cargo +nightly fuzz run esp_decap` from this directory.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use dataplane::buf::VecBuf;
use dataplane::crypto::{AesKeyLen, Cipher, EngineKind, Integ, SaKeys, Transform};
use dataplane::esp::{self, EspWorker, ReassemblyConfig, VecBufAlloc};
use dataplane::sa::{Direction, InboundSa, Mode, SaConfig};
use libfuzzer_sys::fuzz_target;

const SPI_BASE: u32 = 0x1000;

fn sas() -> &'static [InboundSa] {
    static SAS: OnceLock<Vec<InboundSa>> = OnceLock::new();
    SAS.get_or_init(|| {
        let gcm =
            Transform::new(Cipher::AesGcm { key: AesKeyLen::Aes128, icv_len: 16 }, Integ::None)
                .expect("valid transform");
        let cbc = Transform::new(Cipher::AesCbc(AesKeyLen::Aes128), Integ::HmacSha256_128)
            .expect("valid transform");
        let mut v = Vec::new();
        for (k, (t, mode, esn)) in [
            (gcm, Mode::Tunnel, false),
            (gcm, Mode::Transport, true),
            (cbc, Mode::Tunnel, true),
            (cbc, Mode::Transport, false),
        ]
        .into_iter()
        .enumerate()
        {
            let keys = SaKeys::new(&vec![7; t.enc_key_len()], &vec![9; t.auth_key_len()]);
            let mut c = SaConfig::new(
                SPI_BASE + k as u32,
                Direction::Inbound,
                t,
                keys,
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)),
            );
            c.engine = EngineKind::RustCrypto;
            c.mode = mode;
            c.esn = esn;
            c.replay_window = if k % 2 == 0 { 64 } else { 0 };
            v.push(InboundSa::new(&c).expect("valid SA"));
        }
        v
    })
}

fuzz_target!(|data: &[u8]| {
    let sas = sas();
    let mut pkts = Vec::new();
    let mut rest = data;
    while rest.len() >= 3 && pkts.len() < 64 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 3);
        let flags = rest[2];
        let mut p = rest[3..3 + len].to_vec();
        if flags & 1 != 0 && p.len() >= 24 {
            let spi = SPI_BASE + u32::from(flags >> 1) % sas.len() as u32;
            p[20..24].copy_from_slice(&spi.to_be_bytes());
        }
        pkts.push(VecBuf::from_slice(&p));
        rest = &rest[3 + len..];
    }
    let cfg = ReassemblyConfig { max_datagrams: 8, ..ReassemblyConfig::default() };
    let mut w = EspWorker::with_config(cfg, 4500);
    let lookup = |spi: u32| sas.get(spi.wrapping_sub(SPI_BASE) as usize);
    let n = esp::decap_burst(&mut w, &mut pkts, lookup, &mut VecBufAlloc, 0).len();
    assert_eq!(n, pkts.len());
});
