//! `CreateEventSourceMapping` / `DeleteEventSourceMapping` through aws-sdk-lambda and raw HTTP.
//! The mappings point at `127.0.0.1:1` (nothing listens): they run, keep failing to fetch
//! metadata, and must still stop promptly. Their last metadata call (a blocking librdkafka
//! call of up to 10 s) may still be running when a test ends, so each test runs on its own
//! runtime that is dropped without waiting for blocking calls ([`run`]).

use super::*;
use crate::invoke::FnInvoker;
use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::operation::create_event_source_mapping::builders::CreateEventSourceMappingFluentBuilder;
use aws_sdk_lambda::types::{
    AmazonManagedKafkaEventSourceConfig, EndPointType, EventSourcePosition,
    ProvisionedPollerConfig as SdkPollerConfig, SelfManagedEventSource,
    SelfManagedKafkaEventSourceConfig, SourceAccessConfiguration as SdkAccess, SourceAccessType,
};
use serde_json::json;
use std::future::Future;
use std::time::{Duration, Instant};

const NOWHERE: &str = "127.0.0.1:1";
const MSK_ARN: &str = "arn:aws:kafka:us-east-1:123456789012:cluster/source/abc-1";

/// Runs `test` on a fresh runtime and shuts it down without waiting for blocking calls.
fn run(test: impl Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(test);
    runtime.shutdown_background();
}

fn fast_factory() -> DefaultMappingFactory {
    DefaultMappingFactory::new()
        .with_msk_cluster(MSK_ARN, NOWHERE)
        .with_consumer_setting("socket.connection.setup.timeout.ms", "1000")
        .with_hook(|config: &mut EsmConfig| {
            config.metadata_refresh = Duration::from_millis(100);
            config.retry_initial_backoff = Duration::from_millis(10);
            config.retry_max_backoff = Duration::from_millis(50);
        })
}

async fn server(factory: Option<DefaultMappingFactory>) -> (LambdaApiServer, Arc<dyn Invoker>) {
    let server = LambdaApiServer::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let invoker: Arc<dyn Invoker> = Arc::new(FnInvoker::new(|v: serde_json::Value| async move {
        Ok::<_, String>(v)
    }));
    server.register_function("mirror", Arc::clone(&invoker));
    if let Some(factory) = factory {
        server.serve_mapping_creation(factory);
    }
    (server, invoker)
}

fn sdk(server: &LambdaApiServer) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(server.endpoint_url())
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

fn self_managed(
    client: &aws_sdk_lambda::Client,
    function: &str,
    topic: &str,
    servers: &[&str],
) -> CreateEventSourceMappingFluentBuilder {
    client
        .create_event_source_mapping()
        .function_name(function)
        .topics(topic)
        .starting_position(EventSourcePosition::TrimHorizon)
        .self_managed_event_source(
            SelfManagedEventSource::builder()
                .endpoints(
                    EndPointType::KafkaBootstrapServers,
                    servers.iter().map(|s| (*s).to_owned()).collect(),
                )
                .build(),
        )
}

/// Stops the created mappings within a bound and expects each to end cleanly.
async fn stop_promptly(server: &LambdaApiServer) -> Vec<String> {
    let started = Instant::now();
    let outcomes = tokio::time::timeout(Duration::from_secs(5), server.stop_created_mappings())
        .await
        .expect("stop_created_mappings returns promptly");
    assert!(started.elapsed() < Duration::from_secs(5));
    outcomes
        .into_iter()
        .map(|(topic, outcome)| {
            outcome.unwrap_or_else(|err| panic!("{topic}: {err}"));
            topic
        })
        .collect()
}

#[test]
fn create_self_managed_runs_lists_and_conflicts() {
    run(async {
        let (s, _) = server(Some(fast_factory())).await;
        let client = sdk(&s);
        let created = self_managed(
            &client,
            "arn:aws:lambda:us-east-1:123456789012:function:mirror",
            "orders",
            &[NOWHERE, "127.0.0.1:2"],
        )
        .batch_size(250)
        .maximum_batching_window_in_seconds(2)
        .self_managed_kafka_event_source_config(
            SelfManagedKafkaEventSourceConfig::builder()
                .consumer_group_id("ferry-orders")
                .build(),
        )
        .source_access_configurations(
            SdkAccess::builder()
                .r#type(SourceAccessType::SaslScram512Auth)
                .uri("arn:aws:secretsmanager:us-east-1:123456789012:secret:kafka")
                .build(),
        )
        .provisioned_poller_config(
            SdkPollerConfig::builder()
                .minimum_pollers(2)
                .maximum_pollers(4)
                .build(),
        )
        .send()
        .await
        .expect("created");
        let uuid = created.uuid().unwrap().to_owned();
        assert_eq!(created.state(), Some("Creating"));
        assert_eq!(created.topics(), ["orders"]);
        assert_eq!(created.batch_size(), Some(250));
        assert_eq!(created.maximum_batching_window_in_seconds(), Some(2));
        assert_eq!(
            created.starting_position(),
            Some(&EventSourcePosition::TrimHorizon)
        );
        assert_eq!(
            created.function_arn(),
            Some("arn:aws:lambda:us-east-1:123456789012:function:mirror")
        );
        assert_eq!(
            created
                .self_managed_event_source()
                .and_then(|s| s.endpoints())
                .and_then(|e| e.get(&EndPointType::KafkaBootstrapServers))
                .cloned(),
            Some(vec![NOWHERE.to_owned(), "127.0.0.1:2".to_owned()])
        );
        assert_eq!(
            created
                .self_managed_kafka_event_source_config()
                .and_then(|c| c.consumer_group_id()),
            Some("ferry-orders")
        );
        let access = created.source_access_configurations();
        assert_eq!(access.len(), 1);
        assert_eq!(
            access[0].r#type(),
            Some(&SourceAccessType::SaslScram512Auth)
        );
        let pollers = created.provisioned_poller_config().unwrap();
        assert_eq!(
            (pollers.minimum_pollers(), pollers.maximum_pollers()),
            (Some(2), Some(4))
        );

        // Listed by function, with the real state; and really running (MinimumPollers pollers).
        let listed = client
            .list_event_source_mappings()
            .function_name("mirror")
            .send()
            .await
            .unwrap();
        let mappings = listed.event_source_mappings();
        assert_eq!(mappings.len(), 1);
        assert_eq!(mappings[0].uuid(), Some(uuid.as_str()));
        assert_eq!(mappings[0].topics(), ["orders"]);
        assert_eq!(mappings[0].batch_size(), Some(250));
        assert_eq!(mappings[0].state(), Some("Enabled"));
        assert_eq!(mappings[0].source_access_configurations().len(), 1);
        let deadline = Instant::now() + Duration::from_secs(5);
        while s.created_mapping_stats().first().map(|(_, st)| st.pollers) != Some(2) {
            assert!(
                Instant::now() < deadline,
                "the mapping never started polling"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(s.created_mapping_stats()[0].0, "orders");

        // Same function, topic and endpoint set (in another order, by plain name): 409.
        let err = self_managed(&client, "mirror", "orders", &["127.0.0.1:2", NOWHERE])
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_resource_conflict_exception(), "{err:?}");
        let message = err.message().unwrap();
        assert!(
            message.contains(&format!(
                "Please update or delete the existing mapping with UUID {uuid}"
            )),
            "{message}"
        );
        // Another topic, or other endpoints, are other mappings.
        self_managed(&client, "mirror", "payments", &[NOWHERE])
            .send()
            .await
            .unwrap();
        self_managed(&client, "mirror", "orders", &[NOWHERE])
            .send()
            .await
            .unwrap();
        assert_eq!(s.created_mapping_stats().len(), 3);

        assert_eq!(stop_promptly(&s).await, ["orders", "payments", "orders"]);
        assert!(s.stop_created_mappings().await.is_empty(), "joined once");
        // Stopped mappings stay registered until deleted.
        assert_eq!(s.created_mapping_stats().len(), 3);
    });
}

#[test]
fn create_refuses_invalid_requests() {
    run(async {
        let (s, _) = server(Some(fast_factory())).await;
        let client = sdk(&s);

        let err = self_managed(&client, "ghost", "orders", &[NOWHERE])
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_resource_not_found_exception(), "{err:?}");

        let err = self_managed(&client, "mirror", "orders", &[NOWHERE])
            .topics("payments")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_invalid_parameter_value_exception(), "{err:?}");
        assert!(err.message().unwrap().contains("exactly one topic"));

        let err = client
            .create_event_source_mapping()
            .function_name("mirror")
            .topics("orders")
            .starting_position(EventSourcePosition::Latest)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_invalid_parameter_value_exception(), "{err:?}");
        assert!(err.message().unwrap().contains("event source is required"));

        for (builder, what) in [
            (
                self_managed(&client, "mirror", "orders", &[NOWHERE]).event_source_arn(MSK_ARN),
                "both sources",
            ),
            (
                self_managed(&client, "mirror", "orders", &[NOWHERE]).batch_size(10_001),
                "batch size",
            ),
            (
                self_managed(&client, "mirror", "orders", &[NOWHERE])
                    .maximum_batching_window_in_seconds(301),
                "window",
            ),
            (
                self_managed(&client, "mirror", "orders", &["no-port"]),
                "endpoint",
            ),
            (
                client
                    .create_event_source_mapping()
                    .function_name("mirror")
                    .topics("orders")
                    .event_source_arn("arn:aws:sqs:us-east-1:123456789012:queue"),
                "not Kafka",
            ),
        ] {
            let err = builder.send().await.unwrap_err().into_service_error();
            assert!(
                err.is_invalid_parameter_value_exception(),
                "{what}: {err:?}"
            );
        }

        // Raw HTTP: no StartingPosition, a body that is not JSON, the fault knob.
        let url = format!("{}/2015-03-31/event-source-mappings", s.endpoint_url());
        let http = reqwest::Client::new();
        let body = json!({
            "FunctionName": "mirror",
            "Topics": ["orders"],
            "SelfManagedEventSource": { "Endpoints": { "KAFKA_BOOTSTRAP_SERVERS": [NOWHERE] } },
        });
        let resp = http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        assert!(resp.text().await.unwrap().contains("StartingPosition"));
        let resp = http.post(&url).body("nope").send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        s.refuse_mapping_requests("mirror", true);
        let err = self_managed(&client, "mirror", "orders", &[NOWHERE])
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("AccessDeniedException"));
        s.refuse_mapping_requests("mirror", false);

        // Nothing was created by any of these.
        assert!(s.created_mapping_stats().is_empty());
        let listed = client.list_event_source_mappings().send().await.unwrap();
        assert!(listed.event_source_mappings().is_empty());
    });
}

#[test]
fn create_needs_a_factory() {
    run(async {
        let (s, _) = server(None).await;
        let err = self_managed(&sdk(&s), "mirror", "orders", &[NOWHERE])
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_invalid_parameter_value_exception(), "{err:?}");
        assert!(err.message().unwrap().contains("serve_mapping_creation"));
        assert!(s.created_mapping_stats().is_empty());
    });
}

#[test]
fn msk_arns_resolve_through_the_factory_map() {
    run(async {
        let (s, _) = server(Some(fast_factory())).await;
        let client = sdk(&s);
        let created = client
            .create_event_source_mapping()
            .function_name("mirror:live")
            .topics("orders")
            .event_source_arn(MSK_ARN)
            .starting_position(EventSourcePosition::Latest)
            .send()
            .await
            .unwrap();
        assert_eq!(created.event_source_arn(), Some(MSK_ARN));
        assert_eq!(created.batch_size(), Some(100));
        assert_eq!(
            created.starting_position(),
            Some(&EventSourcePosition::Latest)
        );
        assert!(created.self_managed_event_source().is_none());
        // No ConsumerGroupId given: a generated UUID, as AWS does.
        let group = created
            .amazon_managed_kafka_event_source_config()
            .and_then(AmazonManagedKafkaEventSourceConfig::consumer_group_id)
            .unwrap();
        assert!(uuid::Uuid::parse_str(group).is_ok(), "{group}");
        let by_arn = client
            .list_event_source_mappings()
            .event_source_arn(MSK_ARN)
            .send()
            .await
            .unwrap();
        assert_eq!(by_arn.event_source_mappings().len(), 1);

        let err = client
            .create_event_source_mapping()
            .function_name("mirror")
            .topics("orders")
            .event_source_arn("arn:aws:kafka:us-east-1:123456789012:cluster/other/xyz-2")
            .starting_position(EventSourcePosition::Latest)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_invalid_parameter_value_exception(), "{err:?}");
        assert!(err
            .message()
            .unwrap()
            .contains("Unknown Amazon MSK cluster"));
        assert_eq!(stop_promptly(&s).await, ["orders"]);
    });
}

#[test]
fn delete_stops_and_deregisters() {
    run(async {
        let (s, _) = server(Some(fast_factory())).await;
        let client = sdk(&s);
        let uuid = self_managed(&client, "mirror", "orders", &[NOWHERE])
            .send()
            .await
            .unwrap()
            .uuid()
            .unwrap()
            .to_owned();
        let deleted = client
            .delete_event_source_mapping()
            .uuid(&uuid)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.state(), Some("Deleting"));
        assert_eq!(deleted.uuid(), Some(uuid.as_str()));
        let listed = client
            .list_event_source_mappings()
            .function_name("mirror")
            .send()
            .await
            .unwrap();
        assert!(listed.event_source_mappings().is_empty());
        let err = client
            .get_event_source_mapping()
            .uuid(&uuid)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_resource_not_found_exception(), "{err:?}");
        let err = client
            .delete_event_source_mapping()
            .uuid(&uuid)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_resource_not_found_exception(), "{err:?}");
        assert!(s.created_mapping_stats().is_empty());
        // The same mapping can be created again once the old one is gone.
        self_managed(&client, "mirror", "orders", &[NOWHERE])
            .send()
            .await
            .unwrap();
        assert_eq!(stop_promptly(&s).await, ["orders"]);
    });
}

#[test]
fn disabled_creation_and_raw_routes() {
    run(async {
        let (s, _) = server(Some(fast_factory())).await;
        let http = reqwest::Client::new();
        let base = format!("{}/2015-03-31/event-source-mappings/", s.endpoint_url());
        let body = json!({
            "FunctionName": "mirror",
            "Topics": ["orders"],
            "StartingPosition": "LATEST",
            "Enabled": false,
            "SelfManagedEventSource": { "Endpoints": { "KAFKA_BOOTSTRAP_SERVERS": [NOWHERE] } },
            "FilterCriteria": { "Filters": [] },
        });
        let resp = http.post(&base).json(&body).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 202);
        assert!(resp.headers().get("x-amzn-requestid").is_some());
        let created: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(created["State"], "Creating");
        assert!(created.get("ProvisionedPollerConfig").is_none());
        assert!(created.get("SourceAccessConfigurations").is_none());
        let uuid = created["UUID"].as_str().unwrap();
        let got: serde_json::Value = http
            .get(format!("{base}{uuid}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got["State"], "Disabled");
        let resp = http.delete(format!("{base}{uuid}")).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 202);
        assert!(
            stop_promptly(&s).await.is_empty(),
            "deleted ones are not reported"
        );
    });
}

#[test]
fn shutdown_and_drop_stop_created_mappings() {
    run(async {
        let (s, _) = server(Some(fast_factory())).await;
        self_managed(&sdk(&s), "mirror", "orders", &[NOWHERE])
            .send()
            .await
            .unwrap();
        s.shutdown();
        // Already stopping: joining is quick.
        assert_eq!(stop_promptly(&s).await, ["orders"]);

        let (s, invoker) = server(Some(fast_factory())).await;
        self_managed(&sdk(&s), "mirror", "orders", &[NOWHERE])
            .send()
            .await
            .unwrap();
        drop(s);
        // The mapping's task and the server's registry held the invoker; both let go of it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&invoker) > 1 {
            assert!(
                Instant::now() < deadline,
                "the created mapping kept running"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}
