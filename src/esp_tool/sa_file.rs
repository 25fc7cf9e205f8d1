//! The SA file of `ferrogate esp`: one `[[sa]]` table per security association.
//!
//! ```toml
//! [[sa]]
//! spi = 0x0000_1001
//! transform = "aes128gcm16"          # strongSwan ESP proposal keywords
//! enc_key = "0x4c80cdefbb5d10da906ac73c3613a634 2e443b68"   # key || salt, hex
//! mode = "tunnel"                     # or "transport"
//! local = "192.0.2.1"                 # our tunnel endpoint
//! remote = "192.0.2.2"                # the peer's
//! encap = "udp"                       # "esp" (IP protocol 50, default) or "udp" (RFC 3948)
//! esn = false
//! replay_window = 64
//! match_src = "10.0.0.0/24"           # encap: which plaintext packets this SA takes
//! match_dst = "10.1.0.0/24"
//! mtu = 1500                          # outer packets larger than this are fragmented or refused
//! df_bit = "copy"                     # outer DF: copy | set | clear
//! fragmentation = "before-encryption" # or "after-encryption"
//! lifetime_seconds = 3600             # hard lifetimes (soft, for rekey, at 90 %); default none
//! lifetime_kilobytes = 4608000
//! ```
//!
//! Every error names the file, the line and the field.

use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use dataplane::crypto::{AesKeyLen, Cipher, EngineKind, Integ, SaKeys, Transform};
use dataplane::sa::{DfPolicy, Direction, Encap, FragPolicy, Lifetimes, Limits, Mode, SaConfig};
use serde::Deserialize;
use toml::Spanned;

/// A configuration error with its place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaFileError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The field the error is about (`sa[2].enc_key`), empty for syntax errors.
    pub field: String,
    pub message: String,
}

impl fmt::Display for SaFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.path.display(), self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for SaFileError {}

/// An IP prefix (`10.0.0.0/8`, `2001:db8::/32`, or a bare address = host prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(p), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(p) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(p), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.len)).unwrap_or(0);
                u128::from(p) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Prefix, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| format!("'{s}' is not an IP prefix"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => match l.trim().parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("prefix length in '{s}' must be 0..={max}")),
            },
        };
        Ok(Prefix { addr, len })
    }
}

/// One SA of the file, ready to be built for either direction.
#[derive(Debug, Clone)]
pub struct SaSpec {
    pub spi: u32,
    pub transform: Transform,
    enc_key: SaKeys,
    pub mode: Mode,
    pub local: IpAddr,
    pub remote: IpAddr,
    pub encap: Encap,
    pub esn: bool,
    pub replay_window: u32,
    pub engine: EngineKind,
    /// Outbound: the last sequence number already used (the first packet gets the next).
    pub initial_seq: u64,
    pub match_src: Option<Prefix>,
    pub match_dst: Option<Prefix>,
    pub mtu: u16,
    pub df: DfPolicy,
    pub frag: FragPolicy,
    /// Appliance config only: the tunnel the SA belongs to (groups SAs for the operator).
    pub tunnel: Option<String>,
    /// Appliance config only: which way the SA carries traffic.
    pub direction: Option<Direction>,
    /// Inbound, labs only: accept a sender that restarted its sequence numbers (replayed
    /// captures); see `SaConfig::lab_sequence_restart`.
    pub lab_sequence_restart: bool,
    /// Soft and hard lifetimes (none by default: a static SA lives until it is removed).
    pub lifetimes: Lifetimes,
}

impl SaSpec {
    /// An SA with the defaults of the file format (tunnel mode, raw ESP, no ESN, window 64,
    /// the best engine for the transform, MTU 1500, DF copied, fragmentation before
    /// encryption), for programs that build SAs without a file.
    pub fn new(
        spi: u32,
        transform: Transform,
        enc_key: &[u8],
        auth_key: &[u8],
        local: IpAddr,
        remote: IpAddr,
    ) -> SaSpec {
        SaSpec {
            spi,
            transform,
            enc_key: SaKeys::new(enc_key, auth_key),
            mode: Mode::Tunnel,
            local,
            remote,
            encap: Encap::Raw,
            esn: false,
            replay_window: dataplane::sa::replay::DEFAULT_WINDOW,
            engine: EngineKind::best_for(transform),
            initial_seq: 0,
            match_src: None,
            match_dst: None,
            mtu: dataplane::sa::DEFAULT_MTU,
            df: DfPolicy::Copy,
            frag: FragPolicy::BeforeEncryption,
            tunnel: None,
            direction: None,
            lab_sequence_restart: false,
            lifetimes: Lifetimes::default(),
        }
    }

    /// The dataplane configuration of this SA for one direction.
    pub fn config(&self, direction: Direction) -> SaConfig {
        let mut cfg = SaConfig::new(
            self.spi,
            direction,
            self.transform,
            self.enc_key.clone(),
            self.local,
            self.remote,
        );
        cfg.mode = self.mode;
        cfg.encap = self.encap;
        cfg.esn = self.esn;
        cfg.replay_window = self.replay_window;
        cfg.engine = self.engine;
        cfg.initial_seq = self.initial_seq;
        cfg.mtu = self.mtu;
        cfg.df = self.df;
        cfg.frag = self.frag;
        cfg.lab_sequence_restart = self.lab_sequence_restart && direction == Direction::Inbound;
        cfg.lifetimes = self.lifetimes;
        cfg
    }

    /// Whether an outbound plaintext packet with these addresses belongs to this SA.
    pub fn matches(&self, src: IpAddr, dst: IpAddr) -> bool {
        self.match_src.is_none_or(|p| p.contains(src))
            && self.match_dst.is_none_or(|p| p.contains(dst))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    sa: Vec<Spanned<RawSa>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSa {
    tunnel: Option<Spanned<String>>,
    direction: Option<Spanned<String>>,
    lab_sequence_restart: Option<bool>,
    lifetime_seconds: Option<Spanned<i64>>,
    lifetime_kilobytes: Option<Spanned<i64>>,
    spi: Spanned<i64>,
    transform: Spanned<String>,
    enc_key: Option<Spanned<String>>,
    auth_key: Option<Spanned<String>>,
    mode: Option<Spanned<String>>,
    local: Spanned<String>,
    remote: Spanned<String>,
    encap: Option<Spanned<String>>,
    udp_src_port: Option<Spanned<i64>>,
    udp_dst_port: Option<Spanned<i64>>,
    esn: Option<bool>,
    replay_window: Option<Spanned<i64>>,
    engine: Option<Spanned<String>>,
    seq: Option<Spanned<i64>>,
    match_src: Option<Spanned<String>>,
    match_dst: Option<Spanned<String>>,
    mtu: Option<Spanned<i64>>,
    df_bit: Option<Spanned<String>>,
    fragmentation: Option<Spanned<String>>,
}

/// Parses an ESP transform written as a strongSwan ESP proposal: `aes128gcm16`,
/// `aes256gcm12`, `aes128gmac`, `aes256-sha256`, `aes128ctr-sha1`, `chacha20poly1305`,
/// `null-sha512`. Integrity: `sha1` (HMAC-SHA1-96), `sha256`, `sha384`, `sha512`.
pub fn parse_transform(s: &str) -> Result<Transform, String> {
    let lower = s.trim().to_ascii_lowercase();
    let (enc, integ) = match lower.split_once('-') {
        Some((e, i)) => (e, Some(i)),
        None => (lower.as_str(), None),
    };
    let key = |bits: &str| match bits {
        "128" => Some(AesKeyLen::Aes128),
        "192" => Some(AesKeyLen::Aes192),
        "256" => Some(AesKeyLen::Aes256),
        _ => None,
    };
    let unknown = || format!("unknown ESP transform '{s}'");
    let cipher = if enc == "null" {
        Cipher::Null
    } else if enc == "chacha20poly1305" {
        Cipher::ChaCha20Poly1305
    } else if let Some(rest) = enc.strip_prefix("aes") {
        let bits = rest.get(..3).ok_or_else(unknown)?;
        let k = key(bits).ok_or_else(unknown)?;
        match &rest[3..] {
            "" => Cipher::AesCbc(k),
            "ctr" => Cipher::AesCtr(k),
            "gmac" => Cipher::AesGmac(k),
            "gcm8" | "gcm64" => Cipher::AesGcm { key: k, icv_len: 8 },
            "gcm12" | "gcm96" => Cipher::AesGcm { key: k, icv_len: 12 },
            "gcm16" | "gcm128" | "gcm" => Cipher::AesGcm { key: k, icv_len: 16 },
            _ => return Err(unknown()),
        }
    } else {
        return Err(unknown());
    };
    let integ = match integ {
        None => Integ::None,
        Some("sha1") | Some("sha1_96") => Integ::HmacSha1_96,
        Some("sha256") | Some("sha2_256") => Integ::HmacSha256_128,
        Some("sha384") | Some("sha2_384") => Integ::HmacSha384_192,
        Some("sha512") | Some("sha2_512") => Integ::HmacSha512_256,
        Some(other) => return Err(format!("unknown integrity algorithm '{other}' in '{s}'")),
    };
    Transform::new(cipher, integ).map_err(|e| format!("'{s}': {e}"))
}

fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let cleaned: String = s
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| !matches!(c, ' ' | ':' | '_'))
        .collect();
    if !cleaned.len().is_multiple_of(2) {
        return Err("hex string has an odd number of digits".into());
    }
    (0..cleaned.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&cleaned[i..i + 2], 16)
                .map_err(|_| format!("'{}' is not hex", &cleaned[i..i + 2]))
        })
        .collect()
}

pub(crate) struct Ctx<'a> {
    pub(crate) path: &'a Path,
    pub(crate) text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, field: String, message: impl Into<String>) -> SaFileError {
        let (line, column) = crate::profile::line_col(self.text, span.start);
        SaFileError { path: self.path.to_owned(), line, column, field, message: message.into() }
    }
}

/// Reads and validates an SA file. All SPIs must be distinct.
pub fn load(path: &Path) -> Result<Vec<SaSpec>, SaFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| SaFileError {
        path: path.to_owned(),
        line: 0,
        column: 0,
        field: String::new(),
        message: format!("cannot read: {e}"),
    })?;
    parse(path, &text)
}

/// Parses SA-file text; `path` is used in error messages only.
pub fn parse(path: &Path, text: &str) -> Result<Vec<SaSpec>, SaFileError> {
    let ctx = Ctx { path, text };
    let raw: RawFile = toml::from_str(text)
        .map_err(|e| ctx.err(e.span().unwrap_or(0..0), String::new(), e.message().trim()))?;
    if raw.sa.is_empty() {
        return Err(ctx.err(0..0, "sa".into(), "no [[sa]] table: the file defines no SA"));
    }
    let mut out: Vec<SaSpec> = Vec::with_capacity(raw.sa.len());
    for (i, sa) in raw.sa.iter().enumerate() {
        let spec = parse_sa(&ctx, "sa", i, sa.get_ref())?;
        if out.iter().any(|o| o.spi == spec.spi) {
            let f = format!("sa[{i}].spi");
            return Err(ctx.err(
                sa.get_ref().spi.span(),
                f,
                format!("SPI {:#x} defined twice", spec.spi),
            ));
        }
        out.push(spec);
    }
    Ok(out)
}

/// One `[table]` entry number `i` (`table` names it in errors).
pub(crate) fn parse_sa(
    ctx: &Ctx<'_>,
    table: &str,
    i: usize,
    sa: &RawSa,
) -> Result<SaSpec, SaFileError> {
    let field = |name: &str| format!("{table}[{i}].{name}");
    let spi = u32::try_from(*sa.spi.get_ref()).ok().filter(|&s| s >= 256).ok_or_else(|| {
        ctx.err(
            sa.spi.span(),
            field("spi"),
            "must be 256..=0xffffffff (RFC 4303 2.1: 1-255 are reserved)",
        )
    })?;
    let transform = parse_transform(sa.transform.get_ref())
        .map_err(|m| ctx.err(sa.transform.span(), field("transform"), m))?;
    let hex = |v: &Option<Spanned<String>>, name: &str| -> Result<Vec<u8>, SaFileError> {
        match v {
            None => Ok(Vec::new()),
            Some(s) => parse_hex(s.get_ref()).map_err(|m| ctx.err(s.span(), field(name), m)),
        }
    };
    let enc = hex(&sa.enc_key, "enc_key")?;
    let auth = hex(&sa.auth_key, "auth_key")?;
    let key_span =
        |v: &Option<Spanned<String>>| v.as_ref().map_or(sa.transform.span(), |s| s.span());
    if enc.len() != transform.enc_key_len() {
        return Err(ctx.err(
            key_span(&sa.enc_key),
            field("enc_key"),
            format!(
                "{transform} needs {} bytes of encryption key{}, got {}",
                transform.enc_key_len(),
                if transform.is_combined() || matches!(transform.cipher(), Cipher::AesCtr(_)) {
                    " (key followed by a 4-byte salt)"
                } else {
                    ""
                },
                enc.len()
            ),
        ));
    }
    if auth.len() != transform.auth_key_len() {
        return Err(ctx.err(
            key_span(&sa.auth_key),
            field("auth_key"),
            format!(
                "{transform} needs {} bytes of integrity key, got {}",
                transform.auth_key_len(),
                auth.len()
            ),
        ));
    }
    let mode = match sa.mode.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
        None | Some(("tunnel", _)) => Mode::Tunnel,
        Some(("transport", _)) => Mode::Transport,
        Some((other, span)) => {
            return Err(ctx.err(
                span,
                field("mode"),
                format!("'{other}': expected tunnel or transport"),
            ));
        }
    };
    let addr = |s: &Spanned<String>, name: &str| -> Result<IpAddr, SaFileError> {
        s.get_ref().trim().parse().map_err(|_| {
            ctx.err(s.span(), field(name), format!("'{}' is not an IP address", s.get_ref()))
        })
    };
    let local = addr(&sa.local, "local")?;
    let remote = addr(&sa.remote, "remote")?;
    if local.is_ipv4() != remote.is_ipv4() {
        return Err(ctx.err(
            sa.remote.span(),
            field("remote"),
            "local and remote must be of the same IP version",
        ));
    }
    let port = |v: &Option<Spanned<i64>>, name: &str| -> Result<u16, SaFileError> {
        match v {
            None => Ok(4500),
            Some(p) => u16::try_from(*p.get_ref())
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| ctx.err(p.span(), field(name), "must be 1..=65535")),
        }
    };
    let encap = match sa.encap.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
        None | Some(("esp", _)) => {
            for (v, name) in
                [(&sa.udp_src_port, "udp_src_port"), (&sa.udp_dst_port, "udp_dst_port")]
            {
                if let Some(p) = v {
                    return Err(ctx.err(
                        p.span(),
                        field(name),
                        "only meaningful with encap = \"udp\"",
                    ));
                }
            }
            Encap::Raw
        }
        Some(("udp", _)) => Encap::Udp {
            src_port: port(&sa.udp_src_port, "udp_src_port")?,
            dst_port: port(&sa.udp_dst_port, "udp_dst_port")?,
        },
        Some((other, span)) => {
            return Err(ctx.err(span, field("encap"), format!("'{other}': expected esp or udp")));
        }
    };
    let replay_window = match &sa.replay_window {
        None => dataplane::sa::replay::DEFAULT_WINDOW,
        Some(w) => u32::try_from(*w.get_ref())
            .ok()
            .filter(|&w| w <= dataplane::sa::replay::MAX_WINDOW)
            .ok_or_else(|| {
                ctx.err(
                    w.span(),
                    field("replay_window"),
                    format!("must be 0 (off) ..= {}", dataplane::sa::replay::MAX_WINDOW),
                )
            })?,
    };
    let engine = match sa.engine.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
        None | Some(("auto", _)) => EngineKind::best_for(transform),
        Some((name, span)) => {
            let kind = match name {
                "rustcrypto" => EngineKind::RustCrypto,
                "ipsec-mb" => EngineKind::IpsecMb,
                other => {
                    return Err(ctx.err(
                        span,
                        field("engine"),
                        format!("'{other}': expected auto, rustcrypto or ipsec-mb"),
                    ));
                }
            };
            if !kind.available() {
                return Err(ctx.err(
                    span,
                    field("engine"),
                    format!("engine {name} is not built into this binary"),
                ));
            }
            kind
        }
    };
    let esn = sa.esn.unwrap_or(false);
    let initial_seq = match &sa.seq {
        None => 0,
        Some(s) => {
            let max = if esn { i64::MAX } else { i64::from(u32::MAX) };
            if !(0..=max).contains(s.get_ref()) {
                return Err(ctx.err(s.span(), field("seq"), format!("must be 0..={max}")));
            }
            *s.get_ref() as u64
        }
    };
    let prefix = |v: &Option<Spanned<String>>, name: &str| -> Result<Option<Prefix>, SaFileError> {
        v.as_ref()
            .map(|p| Prefix::parse(p.get_ref()).map_err(|m| ctx.err(p.span(), field(name), m)))
            .transpose()
    };
    let mtu = match &sa.mtu {
        None => dataplane::sa::DEFAULT_MTU,
        Some(m) => u16::try_from(*m.get_ref())
            .ok()
            .filter(|&m| m >= dataplane::sa::MIN_MTU)
            .ok_or_else(|| {
                ctx.err(
                    m.span(),
                    field("mtu"),
                    format!("must be {}..=65535", dataplane::sa::MIN_MTU),
                )
            })?,
    };
    let df = match sa.df_bit.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
        None | Some(("copy", _)) => DfPolicy::Copy,
        Some(("set", _)) => DfPolicy::Set,
        Some(("clear", _)) => DfPolicy::Clear,
        Some((other, span)) => {
            return Err(ctx.err(
                span,
                field("df_bit"),
                format!("'{other}': expected copy, set or clear"),
            ));
        }
    };
    let direction = match sa.direction.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
        None => None,
        Some(("outbound" | "out", _)) => Some(Direction::Outbound),
        Some(("inbound" | "in", _)) => Some(Direction::Inbound),
        Some((other, span)) => {
            return Err(ctx.err(
                span,
                field("direction"),
                format!("'{other}': expected inbound or outbound"),
            ));
        }
    };
    // Hard limits as given; the soft limits (rekey) at 90 %, where the ASA starts its rekey.
    let positive =
        |v: &Option<Spanned<i64>>, name: &str, max: i64| -> Result<Option<u64>, SaFileError> {
            match v {
                None => Ok(None),
                Some(n) if (1..=max).contains(n.get_ref()) => Ok(Some(*n.get_ref() as u64)),
                Some(n) => Err(ctx.err(n.span(), field(name), format!("must be 1..={max}"))),
            }
        };
    let secs = positive(&sa.lifetime_seconds, "lifetime_seconds", 1 << 31)?;
    let kb = positive(&sa.lifetime_kilobytes, "lifetime_kilobytes", 1 << 40)?;
    let lifetimes = Lifetimes {
        soft: Limits {
            bytes: kb.map(|k| k * 1024 / 10 * 9),
            packets: None,
            time_ns: secs.map(|s| s * 1_000_000_000 / 10 * 9),
        },
        hard: Limits {
            bytes: kb.map(|k| k * 1024),
            packets: None,
            time_ns: secs.map(|s| s * 1_000_000_000),
        },
    };
    let frag = match sa.fragmentation.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
        None | Some(("before-encryption", _)) => FragPolicy::BeforeEncryption,
        Some(("after-encryption", _)) => FragPolicy::AfterEncryption,
        Some((other, span)) => {
            return Err(ctx.err(
                span,
                field("fragmentation"),
                format!("'{other}': expected before-encryption or after-encryption"),
            ));
        }
    };
    Ok(SaSpec {
        mtu,
        df,
        frag,
        spi,
        transform,
        enc_key: SaKeys::new(&enc, &auth),
        mode,
        local,
        remote,
        encap,
        esn,
        replay_window,
        engine,
        initial_seq,
        match_src: prefix(&sa.match_src, "match_src")?,
        match_dst: prefix(&sa.match_dst, "match_dst")?,
        tunnel: sa.tunnel.as_ref().map(|t| t.get_ref().clone()),
        direction,
        lab_sequence_restart: sa.lab_sequence_restart.unwrap_or(false),
        lifetimes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse(Path::new("sa.toml"), text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    const GOOD: &str = r#"
[[sa]]
spi = 0x1001
transform = "aes128gcm16"
enc_key = "0x000102030405060708090a0b0c0d0e0f 10111213"
local = "192.0.2.1"
remote = "192.0.2.2"
encap = "udp"
match_dst = "10.1.0.0/16"

[[sa]]
spi = 4098
transform = "aes256-sha256"
enc_key = "00000000000000000000000000000000 00000000000000000000000000000000"
auth_key = "11111111111111111111111111111111 11111111111111111111111111111111"
mode = "transport"
local = "2001:db8::1"
remote = "2001:db8::2"
esn = true
replay_window = 4096
"#;

    #[test]
    fn parses_a_complete_file() {
        let sas = parse(Path::new("sa.toml"), GOOD).unwrap();
        assert_eq!(sas.len(), 2);
        assert_eq!(sas[0].spi, 0x1001);
        assert_eq!(sas[0].encap, Encap::Udp { src_port: 4500, dst_port: 4500 });
        assert!(sas[0].matches("10.0.0.1".parse().unwrap(), "10.1.2.3".parse().unwrap()));
        assert!(!sas[0].matches("10.0.0.1".parse().unwrap(), "10.2.2.3".parse().unwrap()));
        assert_eq!(sas[1].mode, Mode::Transport);
        assert_eq!(sas[1].replay_window, 4096);
        assert!(sas[1].esn);
        let cfg = sas[1].config(Direction::Inbound);
        assert_eq!((cfg.spi, cfg.replay_window, cfg.esn), (4098, 4096, true));
    }

    #[test]
    fn transform_names() {
        let t = |s: &str| parse_transform(s).unwrap();
        assert_eq!(
            t("aes256gcm12").cipher(),
            Cipher::AesGcm { key: AesKeyLen::Aes256, icv_len: 12 }
        );
        assert_eq!(t("aes192gmac").cipher(), Cipher::AesGmac(AesKeyLen::Aes192));
        assert_eq!(t("AES128-SHA1").integ(), Integ::HmacSha1_96);
        assert_eq!(t("aes128ctr-sha384").cipher(), Cipher::AesCtr(AesKeyLen::Aes128));
        assert_eq!(t("null-sha512").integ(), Integ::HmacSha512_256);
        assert_eq!(t("chacha20poly1305").icv_len(), 16);
        assert_eq!(
            parse_transform("aes128").unwrap_err(),
            "'aes128': cipher without integrity protection needs an integrity algorithm"
        );
        assert_eq!(
            parse_transform("aes128gcm16-sha256").unwrap_err(),
            "'aes128gcm16-sha256': combined-mode cipher must not have an integrity algorithm"
        );
        assert_eq!(parse_transform("3des-md5").unwrap_err(), "unknown ESP transform '3des-md5'");
        assert_eq!(
            parse_transform("aes128-md5").unwrap_err(),
            "unknown integrity algorithm 'md5' in 'aes128-md5'"
        );
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let base = "[[sa]]\nspi = 0x1001\ntransform = \"aes128gcm16\"\nenc_key = \"00112233445566778899aabbccddeeff00112233\"\nlocal = \"192.0.2.1\"\nremote = \"192.0.2.2\"\n";
        assert_eq!(
            err(&base.replace("aes128gcm16", "aes999")),
            "sa.toml:3:13: sa[0].transform: unknown ESP transform 'aes999'"
        );
        assert_eq!(
            err(&base.replace("00112233445566778899aabbccddeeff00112233", "0011")),
            "sa.toml:4:11: sa[0].enc_key: esp-aes-gcm-128-16 needs 20 bytes of encryption key (key followed by a 4-byte salt), got 2"
        );
        assert_eq!(
            err(&base.replace("0x1001", "7")),
            "sa.toml:2:7: sa[0].spi: must be 256..=0xffffffff (RFC 4303 2.1: 1-255 are reserved)"
        );
        assert_eq!(
            err(&base.replace("\"192.0.2.2\"", "\"2001:db8::2\"")),
            "sa.toml:6:10: sa[0].remote: local and remote must be of the same IP version"
        );
        assert_eq!(
            err(&base.replace("\"192.0.2.1\"", "\"host.example\"")),
            "sa.toml:5:9: sa[0].local: 'host.example' is not an IP address"
        );
        assert_eq!(
            err(&format!("{base}mode = \"bent\"\n")),
            "sa.toml:7:8: sa[0].mode: 'bent': expected tunnel or transport"
        );
        assert_eq!(
            err(&format!("{base}replay_window = 100000\n")),
            "sa.toml:7:17: sa[0].replay_window: must be 0 (off) ..= 65536"
        );
        assert_eq!(
            err(&format!("{base}udp_src_port = 4500\n")),
            "sa.toml:7:16: sa[0].udp_src_port: only meaningful with encap = \"udp\""
        );
        assert_eq!(
            err(&format!("{base}match_src = \"10.0.0.0/33\"\n")),
            "sa.toml:7:13: sa[0].match_src: prefix length in '10.0.0.0/33' must be 0..=32"
        );
        assert_eq!(
            err(&format!("{base}{base}")),
            "sa.toml:8:7: sa[1].spi: SPI 0x1001 defined twice"
        );
        assert!(
            err(&format!("{base}colour = 1\n")).starts_with("sa.toml:7:1: unknown field `colour`")
        );
        assert_eq!(err(""), "sa.toml:1:1: sa: no [[sa]] table: the file defines no SA");
        assert_eq!(
            err(&format!("{base}df_bit = \"maybe\"\n")),
            "sa.toml:7:10: sa[0].df_bit: 'maybe': expected copy, set or clear"
        );
        assert_eq!(
            err(&format!("{base}mtu = 100\n")),
            "sa.toml:7:7: sa[0].mtu: must be 576..=65535"
        );
    }
}
