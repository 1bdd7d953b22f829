use super::*;
use crate::esm::{EventSource, MappingState};
use crate::invoke::{FnInvoker, MAX_SYNC_PAYLOAD_BYTES};
use axum::http::HeaderMap;
use serde_json::json;
use std::time::Duration;

async fn server() -> LambdaApiServer {
    let server = LambdaApiServer::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let echo = FnInvoker::new(|v: serde_json::Value| async move {
        match v.get("mode").and_then(|m| m.as_str()) {
            Some("error") => Err("not ready yet".to_owned()),
            Some("panic") => panic!("kaputt"),
            Some("sleep") => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(v)
            }
            Some("big") => Ok(json!("x".repeat(MAX_SYNC_PAYLOAD_BYTES + 10))),
            _ => Ok(json!({ "echo": v })),
        }
    })
    .with_timeout(Duration::from_millis(200));
    server.register_function("echo", Arc::new(echo));
    server
}

fn url(server: &LambdaApiServer, function: &str) -> String {
    format!(
        "{}/2015-03-31/functions/{function}/invocations",
        server.endpoint_url()
    )
}

async fn call(
    server: &LambdaApiServer,
    function: &str,
    kind: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, HeaderMap, String) {
    let mut req = reqwest::Client::new()
        .post(url(server, function))
        .body(body);
    if let Some(kind) = kind {
        req = req.header("X-Amz-Invocation-Type", kind);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

#[test]
fn function_names_are_stripped() {
    assert_eq!(plain_function_name("mirror"), "mirror");
    assert_eq!(plain_function_name("mirror:$LATEST"), "mirror");
    assert_eq!(plain_function_name("mirror:live"), "mirror");
    assert_eq!(
        plain_function_name("arn:aws:lambda:us-east-1:123456789012:function:mirror"),
        "mirror"
    );
    assert_eq!(
        plain_function_name("arn:aws:lambda:us-east-1:123456789012:function:mirror:7"),
        "mirror"
    );
    assert_eq!(
        plain_function_name("123456789012:function:mirror"),
        "mirror"
    );
}

#[tokio::test]
async fn request_response_returns_the_result() {
    let s = server().await;
    let (status, h, body) = call(&s, "echo", None, r#"{"a":1}"#).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "x-amz-executed-version"), Some("$LATEST"));
    assert!(header(&h, "x-amz-function-error").is_none());
    assert!(header(&h, "x-amzn-requestid").is_some_and(|id| id.len() == 36));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        json!({"echo": {"a": 1}})
    );
    // ARN, qualifier and an empty body.
    let arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aecho%3A%24LATEST";
    let (status, _, body) = call(&s, arn, Some("RequestResponse"), "").await;
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"echo":{}}"#);
    let (status, _, _) = call(&s, "echo:live", None, "{}").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn function_failures_are_200_unhandled() {
    let s = server().await;
    for (mode, error_type) in [
        ("error", "alloc::string::String"),
        ("panic", "Runtime.ExitError"),
        ("sleep", "Sandbox.Timedout"),
        ("big", "Function.ResponseSizeTooLarge"),
    ] {
        let (status, h, body) = call(&s, "echo", None, format!(r#"{{"mode":"{mode}"}}"#)).await;
        assert_eq!(status, 200, "{mode}");
        assert_eq!(
            header(&h, "x-amz-function-error"),
            Some("Unhandled"),
            "{mode}"
        );
        assert!(header(&h, "x-amzn-requestid").is_some());
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["errorType"], error_type, "{mode}: {v}");
        assert!(v["errorMessage"].is_string());
    }
    let (_, _, body) = call(&s, "echo", None, r#"{"mode":"error"}"#).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["errorMessage"], "not ready yet");
}

#[tokio::test]
async fn service_errors_use_the_aws_error_shape() {
    let s = server().await;
    let (status, h, body) = call(&s, "nope", None, "{}").await;
    assert_eq!(status, 404);
    assert_eq!(
        header(&h, "x-amzn-errortype"),
        Some("ResourceNotFoundException")
    );
    assert!(header(&h, "x-amzn-requestid").is_some());
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["Type"], "User");
    assert!(v["message"].as_str().unwrap().contains("function:nope"));

    let big = vec![b' '; MAX_SYNC_PAYLOAD_BYTES + 1];
    let (status, h, _) = call(&s, "echo", None, big).await;
    assert_eq!(status, 413);
    assert_eq!(
        header(&h, "x-amzn-errortype"),
        Some("RequestTooLargeException")
    );

    let (status, h, _) = call(&s, "echo", None, "not json").await;
    assert_eq!(status, 400);
    assert_eq!(
        header(&h, "x-amzn-errortype"),
        Some("InvalidRequestContentException")
    );

    let (status, h, _) = call(&s, "echo", Some("Sometimes"), "{}").await;
    assert_eq!(status, 400);
    assert_eq!(
        header(&h, "x-amzn-errortype"),
        Some("InvalidParameterValueException")
    );
}

#[tokio::test]
async fn event_and_dry_run() {
    let s = server().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    s.register_function(
        "sink",
        Arc::new(FnInvoker::new(move |v: serde_json::Value| {
            let tx = tx.clone();
            async move {
                tx.send(v).map_err(|e| e.to_string())?;
                Ok::<_, String>(json!(null))
            }
        })),
    );
    let (status, h, body) = call(&s, "sink", Some("Event"), r#"{"n":7}"#).await;
    assert_eq!(status, 202);
    assert!(body.is_empty());
    assert!(header(&h, "x-amzn-requestid").is_some());
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, json!({"n": 7}));

    let (status, _, _) = call(&s, "sink", Some("DryRun"), "{}").await;
    assert_eq!(status, 204);
    assert!(rx.try_recv().is_err(), "DryRun must not invoke");
    let (status, _, _) = call(&s, "ghost", Some("DryRun"), "{}").await;
    assert_eq!(status, 404);

    let big = vec![b' '; MAX_ASYNC_PAYLOAD_BYTES + 1];
    let (status, _, _) = call(&s, "sink", Some("Event"), big).await;
    assert_eq!(status, 413);

    assert!(s.deregister_function("sink"));
    let (status, _, _) = call(&s, "sink", None, "{}").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn event_invocations_are_retried_like_aws() {
    let s = server().await;
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let counter = calls.clone();
    // Fails twice, then succeeds on the last of AWS's two retries.
    s.register_function(
        "flaky",
        Arc::new(FnInvoker::new(move |v: serde_json::Value| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let tx = tx.clone();
            async move {
                if n <= ASYNC_RETRY_ATTEMPTS {
                    return Err(format!("attempt {n} fails"));
                }
                tx.send(v).map_err(|e| e.to_string())?;
                Ok::<_, String>(json!(null))
            }
        })),
    );
    let (status, _, _) = call(&s, "flaky", Some("Event"), r#"{"n":1}"#).await;
    assert_eq!(status, 202);
    let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the last retry succeeds")
        .unwrap();
    assert_eq!(got, json!({"n": 1}));
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        ASYNC_RETRY_ATTEMPTS + 1
    );
}

#[tokio::test]
async fn mappings_list_get_and_update() {
    let s = server().await;
    let mut msk = EsmConfig::new("b1:9092,b2:9092", "orders", "ferry-orders", "mirror");
    msk.event_source = EventSource::Msk {
        cluster_arn: "arn:aws:kafka:us-east-1:123456789012:cluster/src/abc".to_owned(),
    };
    msk.batch_size = 500;
    let never = Arc::new(FnInvoker::new(|v: serde_json::Value| async move {
        Ok::<_, String>(v)
    }));
    let a = EventSourceMapping::new(msk, never.clone()).unwrap();
    let b = EventSourceMapping::new(
        EsmConfig::new("127.0.0.1:19092", "payments", "g2", "other"),
        never,
    )
    .unwrap();
    let control = s.register_mapping(&a);
    s.register_mapping(&b);
    assert_eq!(control.uuid(), a.uuid());
    let client = reqwest::Client::new();
    let base = format!("{}/2015-03-31/event-source-mappings/", s.endpoint_url());

    let list: serde_json::Value = client
        .get(format!(
            "{base}?FunctionName=arn:aws:lambda:us-east-1:123456789012:function:mirror"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = list["EventSourceMappings"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let m = &items[0];
    assert_eq!(m["UUID"], a.uuid());
    assert_eq!(
        m["FunctionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:mirror"
    );
    assert_eq!(
        m["EventSourceArn"],
        "arn:aws:kafka:us-east-1:123456789012:cluster/src/abc"
    );
    assert_eq!(m["Topics"], json!(["orders"]));
    assert_eq!(m["BatchSize"], 500);
    assert_eq!(m["State"], "Enabled");
    assert_eq!(
        m["AmazonManagedKafkaEventSourceConfig"]["ConsumerGroupId"],
        "ferry-orders"
    );
    assert!(m["LastModified"].is_f64());

    let all: serde_json::Value = client
        .get(&base)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["EventSourceMappings"].as_array().unwrap().len(), 2);
    let by_arn: serde_json::Value = client
        .get(format!(
            "{base}?EventSourceArn=arn:aws:kafka:us-east-1:123456789012:cluster/src/abc"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_arn["EventSourceMappings"].as_array().unwrap().len(), 1);

    let got: serde_json::Value = client
        .get(format!("{base}{}", b.uuid()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        got["SelfManagedEventSource"]["Endpoints"]["KAFKA_BOOTSTRAP_SERVERS"],
        json!(["127.0.0.1:19092"])
    );
    assert_eq!(
        got["SelfManagedKafkaEventSourceConfig"]["ConsumerGroupId"],
        "g2"
    );

    // Not running: disabling settles at once, but the update reports the transition.
    let resp = client
        .put(format!("{base}{}", a.uuid()))
        .body(r#"{"Enabled":false,"BatchSize":50}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let upd: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(upd["State"], "Disabling");
    assert_eq!(upd["BatchSize"], 50);
    assert!(!control.is_enabled());
    assert_eq!(control.batch_size(), 50);
    assert_eq!(a.state(), MappingState::Disabled);
    let got: serde_json::Value = client
        .get(format!("{base}{}", a.uuid()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["State"], "Disabled");

    let resp = client
        .put(format!("{base}{}", a.uuid()))
        .body(r#"{"BatchSize":0}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let resp = client
        .put(format!("{base}00000000-0000-4000-8000-000000000000"))
        .body(r#"{"Enabled":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(
        header(resp.headers(), "x-amzn-errortype"),
        Some("ResourceNotFoundException")
    );
    let upd: serde_json::Value = client
        .put(format!("{base}{}", a.uuid()))
        .body(r#"{"Enabled":true}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(upd["State"], "Enabling");
    assert_eq!(a.state(), MappingState::Enabled);
}
