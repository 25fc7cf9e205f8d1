//! Dynamic crypto maps: `crypto dynamic-map DYN SEQ ...` and the entries that use them,
//! `crypto map NAME SEQ ipsec-isakmp dynamic DYN`, become ferrogate dynamic entries
//! (`dynamic = true`, `tunnel_group`).
//!
//! The first pass only collects the dynamic-map lines (and the `tunnel-group DefaultRAGroup`
//! blocks, which are mapped only if a dynamic entry answers that group's clients); the
//! `crypto map ... dynamic` line leaves a placeholder entry in file order. [`resolve`] runs
//! once everything is known, since the ASA may list the dynamic map, the crypto map and the
//! tunnel groups in any order.
//!
//! Where ferrogate differs from the ASA:
//! - a ferrogate crypto map takes one dynamic entry, with one set of settings: a dynamic map
//!   with several sequences gives its lowest (the one the ASA tries first), the others are
//!   reported; a second dynamic entry in one crypto map is reported;
//! - the ASA picks the tunnel group of a dynamic peer by its identity (the group name a
//!   remote-access client sends; DefaultL2LGroup for LAN-to-LAN peers), ferrogate's entry
//!   names one group: the only remote-access group with an address pool, else DefaultRAGroup
//!   (with an address pool), else DefaultL2LGroup; the choice is a note;
//! - dynamic entries are IKEv2 only: IKEv1 transform sets are reported, and a dynamic map
//!   without an IKEv2 proposal is not imported;
//! - `match` is required: a dynamic map without `match address` (all traffic on the ASA)
//!   gets a `permit ip any any` access list of its own, with a note.

use std::collections::HashSet;

use super::crypto::{number, unmapped_body};
use super::crypto_map::entry_command;
use super::find_line;
use super::lexer::{Block, Item, Line};
use super::model::{AccessList, Config, CryptoMap, Protocol, Rule};
use super::objects::Net;
use super::report::Report;
use super::tunnel_group::{self, DEFAULT_L2L_GROUP, DEFAULT_RA_GROUP};

/// What the first pass keeps for [`resolve`].
#[derive(Debug, Default)]
pub(crate) struct DynamicMaps<'a> {
    /// `crypto dynamic-map DYN SEQ ...` lines with a valid name and sequence, in file order.
    lines: Vec<(String, u32, Line<'a>)>,
    /// `tunnel-group DefaultRAGroup ...` blocks, in file order.
    default_ra: Vec<Block<'a>>,
}

impl<'a> DynamicMaps<'a> {
    /// `crypto dynamic-map DYN SEQ <command>`: kept (still pending) for [`resolve`].
    pub fn collect(&mut self, block: &Block<'a>, report: &mut Report) {
        let head = &block.head;
        unmapped_body(block, report, "unexpected indented line under a dynamic crypto map command");
        let Some(name) = head.word(2) else {
            report.unmapped(head, "expected `crypto dynamic-map NAME SEQ ...`");
            return;
        };
        match number(head.word(3), 1, 65535, "sequence number") {
            Ok(seq) => self.lines.push((name.to_string(), seq as u32, head.clone())),
            Err(e) => {
                report.unmapped(head, format!("{e} (expected `crypto dynamic-map NAME SEQ ...`)"))
            }
        }
    }

    /// `tunnel-group DefaultRAGroup ...`: converted by [`resolve`], which knows whether a
    /// dynamic entry uses the group.
    pub fn defer_default_ra(&mut self, block: &Block<'a>) {
        self.default_ra.push(block.clone());
    }
}

/// What became of one line of a dynamic map's imported sequence.
enum Outcome {
    /// Converted into the entry.
    Converted,
    /// `set ikev1 transform-set` (dynamic entries are IKEv2 only).
    Ikev1,
    /// Not converted, with the reason.
    Refused(String),
}

/// One dynamic map, its lowest sequence converted into the settings of a crypto map entry.
struct DynamicMap<'m, 'a> {
    name: &'m str,
    sequence: u32,
    /// The lines of `sequence`, each with its outcome.
    lines: Vec<(&'m Line<'a>, Outcome)>,
    /// The lines of the other sequences.
    others: Vec<&'m Line<'a>>,
    /// The settings (`line`, `name` and `sequence` are the crypto map's, filled per entry).
    settings: CryptoMap,
    /// Notes of the conversion, made only if the map is imported.
    notes: Vec<String>,
    /// Why no entry can take the map (it has no IKEv2 proposal), if so.
    unusable: Option<String>,
    /// The access list written for a map without `match address`.
    any_acl: Option<String>,
    /// Whether a crypto map entry refers to it, and whether one took it.
    referenced: bool,
    imported: bool,
    /// Why the first entry that refers to it was refused (crypto map line, reason).
    refused: Option<(usize, String)>,
}

impl<'m, 'a> DynamicMap<'m, 'a> {
    /// Converts the lowest sequence of dynamic map `name` (of `all`, every dynamic-map line).
    fn convert(name: &'m str, all: &'m [(String, u32, Line<'a>)]) -> Self {
        let mine = || all.iter().filter(move |(n, _, _)| n == name);
        let sequence = mine().map(|(_, s, _)| *s).min().unwrap_or_default();
        let mut settings = CryptoMap::default();
        let mut notes = Vec::new();
        let mut lines = Vec::new();
        let mut others = Vec::new();
        for (_, seq, line) in mine() {
            if *seq != sequence {
                others.push(line);
                continue;
            }
            let lower: Vec<String> = line.rest(4).iter().map(|w| w.to_ascii_lowercase()).collect();
            let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
            let outcome = match lower.as_slice() {
                ["set", "ikev1", "transform-set", ..] | ["set", "transform-set", ..] => {
                    Outcome::Ikev1
                }
                ["set", "peer", ..] => Outcome::Refused(
                    "a ferrogate dynamic entry answers any peer of its tunnel group: `set peer` \
                     does not apply (a peer with a known address needs a static crypto map entry)"
                        .to_string(),
                ),
                ["set", "connection-type", t] if *t != "answer-only" => Outcome::Refused(
                    "a ferrogate dynamic entry only answers (it has no peer address to initiate \
                     to): the connection type is answer-only"
                        .to_string(),
                ),
                _ => match entry_command(line, &mut settings, &mut notes) {
                    Ok(()) => Outcome::Converted,
                    Err(e) => Outcome::Refused(e),
                },
            };
            lines.push((line, outcome));
        }
        let unusable = settings.ikev2_proposals.is_empty().then(|| {
            format!(
                "dynamic map {name} has no IKEv2 proposal (`set ikev2 ipsec-proposal`), and \
                 ferrogate's dynamic crypto map entries are IKEv2 only"
            )
        });
        DynamicMap {
            name,
            sequence,
            lines,
            others,
            settings,
            notes,
            unusable,
            any_acl: None,
            referenced: false,
            imported: false,
            refused: None,
        }
    }

    /// The line the map's imported sequence starts at.
    fn first_line(&self) -> usize {
        self.lines.first().map_or(0, |(l, _)| l.no)
    }

    /// Marks its lines mapped or unmapped, and passes its notes on.
    fn report(self, report: &mut Report) {
        let name = self.name;
        let first = self.first_line();
        if self.imported {
            for (line, outcome) in self.lines {
                match outcome {
                    Outcome::Converted => report.mapped(line),
                    Outcome::Ikev1 => report.unmapped(
                        line,
                        "ferrogate's dynamic crypto map entries are IKEv2 only: the IKEv1 \
                         transform sets are not imported (the IKEv2 proposals are)",
                    ),
                    Outcome::Refused(e) => report.unmapped(line, e),
                }
            }
            let reason = format!(
                "a ferrogate crypto map takes one dynamic entry, with one set of settings: \
                 sequence {} of dynamic map {name} (line {}) was imported, not this one",
                self.sequence, first
            );
            for line in self.others {
                report.unmapped(line, reason.clone());
            }
            for n in self.notes {
                report.note(n);
            }
            return;
        }
        let reason = if !self.referenced {
            format!(
                "dynamic map {name} is not used by a crypto map (`crypto map NAME SEQ \
                 ipsec-isakmp dynamic {name}`)"
            )
        } else if let Some(u) = self.unusable {
            u
        } else if let Some((no, why)) = self.refused {
            format!(
                "dynamic map {name} is not imported: its crypto map entry (line {no}) is not: {why}"
            )
        } else {
            format!("dynamic map {name} is not imported")
        };
        for (line, outcome) in self.lines {
            match outcome {
                // A line's own error says more than the map's.
                Outcome::Refused(e) => report.unmapped(line, e),
                Outcome::Converted | Outcome::Ikev1 => report.unmapped(line, reason.clone()),
            }
        }
        for line in self.others {
            report.unmapped(line, reason.clone());
        }
    }
}

/// The tunnel group a dynamic entry answers and why, or why there is none.
fn choose_group(config: &Config, default_ra: &[Block<'_>]) -> Result<(String, String), String> {
    let ra: Vec<&str> = config
        .tunnel_groups
        .iter()
        .filter(|t| t.kind == Some("remote-access") && !t.address_pools.is_empty())
        .map(|t| t.name.as_str())
        .collect();
    if let [only] = ra.as_slice() {
        return Ok((
            (*only).to_string(),
            "the only remote-access tunnel group with an address pool (the ASA picks a \
             client's tunnel group by the group name the client sends; a ferrogate dynamic \
             entry answers the peers of one group)"
                .to_string(),
        ));
    }
    let several = if ra.is_empty() {
        "no remote-access tunnel group has an address pool".to_string()
    } else {
        format!(
            "remote-access tunnel groups {} each have an address pool, and a ferrogate dynamic \
             entry answers one group",
            ra.join(", ")
        )
    };
    let ra_without_pool = !default_ra.is_empty();
    if default_ra.iter().any(tunnel_group::gives_address_pool) {
        return Ok((
            DEFAULT_RA_GROUP.to_string(),
            format!(
                "the ASA's group for remote-access clients that name no group of their own \
                 ({several})"
            ),
        ));
    }
    let no_default_ra = if ra_without_pool {
        format!("{DEFAULT_RA_GROUP} has no address pool")
    } else {
        format!("there is no {DEFAULT_RA_GROUP}")
    };
    if config.tunnel_groups.iter().any(|t| t.name == DEFAULT_L2L_GROUP) {
        return Ok((
            DEFAULT_L2L_GROUP.to_string(),
            format!(
                "the ASA's group for LAN-to-LAN peers without a tunnel group of their own \
                 ({several}; {no_default_ra})"
            ),
        ));
    }
    Err(format!(
        "no tunnel group to authenticate its peers: a ferrogate dynamic entry answers the peers \
         of one tunnel group, and {several}, {no_default_ra}, and there is no \
         {DEFAULT_L2L_GROUP}; add the entry by hand with the tunnel_group to answer"
    ))
}

/// A name for the access list of a dynamic map without `match address`, unused so far.
fn any_acl_name(map: &str, taken: &HashSet<String>) -> String {
    let base = format!("{map}-any");
    if !taken.contains(&base) {
        return base;
    }
    (2..).map(|i| format!("{base}-{i}")).find(|n| !taken.contains(n)).unwrap_or(base)
}

/// Turns the placeholders `crypto_map` left for `crypto map NAME SEQ ipsec-isakmp dynamic
/// DYN` into dynamic entries (or drops them, reporting why), reports the dynamic-map lines and
/// converts the DefaultRAGroup blocks. `acl_names` are the ASA's access lists. Returns the
/// access lists written for dynamic maps without `match address`; their names are already in
/// the entries' `match_acl`.
pub(crate) fn resolve(
    maps: DynamicMaps<'_>,
    items: &[Item<'_>],
    config: &mut Config,
    acl_names: &HashSet<&str>,
    report: &mut Report,
) -> Vec<AccessList> {
    let DynamicMaps { lines, default_ra } = maps;
    let mut names: Vec<&str> = Vec::new();
    for (n, _, _) in &lines {
        if !names.contains(&n.as_str()) {
            names.push(n);
        }
    }
    let mut dynamic: Vec<DynamicMap<'_, '_>> =
        names.iter().map(|&n| DynamicMap::convert(n, &lines)).collect();
    let choice = choose_group(config, &default_ra);

    // The verdict on each placeholder, in (map, sequence) order: the ASA tries the lowest
    // sequence first, so that is the dynamic entry a crypto map keeps.
    let mut order: Vec<usize> = (0..config.crypto_maps.len())
        .filter(|&i| config.crypto_maps[i].dynamic.is_some())
        .collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&config.crypto_maps[a], &config.crypto_maps[b]);
        (&a.name, a.sequence).cmp(&(&b.name, b.sequence))
    });
    let mut verdicts: Vec<(usize, Result<usize, String>)> = Vec::new();
    let mut taken: Vec<(&str, u32, usize)> = Vec::new();
    for &i in &order {
        let m = &config.crypto_maps[i];
        let d = m.dynamic.as_deref().unwrap_or_default();
        let found = dynamic.iter().position(|x| x.name == d);
        if let Some(k) = found {
            dynamic[k].referenced = true;
        }
        let verdict = match found {
            None => {
                Err(format!("dynamic map {d} is not defined (no `crypto dynamic-map {d} ...`)"))
            }
            Some(k) => match (&dynamic[k].unusable, &choice) {
                (Some(u), _) => Err(u.clone()),
                (None, Err(e)) => Err(e.clone()),
                (None, Ok(_)) => match taken.iter().find(|(n, _, _)| *n == m.name) {
                    Some((_, seq, line)) => Err(format!(
                        "crypto map {} already has a dynamic entry (sequence {seq}, line {line}): \
                         a ferrogate crypto map takes one dynamic entry",
                        m.name
                    )),
                    None => {
                        taken.push((&m.name, m.sequence, m.line));
                        Ok(k)
                    }
                },
            },
        };
        if let (Err(e), Some(k)) = (&verdict, found)
            && dynamic[k].refused.is_none()
        {
            dynamic[k].refused = Some((m.line, e.clone()));
        }
        verdicts.push((i, verdict));
    }

    // DefaultRAGroup becomes a ferrogate tunnel group only if an entry answers its clients.
    let group = choice.ok().filter(|_| verdicts.iter().any(|(_, v)| v.is_ok()));
    let default_ra_used = group.as_ref().is_some_and(|(g, _)| g == DEFAULT_RA_GROUP);
    for block in &default_ra {
        if default_ra_used {
            tunnel_group::default_ra_group(block, config, report);
        } else {
            tunnel_group::tunnel_group(block, config, report);
        }
    }

    let mut any_acls = Vec::new();
    let mut taken_acls: HashSet<String> = acl_names.iter().map(|n| n.to_string()).collect();
    let mut drop = Vec::new();
    let mut first_entry = None;
    for (i, verdict) in verdicts {
        let m = &mut config.crypto_maps[i];
        let (k, (g, why)) = match (verdict, &group) {
            (Ok(k), Some(group)) => (k, group),
            (verdict, _) => {
                // `group` is known whenever a verdict is Ok.
                let e = verdict.err().unwrap_or_else(|| "no tunnel group".to_string());
                if let Some(line) = find_line(items, m.line) {
                    report.unmapped(&line, e);
                }
                drop.push(i);
                continue;
            }
        };
        let d = &mut dynamic[k];
        d.imported = true;
        if d.settings.match_acl.is_none() && d.any_acl.is_none() {
            let acl = any_acl_name(d.name, &taken_acls);
            taken_acls.insert(acl.clone());
            report.note(format!(
                "line {}: dynamic map {} has no `match address` (on the ASA: all traffic): \
                 access list {acl} (permit ip any any) was written for it, since a ferrogate \
                 crypto map needs `match`; narrow it to the networks its peers may reach",
                d.first_line(),
                d.name
            ));
            any_acls.push(AccessList {
                name: acl.clone(),
                rules: vec![Rule {
                    permit: true,
                    protocol: Protocol::Named("ip"),
                    src: Net::Any,
                    src_port: None,
                    dst: Net::Any,
                    dst_port: None,
                    icmp_type: None,
                }],
            });
            d.any_acl = Some(acl);
        }
        let (line, name, sequence) = (m.line, m.name.clone(), m.sequence);
        *m = CryptoMap {
            line,
            name,
            sequence,
            match_acl: d.settings.match_acl.clone().or_else(|| d.any_acl.clone()),
            dynamic: Some(d.name.to_string()),
            tunnel_group: Some(g.clone()),
            ..d.settings.clone()
        };
        report.mapped_no(line);
        report.note(format!(
            "line {line}: crypto map {} {sequence} (dynamic map {}): tunnel_group = \"{g}\", {why}",
            m.name, d.name
        ));
        first_entry.get_or_insert(line);
    }
    // Removed last to first, so that the indices stay valid.
    drop.sort_unstable();
    for i in drop.into_iter().rev() {
        config.crypto_maps.remove(i);
    }

    if let (Some((g, _)), Some(line)) = (&group, first_entry)
        && let Some(tg) = config.tunnel_groups.iter().find(|t| &t.name == g)
        && (tg.ikev2_local_authentication.is_none() || tg.ikev2_remote_authentication.is_none())
    {
        report.note(format!(
            "line {line}: tunnel group {g} answers a dynamic crypto map entry, which uses IKEv2, \
             but has no IKEv2 authentication of both sides (`ikev2 local-authentication` and \
             `ikev2 remote-authentication` in its ipsec-attributes): add it before use"
        ));
    }

    for d in dynamic {
        d.report(report);
    }
    any_acls
}
