//! `show crypto ikev2 sa [detail]`: the IKEv2 SAs and their Child SAs, in the layout of the
//! ASA command (tunnel id, local and remote address/port, status, role, then the
//! algorithms and the Child SAs' selectors and SPIs).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// One IKEv2 SA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IkeSaSnap {
    /// The appliance's id of the SA (stable while it lives).
    pub id: u64,
    /// The crypto map entry (`NAME SEQ`), when known.
    pub tunnel: Option<String>,
    /// Our address and port.
    pub local: String,
    /// The peer's address and port.
    pub remote: String,
    /// `READY` once authenticated, else `NEGOTIATING`.
    pub status: String,
    /// `INITIATOR` or `RESPONDER`.
    pub role: String,
    /// Initiator's and responder's SPI, 16 hex digits each.
    pub spi_i: String,
    pub spi_r: String,
    /// The IKE SA's algorithms (IANA names), once negotiated.
    pub encryption: Option<String>,
    pub prf: Option<String>,
    pub integrity: Option<String>,
    pub dh_group: Option<u16>,
    /// The identity the peer authenticated as.
    pub peer_id: Option<String>,
    /// A NAT between the peers (ESP in UDP).
    pub nat_detected: bool,
    /// Seconds since the SA came up.
    pub active_s: Option<u64>,
    /// Remote access: the addresses the client was assigned from our pools.
    #[serde(default)]
    pub assigned: Vec<String>,
    /// Its Child SAs in the dataplane.
    pub children: Vec<ChildSaSnap>,
}

/// One Child SA pair of an IKEv2 SA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildSaSnap {
    pub inbound_spi: u32,
    pub outbound_spi: u32,
    /// Our selectors (prefixes, space separated).
    pub local_selector: String,
    /// The peer's selectors.
    pub remote_selector: String,
    /// The ESP transform, ASA style.
    pub transform: String,
}

/// The text of `show crypto ikev2 sa [detail]`.
pub fn render(sas: &[IkeSaSnap], detail: bool) -> String {
    if sas.is_empty() {
        return "There are no IKEv2 SAs\n".to_string();
    }
    let mut out = String::from("IKEv2 SAs:\n\n");
    let up = sas.iter().filter(|s| s.status == "READY").count();
    let children: usize = sas.iter().map(|s| s.children.len()).sum();
    let _ = writeln!(out, "IKE count:{}, READY:{up}, CHILD count:{children}\n", sas.len());
    let _ = writeln!(out, "{:<10}{:<28}{:<28}{:<13}Role", "Tunnel-id", "Local", "Remote", "Status");
    for s in sas {
        let _ =
            writeln!(out, "{:<10}{:<28}{:<28}{:<13}{}", s.id, s.local, s.remote, s.status, s.role);
        if let Some(t) = &s.tunnel {
            let _ = writeln!(out, "      Crypto map: {t}");
        }
        if let Some(e) = &s.encryption {
            let _ = writeln!(
                out,
                "      Encr: {e}, PRF: {}, Hash: {}, DH Grp:{}, Auth sign: PSK, Auth verify: PSK",
                s.prf.as_deref().unwrap_or("?"),
                s.integrity.as_deref().unwrap_or("N/A"),
                s.dh_group.map_or_else(|| "?".into(), |g| g.to_string()),
            );
        }
        if let Some(a) = s.active_s {
            let _ = writeln!(out, "      Active time: {a} sec");
        }
        if !s.assigned.is_empty() {
            let _ = writeln!(out, "      Assigned address: {}", s.assigned.join(", "));
        }
        if detail {
            let _ = writeln!(out, "      SPI (I): 0x{}  SPI (R): 0x{}", s.spi_i, s.spi_r);
            if let Some(id) = &s.peer_id {
                let _ = writeln!(out, "      Remote identity: {id}");
            }
            let _ =
                writeln!(out, "      NAT-T: {}", if s.nat_detected { "detected" } else { "no" });
        }
        for c in &s.children {
            let _ = writeln!(out, "Child sa: local selector  {}", c.local_selector);
            let _ = writeln!(out, "          remote selector {}", c.remote_selector);
            let _ = writeln!(
                out,
                "          ESP spi in/out: 0x{:08x}/0x{:08x}",
                c.inbound_spi, c.outbound_spi
            );
            if detail {
                let _ = writeln!(out, "          Transform: {}", c.transform);
            }
        }
        out.push('\n');
    }
    out
}

/// One IKEv1 (ISAKMP) SA, for `show crypto ikev1 sa`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ikev1SaSnap {
    /// The appliance's id of the SA (stable while it lives).
    pub id: u64,
    /// The crypto map entry (`NAME SEQ`), when known.
    pub tunnel: Option<String>,
    /// The peer's address and port.
    pub remote: String,
    /// `initiator` or `responder`.
    pub role: String,
    /// `MM_ACTIVE` / `AM_ACTIVE` once phase 1 is done, else `MM_NEGOTIATING` /
    /// `AM_NEGOTIATING`.
    pub state: String,
    /// Initiator's and responder's cookie, 16 hex digits each.
    pub cookie_i: String,
    pub cookie_r: String,
    /// A NAT between the peers (ESP in UDP).
    pub nat_detected: bool,
    /// Remote access: the user XAUTH authenticated.
    #[serde(default)]
    pub user: Option<String>,
    /// Remote access: the address Mode Config gave the client from our pools.
    #[serde(default)]
    pub assigned: Option<String>,
    /// Its Quick Mode SA pairs in the dataplane.
    pub children: Vec<ChildSaSnap>,
}

/// The text of `show crypto ikev1 sa`, in the layout of the ASA's `show crypto isakmp sa`.
pub fn render_ikev1(sas: &[Ikev1SaSnap]) -> String {
    if sas.is_empty() {
        return "There are no IKEv1 SAs\n".to_string();
    }
    let active = sas.iter().filter(|s| s.state.ends_with("_ACTIVE")).count();
    let mut out = String::from("IKEv1 SAs:\n\n");
    let _ = writeln!(out, "   Active SA: {active}");
    let _ = writeln!(out, "Total IKE SA: {}\n", sas.len());
    for (n, s) in sas.iter().enumerate() {
        let _ = writeln!(out, "{:<4}IKE Peer: {}", n + 1, s.remote);
        // The ASA's types: a remote-access client is a "user".
        let kind = if s.user.is_some() { "user" } else { "L2L" };
        let _ = writeln!(out, "    Type    : {kind:<16}Role    : {}", s.role);
        let _ = writeln!(out, "    Rekey   : {:<16}State   : {}", "no", s.state);
        let _ = writeln!(out, "    Cookies : {}/{}", s.cookie_i, s.cookie_r);
        if let Some(t) = &s.tunnel {
            let _ = writeln!(out, "    Crypto map: {t}");
        }
        if s.nat_detected {
            let _ = writeln!(out, "    NAT-T   : detected");
        }
        if let Some(u) = &s.user {
            let _ = writeln!(out, "    Username: {u}");
        }
        if let Some(a) = &s.assigned {
            let _ = writeln!(out, "    Assigned address: {a}");
        }
        for c in &s.children {
            let _ = writeln!(
                out,
                "    IPsec SA: {} <-> {}, ESP spi in/out: 0x{:08x}/0x{:08x}, {}",
                c.local_selector, c.remote_selector, c.inbound_spi, c.outbound_spi, c.transform
            );
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> IkeSaSnap {
        IkeSaSnap {
            id: 3,
            tunnel: Some("outside_map 10".into()),
            local: "192.0.2.1/4500".into(),
            remote: "192.0.2.2/4500".into(),
            status: "READY".into(),
            role: "INITIATOR".into(),
            spi_i: "0011223344556677".into(),
            spi_r: "8899aabbccddeeff".into(),
            encryption: Some("ENCR_AES_GCM_16 256".into()),
            prf: Some("PRF_HMAC_SHA2_384".into()),
            integrity: None,
            dh_group: Some(31),
            peer_id: Some("ID_IPV4_ADDR 192.0.2.2".into()),
            assigned: vec!["10.77.0.10".into()],
            nat_detected: true,
            active_s: Some(12),
            children: vec![ChildSaSnap {
                inbound_spi: 0xc0ffee01,
                outbound_spi: 0x0badf00d,
                local_selector: "10.1.0.0/24".into(),
                remote_selector: "10.2.0.0/16".into(),
                transform: "esp-aes-gcm-256".into(),
            }],
        }
    }

    #[test]
    fn lists_sas_with_children_and_detail() {
        let t = render(&[sample()], false);
        assert!(t.contains("IKE count:1, READY:1, CHILD count:1"), "{t}");
        assert!(t.lines().any(|l| l.starts_with("3 ") && l.ends_with("INITIATOR")), "{t}");
        assert!(t.contains("Crypto map: outside_map 10"), "{t}");
        assert!(t.contains("DH Grp:31"), "{t}");
        assert!(t.contains("Assigned address: 10.77.0.10"), "{t}");
        assert!(t.contains("ESP spi in/out: 0xc0ffee01/0x0badf00d"), "{t}");
        assert!(!t.contains("SPI (I)"), "the SPIs are detail: {t}");
        let d = render(&[sample()], true);
        assert!(d.contains("SPI (I): 0x0011223344556677  SPI (R): 0x8899aabbccddeeff"), "{d}");
        assert!(d.contains("NAT-T: detected") && d.contains("Transform: esp-aes-gcm-256"), "{d}");
        assert_eq!(render(&[], true), "There are no IKEv2 SAs\n");
    }

    #[test]
    fn json_round_trips() {
        let json = serde_json::to_string(&[sample()]).unwrap();
        assert_eq!(serde_json::from_str::<Vec<IkeSaSnap>>(&json).unwrap(), vec![sample()]);
    }

    #[test]
    fn ikev1_sas_in_isakmp_layout() {
        assert_eq!(render_ikev1(&[]), "There are no IKEv1 SAs\n");
        let child = sample().children;
        let sa = Ikev1SaSnap {
            id: 1 << 63 | 1,
            tunnel: Some("outside_map 10".into()),
            remote: "192.0.2.2/500".into(),
            role: "initiator".into(),
            state: "MM_ACTIVE".into(),
            cookie_i: "0011223344556677".into(),
            cookie_r: "8899aabbccddeeff".into(),
            nat_detected: false,
            user: None,
            assigned: None,
            children: child,
        };
        let text = render_ikev1(std::slice::from_ref(&sa));
        assert_eq!(
            text,
            "IKEv1 SAs:\n\n   Active SA: 1\nTotal IKE SA: 1\n\n\
             1   IKE Peer: 192.0.2.2/500\n\
             \x20   Type    : L2L             Role    : initiator\n\
             \x20   Rekey   : no              State   : MM_ACTIVE\n\
             \x20   Cookies : 0011223344556677/8899aabbccddeeff\n\
             \x20   Crypto map: outside_map 10\n\
             \x20   IPsec SA: 10.1.0.0/24 <-> 10.2.0.0/16, ESP spi in/out: \
             0xc0ffee01/0x0badf00d, esp-aes-gcm-256\n\n"
        );
        // A remote-access client: its user and address.
        let ra = Ikev1SaSnap {
            role: "responder".into(),
            user: Some("alice".into()),
            assigned: Some("10.77.0.10".into()),
            ..sa
        };
        let text = render_ikev1(std::slice::from_ref(&ra));
        assert!(text.contains("    Type    : user            Role    : responder\n"), "{text}");
        assert!(text.contains("    Username: alice\n    Assigned address: 10.77.0.10\n"), "{text}");
        let json = serde_json::to_string(std::slice::from_ref(&ra)).unwrap();
        assert_eq!(serde_json::from_str::<Vec<Ikev1SaSnap>>(&json).unwrap(), vec![ra]);
    }
}
