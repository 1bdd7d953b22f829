//! A counting HTTP proxy in front of moto: the mirror sandboxes get its address as
//! `AWS_ENDPOINT_URL`, every request is forwarded unchanged to moto and counted by its
//! `X-Amz-Target` (e.g. `DynamoDB_20120810.TransactWriteItems`), which gives exact DynamoDB
//! calls per batch. Adds well under a millisecond per call on loopback.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Calls counted by operation.
pub type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

#[derive(Debug, Clone)]
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    counts: Counts,
}

/// Starts the proxy on an ephemeral loopback port; returns its URL and the counters.
pub async fn start(upstream: &str) -> anyhow::Result<(String, Counts)> {
    let counts: Counts = Arc::default();
    let state = Proxy {
        upstream: upstream.trim_end_matches('/').to_owned(),
        client: reqwest::Client::builder().build()?,
        counts: Arc::clone(&counts),
    };
    let app = Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("proxy stopped: {e}");
        }
    });
    Ok((format!("http://{addr}"), counts))
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let op = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("other")
        .to_owned();
    *p.counts
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(op)
        .or_default() += 1;
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
        .request(parts.method.clone(), format!("{}{path}", p.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await;
    match sent {
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
    }
}
