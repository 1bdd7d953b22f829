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
