//! `interface HW` blocks → hints only.
//!
//! A ferrogate `[[interface]]` needs a DPDK port that the ASA file cannot name, so the
//! importer writes a comment and a note per named interface; `[[crypto_interface]]` tables
//! use the nameif names.

use super::lexer::Block;
use super::model::{Config, InterfaceHint};
use super::report::Report;

/// Why an interface line is not mapped.
const NOT_CRYPTO: &str = "not a crypto section";

/// `interface HW` with ` nameif N`, ` ip address A M [standby S]`, ` ipv6 address P/len`.
pub(crate) fn interface(block: &Block<'_>, config: &mut Config, report: &mut Report) {
    let head = &block.head;
    let nameif =
        block.body.iter().find(|l| l.is(0, "nameif") && l.words.len() == 2).and_then(|l| l.word(1));
    let (Some(hardware), Some(nameif)) = (head.word(1), nameif) else {
        for line in block.lines() {
            report.unmapped(line, format!("{NOT_CRYPTO} (interface without nameif)"));
        }
        return;
    };
    report.mapped(head);
    let mut addresses = Vec::new();
    for line in &block.body {
        if line.is(0, "nameif") {
            report.mapped(line);
        } else if line.starts(&["ip", "address"]) {
            let parsed =
                match (line.word(2).map(str::parse), line.word(3).map(super::objects::mask_to_len))
                {
                    (Some(Ok::<std::net::Ipv4Addr, _>(addr)), Some(Ok(len))) => {
                        Some(format!("{addr}/{len}"))
                    }
                    _ => None,
                };
            match parsed {
                Some(a) => {
                    addresses.push(a);
                    report.mapped(line);
                }
                None => report.unmapped(line, format!("{NOT_CRYPTO} (address not understood)")),
            }
        } else if line.starts(&["ipv6", "address"]) && line.words.len() >= 3 {
            match super::objects::parse_prefix(line.word(2).unwrap_or_default()) {
                Ok(_) => {
                    addresses.push(line.word(2).unwrap_or_default().to_string());
                    report.mapped(line);
                }
                Err(_) => report.unmapped(line, format!("{NOT_CRYPTO} (address not understood)")),
            }
        } else {
            report.unmapped(line, NOT_CRYPTO);
        }
    }
    report.note(format!(
        "line {}: interface {hardware} (nameif {nameif}{}): add an [[interface]] named \
         \"{nameif}\" \
         with its DPDK port; the ASA file cannot know the port",
        head.no,
        if addresses.is_empty() { String::new() } else { format!(", {}", addresses.join(", ")) }
    ));
    config.interfaces.push(InterfaceHint {
        hardware: hardware.to_string(),
        nameif: nameif.to_string(),
        addresses,
    });
}
