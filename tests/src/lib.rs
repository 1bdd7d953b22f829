//! # ferry-tests
//!
//! Shared harness of Ferry's integration tests. Every test runs against the **real local stack**
//! started by `scripts/stack up` (two single-node KRaft Kafka clusters and moto); tests share it
//! and isolate themselves with fresh topic, group and table names ([`unique`]).
//!
//! The mirror runs as the real `mirror` binary behind the local Lambda Runtime API
//! ([`ferry_local::runtime_api::FunctionHost`]) and is fed by the local event source mapping
//! emulator, exactly as in `ferry local`. `scripts/test` builds the binaries before the tests.

use ferry_core::checksum::RangeChecksum;
use ferry_core::TopicPartition;
use ferry_kafka::reader::{partition_checksum, watermarks};
use ferry_kafka::KafkaConnection;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Source cluster of the local stack.
pub const SOURCE: &str = "127.0.0.1:19092";
/// Target cluster of the local stack.
pub const TARGET: &str = "127.0.0.1:29092";
/// moto (DynamoDB) of the local stack.
pub const MOTO: &str = "http://127.0.0.1:4566";

/// Source connection.
pub fn source() -> KafkaConnection {
    KafkaConnection::plaintext(SOURCE)
}

/// Target connection.
pub fn target() -> KafkaConnection {
    KafkaConnection::plaintext(TARGET)
}

/// A name no other test (or earlier run) uses: `<prefix>-<pid>-<n>-<random>`.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}-{:06x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>() & 0xff_ffff
    )
}

/// Panics with instructions unless the local stack answers; sets the AWS env for moto.
pub fn require_stack() {
    for (name, addr) in [
        ("source Kafka", SOURCE),
        ("target Kafka", TARGET),
        ("moto", "127.0.0.1:4566"),
    ] {
        let ok = std::net::TcpStream::connect_timeout(
            &addr.parse().expect("static address"),
            Duration::from_secs(3),
        )
        .is_ok();
        assert!(ok, "{name} at {addr} is not answering: start the local stack with `scripts/stack up` (scripts/test does)");
    }
    set_aws_env();
}

/// Checks that the AWS SDK environment points at moto (`eval "$(scripts/stack env)"`).
pub fn set_aws_env() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint == MOTO,
        "AWS_ENDPOINT_URL is {endpoint:?}, not {MOTO}: run `eval \"$(scripts/stack env)\"` first (scripts/test does)"
    );
}

/// The environment that points AWS clients (and function binaries) at moto.
pub fn aws_env() -> [(&'static str, &'static str); 5] {
    [
        ("AWS_ENDPOINT_URL", MOTO),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ]
}

/// Path of a workspace binary built by `cargo build --workspace --bins` (next to the test's
/// `deps/` folder, whatever `CARGO_TARGET_DIR` is).
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "binary {} not built: run `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    path
}

/// Per-partition comparison of source and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionCompare {
    /// Partition.
    pub tp: TopicPartition,
    /// Source checksum (count + digest).
    pub source: RangeChecksum,
    /// Target checksum.
    pub target: RangeChecksum,
}

impl PartitionCompare {
    /// Same count and same ordered content.
    pub fn equal(&self) -> bool {
        self.source == self.target
    }
}

/// Compares every partition of `topic` on both clusters (ordered content checksums).
pub async fn compare_topic(topic: &str, partitions: i32) -> Vec<PartitionCompare> {
    let mut out = Vec::new();
    for p in 0..partitions {
        let tp = TopicPartition::new(topic, p);
        let source = partition_checksum(&source(), &tp, 0, None)
            .await
            .expect("source checksum");
        let target = partition_checksum(&target(), &tp, 0, None)
            .await
            .expect("target checksum");
        out.push(PartitionCompare { tp, source, target });
    }
    out
}

/// Waits until the target holds `expected` committed records in `topic`, or the deadline
/// passes; returns the last count. High watermarks are the cheap first check; since they also
/// count transaction markers and aborted records, the committed records are then counted
/// (`read_committed`).
pub async fn wait_for_target_count(
    topic: &str,
    partitions: i32,
    expected: i64,
    deadline: Duration,
) -> i64 {
    use ferry_core::ports::ClusterReader;
    let start = Instant::now();
    let reader = ferry_kafka::KafkaClusterReader::new(target(), "target");
    loop {
        let mut ends = Vec::new();
        for p in 0..partitions {
            ends.push(
                watermarks(&target(), &TopicPartition::new(topic, p))
                    .await
                    .map_or(0, |w| w.1),
            );
        }
        let mut total: i64 = ends.iter().sum();
        if total >= expected {
            total = 0;
            for (p, end) in ends.iter().enumerate() {
                total += reader
                    .count_range(&TopicPartition::new(topic, p as i32), 0, *end)
                    .await
                    .map_or(0, |n| n as i64);
            }
        }
        if total >= expected || start.elapsed() > deadline {
            return total;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs `scripts/stack <args>` (fault injection on the shared stack).
pub fn stack(args: &[&str]) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/stack");
    let status = std::process::Command::new(script)
        .args(args)
        .status()
        .expect("run scripts/stack");
    assert!(status.success(), "scripts/stack {args:?} failed: {status}");
}

/// Installs a compact test tracing subscriber once (RUST_LOG controls it).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// A running local deployment of the mirror: its own DynamoDB table, the real `mirror` binary
/// behind the local Lambda Runtime API, and ESM mappings started on demand.
#[derive(Debug)]
pub struct MirrorRig {
    /// DynamoDB table of this rig.
    pub table: String,
    /// The function host running `mirror`.
    pub host: ferry_local::FunctionHost,
    /// The state store (for assertions).
    pub store: ferry_aws::DynamoStateStore,
}

/// Name of the mirror function in the local runtime.
pub const MIRROR: &str = "mirror";

impl MirrorRig {
    /// Creates a fresh table and a function host for the mirror binary with `extra_env`
    /// (e.g. `FERRY_FAULTS`).
    pub async fn new(extra_env: &[(&str, &str)], sandboxes: usize) -> Self {
        require_stack();
        let table = unique("ferry-test");
        let client = ferry_aws::dynamo::client_from_env().await;
        ferry_aws::dynamo::ensure_table(&client, &table)
            .await
            .expect("create table on moto");
        let mut config = ferry_local::FunctionConfig::new(MIRROR, bin_path("mirror"));
        config.env = [
            ("FERRY_TABLE", table.as_str()),
            ("FERRY_TARGET_BOOTSTRAP", TARGET),
            // Source log bounds for the data-loss checks.
            ("FERRY_SOURCE_BOOTSTRAP", SOURCE),
            ("RUST_LOG", "warn"),
        ]
        .iter()
        .chain(extra_env.iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        config.timeout = Duration::from_secs(60);
        config.sandboxes = sandboxes;
        config.log =
            ferry_local::LogTarget::File(std::env::temp_dir().join(format!("{table}.log")));
        let host = ferry_local::FunctionHost::new(config).expect("function host");
        let store = ferry_aws::DynamoStateStore::new(client, table.clone());
        Self { table, host, store }
    }

    fn log_path_of(table: &str) -> PathBuf {
        std::env::temp_dir().join(format!("{table}.log"))
    }

    /// The mirror function's log (stdout + stderr of every sandbox, EMF documents included).
    pub fn log_path(&self) -> PathBuf {
        Self::log_path_of(&self.table)
    }

    /// An ESM mapping for `topic` into this rig's mirror with a fresh consumer group.
    pub fn mapping(&self, topic: &str) -> ferry_local::EsmConfig {
        let mut c = ferry_local::EsmConfig::new(SOURCE, topic, unique("ferry-esm"), MIRROR);
        c.batch_size = 1000;
        c.batching_window = Duration::from_millis(50);
        c.pollers = 2;
        c.retry_initial_backoff = Duration::from_millis(50);
        c.retry_max_backoff = Duration::from_secs(2);
        c
    }

    /// Runs `mappings` until the target holds `expected` records per topic (or `deadline`),
    /// then stops them gracefully. Returns each mapping's stats.
    pub async fn run_until_mirrored(
        &self,
        mappings: Vec<ferry_local::EsmConfig>,
        expected: &[(String, i32, i64)],
        deadline: Duration,
        during: impl std::future::Future<Output = ()>,
    ) -> Vec<ferry_local::EsmStatsSnapshot> {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let invoker: std::sync::Arc<dyn ferry_local::Invoker> =
            std::sync::Arc::new(self.host.clone());
        let mut tasks = Vec::new();
        let mut stats = Vec::new();
        for m in mappings {
            let esm =
                ferry_local::EventSourceMapping::new(m, invoker.clone()).expect("valid mapping");
            stats.push(esm.stats());
            let token = shutdown.clone();
            tasks.push(tokio::spawn(async move { esm.run(token).await }));
        }
        let start = Instant::now();
        during.await;
        for (topic, partitions, count) in expected {
            let left = deadline.saturating_sub(start.elapsed());
            let got = wait_for_target_count(topic, *partitions, *count, left).await;
            assert!(got >= *count, "{topic}: target has {got} of {count} records after {deadline:?}; mapping stats: {:?}",
                stats.iter().map(|s| s.snapshot()).collect::<Vec<_>>());
        }
        shutdown.cancel();
        for t in tasks {
            t.await.expect("mapping task").expect("mapping ran");
        }
        stats.iter().map(|s| s.snapshot()).collect()
    }
}

/// Name of the checkpoint function in the local runtime.
pub const CHECKPOINT: &str = "checkpoint";

impl MirrorRig {
    /// A function host for the real `checkpoint` binary on this rig's table, source and target,
    /// with `extra_env` (e.g. `FERRY_GROUPS_INCLUDE`, `FERRY_TOPICS_INCLUDE`).
    pub fn checkpoint_host(&self, extra_env: &[(&str, &str)]) -> ferry_local::FunctionHost {
        let mut config = ferry_local::FunctionConfig::new(CHECKPOINT, bin_path("checkpoint"));
        config.env = [
            ("FERRY_TABLE", self.table.as_str()),
            ("FERRY_SOURCE_BOOTSTRAP", SOURCE),
            ("FERRY_TARGET_BOOTSTRAP", TARGET),
            ("RUST_LOG", "info"),
        ]
        .iter()
        .chain(extra_env.iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        config.timeout = Duration::from_secs(120);
        config.sandboxes = 1;
        config.log = ferry_local::LogTarget::File(
            std::env::temp_dir().join(format!("{}-checkpoint.log", self.table)),
        );
        ferry_local::FunctionHost::new(config).expect("checkpoint function host")
    }
}

/// Invokes the checkpoint function once (as its schedule would) and returns its JSON response;
/// panics on a function error.
pub async fn run_checkpoint(host: &ferry_local::FunctionHost) -> serde_json::Value {
    use ferry_local::Invoker;
    let out = host
        .invoke(CHECKPOINT, bytes::Bytes::from_static(b"{}"))
        .await
        .unwrap_or_else(|e| panic!("checkpoint invocation failed: {e}"));
    serde_json::from_slice(&out).expect("checkpoint response is JSON")
}

/// Creates `topic` with `partitions` on both clusters (same name: identity policy).
pub async fn create_mirrored_topic(topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    ferry_kafka::admin::create_topic(&source(), topic, partitions, configs)
        .await
        .expect("source topic");
    ferry_kafka::admin::create_topic(&target(), topic, partitions, configs)
        .await
        .expect("target topic");
}

/// Asserts every partition of `topic` has identical count and ordered content on both sides.
pub async fn assert_mirrored(topic: &str, partitions: i32, expected_total: u64) {
    let cmp = compare_topic(topic, partitions).await;
    let total: u64 = cmp.iter().map(|c| c.source.count).sum();
    assert_eq!(
        total, expected_total,
        "source of {topic} holds {total} records"
    );
    for c in &cmp {
        assert!(
            c.equal(),
            "{}: source {} records {} vs target {} records {}",
            c.tp,
            c.source.count,
            c.source.hex(),
            c.target.count,
            c.target.hex()
        );
    }
}

/// The test binary's Lambda API server on `FERRY_LAMBDA_API` (moto's Step Functions sends its
/// Lambda tasks there), on a dedicated runtime so it outlives every test's own. One test binary
/// at a time may serve it (cargo runs test binaries one after another); tests register their
/// functions under unique names.
pub fn lambda_api_server() -> &'static ferry_local::LambdaApiServer {
    use ferry_local::LambdaApiServer;
    static SERVER: std::sync::OnceLock<LambdaApiServer> = std::sync::OnceLock::new();
    SERVER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("lambda-api".to_owned())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("Lambda API runtime");
                rt.block_on(async move {
                    let addr = LambdaApiServer::addr_from_env().expect("FERRY_LAMBDA_API");
                    match LambdaApiServer::bind(addr).await {
                        Ok(server) => {
                            // The receiver only goes away if the test binary is exiting.
                            let _ = tx.send(Ok(server));
                            std::future::pending::<()>().await;
                        }
                        Err(err) => {
                            let _ = tx.send(Err(format!(
                                "{err} ({:?}); is another process (ferry local, ferry demo, another test binary) serving the Lambda API?",
                                std::error::Error::source(&err)
                            )));
                        }
                    }
                });
            })
            .expect("Lambda API thread");
        match rx.recv().expect("Lambda API thread ended") {
            Ok(server) => server,
            Err(err) => panic!("{err}"),
        }
    })
}
