//! Logging through `tracing`, with the reference document's `debug crypto ...` switches
//! changing what is logged while the appliance runs.
//!
//! The base filter comes from `FERROGATE_LOG` (default `info`). Each debug facility is a
//! tracing target the control plane logs under ([`control::log`]); `debug crypto ikev2
//! protocol 255` adds a directive for its target on top of the base filter, level 0 takes it
//! away again. ASA debug levels run 1..=255; tracing has three levels below `info`'s
//! neighbours, so the range is cut in three (see [`tracing_level`]).

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// The `debug crypto` facilities: the operator's name and the tracing target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Facility {
    /// `debug crypto ikev2 protocol`: IKEv2 exchanges, payloads, state changes.
    Ikev2Protocol,
    /// `debug crypto ikev2 platform`: what IKEv2 asks of the dataplane (SA installs,
    /// deletes, ACQUIREs, lifetime events).
    Ikev2Platform,
    /// `debug crypto ikev1`: ISAKMP/IKEv1 exchanges.
    Ikev1,
    /// `debug crypto ike-common`: what both versions share (peer selection, multi-peer
    /// failover, crypto map lookups).
    IkeCommon,
}

impl Facility {
    pub const ALL: [Facility; 4] =
        [Facility::Ikev2Protocol, Facility::Ikev2Platform, Facility::Ikev1, Facility::IkeCommon];

    /// The tracing target the control plane logs this facility under.
    pub fn target(self) -> &'static str {
        match self {
            Facility::Ikev2Protocol => control::log::IKEV2_PROTOCOL,
            Facility::Ikev2Platform => control::log::IKEV2_PLATFORM,
            Facility::Ikev1 => control::log::IKEV1,
            Facility::IkeCommon => control::log::IKE_COMMON,
        }
    }

    /// The command that sets it, as the reference document writes it.
    pub fn command(self) -> &'static str {
        match self {
            Facility::Ikev2Protocol => "debug crypto ikev2 protocol",
            Facility::Ikev2Platform => "debug crypto ikev2 platform",
            Facility::Ikev1 => "debug crypto ikev1",
            Facility::IkeCommon => "debug crypto ike-common",
        }
    }
}

/// The tracing level of an ASA debug level: 0 off, 1..=63 `info` (events worth a line),
/// 64..=127 `debug` (each message and decision), 128..=255 `trace` (payload dumps).
pub fn tracing_level(level: u8) -> Option<&'static str> {
    match level {
        0 => None,
        1..=63 => Some("info"),
        64..=127 => Some("debug"),
        128..=255 => Some("trace"),
    }
}

struct State {
    base: String,
    levels: BTreeMap<Facility, u8>,
    handle: reload::Handle<EnvFilter, Registry>,
}

static STATE: OnceLock<Mutex<State>> = OnceLock::new();

/// Installs the subscriber (stderr, ANSI when a terminal); `FERROGATE_LOG` is the base
/// filter. Call once, first thing.
pub fn init() {
    let base = std::env::var("FERROGATE_LOG").unwrap_or_else(|_| "info".into());
    let filter = EnvFilter::try_new(&base).unwrap_or_else(|e| {
        eprintln!("FERROGATE_LOG={base:?}: {e}; using \"info\"");
        EnvFilter::new("info")
    });
    let (layer, handle) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if tracing_subscriber::registry().with(layer).with(fmt).try_init().is_ok() {
        let _ = STATE.set(Mutex::new(State { base, levels: BTreeMap::new(), handle }));
    }
}

/// Sets one facility's debug level (0: off) and returns every facility's level now.
pub fn set_debug(facility: Facility, level: u8) -> Result<BTreeMap<Facility, u8>, String> {
    let state = STATE.get().ok_or("logging is not initialised in this process")?;
    let mut s = state.lock().map_err(|_| "the logging state is poisoned")?;
    if level == 0 {
        s.levels.remove(&facility);
    } else {
        s.levels.insert(facility, level);
    }
    let directives = filter_text(&s.base, &s.levels);
    let filter = EnvFilter::try_new(&directives).map_err(|e| format!("{directives:?}: {e}"))?;
    s.handle.reload(filter).map_err(|e| e.to_string())?;
    tracing::info!("{} {level}: log filter now {directives:?}", facility.command());
    Ok(s.levels.clone())
}

/// Turns every facility off (`undebug all`).
pub fn undebug_all() -> Result<BTreeMap<Facility, u8>, String> {
    for f in Facility::ALL {
        set_debug(f, 0)?;
    }
    Ok(BTreeMap::new())
}

/// The facilities switched on, with their levels.
pub fn debug_levels() -> BTreeMap<Facility, u8> {
    STATE.get().and_then(|s| s.lock().ok()).map(|s| s.levels.clone()).unwrap_or_default()
}

/// The filter for `base` plus one directive per facility switched on.
pub fn filter_text(base: &str, levels: &BTreeMap<Facility, u8>) -> String {
    let mut out = base.to_owned();
    for (f, &l) in levels {
        if let Some(t) = tracing_level(l) {
            out.push_str(&format!(",{}={t}", f.target()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_onto_tracing() {
        assert_eq!(tracing_level(0), None);
        assert_eq!(tracing_level(1), Some("info"));
        assert_eq!(tracing_level(63), Some("info"));
        assert_eq!(tracing_level(64), Some("debug"));
        assert_eq!(tracing_level(127), Some("debug"));
        assert_eq!(tracing_level(128), Some("trace"));
        assert_eq!(tracing_level(255), Some("trace"));
    }

    #[test]
    fn filter_adds_one_directive_per_facility() {
        let mut l = BTreeMap::new();
        assert_eq!(filter_text("warn", &l), "warn");
        l.insert(Facility::IkeCommon, 255);
        l.insert(Facility::Ikev2Protocol, 100);
        assert_eq!(filter_text("warn", &l), "warn,ikev2_protocol=debug,ike_common=trace");
        assert!(EnvFilter::try_new(filter_text("info", &l)).is_ok());
    }
}
