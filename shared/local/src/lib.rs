//! # ferry-local
//!
//! Ferry's local runtime: it runs Ferry's real Lambda handlers the way AWS does, against the
//! local Kafka clusters, with no AWS account.
//!
//! ```text
//!  source Kafka ──► esm::EventSourceMapping ──payload──► invoke::Invoker ──► runtime_api::FunctionHost ──► function binary
//!  (topic, group)   (batching, commit after      (JSON)     (trait)              (Lambda Runtime API,          (lambda_runtime)
//!                    success, whole-batch retry)                                  one child per sandbox)
//!                                                            └──► invoke::FnInvoker ──► in-process async closure
//! ```
//!
//! * [`esm`]: the Kafka event source mapping emulator. One mapping per topic, its own
//!   consumer group, AWS-shaped payloads ([`esm::payload`]), batches bounded by `BatchSize`,
//!   the batching window and the 6 MB payload limit, commit only after success, whole-batch
//!   retries with backoff, partitions in parallel but each strictly in order. An opt-in
//!   poller mode ([`esm::PollerMode`]) makes pollers members of the mapping's consumer group,
//!   rebalanced as the mapping scales, so a revoked partition's invocation may still run
//!   while its new owner starts over (as on AWS). Fault knobs inject redeliveries, differently split retries, delayed commits, late
//!   produce requests and invocations killed at their timeout. [`esm::run_mappings`] runs several.
//! * [`invoke`]: the [`invoke::Invoker`] seam (synchronous `Invoke` semantics and errors),
//!   the in-process [`invoke::FnInvoker`] and the by-name [`invoke::InvokerMap`].
//! * [`runtime_api`]: [`runtime_api::FunctionHost`] runs a function binary as a child process
//!   behind the Lambda Runtime API (cold starts, warm reuse, crash and timeout handling,
//!   `kill_current` for fault injection).
//! * [`lambda_api`]: [`lambda_api::LambdaApiServer`] serves the AWS Lambda API on
//!   `FERRY_LAMBDA_API` (default `127.0.0.1:4570`): `Invoke` with AWS error semantics (what
//!   moto's Step Functions interpreter calls) and List/Get/UpdateEventSourceMapping over the
//!   emulated mappings (enable/disable, as the cutover does with aws-sdk-lambda).
//! * [`msk_api`]: [`msk_api::MskApiServer`] serves the Amazon MSK API subset Ferry calls on
//!   `FERRY_MSK_API` (default `127.0.0.1:4571`, reached with `AWS_ENDPOINT_URL_KAFKA`):
//!   `GetBootstrapBrokers`, `DescribeClusterV2`, `UpdateBrokerStorage` and the topic API, for
//!   clusters registered by ARN, their topics kept by a topic backend (the real Kafka topic
//!   admin, or an in-memory fake in tests).
//! * [`schedule`]: the EventBridge schedule emulator. Reads `Type: Schedule` / `ScheduleV2`
//!   events from the SAM template and invokes each function on its `rate(...)` with an
//!   AWS-shaped `Scheduled Event`, never overlapping, retrying failures twice.
//!
//! * [`workload`]: deterministic sample traffic (keys, null keys, tombstones, headers,
//!   explicit timestamps) for the demo, the tests and the benchmarks.
//!
//! Typical wiring: build a `FunctionHost` per function binary (or an `FnInvoker` in tests),
//! put them into an `InvokerMap`, and hand it to `run_mappings` with the mappings that the
//! SAM template declares.

pub mod esm;
pub mod invoke;
pub mod lambda_api;
pub mod msk_api;
pub mod runtime_api;
pub mod schedule;
pub mod workload;

pub use esm::{
    run_mappings, EsmConfig, EsmError, EsmStats, EsmStatsSnapshot, EventSource, EventSourceMapping,
    FaultConfig, IsolationLevel, MappingHandle, MappingState, PollerMode, StartingPosition,
};
pub use invoke::{FnInvoker, InvokeError, Invoker, InvokerMap, MAX_SYNC_PAYLOAD_BYTES};
pub use lambda_api::{
    ArnContext, CreateMappingRequest, DefaultMappingFactory, LambdaApiError, LambdaApiServer,
    MappingFactory, ResultSizes, DEFAULT_LAMBDA_API_ADDR, LAMBDA_API_ENV,
};
pub use msk_api::{
    LocalCluster, MskApiError, MskApiServer, StorageUpdate, TopicBackend, DEFAULT_MSK_API_ADDR,
    MSK_API_ENV,
};
pub use runtime_api::{FunctionConfig, FunctionHost, HostError, LogTarget};
pub use schedule::{
    run_schedules, schedules_from_template, schedules_from_template_file, Schedule, ScheduleError,
    ScheduleRunner, ScheduleStatsSnapshot,
};
