//! The local EventBridge schedule emulator.
//!
//! [`schedules_from_template`] reads a SAM template and returns every schedule that an
//! `AWS::Serverless::Function` declares through an `Events` entry of `Type: Schedule`
//! (EventBridge rule) or `Type: ScheduleV2` (EventBridge Scheduler). CloudFormation short-form
//! tags (`!Ref`, `!GetAtt`, `!Sub`, `!If`, ...) are read as tagged YAML values; where a
//! literal is needed (the schedule expression) a tagged value is a typed error.
//!
//! Supported expressions: `rate(N minute|minutes|hour|hours|day|days)` with AWS's singular /
//! plural rule, and the trivial cron forms `cron(* * * * ? *)` and `cron(0/N * * * ? *)`
//! (every N minutes). Every other cron expression is rejected with
//! [`ScheduleError::CronUnsupported`].
//!
//! [`run_schedules`] invokes each enabled schedule's function on its rate with an
//! EventBridge `Scheduled Event` payload ([`scheduled_event`]), like AWS:
//!
//! * the first invocation happens one period after the start (a new rule does not fire at once);
//! * invocations of one function never overlap: a tick that comes while the previous
//!   invocation (or its retries) still runs is skipped and counted;
//! * a failed invocation is retried up to [`RETRY_ATTEMPTS`] times (asynchronous invocation's
//!   retry policy). AWS waits minutes between these retries; the emulator waits a short,
//!   period-relative delay so a failing function does not swallow its next ticks;
//! * errors are logged and counted ([`ScheduleStatsSnapshot`]); the schedule keeps going.
//!
//! `time_scale` multiplies every period: `1.0` is real time, `1.0 / 60.0` turns `rate(1 minute)`
//! into one invocation per second (tests).

use crate::invoke::Invoker;
use bytes::Bytes;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use yaml_serde::Value;

/// Account id in emulated events and ARNs.
pub const ACCOUNT_ID: &str = "123456789012";
/// Region in emulated events and ARNs.
pub const REGION: &str = "us-east-1";
/// Retries after a failed scheduled invocation (AWS asynchronous invocation retries twice).
pub const RETRY_ATTEMPTS: u32 = 2;

/// Why a template or schedule expression cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The template file could not be read.
    #[error("cannot read template {path}: {source}")]
    Io {
        /// Template path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The template is not valid YAML.
    #[error("invalid SAM template: {0}")]
    Yaml(#[from] yaml_serde::Error),
    /// A schedule event is malformed (missing or non-literal expression, ...).
    #[error("{logical_id} event {event}: {reason}")]
    InvalidEvent {
        /// Function logical id.
        logical_id: String,
        /// Event key under `Events`.
        event: String,
        /// What is wrong.
        reason: String,
    },
    /// The expression is neither a valid `rate(...)` nor a `cron(...)` expression.
    #[error("invalid schedule expression {expression:?}: {reason}")]
    InvalidExpression {
        /// The expression.
        expression: String,
        /// What is wrong.
        reason: String,
    },
    /// A non-trivial cron expression.
    #[error("cron schedules are not supported by the local emulator yet: {expression:?}")]
    CronUnsupported {
        /// The expression.
        expression: String,
    },
    /// `time_scale` must be finite and positive.
    #[error("invalid time scale {0}: must be finite and > 0")]
    InvalidTimeScale(f64),
}

/// One scheduled function as declared in the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The function's binary name (what an invoker knows it by).
    pub function: String,
    /// The function's logical id in the template.
    pub logical_id: String,
    /// The rule (or scheduler schedule) name: `Properties.Name`, else `<LogicalId><EventKey>`.
    pub rule_name: String,
    /// The period.
    pub every: Duration,
    /// Whether the rule is enabled (`Enabled: false` / `State: DISABLED` turn it off).
    pub enabled: bool,
}

impl Schedule {
    /// The rule ARN that goes into the event's `resources`.
    pub fn rule_arn(&self) -> String {
        format!(
            "arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{}",
            self.rule_name
        )
    }
}

/// Reads the schedules of the SAM template at `path`.
pub fn schedules_from_template_file(
    path: impl AsRef<Path>,
) -> Result<Vec<Schedule>, ScheduleError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| ScheduleError::Io {
        path: path.display().to_string(),
        source,
    })?;
    schedules_from_template(&text)
}

/// Reads the schedules of a SAM template (YAML text), in template order.
pub fn schedules_from_template(yaml: &str) -> Result<Vec<Schedule>, ScheduleError> {
    let doc: Value = yaml_serde::from_str(yaml)?;
    let mut out = Vec::new();
    let Some(resources) = doc.get("Resources").and_then(Value::as_mapping) else {
        return Ok(out);
    };
    for (id, resource) in resources {
        let Some(logical_id) = id.as_str() else {
            continue;
        };
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let Some(events) = resource
            .get("Properties")
            .and_then(|p| p.get("Events"))
            .and_then(Value::as_mapping)
        else {
            continue;
        };
        let function = binary_name(logical_id, resource);
        for (key, event) in events {
            let event_key = key.as_str().unwrap_or_default().to_owned();
            let kind = event.get("Type").and_then(Value::as_str);
            if !matches!(kind, Some("Schedule") | Some("ScheduleV2")) {
                continue;
            }
            let invalid = |reason: &str| ScheduleError::InvalidEvent {
                logical_id: logical_id.to_owned(),
                event: event_key.clone(),
                reason: reason.to_owned(),
            };
            let props = event
                .get("Properties")
                .ok_or_else(|| invalid("no Properties"))?;
            let (expr_key, name_key) = if kind == Some("Schedule") {
                ("Schedule", "Name")
            } else {
                ("ScheduleExpression", "Name")
            };
            let expression = match props.get(expr_key) {
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err(invalid(&format!("{expr_key} must be a literal string"))),
                None => return Err(invalid(&format!("missing {expr_key}"))),
            };
            let every = parse_schedule_expression(&expression)?;
            let rule_name = match props.get(name_key) {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                _ => format!("{logical_id}{event_key}"),
            };
            out.push(Schedule {
                function: function.clone(),
                logical_id: logical_id.to_owned(),
                rule_name,
                every,
                enabled: enabled(props),
            });
        }
    }
    Ok(out)
}

/// `Metadata.BuildProperties.Binary`, else the lower-case logical id without `Function`.
fn binary_name(logical_id: &str, resource: &Value) -> String {
    resource
        .get("Metadata")
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let base = logical_id.strip_suffix("Function").unwrap_or(logical_id);
            if base.is_empty() { logical_id } else { base }.to_lowercase()
        })
}

/// `Enabled: false` or `State: DISABLED` disable; non-literal values (`!If`, `!Ref`) count as enabled.
fn enabled(props: &Value) -> bool {
    let enabled = match props.get("Enabled") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.eq_ignore_ascii_case("false"),
        _ => true,
    };
    let state = match props.get("State") {
        Some(Value::String(s)) => !s.eq_ignore_ascii_case("DISABLED"),
        _ => true,
    };
    enabled && state
}

/// Parses `rate(...)` (and trivial `cron(...)`) schedule expressions into a period.
pub fn parse_schedule_expression(expression: &str) -> Result<Duration, ScheduleError> {
    let expr = expression.trim();
    let invalid = |reason: &str| ScheduleError::InvalidExpression {
        expression: expression.to_owned(),
        reason: reason.to_owned(),
    };
    if let Some(inner) = expr.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        let mut parts = inner.split_whitespace();
        let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid("expected rate(<value> <unit>)"));
        };
        let value: u64 = value
            .parse()
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| invalid("the value must be a positive integer"))?;
        let (seconds, singular) = match unit {
            "minute" => (60, true),
            "minutes" => (60, false),
            "hour" => (3600, true),
            "hours" => (3600, false),
            "day" => (86_400, true),
            "days" => (86_400, false),
            _ => return Err(invalid("the unit must be minute(s), hour(s) or day(s)")),
        };
        if singular != (value == 1) {
            return Err(invalid(
                "use the singular unit for a value of 1 and the plural otherwise",
            ));
        }
        return Ok(Duration::from_secs(value * seconds));
    }
    if let Some(inner) = expr.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        let fields: Vec<&str> = inner.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(invalid("cron expressions have 6 fields"));
        }
        let rest_trivial =
            fields[1..] == ["*", "*", "*", "?", "*"] || fields[1..] == ["*", "?", "*", "*", "*"];
        if rest_trivial {
            if fields[0] == "*" {
                return Ok(Duration::from_secs(60));
            }
            let step = fields[0]
                .strip_prefix("0/")
                .or_else(|| fields[0].strip_prefix("*/"))
                .and_then(|n| n.parse::<u64>().ok())
                .filter(|n| (1..60).contains(n) && 60 % n == 0);
            if let Some(n) = step {
                return Ok(Duration::from_secs(60 * n));
            }
        }
        return Err(ScheduleError::CronUnsupported {
            expression: expression.to_owned(),
        });
    }
    Err(invalid("expected rate(...) or cron(...)"))
}

/// The EventBridge `Scheduled Event` that `rule_arn` delivers at `time`, shaped like AWS's.
pub fn scheduled_event(rule_arn: &str, time: SystemTime) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "id": event_id(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": rfc3339(time),
        "region": REGION,
        "resources": [rule_arn],
        "detail": {},
    })
}

/// A random version-4 UUID string.
fn event_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds, as EventBridge writes it).
pub fn rfc3339(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Live counters of one schedule.
#[derive(Debug, Default)]
pub struct ScheduleStats {
    ticks: AtomicU64,
    invocations: AtomicU64,
    failures: AtomicU64,
    retries: AtomicU64,
    exhausted: AtomicU64,
    skipped_ticks: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A point-in-time copy of [`ScheduleStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleStatsSnapshot {
    /// Ticks that started an invocation.
    pub ticks: u64,
    /// Invocation attempts, retries included.
    pub invocations: u64,
    /// Attempts that failed.
    pub failures: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Ticks whose every attempt failed.
    pub exhausted: u64,
    /// Ticks skipped because the function was still busy.
    pub skipped_ticks: u64,
    /// The last failure.
    pub last_error: Option<String>,
}

impl ScheduleStats {
    /// Copies the counters.
    pub fn snapshot(&self) -> ScheduleStatsSnapshot {
        ScheduleStatsSnapshot {
            ticks: self.ticks.load(Ordering::Relaxed),
            invocations: self.invocations.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            exhausted: self.exhausted.load(Ordering::Relaxed),
            skipped_ticks: self.skipped_ticks.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .map(|e| e.clone())
                .unwrap_or_default(),
        }
    }
}

/// Running schedules: their stats, and the tasks (which end when the shutdown token fires;
/// dropping the runner aborts them).
pub struct ScheduleRunner {
    stats: Vec<(Schedule, Arc<ScheduleStats>)>,
    tasks: JoinSet<()>,
}

impl fmt::Debug for ScheduleRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScheduleRunner")
            .field("schedules", &self.stats.len())
            .finish_non_exhaustive()
    }
}

impl ScheduleRunner {
    /// Every running schedule with a snapshot of its stats.
    pub fn stats(&self) -> Vec<(Schedule, ScheduleStatsSnapshot)> {
        self.stats
            .iter()
            .map(|(s, st)| (s.clone(), st.snapshot()))
            .collect()
    }

    /// Waits until every schedule task has ended (after the shutdown token fired).
    pub async fn join(mut self) -> Vec<(Schedule, ScheduleStatsSnapshot)> {
        while self.tasks.join_next().await.is_some() {}
        self.stats()
    }
}

/// Starts one task per enabled schedule (disabled ones are skipped) on the current tokio
/// runtime; each invokes `schedule.function` through `invoker` every `every * time_scale`.
pub fn run_schedules(
    schedules: Vec<Schedule>,
    invoker: Arc<dyn Invoker>,
    shutdown: CancellationToken,
    time_scale: f64,
) -> Result<ScheduleRunner, ScheduleError> {
    if !time_scale.is_finite() || time_scale <= 0.0 {
        return Err(ScheduleError::InvalidTimeScale(time_scale));
    }
    let mut busy: HashMap<String, Arc<tokio::sync::Mutex<()>>> = HashMap::new();
    let mut runner = ScheduleRunner {
        stats: Vec::new(),
        tasks: JoinSet::new(),
    };
    for schedule in schedules.into_iter().filter(|s| s.enabled) {
        let period = schedule
            .every
            .mul_f64(time_scale)
            .max(Duration::from_millis(1));
        let stats = Arc::new(ScheduleStats::default());
        let lock = Arc::clone(busy.entry(schedule.function.clone()).or_default());
        runner.stats.push((schedule.clone(), Arc::clone(&stats)));
        let invoker = Arc::clone(&invoker);
        let stop = shutdown.clone();
        runner.tasks.spawn(async move {
            tracing::info!(
                function = %schedule.function,
                rule = %schedule.rule_name,
                period_ms = period.as_millis() as u64,
                "schedule started"
            );
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                let Ok(guard) = Arc::clone(&lock).try_lock_owned() else {
                    stats.skipped_ticks.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(function = %schedule.function, rule = %schedule.rule_name, "previous invocation still running; tick skipped");
                    continue;
                };
                let event = scheduled_event(&schedule.rule_arn(), SystemTime::now());
                let payload = Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = fire(&schedule, invoker.as_ref(), payload, period, &stats) => {}
                }
                drop(guard);
            }
        });
    }
    Ok(runner)
}

/// One tick: the invocation and up to [`RETRY_ATTEMPTS`] retries.
async fn fire(
    schedule: &Schedule,
    invoker: &dyn Invoker,
    payload: Bytes,
    period: Duration,
    stats: &ScheduleStats,
) {
    let retry_delay = (period / 20).min(Duration::from_secs(1));
    stats.ticks.fetch_add(1, Ordering::Relaxed);
    for attempt in 0..=RETRY_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(retry_delay * attempt).await;
            stats.retries.fetch_add(1, Ordering::Relaxed);
        }
        // Counted with the tick / retry above (no await between): invocations == ticks + retries.
        stats.invocations.fetch_add(1, Ordering::Relaxed);
        match invoker.invoke(&schedule.function, payload.clone()).await {
            Ok(_) => return,
            Err(e) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                let message = match e {
                    // Its Display already names the function's errorType.
                    crate::invoke::InvokeError::Function { .. } => e.to_string(),
                    _ => format!("{}: {e}", e.error_type()),
                };
                tracing::warn!(
                    function = %schedule.function,
                    rule = %schedule.rule_name,
                    attempt,
                    error = %message,
                    "scheduled invocation failed"
                );
                if let Ok(mut last) = stats.last_error.lock() {
                    *last = Some(message);
                }
            }
        }
    }
    stats.exhausted.fetch_add(1, Ordering::Relaxed);
    tracing::error!(
        function = %schedule.function,
        rule = %schedule.rule_name,
        "scheduled invocation failed after {RETRY_ATTEMPTS} retries; waiting for the next tick"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const TEMPLATE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/template.yaml");

    #[test]
    fn the_repository_template_schedules_checkpoint_every_minute() {
        let schedules = schedules_from_template_file(TEMPLATE).unwrap();
        let s = schedules
            .iter()
            .find(|s| s.function == "checkpoint")
            .unwrap_or_else(|| panic!("no checkpoint schedule: {schedules:?}"));
        assert_eq!(s.function, "checkpoint");
        assert_eq!(s.logical_id, "CheckpointFunction");
        assert_eq!(s.every, Duration::from_secs(60));
        assert!(s.enabled);
        assert_eq!(s.rule_name, "CheckpointFunctionEveryMinute");
    }

    #[test]
    fn rate_expressions() {
        let ok = [
            ("rate(1 minute)", 60),
            ("rate(5 minutes)", 300),
            ("rate(1 hour)", 3600),
            ("rate(2 hours)", 7200),
            ("rate(1 day)", 86_400),
            (" rate(10  minutes) ", 600),
            ("cron(* * * * ? *)", 60),
            ("cron(0/5 * * * ? *)", 300),
        ];
        for (expr, secs) in ok {
            assert_eq!(
                parse_schedule_expression(expr).unwrap(),
                Duration::from_secs(secs),
                "{expr}"
            );
        }
        for bad in [
            "rate(0 minutes)",
            "rate(1 minutes)",
            "rate(5 minute)",
            "rate(1 second)",
            "rate(-1 hour)",
            "rate(minute)",
            "rate(1.5 hours)",
            "every minute",
            "cron(* * * *)",
        ] {
            let err = parse_schedule_expression(bad).unwrap_err();
            assert!(
                matches!(err, ScheduleError::InvalidExpression { .. }),
                "{bad}: {err}"
            );
        }
        let err = parse_schedule_expression("cron(15 10 * * ? *)").unwrap_err();
        assert!(matches!(err, ScheduleError::CronUnsupported { .. }));
        assert!(err
            .to_string()
            .contains("cron schedules are not supported by the local emulator yet"));
    }

    #[test]
    fn template_variants() {
        let yaml = r#"
Resources:
  Table:
    Type: AWS::DynamoDB::Table
  ReportFunction:
    Type: AWS::Serverless::Function
    Properties:
      Environment: { Variables: { T: !Ref Table, A: !GetAtt Table.Arn, S: !Sub "x-${Table}" } }
      Events:
        Hourly:
          Type: ScheduleV2
          Properties:
            Name: report-hourly
            ScheduleExpression: rate(1 hour)
            State: DISABLED
        Fast:
          Type: Schedule
          Properties:
            Schedule: rate(5 minutes)
            Enabled: !If [Cond, true, false]
        Api:
          Type: Api
          Properties: { Path: /, Method: get }
"#;
        let s = schedules_from_template(yaml).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].function, "report");
        assert_eq!(s[0].rule_name, "report-hourly");
        assert_eq!(s[0].every, Duration::from_secs(3600));
        assert!(!s[0].enabled);
        assert_eq!(s[1].rule_name, "ReportFunctionFast");
        assert!(s[1].enabled);

        let cron = yaml.replace("rate(1 hour)", "cron(0 12 * * ? *)");
        assert!(matches!(
            schedules_from_template(&cron),
            Err(ScheduleError::CronUnsupported { .. })
        ));
        let tagged = yaml.replace("rate(1 hour)", "!Ref Expr");
        assert!(matches!(
            schedules_from_template(&tagged),
            Err(ScheduleError::InvalidEvent { .. })
        ));
    }

    #[test]
    fn payload_is_an_eventbridge_scheduled_event() {
        use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
        let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let arn = "arn:aws:events:us-east-1:123456789012:rule/my-rule";
        let v = scheduled_event(arn, time);
        assert_eq!(v["time"], "2023-11-14T22:13:20Z");
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = [
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "resources",
            "detail",
        ];
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
        let id = v["id"].as_str().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        let e: CloudWatchEvent = serde_json::from_value(v).unwrap();
        assert_eq!(e.version.as_deref(), Some("0"));
        assert_eq!(e.detail_type.as_deref(), Some("Scheduled Event"));
        assert_eq!(e.source.as_deref(), Some("aws.events"));
        assert_eq!(e.account_id.as_deref(), Some(ACCOUNT_ID));
        assert_eq!(e.region.as_deref(), Some(REGION));
        assert_eq!(e.resources, vec![arn.to_string()]);
        assert_eq!(e.detail, Some(serde_json::json!({})));
        assert_eq!(e.time.timestamp(), 1_700_000_000);
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }
}
