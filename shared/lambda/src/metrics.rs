//! CloudWatch metrics as Embedded Metric Format (EMF) log lines.
//!
//! Functions record with the [`metrics`](https://docs.rs/metrics) facade
//! (`metrics::counter!("records_mirrored").increment(n)`); [`init_metrics`] installs the
//! `metrics_cloudwatch_embedded` recorder as the process-wide recorder, with the CloudWatch
//! namespace and a `function` dimension on every metric, a `ColdStart` count on the first
//! invocation and the Lambda request id as a `RequestId` property.
//!
//! The recorder only writes when flushed. Wire it into the Lambda runtime so it flushes to
//! stdout after every invocation, by running the handler service through [`run_with_metrics`]
//! (the crate's wrapper: `lambda_runtime::Runtime` + `TracingLayer` + [`MetricsLayer`]):
//!
//! ```ignore
//! let metrics = ferry_lambda::init_metrics(&config.metrics_namespace, "mirror")?;
//! ferry_lambda::run_with_metrics(metrics, lambda_runtime::service_fn(handler)).await
//! ```
//!
//! or, with a custom runtime, `Runtime::new(service).layer(MetricsLayer::new(metrics))`.
//! Plain `lambda_runtime::run` never flushes: metrics recorded that way are lost. Outside
//! Lambda (tests, the local runtime) call [`Collector::flush`] with any writer.
//!
//! Rules of the crate: the `function` dimension must not also be used as a metric label; at most
//! 30 dimensions + labels per metric; histograms keep at most 100 values between flushes; the
//! global recorder can be installed once per process (a second [`init_metrics`] fails).

use thiserror::Error;

pub use metrics_cloudwatch_embedded::lambda::service::run as run_with_metrics;
pub use metrics_cloudwatch_embedded::lambda::MetricsLayer;
pub use metrics_cloudwatch_embedded::Collector;

/// Name of the dimension carrying the function name.
pub const FUNCTION_DIMENSION: &str = "function";
/// Count metric emitted once per cold start.
pub const COLD_START_METRIC: &str = "ColdStart";
/// Property carrying the Lambda request id.
pub const REQUEST_ID_PROPERTY: &str = "RequestId";

/// Metrics setup failures.
#[derive(Debug, Error)]
pub enum MetricsError {
    /// The recorder could not be installed (usually: a global recorder is already installed).
    #[error(
        "could not install the CloudWatch EMF metrics recorder (namespace {namespace:?}): {source}"
    )]
    Install {
        /// CloudWatch namespace asked for.
        namespace: String,
        /// Cause from `metrics_cloudwatch_embedded`.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

/// Installs the global EMF recorder for namespace `namespace` with dimension
/// `function = function_name` and returns the collector to hand to [`run_with_metrics`] /
/// [`MetricsLayer`] (or to [`Collector::flush`] by hand).
pub fn init_metrics(
    namespace: &str,
    function_name: &str,
) -> Result<&'static Collector, MetricsError> {
    metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace.to_string())
        .with_dimension(FUNCTION_DIMENSION, function_name.to_string())
        .lambda_cold_start_metric(COLD_START_METRIC)
        .with_lambda_request_id(REQUEST_ID_PROPERTY)
        .init()
        .map_err(|source| MetricsError::Install {
            namespace: namespace.to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The only test in this binary that installs the global recorder.
    #[test]
    fn emits_emf_with_function_dimension_once_installed() {
        let collector = init_metrics("FerryTest", "mirror").unwrap();
        metrics::counter!("records_mirrored").increment(3);
        let mut out = Vec::new();
        collector.flush(&mut out).unwrap();
        let line = String::from_utf8(out).unwrap();
        let doc: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(doc["function"], "mirror");
        assert_eq!(doc["records_mirrored"], 3);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "FerryTest"
        );
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "function"
        );
        assert!(matches!(
            init_metrics("FerryTest", "mirror"),
            Err(MetricsError::Install { .. })
        ));
    }
}
