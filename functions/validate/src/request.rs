//! What one invocation validates: the validation depth ([`Mode`]) and the request read from the
//! invocation event ([`ValidateRequest::from_event`]), with the defaults of scheduled runs
//! ([`RequestDefaults`]).

use crate::error::ValidateError;
use serde::{Deserialize, Serialize};

/// Validation depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Offsets only: lag, target end vs progress. No record content is read (except to count
    /// small pending ranges exactly).
    Lag,
    /// Lag plus exact counts and ordered content comparison of the mirrored ranges.
    Full,
}

impl Mode {
    /// `lag` / `full`, as in the input and the report (a log field and metric label).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Lag => "lag",
            Self::Full => "full",
        }
    }

    /// Parses `lag` / `full`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "lag" => Some(Self::Lag),
            "full" => Some(Self::Full),
            _ => None,
        }
    }
}

/// Defaults for scheduled runs and fields missing from a task input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestDefaults {
    /// Migration id.
    pub migration_id: String,
    /// Mode.
    pub mode: Mode,
    /// Fail on mismatch (`full` mode only).
    pub fail_on_mismatch: bool,
}

/// What one invocation validates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateRequest {
    /// Migration whose `validation` report is written.
    pub migration_id: String,
    /// Mode.
    pub mode: Mode,
    /// Fail the invocation with `Ferry.ValidationFailed` on a mismatch (`full` mode only).
    pub fail_on_mismatch: bool,
    /// Only these source topics (else every mirrored topic).
    pub topics: Option<Vec<String>>,
    /// A cutover step: fail with `Ferry.Paused` / `Ferry.Aborted` when the operator asked to
    /// pause or abort the migration (`ferry cutover pause|abort`) instead of validating.
    pub pausable: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskInput {
    migration_id: Option<String>,
    mode: Option<String>,
    fail_on_mismatch: Option<bool>,
    topics: Option<Vec<String>>,
    pausable: Option<bool>,
}

impl ValidateRequest {
    /// Reads the invocation event: an EventBridge scheduled event (`"source":"aws.events"` or a
    /// `detail-type`) runs with the defaults; anything else must be a task input
    /// `{"migration_id"?, "mode"?: "lag"|"full", "fail_on_mismatch"?: bool, "topics"?: [..],
    /// "pausable"?: bool}`
    /// (missing fields take the defaults; `null` or `{}` is all defaults).
    pub fn from_event(
        event: &serde_json::Value,
        defaults: &RequestDefaults,
    ) -> Result<Self, ValidateError> {
        let scheduled = event.get("source").and_then(|s| s.as_str()) == Some("aws.events")
            || event.get("detail-type").is_some();
        if scheduled || event.is_null() {
            return Ok(Self {
                migration_id: defaults.migration_id.clone(),
                mode: defaults.mode,
                fail_on_mismatch: defaults.fail_on_mismatch,
                topics: None,
                pausable: false,
            });
        }
        let input: TaskInput = serde_json::from_value(event.clone())
            .map_err(|e| ValidateError::BadInput(format!("{e} (input: {event})")))?;
        let mode = match input.mode {
            None => defaults.mode,
            Some(m) => Mode::parse(&m).ok_or_else(|| {
                ValidateError::BadInput(format!("mode {m:?} is not \"lag\" or \"full\""))
            })?,
        };
        let migration_id = input
            .migration_id
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| defaults.migration_id.clone());
        Ok(Self {
            migration_id,
            mode,
            fail_on_mismatch: input.fail_on_mismatch.unwrap_or(defaults.fail_on_mismatch),
            topics: input.topics,
            pausable: input.pausable.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_lambda::FailureError;
    #[test]
    fn event_parsing() {
        let d = RequestDefaults {
            migration_id: "dflt".into(),
            mode: Mode::Lag,
            fail_on_mismatch: false,
        };
        let sched = serde_json::json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
        let r = ValidateRequest::from_event(&sched, &d).unwrap();
        assert_eq!(
            (r.migration_id.as_str(), r.mode, r.topics),
            ("dflt", Mode::Lag, None)
        );
        let task = serde_json::json!({"migration_id": "m1", "mode": "full", "fail_on_mismatch": true, "topics": ["a"]});
        let r = ValidateRequest::from_event(&task, &d).unwrap();
        assert_eq!(
            r,
            ValidateRequest {
                migration_id: "m1".into(),
                mode: Mode::Full,
                fail_on_mismatch: true,
                topics: Some(vec!["a".into()]),
                pausable: false,
            }
        );
        assert_eq!(
            ValidateRequest::from_event(&serde_json::json!({}), &d)
                .unwrap()
                .mode,
            Mode::Lag
        );
        for bad in [
            serde_json::json!({"mode": "deep"}),
            serde_json::json!({"mdoe": "full"}),
            serde_json::json!([1]),
        ] {
            let e = ValidateRequest::from_event(&bad, &d).unwrap_err();
            assert_eq!(e.kind().error_type(), "Ferry.BadInput", "{bad}");
        }
    }
}
