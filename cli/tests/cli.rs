//! Argument parsing and report formatting of `ferry` (no cluster needed). The end-to-end demo
//! runs against the live stack via `scripts/demo` and is checked by hand.

use clap::Parser as _;
use ferry_cli::args::{Cli, Command, LOCAL_SOURCE, LOCAL_TARGET};
use ferry_cli::report::{short, status_table, thousands, DemoReport, PartitionCheck};
use ferry_cli::state::PartitionState;
use ferry_core::checksum::RangeChecksum;
use std::path::PathBuf;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("ferry").chain(args.iter().copied()))
}

#[test]
fn demo_defaults() {
    let Command::Demo(d) = parse(&["demo"]).unwrap().command else {
        panic!("not demo");
    };
    assert_eq!(
        (d.topics, d.partitions, d.records, d.value_bytes),
        (3, 6, 60_000, 200)
    );
    assert_eq!((d.pollers, d.batch_size, d.timeout), (2, 1000, 600));
    assert!(!d.json);
    assert!(d.mirror_bin.is_none());
    // The environment may override the bootstrap defaults (scripts/stack env sets them).
    if std::env::var_os("FERRY_SOURCE_BOOTSTRAP").is_none() {
        assert_eq!(d.clusters.source_bootstrap, LOCAL_SOURCE);
    }
    if std::env::var_os("FERRY_TARGET_BOOTSTRAP").is_none() {
        assert_eq!(d.clusters.target_bootstrap, LOCAL_TARGET);
    }
}

#[test]
fn demo_options() {
    let cli = parse(&[
        "demo",
        "--topics",
        "2",
        "--partitions",
        "4",
        "--records",
        "30000",
        "--value-bytes",
        "64",
        "--mirror-bin",
        "/tmp/mirror",
        "--json",
    ])
    .unwrap();
    let Command::Demo(d) = cli.command else {
        panic!("not demo");
    };
    assert_eq!(
        (d.topics, d.partitions, d.records, d.value_bytes),
        (2, 4, 30_000, 64)
    );
    assert_eq!(d.mirror_bin, Some(PathBuf::from("/tmp/mirror")));
    assert!(d.json);
}

#[test]
fn demo_rejects_out_of_range_values() {
    assert!(parse(&["demo", "--topics", "0"]).is_err());
    assert!(parse(&["demo", "--partitions", "0"]).is_err());
    assert!(parse(&["demo", "--records", "0"]).is_err());
    assert!(parse(&["demo", "--batch-size", "10001"]).is_err());
    assert!(parse(&["demo", "--records", "many"]).is_err());
}

#[test]
fn local_takes_comma_separated_topics() {
    let cli = parse(&[
        "local",
        "--table",
        "t1",
        "--topics",
        "a,b",
        "--pollers",
        "3",
        "--batch-size",
        "500",
    ])
    .unwrap();
    let Command::Local(l) = cli.command else {
        panic!("not local");
    };
    assert_eq!(l.table, "t1");
    assert_eq!(l.topics, ["a", "b"]);
    assert_eq!((l.pollers, l.batch_size, l.interval), (3, 500, 5));
}

#[test]
fn local_schedules_default_on() {
    for (extra, expected) in [(None, true), (Some("false"), false), (Some("true"), true)] {
        let mut args = vec!["local", "--table", "t", "--topics", "a"];
        args.extend(extra.map(|v| ["--schedules", v]).into_iter().flatten());
        let Command::Local(l) = parse(&args).unwrap().command else {
            panic!("not local");
        };
        assert_eq!(l.schedules, expected, "{extra:?}");
    }
}

#[test]
fn local_and_status_need_topics() {
    assert!(parse(&["local", "--table", "t"]).is_err());
    assert!(parse(&["status", "--table", "t"]).is_err());
}

#[test]
fn status_options() {
    let Command::Status(s) = parse(&["status", "--table", "t", "--topics", "x,y,z", "--json"])
        .unwrap()
        .command
    else {
        panic!("not status");
    };
    assert_eq!(s.topics, ["x", "y", "z"]);
    assert!(s.json);
}

fn checksum(count: u64, digest: u128) -> RangeChecksum {
    RangeChecksum { count, digest }
}

fn report(checks: Vec<PartitionCheck>) -> DemoReport {
    DemoReport {
        ok: checks.iter().all(|c| c.ok),
        table: "ferry-demo-x".into(),
        topics: vec!["demo-orders-x".into()],
        partitions: 2,
        expected_records: checks.iter().map(|c| c.source_count).sum(),
        records: checks.iter().map(|c| c.source_count).sum(),
        produce_seconds: 1.25,
        mirror_seconds: 2.0,
        records_per_second: 15.0,
        invocations: 4,
        failed_invocations: 0,
        cold_starts: 2,
        mirror_log: "/tmp/x.log".into(),
        checks,
    }
}

#[test]
fn demo_table_lines_up_and_marks_results() {
    let same = checksum(10, 0xabcd_ef01_2345_6789_0000_0000_0000_0001);
    let r = report(vec![
        PartitionCheck::new("demo-orders-x", 0, same, same, 1, Some((10, 10))),
        PartitionCheck::new(
            "demo-orders-x",
            1,
            checksum(20, 1),
            checksum(19, 2),
            1,
            Some((20, 19)),
        ),
    ]);
    assert!(!r.ok);
    let text = r.render(false);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("TOPIC"), "{text}");
    assert!(lines[0].contains("SOURCE CHECKSUM") && lines[0].contains("RESULT"));
    assert!(
        lines[1].contains("abcdef012345") && lines[1].ends_with("OK"),
        "{text}"
    );
    assert!(lines[2].ends_with("MISMATCH"), "{text}");
    // Every column starts at the same position in all rows.
    let col = lines[0].find("SOURCE CHECKSUM").unwrap();
    assert_eq!(&lines[1][col..col + 12], "abcdef012345");
    assert_eq!(lines[1].find("abcdef012345"), Some(col));
    assert!(
        text.contains("MISMATCH: 1 of 2 partitions differ"),
        "{text}"
    );
    assert!(text.contains("30 records in 1 topics x 2 partitions mirrored in 2.0 s"));
    assert!(text.contains("translation segments 1 per partition"));
    assert!(!text.contains('\x1b'), "no colours when disabled");
}

#[test]
fn demo_table_is_green_when_everything_matches() {
    let same = checksum(5, 7);
    let r = report(vec![PartitionCheck::new(
        "demo-orders-x",
        0,
        same,
        same,
        1,
        Some((5, 5)),
    )]);
    assert!(r.ok);
    let text = r.render(true);
    assert!(text.contains("\x1b[32m"), "{text:?}");
    assert!(!text.contains("\x1b[31"), "{text:?}");
    assert!(text.contains("OK: all 1 partitions identical"));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(
        json["checks"][0]["source_checksum"].as_str().unwrap().len(),
        32
    );
}

#[test]
fn status_table_shows_missing_progress_as_dash() {
    let states = [
        PartitionState {
            topic: "orders".into(),
            partition: 0,
            source_start: 0,
            source_end: 100,
            next_source: Some(60),
            next_target: Some(60),
            target_end: Some(60),
            segments: Some(1),
        },
        PartitionState {
            topic: "orders".into(),
            partition: 1,
            source_start: 0,
            source_end: 7,
            next_source: None,
            next_target: None,
            target_end: None,
            segments: Some(0),
        },
    ];
    let text = status_table(&states).render(false);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].contains("NEXT SOURCE") && lines[0].contains("LAG"));
    let lag_end = lines[0].find("LAG").unwrap() + 3;
    assert_eq!(
        lines[1][..lag_end].trim_end().rsplit(' ').next(),
        Some("40")
    );
    assert!(lines[2].contains(" - "), "{text}");
    assert_eq!(lines[2][..lag_end].trim_end().rsplit(' ').next(), Some("7"));
}

#[test]
fn number_and_checksum_formatting() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1_000), "1,000");
    assert_eq!(thousands(60_000), "60,000");
    assert_eq!(thousands(-1_234_567), "-1,234,567");
    assert_eq!(short("0123456789abcdef0123"), "0123456789ab");
}

#[test]
fn binary_prints_help() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["demo", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--records") && help.contains("--mirror-bin") && help.contains("--json"));
}

#[test]
fn demo_summary_reports_missing_records() {
    let same = checksum(5, 7);
    let mut r = report(vec![PartitionCheck::new(
        "demo-orders-x",
        0,
        same,
        same,
        1,
        Some((5, 5)),
    )]);
    r.expected_records = 6;
    r.ok = false;
    assert!(r.summary()[0].starts_with("INCOMPLETE: the source holds 5 records, expected 6"));
}
