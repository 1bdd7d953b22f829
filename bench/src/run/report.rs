//! The run's results: per-system figures, the JSON report, the Markdown table and BENCHMARKS.md.

use crate::ferry::FerryStats;
use crate::kafka::Latency;
use crate::procs::Usage;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

/// One system on one workload.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SystemResult {
    /// `w1`, `w2`, `w3`.
    pub workload: String,
    /// Round of the workload (1-based; W1 runs `--w1-rounds` rounds).
    pub round: u32,
    /// `ferry`, `mm2`, `pipe`, `perf`.
    pub system: String,
    /// Records mirrored (or produced, for perf).
    pub records: i64,
    /// Whether every record arrived.
    pub complete: bool,
    /// Records per second (first → last record on the target; W2: the offered rate).
    pub records_per_s: f64,
    /// MB/s of key + value bytes (10^6).
    pub mb_per_s: f64,
    /// Seconds from start of the system to the last record (start-up included).
    pub wall_s: f64,
    /// End-to-end latency (W2; W1/W3: none).
    pub latency: Option<Latency>,
    /// Resources of the system's processes.
    pub usage: Usage,
    /// CPU seconds per GB (10^9 bytes of key + value).
    pub cpu_s_per_gb: f64,
    /// Ferry only: runtime counters, DynamoDB calls and cost.
    pub ferry: Option<FerryExtra>,
    /// perf only: the tool's own summary line.
    pub perf_summary: Option<String>,
}

/// Ferry's extra figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FerryExtra {
    /// Counters from the runtime.
    pub stats: FerryStats,
    /// DynamoDB (and other AWS) calls by operation.
    pub aws_calls: std::collections::BTreeMap<String, u64>,
    /// DynamoDB calls per invocation.
    pub dynamodb_calls_per_batch: f64,
    /// Records per invocation.
    pub records_per_batch: f64,
    /// CPU seconds of the sandboxes (the part Lambda would run).
    pub sandbox_cpu_s: f64,
    /// CPU and RSS of the local DynamoDB during the run (not counted in Ferry's figures).
    pub store: Usage,
    /// Which local DynamoDB that was (`minidyn`, `moto`).
    pub store_name: String,
    /// DynamoDB call latency as the mirror saw it (through the bench's proxy).
    pub dynamodb_latency: crate::proxy::DynamoLatency,
    /// Billed GB-s per GB mirrored: max(measured invocation time, sandbox CPU at the memory
    /// size's vCPU share) × memory.
    pub gb_s_per_gb: f64,
    /// Estimated Lambda $ per TB mirrored (arm64 compute + requests).
    pub lambda_usd_per_tb: f64,
    /// Mean milliseconds per successful batch, from the mirror's `batch mirrored` log lines.
    pub phases: BatchPhases,
}

/// Where a successful batch's time went inside the mirror handler (means, milliseconds).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BatchPhases {
    /// Batches counted.
    pub batches: u64,
    /// Whole handler.
    pub duration_ms: f64,
    /// Progress: cache check, read, initialisation.
    pub progress_ms: f64,
    /// Partitions mirrored: end offsets, produce, delivery reports.
    pub produce_ms: f64,
    /// Conditional progress commit.
    pub commit_ms: f64,
}

impl BatchPhases {
    /// Averages the `batch mirrored` JSON log lines of the mirror's log.
    pub(super) fn from_log(text: &str) -> Self {
        let mut p = Self::default();
        for line in text.lines().filter(|l| l.contains("\"batch mirrored\"")) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let f = |k: &str| v["fields"][k].as_f64().unwrap_or(0.0);
            p.batches += 1;
            p.duration_ms += f("duration_ms");
            p.progress_ms += f("progress_ms");
            p.produce_ms += f("produce_ms");
            p.commit_ms += f("commit_ms");
        }
        let n = p.batches.max(1) as f64;
        p.duration_ms /= n;
        p.progress_ms /= n;
        p.produce_ms /= n;
        p.commit_ms /= n;
        p
    }
}

/// The JSON document of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Run id (topic prefix).
    pub run: String,
    /// Unix seconds.
    pub started_unix: u64,
    /// Scale factor.
    pub scale: f64,
    /// Machine facts.
    pub machine: String,
    /// Settings used.
    pub settings: serde_json::Value,
    /// Every measurement.
    pub results: Vec<SystemResult>,
    /// Ratios against the targets.
    pub ratios: serde_json::Value,
}

pub(super) fn print_one(r: &SystemResult) {
    eprintln!(
        "  {}: {} records, {:.0} rec/s, {:.1} MB/s, peak RSS {:.0} MB, CPU {:.1} s ({:.1} s/GB){}",
        r.system,
        r.records,
        r.records_per_s,
        r.mb_per_s,
        r.usage.peak_rss_bytes as f64 / 1e6,
        r.usage.cpu_seconds,
        r.cpu_s_per_gb,
        r.latency
            .as_ref()
            .map(|l| format!(", p50 {:.0} ms, p99 {:.0} ms", l.p50_ms, l.p99_ms))
            .unwrap_or_default()
    );
}

/// The median of `f` over every round of system `s` on workload `w` (upper median for an even
/// count).
pub(super) fn median(
    rs: &[SystemResult],
    w: &str,
    s: &str,
    f: fn(&SystemResult) -> f64,
) -> Option<f64> {
    let mut v: Vec<f64> = rs
        .iter()
        .filter(|r| r.workload == w && r.system == s)
        .map(f)
        .collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

pub(super) fn ratios(rs: &[SystemResult]) -> serde_json::Value {
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let get = |w: &str, s: &str, f: fn(&SystemResult) -> f64| median(rs, w, s, f);
    let rps = |r: &SystemResult| r.records_per_s;
    let p99 = |r: &SystemResult| r.latency.as_ref().map_or(0.0, |l| l.p99_ms);
    let rss = |r: &SystemResult| r.usage.peak_rss_bytes as f64;
    let cpu = |r: &SystemResult| r.cpu_s_per_gb;
    serde_json::json!({
        "ferry_mm2_w1_records_per_s": ratio(get("w1","ferry",rps), get("w1","mm2",rps)),
        "ferry_pipe_w1_records_per_s": ratio(get("w1","ferry",rps), get("w1","pipe",rps)),
        "ferry_mm2_w2_p99": ratio(get("w2","ferry",p99), get("w2","mm2",p99)),
        "ferry_mm2_w1_peak_rss": ratio(get("w1","ferry",rss), get("w1","mm2",rss)),
        "ferry_mm2_w1_cpu_s_per_gb": ratio(get("w1","ferry",cpu), get("w1","mm2",cpu)),
        "ferry_mm2_w3_records_per_s": ratio(get("w3","ferry",rps), get("w3","mm2",rps)),
        "targets": {
            "ferry_mm2_w1_records_per_s": ">= 2.0",
            "ferry_pipe_w1_records_per_s": ">= 0.8",
            "ferry_mm2_w2_p99": "<= 1.0",
            "ferry_mm2_w1_peak_rss": "<= 0.25",
            "ferry_mm2_w1_cpu_s_per_gb": "<= 0.333"
        }
    })
}

/// The results table (Markdown).
pub fn table(report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| workload | system | records | records/s | MB/s | p50 ms | p99 ms | peak RSS MB | CPU s | CPU s/GB | wall s | notes |"
    );
    let _ = writeln!(
        s,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for r in &report.results {
        let (p50, p99) = r
            .latency
            .as_ref()
            .map_or(("–".to_owned(), "–".to_owned()), |l| {
                (format!("{:.0}", l.p50_ms), format!("{:.0}", l.p99_ms))
            });
        let mut notes = String::new();
        if !r.complete {
            notes.push_str("INCOMPLETE; ");
        }
        if let Some(f) = &r.ferry {
            let _ = write!(
                notes,
                "{:.0} rec/batch, {:.0} ms/batch (progress {:.0}, produce {:.0}, commit {:.0}), {:.2} DynamoDB calls/batch, DynamoDB p50/p99 {:.1}/{:.1} ms, {} batches, {} failed, sandboxes {:.0} MB peak / {} procs, {} {:.1} CPU s {:.0} MB, Lambda ${:.2}/TB",
                f.records_per_batch,
                f.phases.duration_ms,
                f.phases.progress_ms,
                f.phases.produce_ms,
                f.phases.commit_ms,
                f.dynamodb_calls_per_batch,
                f.dynamodb_latency.all.p50_ms,
                f.dynamodb_latency.all.p99_ms,
                f.stats.invocations,
                f.stats.failures,
                (r.usage.peak_rss_bytes.saturating_sub(r.usage.root_peak_rss_bytes)) as f64 / 1e6,
                r.usage.peak_processes,
                f.store_name,
                f.store.cpu_seconds,
                f.store.peak_rss_bytes as f64 / 1e6,
                f.lambda_usd_per_tb
            );
        }
        if let Some(p) = &r.perf_summary {
            let _ = write!(
                notes,
                "{}",
                p.split(',').take(4).collect::<Vec<_>>().join(",")
            );
        }
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} | {:.1} | {p50} | {p99} | {:.0} | {:.1} | {:.1} | {:.1} | {} |",
            if r.round > 1 {
                format!("{} #{}", r.workload, r.round)
            } else {
                r.workload.clone()
            },
            r.system,
            r.records,
            r.records_per_s,
            r.mb_per_s,
            r.usage.peak_rss_bytes as f64 / 1e6,
            r.usage.cpu_seconds,
            r.cpu_s_per_gb,
            r.wall_s,
            notes.trim_end_matches("; ")
        );
    }
    s
}

/// The headline lines of BENCHMARKS.md: (prefix, line) for W1 throughput and W2 p99.
pub fn headlines(report: &Report) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(r) = report.ratios["ferry_mm2_w1_records_per_s"].as_f64() {
        out.push((W1_HEADLINE, format!("{W1_HEADLINE} {r:.2}")));
    }
    if let Some(r) = report.ratios["ferry_mm2_w2_p99"].as_f64() {
        out.push((W2_HEADLINE, format!("{W2_HEADLINE} {r:.2}")));
    }
    out
}

const W1_HEADLINE: &str = "Ferry/MM2 (W1 records/s):";
const W2_HEADLINE: &str = "Ferry/MM2 (W2 p99):";

/// `doc` with its headline lines replaced; a missing W2 line goes right under the W1 line.
pub(super) fn with_headlines(doc: &str, lines: &[(&'static str, String)]) -> String {
    let mut out: Vec<String> = doc.lines().map(str::to_owned).collect();
    for (prefix, line) in lines {
        if let Some(l) = out.iter_mut().find(|l| l.starts_with(prefix)) {
            line.clone_into(l);
        } else if let Some(i) = out.iter().position(|l| l.starts_with(W1_HEADLINE)) {
            out.insert(i + 1, line.clone());
        }
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

pub(super) const START: &str = "<!-- bench:results:start -->";
pub(super) const END: &str = "<!-- bench:results:end -->";

pub(super) fn update_doc(path: &Path, report: &Report, table: &str) -> anyhow::Result<()> {
    let Ok(doc) = std::fs::read_to_string(path) else {
        eprintln!("{} not found: not updated", path.display());
        return Ok(());
    };
    let (Some(a), Some(b)) = (doc.find(START), doc.find(END)) else {
        eprintln!("{}: no results markers: not updated", path.display());
        return Ok(());
    };
    let block = format!(
        "{START}\nRun `{}` ({}), scale {}; machine: {}.\n\n{table}\nRatios (medians over the rounds of a workload): `{}`\n",
        report.run,
        unix_to_utc(report.started_unix),
        report.scale,
        report.machine,
        serde_json::to_string(&report.ratios).unwrap_or_default()
    );
    let out = format!("{}{block}{}", &doc[..a], &doc[b..]);
    std::fs::write(path, with_headlines(&out, &headlines(report)))?;
    eprintln!("updated {}", path.display());
    Ok(())
}

pub(super) fn unix_to_utc(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || format!("{secs} (unix seconds)"),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
}
