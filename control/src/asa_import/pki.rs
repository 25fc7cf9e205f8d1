//! `crypto ca trustpoint TP` → `[[trustpoint]]` with placeholder PEM paths.
//!
//! The ASA keeps certificates and keys in its own store (`crypto ca certificate chain` hex
//! dumps, key pairs). The importer never copies or invents key material: it writes the paths
//! where ferrogate will look and a note telling the user to export the files there.

use super::lexer::Block;
use super::model::{Config, Trustpoint};
use super::report::Report;

/// Where the importer tells the user to put a trustpoint's PEM files.
pub(crate) const PKI_DIR: &str = "/etc/ferrogate/pki";

/// The CA certificate path of trustpoint `name`.
pub(crate) fn ca_path(name: &str) -> String {
    format!("{PKI_DIR}/{name}-ca.pem")
}

/// The identity certificate path of trustpoint `name`.
pub(crate) fn cert_path(name: &str) -> String {
    format!("{PKI_DIR}/{name}.pem")
}

/// The private key path of trustpoint `name`.
pub(crate) fn key_path(name: &str) -> String {
    format!("{PKI_DIR}/{name}.key")
}

/// `crypto ca trustpoint TP` and its sub-mode (` keypair K` marks an identity trustpoint;
/// enrollment and revocation settings are reported).
pub(crate) fn trustpoint(block: &Block<'_>, config: &mut Config, report: &mut Report) {
    let head = &block.head;
    let Some(name) = head.word(3).filter(|_| head.words.len() == 4) else {
        report.unmapped(head, "expected `crypto ca trustpoint NAME`");
        for line in &block.body {
            report.unmapped(line, "inside a trustpoint that could not be mapped");
        }
        return;
    };
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || name.starts_with('.')
    {
        report.unmapped(
            head,
            format!(
                "trustpoint name `{name}` cannot name a file: rename it and write the \
                 [[trustpoint]] by hand"
            ),
        );
        for line in &block.body {
            report.unmapped(line, "inside a trustpoint that could not be mapped");
        }
        return;
    }
    report.mapped(head);
    let mut identity = false;
    // The nested ` crl configure` sub-mode ends where the indentation drops back.
    let mut crl_indent = None;
    for line in &block.body {
        if let Some(indent) = crl_indent {
            if line.indent > indent {
                report.unmapped(
                    line,
                    "revocation settings are not imported (part of `crl configure`)",
                );
                continue;
            }
            crl_indent = None;
        }
        match line.word(0).map(str::to_ascii_lowercase).as_deref() {
            Some("keypair") if line.words.len() == 2 => {
                identity = true;
                report.mapped(line);
            }
            Some("enrollment") => report.unmapped(
                line,
                "ferrogate does not enroll certificates: export the enrolled certificate and key \
                 as PEM files",
            ),
            Some(
                "subject-name" | "fqdn" | "email" | "ip-address" | "serial-number" | "keysize"
                | "password" | "proxy-ldc-issuer",
            ) => report.unmapped(
                line,
                "enrollment request details are not needed once the certificate is exported",
            ),
            Some("crl") => {
                crl_indent = Some(line.indent);
                report.unmapped(
                    line,
                    "revocation checking is not configured per trustpoint in ferrogate",
                );
            }
            Some("revocation-check" | "ocsp" | "match") => report.unmapped(
                line,
                "revocation checking is not configured per trustpoint in ferrogate",
            ),
            _ => report.unmapped(
                line,
                format!("trustpoint option `{}` is not supported", line.words.join(" ")),
            ),
        }
    }
    match config.trustpoints.iter_mut().find(|t| t.name == name) {
        Some(tp) => tp.identity |= identity,
        None => config.trustpoints.push(Trustpoint { name: name.to_string(), identity }),
    }
}

/// `crypto ca certificate chain TP` and its hex dump: never imported.
pub(crate) fn certificate_chain(block: &Block<'_>, report: &mut Report) {
    let head = &block.head;
    let tp = head.word(4).unwrap_or("?");
    report.unmapped(
        head,
        format!(
            "certificate hex dumps are not imported: export trustpoint {tp}'s certificates as \
             PEM (`crypto ca export {tp} identity-certificate`) into {PKI_DIR}"
        ),
    );
    for line in &block.body {
        report.unmapped(line, format!("part of the certificate chain of line {}", head.no));
    }
}

/// Trustpoints a tunnel group authenticates with hold our own certificate.
pub(crate) fn mark_identities(config: &mut Config, report: &mut Report) {
    for tg in &config.tunnel_groups {
        if let Some(tp) = &tg.trustpoint {
            match config.trustpoints.iter_mut().find(|t| &t.name == tp) {
                Some(t) => t.identity = true,
                None => report.note(format!(
                    "tunnel group {} uses trustpoint {tp}, which has no `crypto ca trustpoint`",
                    tg.name
                )),
            }
        }
    }
    for tp in &config.trustpoints {
        let mut files = format!("its CA certificate(s) to {}", ca_path(&tp.name));
        if tp.identity {
            files.push_str(&format!(
                ", its identity certificate to {} and the private key to {} (mode 0600)",
                cert_path(&tp.name),
                key_path(&tp.name)
            ));
        }
        report.note(format!(
            "trustpoint {}: export {files} as PEM; the importer does not copy certificates or keys",
            tp.name
        ));
    }
}
