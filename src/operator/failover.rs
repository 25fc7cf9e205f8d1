//! `ferrogate show failover` and `ferrogate failover active | standby | reload-standby`:
//! the failover pair's state and the ASA's switchover commands (`failover active`, `no
//! failover active`, `failover reload-standby`).

use serde::{Deserialize, Serialize};

use super::model::{Request, Response};
use super::show::Connect;

/// What `show failover` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverSnap {
    /// `primary` or `secondary`.
    pub role: String,
    /// `negotiating`, `active`, `standby` (lower case).
    pub state: String,
    /// Standby: it holds a complete copy of the active's SAs.
    pub synced: bool,
    /// The mate is heard.
    pub mate_up: bool,
    /// The mate's state as its last hello said.
    pub mate_state: Option<String>,
    /// The failover link: our address and the mate's.
    pub local: String,
    pub peer: String,
    /// Hello interval and hold time.
    pub hello_ms: u64,
    pub hold_ms: u64,
    /// IKE SAs and Child SAs held (the active's replicated mirror, or the standby's copy).
    pub ike_sas: usize,
    pub child_sas: usize,
    /// Times this unit became active.
    pub takeovers: u64,
    /// The last role change and why, e.g. `active (mate silent)`, with its age.
    pub last_change: Option<String>,
    pub last_change_age_s: Option<u64>,
    /// Failover messages sent and received, and those refused (bad seal, replay, ...).
    pub messages_sent: u64,
    pub messages_received: u64,
    pub messages_refused: u64,
    /// Replication records sent (active) or applied (standby).
    pub records: u64,
    /// SAs the takeovers installed, and those the dataplane or IKE refused.
    pub installed_ike_sas: u64,
    pub installed_child_sas: u64,
    pub install_failed: u64,
    /// IKE datagrams dropped because this unit was not active (the mate answers them).
    pub ike_dropped_not_active: u64,
}

/// What `ferrogate failover` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum FailoverAction {
    /// Make this unit active (`failover active`): the mate hands over.
    Active,
    /// Make this unit standby (`no failover active`): the mate takes over.
    Standby,
    /// Active unit: tell the standby to rebuild its copy (`failover reload-standby`).
    ReloadStandby,
}

/// Arguments of `failover`.
#[derive(Debug, clap::Args)]
pub struct FailoverArgs {
    /// `active`, `standby` or `reload-standby`.
    pub action: FailoverAction,
    /// Which appliance.
    #[command(flatten)]
    pub connect: Connect,
}

/// Runs `failover ...`: the line to print, or the message for stderr.
pub fn run(args: &FailoverArgs) -> Result<String, String> {
    match args.connect.ask(&Request::Failover { action: args.action })? {
        Response::FailoverDone { line } => Ok(line + "\n"),
        other => Err(args.connect.unexpected(&other)),
    }
}

/// `show failover` as text, in the ASA's manner.
pub fn render(s: &FailoverSnap) -> String {
    let cap = |w: &str| {
        let mut c = w.chars();
        c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
    };
    let mut out = format!(
        "Failover On\nFailover link: {} -> {}, hello {} ms, hold {} ms\n",
        s.local, s.peer, s.hello_ms, s.hold_ms
    );
    out += &format!(
        "        This host: {} - {}{}\n",
        cap(&s.role),
        cap(&s.state),
        if s.state == "standby" {
            if s.synced { " Ready" } else { " (sync in progress)" }
        } else {
            ""
        }
    );
    let mate_role = if s.role == "primary" { "Secondary" } else { "Primary" };
    let mate = match (&s.mate_state, s.mate_up) {
        (Some(st), true) => cap(st),
        _ => "Failed (not heard)".into(),
    };
    out += &format!("        Other host: {mate_role} - {mate}\n");
    if let (Some(c), Some(age)) = (&s.last_change, s.last_change_age_s) {
        out += &format!("Last failover: {c}, {age} s ago\n");
    }
    out += &format!(
        "Stateful failover: {} IKE SA(s), {} Child SA(s) held; {} record(s); {} takeover(s)\n",
        s.ike_sas, s.child_sas, s.records, s.takeovers
    );
    out += &format!(
        "Messages: {} sent, {} received, {} refused; installed at takeover: {} IKE SA(s), \
         {} Child SA(s), {} failed\n",
        s.messages_sent,
        s.messages_received,
        s.messages_refused,
        s.installed_ike_sas,
        s.installed_child_sas,
        s.install_failed
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> FailoverSnap {
        FailoverSnap {
            role: "secondary".into(),
            state: "standby".into(),
            synced: true,
            mate_up: true,
            mate_state: Some("active".into()),
            local: "198.18.0.2".into(),
            peer: "198.18.0.1".into(),
            hello_ms: 200,
            hold_ms: 1000,
            ike_sas: 1,
            child_sas: 2,
            takeovers: 0,
            last_change: Some("standby (an active mate answered)".into()),
            last_change_age_s: Some(12),
            messages_sent: 10,
            messages_received: 11,
            messages_refused: 0,
            records: 3,
            installed_ike_sas: 0,
            installed_child_sas: 0,
            install_failed: 0,
            ike_dropped_not_active: 0,
        }
    }

    #[test]
    fn text_names_both_units_and_the_copy() {
        let t = render(&snap());
        assert!(t.contains("This host: Secondary - Standby Ready"), "{t}");
        assert!(t.contains("Other host: Primary - Active"), "{t}");
        assert!(t.contains("1 IKE SA(s), 2 Child SA(s) held"), "{t}");
        let mut s = snap();
        s.mate_up = false;
        s.synced = false;
        let t = render(&s);
        assert!(t.contains("Other host: Primary - Failed (not heard)"), "{t}");
        assert!(t.contains("Standby (sync in progress)"), "{t}");
    }

    #[test]
    fn wire_form() {
        let r = Request::Failover { action: FailoverAction::ReloadStandby };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"request":"failover","action":"reload_standby"}"#
        );
        let back: Request = serde_json::from_str(r#"{"request":"show_failover"}"#).unwrap();
        assert_eq!(back, Request::ShowFailover);
    }
}
