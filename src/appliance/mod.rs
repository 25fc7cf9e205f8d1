//! The appliance runtime: interfaces, routes, static SAs and policies from the config file
//! ([`config`]), the pipeline on DPDK worker lcores and the control thread ([`runtime`]),
//! and what a run reports ([`report`]).

pub mod config;
mod control;
mod esp_liveness;
mod ha;
mod ike;
mod ike1;
mod reload;
pub mod report;
pub mod runtime;

pub use config::ApplianceConfig;
pub use report::ApplianceReport;
pub use runtime::run;
