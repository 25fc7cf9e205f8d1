//! The operator interface: a Unix control socket served by the running appliance's control
//! thread, and the client side used by `ferrogate show ...` and `ferrogate clear ...`.
//!
//! The protocol is one JSON request line and one JSON response line per connection
//! ([`model::Request`], [`model::Response`]); `socat - UNIX-CONNECT:/run/ferrogate/fg-lab.sock`
//! with `{"request":"snapshot"}` is enough to talk to it by hand. The appliance binds an
//! [`OperatorServer`] at [`default_socket_path`] of its EAL file prefix (mode 0600: root only)
//! and calls [`OperatorServer::poll`] from its control thread. `clear ... counters` is served
//! by the server alone ([`baseline`]): the dataplane's counters are never reset.

pub mod baseline;
pub mod clear;
pub mod client;
pub mod debug;
pub mod failover;
pub mod ike_view;
pub mod initiate;
pub mod model;
pub mod policy_view;
pub mod reload;
pub mod render;
pub mod server;
pub mod show;

pub use clear::ClearArgs;
pub use client::{ClientError, DEFAULT_INSTANCE, default_socket_path, request};
pub use model::{
    ClearScope, Direction, InterfaceSnap, Request, Response, SaSnap, Snapshot, WorkerSnap,
};
pub use server::{OperatorServer, ServerStats};
pub use show::ShowArgs;
