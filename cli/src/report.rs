//! Reports and their text rendering: the demo's per-partition source/target comparison, the
//! `status` table, and a small column-aligned table formatter with optional ANSI colours.

use crate::state::PartitionState;
use ferry_core::checksum::RangeChecksum;
use serde::Serialize;
use std::io::IsTerminal as _;

/// Hex digits shown of a checksum in tables (JSON has all 32).
pub const SHORT_CHECKSUM: usize = 12;

/// Whether to colour output written to stdout (a terminal and `NO_COLOR` unset).
pub fn stdout_colors() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Whether to colour output written to stderr.
pub fn stderr_colors() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// ANSI colours used in tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// Success.
    Green,
    /// Failure.
    Red,
    /// Headers.
    Bold,
}

impl Color {
    fn code(self) -> &'static str {
        match self {
            Self::Green => "32",
            Self::Red => "31;1",
            Self::Bold => "1",
        }
    }
}

/// `text` wrapped in the colour's escape codes when `enabled`.
pub fn paint(text: &str, color: Color, enabled: bool) -> String {
    if enabled {
        format!("\x1b[{}m{text}\x1b[0m", color.code())
    } else {
        text.to_owned()
    }
}

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// A plain-text table: a header row, rows of cells, each row optionally coloured. Columns
/// are separated by two spaces; colour codes never affect the alignment.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<(&'static str, Align)>,
    rows: Vec<(Vec<String>, Option<Color>)>,
}

impl Table {
    /// A table with these columns.
    pub fn new(headers: &[(&'static str, Align)]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are empty, extra cells ignored).
    pub fn row(&mut self, cells: Vec<String>, color: Option<Color>) {
        self.rows.push((cells, color));
    }

    /// Renders the table, one line per row, each ending in `\n`.
    pub fn render(&self, colors: bool) -> String {
        let widths: Vec<usize> = self
            .headers
            .iter()
            .enumerate()
            .map(|(i, (h, _))| {
                self.rows
                    .iter()
                    .filter_map(|(cells, _)| cells.get(i))
                    .map(|c| c.chars().count())
                    .chain(std::iter::once(h.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[&str]| -> String {
            let padded: Vec<String> = self
                .headers
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, ((_, align), &w))| {
                    let cell = cells.get(i).copied().unwrap_or("");
                    match align {
                        Align::Left => format!("{cell:<w$}"),
                        Align::Right => format!("{cell:>w$}"),
                    }
                })
                .collect();
            padded.join("  ").trim_end().to_owned()
        };
        let header: Vec<&str> = self.headers.iter().map(|(h, _)| *h).collect();
        let mut out = paint(&line(&header), Color::Bold, colors);
        out.push('\n');
        for (cells, color) in &self.rows {
            let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
            let text = line(&cells);
            match color {
                Some(c) => out.push_str(&paint(&text, *c, colors)),
                None => out.push_str(&text),
            }
            out.push('\n');
        }
        out
    }
}

/// One partition of the demo's comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionCheck {
    /// Topic (same name on both clusters).
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Records in the source partition.
    pub source_count: u64,
    /// Records in the target partition.
    pub target_count: u64,
    /// Ordered content checksum of the source partition (32 hex digits).
    pub source_checksum: String,
    /// Ordered content checksum of the target partition.
    pub target_checksum: String,
    /// Translation segments in DynamoDB.
    pub segments: usize,
    /// Mirrored progress in DynamoDB: next source offset.
    pub next_source: Option<i64>,
    /// Mirrored progress in DynamoDB: next target offset.
    pub next_target: Option<i64>,
    /// Same count and same ordered content.
    pub ok: bool,
}

impl PartitionCheck {
    /// Builds a check from the two checksums.
    pub fn new(
        topic: &str,
        partition: i32,
        source: RangeChecksum,
        target: RangeChecksum,
        segments: usize,
        next: Option<(i64, i64)>,
    ) -> Self {
        Self {
            topic: topic.to_owned(),
            partition,
            source_count: source.count,
            target_count: target.count,
            source_checksum: source.hex(),
            target_checksum: target.hex(),
            segments,
            next_source: next.map(|n| n.0),
            next_target: next.map(|n| n.1),
            ok: source == target,
        }
    }
}

/// Everything `ferry demo` found out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoReport {
    /// Every partition matched and every record was mirrored.
    pub ok: bool,
    /// DynamoDB table of the run.
    pub table: String,
    /// Demo topics.
    pub topics: Vec<String>,
    /// Partitions per topic.
    pub partitions: i32,
    /// Records the demo meant to produce.
    pub expected_records: u64,
    /// Records found on the source (sum of the partitions' counts).
    pub records: u64,
    /// Seconds spent producing the sample traffic.
    pub produce_seconds: f64,
    /// Seconds from starting the mappings until every record was mirrored.
    pub mirror_seconds: f64,
    /// Mirrored records per second.
    pub records_per_second: f64,
    /// Mirror invocations (all mappings).
    pub invocations: u64,
    /// Failed (and retried) invocations.
    pub failed_invocations: u64,
    /// Mirror processes started.
    pub cold_starts: u64,
    /// Where the mirror's log went.
    pub mirror_log: String,
    /// Per-partition comparison.
    pub checks: Vec<PartitionCheck>,
}

impl DemoReport {
    /// Fewest and most translation segments of any partition.
    pub fn segment_range(&self) -> (usize, usize) {
        let min = self.checks.iter().map(|c| c.segments).min().unwrap_or(0);
        let max = self.checks.iter().map(|c| c.segments).max().unwrap_or(0);
        (min, max)
    }

    /// The comparison table.
    pub fn table(&self) -> Table {
        let mut t = Table::new(&[
            ("TOPIC", Align::Left),
            ("PARTITION", Align::Right),
            ("SOURCE", Align::Right),
            ("TARGET", Align::Right),
            ("SOURCE CHECKSUM", Align::Left),
            ("TARGET CHECKSUM", Align::Left),
            ("SEGMENTS", Align::Right),
            ("RESULT", Align::Left),
        ]);
        for c in &self.checks {
            t.row(
                vec![
                    c.topic.clone(),
                    c.partition.to_string(),
                    c.source_count.to_string(),
                    c.target_count.to_string(),
                    short(&c.source_checksum),
                    short(&c.target_checksum),
                    c.segments.to_string(),
                    if c.ok { "OK" } else { "MISMATCH" }.to_owned(),
                ],
                Some(if c.ok { Color::Green } else { Color::Red }),
            );
        }
        t
    }

    /// The summary lines under the table.
    pub fn summary(&self) -> Vec<String> {
        let mismatched = self.checks.iter().filter(|c| !c.ok).count();
        let (min_seg, max_seg) = self.segment_range();
        let segments = if min_seg == max_seg {
            format!("{min_seg} per partition")
        } else {
            format!("{min_seg}..{max_seg} per partition")
        };
        let verdict = if self.ok {
            format!(
                "OK: all {} partitions identical on source and target",
                self.checks.len()
            )
        } else if mismatched > 0 {
            format!(
                "MISMATCH: {mismatched} of {} partitions differ",
                self.checks.len()
            )
        } else {
            format!(
                "INCOMPLETE: the source holds {} records, expected {}",
                self.records, self.expected_records
            )
        };
        vec![
            verdict,
            format!(
                "{} records in {} topics x {} partitions mirrored in {:.1} s ({} records/s; produced in {:.1} s)",
                thousands(i64::try_from(self.records).unwrap_or(i64::MAX)),
                self.topics.len(),
                self.partitions,
                self.mirror_seconds,
                thousands(self.records_per_second.round() as i64),
                self.produce_seconds,
            ),
            format!(
                "DynamoDB table {}: translation segments {segments} (expected 1 for plain topics); {} invocations, {} failed and retried, {} mirror processes",
                self.table, self.invocations, self.failed_invocations, self.cold_starts
            ),
            format!("mirror log: {}", self.mirror_log),
        ]
    }

    /// Table plus summary, as printed by `ferry demo`.
    pub fn render(&self, colors: bool) -> String {
        let mut out = self.table().render(colors);
        out.push('\n');
        let color = if self.ok { Color::Green } else { Color::Red };
        for (i, line) in self.summary().iter().enumerate() {
            if i == 0 {
                out.push_str(&paint(line, color, colors));
            } else {
                out.push_str(line);
            }
            out.push('\n');
        }
        out
    }
}

/// The first [`SHORT_CHECKSUM`] hex digits.
pub fn short(hex: &str) -> String {
    hex.chars().take(SHORT_CHECKSUM).collect()
}

/// The `ferry status` table.
pub fn status_table(states: &[PartitionState]) -> Table {
    let opt = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let mut t = Table::new(&[
        ("TOPIC", Align::Left),
        ("PARTITION", Align::Right),
        ("SOURCE END", Align::Right),
        ("NEXT SOURCE", Align::Right),
        ("NEXT TARGET", Align::Right),
        ("TARGET END", Align::Right),
        ("LAG", Align::Right),
        ("SEGMENTS", Align::Right),
    ]);
    for s in states {
        t.row(
            vec![
                s.topic.clone(),
                s.partition.to_string(),
                s.source_end.to_string(),
                opt(s.next_source),
                opt(s.next_target),
                opt(s.target_end),
                s.lag().to_string(),
                s.segments.map_or_else(|| "-".to_owned(), |n| n.to_string()),
            ],
            (s.lag() == 0).then_some(Color::Green),
        );
    }
    t
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}
