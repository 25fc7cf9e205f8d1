//! `ferrogate show ...`: the command-line arguments and what they do.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Subcommand, ValueEnum};

use super::client::{self, DEFAULT_INSTANCE};
use super::model::{Request, Response, Snapshot};
use super::render;

/// Arguments of `show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// What to show.
    #[command(subcommand)]
    pub what: ShowWhat,
}

/// The things `show` shows.
#[derive(Debug, Subcommand)]
pub enum ShowWhat {
    /// Ports (addresses, link, NIC counters), then the workers' counters.
    #[command(alias = "interfaces")]
    Interface(Target),
    /// Crypto state: `show crypto ipsec sa [detail]`.
    Crypto(CryptoArgs),
    /// The workers' counters and the global drops.
    Counters(Target),
    /// The configuration the appliance runs (after the last reload), secrets hidden.
    RunningConfig(Target),
    /// The failover pair: this unit's and the mate's state, the replicated SAs.
    Failover(Target),
}

/// `show crypto ...`.
#[derive(Debug, clap::Args)]
pub struct CryptoArgs {
    /// Which crypto state.
    #[command(subcommand)]
    pub what: CryptoWhat,
}

/// The crypto state `show crypto` shows.
#[derive(Debug, Subcommand)]
pub enum CryptoWhat {
    /// IPsec state: `show crypto ipsec sa`.
    Ipsec(IpsecArgs),
    /// The crypto map entries: peers, ACL, transforms, lifetimes, interfaces.
    Map(Target),
    /// IKEv2 state: `show crypto ikev2 sa [detail]`.
    Ikev2(Ikev2Args),
    /// IKEv1 state: `show crypto ikev1 sa`.
    Ikev1(Ikev1Args),
}

/// `show crypto ikev1 ...`.
#[derive(Debug, clap::Args)]
pub struct Ikev1Args {
    /// Which IKEv1 state.
    #[command(subcommand)]
    pub what: Ikev1What,
}

/// The IKEv1 state `show crypto ikev1` shows.
#[derive(Debug, Subcommand)]
pub enum Ikev1What {
    /// The ISAKMP SAs (peer, role, state, cookies) with their Quick Mode SAs.
    Sa(Target),
}

/// `show crypto ikev2 ...`.
#[derive(Debug, clap::Args)]
pub struct Ikev2Args {
    /// Which IKEv2 state.
    #[command(subcommand)]
    pub what: Ikev2What,
}

/// The IKEv2 state `show crypto ikev2` shows.
#[derive(Debug, Subcommand)]
pub enum Ikev2What {
    /// The IKEv2 SAs with their Child SAs.
    Sa(Ikev2SaArgs),
}

/// `show crypto ikev2 sa [detail]`.
#[derive(Debug, clap::Args)]
pub struct Ikev2SaArgs {
    /// `detail` adds SPIs, the peer's identity, NAT-T and the Child SAs' transforms.
    #[arg(value_name = "detail", num_args = 0..=1)]
    pub words: Vec<String>,
    /// Where and how to ask.
    #[command(flatten)]
    pub target: Target,
}

/// `show crypto ipsec ...`.
#[derive(Debug, clap::Args)]
pub struct IpsecArgs {
    /// Which IPsec state.
    #[command(subcommand)]
    pub what: IpsecWhat,
}

/// The IPsec state `show crypto ipsec` shows.
#[derive(Debug, Subcommand)]
pub enum IpsecWhat {
    /// The ESP SAs grouped by interface and tunnel, with their counters.
    Sa(SaArgs),
}

/// `show crypto ipsec sa [peer ADDR] [detail]`.
#[derive(Debug, clap::Args)]
pub struct SaArgs {
    /// `peer ADDR` keeps the SAs with that remote address; `detail` adds each SA's
    /// counters and drop reasons.
    #[arg(value_name = "peer ADDR | detail", num_args = 0..=3)]
    pub words: Vec<String>,
    /// Where and how to ask.
    #[command(flatten)]
    pub target: Target,
}

/// How much `show crypto ipsec sa` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaView {
    /// Per-SA counters and every drop reason.
    Detail,
}

/// Which appliance to ask, and the output format.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Which appliance.
    #[command(flatten)]
    pub connect: Connect,
}

/// Which appliance to ask.
#[derive(Debug, Clone, clap::Args)]
pub struct Connect {
    /// The operator socket (default: /run/ferrogate/<instance>.sock).
    #[arg(long, value_name = "PATH", conflicts_with = "instance")]
    pub socket: Option<PathBuf>,
    /// The instance: the profile's `[eal] file_prefix` (default: ferrogate).
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub timeout: f64,
}

impl Connect {
    /// The socket to connect to.
    pub fn socket_path(&self) -> PathBuf {
        match (&self.socket, &self.instance) {
            (Some(p), _) => p.clone(),
            (None, Some(i)) => client::default_socket_path(i),
            (None, None) => client::default_socket_path(DEFAULT_INSTANCE),
        }
    }
}

/// Runs `show`: the text to print, or the message for stderr.
pub fn run(args: &ShowArgs) -> Result<String, String> {
    match &args.what {
        ShowWhat::Interface(t) => {
            let snap = fetch(t)?;
            Ok(if t.json { render::interfaces_json(&snap) } else { render::interfaces(&snap) })
        }
        ShowWhat::Counters(t) => {
            let snap = fetch(t)?;
            Ok(if t.json { render::counters_json(&snap) } else { render::counters(&snap) })
        }
        ShowWhat::RunningConfig(t) => match t.connect.ask(&Request::RunningConfig)? {
            Response::RunningConfig { text } => Ok(if t.json {
                serde_json::to_string_pretty(&serde_json::json!({ "running_config": text }))
                    .unwrap_or_default()
                    + "\n"
            } else {
                text
            }),
            other => Err(t.connect.unexpected(&other)),
        },
        ShowWhat::Failover(t) => match t.connect.ask(&Request::ShowFailover)? {
            Response::Failover { status } => Ok(if t.json {
                serde_json::to_string_pretty(&status).unwrap_or_default() + "\n"
            } else {
                super::failover::render(&status)
            }),
            other => Err(t.connect.unexpected(&other)),
        },
        ShowWhat::Crypto(CryptoArgs { what: CryptoWhat::Map(t) }) => {
            match t.connect.ask(&Request::CryptoMap)? {
                Response::CryptoMaps { maps } => Ok(if t.json {
                    serde_json::to_string_pretty(&maps).unwrap_or_default() + "\n"
                } else {
                    super::policy_view::render_crypto_maps(&maps)
                }),
                other => Err(t.connect.unexpected(&other)),
            }
        }
        ShowWhat::Crypto(CryptoArgs { what: CryptoWhat::Ikev2(Ikev2Args { what }) }) => {
            let Ikev2What::Sa(a) = what;
            let detail = match a.words.as_slice() {
                [] => false,
                [w] if w == "detail" => true,
                [w, ..] => {
                    return Err(format!(
                        "show crypto ikev2 sa: unexpected {w:?}; expected [detail]"
                    ));
                }
            };
            match a.target.connect.ask(&Request::Ikev2Sa)? {
                Response::Ikev2Sas { sas } => Ok(if a.target.json {
                    serde_json::to_string_pretty(&sas).unwrap_or_default() + "\n"
                } else {
                    super::ike_view::render(&sas, detail)
                }),
                other => Err(a.target.connect.unexpected(&other)),
            }
        }
        ShowWhat::Crypto(CryptoArgs { what: CryptoWhat::Ikev1(Ikev1Args { what }) }) => {
            let Ikev1What::Sa(t) = what;
            match t.connect.ask(&Request::Ikev1Sa)? {
                Response::Ikev1Sas { sas } => Ok(if t.json {
                    serde_json::to_string_pretty(&sas).unwrap_or_default() + "\n"
                } else {
                    super::ike_view::render_ikev1(&sas)
                }),
                other => Err(t.connect.unexpected(&other)),
            }
        }
        ShowWhat::Crypto(CryptoArgs { what: CryptoWhat::Ipsec(IpsecArgs { what }) }) => {
            let IpsecWhat::Sa(sa) = what;
            let filter = sa_filter(&sa.words)?;
            let mut snap = fetch(&sa.target)?;
            if let Some(peer) = filter.peer {
                snap.sas.retain(|s| s.remote.parse::<std::net::IpAddr>().ok() == Some(peer));
            }
            Ok(if sa.target.json {
                render::ipsec_sa_json(&snap)
            } else {
                render::ipsec_sa(&snap, filter.view == Some(SaView::Detail))
            })
        }
    }
}

/// What `show crypto ipsec sa` was asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SaFilter {
    pub peer: Option<std::net::IpAddr>,
    pub view: Option<SaView>,
}

/// Reads `[peer ADDR] [detail]` (in either order, as the ASA takes them).
pub fn sa_filter(words: &[String]) -> Result<SaFilter, String> {
    let mut f = SaFilter::default();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "detail" if f.view.is_none() => f.view = Some(SaView::Detail),
            "peer" if f.peer.is_none() => {
                let a = it.next().ok_or("`peer` needs an address: peer 192.0.2.2")?;
                f.peer = Some(a.parse().map_err(|_| format!("peer {a:?}: not an IP address"))?);
            }
            other => {
                return Err(format!(
                    "show crypto ipsec sa: unexpected {other:?}; expected [peer ADDR] [detail]"
                ));
            }
        }
    }
    Ok(f)
}

fn fetch(t: &Target) -> Result<Snapshot, String> {
    match t.connect.ask(&Request::Snapshot)? {
        Response::Ok(snap) => Ok(snap),
        other => Err(t.connect.unexpected(&other)),
    }
}

impl Connect {
    /// Sends `req`; an error answer becomes `Err` with the appliance's message.
    pub fn ask(&self, req: &Request) -> Result<Response, String> {
        if !(self.timeout.is_finite() && self.timeout > 0.0 && self.timeout <= 3600.0) {
            return Err("--timeout must be a number of seconds above 0 and at most 3600".into());
        }
        let path = self.socket_path();
        match client::request(&path, req, Duration::from_secs_f64(self.timeout)) {
            Ok(Response::Error { message }) => {
                Err(format!("ferrogate on {} refused the request: {message}", path.display()))
            }
            Ok(r) => Ok(r),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The message for an answer of the wrong kind.
    pub fn unexpected(&self, got: &Response) -> String {
        let kind = match got {
            Response::Ok(_) => "a snapshot",
            Response::Pong => "pong",
            Response::Cleared => "cleared",
            Response::Reloaded { .. } => "a reload report",
            Response::Debug { .. } => "debug levels",
            Response::RunningConfig { .. } => "the running configuration",
            Response::CryptoMaps { .. } => "crypto maps",
            Response::Ikev2Sas { .. } => "IKEv2 SAs",
            Response::Ikev1Sas { .. } => "IKEv1 SAs",
            Response::SasCleared { .. } => "a clear report",
            Response::Initiated { .. } => "an initiate report",
            Response::Failover { .. } => "the failover state",
            Response::FailoverDone { .. } => "a failover report",
            Response::Error { .. } => "an error",
        };
        format!(
            "ferrogate on {} answered with {kind}, which this request does not expect (a \
             different version?)",
            self.socket_path().display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(subcommand)]
        what: ShowWhat,
    }

    fn parse(args: &[&str]) -> Result<ShowWhat, clap::Error> {
        T::try_parse_from(std::iter::once("show").chain(args.iter().copied())).map(|t| t.what)
    }

    #[test]
    fn syntax() {
        let ShowWhat::Interface(t) = parse(&["interface", "--json"]).unwrap() else { panic!() };
        assert!(t.json);
        assert_eq!(t.connect.socket_path(), PathBuf::from("/run/ferrogate/ferrogate.sock"));
        let ShowWhat::Interface(t) = parse(&["interfaces", "--instance", "fg-lab"]).unwrap() else {
            panic!()
        };
        assert_eq!(t.connect.socket_path(), PathBuf::from("/run/ferrogate/fg-lab.sock"));
        let ShowWhat::Crypto(CryptoArgs { what: CryptoWhat::Ipsec(IpsecArgs { what }) }) =
            parse(&["crypto", "ipsec", "sa", "detail", "--socket", "/tmp/x.sock"]).unwrap()
        else {
            panic!()
        };
        let IpsecWhat::Sa(sa) = what;
        assert_eq!(sa_filter(&sa.words), Ok(SaFilter { peer: None, view: Some(SaView::Detail) }));
        assert_eq!(sa.target.connect.socket_path(), PathBuf::from("/tmp/x.sock"));
        assert!(parse(&["counters", "--socket", "/a", "--instance", "b"]).is_err());
        let words = |w: &[&str]| sa_filter(&w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            words(&["peer", "192.0.2.2", "detail"]),
            Ok(SaFilter { peer: Some("192.0.2.2".parse().unwrap()), view: Some(SaView::Detail) })
        );
        assert_eq!(
            words(&["detail", "peer", "2001:db8::2"]).unwrap().peer,
            Some("2001:db8::2".parse().unwrap())
        );
        assert!(words(&["verbose"]).unwrap_err().contains("unexpected \"verbose\""));
        assert!(words(&["peer"]).unwrap_err().contains("needs an address"));
        assert!(words(&["peer", "x"]).unwrap_err().contains("not an IP address"));
        assert!(words(&["detail", "detail"]).is_err());
    }

    #[test]
    fn bad_timeout_is_refused_before_connecting() {
        let ShowWhat::Counters(t) = parse(&["counters", "--timeout", "0"]).unwrap() else {
            panic!()
        };
        assert!(fetch(&t).unwrap_err().starts_with("--timeout must be"));
    }
}
