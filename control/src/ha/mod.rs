//! High availability: an active/standby failover pair with stateful failover of IKE and
//! IPsec SAs (issue 9), sans-IO.
//!
//! - [`wire`]: the failover link's messages and clear header;
//! - [`seal`]: AES-256-GCM sealing with keys derived from the shared `failover key`,
//!   boot epochs and the anti-replay window;
//! - [`record`]: the replicated IKE SA and Child SA state, as plain data;
//! - [`replicate`]: the active's replicator, the standby's store, the takeover margin;
//! - [`pair`]: the pair state machine (election, failure detection, split brain,
//!   switchover, preemption).
//!
//! The appliance owns the failover link's socket, the virtual addresses (gratuitous ARP,
//! unsolicited NA on takeover) and the conversion between the IKEv1 state machine and
//! [`record`]'s types (IKEv2's is [`IkeSa::export`](crate::ikev2::sa::IkeSa::export) and
//! [`IkeSa::import`](crate::ikev2::sa::IkeSa::import)); this module decides and tells it
//! when.

mod codec;
pub mod pair;
pub mod record;
pub mod replicate;
pub mod seal;
pub mod wire;

pub use codec::WireError;
pub use pair::{
    ActiveReason, BadCounts, CommandError, ConfigError, Event, MateStatus, Pair, PairConfig,
    ReplicateError, StandbyReason, Stats, Status,
};
pub use record::{
    ChildLifetimes, ChildPhase, ChildSaRecord, ChildTransforms, IkeExtensions, IkeKeys,
    IkeSaRecord, IkeTransforms, LocalAuthRecord, MapRef, Record, RemoteAuthRecord, ReplayState,
    Selector, SignatureRecord,
};
pub use replicate::{ActiveReplicator, Anomalies, MarginRule, StandbyStore, Takeover};
pub use seal::{Channel, FailoverKey, OpenError};
pub use wire::{Health, Hello, Message, Role, State};
