//! `ferrogate clear ...`: the command-line arguments and what they do.

use clap::Subcommand;

use super::model::{ClearSaKind, ClearScope, Request, Response};
use super::show::Connect;

/// Arguments of `clear`.
#[derive(Debug, clap::Args)]
pub struct ClearArgs {
    /// What to clear.
    #[command(subcommand)]
    pub what: ClearWhat,
}

/// The things `clear` clears.
#[derive(Debug, Subcommand)]
pub enum ClearWhat {
    /// Zero the interface, worker and global drop counters that `show` prints.
    Counters(Connect),
    /// `clear crypto ipsec sa counters`.
    Crypto(ClearCryptoArgs),
}

/// `clear crypto ...`.
#[derive(Debug, clap::Args)]
pub struct ClearCryptoArgs {
    /// Which crypto state.
    #[command(subcommand)]
    pub what: ClearCryptoWhat,
}

/// `clear crypto ipsec|ikev2`.
#[derive(Debug, Subcommand)]
pub enum ClearCryptoWhat {
    /// IPsec state.
    Ipsec(ClearIpsecArgs),
    /// IKEv2 state.
    Ikev2(ClearIkeArgs),
    /// IKEv1 state: `clear crypto ikev1 sa [peer ADDR]` deletes ISAKMP SAs and their Quick
    /// Mode SAs (the peers are told).
    Ikev1(ClearIkeArgs),
}

/// `clear crypto ipsec ...`.
#[derive(Debug, clap::Args)]
pub struct ClearIpsecArgs {
    /// Which IPsec state.
    #[command(subcommand)]
    pub what: ClearIpsecWhat,
}

/// `clear crypto ipsec sa`.
#[derive(Debug, Subcommand)]
pub enum ClearIpsecWhat {
    /// `clear crypto ipsec sa [peer ADDR]` deletes Child SAs (their IKE SAs stay);
    /// `clear crypto ipsec sa counters` zeroes the per-SA counters.
    Sa(ClearSaArgs),
}

/// `clear crypto ipsec sa [counters | peer ADDR]`.
#[derive(Debug, clap::Args)]
pub struct ClearSaArgs {
    /// `counters`, `peer ADDR`, or nothing (every SA).
    #[arg(value_name = "counters | peer ADDR", num_args = 0..=2)]
    pub words: Vec<String>,
    /// Which appliance.
    #[command(flatten)]
    pub connect: Connect,
}

/// `clear crypto ikev2|ikev1 ...`.
#[derive(Debug, clap::Args)]
pub struct ClearIkeArgs {
    /// Which IKE state.
    #[command(subcommand)]
    pub what: ClearIkeWhat,
}

/// `clear crypto ikev2|ikev1 sa [peer ADDR]`.
#[derive(Debug, Subcommand)]
pub enum ClearIkeWhat {
    /// Deletes IKE SAs and their Child SAs (the peers are told).
    Sa(ClearIkeSaArgs),
}

/// `clear crypto ikev2 sa [peer ADDR]`.
#[derive(Debug, clap::Args)]
pub struct ClearIkeSaArgs {
    /// `peer ADDR`, or nothing (every SA).
    #[arg(value_name = "peer ADDR", num_args = 0..=2)]
    pub words: Vec<String>,
    /// Which appliance.
    #[command(flatten)]
    pub connect: Connect,
}

/// `[peer ADDR]`.
fn peer_filter(words: &[String], command: &str) -> Result<Option<std::net::IpAddr>, String> {
    match words {
        [] => Ok(None),
        [p, a] if p == "peer" => {
            a.parse().map(Some).map_err(|_| format!("{command}: peer {a:?} is not an IP address"))
        }
        _ => Err(format!("{command}: expected [peer ADDR], got {:?}", words.join(" "))),
    }
}

/// Runs `clear`: the confirmation to print, or the message for stderr.
pub fn run(args: &ClearArgs) -> Result<String, String> {
    let (connect, request, done) = match &args.what {
        ClearWhat::Counters(c) => {
            (c, Request::ClearCounters { scope: ClearScope::Counters }, "Counters cleared")
        }
        ClearWhat::Crypto(ClearCryptoArgs { what: ClearCryptoWhat::Ipsec(i) }) => {
            let ClearIpsecWhat::Sa(a) = &i.what;
            if a.words.len() == 1 && a.words[0] == "counters" {
                (
                    &a.connect,
                    Request::ClearCounters { scope: ClearScope::IpsecSa },
                    "IPsec SA counters cleared",
                )
            } else {
                let peer = peer_filter(&a.words, "clear crypto ipsec sa")?;
                (&a.connect, Request::ClearSa { what: ClearSaKind::Ipsec, peer }, "")
            }
        }
        ClearWhat::Crypto(ClearCryptoArgs { what: ClearCryptoWhat::Ikev2(i) }) => {
            let ClearIkeWhat::Sa(a) = &i.what;
            let peer = peer_filter(&a.words, "clear crypto ikev2 sa")?;
            (&a.connect, Request::ClearSa { what: ClearSaKind::Ikev2, peer }, "")
        }
        ClearWhat::Crypto(ClearCryptoArgs { what: ClearCryptoWhat::Ikev1(i) }) => {
            let ClearIkeWhat::Sa(a) = &i.what;
            let peer = peer_filter(&a.words, "clear crypto ikev1 sa")?;
            (&a.connect, Request::ClearSa { what: ClearSaKind::Ikev1, peer }, "")
        }
    };
    match connect.ask(&request)? {
        Response::Cleared => Ok(format!("{done}\n")),
        Response::SasCleared { count } => Ok(match request {
            Request::ClearSa { what: ClearSaKind::Ikev2, .. } => {
                format!("{count} IKEv2 SA(s) being deleted\n")
            }
            Request::ClearSa { what: ClearSaKind::Ikev1, .. } => {
                format!("{count} IKEv1 SA(s) being deleted\n")
            }
            _ => format!("{count} IPsec SA pair(s) being deleted\n"),
        }),
        other => Err(connect.unexpected(&other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(subcommand)]
        what: ClearWhat,
    }

    #[test]
    fn syntax() {
        let parse = |args: &[&str]| {
            T::try_parse_from(std::iter::once("clear").chain(args.iter().copied())).map(|t| t.what)
        };
        assert!(matches!(parse(&["counters", "--instance", "x"]), Ok(ClearWhat::Counters(_))));
        assert!(matches!(
            parse(&["crypto", "ipsec", "sa", "counters", "--socket", "/tmp/s"]),
            Ok(ClearWhat::Crypto(_))
        ));
        assert!(parse(&["crypto", "ipsec", "sa"]).is_ok());
        assert!(parse(&["crypto", "ipsec", "sa", "peer", "192.0.2.1"]).is_ok());
        assert!(parse(&["crypto", "ikev2", "sa", "peer", "192.0.2.1"]).is_ok());
        assert!(parse(&["crypto", "ikev2", "sa", "peer", "192.0.2.1", "x"]).is_err());
        assert_eq!(peer_filter(&[], "c"), Ok(None));
        assert_eq!(
            peer_filter(&["peer".into(), "192.0.2.1".into()], "c"),
            Ok(Some("192.0.2.1".parse().unwrap()))
        );
        assert!(peer_filter(&["peer".into(), "x".into()], "c").unwrap_err().contains("not an IP"));
        assert!(peer_filter(&["counters".into(), "x".into()], "c").is_err());
    }
}
