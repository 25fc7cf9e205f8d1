//! `ferrogate reload`: asks a running appliance to re-read its config file (as SIGHUP does)
//! and prints what it applied, or why it applied nothing.

use super::model::{Request, Response};
use super::show::Connect;

/// Runs `reload`: the report to print, or the message for stderr.
pub fn run(connect: &Connect) -> Result<String, String> {
    match connect.ask(&Request::Reload)? {
        Response::Reloaded { lines } => {
            let mut out = format!("{} reloaded\n", connect.socket_path().display());
            for l in lines {
                out.push_str("  ");
                out.push_str(&l);
                out.push('\n');
            }
            Ok(out)
        }
        other => Err(connect.unexpected(&other)),
    }
}
