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

/// `show crypto ipsec sa [detail]`.
#[derive(Debug, clap::Args)]
pub struct SaArgs {
    /// `detail` adds each SA's counters and drop reasons.
    #[arg(value_enum, value_name = "detail")]
    pub view: Option<SaView>,
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
        ShowWhat::Crypto(CryptoArgs { what: CryptoWhat::Ipsec(IpsecArgs { what }) }) => {
            let IpsecWhat::Sa(sa) = what;
            let snap = fetch(&sa.target)?;
            Ok(if sa.target.json {
                render::ipsec_sa_json(&snap)
            } else {
                render::ipsec_sa(&snap, sa.view == Some(SaView::Detail))
            })
        }
    }
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
        assert_eq!(sa.view, Some(SaView::Detail));
        assert_eq!(sa.target.connect.socket_path(), PathBuf::from("/tmp/x.sock"));
        assert!(parse(&["counters", "--socket", "/a", "--instance", "b"]).is_err());
        assert!(parse(&["crypto", "ipsec", "sa", "verbose"]).is_err());
    }

    #[test]
    fn bad_timeout_is_refused_before_connecting() {
        let ShowWhat::Counters(t) = parse(&["counters", "--timeout", "0"]).unwrap() else {
            panic!()
        };
        assert!(fetch(&t).unwrap_err().starts_with("--timeout must be"));
    }
}
