//! Raw IPv4 sockets for `--traffic`: ESP (IP protocol 50) is no UDP, and the standard
//! library opens no raw socket, so `socket2` makes the descriptors. A raw IPv4 socket
//! takes `sendto(2)` and `recvfrom(2)` with a `sockaddr_in` as a UDP socket does (the port
//! is ignored on send and reads back as the protocol number), so it is held as a
//! [`UdpSocket`] whose methods are only ever called through [`RawEsp`].

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsFd, BorrowedFd};

use socket2::{Domain, Protocol, Socket, Type};

/// IP protocol number of ESP (RFC 4303).
const IPPROTO_ESP: i32 = 50;
/// `IPPROTO_RAW`: a sending socket whose packets carry their own IPv4 header.
const IPPROTO_RAW: i32 = 255;

/// A nonblocking raw IPv4 socket of `protocol` (close-on-exec, as socket2 opens them).
fn raw_socket(protocol: i32) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(protocol)))?;
    s.set_nonblocking(true)?;
    Ok(UdpSocket::from(s))
}

/// The load tester's raw ESP sockets: one receiving every ESP packet that reaches this
/// network namespace (the IPv4 header included), one sending whole IPv4 packets
/// (`IPPROTO_RAW` implies `IP_HDRINCL`: each packet carries its own source address, the
/// tunnel's).
pub struct RawEsp {
    rx: UdpSocket,
    tx: UdpSocket,
}

impl RawEsp {
    /// Opens both (needs CAP_NET_RAW).
    pub fn open() -> io::Result<RawEsp> {
        Ok(RawEsp { rx: raw_socket(IPPROTO_ESP)?, tx: raw_socket(IPPROTO_RAW)? })
    }

    /// The receiving socket, for epoll.
    pub fn rx_fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }

    /// Sends one whole IPv4 packet (header included) to `to`.
    pub fn send(&self, packet: &[u8], to: Ipv4Addr) -> io::Result<usize> {
        self.tx.send_to(packet, SocketAddr::V4(SocketAddrV4::new(to, 0)))
    }

    /// Receives one ESP packet, its IPv4 header included; `WouldBlock` when none is queued.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.rx.recv_from(buf).map(|(n, _)| n)
    }
}
