//! Shared helpers of the `esp_*` integration tests: SA pairs, packet builders, one-call
//! encap / decap.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dataplane::buf::{PacketBuf, VecBuf};
use dataplane::crypto::{AesKeyLen, Cipher, EngineKind, Integ, SaKeys, Transform};
use dataplane::esp::{self, DecapResult, Disposition, EspWorker, VecBufAlloc};
use dataplane::sa::{Direction, Encap, InboundSa, Mode, OutboundSa, SaConfig};

pub const A4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const B4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
pub const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
pub const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
pub const V4_LOCAL: IpAddr = IpAddr::V4(A4);
pub const V4_REMOTE: IpAddr = IpAddr::V4(B4);
pub const V6_LOCAL: IpAddr = IpAddr::V6(A6);
pub const V6_REMOTE: IpAddr = IpAddr::V6(B6);
pub const SPI: u32 = 0x1234_5678;

pub fn gcm128() -> Transform {
    Transform::new(Cipher::AesGcm { key: AesKeyLen::Aes128, icv_len: 16 }, Integ::None).unwrap()
}

/// A few transforms of every shape: AEAD, CBC + HMAC, NULL, GMAC, ChaCha20-Poly1305.
pub fn transforms() -> Vec<Transform> {
    vec![
        gcm128(),
        Transform::new(Cipher::AesCbc(AesKeyLen::Aes256), Integ::HmacSha256_128).unwrap(),
        Transform::new(Cipher::AesCtr(AesKeyLen::Aes128), Integ::HmacSha1_96).unwrap(),
        Transform::new(Cipher::Null, Integ::HmacSha1_96).unwrap(),
        Transform::new(Cipher::AesGmac(AesKeyLen::Aes128), Integ::None).unwrap(),
        Transform::new(Cipher::ChaCha20Poly1305, Integ::None).unwrap(),
    ]
}

pub fn keys(t: Transform) -> SaKeys {
    let enc: Vec<u8> = (0..t.enc_key_len()).map(|i| (i * 7 + 3) as u8).collect();
    let auth: Vec<u8> = (0..t.auth_key_len()).map(|i| (i * 13 + 5) as u8).collect();
    SaKeys::new(&enc, &auth)
}

/// Config of one direction of a test SA.
pub fn config(t: Transform, dir: Direction, local: IpAddr, remote: IpAddr) -> SaConfig {
    let mut c = SaConfig::new(SPI, dir, t, keys(t), local, remote);
    c.engine = EngineKind::RustCrypto;
    c
}

/// Parameters of an SA pair.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    pub t: Transform,
    pub mode: Mode,
    pub v6_outer: bool,
    pub udp: bool,
    pub esn: bool,
}

impl Params {
    pub fn new(t: Transform) -> Self {
        Params { t, mode: Mode::Tunnel, v6_outer: false, udp: false, esn: false }
    }
}

/// Outbound SA of host A and the matching inbound SA of host B, after `tweak` ran on both
/// configs.
pub fn pair_with(p: Params, tweak: impl Fn(&mut SaConfig)) -> (OutboundSa, InboundSa) {
    let (l, r) = if p.v6_outer { (V6_LOCAL, V6_REMOTE) } else { (V4_LOCAL, V4_REMOTE) };
    let mut o = config(p.t, Direction::Outbound, l, r);
    let mut i = config(p.t, Direction::Inbound, r, l);
    for c in [&mut o, &mut i] {
        c.mode = p.mode;
        c.esn = p.esn;
        c.encap = if p.udp { Encap::Udp { src_port: 4500, dst_port: 4500 } } else { Encap::Raw };
        tweak(c);
    }
    (OutboundSa::new(&o).unwrap(), InboundSa::new(&i).unwrap())
}

pub fn pair(p: Params) -> (OutboundSa, InboundSa) {
    pair_with(p, |_| {})
}

/// An IPv4/UDP packet with `len` payload bytes, valid header checksum.
pub fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr, len: usize, tos: u8, df: bool) -> Vec<u8> {
    let total = 28 + len;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[1] = tos;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[4..6].copy_from_slice(&0x4242u16.to_be_bytes());
    p[6] = if df { 0x40 } else { 0 };
    p[8] = 63;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = !dataplane::wire::checksum::data(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20..22].copy_from_slice(&1234u16.to_be_bytes());
    p[22..24].copy_from_slice(&5678u16.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + len) as u16).to_be_bytes());
    for (k, b) in p[28..].iter_mut().enumerate() {
        *b = (k * 31 + 7) as u8;
    }
    p
}

/// An IPv6/UDP packet with `len` payload bytes.
pub fn ipv6_udp(src: Ipv6Addr, dst: Ipv6Addr, len: usize, tclass: u8) -> Vec<u8> {
    let mut p = vec![0u8; 48 + len];
    p[0] = 0x60 | (tclass >> 4);
    p[1] = (tclass << 4) | 0x0a;
    p[2] = 0xbc;
    p[3] = 0xde;
    p[4..6].copy_from_slice(&((8 + len) as u16).to_be_bytes());
    p[6] = 17;
    p[7] = 63;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    p[40..42].copy_from_slice(&1234u16.to_be_bytes());
    p[42..44].copy_from_slice(&5678u16.to_be_bytes());
    p[44..46].copy_from_slice(&((8 + len) as u16).to_be_bytes());
    for (k, b) in p[48..].iter_mut().enumerate() {
        *b = (k * 17 + 1) as u8;
    }
    p
}

pub fn inner_v4(len: usize) -> Vec<u8> {
    ipv4_udp(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 1, 0, 1), len, 0, false)
}

pub fn inner_v6(len: usize) -> Vec<u8> {
    ipv6_udp(
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 1),
        len,
        0,
    )
}

/// A transport-mode packet between the SA endpoints (A → B).
pub fn transport_pkt(v6: bool, len: usize) -> Vec<u8> {
    if v6 { ipv6_udp(A6, B6, len, 0) } else { ipv4_udp(A4, B4, len, 0, false) }
}

/// A buffer with generous room (jumbo inner packets need more tailroom than an mbuf).
pub fn buf(data: &[u8]) -> VecBuf {
    VecBuf::from_slice_with_room(data, 256, 1024)
}

/// Encapsulates one burst; returns dispositions, the packets and the extras.
pub fn encap(
    w: &mut EspWorker,
    sa: &OutboundSa,
    pkts: &[Vec<u8>],
    now: u64,
) -> (Vec<Disposition>, Vec<VecBuf>, Vec<VecBuf>) {
    let mut bufs: Vec<VecBuf> = pkts.iter().map(|p| buf(p)).collect();
    let sas = vec![sa; bufs.len()];
    let mut extra = Vec::new();
    let d = esp::encap_burst(w, &sas, &mut bufs, &mut extra, &mut VecBufAlloc, now).to_vec();
    (d, bufs, extra)
}

/// Decapsulates one burst against a single SA.
pub fn decap(
    w: &mut EspWorker,
    sa: &InboundSa,
    pkts: &[Vec<u8>],
    now: u64,
) -> (Vec<DecapResult>, Vec<VecBuf>) {
    let mut bufs: Vec<VecBuf> = pkts.iter().map(|p| buf(p)).collect();
    let r = esp::decap_burst(
        w,
        &mut bufs,
        |spi| (spi == sa.spi()).then_some(sa),
        &mut VecBufAlloc,
        now,
    )
    .to_vec();
    (r, bufs)
}

/// Encap then decap of one packet; returns the decapsulated bytes.
pub fn roundtrip(o: &OutboundSa, i: &InboundSa, pkt: &[u8]) -> Vec<u8> {
    let mut w = EspWorker::new();
    let (d, bufs, extra) = encap(&mut w, o, &[pkt.to_vec()], 0);
    assert_eq!(d, [Disposition::Forward], "encap of {} bytes", pkt.len());
    assert!(extra.is_empty());
    let (r, out) = decap(&mut w, i, &[bufs[0].to_vec()], 0);
    assert_eq!(r[0].disposition, Disposition::Forward, "decap of {} bytes", pkt.len());
    out[0].to_vec()
}

pub fn data(b: &VecBuf) -> &[u8] {
    b.data()
}
