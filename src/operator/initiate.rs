//! `ferrogate initiate crypto map NAME SEQ`: starts a crypto map entry's next IKE attempt
//! without traffic (the reference document's multi-peer failover allows an operator to
//! trigger what an ACQUIRE would).

use super::model::{Request, Response};
use super::show::Connect;

/// Arguments of `initiate`.
#[derive(Debug, clap::Args)]
pub struct InitiateArgs {
    /// `crypto map NAME SEQ`.
    #[arg(required = true, num_args = 4, value_names = ["crypto", "map", "NAME", "SEQ"])]
    pub words: Vec<String>,
    /// Which appliance.
    #[command(flatten)]
    pub connect: Connect,
}

/// The crypto map entry named by `crypto map NAME SEQ`.
pub fn entry(words: &[String]) -> Result<(String, u16), String> {
    match words {
        [c, m, name, seq] if c == "crypto" && m == "map" => seq
            .parse()
            .map(|s| (name.clone(), s))
            .map_err(|_| format!("initiate: sequence {seq:?} is not a number 1..65535")),
        _ => Err(format!("initiate: expected `crypto map NAME SEQ`, got {:?}", words.join(" "))),
    }
}

/// Runs `initiate`: the line to print, or the message for stderr.
pub fn run(args: &InitiateArgs) -> Result<String, String> {
    let (map, sequence) = entry(&args.words)?;
    match args.connect.ask(&Request::Initiate { map, sequence })? {
        Response::Initiated { line } => Ok(line + "\n"),
        other => Err(args.connect.unexpected(&other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        let w = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(entry(&w("crypto map outside_map 10")), Ok(("outside_map".into(), 10)));
        assert!(entry(&w("crypto map outside_map ten")).unwrap_err().contains("not a number"));
        assert!(entry(&w("crypto ikev2 sa x")).unwrap_err().contains("crypto map NAME SEQ"));
    }
}
