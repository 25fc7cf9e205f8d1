//! A throwaway PKI made at test time with strongSwan's `pki` tool, for the certificate
//! interop tests: a CA and leaves with address and DNS subjectAltNames, charon's copied where
//! `swanctl --load-creds` looks for them.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

/// strongSwan's `pki` tool.
pub const PKI: &str = "/usr/bin/pki";

/// Runs `pki ARGS`, writing its output to `out`.
pub fn pki(args: &[&str], out: &Path) -> Result<(), String> {
    let o = Command::new(PKI)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run pki: {e}"))?;
    if !o.status.success() || o.stdout.is_empty() {
        return Err(format!("pki {args:?}: {}", String::from_utf8_lossy(&o.stderr)));
    }
    std::fs::write(out, &o.stdout).map_err(|e| e.to_string())
}

/// One certificate holder: file stem (`charon` is charon's), `pki --gen` key arguments, DN
/// and the address put in its subjectAltNames (with `STEM.interop.test`).
pub struct Leaf<'a> {
    pub who: &'a str,
    pub key: &'a [&'a str],
    pub dn: &'a str,
    pub addr: Ipv4Addr,
}

/// A fresh PKI in `dir`: `ca.pem` (key `ca_key`, DN `ca_dn`) and `WHO.{key,pem}` for each
/// leaf, valid for 30 days from now; `charon`'s files are also copied into `x509ca/`,
/// `x509/` and `private/`.
pub fn make_pki(
    dir: &Path,
    ca_key: &[&str],
    ca_dn: &str,
    leaves: &[Leaf<'_>],
) -> Result<(), String> {
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let pem = ["--outform", "pem"];
    pki(&[&["--gen"], ca_key, &pem[..]].concat(), &dir.join("ca.key"))?;
    let ca_key = p("ca.key");
    let self_sign =
        ["--self", "--ca", "--lifetime", "30", "--in", &ca_key, "--type", "priv", "--dn", ca_dn];
    pki(&[&self_sign[..], &pem[..]].concat(), &dir.join("ca.pem"))?;
    let ca = p("ca.pem");
    for l in leaves {
        let (k, pubk) = (p(&format!("{}.key", l.who)), p(&format!("{}.pub", l.who)));
        pki(&[&["--gen"], l.key, &pem[..]].concat(), Path::new(&k))?;
        pki(&["--pub", "--in", &k, "--type", "priv", "--outform", "pem"], Path::new(&pubk))?;
        let (san_ip, san_dns) = (l.addr.to_string(), format!("{}.interop.test", l.who));
        let issue = [
            "--issue",
            "--in",
            &pubk,
            "--type",
            "pub",
            "--cacert",
            &ca,
            "--cakey",
            &ca_key,
            "--lifetime",
            "30",
            "--dn",
            l.dn,
            "--san",
            &san_ip,
            "--san",
            &san_dns,
            "--outform",
            "pem",
        ];
        pki(&issue, &dir.join(format!("{}.pem", l.who)))?;
    }
    for (file, sub) in [("ca.pem", "x509ca"), ("charon.pem", "x509"), ("charon.key", "private")] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| e.to_string())?;
        std::fs::copy(dir.join(file), dir.join(sub).join(file)).map_err(|e| e.to_string())?;
    }
    Ok(())
}
