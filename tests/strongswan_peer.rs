//! The strongSwan peer harness itself (tests/common/strongswan.rs): charon starts in a
//! namespace of the test's, loads a swanctl config, initiates IKEv2 towards a listener in a
//! second namespace, and the first message that arrives is a well-formed IKE_SA_INIT
//! carrying the proposal the config asked for. Later interop tests build on this.

mod common;

use std::process::Command;
use std::time::Duration;

use common::netns::{Namespaces, in_ns, is_root};
use common::strongswan::Charon;
use common::*;

const PYTHON: &str = "/usr/bin/python3";

#[test]
fn charon_in_a_namespace_sends_ike_sa_init_to_its_peer() {
    if !is_root() || !std::path::Path::new(common::strongswan::CHARON).exists() {
        eprintln!("skipped: needs root and strongSwan (scripts/setup.sh installs it)");
        return;
    }
    let pid = std::process::id();
    let (a, b) = (format!("fgss{pid}a"), format!("fgss{pid}b"));
    let _ns = match Namespaces::create(&[a.clone(), b.clone()]) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("skipped: no network namespaces: {e}");
            return;
        }
    };
    in_ns(&a, &["ip", "link", "add", "ss0", "type", "veth", "peer", "name", "ss1", "netns", &b]);
    in_ns(&a, &["ip", "addr", "add", "10.99.0.1/24", "dev", "ss0"]);
    in_ns(&b, &["ip", "addr", "add", "10.99.0.2/24", "dev", "ss1"]);
    for (ns, dev) in [(&a, "ss0"), (&b, "ss1")] {
        in_ns(ns, &["ip", "link", "set", dev, "up"]);
        in_ns(ns, &["ip", "link", "set", "lo", "up"]);
    }
    // Short: the vici socket path must fit a sockaddr_un.
    let dir = std::env::temp_dir().join(format!("fgss{pid}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    // The listener: the first datagram to UDP 500 of 10.99.0.2, as hex.
    let listener = Command::new("ip")
        .args(["netns", "exec", &b, PYTHON, "-c"])
        .arg(
            "import socket\n\
             s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             s.bind(('10.99.0.2', 500))\n\
             s.settimeout(20)\n\
             d, a = s.recvfrom(65535)\n\
             print(d.hex(), a[0], a[1])\n",
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let swanctl = r#"
connections {
    gw {
        version = 2
        local_addrs = 10.99.0.1
        remote_addrs = 10.99.0.2
        proposals = aes256-sha256-modp2048
        local { auth = psk
                id = 10.99.0.1 }
        remote { auth = psk
                 id = 10.99.0.2 }
        children {
            net {
                local_ts = 10.1.0.0/24
                remote_ts = 10.2.0.0/24
                esp_proposals = aes128gcm16
            }
        }
    }
}
secrets {
    ike-gw {
        id-1 = 10.99.0.1
        id-2 = 10.99.0.2
        secret = "test-only-psk"
    }
}
"#;
    let charon = Charon::start(&a, &dir, swanctl).unwrap_or_else(|e| panic!("{e}"));
    let listed = charon.swanctl(&["--list-conns"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("gw: IKEv2"), "{listed:?}");
    // No responder answers: the initiation times out, but its first message went out.
    let _ = charon.swanctl(&["--initiate", "--child", "net", "--timeout", "2"]);
    let got = wait_bounded(listener, Duration::from_secs(30));
    let line = String::from_utf8_lossy(&got.stdout).into_owned();
    assert!(
        got.status.success(),
        "no IKE message: {}\n{}",
        String::from_utf8_lossy(&got.stderr),
        charon.log_tail(40)
    );
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts.get(1..), Some(&["10.99.0.1", "500"][..]), "{line}");
    let msg: Vec<u8> = (0..parts[0].len() / 2)
        .map(|i| u8::from_str_radix(&parts[0][2 * i..2 * i + 2], 16).unwrap())
        .collect();

    // RFC 7296 3.1: SPIi set, SPIr zero, first payload SA (33), version 2.0,
    // IKE_SA_INIT (34), Initiator flag, message ID 0, length = datagram length.
    assert!(msg.len() > 28, "{line}");
    assert_ne!(&msg[0..8], &[0; 8]);
    assert_eq!(&msg[8..16], &[0; 8]);
    assert_eq!(msg[16], 33);
    assert_eq!(msg[17], 0x20);
    assert_eq!(msg[18], 34);
    assert_eq!(msg[19], 0x08);
    assert_eq!(&msg[20..24], &[0; 4]);
    assert_eq!(u32::from_be_bytes([msg[24], msg[25], msg[26], msg[27]]) as usize, msg.len());
    // The proposal asked for: ENCR_AES_CBC (12) with a 256-bit key attribute, and a KE
    // payload for MODP 2048 (group 14) of 256 bytes.
    let has = |needle: &[u8]| msg.windows(needle.len()).any(|w| w == needle);
    assert!(has(&[0x80, 0x0e, 0x01, 0x00]), "no 256-bit key length attribute");
    let ke = msg.windows(8).position(|w| w[4..8] == [0, 14, 0, 0]).expect("KE for group 14");
    assert_eq!(u16::from_be_bytes([msg[ke + 2], msg[ke + 3]]), 8 + 256);
    // Kept for the codec's tests when asked for.
    if let Ok(out) = std::env::var("FG_SAVE_IKE_SA_INIT") {
        std::fs::write(out, format!("{}\n", parts[0])).unwrap();
    }
    drop(charon);
    let _ = std::fs::remove_dir_all(&dir);
}
