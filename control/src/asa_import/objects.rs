//! Addresses and the ASA objects that name them: `name`, `object network`,
//! `object-group network`.
//!
//! Definitions are collected first and resolved when a crypto access list refers to them, so a
//! definition line counts as mapped only when a converted rule used it.

use core::fmt;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::lexer::{Block, Line};
use super::report::Report;

/// Most addresses one object or object-group may expand to (nested groups multiply quickly).
pub(crate) const MAX_NETS: usize = 4096;

/// Deepest `group-object` nesting followed.
const MAX_DEPTH: usize = 16;

/// Why a second definition of one name is not mapped.
fn already_defined(kind: &str, name: &str, first: usize) -> String {
    format!("{kind} {name} is already defined at line {first} (a running-config defines it once)")
}

/// Reports every line of a block with one reason.
fn unmapped_block(block: &Block<'_>, report: &mut Report, reason: &str) {
    for line in block.lines() {
        report.unmapped(line, reason.to_string());
    }
}

/// An address in a ferrogate access-list rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Net {
    /// `any`: IPv4 and IPv6.
    Any,
    Any4,
    Any6,
    /// A prefix with no host bits set; /32 and /128 print as a bare address.
    Prefix(IpAddr, u8),
}

impl Net {
    /// A prefix of `addr`, with the host bits cleared; the flag says whether any were set.
    pub fn prefix(addr: IpAddr, len: u8) -> (Net, bool) {
        match addr {
            IpAddr::V4(a) => {
                let len = len.min(32);
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                let bits = u32::from(a);
                (Net::Prefix(IpAddr::V4(Ipv4Addr::from(bits & mask)), len), bits & !mask != 0)
            }
            IpAddr::V6(a) => {
                let len = len.min(128);
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                let bits = u128::from(a);
                (Net::Prefix(IpAddr::V6(Ipv6Addr::from(bits & mask)), len), bits & !mask != 0)
            }
        }
    }

    /// A single address.
    pub fn host(addr: IpAddr) -> Net {
        Net::Prefix(addr, if addr.is_ipv4() { 32 } else { 128 })
    }

    /// Whether a rule may pair these two addresses: both of one family, or one of them `any`.
    pub fn pairs_with(self, other: Net) -> bool {
        match (self.is_v4(), other.is_v4()) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }

    /// `Some(true)` for IPv4 only, `Some(false)` for IPv6 only, `None` for `any`.
    fn is_v4(self) -> Option<bool> {
        match self {
            Net::Any => None,
            Net::Any4 => Some(true),
            Net::Any6 => Some(false),
            Net::Prefix(a, _) => Some(a.is_ipv4()),
        }
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Net::Any => f.write_str("any"),
            Net::Any4 => f.write_str("any4"),
            Net::Any6 => f.write_str("any6"),
            Net::Prefix(a, 32) if a.is_ipv4() => write!(f, "{a}"),
            Net::Prefix(a, 128) if a.is_ipv6() => write!(f, "{a}"),
            Net::Prefix(a, len) => write!(f, "{a}/{len}"),
        }
    }
}

/// Converts a dotted netmask to a prefix length; a non-contiguous mask (legal in ASA ACLs
/// only as a wildcard curiosity) has no prefix form.
pub(crate) fn mask_to_len(mask: &str) -> Result<u8, String> {
    let m: Ipv4Addr = mask.parse().map_err(|_| format!("`{mask}` is not a dotted netmask"))?;
    let m = u32::from(m);
    let ones = m.leading_ones();
    if ones + m.trailing_zeros() != 32 && m != 0 {
        return Err(format!(
            "non-contiguous netmask {mask}: ferrogate addresses are prefixes (A.B.C.D/len)"
        ));
    }
    // leading_ones() <= 32 always fits in u8.
    Ok(u8::try_from(ones).unwrap_or(32))
}

/// Parses `ADDR/LEN` (IPv4 or IPv6).
pub(crate) fn parse_prefix(s: &str) -> Result<(Net, bool), String> {
    let bad = || format!("`{s}` is not an address prefix (ADDR/LEN)");
    let (addr, len) = s.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if len > max {
        return Err(format!("prefix length {len} in `{s}` is longer than {max}"));
    }
    Ok(Net::prefix(addr, len))
}

/// The smallest list of prefixes that covers exactly `first..=last` (an ASA `range`).
pub(crate) fn range_to_nets(first: IpAddr, last: IpAddr) -> Result<Vec<Net>, String> {
    let (a, b, width) = match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return Err(format!("range {first} {last} mixes IPv4 and IPv6")),
    };
    if a > b {
        return Err(format!("range {first} {last} ends before it starts"));
    }
    let mut out = Vec::new();
    let mut cur = a;
    loop {
        // The largest block aligned at `cur` that does not pass `b`.
        let mut bits = if cur == 0 { width } else { cur.trailing_zeros().min(width) };
        let block_last =
            |bits: u32| if bits >= 128 { u128::MAX } else { cur | ((1u128 << bits) - 1) };
        while bits > 0 && block_last(bits) > b {
            bits -= 1;
        }
        let len = u8::try_from(width - bits).unwrap_or(0);
        let addr = if width == 32 {
            IpAddr::V4(Ipv4Addr::from(u32::try_from(cur).unwrap_or(0)))
        } else {
            IpAddr::V6(Ipv6Addr::from(cur))
        };
        out.push(Net::Prefix(addr, len));
        let end = block_last(bits);
        if end >= b {
            return Ok(out);
        }
        cur = end + 1;
    }
}

/// A member of an object or object-group.
#[derive(Debug, Clone)]
enum Member {
    Nets(Vec<Net>),
    Object(String),
    Group(String),
}

/// One definition: its lines (marked mapped when a converted rule uses it) and its members, or
/// why it cannot be used.
#[derive(Debug)]
struct Def<'a> {
    lines: Vec<Line<'a>>,
    members: Result<Vec<Member>, String>,
}

impl Def<'_> {
    /// A definition that cannot be used: its remaining lines get the reason (the broken member
    /// line already has its own).
    fn report_if_broken(&self, report: &mut Report) {
        if let Err(reason) = &self.members {
            for line in &self.lines {
                report.unmapped(line, reason.clone());
            }
        }
    }
}

/// The `name`, `object network` and `object-group network` definitions of the file.
#[derive(Debug, Default)]
pub(crate) struct Objects<'a> {
    names: HashMap<String, (IpAddr, Line<'a>)>,
    objects: HashMap<String, Def<'a>>,
    groups: HashMap<String, Def<'a>>,
}

impl<'a> Objects<'a> {
    /// `name A NAME [description ...]`.
    pub fn define_name(&mut self, block: &Block<'a>, report: &mut Report) {
        let head = &block.head;
        match (head.word(1).map(str::parse::<IpAddr>), head.word(2)) {
            (Some(Ok(addr)), Some(name)) => {
                if let Some((_, first)) = self.names.get(name) {
                    report.unmapped(head, already_defined("name", name, first.no));
                } else {
                    self.names.insert(name.to_string(), (addr, head.clone()));
                }
            }
            _ => report.unmapped(head, "expected `name ADDRESS NAME`"),
        }
        for line in &block.body {
            report.unmapped(line, "unexpected indented line under `name`");
        }
    }

    /// `object network NAME` (with ` host A`, ` subnet A M`, ` subnet P/len`, ` range A B`);
    /// other object kinds are reported.
    pub fn define_object(&mut self, block: &Block<'a>, report: &mut Report) {
        let head = &block.head;
        let Some(name) = head.word(2) else {
            report.unmapped(head, "expected `object network NAME`");
            unmapped_block(block, report, "inside an object that could not be mapped");
            return;
        };
        if let Some(first) = self.objects.get(name).and_then(|d| d.lines.first()) {
            unmapped_block(block, report, &already_defined("object", name, first.no));
            return;
        }
        if !head.is(1, "network") {
            let kind = head.word(1).unwrap_or_default();
            let reason = format!(
                "`object {kind}` objects are not supported: only `object network` objects are \
                 resolved into crypto access lists"
            );
            for line in block.lines() {
                report.unmapped(line, reason.clone());
            }
            self.objects.insert(name.to_string(), Def { lines: Vec::new(), members: Err(reason) });
            return;
        }
        let mut def = Def { lines: vec![head.clone()], members: Ok(Vec::new()) };
        let mut nets: Option<Vec<Net>> = None;
        for line in &block.body {
            let parsed = if line.is(0, "description") {
                def.lines.push(line.clone());
                continue;
            } else if line.is(0, "nat") {
                report.unmapped(line, "not a crypto section (object NAT)");
                continue;
            } else if line.is(0, "host") && line.words.len() == 2 {
                self.address(line.word(1).unwrap_or_default()).map(|a| vec![Net::host(a)])
            } else if line.is(0, "subnet") && line.words.len() == 3 {
                self.address_mask(
                    line.word(1).unwrap_or_default(),
                    line.word(2).unwrap_or_default(),
                )
                .map(|(n, _)| vec![n])
            } else if line.is(0, "subnet") && line.words.len() == 2 {
                parse_prefix(line.word(1).unwrap_or_default()).map(|(n, _)| vec![n])
            } else if line.is(0, "range") && line.words.len() == 3 {
                self.address(line.word(1).unwrap_or_default())
                    .and_then(|a| range_to_nets(a, self.address(line.word(2).unwrap_or_default())?))
            } else if line.is(0, "fqdn") {
                Err("fqdn objects are not supported: ferrogate access lists need addresses \
                     resolved at load time"
                    .to_string())
            } else {
                Err(format!(
                    "`{}` in an object network is not supported (expected host, subnet or range)",
                    line.words.join(" ")
                ))
            };
            match parsed {
                Ok(n) => {
                    def.lines.push(line.clone());
                    nets = Some(n);
                }
                Err(reason) => {
                    report.unmapped(line, reason.clone());
                    def.members = Err(format!("object {name}: {reason} (line {})", line.no));
                }
            }
        }
        if def.members.is_ok() {
            def.members = match nets {
                Some(n) => Ok(vec![Member::Nets(n)]),
                None => Err(format!("object {name} has no address (line {})", head.no)),
            };
        }
        def.report_if_broken(report);
        self.objects.insert(name.to_string(), def);
    }

    /// `object-group network NAME` (with ` network-object host A`, ` network-object A M`,
    /// ` network-object P/len`, ` network-object object O`, ` group-object G`); other group
    /// kinds are reported.
    pub fn define_group(&mut self, block: &Block<'a>, report: &mut Report) {
        let head = &block.head;
        let Some(name) = head.word(2) else {
            report.unmapped(head, "expected `object-group network NAME`");
            unmapped_block(block, report, "inside an object-group that could not be mapped");
            return;
        };
        if let Some(first) = self.groups.get(name).and_then(|d| d.lines.first()) {
            unmapped_block(block, report, &already_defined("object-group", name, first.no));
            return;
        }
        if !head.is(1, "network") {
            let kind = head.word(1).unwrap_or_default();
            let reason = format!(
                "`object-group {kind}` is not supported: write the protocols and ports into the \
                 access-list rules (only `object-group network` is resolved)"
            );
            for line in block.lines() {
                report.unmapped(line, reason.clone());
            }
            self.groups.insert(name.to_string(), Def { lines: Vec::new(), members: Err(reason) });
            return;
        }
        let mut def = Def { lines: vec![head.clone()], members: Ok(Vec::new()) };
        let mut members = Vec::new();
        for line in &block.body {
            let parsed = match line.words.as_slice() {
                [d, ..] if d.eq_ignore_ascii_case("description") => {
                    def.lines.push(line.clone());
                    continue;
                }
                [n, h, a]
                    if n.eq_ignore_ascii_case("network-object")
                        && h.eq_ignore_ascii_case("host") =>
                {
                    self.address(a).map(|a| Member::Nets(vec![Net::host(a)]))
                }
                [n, o, name]
                    if n.eq_ignore_ascii_case("network-object")
                        && o.eq_ignore_ascii_case("object") =>
                {
                    Ok(Member::Object((*name).to_string()))
                }
                [n, a, m] if n.eq_ignore_ascii_case("network-object") => {
                    self.address_mask(a, m).map(|(net, _)| Member::Nets(vec![net]))
                }
                [n, p] if n.eq_ignore_ascii_case("network-object") => {
                    parse_prefix(p).map(|(net, _)| Member::Nets(vec![net]))
                }
                [g, name] if g.eq_ignore_ascii_case("group-object") => {
                    Ok(Member::Group((*name).to_string()))
                }
                _ => Err(format!(
                    "`{}` in an object-group network is not supported (expected network-object \
                     or group-object)",
                    line.words.join(" ")
                )),
            };
            match parsed {
                Ok(m) => {
                    def.lines.push(line.clone());
                    members.push(m);
                }
                Err(reason) => {
                    report.unmapped(line, reason.clone());
                    def.members = Err(format!("object-group {name}: {reason} (line {})", line.no));
                }
            }
        }
        if def.members.is_ok() {
            def.members = Ok(members);
        }
        def.report_if_broken(report);
        self.groups.insert(name.to_string(), def);
    }

    /// An address literal or a `name`.
    pub fn address(&self, word: &str) -> Result<IpAddr, String> {
        if let Ok(a) = word.parse::<IpAddr>() {
            return Ok(a);
        }
        self.names
            .get(word)
            .map(|(a, _)| *a)
            .ok_or_else(|| format!("`{word}` is neither an address nor a defined `name`"))
    }

    /// `A MASK` (IPv4 with a dotted netmask); the flag says whether host bits were cleared.
    pub fn address_mask(&self, addr: &str, mask: &str) -> Result<(Net, bool), String> {
        let a = self.address(addr)?;
        if !a.is_ipv4() {
            return Err(format!("`{addr} {mask}`: IPv6 addresses take a /prefix, not a netmask"));
        }
        Ok(Net::prefix(a, mask_to_len(mask)?))
    }

    /// The lines that define `name` (if it is a `name`), for marking them used.
    pub fn name_line(&self, word: &str) -> Option<usize> {
        if word.parse::<IpAddr>().is_ok() {
            return None;
        }
        self.names.get(word).map(|(_, l)| l.no)
    }

    /// Whether `name` is an `object-group network` (their definitions always keep the head
    /// line; other group kinds keep none).
    pub fn is_network_group(&self, name: &str) -> bool {
        self.groups.get(name).is_some_and(|d| !d.lines.is_empty())
    }

    /// The addresses of `object NAME`; `used` collects the definition lines involved.
    pub fn resolve_object(&self, name: &str, used: &mut Vec<usize>) -> Result<Vec<Net>, String> {
        self.resolve_root(Member::Object(name.to_string()), used)
    }

    /// The addresses of `object-group NAME`; `used` collects the definition lines involved.
    pub fn resolve_group(&self, name: &str, used: &mut Vec<usize>) -> Result<Vec<Net>, String> {
        self.resolve_root(Member::Group(name.to_string()), used)
    }

    fn resolve_root(&self, member: Member, used: &mut Vec<usize>) -> Result<Vec<Net>, String> {
        let mut out = Vec::new();
        let mut visited = HashSet::new();
        self.resolve(&member, used, &mut out, &mut visited, 0)?;
        if out.is_empty() {
            let (Member::Object(name) | Member::Group(name)) = &member else {
                return Err("no addresses".to_string());
            };
            return Err(format!("{name} holds no addresses"));
        }
        Ok(out)
    }

    /// Adds the addresses of `member` to `out`. Each definition is expanded once per walk
    /// (`visited`), so shared or cyclic nesting stays linear.
    fn resolve(
        &self,
        member: &Member,
        used: &mut Vec<usize>,
        out: &mut Vec<Net>,
        visited: &mut HashSet<(bool, String)>,
        depth: usize,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("object-groups nest deeper than {MAX_DEPTH}"));
        }
        let (def, what, name) = match member {
            Member::Nets(nets) => {
                for n in nets {
                    if !out.contains(n) {
                        out.push(*n);
                    }
                }
                if out.len() > MAX_NETS {
                    return Err(format!("objects expand to more than {MAX_NETS} addresses"));
                }
                return Ok(());
            }
            Member::Object(name) => (self.objects.get(name), "object", name),
            Member::Group(name) => (self.groups.get(name), "object-group", name),
        };
        let def = def.ok_or_else(|| format!("{what} {name} is not defined"))?;
        if !visited.insert((matches!(member, Member::Group(_)), name.clone())) {
            return Ok(());
        }
        let members = def.members.as_ref().map_err(Clone::clone)?;
        used.extend(def.lines.iter().map(|l| l.no));
        for line in &def.lines {
            // Names used inside the definition count as used too.
            for w in &line.words {
                if let Some(no) = self.name_line(w) {
                    used.push(no);
                }
            }
        }
        for m in members {
            self.resolve(m, used, out, visited, depth + 1)?;
        }
        Ok(())
    }

    /// Reports every definition line no converted rule used; `failed_refs` holds (definition
    /// line, access-list line) for the lines used only by rules that could not be converted.
    pub fn report_unused(&self, report: &mut Report, failed_refs: &[(usize, usize)]) {
        let reason = |kind: &str, name: &str, line: &Line<'_>| match failed_refs
            .iter()
            .find(|(def, _)| *def == line.no)
        {
            Some((_, acl)) => format!(
                "{kind} {name} is used only by access-list line {acl}, which could not be converted"
            ),
            None => {
                format!("{kind} {name} is not used by a crypto access list (not a crypto section)")
            }
        };
        for (name, (_, line)) in &self.names {
            if report.is_pending(line.no) {
                report.unmapped(line, reason("name", name, line));
            }
        }
        for (kind, defs) in [("object", &self.objects), ("object-group", &self.groups)] {
            for (name, def) in defs {
                for line in &def.lines {
                    if report.is_pending(line.no) {
                        report.unmapped(line, reason(kind, name, line));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asa_import::lexer::{Item, lex};

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn netmask_to_prefix_length() {
        assert_eq!(mask_to_len("255.255.255.0"), Ok(24));
        assert_eq!(mask_to_len("255.255.255.255"), Ok(32));
        assert_eq!(mask_to_len("0.0.0.0"), Ok(0));
        assert_eq!(mask_to_len("255.255.240.0"), Ok(20));
        assert_eq!(mask_to_len("128.0.0.0"), Ok(1));
        assert_eq!(
            mask_to_len("255.0.255.0"),
            Err("non-contiguous netmask 255.0.255.0: ferrogate addresses are prefixes \
                 (A.B.C.D/len)"
                .to_string())
        );
        assert!(mask_to_len("0.0.0.255").is_err());
        assert!(mask_to_len("255.255.255").is_err());
    }

    #[test]
    fn prefix_clears_host_bits_and_prints_hosts_bare() {
        assert_eq!(Net::prefix(v4("10.1.2.3"), 24), (Net::Prefix(v4("10.1.2.0"), 24), true));
        assert_eq!(Net::prefix(v4("10.1.2.0"), 24).0.to_string(), "10.1.2.0/24");
        assert_eq!(Net::host(v4("10.1.2.3")).to_string(), "10.1.2.3");
        assert_eq!(Net::prefix(v4("10.1.2.3"), 0).0.to_string(), "0.0.0.0/0");
        assert_eq!(parse_prefix("2001:db8::1/64").unwrap().0.to_string(), "2001:db8::/64");
        assert!(parse_prefix("2001:db8::/129").is_err());
    }

    #[test]
    fn ranges_become_minimal_prefix_lists() {
        let nets = range_to_nets(v4("10.0.0.1"), v4("10.0.0.6")).unwrap();
        let s: Vec<String> = nets.iter().map(ToString::to_string).collect();
        assert_eq!(s, ["10.0.0.1", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6"]);
        let all = range_to_nets(v4("0.0.0.0"), v4("255.255.255.255")).unwrap();
        assert_eq!(all, vec![Net::Prefix(v4("0.0.0.0"), 0)]);
        let v6 = range_to_nets(
            "::".parse().unwrap(),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(v6.len(), 1);
        assert_eq!(v6[0].to_string(), "::/0");
        assert!(range_to_nets(v4("10.0.0.9"), v4("10.0.0.1")).is_err());
        assert!(range_to_nets(v4("10.0.0.1"), "::1".parse().unwrap()).is_err());
    }

    fn define(text: &str) -> (Objects<'_>, Report) {
        let lexed = lex(text);
        let mut report = Report::new(lexed.line_count, &lexed.significant);
        let mut objects = Objects::default();
        for item in &lexed.items {
            let Item::Block(b) = item else { continue };
            if b.head.is(0, "name") {
                objects.define_name(b, &mut report);
            } else if b.head.is(0, "object") {
                objects.define_object(b, &mut report);
            } else {
                objects.define_group(b, &mut report);
            }
        }
        (objects, report)
    }

    #[test]
    fn object_group_expansion_follows_nesting_and_names() {
        let text = "name 10.9.9.9 jump-host\n\
                    object network web\n subnet 10.1.0.0 255.255.255.0\n\
                    object network pool\n range 10.2.0.0 10.2.1.255\n\
                    object-group network inner\n network-object host jump-host\n network-object 10.3.0.0 255.255.0.0\n\
                    object-group network outer\n description sites\n network-object object web\n group-object inner\n network-object object pool\n";
        let (objects, mut report) = define(text);
        let mut used = Vec::new();
        let nets = objects.resolve_group("outer", &mut used).unwrap();
        let s: Vec<String> = nets.iter().map(ToString::to_string).collect();
        assert_eq!(s, ["10.1.0.0/24", "10.9.9.9", "10.3.0.0/16", "10.2.0.0/23"]);
        used.sort_unstable();
        used.dedup();
        assert_eq!(used, (1..=13).collect::<Vec<_>>());
        for no in used {
            report.mapped_no(no);
        }
        objects.report_unused(&mut report, &[]);
        assert_eq!(report.unmapped_count(), 0);
    }

    #[test]
    fn unsupported_and_broken_definitions_give_reasons() {
        let text = "object network fq\n fqdn vpn.example.net\n\
                    object-group network bad\n network-object 10.0.0.0 255.0.255.0\n\
                    object-group service svc tcp\n port-object eq www\n\
                    object-group network loop\n group-object loop\n";
        let (objects, report) = define(text);
        let mut used = Vec::new();
        let err = objects.resolve_object("fq", &mut used).unwrap_err();
        assert!(err.starts_with("object fq: fqdn objects are not supported"), "{err}");
        let err = objects.resolve_group("bad", &mut used).unwrap_err();
        assert!(
            err.contains("non-contiguous netmask 255.0.255.0") && err.contains("(line 4)"),
            "{err}"
        );
        let err = objects.resolve_group("svc", &mut used).unwrap_err();
        assert!(err.starts_with("`object-group service` is not supported"), "{err}");
        assert_eq!(
            objects.resolve_group("loop", &mut used).unwrap_err(),
            "loop holds no addresses"
        );
        assert!(objects.resolve_group("nope", &mut used).unwrap_err().contains("not defined"));
        let mut lines: Vec<usize> = report.unmapped_list().iter().map(|u| u.line).collect();
        lines.sort_unstable();
        assert_eq!(lines, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn shared_nesting_is_expanded_once() {
        // Ten groups, each naming the previous one ten times: 10^10 paths, one walk each.
        let mut text = String::from("object-group network g0\n network-object host 10.0.0.1\n");
        for i in 1..10 {
            text.push_str(&format!("object-group network g{i}\n"));
            for _ in 0..10 {
                text.push_str(&format!(" group-object g{}\n", i - 1));
            }
        }
        let (objects, _) = define(&text);
        let nets = objects.resolve_group("g9", &mut Vec::new()).unwrap();
        assert_eq!(nets, vec![Net::host(v4("10.0.0.1"))]);
    }
}
