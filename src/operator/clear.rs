//! `ferrogate clear ...`: the command-line arguments and what they do.

use clap::Subcommand;

use super::model::{ClearScope, Request, Response};
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

/// `clear crypto ipsec`.
#[derive(Debug, Subcommand)]
pub enum ClearCryptoWhat {
    /// IPsec state.
    Ipsec(ClearIpsecArgs),
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
    /// SA state: only `counters` exists (deleting SAs comes with the IKE control plane).
    Sa(ClearSaArgs),
}

/// `clear crypto ipsec sa ...`.
#[derive(Debug, clap::Args)]
pub struct ClearSaArgs {
    /// What of the SAs.
    #[command(subcommand)]
    pub what: ClearSaWhat,
}

/// `clear crypto ipsec sa counters`.
#[derive(Debug, Subcommand)]
pub enum ClearSaWhat {
    /// Zero the per-SA packet, byte and drop counters that `show crypto ipsec sa` prints
    /// (sequence numbers and lifetimes are state and stay).
    Counters(Connect),
}

/// Runs `clear`: the confirmation to print, or the message for stderr.
pub fn run(args: &ClearArgs) -> Result<String, String> {
    let (scope, connect, done) = match &args.what {
        ClearWhat::Counters(c) => (ClearScope::Counters, c, "Counters cleared\n"),
        ClearWhat::Crypto(ClearCryptoArgs {
            what:
                ClearCryptoWhat::Ipsec(ClearIpsecArgs {
                    what: ClearIpsecWhat::Sa(ClearSaArgs { what: ClearSaWhat::Counters(c) }),
                }),
        }) => (ClearScope::IpsecSa, c, "IPsec SA counters cleared\n"),
    };
    match connect.ask(&Request::ClearCounters { scope })? {
        Response::Cleared => Ok(done.to_string()),
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
        // Deleting SAs is not a counter clear and does not parse.
        assert!(parse(&["crypto", "ipsec", "sa"]).is_err());
        assert!(parse(&["crypto", "ipsec", "sa", "peer", "192.0.2.1"]).is_err());
    }
}
