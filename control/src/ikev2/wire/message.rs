//! Whole messages: the [`Payload`] enum over every payload `Repr`, payload chains, and
//! [`Message`] (RFC 7296 section 3).

use core::fmt;

use super::payload::GenericPayload;
use super::{
    AuthRepr, CertRepr, CertReqRepr, CpRepr, DeleteRepr, EapRepr, Error, GENERIC_HEADER_LEN,
    HEADER_LEN, Header, HeaderRepr, IdRepr, KeRepr, NonceRepr, NotifyRepr, NotifyType, PayloadBody,
    PayloadType, Payloads, RawPayload, Result, SaRepr, SkRepr, SkfRepr, TsRepr, VendorIdRepr,
};

/// One payload of a message, parsed. SK and SKF stay encrypted.
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum Payload {
    /// SA.
    Sa(SaRepr),
    /// KE.
    Ke(KeRepr),
    /// IDi.
    IdI(IdRepr),
    /// IDr.
    IdR(IdRepr),
    /// CERT.
    Cert(CertRepr),
    /// CERTREQ.
    CertReq(CertReqRepr),
    /// AUTH.
    Auth(AuthRepr),
    /// Ni / Nr.
    Nonce(NonceRepr),
    /// N.
    Notify(NotifyRepr),
    /// D.
    Delete(DeleteRepr),
    /// V.
    VendorId(VendorIdRepr),
    /// TSi.
    TsI(TsRepr),
    /// TSr.
    TsR(TsRepr),
    /// SK, still encrypted; must be the last payload.
    Encrypted(SkRepr),
    /// SKF, still encrypted; must be the last payload.
    EncryptedFragment(SkfRepr),
    /// CP.
    Configuration(CpRepr),
    /// EAP.
    Eap(EapRepr),
}

impl Payload {
    /// The payload type this payload is sent as.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::Sa,
            Payload::Ke(_) => PayloadType::Ke,
            Payload::IdI(_) => PayloadType::IdI,
            Payload::IdR(_) => PayloadType::IdR,
            Payload::Cert(_) => PayloadType::Cert,
            Payload::CertReq(_) => PayloadType::CertReq,
            Payload::Auth(_) => PayloadType::Auth,
            Payload::Nonce(_) => PayloadType::Nonce,
            Payload::Notify(_) => PayloadType::Notify,
            Payload::Delete(_) => PayloadType::Delete,
            Payload::VendorId(_) => PayloadType::VendorId,
            Payload::TsI(_) => PayloadType::TsI,
            Payload::TsR(_) => PayloadType::TsR,
            Payload::Encrypted(_) => PayloadType::Encrypted,
            Payload::EncryptedFragment(_) => PayloadType::EncryptedFragment,
            Payload::Configuration(_) => PayloadType::Configuration,
            Payload::Eap(_) => PayloadType::Eap,
        }
    }

    /// Parses one payload from the chain iterator. Unknown types (GSPM included, which this
    /// codec does not implement) are skipped, `Ok(None)`, when the critical bit is clear and
    /// rejected with [`Error::UnsupportedCritical`] when it is set (RFC 7296 section 2.5). The
    /// critical bit of known types is ignored, as RFC 7296 section 3.2 requires.
    pub fn parse(raw: &RawPayload<'_>) -> Result<Option<Payload>> {
        let body = raw.body;
        let payload = match raw.payload_type {
            PayloadType::Sa => Payload::Sa(SaRepr::parse(body)?),
            PayloadType::Ke => Payload::Ke(KeRepr::parse(body)?),
            PayloadType::IdI => Payload::IdI(IdRepr::parse(body)?),
            PayloadType::IdR => Payload::IdR(IdRepr::parse(body)?),
            PayloadType::Cert => Payload::Cert(CertRepr::parse(body)?),
            PayloadType::CertReq => Payload::CertReq(CertReqRepr::parse(body)?),
            PayloadType::Auth => Payload::Auth(AuthRepr::parse(body)?),
            PayloadType::Nonce => Payload::Nonce(NonceRepr::parse(body)?),
            PayloadType::Notify => Payload::Notify(NotifyRepr::parse(body)?),
            PayloadType::Delete => Payload::Delete(DeleteRepr::parse(body)?),
            PayloadType::VendorId => Payload::VendorId(VendorIdRepr::parse(body)?),
            PayloadType::TsI => Payload::TsI(TsRepr::parse(body)?),
            PayloadType::TsR => Payload::TsR(TsRepr::parse(body)?),
            PayloadType::Encrypted => Payload::Encrypted(SkRepr::parse(raw.next_payload, body)?),
            PayloadType::EncryptedFragment => {
                Payload::EncryptedFragment(SkfRepr::parse(raw.next_payload, body)?)
            }
            PayloadType::Configuration => Payload::Configuration(CpRepr::parse(body)?),
            PayloadType::Eap => Payload::Eap(EapRepr::parse(body)?),
            PayloadType::NoNextPayload | PayloadType::Gspm | PayloadType::Unknown(_) => {
                return if raw.critical {
                    Err(Error::UnsupportedCritical(raw.payload_type.into()))
                } else {
                    Ok(None)
                };
            }
        };
        Ok(Some(payload))
    }

    /// Length of the body, without the generic header.
    pub fn body_len(&self) -> usize {
        match self {
            Payload::Sa(p) => p.buffer_len(),
            Payload::Ke(p) => p.buffer_len(),
            Payload::IdI(p) | Payload::IdR(p) => p.buffer_len(),
            Payload::Cert(p) => p.buffer_len(),
            Payload::CertReq(p) => p.buffer_len(),
            Payload::Auth(p) => p.buffer_len(),
            Payload::Nonce(p) => p.buffer_len(),
            Payload::Notify(p) => p.buffer_len(),
            Payload::Delete(p) => p.buffer_len(),
            Payload::VendorId(p) => p.buffer_len(),
            Payload::TsI(p) | Payload::TsR(p) => p.buffer_len(),
            Payload::Encrypted(p) => p.buffer_len(),
            Payload::EncryptedFragment(p) => p.buffer_len(),
            Payload::Configuration(p) => p.buffer_len(),
            Payload::Eap(p) => p.buffer_len(),
        }
    }

    /// Length with the generic header.
    pub fn buffer_len(&self) -> usize {
        GENERIC_HEADER_LEN + self.body_len()
    }

    /// Writes the body into the start of `buf`.
    pub fn emit_body(&self, buf: &mut [u8]) -> Result<()> {
        match self {
            Payload::Sa(p) => p.emit(buf),
            Payload::Ke(p) => p.emit(buf),
            Payload::IdI(p) | Payload::IdR(p) => p.emit(buf),
            Payload::Cert(p) => p.emit(buf),
            Payload::CertReq(p) => p.emit(buf),
            Payload::Auth(p) => p.emit(buf),
            Payload::Nonce(p) => p.emit(buf),
            Payload::Notify(p) => p.emit(buf),
            Payload::Delete(p) => p.emit(buf),
            Payload::VendorId(p) => p.emit(buf),
            Payload::TsI(p) | Payload::TsR(p) => p.emit(buf),
            Payload::Encrypted(p) => p.emit(buf),
            Payload::EncryptedFragment(p) => p.emit(buf),
            Payload::Configuration(p) => p.emit(buf),
            Payload::Eap(p) => p.emit(buf),
        }
    }

    /// For SK / SKF, the first inner payload's type, which their generic header carries.
    fn inner_next_payload(&self) -> Option<PayloadType> {
        match self {
            Payload::Encrypted(p) => Some(p.next_payload),
            Payload::EncryptedFragment(p) => Some(p.next_payload),
            _ => None,
        }
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Notify(n) => write!(f, "N({})", n.notify_type),
            Payload::EncryptedFragment(p) => {
                write!(f, "SKF({}/{})", p.fragment_number, p.total_fragments)
            }
            other => write!(f, "{}", other.payload_type()),
        }
    }
}

/// Parses a payload chain whose first payload has type `first`: the bytes after the IKE
/// header, or the decrypted contents of an SK payload with padding and Pad Length removed.
/// Non-critical payloads of unknown types are dropped (see [`Payload::parse`]).
pub fn parse_chain(first: PayloadType, chain: &[u8]) -> Result<Vec<Payload>> {
    let mut payloads = Vec::new();
    for raw in Payloads::new(first, chain) {
        if let Some(payload) = Payload::parse(&raw?)? {
            payloads.push(payload);
        }
    }
    Ok(payloads)
}

/// Length of the emitted chain.
pub fn chain_len(payloads: &[Payload]) -> usize {
    payloads.iter().map(Payload::buffer_len).sum()
}

/// Writes a payload chain into the start of `buf`, chaining the Next Payload fields (an SK /
/// SKF payload, which must be last, carries its first inner type instead) and computing
/// every Payload Length. Returns the first payload's type, for the IKE header or the
/// enclosing SK payload ([`PayloadType::NoNextPayload`] for an empty chain).
pub fn emit_chain(payloads: &[Payload], buf: &mut [u8]) -> Result<PayloadType> {
    if buf.len() < chain_len(payloads) {
        return Err(Error::Exhausted);
    }
    let mut offset = 0;
    for (i, payload) in payloads.iter().enumerate() {
        let next = match (payload.inner_next_payload(), payloads.get(i + 1)) {
            (Some(_), Some(_)) => return Err(Error::EncryptedNotLast),
            (Some(inner), None) => inner,
            (None, Some(following)) => following.payload_type(),
            (None, None) => PayloadType::NoNextPayload,
        };
        let len = payload.buffer_len();
        let len16 = u16::try_from(len).map_err(|_| Error::TooLong)?;
        let slot = buf.get_mut(offset..offset + len).ok_or(Error::Exhausted)?;
        let mut generic = GenericPayload::new_unchecked(&mut *slot);
        generic.set_next_payload(next);
        generic.set_critical(false);
        generic.set_payload_len(len16);
        payload.emit_body(generic.body_mut())?;
        offset += len;
    }
    Ok(payloads.first().map_or(PayloadType::NoNextPayload, Payload::payload_type))
}

/// An IKE message: the header and its payloads in order.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Message {
    /// The IKE header (Next Payload and Length are computed on emit).
    pub header: HeaderRepr,
    /// The payloads; an SK / SKF payload, if any, is last.
    pub payloads: Vec<Payload>,
}

impl Message {
    /// Parses a whole message: the header (major version 2, Length equal to the datagram's
    /// length after any non-ESP marker) and the payload chain.
    pub fn parse(bytes: &[u8]) -> Result<Message> {
        let view = Header::new_checked(bytes)?;
        let header = HeaderRepr::parse(&view)?;
        if usize::try_from(view.length()).ok() != Some(bytes.len()) {
            return Err(Error::BadLength);
        }
        let payloads = parse_chain(view.next_payload(), view.payloads())?;
        Ok(Message { header, payloads })
    }

    /// Length of the emitted message.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + chain_len(&self.payloads)
    }

    /// Writes the message into the start of `buf` and returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let len32 = u32::try_from(len).map_err(|_| Error::TooLong)?;
        let (head, chain) = buf.split_at_mut_checked(HEADER_LEN).ok_or(Error::Exhausted)?;
        let first = emit_chain(&self.payloads, chain)?;
        self.header.emit(&mut Header::new_unchecked(head), first, len32)?;
        Ok(len)
    }

    /// Emits into a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut buf = vec![0; self.buffer_len()];
        self.emit(&mut buf)?;
        Ok(buf)
    }

    /// The SK payload, if the message has one.
    pub fn encrypted(&self) -> Option<&SkRepr> {
        match self.payloads.last() {
            Some(Payload::Encrypted(sk)) => Some(sk),
            _ => None,
        }
    }

    /// The SKF payload, if the message is a fragment.
    pub fn encrypted_fragment(&self) -> Option<&SkfRepr> {
        match self.payloads.last() {
            Some(Payload::EncryptedFragment(skf)) => Some(skf),
            _ => None,
        }
    }

    /// The type of the first payload inside the SK payload, or inside fragment 1's SKF, which
    /// the decrypted chain is parsed from.
    pub fn inner_first_payload(&self) -> Option<PayloadType> {
        self.payloads.last().and_then(Payload::inner_next_payload)
    }

    /// The Notify payloads, in order.
    pub fn notifies(&self) -> impl Iterator<Item = &NotifyRepr> {
        self.payloads.iter().filter_map(|p| match p {
            Payload::Notify(n) => Some(n),
            _ => None,
        })
    }

    /// The first Notify of this type.
    pub fn notify(&self, notify_type: NotifyType) -> Option<&NotifyRepr> {
        self.notifies().find(|n| n.notify_type == notify_type)
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [", self.header)?;
        for (i, p) in self.payloads.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{p}")?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod test {
    use super::super::{ExchangeType, ProtocolId};
    use super::*;

    fn header() -> HeaderRepr {
        HeaderRepr {
            spi_i: 0x1111_2222_3333_4444,
            spi_r: 0x5555_6666_7777_8888,
            exchange_type: ExchangeType::Informational,
            initiator: true,
            response: false,
            version_flag: false,
            message_id: 7,
        }
    }

    /// INFORMATIONAL request with a Delete of ESP SPI 0x01020304 and an empty Vendor ID.
    static MESSAGE_BYTES: [u8; 48] = [
        0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44, // SPIi
        0x55, 0x55, 0x66, 0x66, 0x77, 0x77, 0x88, 0x88, // SPIr
        0x2a, 0x20, 0x25, 0x08, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x2c, // D first
        0x2b, 0x00, 0x00, 0x0c, 0x03, 0x04, 0x00, 0x01, 0x01, 0x02, 0x03, 0x04, // D, next V
        0x00, 0x00, 0x00, 0x04, // V, last, empty
        0xde, 0xad, 0xbe, 0xef, // not part of the message: cut off below
    ];

    fn repr() -> Message {
        Message {
            header: header(),
            payloads: vec![
                Payload::Delete(DeleteRepr { protocol: ProtocolId::Esp, spis: vec![0x0102_0304] }),
                Payload::VendorId(VendorIdRepr { data: vec![] }),
            ],
        }
    }

    #[test]
    fn test_parse_emit() {
        let bytes = &MESSAGE_BYTES[..44];
        assert_eq!(Message::parse(bytes).unwrap(), repr());
        assert_eq!(repr().buffer_len(), 44);
        let mut buf = [0xa5; 48];
        assert_eq!(repr().emit(&mut buf).unwrap(), 44);
        assert_eq!(&buf[..44], bytes);
        assert_eq!(&buf[44..], &[0xa5; 4]);
        for n in 0..44 {
            assert!(Message::parse(&bytes[..n]).is_err());
            assert_eq!(repr().emit(&mut buf[..n]), Err(Error::Exhausted));
        }
        // Longer than the Length field.
        assert_eq!(Message::parse(&MESSAGE_BYTES), Err(Error::BadLength));
        assert_eq!(
            repr().to_string(),
            "INFORMATIONAL request mid=7 spi_i=1111222233334444 spi_r=5555666677778888 [I] [D V]"
        );
    }

    #[test]
    fn test_unknown_payloads() {
        let mut bytes = MESSAGE_BYTES[..44].to_vec();
        // The Vendor ID becomes type 200, non-critical: skipped.
        bytes[28] = 200;
        let m = Message::parse(&bytes).unwrap();
        assert_eq!(m.payloads, repr().payloads[..1]);
        // Critical: rejected, with the type for the notify.
        bytes[41] = 0x80;
        let e = Message::parse(&bytes).unwrap_err();
        assert_eq!(e, Error::UnsupportedCritical(200));
        assert_eq!(e.notify_type(), NotifyType::UnsupportedCriticalPayload);
        // The critical bit of a known type is ignored.
        let mut bytes = MESSAGE_BYTES[..44].to_vec();
        bytes[41] = 0x80;
        assert_eq!(Message::parse(&bytes).unwrap(), repr());
    }

    #[test]
    fn test_encrypted_last() {
        let sk = Payload::Encrypted(SkRepr { next_payload: PayloadType::IdI, data: vec![0; 20] });
        let mut m = repr();
        m.payloads.push(sk.clone());
        let bytes = m.to_vec().unwrap();
        let parsed = Message::parse(&bytes).unwrap();
        assert_eq!(parsed, m);
        assert_eq!(parsed.inner_first_payload(), Some(PayloadType::IdI));
        assert_eq!(parsed.encrypted().unwrap().data.len(), 20);
        m.payloads.push(Payload::VendorId(VendorIdRepr { data: vec![] }));
        assert_eq!(m.to_vec(), Err(Error::EncryptedNotLast));
    }

    #[test]
    fn test_empty_message() {
        let m = Message { header: header(), payloads: vec![] };
        let bytes = m.to_vec().unwrap();
        assert_eq!(bytes.len(), HEADER_LEN);
        assert_eq!(bytes[16], 0);
        assert_eq!(Message::parse(&bytes).unwrap(), m);
    }

    #[test]
    fn test_invalid_major_version() {
        let mut bytes = MESSAGE_BYTES[..44].to_vec();
        bytes[17] = 0x30;
        let e = Message::parse(&bytes).unwrap_err();
        assert_eq!(e, Error::InvalidMajorVersion(3));
        assert_eq!(e.notify_type(), NotifyType::InvalidMajorVersion);
    }
}
