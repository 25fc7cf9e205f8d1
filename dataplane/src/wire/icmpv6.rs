//! ICMP for IPv6 (RFC 4443) and the Neighbor Discovery messages the dataplane answers
//! (RFC 4861 sections 4.3 and 4.4).

use core::fmt;

use super::{
    Error, EthernetAddress, IpProtocol, Ipv6Addr, Result, checksum, ipv6, read_ipv6, read_u16,
    read_u32, write_u16, write_u32,
};

enum_with_unknown! {
    /// ICMPv6 message type (RFC 4443 section 2.1, RFC 4861 section 4).
    pub enum Message(u8) {
        /// Destination unreachable.
        DstUnreachable = 1,
        /// Packet too big.
        PktTooBig = 2,
        /// Time exceeded.
        TimeExceeded = 3,
        /// Parameter problem.
        ParamProblem = 4,
        /// Echo request.
        EchoRequest = 128,
        /// Echo reply.
        EchoReply = 129,
        /// Router solicitation.
        RouterSolicit = 133,
        /// Router advertisement.
        RouterAdvert = 134,
        /// Neighbor solicitation.
        NeighborSolicit = 135,
        /// Neighbor advertisement.
        NeighborAdvert = 136,
        /// Redirect.
        Redirect = 137,
    }
}

enum_with_unknown! {
    /// Codes of "destination unreachable" (RFC 4443 section 3.1).
    pub enum DstUnreachable(u8) {
        /// No route to destination.
        NoRoute = 0,
        /// Communication administratively prohibited.
        AdminProhibit = 1,
        /// Beyond scope of source address.
        BeyondScope = 2,
        /// Address unreachable.
        AddrUnreachable = 3,
        /// Port unreachable.
        PortUnreachable = 4,
        /// Source address failed ingress/egress policy.
        FailedPolicy = 5,
        /// Reject route to destination.
        RejectRoute = 6,
    }
}

enum_with_unknown! {
    /// Codes of "time exceeded" (RFC 4443 section 3.3).
    pub enum TimeExceeded(u8) {
        /// Hop limit exceeded in transit.
        HopLimitExceeded = 0,
        /// Fragment reassembly time exceeded.
        FragReassemblyExceeded = 1,
    }
}

enum_with_unknown! {
    /// Neighbor Discovery option type (RFC 4861 section 4.6).
    pub enum NdOption(u8) {
        /// Source link-layer address.
        SourceLinkLayerAddr = 1,
        /// Target link-layer address.
        TargetLinkLayerAddr = 2,
        /// Prefix information.
        PrefixInformation = 3,
        /// Redirected header.
        RedirectedHeader = 4,
        /// MTU.
        Mtu = 5,
    }
}

mod field {
    use core::ops::{Range, RangeFrom};

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    pub const MTU: Range<usize> = 4..8;
    pub const POINTER: Range<usize> = 4..8;
    pub const ND_FLAGS: usize = 4;
    pub const DATA: RangeFrom<usize> = 8..;
    pub const TARGET: Range<usize> = 8..24;
    pub const ND_OPTIONS: RangeFrom<usize> = 24..;
}

/// Length of the ICMPv6 header: type, code, checksum and the 4-byte message body start.
pub const HEADER_LEN: usize = field::DATA.start;

/// Length of a Neighbor Solicitation/Advertisement without options (RFC 4861 4.3, 4.4).
pub const ND_HEADER_LEN: usize = field::TARGET.end;

/// Length of a link-layer address option for Ethernet: one 8-octet unit (RFC 4861 4.6.1).
pub const LLADDR_OPTION_LEN: usize = 8;

/// Most bytes of the invoking packet an error message should quote: the whole error must
/// fit the IPv6 minimum MTU (RFC 4443 section 2.4 (c)).
pub const ERROR_DATA_MAX_LEN: usize = ipv6::MIN_MTU - ipv6::HEADER_LEN - HEADER_LEN;

/// Neighbor Advertisement flag bits (RFC 4861 section 4.4).
const FLAG_ROUTER: u8 = 0x80;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;

/// A read/write wrapper around an ICMPv6 message. ICMPv6 has no length field: the message is
/// the whole buffer (slice it to the upper-layer payload).
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer and checks its length.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds the 8-byte header, and for Neighbor Solicitation and
    /// Advertisement the 24-byte fixed part. The ND accessors still return `Option`, so no
    /// accessor panics whatever the type says.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error);
        }
        match self.msg_type() {
            Message::NeighborSolicit | Message::NeighborAdvert if len < ND_HEADER_LEN => Err(Error),
            _ => Ok(()),
        }
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> Message {
        Message::from(self.buffer.as_ref()[field::TYPE])
    }

    /// Message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Echo identifier.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_IDENT.start)
    }

    /// Echo sequence number.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_SEQNO.start)
    }

    /// MTU of a "packet too big" message.
    #[inline]
    pub fn pkt_too_big_mtu(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::MTU.start)
    }

    /// Pointer of a "parameter problem" message.
    #[inline]
    pub fn param_problem_ptr(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::POINTER.start)
    }

    /// Router flag of a Neighbor Advertisement.
    #[inline]
    pub fn router_flag(&self) -> bool {
        self.buffer.as_ref()[field::ND_FLAGS] & FLAG_ROUTER != 0
    }

    /// Solicited flag of a Neighbor Advertisement.
    #[inline]
    pub fn solicited_flag(&self) -> bool {
        self.buffer.as_ref()[field::ND_FLAGS] & FLAG_SOLICITED != 0
    }

    /// Override flag of a Neighbor Advertisement.
    #[inline]
    pub fn override_flag(&self) -> bool {
        self.buffer.as_ref()[field::ND_FLAGS] & FLAG_OVERRIDE != 0
    }

    /// Target address of a Neighbor Solicitation/Advertisement; `None` if the buffer is too
    /// short to hold one.
    #[inline]
    pub fn target_addr(&self) -> Option<Ipv6Addr> {
        let d = self.buffer.as_ref();
        (d.len() >= ND_HEADER_LEN).then(|| read_ipv6(d, field::TARGET.start))
    }

    /// Verifies the checksum over the IPv6 pseudo-header and the whole buffer.
    #[inline]
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let d = self.buffer.as_ref();
        let Ok(len) = u32::try_from(d.len()) else { return false };
        checksum::combine(&[
            checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6, len),
            checksum::data(d),
        ]) == !0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The bytes after the 8-byte header (echo data, or the quoted packet of an error).
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::DATA]
    }

    /// Options of a Neighbor Solicitation/Advertisement; `None` if the buffer is too short.
    #[inline]
    pub fn nd_options(&self) -> Option<&'a [u8]> {
        self.buffer.as_ref().get(field::ND_OPTIONS)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the message type.
    #[inline]
    pub fn set_msg_type(&mut self, value: Message) {
        self.buffer.as_mut()[field::TYPE] = value.into();
    }

    /// Sets the message code.
    #[inline]
    pub fn set_msg_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    /// Sets the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_IDENT.start, value);
    }

    /// Sets the echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_SEQNO.start, value);
    }

    /// Sets the MTU of a "packet too big" message.
    #[inline]
    pub fn set_pkt_too_big_mtu(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::MTU.start, value);
    }

    /// Sets the pointer of a "parameter problem" message.
    #[inline]
    pub fn set_param_problem_ptr(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::POINTER.start, value);
    }

    /// Sets the 4 bytes after the checksum to zero (the "unused"/"reserved" field).
    #[inline]
    pub fn clear_reserved(&mut self) {
        write_u32(self.buffer.as_mut(), field::MTU.start, 0);
    }

    /// Sets the Neighbor Advertisement flags (R, S, O); the reserved bits are cleared.
    #[inline]
    pub fn set_nd_flags(&mut self, router: bool, solicited: bool, override_: bool) {
        let mut b = 0;
        if router {
            b |= FLAG_ROUTER;
        }
        if solicited {
            b |= FLAG_SOLICITED;
        }
        if override_ {
            b |= FLAG_OVERRIDE;
        }
        self.buffer.as_mut()[field::ND_FLAGS] = b;
    }

    /// Sets the target address of a Neighbor Solicitation/Advertisement (the buffer must be
    /// at least [`ND_HEADER_LEN`] bytes).
    #[inline]
    pub fn set_target_addr(&mut self, value: Ipv6Addr) {
        self.buffer.as_mut()[field::TARGET].copy_from_slice(&value.octets());
    }

    /// Computes and writes the checksum over the IPv6 pseudo-header and the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let d = self.buffer.as_ref();
        // An ICMPv6 message longer than 4 GiB cannot exist; saturate rather than panic.
        let len = u32::try_from(d.len()).unwrap_or(u32::MAX);
        let sum = checksum::combine(&[
            checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6, len),
            checksum::data(d),
        ]);
        self.set_checksum(!sum);
    }

    /// The bytes after the header, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }

    /// Neighbor Discovery options, writable (empty if the buffer is too short).
    #[inline]
    pub fn nd_options_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut().get_mut(field::ND_OPTIONS).unwrap_or_default()
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

impl<T: AsRef<[u8]>> fmt::Display for Packet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.check_len().is_err() {
            return f.write_str("ICMPv6 (truncated)");
        }
        write!(
            f,
            "ICMPv6 type={:?} code={} len={}",
            self.msg_type(),
            self.msg_code(),
            self.buffer.as_ref().len()
        )?;
        if let (Message::NeighborSolicit | Message::NeighborAdvert, Some(target)) =
            (self.msg_type(), self.target_addr())
        {
            write!(f, " target={target}")?;
        }
        Ok(())
    }
}

/// Finds the Ethernet link-layer address option of `kind` in an ND option list. Errors on
/// a zero-length or truncated option (RFC 4861 section 4.6: such packets are discarded).
/// Options of other kinds and other lengths are skipped.
pub fn find_lladdr_option(options: &[u8], kind: NdOption) -> Result<Option<EthernetAddress>> {
    let mut found = None;
    let mut rest = options;
    while !rest.is_empty() {
        let [ty, units, ..] = *rest else { return Err(Error) };
        let len = usize::from(units) * 8;
        if len == 0 || len > rest.len() {
            return Err(Error);
        }
        if NdOption::from(ty) == kind && len == LLADDR_OPTION_LEN && found.is_none() {
            found = EthernetAddress::from_bytes(&rest[2..]);
        }
        rest = &rest[len..];
    }
    Ok(found)
}

/// Neighbor Advertisement flags (RFC 4861 section 4.4).
#[derive(Debug, PartialEq, Eq, Clone, Copy, Default)]
pub struct NeighborFlags {
    /// R: the sender is a router.
    pub router: bool,
    /// S: sent in response to a solicitation.
    pub solicited: bool,
    /// O: override an existing cache entry.
    pub override_: bool,
}

/// A high-level representation of the ICMPv6 messages the dataplane answers or sends.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Repr<'a> {
    /// Echo request.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Destination unreachable.
    DstUnreachable {
        /// Code.
        reason: DstUnreachable,
        /// The invoking packet's first bytes.
        data: &'a [u8],
    },
    /// Packet too big.
    PktTooBig {
        /// MTU of the next-hop link.
        mtu: u32,
        /// The invoking packet's first bytes.
        data: &'a [u8],
    },
    /// Time exceeded.
    TimeExceeded {
        /// Code.
        reason: TimeExceeded,
        /// The invoking packet's first bytes.
        data: &'a [u8],
    },
    /// Neighbor Solicitation.
    NeighborSolicit {
        /// Address being resolved.
        target_addr: Ipv6Addr,
        /// Source link-layer address option.
        lladdr: Option<EthernetAddress>,
    },
    /// Neighbor Advertisement.
    NeighborAdvert {
        /// R/S/O flags.
        flags: NeighborFlags,
        /// Address advertised.
        target_addr: Ipv6Addr,
        /// Target link-layer address option.
        lladdr: Option<EthernetAddress>,
    },
}

/// An error message must quote at least an IPv6 header.
fn check_quoted(data: &[u8]) -> Result<()> {
    match data.first() {
        Some(b) if b >> 4 == 6 && data.len() >= ipv6::HEADER_LEN => Ok(()),
        _ => Err(Error),
    }
}

impl<'a> Repr<'a> {
    /// Parses a message, verifying its checksum against the IPv6 source and destination.
    /// ND messages must have code 0 and a unicast target (RFC 4861 sections 7.1.1 and
    /// 7.1.2); checking the hop limit of 255 is the caller's job (it is in the IPv6
    /// header).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        packet: &Packet<&'a T>,
    ) -> Result<Repr<'a>> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(Error);
        }
        match (packet.msg_type(), packet.msg_code()) {
            (Message::EchoRequest, 0) => Ok(Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data: packet.data(),
            }),
            (Message::EchoReply, 0) => Ok(Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data: packet.data(),
            }),
            (Message::DstUnreachable, code) => {
                check_quoted(packet.data())?;
                Ok(Repr::DstUnreachable { reason: code.into(), data: packet.data() })
            }
            (Message::PktTooBig, 0) => {
                check_quoted(packet.data())?;
                Ok(Repr::PktTooBig { mtu: packet.pkt_too_big_mtu(), data: packet.data() })
            }
            (Message::TimeExceeded, code) => {
                check_quoted(packet.data())?;
                Ok(Repr::TimeExceeded { reason: code.into(), data: packet.data() })
            }
            (Message::NeighborSolicit, 0) => {
                let target_addr = packet.target_addr().ok_or(Error)?;
                let options = packet.nd_options().ok_or(Error)?;
                if target_addr.is_multicast() {
                    return Err(Error);
                }
                let lladdr = find_lladdr_option(options, NdOption::SourceLinkLayerAddr)?;
                Ok(Repr::NeighborSolicit { target_addr, lladdr })
            }
            (Message::NeighborAdvert, 0) => {
                let target_addr = packet.target_addr().ok_or(Error)?;
                let options = packet.nd_options().ok_or(Error)?;
                if target_addr.is_multicast() {
                    return Err(Error);
                }
                let lladdr = find_lladdr_option(options, NdOption::TargetLinkLayerAddr)?;
                let flags = NeighborFlags {
                    router: packet.router_flag(),
                    solicited: packet.solicited_flag(),
                    override_: packet.override_flag(),
                };
                Ok(Repr::NeighborAdvert { flags, target_addr, lladdr })
            }
            _ => Err(Error),
        }
    }

    /// Message length in bytes.
    pub const fn buffer_len(&self) -> usize {
        match self {
            Repr::EchoRequest { data, .. }
            | Repr::EchoReply { data, .. }
            | Repr::DstUnreachable { data, .. }
            | Repr::PktTooBig { data, .. }
            | Repr::TimeExceeded { data, .. } => HEADER_LEN + data.len(),
            Repr::NeighborSolicit { lladdr, .. } | Repr::NeighborAdvert { lladdr, .. } => {
                ND_HEADER_LEN + if lladdr.is_some() { LLADDR_OPTION_LEN } else { 0 }
            }
        }
    }

    /// Writes the message and its checksum. The buffer must be exactly
    /// [`buffer_len`](Repr::buffer_len) bytes (the checksum covers the whole buffer).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        packet: &mut Packet<T>,
    ) -> Result<()> {
        if packet.buffer.as_ref().len() != self.buffer_len() {
            return Err(Error);
        }
        match *self {
            Repr::EchoRequest { ident, seq_no, data } | Repr::EchoReply { ident, seq_no, data } => {
                let ty = if matches!(self, Repr::EchoRequest { .. }) {
                    Message::EchoRequest
                } else {
                    Message::EchoReply
                };
                packet.set_msg_type(ty);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                packet.data_mut().copy_from_slice(data);
            }
            Repr::DstUnreachable { reason, data } => {
                packet.set_msg_type(Message::DstUnreachable);
                packet.set_msg_code(reason.into());
                packet.clear_reserved();
                packet.data_mut().copy_from_slice(data);
            }
            Repr::PktTooBig { mtu, data } => {
                packet.set_msg_type(Message::PktTooBig);
                packet.set_msg_code(0);
                packet.set_pkt_too_big_mtu(mtu);
                packet.data_mut().copy_from_slice(data);
            }
            Repr::TimeExceeded { reason, data } => {
                packet.set_msg_type(Message::TimeExceeded);
                packet.set_msg_code(reason.into());
                packet.clear_reserved();
                packet.data_mut().copy_from_slice(data);
            }
            Repr::NeighborSolicit { target_addr, lladdr } => {
                packet.set_msg_type(Message::NeighborSolicit);
                packet.set_msg_code(0);
                packet.clear_reserved();
                packet.set_target_addr(target_addr);
                emit_lladdr(packet.nd_options_mut(), NdOption::SourceLinkLayerAddr, lladdr);
            }
            Repr::NeighborAdvert { flags, target_addr, lladdr } => {
                packet.set_msg_type(Message::NeighborAdvert);
                packet.set_msg_code(0);
                packet.clear_reserved();
                packet.set_nd_flags(flags.router, flags.solicited, flags.override_);
                packet.set_target_addr(target_addr);
                emit_lladdr(packet.nd_options_mut(), NdOption::TargetLinkLayerAddr, lladdr);
            }
        }
        packet.fill_checksum(src, dst);
        Ok(())
    }
}

/// Writes one link-layer address option into `options` (sized by `buffer_len`).
fn emit_lladdr(options: &mut [u8], kind: NdOption, lladdr: Option<EthernetAddress>) {
    if let (Some(addr), Some(opt)) = (lladdr, options.get_mut(..LLADDR_OPTION_LEN)) {
        opt[0] = kind.into();
        opt[1] = 1;
        opt[2..].copy_from_slice(addr.as_bytes());
    }
}

impl fmt::Display for Repr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Repr::EchoRequest { ident, seq_no, data } => {
                write!(f, "ICMPv6 echo request id={ident} seq={seq_no} len={}", data.len())
            }
            Repr::EchoReply { ident, seq_no, data } => {
                write!(f, "ICMPv6 echo reply id={ident} seq={seq_no} len={}", data.len())
            }
            Repr::DstUnreachable { reason, data } => {
                write!(f, "ICMPv6 destination unreachable ({reason:?}) quoted={}", data.len())
            }
            Repr::PktTooBig { mtu, data } => {
                write!(f, "ICMPv6 packet too big mtu={mtu} quoted={}", data.len())
            }
            Repr::TimeExceeded { reason, data } => {
                write!(f, "ICMPv6 time exceeded ({reason:?}) quoted={}", data.len())
            }
            Repr::NeighborSolicit { target_addr, lladdr } => {
                write!(f, "ICMPv6 neighbor solicitation target={target_addr}")?;
                if let Some(l) = lladdr {
                    write!(f, " sll={l}")?;
                }
                Ok(())
            }
            Repr::NeighborAdvert { flags, target_addr, lladdr } => {
                write!(
                    f,
                    "ICMPv6 neighbor advertisement target={target_addr} r={} s={} o={}",
                    flags.router, flags.solicited, flags.override_
                )?;
                if let Some(l) = lladdr {
                    write!(f, " tll={l}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    const LL1: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    const LL2: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
    const SNM2: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 2);
    const SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const DST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
    const ROUTER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xfe);
    const MAC1: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
    const MAC2: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);

    /// scapy: fe80::1 → ff02::1:ff00:2, `ICMPv6ND_NS(tgt="fe80::2")/
    /// ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01")`.
    static PACKET_BYTES: [u8; 32] = [
        0x87, 0x00, 0x7a, 0x97, 0x00, 0x00, 0x00, 0x00, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00,
        0x00, 0x01,
    ];

    /// scapy: fe80::2 → fe80::1, `ICMPv6ND_NA(tgt="fe80::2", R=0, S=1, O=1)/
    /// ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:02")`.
    static NA_BYTES: [u8; 32] = [
        0x88, 0x00, 0x18, 0x1a, 0x60, 0x00, 0x00, 0x00, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00,
        0x00, 0x02,
    ];

    /// scapy: 2001:db8::1 → 2001:db8::2, `ICMPv6EchoRequest(id=0x1234, seq=1,
    /// data=b"abcdefgh")`.
    static ECHO_BYTES: [u8; 16] = [
        0x80, 0x00, 0x80, 0x75, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
        0x68,
    ];

    /// scapy: 2001:db8::fe → 2001:db8::2, `ICMPv6PacketTooBig(mtu=1280)` quoting the first
    /// 48 bytes of `IPv6(src="2001:db8::2", dst="2001:db8:1::9", hlim=63)/UDP(sport=1000,
    /// dport=2000)/b"xxxx"`.
    static PTB_BYTES: [u8; 56] = [
        0x02, 0x00, 0x1b, 0xde, 0x00, 0x00, 0x05, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x11,
        0x3f, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x02, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x09, 0x03, 0xe8, 0x07, 0xd0, 0x00, 0x0c, 0xa7, 0xaf,
    ];

    fn ns_repr() -> Repr<'static> {
        Repr::NeighborSolicit { target_addr: LL2, lladdr: Some(MAC1) }
    }

    fn na_repr() -> Repr<'static> {
        Repr::NeighborAdvert {
            flags: NeighborFlags { router: false, solicited: true, override_: true },
            target_addr: LL2,
            lladdr: Some(MAC2),
        }
    }

    fn echo_repr() -> Repr<'static> {
        Repr::EchoRequest { ident: 0x1234, seq_no: 1, data: b"abcdefgh" }
    }

    fn ptb_repr() -> Repr<'static> {
        Repr::PktTooBig { mtu: 1280, data: &PTB_BYTES[8..] }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.msg_type(), Message::NeighborSolicit);
        assert_eq!(packet.msg_code(), 0);
        assert_eq!(packet.checksum(), 0x7a97);
        assert_eq!(packet.target_addr(), Some(LL2));
        assert_eq!(packet.nd_options(), Some(&PACKET_BYTES[24..]));
        assert!(packet.verify_checksum(&LL1, &SNM2));

        let packet = Packet::new_checked(&NA_BYTES[..]).unwrap();
        assert!(!packet.router_flag() && packet.solicited_flag() && packet.override_flag());
        assert!(packet.verify_checksum(&LL2, &LL1));

        let packet = Packet::new_checked(&ECHO_BYTES[..]).unwrap();
        assert_eq!(packet.msg_type(), Message::EchoRequest);
        assert_eq!((packet.echo_ident(), packet.echo_seq_no()), (0x1234, 1));
        assert_eq!(packet.data(), b"abcdefgh");
        assert_eq!(packet.target_addr(), None);
        assert!(packet.verify_checksum(&SRC, &DST));
        assert!(!packet.verify_checksum(&SRC, &ROUTER)); // (swapping src and dst would not change the sum)

        let packet = Packet::new_checked(&PTB_BYTES[..]).unwrap();
        assert_eq!(packet.msg_type(), Message::PktTooBig);
        assert_eq!(packet.pkt_too_big_mtu(), 1280);
        assert!(packet.verify_checksum(&ROUTER, &DST));
    }

    #[test]
    fn test_construct() {
        let mut bytes = vec![0xa5; 32];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_msg_type(Message::NeighborAdvert);
        packet.set_msg_code(0);
        packet.clear_reserved();
        packet.set_nd_flags(false, true, true);
        packet.set_target_addr(LL2);
        packet.nd_options_mut().copy_from_slice(&[2, 1, 2, 0, 0, 0, 0, 2]);
        packet.fill_checksum(&LL2, &LL1);
        assert_eq!(&bytes[..], &NA_BYTES[..]);

        let mut bytes = vec![0xa5; 56];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_msg_type(Message::PktTooBig);
        packet.set_msg_code(0);
        packet.set_pkt_too_big_mtu(1280);
        packet.data_mut().copy_from_slice(&PTB_BYTES[8..]);
        packet.fill_checksum(&ROUTER, &DST);
        assert_eq!(&bytes[..], &PTB_BYTES[..]);
    }

    #[test]
    fn test_check_len() {
        for n in 0..PACKET_BYTES.len() {
            let r = Packet::new_checked(&PACKET_BYTES[..n]);
            if n < ND_HEADER_LEN {
                assert_eq!(r.err(), Some(Error), "len {n}");
            } else {
                // A truncated option is caught by parse.
                let mut copy = PACKET_BYTES[..n].to_vec();
                Packet::new_unchecked(&mut copy[..]).fill_checksum(&LL1, &SNM2);
                let p = Packet::new_checked(&copy[..]).unwrap();
                assert_eq!(n == ND_HEADER_LEN, Repr::parse(&LL1, &SNM2, &p).is_ok(), "len {n}");
            }
        }
        for n in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&ECHO_BYTES[..n]).err(), Some(Error));
        }
    }

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&LL1, &SNM2, &p), Ok(ns_repr()));
        assert_eq!(Repr::parse(&LL2, &SNM2, &p), Err(Error));
        let p = Packet::new_checked(&NA_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&LL2, &LL1, &p), Ok(na_repr()));
        let p = Packet::new_checked(&ECHO_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&SRC, &DST, &p), Ok(echo_repr()));
        let p = Packet::new_checked(&PTB_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&ROUTER, &DST, &p), Ok(ptb_repr()));
        // Zero-length option.
        let mut bad = PACKET_BYTES;
        bad[25] = 0;
        let mut p = Packet::new_unchecked(&mut bad[..]);
        p.fill_checksum(&LL1, &SNM2);
        assert_eq!(Repr::parse(&LL1, &SNM2, &Packet::new_unchecked(&bad[..])), Err(Error));
    }

    #[test]
    fn test_emit() {
        for (repr, src, dst, expected) in [
            (ns_repr(), LL1, SNM2, &PACKET_BYTES[..]),
            (na_repr(), LL2, LL1, &NA_BYTES[..]),
            (echo_repr(), SRC, DST, &ECHO_BYTES[..]),
            (ptb_repr(), ROUTER, DST, &PTB_BYTES[..]),
        ] {
            let mut bytes = vec![0xa5; repr.buffer_len()];
            repr.emit(&src, &dst, &mut Packet::new_unchecked(&mut bytes)).unwrap();
            assert_eq!(&bytes[..], expected, "{repr}");
        }
        let te =
            Repr::TimeExceeded { reason: TimeExceeded::HopLimitExceeded, data: &PTB_BYTES[8..] };
        let mut bytes = vec![0xa5; te.buffer_len()];
        te.emit(&ROUTER, &DST, &mut Packet::new_unchecked(&mut bytes)).unwrap();
        assert_eq!(Repr::parse(&ROUTER, &DST, &Packet::new_checked(&bytes[..]).unwrap()), Ok(te));
        let du = Repr::DstUnreachable { reason: DstUnreachable::NoRoute, data: &PTB_BYTES[8..] };
        let mut bytes = vec![0xa5; du.buffer_len()];
        du.emit(&ROUTER, &DST, &mut Packet::new_unchecked(&mut bytes)).unwrap();
        assert_eq!(Repr::parse(&ROUTER, &DST, &Packet::new_checked(&bytes[..]).unwrap()), Ok(du));
        let ns = Repr::NeighborSolicit { target_addr: LL2, lladdr: None };
        let mut bytes = vec![0xa5; ns.buffer_len()];
        ns.emit(&LL1, &SNM2, &mut Packet::new_unchecked(&mut bytes)).unwrap();
        assert_eq!(Repr::parse(&LL1, &SNM2, &Packet::new_checked(&bytes[..]).unwrap()), Ok(ns));
        let mut wrong = vec![0u8; 31];
        assert_eq!(ns_repr().emit(&LL1, &SNM2, &mut Packet::new_unchecked(&mut wrong)), Err(Error));
    }

    #[test]
    fn test_buffer_len() {
        assert_eq!(ns_repr().buffer_len(), 32);
        assert_eq!(na_repr().buffer_len(), 32);
        assert_eq!(echo_repr().buffer_len(), 16);
        assert_eq!(ptb_repr().buffer_len(), 56);
        assert_eq!(ERROR_DATA_MAX_LEN, 1232);
    }

    #[test]
    fn test_find_lladdr_option() {
        // An MTU option (8 bytes) before the source link-layer address is skipped.
        let opts = [5, 1, 0, 0, 0, 0, 5, 0xdc, 1, 1, 2, 0, 0, 0, 0, 1];
        assert_eq!(find_lladdr_option(&opts, NdOption::SourceLinkLayerAddr), Ok(Some(MAC1)));
        assert_eq!(find_lladdr_option(&opts, NdOption::TargetLinkLayerAddr), Ok(None));
        assert_eq!(find_lladdr_option(&opts[..15], NdOption::SourceLinkLayerAddr), Err(Error));
        assert_eq!(find_lladdr_option(&[1], NdOption::SourceLinkLayerAddr), Err(Error));
        assert_eq!(find_lladdr_option(&[], NdOption::SourceLinkLayerAddr), Ok(None));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80),
                                       ty in prop::sample::select(vec![1u8, 2, 3, 128, 129, 135, 136])) {
            let mut bytes = bytes;
            if let Some(b) = bytes.first_mut() {
                *b = ty;
            }
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.echo_ident(),
                         p.echo_seq_no(), p.pkt_too_big_mtu(), p.param_problem_ptr(),
                         p.router_flag(), p.solicited_flag(), p.override_flag(),
                         p.target_addr(), p.data(), p.nd_options(),
                         p.verify_checksum(&SRC, &DST));
                let _ = p.to_string();
                let mut copy = bytes.clone();
                Packet::new_checked(&mut copy[..]).unwrap().fill_checksum(&SRC, &DST);
                let pc = Packet::new_checked(&copy[..]).unwrap();
                if let Ok(repr) = Repr::parse(&SRC, &DST, &pc) {
                    let mut out = vec![0u8; repr.buffer_len()];
                    repr.emit(&SRC, &DST, &mut Packet::new_unchecked(&mut out[..])).unwrap();
                    let reparsed = Packet::new_checked(&out[..]).unwrap();
                    prop_assert_eq!(Repr::parse(&SRC, &DST, &reparsed), Ok(repr));
                }
            }
            let _ = Packet::new_unchecked(&bytes[..]).to_string();
        }
    }
}
