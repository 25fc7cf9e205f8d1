//! Interface descriptions and the "is this one of my addresses" lookups.

use core::fmt;

use super::FastMap;
use crate::buf::{BufError, PacketBuf};
use crate::wire::{EtherType, EthernetAddress, EthernetFrame, Ipv4Addr, Ipv6Addr, ethernet};

/// Index of an interface in an [`Interfaces`] set (stable for the set's lifetime).
pub type IfIndex = usize;

/// Which side of the concentrator an interface faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Protected networks (cleartext side).
    Inside,
    /// Untrusted network where peers and ESP live.
    Outside,
}

/// An IPv4 address with a prefix length (`192.0.2.1/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Cidr {
    /// `None` if the prefix length exceeds 32.
    pub const fn new(addr: Ipv4Addr, prefix_len: u8) -> Option<Ipv4Cidr> {
        if prefix_len > 32 { None } else { Some(Ipv4Cidr { addr, prefix_len }) }
    }

    /// The address as given (host bits kept).
    pub const fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The network mask as an integer.
    pub const fn mask(&self) -> u32 {
        mask_u32(self.prefix_len)
    }

    /// The network address (host bits cleared).
    pub const fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.addr.to_bits() & self.mask())
    }

    /// Whether `addr` lies in this prefix.
    pub const fn contains(&self, addr: Ipv4Addr) -> bool {
        (addr.to_bits() ^ self.addr.to_bits()) & self.mask() == 0
    }

    /// The directed broadcast address of the prefix (all host bits set).
    pub const fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.addr.to_bits() | !self.mask())
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// An IPv6 address with a prefix length (`2001:db8::1/64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Cidr {
    addr: Ipv6Addr,
    prefix_len: u8,
}

impl Ipv6Cidr {
    /// `None` if the prefix length exceeds 128.
    pub const fn new(addr: Ipv6Addr, prefix_len: u8) -> Option<Ipv6Cidr> {
        if prefix_len > 128 { None } else { Some(Ipv6Cidr { addr, prefix_len }) }
    }

    /// The address as given (host bits kept).
    pub const fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    /// The prefix length.
    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The network mask as an integer.
    pub const fn mask(&self) -> u128 {
        mask_u128(self.prefix_len)
    }

    /// The network address (host bits cleared).
    pub const fn network(&self) -> Ipv6Addr {
        Ipv6Addr::from_bits(self.addr.to_bits() & self.mask())
    }

    /// Whether `addr` lies in this prefix.
    pub const fn contains(&self, addr: Ipv6Addr) -> bool {
        (addr.to_bits() ^ self.addr.to_bits()) & self.mask() == 0
    }
}

impl fmt::Display for Ipv6Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// Mask of `len` leading one bits (`len` ≤ 32).
pub(crate) const fn mask_u32(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len as u32) }
}

/// Mask of `len` leading one bits (`len` ≤ 128).
pub(crate) const fn mask_u128(len: u8) -> u128 {
    if len == 0 { 0 } else { u128::MAX << (128 - len as u32) }
}

/// The solicited-node multicast address of `addr`: ff02::1:ffXX:XXXX with the low 24 bits
/// of `addr` (RFC 4291 section 2.7.1). Neighbor Solicitations are sent to it.
pub const fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    Ipv6Addr::from_bits(0xff02_0000_0000_0000_0000_0001_ff00_0000 | (addr.to_bits() & 0xff_ffff))
}

/// The Ethernet multicast address an IPv6 multicast address maps to: 33:33 followed by its
/// low 32 bits (RFC 2464 section 7).
pub const fn ipv6_multicast_mac(addr: Ipv6Addr) -> EthernetAddress {
    let o = addr.octets();
    EthernetAddress([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// One L3 interface: a DPDK port, optionally one 802.1Q VLAN on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// DPDK port the interface lives on.
    pub port: u16,
    /// 802.1Q VLAN id (1..=4094), or `None` for untagged frames.
    pub vlan: Option<u16>,
    /// The interface's MAC address.
    pub mac: EthernetAddress,
    /// IPv4 addresses with their prefix lengths; the first one sources ICMP errors.
    pub ipv4: Vec<Ipv4Cidr>,
    /// IPv6 addresses with their prefix lengths; the first global one sources ICMPv6
    /// errors.
    pub ipv6: Vec<Ipv6Cidr>,
    /// IP MTU in bytes.
    pub mtu: u16,
    /// Inside or outside.
    pub role: Role,
}

impl Interface {
    /// Whether `addr` is one of this interface's IPv4 addresses.
    pub fn has_ipv4(&self, addr: Ipv4Addr) -> bool {
        self.ipv4.iter().any(|c| c.addr() == addr)
    }

    /// Whether `addr` is one of this interface's IPv6 addresses.
    pub fn has_ipv6(&self, addr: Ipv6Addr) -> bool {
        self.ipv6.iter().any(|c| c.addr() == addr)
    }

    /// Whether `addr` is the solicited-node group of one of this interface's IPv6 addresses
    /// or all-nodes (ff02::1): multicast groups the interface listens to.
    pub fn listens_ipv6_multicast(&self, addr: Ipv6Addr) -> bool {
        addr == Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)
            || self.ipv6.iter().any(|c| solicited_node(c.addr()) == addr)
    }

    /// The address ICMPv4 errors leave from: the first IPv4 address.
    pub fn primary_ipv4(&self) -> Option<Ipv4Addr> {
        self.ipv4.first().map(|c| c.addr())
    }

    /// The address ICMPv6 errors leave from: the first non-link-local address, else the
    /// first one.
    pub fn primary_ipv6(&self) -> Option<Ipv6Addr> {
        self.ipv6
            .iter()
            .find(|c| !c.addr().is_unicast_link_local())
            .or(self.ipv6.first())
            .map(|c| c.addr())
    }

    /// The source address for a packet to `dst` on this link: an address whose prefix
    /// contains `dst`, else [`primary_ipv6`](Interface::primary_ipv6). Link-local
    /// destinations get a link-local source (RFC 6724 rule 2, reduced).
    pub fn source_ipv6_for(&self, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        self.ipv6
            .iter()
            .find(|c| {
                c.contains(dst) && c.addr().is_unicast_link_local() == dst.is_unicast_link_local()
            })
            .map(|c| c.addr())
            .or_else(|| self.primary_ipv6())
    }

    /// The source address for a packet to `dst`: an address whose prefix contains `dst`,
    /// else the primary one.
    pub fn source_ipv4_for(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        self.ipv4.iter().find(|c| c.contains(dst)).map(|c| c.addr()).or_else(|| self.primary_ipv4())
    }

    /// Length of the L2 header this interface writes: 14, or 18 with a VLAN tag.
    pub const fn l2_len(&self) -> usize {
        if self.vlan.is_some() {
            ethernet::HEADER_LEN + ethernet::VLAN_TAG_LEN
        } else {
            ethernet::HEADER_LEN
        }
    }

    /// Writes the Ethernet header (and the 802.1Q tag, priority 0, if the interface has a
    /// VLAN) for a frame to `dst` carrying `ethertype` at the start of `buf`. Returns the
    /// header length, or `None` if `buf` is too short.
    pub fn write_l2(
        &self,
        buf: &mut [u8],
        dst: EthernetAddress,
        ethertype: EtherType,
    ) -> Option<usize> {
        let len = self.l2_len();
        let hdr = buf.get_mut(..len)?;
        let mut frame = EthernetFrame::new_unchecked(&mut *hdr);
        frame.set_dst_addr(dst);
        frame.set_src_addr(self.mac);
        match self.vlan {
            Some(vid) => {
                frame.set_ethertype(EtherType::Vlan);
                hdr[14..16].copy_from_slice(&(vid & 0x0fff).to_be_bytes());
                hdr[16..18].copy_from_slice(&u16::from(ethertype).to_be_bytes());
            }
            None => frame.set_ethertype(ethertype),
        }
        Some(len)
    }

    /// Prepends this interface's L2 header (see [`write_l2`](Interface::write_l2)) to an
    /// IP packet in `pkt`'s headroom.
    pub fn prepend_l2(
        &self,
        pkt: &mut impl PacketBuf,
        dst: EthernetAddress,
        ethertype: EtherType,
    ) -> Result<(), BufError> {
        let hdr = pkt.prepend(self.l2_len())?;
        // `prepend` returned exactly `l2_len` bytes, so this cannot fail.
        let _ = self.write_l2(hdr, dst, ethertype);
        Ok(())
    }
}

/// The set of interfaces a worker serves. Built once from configuration; own-address
/// lookups are hash probes, since classification asks them for every packet.
#[derive(Debug, Clone, Default)]
pub struct Interfaces {
    list: Vec<Interface>,
    own_v4: FastMap<Ipv4Addr, IfIndex>,
    own_v6: FastMap<Ipv6Addr, IfIndex>,
    /// Per interface, a second unicast MAC whose frames are taken as addressed to us (an
    /// HA unit handing over receives for the pair's MAC while sending from its own).
    also_accepted: Vec<Option<EthernetAddress>>,
}

impl Interfaces {
    /// Builds the set; interfaces get indices in the order given. An address configured on
    /// two interfaces belongs to the first.
    pub fn new(list: Vec<Interface>) -> Interfaces {
        let mut own_v4 = FastMap::default();
        let mut own_v6 = FastMap::default();
        for (index, iface) in list.iter().enumerate() {
            for c in &iface.ipv4 {
                own_v4.entry(c.addr()).or_insert(index);
            }
            for c in &iface.ipv6 {
                own_v6.entry(c.addr()).or_insert(index);
            }
        }
        let also_accepted = vec![None; list.len()];
        Interfaces { list, own_v4, own_v6, also_accepted }
    }

    /// The same set, also taking frames to `mac` on interface `index` as addressed to us
    /// (nothing is ever sent from it). Ignored for an index out of range.
    pub fn also_accept(mut self, index: IfIndex, mac: EthernetAddress) -> Interfaces {
        if let Some(slot) = self.also_accepted.get_mut(index) {
            *slot = Some(mac);
        }
        self
    }

    /// Whether frames to `mac` on interface `index` are ours besides its own MAC.
    #[inline]
    pub fn accepts_also(&self, index: IfIndex, mac: EthernetAddress) -> bool {
        self.also_accepted.get(index).is_some_and(|m| *m == Some(mac))
    }

    /// The interface at `index`.
    pub fn get(&self, index: IfIndex) -> Option<&Interface> {
        self.list.get(index)
    }

    /// Number of interfaces.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are no interfaces.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// All interfaces with their indices.
    pub fn iter(&self) -> impl Iterator<Item = (IfIndex, &Interface)> {
        self.list.iter().enumerate()
    }

    /// The interface a frame received on `port` with VLAN `vlan` (`None`: untagged) belongs
    /// to.
    pub fn find(&self, port: u16, vlan: Option<u16>) -> Option<IfIndex> {
        self.list.iter().position(|i| i.port == port && i.vlan == vlan)
    }

    /// Whether `other` holds the same interfaces (count, order, ports, VLANs, roles), only
    /// with other addresses, MACs or MTUs: what may replace this set on a running worker.
    pub fn same_layout(&self, other: &Interfaces) -> bool {
        self.list.len() == other.list.len()
            && self
                .list
                .iter()
                .zip(&other.list)
                .all(|(a, b)| a.port == b.port && a.vlan == b.vlan && a.role == b.role)
    }

    /// Whether any interface lives on `port`.
    pub fn port_known(&self, port: u16) -> bool {
        self.list.iter().any(|i| i.port == port)
    }

    /// The interface owning IPv4 address `addr`, if it is one of ours.
    pub fn owner_ipv4(&self, addr: Ipv4Addr) -> Option<IfIndex> {
        self.own_v4.get(&addr).copied()
    }

    /// The interface owning IPv6 address `addr`, if it is one of ours.
    pub fn owner_ipv6(&self, addr: Ipv6Addr) -> Option<IfIndex> {
        self.own_v6.get(&addr).copied()
    }

    /// Whether `addr` is one of our IPv4 addresses (on any interface: the weak host model,
    /// RFC 1122 section 3.3.4.2).
    pub fn is_local_ipv4(&self, addr: Ipv4Addr) -> bool {
        self.owner_ipv4(addr).is_some()
    }

    /// Whether `addr` is one of our IPv6 addresses.
    pub fn is_local_ipv6(&self, addr: Ipv6Addr) -> bool {
        self.owner_ipv6(addr).is_some()
    }
}

#[cfg(test)]
pub(crate) mod test {
    use super::*;

    pub(crate) fn sample() -> Interfaces {
        Interfaces::new(vec![
            Interface {
                port: 0,
                vlan: None,
                mac: EthernetAddress([0x02, 0, 0, 0, 0, 1]),
                ipv4: vec![Ipv4Cidr::new(Ipv4Addr::new(192, 0, 2, 1), 24).unwrap()],
                ipv6: vec![
                    Ipv6Cidr::new("fe80::1".parse().unwrap(), 64).unwrap(),
                    Ipv6Cidr::new("2001:db8::1".parse().unwrap(), 64).unwrap(),
                ],
                mtu: 1500,
                role: Role::Outside,
            },
            Interface {
                port: 1,
                vlan: Some(100),
                mac: EthernetAddress([0x02, 0, 0, 0, 0, 2]),
                ipv4: vec![Ipv4Cidr::new(Ipv4Addr::new(10, 1, 0, 1), 16).unwrap()],
                ipv6: vec![],
                mtu: 1500,
                role: Role::Inside,
            },
        ])
    }

    #[test]
    fn cidr_math() {
        let c = Ipv4Cidr::new(Ipv4Addr::new(192, 0, 2, 77), 24).unwrap();
        assert_eq!(c.network(), Ipv4Addr::new(192, 0, 2, 0));
        assert_eq!(c.broadcast(), Ipv4Addr::new(192, 0, 2, 255));
        assert!(c.contains(Ipv4Addr::new(192, 0, 2, 9)));
        assert!(!c.contains(Ipv4Addr::new(192, 0, 3, 9)));
        assert!(Ipv4Cidr::new(Ipv4Addr::UNSPECIFIED, 33).is_none());
        assert!(Ipv4Cidr::new(Ipv4Addr::UNSPECIFIED, 0).unwrap().contains(Ipv4Addr::BROADCAST));
        let c6 = Ipv6Cidr::new("2001:db8::5".parse().unwrap(), 64).unwrap();
        assert!(c6.contains("2001:db8::ffff:1".parse().unwrap()));
        assert!(!c6.contains("2001:db9::1".parse().unwrap()));
        assert_eq!(c6.network(), "2001:db8::".parse::<Ipv6Addr>().unwrap());
        assert!(Ipv6Cidr::new(Ipv6Addr::UNSPECIFIED, 129).is_none());
    }

    #[test]
    fn solicited_node_and_multicast_mac() {
        let a: Ipv6Addr = "2001:db8::12:3456".parse().unwrap();
        assert_eq!(solicited_node(a), "ff02::1:ff12:3456".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            ipv6_multicast_mac(solicited_node(a)),
            EthernetAddress([0x33, 0x33, 0xff, 0x12, 0x34, 0x56])
        );
    }

    #[test]
    fn lookups() {
        let ifs = sample();
        assert_eq!(ifs.find(0, None), Some(0));
        assert_eq!(ifs.find(1, Some(100)), Some(1));
        assert_eq!(ifs.find(1, None), None);
        assert!(ifs.port_known(1) && !ifs.port_known(7));
        assert_eq!(ifs.owner_ipv4(Ipv4Addr::new(10, 1, 0, 1)), Some(1));
        assert!(!ifs.is_local_ipv4(Ipv4Addr::new(10, 1, 0, 2)));
        assert!(ifs.is_local_ipv6("2001:db8::1".parse().unwrap()));
        let i0 = ifs.get(0).unwrap();
        assert_eq!(i0.primary_ipv6(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(
            i0.source_ipv6_for("fe80::9".parse().unwrap()),
            Some("fe80::1".parse().unwrap())
        );
        assert!(i0.listens_ipv6_multicast("ff02::1:ff00:1".parse().unwrap()));
        assert!(!i0.listens_ipv6_multicast("ff02::1:ff00:2".parse().unwrap()));
    }

    #[test]
    fn write_l2_with_and_without_vlan() {
        let ifs = sample();
        let mut buf = [0xa5u8; 18];
        let dst = EthernetAddress([0x02, 9, 9, 9, 9, 9]);
        assert_eq!(ifs.get(0).unwrap().write_l2(&mut buf, dst, EtherType::Ipv4), Some(14));
        assert_eq!(&buf[..14], &[2, 9, 9, 9, 9, 9, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
        assert_eq!(ifs.get(1).unwrap().write_l2(&mut buf, dst, EtherType::Arp), Some(18));
        assert_eq!(&buf[12..18], &[0x81, 0x00, 0x00, 100, 0x08, 0x06]);
        assert_eq!(ifs.get(1).unwrap().write_l2(&mut buf[..17], dst, EtherType::Arp), None);
        let mut pkt = crate::buf::VecBuf::from_slice_with_room(&[0x45, 0], 18, 0);
        ifs.get(1).unwrap().prepend_l2(&mut pkt, dst, EtherType::Ipv4).unwrap();
        assert_eq!(&pkt.data()[12..], &[0x81, 0x00, 0x00, 100, 0x08, 0x00, 0x45, 0]);
        assert!(ifs.get(1).unwrap().prepend_l2(&mut pkt, dst, EtherType::Ipv4).is_err());
    }
}
