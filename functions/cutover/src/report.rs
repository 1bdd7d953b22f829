//! The cutover's reports: the `final` report of a completed or rolled-back migration and the
//! first error of a preflight report.

use ferry_core::migration::MigrationState;
use serde_json::{json, Value};

/// The `final` report of a completed migration: its state, with the stored `validation` and
/// `preflight` reports.
pub(crate) fn final_report(
    id: &str,
    s: &MigrationState,
    validation: Option<Value>,
    preflight: Option<Value>,
) -> Value {
    json!({
        "migration_id": id,
        "phase": s.phase,
        "duration_ms": s.updated_at_ms - s.started_at_ms,
        "groups": s.groups,
        "producers": s.producers,
        "history": s.history,
        "validation": validation,
        "preflight": preflight,
    })
}

/// The `final` report of a rolled-back migration.
pub(crate) fn rollback_report(id: &str, s: &MigrationState) -> Value {
    json!({
        "migration_id": id,
        "phase": s.phase,
        "cause": s.cause,
        "groups": s.groups,
        "history": s.history,
    })
}

/// The message of a preflight report's first error finding.
pub(crate) fn first_error(preflight: &Value) -> String {
    preflight
        .get("findings")
        .and_then(Value::as_array)
        .and_then(|f| {
            f.iter()
                .find(|x| x.get("severity").and_then(Value::as_str) == Some("error"))
        })
        .and_then(|x| x.get("message").and_then(Value::as_str))
        .unwrap_or("preflight reported errors")
        .to_string()
}

/// Items of each list a task result carries at most (the first ones); the whole lists are in
/// the stored reports and the state document.
pub(crate) const RESULT_LIST_LIMIT: usize = 20;

/// The first [`RESULT_LIST_LIMIT`] items.
pub(crate) fn first(mut items: Vec<Value>) -> Vec<Value> {
    items.truncate(RESULT_LIST_LIMIT);
    items
}

/// The `start` result's view of the preflight report (stored whole as report `preflight`):
/// verdict, counts and the first findings. It does not grow with the topics.
pub(crate) fn preflight_summary(preflight: &Value) -> Value {
    let findings = preflight
        .get("findings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let count = |severity: &str| {
        findings
            .iter()
            .filter(|f| f.get("severity").and_then(Value::as_str) == Some(severity))
            .count()
    };
    let topics = preflight.get("topics").and_then(Value::as_array);
    let action = |what: &str| {
        topics.map_or(0, |t| {
            t.iter()
                .filter(|x| x.get("action").and_then(Value::as_str) == Some(what))
                .count()
        })
    };
    json!({
        "ok": preflight.get("ok"),
        "dry_run": preflight.get("dry_run"),
        "topics": topics.map_or(0, Vec::len),
        "topics_created": action("created"),
        "topics_partitions_added": action("partitions_added"),
        "topics_configs_updated": action("config_updated"),
        "errors": count("error"),
        "warnings": count("warning"),
        "findings": first(findings),
        "estimated_source_bytes": preflight.get("estimated_source_bytes"),
        "estimated_target_bytes": preflight.get("estimated_target_bytes"),
        "target_capacity_bytes": preflight.get("target_capacity_bytes"),
        "report": "preflight",
    })
}

/// The result of `complete` and `finish_rollback`, which is the execution's output: the
/// phase, counts of groups by phase and the last validation's verdict. The whole `final`
/// report (groups with their offsets, history, validation and preflight reports) is stored;
/// at 1,000 partitions it passes the 256 KiB Step Functions allows.
pub(crate) fn final_summary(report: &Value) -> Value {
    let mut groups: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    if let Some(g) = report.get("groups").and_then(Value::as_object) {
        for group in g.values() {
            let phase = group
                .get("phase")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            *groups.entry(phase.to_owned()).or_default() += 1;
        }
    }
    let validation = report.get("validation").filter(|v| !v.is_null()).map(|v| {
        json!({
            "verdict": v.get("verdict"),
            "mode": v.get("mode"),
            "lag": v.get("lag"),
            "partitions": v.get("partitions").and_then(Value::as_array).map_or(0, Vec::len),
            "mismatches": v.get("mismatches").and_then(Value::as_array).map_or(0, Vec::len),
        })
    });
    json!({
        "migration_id": report.get("migration_id"),
        "phase": report.get("phase"),
        "cause": report.get("cause"),
        "duration_ms": report.get("duration_ms"),
        "producers": report.get("producers"),
        "groups": groups,
        "validation": validation,
        "report": "final",
    })
}
