//! Which metrics a piece of code records, for unit tests of the functions' telemetry events:
//! [`capture_metrics`] runs a closure with a recording [`metrics::Recorder`] installed for the
//! current thread only (`metrics::with_local_recorder`), so tests running in parallel do not
//! see each other's metrics and no global recorder is installed.

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use std::sync::Mutex;

/// The kind of a recorded metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MetricKind {
    /// `counter!`.
    Counter,
    /// `gauge!`.
    Gauge,
    /// `histogram!`.
    Histogram,
}

/// One metric a closure registered (a metric recorded twice appears twice).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RecordedMetric {
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// Metric name.
    pub name: String,
    /// Labels `(key, value)`, in the order given.
    pub labels: Vec<(String, String)>,
}

impl RecordedMetric {
    /// The label `key`'s value, if set.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// `counter name`, `gauge name{key=value,key=value}`: compact enough to compare lists in tests.
impl std::fmt::Display for RecordedMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        };
        write!(f, "{kind} {}", self.name)?;
        if !self.labels.is_empty() {
            let labels: Vec<String> = self
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            write!(f, "{{{}}}", labels.join(","))?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Capture(Mutex<Vec<RecordedMetric>>);

impl Capture {
    fn push(&self, kind: MetricKind, key: &Key) {
        let labels = key
            .labels()
            .map(|l| (l.key().to_string(), l.value().to_string()))
            .collect();
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(RecordedMetric {
                kind,
                name: key.name().to_string(),
                labels,
            });
    }
}

impl Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.push(MetricKind::Counter, key);
        Counter::noop()
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.push(MetricKind::Gauge, key);
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.push(MetricKind::Histogram, key);
        Histogram::noop()
    }
}

/// [`capture_metrics`], each metric as its [`Display`](std::fmt::Display) string
/// (`"counter name{key=value}"`).
pub fn capture_metric_strings(f: impl FnOnce()) -> Vec<String> {
    capture_metrics(f).iter().map(ToString::to_string).collect()
}

/// Runs `f` and returns the metrics it registered, in order (values are not kept).
pub fn capture_metrics(f: impl FnOnce()) -> Vec<RecordedMetric> {
    let capture = Capture::default();
    metrics::with_local_recorder(&capture, f);
    capture.0.into_inner().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_kind_name_and_labels() {
        let got = capture_metrics(|| {
            metrics::counter!("c", "topic" => "t").increment(1);
            metrics::gauge!("g").set(1.0);
            metrics::histogram!("h", "phase" => "commit").record(1.0);
        });
        let names: Vec<(MetricKind, &str)> =
            got.iter().map(|m| (m.kind, m.name.as_str())).collect();
        assert_eq!(
            names,
            [
                (MetricKind::Counter, "c"),
                (MetricKind::Gauge, "g"),
                (MetricKind::Histogram, "h")
            ]
        );
        assert_eq!(got[0].label("topic"), Some("t"));
        assert_eq!(got[2].label("phase"), Some("commit"));
        assert_eq!(got[1].label("topic"), None);
        assert_eq!(
            got.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["counter c{topic=t}", "gauge g", "histogram h{phase=commit}"]
        );
    }
}
