//! What one scrape exposes: the operator [`Snapshot`] and, once the control plane runs IKE,
//! its exchange counters.

use std::collections::BTreeMap;

use crate::operator::model::Snapshot;

/// The data behind one `GET /metrics`, handed to the server by the control thread only when
/// a scrape is waiting (building a snapshot of many SAs is not free).
#[derive(Debug, Clone, PartialEq)]
pub struct Scrape {
    /// The appliance's counters, raw: never the operator's `clear counters` view, because
    /// Prometheus counters must not go backwards.
    pub snapshot: Snapshot,
    /// The IKE daemon's counters; `None` while the appliance runs no IKE (nothing is
    /// exposed for it then, rather than zeros that would claim exchanges were counted).
    pub ike: Option<IkeCounters>,
    /// The failover unit's state; `None` without `[ha]`.
    pub failover: Option<crate::operator::failover::FailoverSnap>,
}

/// Outcomes of IKE exchanges since start, as the IKE daemon counts them. Exposed as
/// `ferrogate_ike_exchanges_total{exchange,outcome[,cause]}`:
///
/// | field | `exchange` | `outcome` |
/// |---|---|---|
/// | `sa_init_ok` | `ike_sa_init` | `ok` |
/// | `sa_init_fail_by_cause` | `ike_sa_init` | `failed`, with `cause` = the key |
/// | `auth_ok` | `ike_auth` | `ok` |
/// | `auth_fail_by_cause` | `ike_auth` | `failed`, with `cause` = the key |
/// | `rekeys` | `create_child_sa` | `rekeyed` |
/// | `dpd_timeouts` | `informational` | `dpd_timeout` |
///
/// Causes are short snake_case names, e.g. the notify type a peer sent or we answered with
/// (`no_proposal_chosen`, `authentication_failed`, `ts_unacceptable`) or `timeout`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IkeCounters {
    /// IKE_SA_INIT exchanges that completed.
    pub sa_init_ok: u64,
    /// IKE_SA_INIT exchanges that failed, by cause.
    pub sa_init_fail_by_cause: BTreeMap<String, u64>,
    /// IKE_AUTH exchanges that authenticated the peer and installed the first Child SA.
    pub auth_ok: u64,
    /// IKE_AUTH exchanges that failed, by cause.
    pub auth_fail_by_cause: BTreeMap<String, u64>,
    /// IKE and Child SA rekeys that completed.
    pub rekeys: u64,
    /// Peers declared dead by dead peer detection.
    pub dpd_timeouts: u64,
    /// Duplicate SAs found and reduced to one (crossing initiations, duplicate tunnels):
    /// IKE SAs and Child SA pairs.
    pub duplicate_ike_sas: u64,
    pub duplicate_child_sas: u64,
}
