//! The final report of the migration demo ([`super::migration`]): the migration's history and
//! last validation from its stored final report, then the demo's checks (PASS/FAIL).

use crate::args::DemoArgs;
use crate::cutover;
use crate::report::{paint, stdout_colors, Color};
use ferry_aws::DynamoStateStore;
use ferry_core::ports::MigrationStore;
use serde_json::json;
use std::io::Write as _;
use std::time::Instant;

/// Prints the report on stdout (JSON with `--json`): the migration's history and last
/// validation from its final report, then the checks. `Ok(true)` if every check passed.
pub(super) async fn print(
    args: &DemoArgs,
    migration_id: &str,
    store: &DynamoStateStore,
    info: &cutover::ExecutionInfo,
    checks: &[(String, bool)],
    t0: Instant,
) -> anyhow::Result<bool> {
    let final_report = store
        .get_report(migration_id, "final")
        .await?
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok());
    let ok = checks.iter().all(|(_, ok)| *ok);
    let out_colors = stdout_colors();
    let mut out = std::io::stdout().lock();
    if args.json {
        let j = json!({
            "ok": ok,
            "migration_id": migration_id,
            "execution": {"status": info.status, "error": info.error, "cause": info.cause},
            "checks": checks.iter().map(|(what, ok)| json!({"check": what, "ok": ok})).collect::<Vec<_>>(),
            "report": final_report,
            "seconds": t0.elapsed().as_secs_f64(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&j)?)?;
    } else {
        writeln!(
            out,
            "\nFerry migration report — {migration_id} ({:.1} s)",
            t0.elapsed().as_secs_f64()
        )?;
        if let Some(r) = &final_report {
            if let Some(history) = r.get("history").and_then(|h| h.as_array()) {
                let start = history
                    .first()
                    .and_then(|h| h["at_ms"].as_i64())
                    .unwrap_or(0);
                for h in history {
                    writeln!(
                        out,
                        "  +{:>6.1}s  {}",
                        (h["at_ms"].as_i64().unwrap_or(start) - start) as f64 / 1000.0,
                        h["what"].as_str().unwrap_or("")
                    )?;
                }
            }
            if let Some(v) = r.get("validation").filter(|v| !v.is_null()) {
                writeln!(
                    out,
                    "  last validation: {} ({} mode, {} partitions, {} mismatches, lag {})",
                    v["verdict"].as_str().unwrap_or("?"),
                    v["mode"].as_str().unwrap_or("?"),
                    v["partitions"].as_array().map_or(0, Vec::len),
                    v["mismatches"].as_array().map_or(0, Vec::len),
                    v["lag"]["total"]
                )?;
            }
        }
        for (what, pass) in checks {
            let mark = if *pass {
                paint("PASS", Color::Green, out_colors)
            } else {
                paint("FAIL", Color::Red, out_colors)
            };
            writeln!(out, "  {mark}  {what}")?;
        }
        writeln!(
            out,
            "{}",
            if ok {
                paint("Migration complete: consumers and producers run on the target; nothing lost, nothing duplicated.", Color::Green, out_colors)
            } else {
                paint(
                    "Migration demo FAILED (see above and the function logs).",
                    Color::Red,
                    out_colors,
                )
            }
        )?;
    }
    Ok(ok)
}
