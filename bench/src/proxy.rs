//! A timing HTTP proxy in front of the local AWS endpoints: the mirror sandboxes get its
//! address as `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_DYNAMODB`. DynamoDB requests
//! (`X-Amz-Target: DynamoDB_20120810.*`) go to the local DynamoDB (minidyn, or moto), everything
//! else to moto, unchanged. Each request is recorded by its `X-Amz-Target` with the time from
//! receiving it to having the whole answer, which gives exact DynamoDB calls per batch and
//! their latency as the function sees it (plus well under a millisecond of proxying on
//! loopback).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Call latencies in microseconds, by operation (`X-Amz-Target`, or `other`).
#[derive(Debug, Clone, Default)]
pub struct Calls(Arc<Mutex<BTreeMap<String, Vec<u32>>>>);

impl Calls {
    fn record(&self, op: String, micros: u32) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(op)
            .or_default()
            .push(micros);
    }

    /// Forgets every call (a new system run starts).
    pub fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Calls by operation.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(op, v)| (op.clone(), v.len() as u64))
            .collect()
    }

    /// Latency of the DynamoDB calls: all of them, and by operation.
    pub fn dynamodb_latency(&self) -> DynamoLatency {
        let calls = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all = Vec::new();
        let mut by_operation = BTreeMap::new();
        for (op, v) in calls.iter().filter(|(op, _)| op.starts_with("DynamoDB")) {
            all.extend_from_slice(v);
            let short = op.rsplit('.').next().unwrap_or(op).to_owned();
            by_operation.insert(short, Percentiles::of(v.clone()));
        }
        DynamoLatency {
            all: Percentiles::of(all),
            by_operation,
        }
    }
}

/// Count and percentiles of a set of call latencies (milliseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Calls.
    pub calls: u64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `micros`.
    pub fn of(mut micros: Vec<u32>) -> Self {
        if micros.is_empty() {
            return Self::default();
        }
        micros.sort_unstable();
        let rank = |q: f64| {
            let i = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len()) - 1;
            f64::from(micros[i]) / 1000.0
        };
        Self {
            calls: micros.len() as u64,
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
            max_ms: f64::from(*micros.last().unwrap_or(&0)) / 1000.0,
        }
    }
}

/// DynamoDB call latency during one system run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DynamoLatency {
    /// Every DynamoDB call.
    pub all: Percentiles,
    /// By operation (`TransactWriteItems`, `UpdateItem`, ...).
    pub by_operation: BTreeMap<String, Percentiles>,
}

#[derive(Debug, Clone)]
struct Proxy {
    other: String,
    dynamodb: String,
    client: reqwest::Client,
    calls: Calls,
}

/// Starts the proxy on an ephemeral loopback port in front of `dynamodb` (DynamoDB requests)
/// and `other` (the rest); returns its URL and the recorded calls.
pub async fn start(other: &str, dynamodb: &str) -> anyhow::Result<(String, Calls)> {
    let calls = Calls::default();
    let state = Proxy {
        other: other.trim_end_matches('/').to_owned(),
        dynamodb: dynamodb.trim_end_matches('/').to_owned(),
        client: reqwest::Client::builder().build()?,
        calls: calls.clone(),
    };
    let app = Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("proxy stopped: {e}");
        }
    });
    Ok((format!("http://{addr}"), calls))
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let op = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("other")
        .to_owned();
    let upstream = if op.starts_with("DynamoDB") {
        &p.dynamodb
    } else {
        &p.other
    };
    let body = match axum::body::to_bytes(body, 64 * 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let mut headers: HeaderMap = parts.headers.clone();
    headers.remove("host");
    headers.remove("content-length");
    let sent = p
        .client
        .request(parts.method.clone(), format!("{upstream}{path}"))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let out = match sent {
        Ok(r) => {
            let status = r.status();
            let headers = r.headers().clone();
            let bytes = r.bytes().await.unwrap_or_default();
            let mut out = Response::new(Body::from(bytes));
            *out.status_mut() = status;
            for (k, v) in &headers {
                if k != "content-length" && k != "transfer-encoding" {
                    out.headers_mut().insert(k, v.clone());
                }
            }
            out
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
    p.calls.record(op, micros);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let p = Percentiles::of((1..=100).map(|i| i * 1000).collect());
        assert_eq!(
            (p.calls, p.p50_ms, p.p99_ms, p.max_ms),
            (100, 50.0, 99.0, 100.0)
        );
        assert_eq!(Percentiles::of(vec![]), Percentiles::default());
        let calls = Calls::default();
        calls.record("DynamoDB_20120810.UpdateItem".into(), 2000);
        calls.record("DynamoDB_20120810.UpdateItem".into(), 4000);
        calls.record("AWSStepFunctions.StartExecution".into(), 9000);
        let l = calls.dynamodb_latency();
        assert_eq!(l.all.calls, 2);
        assert_eq!(l.by_operation["UpdateItem"].p99_ms, 4.0);
        assert_eq!(calls.counts().len(), 2);
    }
}
