//! `ferrogate debug crypto ...` / `undebug all` / `debug show`: the reference document's
//! debug commands, sent to a running appliance, which changes its log filter.

use std::collections::BTreeMap;

use clap::Subcommand;

use super::model::{Request, Response};
use super::show::Target;
use crate::logging::Facility;

/// Arguments of `debug`.
#[derive(Debug, clap::Args)]
pub struct DebugArgs {
    /// What to debug.
    #[command(subcommand)]
    pub what: DebugWhat,
}

/// `debug crypto ...` or `debug show`.
#[derive(Debug, Subcommand)]
pub enum DebugWhat {
    /// Control-plane facilities.
    Crypto(CryptoDebugArgs),
    /// The facilities switched on, with their levels (ASA `show debug`).
    Show(Target),
}

/// `debug crypto ...`.
#[derive(Debug, clap::Args)]
pub struct CryptoDebugArgs {
    /// Which facility.
    #[command(subcommand)]
    pub what: CryptoFacility,
}

/// The facilities.
#[derive(Debug, Subcommand)]
pub enum CryptoFacility {
    /// `debug crypto ikev2 protocol|platform [LEVEL]`.
    Ikev2(Ikev2DebugArgs),
    /// `debug crypto ikev1 [LEVEL]`.
    Ikev1(Level),
    /// `debug crypto ike-common [LEVEL]`.
    IkeCommon(Level),
}

/// `debug crypto ikev2 ...`.
#[derive(Debug, clap::Args)]
pub struct Ikev2DebugArgs {
    /// Which part of IKEv2.
    #[command(subcommand)]
    pub what: Ikev2Part,
}

/// The IKEv2 facilities.
#[derive(Debug, Subcommand)]
pub enum Ikev2Part {
    /// Exchanges, payloads and state changes.
    Protocol(Level),
    /// What IKEv2 asks of the dataplane.
    Platform(Level),
}

/// A debug level and where to send it.
#[derive(Debug, clap::Args)]
pub struct Level {
    /// 1..=255 (1: events; 64 and up: every message; 128 and up: payload dumps); 0: off.
    #[arg(default_value_t = 1)]
    pub level: u8,
    /// Where and how to ask.
    #[command(flatten)]
    pub target: Target,
}

/// Arguments of `undebug`.
#[derive(Debug, clap::Args)]
pub struct UndebugArgs {
    /// What to turn off.
    #[command(subcommand)]
    pub what: UndebugWhat,
}

/// `undebug all`.
#[derive(Debug, Subcommand)]
pub enum UndebugWhat {
    /// Every facility.
    All(Target),
}

/// Runs `debug ...`: the text to print, or the message for stderr.
pub fn run(args: &DebugArgs) -> Result<String, String> {
    let (req, target) = match &args.what {
        DebugWhat::Show(t) => (Request::ShowDebug, t),
        DebugWhat::Crypto(CryptoDebugArgs { what }) => {
            let (facility, l) = match what {
                CryptoFacility::Ikev2(Ikev2DebugArgs { what: Ikev2Part::Protocol(l) }) => {
                    (Facility::Ikev2Protocol, l)
                }
                CryptoFacility::Ikev2(Ikev2DebugArgs { what: Ikev2Part::Platform(l) }) => {
                    (Facility::Ikev2Platform, l)
                }
                CryptoFacility::Ikev1(l) => (Facility::Ikev1, l),
                CryptoFacility::IkeCommon(l) => (Facility::IkeCommon, l),
            };
            (Request::Debug { facility, level: l.level }, &l.target)
        }
    };
    ask(&req, target)
}

/// Runs `undebug all`.
pub fn run_undebug(args: &UndebugArgs) -> Result<String, String> {
    let UndebugWhat::All(t) = &args.what;
    ask(&Request::UndebugAll, t)
}

fn ask(req: &Request, t: &Target) -> Result<String, String> {
    match t.connect.ask(req)? {
        Response::Debug { levels } => Ok(if t.json { json(&levels) } else { text(&levels) }),
        other => Err(t.connect.unexpected(&other)),
    }
}

/// ASA `show debug` style: one line per facility switched on.
pub fn text(levels: &BTreeMap<Facility, u8>) -> String {
    if levels.is_empty() {
        return "No debug facility is on\n".into();
    }
    levels.iter().map(|(f, l)| format!("{} {l}\n", f.command())).collect()
}

/// `{"ikev2-protocol": 255}`.
pub fn json(levels: &BTreeMap<Facility, u8>) -> String {
    serde_json::to_string_pretty(levels).unwrap_or_default() + "\n"
}

/// The appliance's side: applies a debug request to this process's log filter.
pub fn serve(req: &Request) -> Response {
    let r = match req {
        Request::Debug { facility, level } => crate::logging::set_debug(*facility, *level),
        Request::UndebugAll => crate::logging::undebug_all(),
        Request::ShowDebug => Ok(crate::logging::debug_levels()),
        _ => Err("not a debug request".into()),
    };
    match r {
        Ok(levels) => Response::Debug { levels },
        Err(e) => Response::error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(subcommand)]
        what: DebugWhat,
    }

    fn request(args: &[&str]) -> Option<Request> {
        let t = T::try_parse_from(std::iter::once("debug").chain(args.iter().copied())).ok()?;
        Some(match t.what {
            DebugWhat::Show(_) => Request::ShowDebug,
            DebugWhat::Crypto(CryptoDebugArgs { what }) => match what {
                CryptoFacility::Ikev2(Ikev2DebugArgs { what: Ikev2Part::Protocol(l) }) => {
                    Request::Debug { facility: Facility::Ikev2Protocol, level: l.level }
                }
                CryptoFacility::Ikev2(Ikev2DebugArgs { what: Ikev2Part::Platform(l) }) => {
                    Request::Debug { facility: Facility::Ikev2Platform, level: l.level }
                }
                CryptoFacility::Ikev1(l) => {
                    Request::Debug { facility: Facility::Ikev1, level: l.level }
                }
                CryptoFacility::IkeCommon(l) => {
                    Request::Debug { facility: Facility::IkeCommon, level: l.level }
                }
            },
        })
    }

    #[test]
    fn the_reference_documents_commands_parse() {
        let d = |facility, level| Some(Request::Debug { facility, level });
        assert_eq!(
            request(&["crypto", "ikev2", "protocol", "255"]),
            d(Facility::Ikev2Protocol, 255)
        );
        assert_eq!(
            request(&["crypto", "ikev2", "platform", "255"]),
            d(Facility::Ikev2Platform, 255)
        );
        assert_eq!(request(&["crypto", "ike-common", "255"]), d(Facility::IkeCommon, 255));
        assert_eq!(request(&["crypto", "ikev1", "--json"]), d(Facility::Ikev1, 1));
        assert_eq!(request(&["crypto", "ikev1", "0"]), d(Facility::Ikev1, 0));
        assert_eq!(request(&["show"]), Some(Request::ShowDebug));
        assert_eq!(request(&["crypto", "ikev2", "protocol", "256"]), None);
        assert_eq!(request(&["crypto", "ikev3", "1"]), None);
    }

    #[test]
    fn show_debug_text_and_json() {
        assert_eq!(text(&BTreeMap::new()), "No debug facility is on\n");
        let l = BTreeMap::from([(Facility::Ikev2Protocol, 255), (Facility::IkeCommon, 1)]);
        assert_eq!(text(&l), "debug crypto ikev2 protocol 255\ndebug crypto ike-common 1\n");
        let v: serde_json::Value = serde_json::from_str(&json(&l)).unwrap();
        assert_eq!(v["ikev2-protocol"], 255);
        assert_eq!(v["ike-common"], 1);
    }
}
