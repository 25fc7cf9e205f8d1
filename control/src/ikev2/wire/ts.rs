//! The Traffic Selector payloads TSi and TSr (RFC 7296 section 3.13).

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::codec::{Reader, Writer, ensure, len16};
use super::{Error, Hex, PayloadBody, Result};

/// Length of a TS_IPV4_ADDR_RANGE selector (RFC 7296 section 3.13.1).
pub const TS_IPV4_LEN: usize = 16;

/// Length of a TS_IPV6_ADDR_RANGE selector (RFC 7296 section 3.13.1).
pub const TS_IPV6_LEN: usize = 40;

/// Start and end port of an OPAQUE port selector (RFC 7296 section 3.13.1: "Start Port
/// 65535 and End Port 0"), the one allowed case of start above end.
const OPAQUE_PORTS: (u16, u16) = (65535, 0);

/// Fixed part of every selector: TS Type, one octet, Selector Length (RFC 7296 section
/// 3.13.1).
const SELECTOR_HEADER_LEN: usize = 4;

enum_with_unknown! {
    /// Traffic selector types (RFC 7296 section 3.13.1, IANA "IKEv2 Traffic Selector Types").
    pub enum TsType(u8) {
        /// TS_IPV4_ADDR_RANGE (RFC 7296 section 3.13.1).
        Ipv4AddrRange = 7 => "TS_IPV4_ADDR_RANGE",
        /// TS_IPV6_ADDR_RANGE (RFC 7296 section 3.13.1).
        Ipv6AddrRange = 8 => "TS_IPV6_ADDR_RANGE",
        /// TS_FC_ADDR_RANGE (RFC 4595 section 4.4.1).
        FcAddrRange = 9 => "TS_FC_ADDR_RANGE",
        /// TS_SECLABEL (RFC 9478 section 2).
        SecLabel = 10 => "TS_SECLABEL",
    }
}

/// One traffic selector (RFC 7296 section 3.13.1).
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum TrafficSelector {
    /// TS_IPV4_ADDR_RANGE.
    Ipv4 {
        /// IP Protocol ID; 0 for any.
        ip_protocol: u8,
        /// Start Port (for ICMP: type and code).
        start_port: u16,
        /// End Port.
        end_port: u16,
        /// Starting Address.
        start: Ipv4Addr,
        /// Ending Address, not below `start`.
        end: Ipv4Addr,
    },
    /// TS_IPV6_ADDR_RANGE.
    Ipv6 {
        /// IP Protocol ID; 0 for any.
        ip_protocol: u8,
        /// Start Port.
        start_port: u16,
        /// End Port.
        end_port: u16,
        /// Starting Address.
        start: Ipv6Addr,
        /// Ending Address, not below `start`.
        end: Ipv6Addr,
    },
    /// Another selector type, kept as bytes so that it can be answered with TS_UNACCEPTABLE
    /// or passed on (its type is never 7 or 8).
    Other {
        /// TS Type.
        ts_type: TsType,
        /// The octet after TS Type (IP Protocol ID in RFC 7296's layout).
        second_octet: u8,
        /// Everything after the 4-byte selector header.
        data: Vec<u8>,
    },
}

impl TrafficSelector {
    /// Every IPv4 address, protocol and port.
    pub const fn ipv4_any() -> TrafficSelector {
        TrafficSelector::Ipv4 {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: Ipv4Addr::UNSPECIFIED,
            end: Ipv4Addr::BROADCAST,
        }
    }

    /// Every IPv6 address, protocol and port.
    pub const fn ipv6_any() -> TrafficSelector {
        TrafficSelector::Ipv6 {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: Ipv6Addr::UNSPECIFIED,
            end: Ipv6Addr::from_bits(u128::MAX),
        }
    }

    /// TS Type.
    pub fn ts_type(&self) -> TsType {
        match self {
            TrafficSelector::Ipv4 { .. } => TsType::Ipv4AddrRange,
            TrafficSelector::Ipv6 { .. } => TsType::Ipv6AddrRange,
            TrafficSelector::Other { ts_type, .. } => *ts_type,
        }
    }

    fn buffer_len(&self) -> usize {
        match self {
            TrafficSelector::Ipv4 { .. } => TS_IPV4_LEN,
            TrafficSelector::Ipv6 { .. } => TS_IPV6_LEN,
            TrafficSelector::Other { data, .. } => SELECTOR_HEADER_LEN + data.len(),
        }
    }

    /// Start ≤ end for addresses, and for ports unless they are OPAQUE.
    fn check(&self) -> Result<()> {
        let ports_ok = |s: u16, e: u16| s <= e || (s, e) == OPAQUE_PORTS;
        let ok = match self {
            TrafficSelector::Ipv4 { start_port, end_port, start, end, .. } => {
                ports_ok(*start_port, *end_port) && start <= end
            }
            TrafficSelector::Ipv6 { start_port, end_port, start, end, .. } => {
                ports_ok(*start_port, *end_port) && start <= end
            }
            TrafficSelector::Other { ts_type, .. } => {
                if matches!(ts_type, TsType::Ipv4AddrRange | TsType::Ipv6AddrRange) {
                    return Err(Error::Malformed("address range selector kept as Other"));
                }
                true
            }
        };
        if ok { Ok(()) } else { Err(Error::InvalidTsRange) }
    }

    fn parse(r: &mut Reader<'_>) -> Result<TrafficSelector> {
        let ts_type = TsType::from(r.u8()?);
        let second_octet = r.u8()?;
        let len = usize::from(r.u16()?);
        let body = len.checked_sub(SELECTOR_HEADER_LEN).ok_or(Error::BadLength)?;
        let mut s = Reader::new(r.bytes(body)?);
        let ts = match ts_type {
            TsType::Ipv4AddrRange | TsType::Ipv6AddrRange => {
                let expected =
                    if ts_type == TsType::Ipv4AddrRange { TS_IPV4_LEN } else { TS_IPV6_LEN };
                if len != expected {
                    return Err(Error::BadLength);
                }
                let start_port = s.u16()?;
                let end_port = s.u16()?;
                if ts_type == TsType::Ipv4AddrRange {
                    TrafficSelector::Ipv4 {
                        ip_protocol: second_octet,
                        start_port,
                        end_port,
                        start: Ipv4Addr::from(s.array::<4>()?),
                        end: Ipv4Addr::from(s.array::<4>()?),
                    }
                } else {
                    TrafficSelector::Ipv6 {
                        ip_protocol: second_octet,
                        start_port,
                        end_port,
                        start: Ipv6Addr::from(s.array::<16>()?),
                        end: Ipv6Addr::from(s.array::<16>()?),
                    }
                }
            }
            _ => TrafficSelector::Other { ts_type, second_octet, data: s.rest().to_vec() },
        };
        ts.check()?;
        Ok(ts)
    }

    fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        self.check()?;
        w.u8(self.ts_type().into())?;
        match self {
            TrafficSelector::Ipv4 { ip_protocol, start_port, end_port, start, end } => {
                w.u8(*ip_protocol)?;
                w.u16(len16(TS_IPV4_LEN)?)?;
                w.u16(*start_port)?;
                w.u16(*end_port)?;
                w.bytes(&start.octets())?;
                w.bytes(&end.octets())
            }
            TrafficSelector::Ipv6 { ip_protocol, start_port, end_port, start, end } => {
                w.u8(*ip_protocol)?;
                w.u16(len16(TS_IPV6_LEN)?)?;
                w.u16(*start_port)?;
                w.u16(*end_port)?;
                w.bytes(&start.octets())?;
                w.bytes(&end.octets())
            }
            TrafficSelector::Other { second_octet, data, .. } => {
                w.u8(*second_octet)?;
                w.u16(len16(self.buffer_len())?)?;
                w.bytes(data)
            }
        }
    }
}

impl fmt::Display for TrafficSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrafficSelector::Ipv4 { ip_protocol, start_port, end_port, start, end } => {
                write!(f, "{start}-{end} proto={ip_protocol} ports={start_port}-{end_port}")
            }
            TrafficSelector::Ipv6 { ip_protocol, start_port, end_port, start, end } => {
                write!(f, "{start}-{end} proto={ip_protocol} ports={start_port}-{end_port}")
            }
            TrafficSelector::Other { ts_type, data, .. } => write!(f, "{ts_type} {}", Hex(data)),
        }
    }
}

/// The TSi / TSr payload body: a list of selectors.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct TsRepr {
    /// The traffic selectors.
    pub selectors: Vec<TrafficSelector>,
}

impl PayloadBody for TsRepr {
    fn parse(body: &[u8]) -> Result<TsRepr> {
        let mut r = Reader::new(body);
        let count = r.u8()?;
        let _reserved = r.bytes(3)?;
        let mut selectors = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            selectors.push(TrafficSelector::parse(&mut r)?);
        }
        if !r.is_empty() {
            return Err(Error::Malformed("bytes after the last traffic selector"));
        }
        Ok(TsRepr { selectors })
    }

    fn buffer_len(&self) -> usize {
        4 + self.selectors.iter().map(TrafficSelector::buffer_len).sum::<usize>()
    }

    fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let count = u8::try_from(self.selectors.len()).map_err(|_| Error::TooLong)?;
        ensure(buf, self.buffer_len())?;
        let mut w = Writer::new(buf);
        w.bytes(&[count, 0, 0, 0])?;
        self.selectors.iter().try_for_each(|ts| ts.emit(&mut w))
    }
}

impl fmt::Display for TsRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TS")?;
        for ts in &self.selectors {
            write!(f, " {ts}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::super::test_util::check_body;
    use super::*;

    /// Two selectors: TCP 192.0.2.0-192.0.2.255 ports 0-65535, and any-protocol
    /// 2001:db8::-2001:db8::ffff ports 0-65535.
    fn bytes() -> Vec<u8> {
        let mut b = vec![0x02, 0, 0, 0];
        b.extend_from_slice(&[0x07, 0x06, 0x00, 0x10, 0x00, 0x00, 0xff, 0xff]);
        b.extend_from_slice(&[192, 0, 2, 0, 192, 0, 2, 255]);
        b.extend_from_slice(&[0x08, 0x00, 0x00, 0x28, 0x00, 0x00, 0xff, 0xff]);
        b.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
        b
    }

    fn repr() -> TsRepr {
        TsRepr {
            selectors: vec![
                TrafficSelector::Ipv4 {
                    ip_protocol: 6,
                    start_port: 0,
                    end_port: 65535,
                    start: Ipv4Addr::new(192, 0, 2, 0),
                    end: Ipv4Addr::new(192, 0, 2, 255),
                },
                TrafficSelector::Ipv6 {
                    ip_protocol: 0,
                    start_port: 0,
                    end_port: 65535,
                    start: "2001:db8::".parse().unwrap(),
                    end: "2001:db8::ffff".parse().unwrap(),
                },
            ],
        }
    }

    #[test]
    fn test_body() {
        let b = bytes();
        check_body(&b, &repr(), b.len());
        assert_eq!(repr().selectors[0].to_string(), "192.0.2.0-192.0.2.255 proto=6 ports=0-65535");
    }

    #[test]
    fn test_ranges() {
        // Start address above end address.
        let mut b = bytes();
        b[14] = 3;
        assert_eq!(TsRepr::parse(&b), Err(Error::InvalidTsRange));
        // Start port above end port.
        let mut b = bytes();
        b[8..10].copy_from_slice(&[0x01, 0x00]);
        b[10..12].copy_from_slice(&[0x00, 0x10]);
        assert_eq!(TsRepr::parse(&b), Err(Error::InvalidTsRange));
        // OPAQUE ports are the exception.
        let mut b = bytes();
        b[8..12].copy_from_slice(&[0xff, 0xff, 0x00, 0x00]);
        assert!(TsRepr::parse(&b).is_ok());
        let mut r = repr();
        r.selectors[1] = TrafficSelector::Ipv6 {
            ip_protocol: 0,
            start_port: 0,
            end_port: 1,
            start: "2001:db8::2".parse().unwrap(),
            end: "2001:db8::1".parse().unwrap(),
        };
        assert_eq!(r.to_vec(), Err(Error::InvalidTsRange));
    }

    #[test]
    fn test_lengths() {
        // IPv4 selector claiming 40 bytes.
        let mut b = bytes();
        b[7] = 0x28;
        assert!(TsRepr::parse(&b).is_err());
        // Count says 3.
        let mut b = bytes();
        b[0] = 3;
        assert!(TsRepr::parse(&b).is_err());
        // Count says 1: the IPv6 selector is left over.
        let mut b = bytes();
        b[0] = 1;
        assert!(TsRepr::parse(&b).is_err());
    }

    #[test]
    fn test_other_type() {
        let b = [0x01, 0, 0, 0, 0x0a, 0x00, 0x00, 0x07, b'a', b'b', b'c'];
        let repr = TsRepr {
            selectors: vec![TrafficSelector::Other {
                ts_type: TsType::SecLabel,
                second_octet: 0,
                data: b"abc".to_vec(),
            }],
        };
        check_body(&b, &repr, b.len());
        let bad = TsRepr {
            selectors: vec![TrafficSelector::Other {
                ts_type: TsType::Ipv4AddrRange,
                second_octet: 0,
                data: vec![],
            }],
        };
        assert!(bad.to_vec().is_err());
    }

    #[test]
    fn test_any() {
        let r =
            TsRepr { selectors: vec![TrafficSelector::ipv4_any(), TrafficSelector::ipv6_any()] };
        assert_eq!(TsRepr::parse(&r.to_vec().unwrap()).unwrap(), r);
    }
}
