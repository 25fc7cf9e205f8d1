//! L2/L3 duties of a worker: interfaces and their addresses, static routes with
//! longest-prefix match, the neighbour table (ARP and IPv6 neighbour discovery), IP
//! forwarding helpers (TTL, ICMP errors, echo replies) and the classification of received
//! frames into "for the control plane", "ESP for us", "forward" or "drop".
//!
//! Everything is sans-IO: the caller passes `now_ns` and the frames; outputs are written
//! into caller buffers or handed to caller closures. Tables are sized when they are built,
//! so the per-packet path does not allocate.

/// Hash maps probed per packet (own addresses, routes, neighbours): foldhash with a
/// per-process random seed, several times faster than SipHash on these small keys. The
/// tables are bounded (configured routes and addresses, a fixed-capacity neighbour table),
/// so a crafted-collision attack has little to grow.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

pub mod classify;
pub mod forward;
pub mod iface;
pub mod neigh;
pub mod route;

pub use self::classify::{Classified, DropReason, Punt, Verdict, classify};
pub use self::iface::{IfIndex, Interface, Interfaces, Ipv4Cidr, Ipv6Cidr, Role};
pub use self::neigh::{NeighConfig, NeighEvent, NeighState, NeighTable};
pub use self::route::{NextHop, Route, RouteTable};
