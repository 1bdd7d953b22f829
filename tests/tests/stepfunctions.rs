//! Ferry's local Lambda API ([`ferry_local::LambdaApiServer`]) on the real local stack.
//!
//! moto (started by `scripts/stack` with `AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:4570`)
//! executes Step Functions state machines and sends their Lambda tasks to the server this test
//! binary runs on `FERRY_LAMBDA_API` (default `127.0.0.1:4570`). The tests prove that
//! (a) a task's result flows into the execution output, (b) an `errorType` reported by a
//! function drives `Retry` and `Catch`, (c) a `lambda:invoke.waitForTaskToken` task waits for
//! `SendTaskSuccess`, and (d) aws-sdk-lambda `ListEventSourceMappings` /
//! `UpdateEventSourceMapping` disable and re-enable a running emulated mapping.
//!
//! Only one process can serve port 4570: all tests of this binary share one server (started
//! once on its own runtime thread) and register functions under unique names. Do not run this
//! binary concurrently with another process serving the Lambda API (e.g. `ferry local`).

use async_trait::async_trait;
use aws_sdk_sfn::types::ExecutionStatus;
use base64::Engine;
use bytes::Bytes;
use ferry_kafka::FerryProducer;
use ferry_local::invoke::{FnInvoker, InvokeError, Invoker};
use ferry_local::{EsmConfig, EventSourceMapping, LambdaApiServer};
use ferry_tests::*;
use rdkafka::producer::FutureRecord;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A role ARN for `CreateStateMachine` (moto does not check it).
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/ferry-tests-sfn";

fn server() -> &'static LambdaApiServer {
    ferry_tests::lambda_api_server()
}

async fn aws() -> aws_config::SdkConfig {
    require_stack();
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

async fn sfn() -> aws_sdk_sfn::Client {
    aws_sdk_sfn::Client::new(&aws().await)
}

/// An aws-sdk-lambda client pointed at the local Lambda API (as the cutover function is).
async fn lambda() -> aws_sdk_lambda::Client {
    let conf = aws_sdk_lambda::config::Builder::from(&aws().await)
        .endpoint_url(server().endpoint_url())
        .build();
    aws_sdk_lambda::Client::from_conf(conf)
}

/// A function that fails with a chosen `errorType` (FnInvoker reports Rust type names).
struct Typed<F>(F);

impl<F> std::fmt::Debug for Typed<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Typed")
    }
}

#[async_trait]
impl<F> Invoker for Typed<F>
where
    F: Fn(Value) -> Result<Value, (String, String)> + Send + Sync,
{
    async fn invoke(&self, _function: &str, payload: Bytes) -> Result<Vec<u8>, InvokeError> {
        let event: Value = serde_json::from_slice(&payload).map_err(InvokeError::transport)?;
        match (self.0)(event) {
            Ok(v) => serde_json::to_vec(&v).map_err(InvokeError::transport),
            Err((error_type, error_message)) => Err(InvokeError::Function {
                error_type,
                error_message,
            }),
        }
    }
}

/// Creates a state machine, runs it with `input` and returns (status, output, execution ARN).
struct Machine {
    client: aws_sdk_sfn::Client,
    arn: String,
}

impl Machine {
    async fn create(definition: Value) -> Self {
        let client = sfn().await;
        let arn = client
            .create_state_machine()
            .name(unique("ferry-sfn"))
            .definition(definition.to_string())
            .role_arn(ROLE_ARN)
            .send()
            .await
            .expect("CreateStateMachine")
            .state_machine_arn;
        Self { client, arn }
    }

    async fn start(&self, input: Value) -> String {
        self.client
            .start_execution()
            .state_machine_arn(&self.arn)
            .input(input.to_string())
            .send()
            .await
            .expect("StartExecution")
            .execution_arn
    }

    async fn status(&self, execution: &str) -> (ExecutionStatus, Option<Value>) {
        let d = self
            .client
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .expect("DescribeExecution");
        let output = d
            .output()
            .map(|o| serde_json::from_str(o).expect("output JSON"));
        (d.status().clone(), output)
    }

    async fn wait(&self, execution: &str, timeout: Duration) -> (ExecutionStatus, Option<Value>) {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, output) = self.status(execution).await;
            if status != ExecutionStatus::Running {
                return (status, output);
            }
            if Instant::now() > deadline {
                let history = self
                    .client
                    .get_execution_history()
                    .execution_arn(execution)
                    .send()
                    .await
                    .map(|h| format!("{:?}", h.events()))
                    .unwrap_or_default();
                panic!("execution still RUNNING after {timeout:?}; history: {history}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn history(&self, execution: &str) -> String {
        self.client
            .get_execution_history()
            .execution_arn(execution)
            .send()
            .await
            .map(|h| format!("{:?}", h.events()))
            .unwrap_or_default()
    }

    async fn delete(self) {
        // Best effort: the stack is shared and wiped separately.
        let _ = self
            .client
            .delete_state_machine()
            .state_machine_arn(&self.arn)
            .send()
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_task_result_becomes_the_output() {
    init_tracing();
    let function = unique("sfn-double");
    server().register_function(
        &function,
        Arc::new(FnInvoker::new(|v: Value| async move {
            let x = v["x"].as_i64().ok_or("x missing")?;
            Ok::<_, &'static str>(json!({ "doubled": x * 2 }))
        })),
    );
    let machine = Machine::create(json!({
        "StartAt": "Double",
        "States": {
            "Double": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": { "FunctionName": function, "Payload.$": "$" },
                "OutputPath": "$.Payload",
                "End": true
            }
        }
    }))
    .await;
    let exec = machine.start(json!({ "x": 21 })).await;
    let (status, output) = machine.wait(&exec, Duration::from_secs(30)).await;
    assert_eq!(
        status,
        ExecutionStatus::Succeeded,
        "{}",
        machine.history(&exec).await
    );
    assert_eq!(output, Some(json!({ "doubled": 42 })));
    machine.delete().await;
    server().deregister_function(&function);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_error_type_drives_retry_and_catch() {
    init_tracing();
    let function = unique("sfn-notready");
    let attempts = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&attempts);
    server().register_function(
        &function,
        Arc::new(Typed(move |_v: Value| {
            let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
            Err((
                "Ferry.NotReady".to_owned(),
                format!("target not ready (attempt {n})"),
            ))
        })),
    );
    let machine = Machine::create(json!({
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": { "FunctionName": function, "Payload.$": "$" },
                "OutputPath": "$.Payload",
                "Retry": [{
                    "ErrorEquals": ["Ferry.NotReady"],
                    "IntervalSeconds": 1,
                    "MaxAttempts": 2,
                    "BackoffRate": 1.0
                }],
                "Catch": [{
                    "ErrorEquals": ["Ferry.NotReady"],
                    "ResultPath": "$.error",
                    "Next": "NotReady"
                }, {
                    "ErrorEquals": ["States.ALL"],
                    "ResultPath": "$.error",
                    "Next": "Other"
                }],
                "End": true
            },
            "NotReady": { "Type": "Pass", "Result": "not-ready", "ResultPath": "$.branch", "End": true },
            "Other": { "Type": "Fail", "Error": "Unexpected", "Cause": "caught by States.ALL" }
        }
    }))
    .await;
    let exec = machine.start(json!({ "migration": "m1" })).await;
    let (status, output) = machine.wait(&exec, Duration::from_secs(60)).await;
    assert_eq!(
        status,
        ExecutionStatus::Succeeded,
        "{}",
        machine.history(&exec).await
    );
    let output = output.expect("output");
    assert_eq!(output["branch"], "not-ready", "{output}");
    assert_eq!(output["migration"], "m1");
    assert_eq!(output["error"]["Error"], "Ferry.NotReady", "{output}");
    let cause = output["error"]["Cause"].as_str().unwrap_or_default();
    assert!(cause.contains("target not ready (attempt 3)"), "{cause}");
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        3,
        "1 attempt + 2 retries (MaxAttempts: 2)"
    );
    machine.delete().await;
    server().deregister_function(&function);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_task_token_continues_after_send_task_success() {
    init_tracing();
    let function = unique("sfn-approve");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    server().register_function(
        &function,
        Arc::new(FnInvoker::new(move |v: Value| {
            let tx = tx.clone();
            async move {
                tx.send(v).map_err(|e| e.to_string())?;
                Ok::<_, String>(json!({ "requested": true }))
            }
        })),
    );
    let machine = Machine::create(json!({
        "StartAt": "AwaitApproval",
        "States": {
            "AwaitApproval": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {
                    "FunctionName": function,
                    "Payload": { "token.$": "$$.Task.Token", "migration.$": "$.migration" }
                },
                "ResultPath": "$.approval",
                "Next": "Done"
            },
            "Done": { "Type": "Pass", "End": true }
        }
    }))
    .await;
    let exec = machine.start(json!({ "migration": "m2" })).await;
    let event = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("the task invoked the function")
        .expect("event");
    assert_eq!(event["migration"], "m2");
    let token = event["token"].as_str().expect("task token").to_owned();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, _) = machine.status(&exec).await;
    assert_eq!(
        status,
        ExecutionStatus::Running,
        "the task must wait for its token"
    );
    machine
        .client
        .send_task_success()
        .task_token(&token)
        .output(json!({ "approved_by": "operator" }).to_string())
        .send()
        .await
        .expect("SendTaskSuccess");
    let (status, output) = machine.wait(&exec, Duration::from_secs(30)).await;
    assert_eq!(
        status,
        ExecutionStatus::Succeeded,
        "{}",
        machine.history(&exec).await
    );
    let output = output.expect("output");
    assert_eq!(output["approval"], json!({ "approved_by": "operator" }));
    assert_eq!(output["migration"], "m2");
    machine.delete().await;
    server().deregister_function(&function);
}

async fn produce_values(producer: &FerryProducer, topic: &str, values: std::ops::Range<u32>) {
    for i in values {
        let value = format!("v{i}");
        let key = format!("k{i}");
        producer
            .send(
                FutureRecord::to(topic).key(&key).payload(&value),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("produce");
    }
}

async fn wait_for_count(delivered: &Mutex<Vec<String>>, n: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let got = delivered.lock().unwrap().len();
        if got >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {got} of {n} records delivered within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_state(client: &aws_sdk_lambda::Client, uuid: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = client
            .get_event_source_mapping()
            .uuid(uuid)
            .send()
            .await
            .expect("GetEventSourceMapping");
        if got.state() == Some(state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "mapping still {:?}, expected {state}",
            got.state()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_event_source_mapping_disables_and_reenables_a_running_mapping() {
    init_tracing();
    require_stack();
    let topic = unique("esm-toggle");
    let group = unique("esm-toggle-g");
    let function = unique("esm-toggle-fn");
    ferry_kafka::admin::create_topic(&source(), &topic, 2, &[])
        .await
        .expect("source topic");

    let delivered: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&delivered);
    let invoker = FnInvoker::new(move |event: Value| {
        let sink = Arc::clone(&sink);
        async move {
            let records = event["records"].as_object().ok_or("no records")?;
            let mut values = Vec::new();
            for batch in records.values() {
                for r in batch.as_array().ok_or("records not a list")? {
                    let b64 = r["value"].as_str().ok_or("no value")?;
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(|_| "bad base64")?;
                    values.push(String::from_utf8_lossy(&raw).into_owned());
                }
            }
            sink.lock().unwrap().extend(values);
            Ok::<_, &'static str>(json!({}))
        }
    });
    let mut config = EsmConfig::new(SOURCE, &topic, &group, &function);
    config.batching_window = Duration::from_millis(100);
    config.batch_size = 5;
    config.metadata_refresh = Duration::from_secs(1);
    let mapping = EventSourceMapping::new(config, Arc::new(invoker)).expect("mapping");
    let control = server().register_mapping(&mapping);
    let stop = CancellationToken::new();
    let run = {
        let mapping = mapping.clone();
        let stop = stop.clone();
        tokio::spawn(async move { mapping.run(stop).await })
    };

    let producer = ferry_local::workload::producer(SOURCE).expect("producer");
    produce_values(&producer, &topic, 0..20).await;
    wait_for_count(&delivered, 20, Duration::from_secs(30)).await;

    let client = lambda().await;
    let listed = client
        .list_event_source_mappings()
        .function_name(server().function_arn(&function))
        .send()
        .await
        .expect("ListEventSourceMappings");
    let mappings = listed.event_source_mappings();
    assert_eq!(mappings.len(), 1, "{mappings:?}");
    let m = &mappings[0];
    let uuid = m.uuid().expect("UUID").to_owned();
    assert_eq!(uuid, mapping.uuid());
    assert_eq!(m.state(), Some("Enabled"));
    assert_eq!(m.topics(), std::slice::from_ref(&topic));
    assert_eq!(m.batch_size(), Some(5));
    assert_eq!(
        m.function_arn(),
        Some(server().function_arn(&function).as_str())
    );
    assert!(m.last_modified().is_some());
    assert_eq!(
        m.self_managed_event_source()
            .and_then(|s| s.endpoints())
            .and_then(|e| e.get(&aws_sdk_lambda::types::EndPointType::KafkaBootstrapServers))
            .cloned(),
        Some(vec![SOURCE.to_owned()])
    );
    assert_eq!(
        m.self_managed_kafka_event_source_config()
            .and_then(|c| c.consumer_group_id()),
        Some(group.as_str())
    );

    // Disable (what the cutover does), then produce: nothing may arrive.
    let updated = client
        .update_event_source_mapping()
        .uuid(&uuid)
        .enabled(false)
        .send()
        .await
        .expect("UpdateEventSourceMapping");
    assert_eq!(updated.state(), Some("Disabling"));
    wait_for_state(&client, &uuid, "Disabled").await;
    assert!(!control.is_enabled());
    let before = delivered.lock().unwrap().len();
    assert_eq!(before, 20);
    produce_values(&producer, &topic, 20..40).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        delivered.lock().unwrap().len(),
        20,
        "records produced after disable must not be delivered"
    );

    // Re-enable: delivery resumes from the group's position, nothing lost or repeated.
    let updated = client
        .update_event_source_mapping()
        .uuid(&uuid)
        .enabled(true)
        .send()
        .await
        .expect("UpdateEventSourceMapping");
    assert_eq!(updated.state(), Some("Enabling"));
    wait_for_count(&delivered, 40, Duration::from_secs(30)).await;
    wait_for_state(&client, &uuid, "Enabled").await;
    let mut got = delivered.lock().unwrap().clone();
    got.sort_by_key(|v| v[1..].parse::<u32>().unwrap_or(u32::MAX));
    let expected: Vec<String> = (0..40).map(|i| format!("v{i}")).collect();
    assert_eq!(got, expected);

    stop.cancel();
    run.await.expect("mapping task").expect("mapping run");
    assert!(server().deregister_mapping(&uuid));
    let missing = client.get_event_source_mapping().uuid(&uuid).send().await;
    assert!(
        missing
            .as_ref()
            .err()
            .and_then(|e| e.as_service_error())
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "{missing:?}"
    );
}
