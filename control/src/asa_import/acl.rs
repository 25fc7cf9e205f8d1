//! Crypto access lists: `access-list NAME extended permit|deny PROTO SRC [PORT] DST [PORT]`.
//!
//! Only the access lists a static crypto map matches (`crypto map M N match address NAME`)
//! are crypto ACLs; the others filter interface traffic and are reported as not crypto.

use std::collections::HashSet;

use super::lexer::Line;
use super::model::{AccessList, Ports, Protocol, Rule};
use super::objects::{Net, Objects, parse_prefix};
use super::report::Report;

/// Most rules one ASA line may expand to (object-group products grow fast).
pub(crate) const MAX_RULES_PER_LINE: usize = 4096;

/// ASA protocol keywords and what ferrogate calls them.
const PROTOCOLS: &[(&str, Protocol)] = &[
    ("ip", Protocol::Named("ip")),
    ("tcp", Protocol::Named("tcp")),
    ("udp", Protocol::Named("udp")),
    ("icmp", Protocol::Named("icmp")),
    ("icmp6", Protocol::Named("icmp6")),
    ("esp", Protocol::Named("esp")),
    ("ipsec", Protocol::Named("esp")),
    ("gre", Protocol::Named("gre")),
    ("pptp", Protocol::Named("gre")),
    ("ah", Protocol::Number(51)),
    ("eigrp", Protocol::Number(88)),
    ("igmp", Protocol::Number(2)),
    ("igrp", Protocol::Number(9)),
    ("ipinip", Protocol::Number(4)),
    ("nos", Protocol::Number(94)),
    ("ospf", Protocol::Number(89)),
    ("pcp", Protocol::Number(108)),
    ("pim", Protocol::Number(103)),
    ("sctp", Protocol::Number(132)),
    ("snp", Protocol::Number(109)),
];

/// ASA port names (tcp and udp share one namespace with distinct names).
const PORTS: &[(&str, u16)] = &[
    ("aol", 5190),
    ("bgp", 179),
    ("biff", 512),
    ("bootpc", 68),
    ("bootps", 67),
    ("chargen", 19),
    ("cifs", 3020),
    ("citrix-ica", 1494),
    ("cmd", 514),
    ("ctiqbe", 2748),
    ("daytime", 13),
    ("discard", 9),
    ("dnsix", 195),
    ("domain", 53),
    ("echo", 7),
    ("exec", 512),
    ("finger", 79),
    ("ftp", 21),
    ("ftp-data", 20),
    ("gopher", 70),
    ("h323", 1720),
    ("hostname", 101),
    ("http", 80),
    ("https", 443),
    ("ident", 113),
    ("imap4", 143),
    ("irc", 194),
    ("isakmp", 500),
    ("kerberos", 88),
    ("klogin", 543),
    ("kshell", 544),
    ("ldap", 389),
    ("ldaps", 636),
    ("login", 513),
    ("lotusnotes", 1352),
    ("lpd", 515),
    ("mobile-ip", 434),
    ("nameserver", 42),
    ("netbios-dgm", 138),
    ("netbios-ns", 137),
    ("netbios-ssn", 139),
    ("nfs", 2049),
    ("nntp", 119),
    ("ntp", 123),
    ("pcanywhere-data", 5631),
    ("pcanywhere-status", 5632),
    ("pim-auto-rp", 496),
    ("pop2", 109),
    ("pop3", 110),
    ("pptp", 1723),
    ("radius", 1645),
    ("radius-acct", 1646),
    ("rip", 520),
    ("rsh", 514),
    ("rtsp", 554),
    ("secureid-udp", 5510),
    ("sip", 5060),
    ("smtp", 25),
    ("snmp", 161),
    ("snmptrap", 162),
    ("sqlnet", 1521),
    ("ssh", 22),
    ("sunrpc", 111),
    ("syslog", 514),
    ("tacacs", 49),
    ("talk", 517),
    ("telnet", 23),
    ("tftp", 69),
    ("time", 37),
    ("uucp", 540),
    ("who", 513),
    ("whois", 43),
    ("www", 80),
    ("xdmcp", 177),
];

/// ASA ICMP type names (RFC 792 and successors).
const ICMP_TYPES: &[(&str, u8)] = &[
    ("echo-reply", 0),
    ("unreachable", 3),
    ("source-quench", 4),
    ("redirect", 5),
    ("alternate-address", 6),
    ("echo", 8),
    ("router-advertisement", 9),
    ("router-solicitation", 10),
    ("time-exceeded", 11),
    ("parameter-problem", 12),
    ("timestamp-request", 13),
    ("timestamp-reply", 14),
    ("information-request", 15),
    ("information-reply", 16),
    ("mask-request", 17),
    ("mask-reply", 18),
    ("traceroute", 30),
    ("conversion-error", 31),
    ("mobile-redirect", 32),
];

fn lookup<T: Copy>(table: &[(&str, T)], word: &str) -> Option<T> {
    table.iter().find(|(k, _)| k.eq_ignore_ascii_case(word)).map(|(_, v)| *v)
}

/// A port number or ASA port name.
pub(crate) fn port(word: &str) -> Result<u16, String> {
    word.parse::<u16>().ok().or_else(|| lookup(PORTS, word)).ok_or_else(|| {
        format!("unknown port `{word}` (expected 0..65535 or an ASA port name such as www, https)")
    })
}

/// The access-list lines of one name, in file order.
#[derive(Debug)]
pub(crate) struct Source<'a> {
    pub name: String,
    pub lines: Vec<Line<'a>>,
}

/// Collects `access-list` lines by name, in order of first appearance.
pub(crate) fn collect<'a>(acls: &mut Vec<Source<'a>>, line: &Line<'a>) -> Result<(), String> {
    let name = line.word(1).ok_or("expected `access-list NAME ...`")?;
    match acls.iter_mut().find(|s| s.name == name) {
        Some(src) => src.lines.push(line.clone()),
        None => acls.push(Source { name: name.to_string(), lines: vec![line.clone()] }),
    }
    Ok(())
}

/// Converts the access lists a crypto map refers to and reports the others. `failed_refs`
/// receives (definition line, access-list line) for each object definition that only lines
/// which could not be converted used.
pub(crate) fn convert(
    sources: &[Source<'_>],
    referenced: &HashSet<&str>,
    objects: &Objects<'_>,
    report: &mut Report,
    failed_refs: &mut Vec<(usize, usize)>,
) -> Vec<AccessList> {
    let mut out = Vec::new();
    for src in sources {
        if !referenced.contains(src.name.as_str()) {
            let reason = format!(
                "access list {} is not matched by a crypto map (`match address`): not a crypto \
                 section",
                src.name
            );
            for line in &src.lines {
                report.unmapped(line, reason.clone());
            }
            continue;
        }
        let mut rules = Vec::new();
        for line in &src.lines {
            let mut used = Vec::new();
            match parse_line(line, objects, &mut used) {
                Ok(Parsed::Remark) => report.mapped(line),
                Ok(Parsed::Rules { rules: r, notes }) => {
                    rules.extend(r);
                    report.mapped(line);
                    for no in used {
                        report.mapped_no(no);
                    }
                    for n in notes {
                        report.note(format!("line {}: {n}", line.no));
                    }
                }
                Err(reason) => {
                    report.unmapped(line, reason);
                    failed_refs.extend(used.into_iter().map(|no| (no, line.no)));
                }
            }
        }
        if rules.is_empty() {
            report.note(format!(
                "access list {} has no convertible rule: the crypto map that matches it protects \
                 nothing until you add rules",
                src.name
            ));
        }
        out.push(AccessList { name: src.name.clone(), rules });
    }
    out
}

/// What one access-list line became.
#[derive(Debug)]
pub(crate) enum Parsed {
    Remark,
    Rules { rules: Vec<Rule>, notes: Vec<String> },
}

/// A cursor over a line's words.
struct Words<'l, 'a> {
    words: &'l [&'a str],
    pos: usize,
}

impl<'a> Words<'_, 'a> {
    fn peek(&self) -> Option<&'a str> {
        self.words.get(self.pos).copied()
    }

    fn peek_is(&self, kw: &str) -> bool {
        self.peek().is_some_and(|w| w.eq_ignore_ascii_case(kw))
    }

    fn next(&mut self) -> Option<&'a str> {
        let w = self.peek();
        if w.is_some() {
            self.pos += 1;
        }
        w
    }

    fn expect(&mut self, what: &str) -> Result<&'a str, String> {
        self.next().ok_or_else(|| format!("the line ends where {what} was expected"))
    }
}

/// Parses one `access-list` line (after `collect` grouped it); `used` receives the object
/// definition lines it refers to (also when the line cannot be converted).
pub(crate) fn parse_line(
    line: &Line<'_>,
    objects: &Objects<'_>,
    used: &mut Vec<usize>,
) -> Result<Parsed, String> {
    let mut w = Words { words: &line.words, pos: 2 };
    if w.peek_is("line") {
        w.pos += 2;
    }
    let kind = w.expect("`extended`")?;
    match kind.to_ascii_lowercase().as_str() {
        "remark" => return Ok(Parsed::Remark),
        "extended" => {}
        "standard" => {
            return Err("standard access lists (split tunnelling, route maps) are not crypto \
                        access lists: a crypto map needs an extended access list"
                .to_string());
        }
        other => {
            return Err(format!(
                "`access-list ... {other}` is not supported (expected `extended` or `remark`)"
            ));
        }
    }
    let permit = match w.expect("permit or deny")?.to_ascii_lowercase().as_str() {
        "permit" => true,
        "deny" => false,
        other => return Err(format!("expected permit or deny, found `{other}`")),
    };
    let mut notes = Vec::new();

    let proto_word = w.expect("a protocol")?;
    let protocols: Vec<Protocol> = if proto_word.eq_ignore_ascii_case("tcp-udp") {
        vec![Protocol::Named("tcp"), Protocol::Named("udp")]
    } else if let Some(p) = lookup(PROTOCOLS, proto_word) {
        vec![p]
    } else if let Ok(n) = proto_word.parse::<u8>() {
        vec![match n {
            0 => Protocol::Named("ip"),
            1 => Protocol::Named("icmp"),
            6 => Protocol::Named("tcp"),
            17 => Protocol::Named("udp"),
            47 => Protocol::Named("gre"),
            50 => Protocol::Named("esp"),
            58 => Protocol::Named("icmp6"),
            n => Protocol::Number(n),
        }]
    } else if proto_word.eq_ignore_ascii_case("object-group")
        || proto_word.eq_ignore_ascii_case("object")
    {
        return Err(format!(
            "service and protocol objects (`{proto_word} {}`) are not supported: write the \
             protocol and ports into the rule",
            w.peek().unwrap_or_default()
        ));
    } else {
        return Err(format!(
            "unknown protocol `{proto_word}` (expected ip, tcp, udp, tcp-udp, icmp, icmp6, esp, \
             gre, an ASA protocol name or 0..255)"
        ));
    };
    let ported = protocols.iter().all(|p| matches!(p, Protocol::Named("tcp" | "udp")));
    let icmp = protocols == [Protocol::Named("icmp")] || protocols == [Protocol::Named("icmp6")];

    let srcs = address(&mut w, objects, used, &mut notes)?;
    let src_ports = ports(&mut w, objects, ported)?;
    let dsts = address(&mut w, objects, used, &mut notes)?;
    let dst_ports = ports(&mut w, objects, ported)?;

    let mut icmp_type = None;
    if icmp && let Some(word) = w.peek() {
        let is_option =
            ["log", "inactive", "time-range"].iter().any(|k| word.eq_ignore_ascii_case(k));
        if !is_option {
            w.next();
            if protocols == [Protocol::Named("icmp6")] {
                return Err("icmp6 types are not supported (ferrogate's icmp_type applies to \
                            icmp only)"
                    .to_string());
            }
            let t =
                word.parse::<u8>().ok().or_else(|| lookup(ICMP_TYPES, word)).ok_or_else(|| {
                    format!("unknown icmp type `{word}` (expected 0..255 or an ASA icmp type name)")
                })?;
            icmp_type = Some(t);
            if w.peek().is_some_and(|c| c.parse::<u8>().is_ok()) {
                return Err("icmp codes are not supported (ferrogate matches the icmp type only)"
                    .to_string());
            }
        }
    }

    while let Some(word) = w.next() {
        match word.to_ascii_lowercase().as_str() {
            "log" => {
                // `log [level] [interval N] | log disable | log default`: logging options.
                while w.peek().is_some_and(|x| {
                    !x.eq_ignore_ascii_case("inactive") && !x.eq_ignore_ascii_case("time-range")
                }) {
                    w.next();
                }
                notes.push("`log` ignored (ferrogate counts matches instead)".to_string());
            }
            "inactive" => {
                return Err(
                    "inactive rule: it has no effect on the ASA and was left out".to_string()
                );
            }
            "time-range" => {
                return Err(
                    "time-range rules are not supported (crypto ACLs are always active in \
                            ferrogate)"
                        .to_string(),
                );
            }
            other => return Err(format!("unexpected `{other}` after the destination")),
        }
    }

    let count = protocols
        .len()
        .saturating_mul(srcs.len())
        .saturating_mul(src_ports.len())
        .saturating_mul(dsts.len())
        .saturating_mul(dst_ports.len());
    if count > MAX_RULES_PER_LINE {
        return Err(format!(
            "the objects expand to {count} rules (more than {MAX_RULES_PER_LINE}): split the line"
        ));
    }
    let mut rules = Vec::new();
    for &protocol in &protocols {
        for &src in &srcs {
            for &src_port in &src_ports {
                for &dst in &dsts {
                    if !src.pairs_with(dst) {
                        continue;
                    }
                    for &dst_port in &dst_ports {
                        rules.push(Rule {
                            permit,
                            protocol,
                            src,
                            src_port,
                            dst,
                            dst_port,
                            icmp_type,
                        });
                    }
                }
            }
        }
    }
    if rules.is_empty() {
        return Err("no source and destination of the same IP family".to_string());
    }
    if rules.len() > 1 {
        notes.push(format!("expanded into {} rules", rules.len()));
    }
    Ok(Parsed::Rules { rules, notes })
}

/// An ACL address: `any`, `any4`, `any6`, `host A`, `A MASK`, `P/len`, `object O`,
/// `object-group G` (several addresses).
fn address(
    w: &mut Words<'_, '_>,
    objects: &Objects<'_>,
    used: &mut Vec<usize>,
    notes: &mut Vec<String>,
) -> Result<Vec<Net>, String> {
    let word = w.expect("an address")?;
    match word.to_ascii_lowercase().as_str() {
        "any" => Ok(vec![Net::Any]),
        "any4" => Ok(vec![Net::Any4]),
        "any6" => Ok(vec![Net::Any6]),
        "host" => {
            let a = w.expect("an address after `host`")?;
            used.extend(objects.name_line(a));
            Ok(vec![Net::host(objects.address(a)?)])
        }
        "object" => objects.resolve_object(w.expect("an object name")?, used),
        "object-group" => {
            // Resolving gives the precise reason for an undefined or service group.
            objects.resolve_group(w.expect("an object-group name")?, used)
        }
        "interface"
        | "object-group-user"
        | "user"
        | "user-group"
        | "security-group"
        | "object-group-security" => Err(format!(
            "`{word}` addresses are not supported (a crypto ACL matches addresses only)"
        )),
        _ if word.contains('/') => {
            let (net, cleared) = parse_prefix(word)?;
            if cleared {
                notes.push(format!("{word}: host bits cleared, giving {net}"));
            }
            Ok(vec![net])
        }
        _ => {
            let mask = w.expect("a netmask")?;
            used.extend(objects.name_line(word));
            let (net, cleared) = objects.address_mask(word, mask)?;
            if cleared {
                notes.push(format!("{word} {mask}: host bits cleared, giving {net}"));
            }
            Ok(vec![net])
        }
    }
}

/// An optional port operator: `eq P`, `lt P`, `gt P`, `neq P`, `range P Q`. Returns the port
/// ranges it matches (`[None]` without an operator).
fn ports(
    w: &mut Words<'_, '_>,
    objects: &Objects<'_>,
    ported: bool,
) -> Result<Vec<Option<Ports>>, String> {
    let Some(op) = w.peek() else { return Ok(vec![None]) };
    let op = op.to_ascii_lowercase();
    if op == "object-group" {
        // `object-group G` here is a destination (network group) or a service group.
        let g = w.words.get(w.pos + 1).copied().unwrap_or_default();
        if objects.is_network_group(g) {
            return Ok(vec![None]);
        }
        return Err(format!(
            "service object-group `{g}` is not supported: write the ports into the rule"
        ));
    }
    if !matches!(op.as_str(), "eq" | "lt" | "gt" | "neq" | "range") {
        return Ok(vec![None]);
    }
    w.next();
    if !ported {
        return Err(format!("`{op}` ports apply to tcp and udp only"));
    }
    let p = port(w.expect("a port")?)?;
    let one = |first, last| Ok(vec![Some(Ports { first, last })]);
    match op.as_str() {
        "eq" => one(p, p),
        "lt" if p > 0 => one(0, p - 1),
        "gt" if p < u16::MAX => one(p + 1, u16::MAX),
        "neq" => {
            let mut out = Vec::new();
            if p > 0 {
                out.push(Some(Ports { first: 0, last: p - 1 }));
            }
            if p < u16::MAX {
                out.push(Some(Ports { first: p + 1, last: u16::MAX }));
            }
            Ok(out)
        }
        "range" => {
            let q = port(w.expect("the last port of the range")?)?;
            if q < p {
                return Err(format!("port range {p} {q} ends before it starts"));
            }
            one(p, q)
        }
        _ => Err(format!("`{op} {p}` matches no port")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asa_import::lexer::{Item, lex};

    fn rules_of(text: &str) -> Result<Vec<String>, String> {
        let lexed = lex(text);
        let mut report = Report::new(lexed.line_count, &lexed.significant);
        let mut objects = Objects::default();
        let mut last = None;
        for item in &lexed.items {
            let Item::Block(b) = item else { continue };
            if b.head.is(0, "object") {
                objects.define_object(b, &mut report);
            } else if b.head.is(0, "object-group") {
                objects.define_group(b, &mut report);
            } else if b.head.is(0, "name") {
                objects.define_name(b, &mut report);
            } else {
                last = Some(b.head.clone());
            }
        }
        let line = last.expect("an access-list line");
        match parse_line(&line, &objects, &mut Vec::new())? {
            Parsed::Remark => Ok(vec!["remark".to_string()]),
            Parsed::Rules { rules, .. } => Ok(rules
                .iter()
                .map(|r| {
                    let proto = match r.protocol {
                        Protocol::Named(n) => n.to_string(),
                        Protocol::Number(n) => n.to_string(),
                    };
                    let p = |p: Option<Ports>| match p {
                        Some(p) if p.first == p.last => format!(":{}", p.first),
                        Some(p) => format!(":{}-{}", p.first, p.last),
                        None => String::new(),
                    };
                    format!(
                        "{} {proto} {}{} {}{}{}",
                        if r.permit { "permit" } else { "deny" },
                        r.src,
                        p(r.src_port),
                        r.dst,
                        p(r.dst_port),
                        r.icmp_type.map(|t| format!(" type {t}")).unwrap_or_default()
                    )
                })
                .collect()),
        }
    }

    #[test]
    fn masks_hosts_and_any() {
        assert_eq!(
            rules_of("access-list a extended permit ip 10.0.0.0 255.255.255.0 host 10.1.0.9")
                .unwrap(),
            ["permit ip 10.0.0.0/24 10.1.0.9"]
        );
        assert_eq!(
            rules_of("access-list a extended deny ip any4 any6").unwrap_err(),
            "no source and destination of the same IP family"
        );
        assert_eq!(
            rules_of("access-list a extended permit ip any 2001:db8::/64").unwrap(),
            ["permit ip any 2001:db8::/64"]
        );
        assert_eq!(
            rules_of("access-list a extended permit ip 10.0.0.0 255.0.255.0 any").unwrap_err(),
            "non-contiguous netmask 255.0.255.0: ferrogate addresses are prefixes (A.B.C.D/len)"
        );
        assert_eq!(
            rules_of(
                "access-list a line 3 extended permit ip host 10.0.0.1 any log 6 interval 300"
            )
            .unwrap(),
            ["permit ip 10.0.0.1 any"]
        );
    }

    #[test]
    fn named_and_numbered_ports() {
        assert_eq!(
            rules_of("access-list a extended permit tcp any host 10.0.0.1 eq www").unwrap(),
            ["permit tcp any 10.0.0.1:80"]
        );
        assert_eq!(
            rules_of("access-list a extended permit udp any eq isakmp any range 4500 4510")
                .unwrap(),
            ["permit udp any:500 any:4500-4510"]
        );
        assert_eq!(
            rules_of("access-list a extended permit tcp any any eq https").unwrap(),
            ["permit tcp any any:443"]
        );
        assert_eq!(
            rules_of("access-list a extended permit udp any any eq domain").unwrap(),
            ["permit udp any any:53"]
        );
        assert_eq!(
            rules_of("access-list a extended permit tcp any any eq ssh").unwrap(),
            ["permit tcp any any:22"]
        );
        assert_eq!(
            rules_of("access-list a extended permit tcp any any lt 1024").unwrap(),
            ["permit tcp any any:0-1023"]
        );
        assert_eq!(
            rules_of("access-list a extended permit tcp any gt 1023 any").unwrap(),
            ["permit tcp any:1024-65535 any"]
        );
        assert_eq!(
            rules_of("access-list a extended deny tcp-udp any any neq 53").unwrap(),
            [
                "deny tcp any any:0-52",
                "deny tcp any any:54-65535",
                "deny udp any any:0-52",
                "deny udp any any:54-65535"
            ]
        );
        assert_eq!(
            rules_of("access-list a extended permit tcp any any eq bogus").unwrap_err(),
            "unknown port `bogus` (expected 0..65535 or an ASA port name such as www, https)"
        );
        assert_eq!(
            rules_of("access-list a extended permit ip any any eq 80").unwrap_err(),
            "`eq` ports apply to tcp and udp only"
        );
        assert_eq!(
            rules_of("access-list a extended permit tcp any any range 90 80").unwrap_err(),
            "port range 90 80 ends before it starts"
        );
    }

    #[test]
    fn object_groups_expand_to_several_rules() {
        let text = "object-group network src\n network-object 10.0.0.0 255.255.255.0\n network-object 10.0.1.0 255.255.255.0\n\
                    object network dst\n range 192.168.0.1 192.168.0.2\n\
                    access-list a extended permit ip object-group src object dst\n";
        assert_eq!(
            rules_of(text).unwrap(),
            [
                "permit ip 10.0.0.0/24 192.168.0.1",
                "permit ip 10.0.0.0/24 192.168.0.2",
                "permit ip 10.0.1.0/24 192.168.0.1",
                "permit ip 10.0.1.0/24 192.168.0.2"
            ]
        );
        let text = "object-group network dst\n network-object host 10.9.0.1\n\
                    access-list a extended permit tcp any object-group dst eq 22\n";
        assert_eq!(rules_of(text).unwrap(), ["permit tcp any 10.9.0.1:22"]);
        let text = "object-group service web tcp\n port-object eq www\n\
                    access-list a extended permit tcp any object-group web any\n";
        assert_eq!(
            rules_of(text).unwrap_err(),
            "service object-group `web` is not supported: write the ports into the rule"
        );
    }

    #[test]
    fn icmp_protocols_and_trailers() {
        assert_eq!(
            rules_of("access-list a extended permit icmp any any echo-reply").unwrap(),
            ["permit icmp any any type 0"]
        );
        assert_eq!(
            rules_of("access-list a extended permit icmp any any 3 4").unwrap_err(),
            "icmp codes are not supported (ferrogate matches the icmp type only)"
        );
        assert_eq!(
            rules_of("access-list a extended permit 51 any any").unwrap(),
            ["permit 51 any any"]
        );
        assert_eq!(
            rules_of("access-list a extended permit ah any any").unwrap(),
            ["permit 51 any any"]
        );
        assert_eq!(
            rules_of("access-list a extended permit 6 any any").unwrap(),
            ["permit tcp any any"]
        );
        assert_eq!(
            rules_of("access-list a extended permit ip any any inactive").unwrap_err(),
            "inactive rule: it has no effect on the ASA and was left out"
        );
        assert_eq!(rules_of("access-list a remark hello world").unwrap(), ["remark"]);
        assert!(
            rules_of("access-list a standard permit 10.0.0.0 255.0.0.0")
                .unwrap_err()
                .starts_with("standard access lists")
        );
        assert_eq!(
            rules_of("access-list a extended permit ip any").unwrap_err(),
            "the line ends where an address was expected"
        );
        assert_eq!(
            rules_of("access-list a extended permit ip interface outside any").unwrap_err(),
            "`interface` addresses are not supported (a crypto ACL matches addresses only)"
        );
    }
}
