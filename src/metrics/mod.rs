//! Prometheus metrics: an HTTP endpoint that answers `GET /metrics` with the appliance's
//! counters in the text exposition format 0.0.4.
//!
//! The appliance binds a [`MetricsServer`] on the configured TCP address (off unless
//! configured) and calls [`MetricsServer::poll`] from its control thread, next to the
//! operator socket; the server asks for a [`Scrape`] (the operator [`Snapshot`] plus, once
//! IKE runs, its [`IkeCounters`]) only when a scrape is waiting, and [`render`] turns it
//! into metric families ([`render`]'s module doc lists the conventions).
//!
//! The endpoint has no authentication: bind it to loopback or a management network.
//!
//! [`Snapshot`]: crate::operator::model::Snapshot

pub mod exposition;
pub mod http;
pub mod render;
pub mod scrape;
pub mod server;

pub use render::{Options, render};
pub use scrape::{IkeCounters, Scrape};
pub use server::{Limits, MetricsServer, ServerStats};
