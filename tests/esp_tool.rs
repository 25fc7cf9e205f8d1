//! `ferrogate esp encap|decap` end to end: an SA file and an Ethernet capture in, a capture
//! out; encap then decap gives the original frames back, link headers included, and
//! everything no SA applies to is passed or reported.

mod common;

use std::process::Command;

use common::{FERROGATE, TestEnv, read_pcap, write_pcap};
use dataplane::wire::checksum;

const SA_FILE: &str = r#"
# 10.0.0.0/24 goes through an IPv6 tunnel (the Ethernet type must change to 0x86dd).
[[sa]]
spi = 0x1001
transform = "aes128gcm16"
enc_key = "000102030405060708090a0b0c0d0e0f 10111213"
local = "2001:db8::1"
remote = "2001:db8::2"
match_dst = "10.0.0.0/24"

# Everything else over IPv4 ESP-in-UDP with AES-CBC + HMAC-SHA-256.
[[sa]]
spi = 0x1002
transform = "aes256-sha256"
enc_key = "2021222324252627282930313233343536373839404142434445464748495051"
auth_key = "6061626364656667686970717273747576777879808182838485868788899091"
local = "192.0.2.1"
remote = "192.0.2.2"
encap = "udp"
mtu = 9000
"#;

fn ipv4_udp_frame(dst: [u8; 4], payload_len: usize, seed: u8) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = 28 + payload_len;
    let mut ip = vec![0x45, 0, 0, 0, 0, seed, 0x40, 0, 64, 17, 0, 0, 10, 9, 9, 9];
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip.extend_from_slice(&dst);
    let c = !checksum::data(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&[0x30, 0x39, 0x00, 0x35]);
    ip.extend_from_slice(&((8 + payload_len) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0]); // UDP checksum 0: none (IPv4)
    ip.extend((0..payload_len).map(|i| (i as u8).wrapping_mul(seed)));
    f.extend_from_slice(&ip);
    f
}

fn arp_frame() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x08, 0x06]);
    f.extend_from_slice(&[
        0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 9, 9, 9, 0, 0, 0, 0, 0, 0, 10, 9, 9, 1,
    ]);
    f
}

fn ferrogate(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(FERROGATE).args(args).output().expect("run ferrogate");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn encap_then_decap_gives_the_capture_back() {
    let env = TestEnv::new("esp-tool");
    let sa = env.path("sa.toml");
    std::fs::write(&sa, SA_FILE).unwrap();
    let frames = vec![
        ipv4_udp_frame([10, 0, 0, 5], 100, 3),
        ipv4_udp_frame([10, 1, 0, 5], 1400, 5),
        arp_frame(),
        ipv4_udp_frame([10, 0, 0, 6], 0, 7),
        ipv4_udp_frame([172, 16, 0, 1], 17, 9),
    ];
    write_pcap(&env.path("in.pcap"), &frames);
    let p = |n: &str| env.path(n).display().to_string();

    let (ok, out, err) =
        ferrogate(&["esp", "encap", "--sa", &p("sa.toml"), &p("in.pcap"), &p("enc.pcap")]);
    assert!(ok, "encap failed: {err}\n{out}");
    assert!(
        out.contains("read 5, written 5, transformed 4, passed unchanged 1, dropped 0"),
        "{out}"
    );
    assert!(out.contains("SA 0x00001001: 2 packets"), "{out}");
    assert!(out.contains("SA 0x00001002: 2 packets"), "{out}");
    let enc = read_pcap(&env.path("enc.pcap"));
    assert_eq!(enc.len(), 5);
    // Link headers kept; the type follows the outer IP version.
    assert_eq!(&enc[0][..12], &frames[0][..12]);
    assert_eq!(&enc[0][12..14], &[0x86, 0xdd], "IPv6 outer header");
    assert_eq!(enc[0][14 + 6], 50, "raw ESP");
    assert_eq!(&enc[0][14 + 40..14 + 44], &0x1001u32.to_be_bytes());
    assert_eq!(&enc[1][12..14], &[0x08, 0x00]);
    assert_eq!(enc[1][14 + 9], 17, "ESP in UDP");
    assert_eq!(&enc[1][14 + 20 + 2..14 + 20 + 4], &4500u16.to_be_bytes());
    assert_eq!(&enc[1][14 + 28..14 + 32], &0x1002u32.to_be_bytes());
    assert_eq!(enc[2], frames[2], "ARP passed unchanged");

    let (ok, out, err) =
        ferrogate(&["esp", "decap", "--sa", &p("sa.toml"), &p("enc.pcap"), &p("dec.pcap")]);
    assert!(ok, "decap failed: {err}\n{out}");
    assert!(
        out.contains("read 5, written 5, transformed 4, passed unchanged 1, dropped 0"),
        "{out}"
    );
    assert_eq!(read_pcap(&env.path("dec.pcap")), frames, "decap(encap(x)) == x");

    // Unmatched packets can be left out instead.
    let (ok, out, _) = ferrogate(&[
        "esp",
        "decap",
        "--unmatched",
        "drop",
        "--sa",
        &p("sa.toml"),
        &p("enc.pcap"),
        &p("dec2.pcap"),
    ]);
    assert!(ok);
    assert!(out.contains("written 4"), "{out}");
}

#[test]
fn damaged_and_foreign_packets_are_reported_not_fatal() {
    let env = TestEnv::new("esp-tool-bad");
    let sa = env.path("sa.toml");
    std::fs::write(&sa, SA_FILE).unwrap();
    let p = |n: &str| env.path(n).display().to_string();
    let good = ipv4_udp_frame([10, 1, 0, 5], 64, 1);
    write_pcap(&env.path("in.pcap"), std::slice::from_ref(&good));
    let (ok, _, err) =
        ferrogate(&["esp", "encap", "--sa", &p("sa.toml"), &p("in.pcap"), &p("enc.pcap")]);
    assert!(ok, "{err}");
    let esp = read_pcap(&env.path("enc.pcap")).remove(0);
    let mut tampered = esp.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let mut unknown_spi = esp.clone();
    unknown_spi[14 + 28 + 3] = 0x77;
    let truncated = esp[..40].to_vec();
    // The tampered copy comes first: a replayed sequence number is refused before its ICV
    // is even checked, so only a fresh one shows the authentication failure.
    write_pcap(&env.path("bad.pcap"), &[tampered, esp.clone(), unknown_spi, truncated, esp]);
    let (ok, out, err) =
        ferrogate(&["esp", "decap", "--sa", &p("sa.toml"), &p("bad.pcap"), &p("out.pcap")]);
    assert!(ok, "{err}");
    assert!(out.contains("packet 1: dropped: auth-failed (SPI 0x00001002)"), "{out}");
    assert!(out.contains("packet 3: dropped: no-sa (SPI 0x00001077)"), "{out}");
    assert!(out.contains("packet 4: dropped: malformed"), "{out}");
    assert!(out.contains("packet 5: dropped: replay (SPI 0x00001002)"), "{out}");
    assert!(
        out.contains("read 5, written 1, transformed 1, passed unchanged 0, dropped 4"),
        "{out}"
    );
    assert_eq!(read_pcap(&env.path("out.pcap")), vec![good]);
}

#[test]
fn bad_sa_files_name_file_line_and_field() {
    let env = TestEnv::new("esp-tool-cfg");
    let sa = env.path("sa.toml");
    std::fs::write(&sa, SA_FILE.replace("aes256-sha256", "aes256-md5")).unwrap();
    write_pcap(&env.path("in.pcap"), &[]);
    let p = |n: &str| env.path(n).display().to_string();
    let (ok, _, err) =
        ferrogate(&["esp", "encap", "--sa", &p("sa.toml"), &p("in.pcap"), &p("o.pcap")]);
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "{}:14:13: sa[1].transform: unknown integrity algorithm 'md5' in 'aes256-md5'",
            p("sa.toml")
        )),
        "{err}"
    );
    std::fs::write(env.path("junk.pcap"), b"not a capture at all").unwrap();
    std::fs::write(&sa, SA_FILE).unwrap();
    let (ok, _, err) =
        ferrogate(&["esp", "decap", "--sa", &p("sa.toml"), &p("junk.pcap"), &p("o.pcap")]);
    assert!(!ok);
    assert!(err.contains("not a pcap or pcapng file"), "{err}");
}

#[test]
fn oversize_packet_with_df_is_refused_as_too_big() {
    let env = TestEnv::new("esp-tool-mtu");
    std::fs::write(env.path("sa.toml"), SA_FILE).unwrap();
    let p = |n: &str| env.path(n).display().to_string();
    // 1488-byte inner packet with DF set, IPv6 outer tunnel with MTU 1500: does not fit.
    write_pcap(&env.path("in.pcap"), &[ipv4_udp_frame([10, 0, 0, 9], 1460, 1)]);
    let (ok, out, err) =
        ferrogate(&["esp", "encap", "--sa", &p("sa.toml"), &p("in.pcap"), &p("o.pcap")]);
    assert!(ok, "{err}");
    assert!(out.contains("packet 1: dropped: too-big (SPI 0x00001001)"), "{out}");
    assert!(read_pcap(&env.path("o.pcap")).is_empty());
}
