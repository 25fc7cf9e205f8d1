//! The opt-in key log for debugging: IKE SA and ESP SA keys as lines of Wireshark's
//! `ikev2_decryption_table` and `esp_sa` user tables (UATs), so that tshark / Wireshark can
//! decrypt a capture (`-o uat:ikev2_decryption_table:...`, `-o uat:esp_sa:...`, or the files
//! of those names in the Wireshark profile).
//!
//! This module only formats; the appliance writes a file, and only when the operator turns
//! the key log on. Keys leave the process through [`KeyLog`] and nowhere else: the entry
//! types print `<redacted>` in Debug.
//!
//! Formats, from Wireshark's `packet-isakmp.c` and `packet-esp.c` UAT definitions (the same
//! lines strongSwan's `save-keys` plugin writes):
//!
//! - `ikev2_decryption_table`: `SPIi,SPIr,SK_ei,SK_er,"Encryption",SK_ai,SK_ar,"Integrity"`.
//!   SPIs and keys are byte fields, bare hex; the two algorithm fields are quoted names from
//!   Wireshark's lists. The AEAD suites take the salt at the end of SK_e, leave SK_a empty
//!   and use the integrity name `NONE [RFC4306]`.
//! - `esp_sa`: `"IPv4","Src IP","Dest IP","0xSPI","Encryption","0xKEY","Authentication","0xKEY"`,
//!   every field a quoted string. AES-GCM names its ICV length and takes key plus salt, with
//!   authentication `NULL` and an empty key. Wireshark 4.2 and later add two optional
//!   fields (sequence number length, ESN high bits) with defaults; lines without them load
//!   in old and new versions alike.
//!
//! Not expressible: Wireshark's IKEv2 table has no ChaCha20-Poly1305 entry, so an IKE SA
//! with that cipher gives [`KeyLogError::Unsupported`].

use core::fmt::{self, Write as _};
use core::net::IpAddr;

use zeroize::Zeroizing;

use crate::crypto::{AesKeySize, DirectionKeys, EncrAlg, GcmIcv, IkeSaKeys, IntegAlg};

/// The Wireshark UAT a line belongs to (its file name in a Wireshark profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyLogTable {
    /// `ikev2_decryption_table`.
    Ikev2DecryptionTable,
    /// `esp_sa`.
    EspSa,
}

impl KeyLogTable {
    /// The UAT's name, which is also its file name.
    pub const fn file_name(self) -> &'static str {
        match self {
            KeyLogTable::Ikev2DecryptionTable => "ikev2_decryption_table",
            KeyLogTable::EspSa => "esp_sa",
        }
    }
}

/// Why keys could not be written as a Wireshark line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyLogError {
    /// Wireshark's table has no entry for this algorithm.
    #[error("{0} cannot be expressed in Wireshark's table")]
    Unsupported(&'static str),
    /// AES-CBC without an integrity algorithm, or an AEAD suite with one.
    #[error("integrity algorithm does not fit the encryption algorithm")]
    IntegMismatch,
    /// Source and destination of an ESP SA are of different address families.
    #[error("ESP SA addresses of different families")]
    MixedFamilies,
}

/// The keys of one IKE SA (RFC 7296 section 2.14), as derived.
pub struct IkeSaEntry<'a> {
    /// Initiator's SPI.
    pub spi_i: u64,
    /// Responder's SPI.
    pub spi_r: u64,
    /// Encryption algorithm.
    pub encr: EncrAlg,
    /// Integrity algorithm; `None` for the AEAD suites.
    pub integ: Option<IntegAlg>,
    /// SK_ei (with the salt at the end for AEAD).
    pub sk_ei: &'a [u8],
    /// SK_er.
    pub sk_er: &'a [u8],
    /// SK_ai (empty for AEAD).
    pub sk_ai: &'a [u8],
    /// SK_ar (empty for AEAD).
    pub sk_ar: &'a [u8],
}

impl<'a> IkeSaEntry<'a> {
    /// The entry for an IKE SA's derived keys.
    pub fn new(
        spi_i: u64,
        spi_r: u64,
        encr: EncrAlg,
        integ: Option<IntegAlg>,
        keys: &'a IkeSaKeys,
    ) -> IkeSaEntry<'a> {
        IkeSaEntry {
            spi_i,
            spi_r,
            encr,
            integ,
            sk_ei: keys.sk_ei.as_bytes(),
            sk_er: keys.sk_er.as_bytes(),
            sk_ai: keys.sk_ai.as_bytes(),
            sk_ar: keys.sk_ar.as_bytes(),
        }
    }
}

impl fmt::Debug for IkeSaEntry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IkeSaEntry")
            .field("spi_i", &format_args!("{:016x}", self.spi_i))
            .field("spi_r", &format_args!("{:016x}", self.spi_r))
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .field("keys", &"<redacted>")
            .finish()
    }
}

/// The keys of one ESP SA, one direction (inbound or outbound SPI).
pub struct EspSaEntry<'a> {
    /// Outer source address of the packets this SA protects.
    pub src: IpAddr,
    /// Outer destination address.
    pub dst: IpAddr,
    /// The SPI (the receiver's choice).
    pub spi: u32,
    /// Encryption algorithm.
    pub encr: EncrAlg,
    /// Integrity algorithm; `None` for the AEAD suites.
    pub integ: Option<IntegAlg>,
    /// Encryption key from KEYMAT (with the salt at the end for AEAD).
    pub encr_key: &'a [u8],
    /// Integrity key from KEYMAT (empty for AEAD).
    pub integ_key: &'a [u8],
}

impl<'a> EspSaEntry<'a> {
    /// The entry for one direction of a Child SA: `keys` protect packets from `src` to
    /// `dst` under `spi`.
    pub fn new(
        src: IpAddr,
        dst: IpAddr,
        spi: u32,
        encr: EncrAlg,
        integ: Option<IntegAlg>,
        keys: &'a DirectionKeys,
    ) -> EspSaEntry<'a> {
        EspSaEntry {
            src,
            dst,
            spi,
            encr,
            integ,
            encr_key: keys.encr.as_bytes(),
            integ_key: keys.integ.as_bytes(),
        }
    }
}

impl fmt::Debug for EspSaEntry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EspSaEntry")
            .field("src", &self.src)
            .field("dst", &self.dst)
            .field("spi", &format_args!("0x{:08x}", self.spi))
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .field("keys", &"<redacted>")
            .finish()
    }
}

/// Wireshark's name for an IKEv2 encryption algorithm (`vs_ikev2_encr_algs`).
fn ikev2_encr_name(encr: EncrAlg) -> Result<&'static str, KeyLogError> {
    use AesKeySize::*;
    use GcmIcv::*;
    Ok(match encr {
        EncrAlg::AesCbc(Aes128) => "AES-CBC-128 [RFC3602]",
        EncrAlg::AesCbc(Aes192) => "AES-CBC-192 [RFC3602]",
        EncrAlg::AesCbc(Aes256) => "AES-CBC-256 [RFC3602]",
        EncrAlg::AesGcm(Aes128, Icv8) => "AES-GCM-128 with 8 octet ICV [RFC5282]",
        EncrAlg::AesGcm(Aes192, Icv8) => "AES-GCM-192 with 8 octet ICV [RFC5282]",
        EncrAlg::AesGcm(Aes256, Icv8) => "AES-GCM-256 with 8 octet ICV [RFC5282]",
        EncrAlg::AesGcm(Aes128, Icv12) => "AES-GCM-128 with 12 octet ICV [RFC5282]",
        EncrAlg::AesGcm(Aes192, Icv12) => "AES-GCM-192 with 12 octet ICV [RFC5282]",
        EncrAlg::AesGcm(Aes256, Icv12) => "AES-GCM-256 with 12 octet ICV [RFC5282]",
        EncrAlg::AesGcm(Aes128, Icv16) => "AES-GCM-128 with 16 octet ICV [RFC5282]",
        EncrAlg::AesGcm(Aes192, Icv16) => "AES-GCM-192 with 16 octet ICV [RFC5282]",
        EncrAlg::AesGcm(Aes256, Icv16) => "AES-GCM-256 with 16 octet ICV [RFC5282]",
        EncrAlg::ChaCha20Poly1305 => {
            return Err(KeyLogError::Unsupported("IKEv2 ENCR_CHACHA20_POLY1305"));
        }
    })
}

/// Wireshark's name for an IKEv2 integrity algorithm (`vs_ikev2_auth_algs`); `None` is the
/// AEAD suites' entry.
fn ikev2_integ_name(integ: Option<IntegAlg>) -> &'static str {
    match integ {
        None => "NONE [RFC4306]",
        Some(IntegAlg::HmacMd5_96) => "HMAC_MD5_96 [RFC2403]",
        Some(IntegAlg::HmacSha1_96) => "HMAC_SHA1_96 [RFC2404]",
        Some(IntegAlg::HmacSha256_128) => "HMAC_SHA2_256_128 [RFC4868]",
        Some(IntegAlg::HmacSha384_192) => "HMAC_SHA2_384_192 [RFC4868]",
        Some(IntegAlg::HmacSha512_256) => "HMAC_SHA2_512_256 [RFC4868]",
    }
}

/// Wireshark's name for an ESP encryption algorithm (`esp_encryption_type_vals`). AES-CBC's
/// key size comes from the key length.
fn esp_encr_name(encr: EncrAlg) -> &'static str {
    match encr {
        EncrAlg::AesCbc(_) => "AES-CBC [RFC3602]",
        EncrAlg::AesGcm(_, GcmIcv::Icv8) => "AES-GCM with 8 octet ICV [RFC4106]",
        EncrAlg::AesGcm(_, GcmIcv::Icv12) => "AES-GCM with 12 octet ICV [RFC4106]",
        EncrAlg::AesGcm(_, GcmIcv::Icv16) => "AES-GCM with 16 octet ICV [RFC4106]",
        EncrAlg::ChaCha20Poly1305 => "ChaCha20 with Poly1305 [RFC7634]",
    }
}

/// Wireshark's name for an ESP authentication algorithm (`esp_authentication_type_vals`).
fn esp_integ_name(integ: Option<IntegAlg>) -> &'static str {
    match integ {
        None => "NULL",
        Some(IntegAlg::HmacMd5_96) => "HMAC-MD5-96 [RFC2403]",
        Some(IntegAlg::HmacSha1_96) => "HMAC-SHA-1-96 [RFC2404]",
        Some(IntegAlg::HmacSha256_128) => "HMAC-SHA-256-128 [RFC4868]",
        Some(IntegAlg::HmacSha384_192) => "HMAC-SHA-384-192 [RFC4868]",
        Some(IntegAlg::HmacSha512_256) => "HMAC-SHA-512-256 [RFC4868]",
    }
}

fn check_integ(encr: EncrAlg, integ: Option<IntegAlg>) -> Result<(), KeyLogError> {
    if encr.is_aead() == integ.is_none() { Ok(()) } else { Err(KeyLogError::IntegMismatch) }
}

/// Appends `bytes` as lowercase hex.
fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
}

/// Appends `s` as a UAT string field: in double quotes, with `"`, `\` and bytes outside
/// printable ASCII as `\xNN`, the escaping Wireshark's UAT reader undoes.
fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for b in s.bytes() {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            let _ = write!(out, "\\x{b:02x}");
        } else {
            out.push(char::from(b));
        }
    }
    out.push('"');
}

/// One `ikev2_decryption_table` line, without the newline. Zeroized on drop.
pub fn ikev2_decryption_table_line(
    keys: &IkeSaEntry<'_>,
) -> Result<Zeroizing<String>, KeyLogError> {
    check_integ(keys.encr, keys.integ)?;
    let encr = ikev2_encr_name(keys.encr)?;
    let integ = ikev2_integ_name(keys.integ);
    let key_len = keys.sk_ei.len() + keys.sk_er.len() + keys.sk_ai.len() + keys.sk_ar.len();
    let mut out = Zeroizing::new(String::with_capacity(2 * key_len + 128));
    let _ = write!(out, "{:016x},{:016x},", keys.spi_i, keys.spi_r);
    push_hex(&mut out, keys.sk_ei);
    out.push(',');
    push_hex(&mut out, keys.sk_er);
    out.push(',');
    push_quoted(&mut out, encr);
    out.push(',');
    push_hex(&mut out, keys.sk_ai);
    out.push(',');
    push_hex(&mut out, keys.sk_ar);
    out.push(',');
    push_quoted(&mut out, integ);
    Ok(out)
}

/// One `esp_sa` line, without the newline. Zeroized on drop.
pub fn esp_sa_line(keys: &EspSaEntry<'_>) -> Result<Zeroizing<String>, KeyLogError> {
    check_integ(keys.encr, keys.integ)?;
    let protocol = match (keys.src, keys.dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => "IPv4",
        (IpAddr::V6(_), IpAddr::V6(_)) => "IPv6",
        _ => return Err(KeyLogError::MixedFamilies),
    };
    let key_len = keys.encr_key.len() + keys.integ_key.len();
    let mut out = Zeroizing::new(String::with_capacity(2 * key_len + 160));
    push_quoted(&mut out, protocol);
    out.push(',');
    push_quoted(&mut out, &keys.src.to_string());
    out.push(',');
    push_quoted(&mut out, &keys.dst.to_string());
    out.push(',');
    push_quoted(&mut out, &format!("0x{:08x}", keys.spi));
    out.push(',');
    push_quoted(&mut out, esp_encr_name(keys.encr));
    out.push_str(",\"0x");
    push_hex(&mut out, keys.encr_key);
    out.push_str("\",");
    push_quoted(&mut out, esp_integ_name(keys.integ));
    out.push(',');
    // No authentication key (AEAD) is an empty field, as in Wireshark's own sample tables,
    // rather than a bare "0x".
    if keys.integ_key.is_empty() {
        out.push_str("\"\"");
    } else {
        out.push_str("\"0x");
        push_hex(&mut out, keys.integ_key);
        out.push('"');
    }
    Ok(out)
}

/// Where key log lines go. Implementations append each line (plus a newline, for a file) to
/// the table's destination; the default methods do the formatting.
pub trait KeyLog {
    /// Appends one formatted line (no trailing newline) to `table`.
    fn append(&mut self, table: KeyLogTable, line: &str);

    /// Logs an IKE SA's keys.
    fn log_ike_sa(&mut self, keys: &IkeSaEntry<'_>) -> Result<(), KeyLogError> {
        let line = ikev2_decryption_table_line(keys)?;
        self.append(KeyLogTable::Ikev2DecryptionTable, &line);
        Ok(())
    }

    /// Logs one direction of an ESP SA.
    fn log_esp_sa(&mut self, keys: &EspSaEntry<'_>) -> Result<(), KeyLogError> {
        let line = esp_sa_line(keys)?;
        self.append(KeyLogTable::EspSa, &line);
        Ok(())
    }
}

/// A key log held in memory (tests, or an operator command that shows it once). Lines are
/// zeroized on drop and not shown by Debug.
#[derive(Default)]
pub struct MemoryKeyLog {
    ikev2: Vec<Zeroizing<String>>,
    esp: Vec<Zeroizing<String>>,
}

impl MemoryKeyLog {
    /// An empty log.
    pub fn new() -> MemoryKeyLog {
        MemoryKeyLog::default()
    }

    /// The lines of one table, in order.
    pub fn lines(&self, table: KeyLogTable) -> impl Iterator<Item = &str> {
        let v = match table {
            KeyLogTable::Ikev2DecryptionTable => &self.ikev2,
            KeyLogTable::EspSa => &self.esp,
        };
        v.iter().map(|s| s.as_str())
    }

    /// One table as file contents: each line followed by a newline. Zeroized on drop.
    pub fn file_contents(&self, table: KeyLogTable) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        for line in self.lines(table) {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

impl KeyLog for MemoryKeyLog {
    fn append(&mut self, table: KeyLogTable, line: &str) {
        let line = Zeroizing::new(line.to_owned());
        match table {
            KeyLogTable::Ikev2DecryptionTable => self.ikev2.push(line),
            KeyLogTable::EspSa => self.esp.push(line),
        }
    }
}

impl fmt::Debug for MemoryKeyLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryKeyLog")
            .field("ikev2_lines", &self.ikev2.len())
            .field("esp_lines", &self.esp.len())
            .finish()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn test_quoting() {
        let mut s = String::new();
        push_quoted(&mut s, "a\"b\\c\nd é");
        assert_eq!(s, "\"a\\x22b\\x5cc\\x0ad \\xc3\\xa9\"");
        let mut h = String::new();
        push_hex(&mut h, &[0x00, 0xab, 0xff]);
        assert_eq!(h, "00abff");
    }
}
