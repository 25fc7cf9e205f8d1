// The suite of the tests that are about something other than algorithms: AES-128-GCM with
// PRF HMAC-SHA-256 and ECP-256 for the IKE SA, AES-128-GCM for ESP. Included (like pair.rs)
// by tests that import `Encr`, `LocalProposal`, `EncrId`, `PrfId`, `DhGroup`, `ProtocolId`.

const GCM128: Encr = (EncrId::AesGcm16, Some(128));

fn ike() -> LocalProposal {
    LocalProposal {
        protocol: ProtocolId::Ike,
        encr: vec![GCM128],
        prf: vec![PrfId::HmacSha2_256],
        integ: vec![],
        dh: vec![DhGroup::Ecp256],
        esn: vec![],
    }
}

fn esp() -> LocalProposal {
    LocalProposal {
        protocol: ProtocolId::Esp,
        encr: vec![GCM128],
        prf: vec![],
        integ: vec![],
        dh: vec![],
        esn: vec![],
    }
}
