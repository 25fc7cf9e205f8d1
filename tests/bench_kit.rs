//! CI sanity of the benchmark kit without DPDK: the `--matrix full` case list (the issue's
//! 144 combinations, each once) and the SVG charts of a tiny results set (well-formed,
//! deterministic, every series present).

use clap::Parser;
use ferrogate::bench::charts::charts;
use ferrogate::bench::plot::{self, Chart, Series, Style, XAxis};
use ferrogate::bench::results::{CaseResult, Outcome};
use ferrogate::bench::traffic::{Dir, Size};
use ferrogate::bench::{BenchArgs, FULL_TRANSFORMS, FULL_TUNNELS, FULL_WORKERS};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: BenchArgs,
}

fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
    Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).map(|c| c.bench)
}

#[test]
fn full_matrix_is_the_issues_144_cases_each_once() {
    let s = parse(&["--matrix", "full"]).unwrap().settings().unwrap();
    assert_eq!(s.cases.len(), 144);
    let mut names: Vec<String> = s.cases.iter().map(|c| c.name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 144, "case names are unique");
    for t in FULL_TRANSFORMS {
        for w in FULL_WORKERS {
            for size in ["64", "imix", "1420"] {
                for dir in ["enc", "dec"] {
                    for n in FULL_TUNNELS {
                        let name = format!("{size}-{dir}-{n}tun-{w}w-{t}");
                        assert!(names.contains(&name), "{name} missing");
                    }
                }
            }
        }
    }
    assert!(s.cases.iter().any(|c| c.tunnels == 1_000_000 && c.transform == "aes128-sha256"));
}

#[test]
fn options_narrow_the_matrix_and_quick_stays_small() {
    let narrowed = parse(&["--matrix", "full", "--workers", "1", "--tunnels", "1,1000"])
        .unwrap()
        .settings()
        .unwrap();
    assert_eq!(narrowed.cases.len(), 3 * 3 * 2 * 2);
    assert!(narrowed.cases.iter().all(|c| c.workers == 1));

    let default = parse(&[]).unwrap().settings().unwrap();
    assert_eq!(default.cases.len(), 12, "enc,dec x 3 sizes x 1 and 100,000 tunnels");
    assert!(default.cases.iter().all(|c| c.workers == 1 && c.transform == "aes128gcm16"));

    let quick = parse(&["--quick"]).unwrap().settings().unwrap();
    assert_eq!(quick.cases.len(), 6);
    assert!(quick.cases.iter().all(|c| c.tunnels == 1));
    assert!(quick.measure_s <= 2.0 && quick.warmup_s <= 0.5, "CI's short mode");

    // A list given twice runs each case once; lists of transforms and workers work.
    let lists = parse(&[
        "--transform",
        "aes256gcm16,AES128-SHA256",
        "--workers",
        "1,2,1",
        "--size",
        "64",
        "--dir",
        "enc",
        "--tunnels",
        "1",
    ])
    .unwrap()
    .settings()
    .unwrap();
    assert_eq!(lists.cases.len(), 4);
    assert!(lists.cases.iter().any(|c| c.transform == "aes128-sha256" && c.workers == 2));

    assert!(parse(&["--quick", "--matrix", "full"]).is_err(), "--quick is its own set");
    assert!(parse(&["--workers", "0"]).is_err());
    assert!(parse(&["--transform", "rot13"]).unwrap().settings().is_err());
    assert!(parse(&["--tunnels", "2000000"]).unwrap().settings().is_err());
}

fn row(size: Size, dir: Dir, tunnels: u32, transform: &str, mpps: f64) -> CaseResult {
    let frame = match size {
        Size::B64 => 64.0,
        Size::Imix => 361.8,
        Size::Ip1420 => 1434.0,
    };
    let mut r = CaseResult {
        size,
        dir,
        tunnels,
        workers: 1,
        transform: transform.into(),
        replay_window: 64,
        pcap_packets: 1024,
        mean_input_frame: frame,
        flow_cache: 16_384,
        mpps: None,
        ns_per_packet: None,
        gbps: None,
        l1_gbps: None,
        io_mpps: None,
        vs_one_tunnel_pct: None,
        appliance: Outcome { seconds: 1.0, rx: 1, tx: 1, ..Outcome::default() },
        io: None,
        error: None,
    };
    r.mpps = Some(mpps);
    r.io_mpps = Some(mpps * 3.0);
    r
}

/// Element nesting: every opened element closed in order, nothing left open; `&` only in
/// entities. Enough to catch broken output without an XML library.
fn check_xmlish(svg: &str) {
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let text = &rest[..start];
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].iter().any(|e| entity.starts_with(e)),
                "bare & in {text:?}"
            );
        }
        let end = rest[start..].find('>').expect("unclosed tag") + start;
        let tag = &rest[start + 1..end];
        assert!(!tag.contains('<'), "< inside a tag: {tag}");
        assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().unwrap_or_default();
            stack.push(name.to_owned());
        }
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "left open: {stack:?}");
    assert!(rest.trim().is_empty());
}

#[test]
fn charts_of_a_tiny_results_set() {
    let mut rows = Vec::new();
    for (t, base) in [(1, 2.0), (1000, 1.5), (100_000, 1.0)] {
        for size in [Size::B64, Size::Ip1420] {
            rows.push(row(size, Dir::Enc, t, "aes128gcm16", base));
            rows.push(row(size, Dir::Enc, t, "aes128-sha256", base / 2.0));
        }
    }
    // A failed case gives no point, and no chart breaks for it.
    let mut failed = row(Size::B64, Dir::Dec, 1, "aes128gcm16", 1.0);
    failed.mpps = None;
    failed.io_mpps = None;
    rows.push(failed);

    let all = charts(&rows);
    let files: Vec<&str> = all.iter().map(|c| c.file.as_str()).collect();
    assert_eq!(
        files,
        [
            "size-enc-1tun",
            "size-enc-1000tun",
            "size-enc-100000tun",
            "tunnels-enc-64",
            "tunnels-enc-1420"
        ]
    );
    for c in &all {
        let svg = plot::render(&c.chart);
        check_xmlish(&svg);
        assert_eq!(svg, plot::render(&c.chart), "deterministic");
        for name in ["aes128gcm16 1w", "aes128-sha256 1w"] {
            assert!(svg.contains(&format!("data-name=\"{name}\"")), "{} lacks {name}", c.file);
        }
    }
    // Size charts: bars of both transforms plus the I/O-only baseline, 2 sizes each.
    let size = &all[0].chart;
    assert_eq!(size.style, Style::Bars);
    assert_eq!(size.series.len(), 3);
    assert_eq!(size.series[2].name, "I/O-only");
    let svg = plot::render(size);
    assert_eq!(svg.matches("<rect").count(), 1 + 3 * 2 + 3, "background, bars, legend");
    // 64 B at 2 Mpps = 2 * 64 * 8 / 1000 Gbit/s.
    assert!((size.series[0].points[0].1 - 1.024).abs() < 1e-9);
    // Tunnel charts: one point per tunnel count on a log axis.
    let tun = &all[3].chart;
    assert_eq!(tun.x, XAxis::Log10);
    assert_eq!(tun.series[0].points, [(1.0, 2.0), (1000.0, 1.5), (100_000.0, 1.0)]);
    let svg = plot::render(tun);
    assert_eq!(svg.matches("<circle").count(), 6);
    assert!(svg.contains(">100k<"));
}

#[test]
fn hostile_names_are_escaped() {
    let chart = Chart {
        title: "</svg><script>alert(1)</script>".into(),
        x_label: "a & b".into(),
        y_label: "'y'".into(),
        x: XAxis::Categories(vec!["<64>".into()]),
        style: Style::Bars,
        series: vec![Series { name: "\"quoted\" & <tagged>".into(), points: vec![(0.0, 1.0)] }],
    };
    let svg = plot::render(&chart);
    check_xmlish(&svg);
    assert!(!svg.contains("<script"));
    assert!(svg.contains("&lt;/svg&gt;&lt;script&gt;"));
}

/// The memif profile for external generators (dpdk-config/memif-bench.toml) is a valid
/// appliance config whose SAs are exactly the benchmark lab's tunnel 0, so `ferrogate gen`
/// and the Pktgen kit can use the lab's addresses and keys against it.
#[test]
fn memif_profile_is_the_labs_tunnel_zero() {
    use dataplane::sa::Direction;
    use ferrogate::appliance::ApplianceConfig;
    use ferrogate::bench::topology::Tunnel;

    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dpdk-config/memif-bench.toml");
    let cfg = ApplianceConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let transform = ferrogate::esp_tool::sa_file::parse_transform("aes128gcm16").unwrap();
    for direction in [Direction::Outbound, Direction::Inbound] {
        let lab = Tunnel(0).sa(transform, direction, 64);
        let got = cfg
            .sas
            .iter()
            .find(|s| s.direction == direction)
            .unwrap_or_else(|| panic!("no {direction:?} SA"));
        assert_eq!(got.spec.spi, lab.spec.spi);
        let (a, b) = (got.spec.config(direction), lab.spec.config(direction));
        assert_eq!(a.keys.enc(), b.keys.enc(), "{direction:?} key");
    }
    assert_eq!(cfg.interfaces.len(), 2);
    assert_eq!(cfg.interfaces[0].mac, Some(ferrogate::bench::topology::INSIDE_MAC));
    assert_eq!(cfg.interfaces[1].mac, Some(ferrogate::bench::topology::OUTSIDE_MAC));
}
