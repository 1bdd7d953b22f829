//! Command-line interface of `ferry` (clap derive only: the commands, their options and the
//! options they share; what the options mean is up to the command's module).
//!
//! Cluster connections default to the local stack (`scripts/stack`) and follow the same
//! environment variables as the functions: `FERRY_SOURCE_BOOTSTRAP`, `FERRY_TARGET_BOOTSTRAP`
//! (and `FERRY_<SIDE>_SECURITY`, SASL and TLS settings for `status`, see
//! `ferry_kafka::KafkaConnection::from_env`). DynamoDB uses the standard AWS configuration;
//! `AWS_ENDPOINT_URL` points it at moto.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Source bootstrap servers of the local stack.
pub const LOCAL_SOURCE: &str = "127.0.0.1:19092";
/// Target bootstrap servers of the local stack.
pub const LOCAL_TARGET: &str = "127.0.0.1:29092";

/// `ferry`: run and inspect Ferry's Kafka -> MSK mirror locally.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Full local migration demo on the running stack: fresh topics and table, sample
    /// traffic, the real mirror binary behind the local Lambda runtime, then a per-partition
    /// source/target comparison. Exit code 0 only if every partition matches.
    Demo(DemoArgs),
    /// Run the local runtime (the mirror function behind one event source mapping per topic)
    /// until Ctrl-C, printing per-topic progress.
    Local(LocalArgs),
    /// Per-partition mirror status: source end offset, mirrored progress, lag, segments.
    Status(StatusArgs),
    /// Measure the source topics' write rates and sizes, assign volume tiers and write the
    /// event source mappings that infra/template.yaml deploys (infra/mappings.yaml).
    Plan(PlanArgs),
    /// Operate the cutover state machine: start a migration, watch it, approve or abort the
    /// producer cutover.
    #[command(subcommand)]
    Cutover(CutoverCommand),
    /// Run a validation now (invokes the `validate` function through the Lambda API: AWS, or
    /// the local runtime with `AWS_ENDPOINT_URL_LAMBDA`) and print its report.
    Validate(ValidateArgs),
    /// The exact target position of a source position: for consumers that keep their own
    /// offsets (Flink, Spark, `assign()`). Exit code 1 if a position is not mirrored yet.
    Translate(TranslateArgs),
    /// Size a Provisioned MSK target's broker volumes from `ferry plan`'s measurements and the
    /// source topics' retention, before the backfill starts; with `--grow`, grow them
    /// (`UpdateBrokerStorage`) after asking. Exit code 1 if even MSK's largest volume is too
    /// small.
    Storage(StorageArgs),
}

/// `ferry storage`.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// The target MSK cluster (AWS, or the local MSK API with `AWS_ENDPOINT_URL_KAFKA`).
    #[arg(long, env = "FERRY_TARGET_MSK_CLUSTER_ARN")]
    pub target_msk_cluster_arn: String,
    /// The plan whose measurements size the target (`ferry plan` writes it).
    #[arg(
        long,
        default_value = "infra/ferry-plan.json",
        value_name = "PLAN_JSON"
    )]
    pub plan: PathBuf,
    /// Replicas of each target topic (default: 3, or the broker count if lower).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=32))]
    pub replication_factor: Option<u32>,
    /// How long topics without time retention (`retention.ms=-1`, compacted) keep growing at
    /// their measured rate before the migration ends, in days.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3650))]
    pub horizon_days: u64,
    /// Grow the volumes if they are too small (asks first, unless `--yes`).
    #[arg(long)]
    pub grow: bool,
    /// With `--grow`: do not ask.
    #[arg(long, requires = "grow")]
    pub yes: bool,
    /// Print the sizing as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Clusters (the source, for the topics' retention).
    #[command(flatten)]
    pub clusters: ClusterArgs,
}

/// `ferry translate`.
#[derive(Debug, Clone, Args)]
pub struct TranslateArgs {
    /// DynamoDB state table.
    #[arg(long, env = "FERRY_TABLE")]
    pub table: String,
    /// Source topic.
    #[arg(long)]
    pub topic: String,
    /// Source partition (with --offset).
    #[arg(long, requires = "offset", conflicts_with = "group")]
    pub partition: Option<i32>,
    /// Source offset: the next offset to read, as a consumer commits it (with --partition).
    #[arg(long, requires = "partition", conflicts_with = "group")]
    pub offset: Option<i64>,
    /// Translate every partition this consumer group has committed on the source instead.
    #[arg(long, required_unless_present = "partition")]
    pub group: Option<String>,
    /// How target topics are named (`identity` or `prefix:<alias>`).
    #[arg(long, env = "FERRY_REPLICATION_POLICY", default_value = "identity")]
    pub replication_policy: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Clusters (the source, for --group).
    #[command(flatten)]
    pub clusters: ClusterArgs,
}

/// Where the migration's state and state machine live.
#[derive(Debug, Clone, Args)]
pub struct MigrationArgs {
    /// DynamoDB state table.
    #[arg(long, env = "FERRY_TABLE")]
    pub table: String,
    /// The cutover state machine (default: the local `ferry-cutover` on moto).
    #[arg(long, env = "FERRY_STATE_MACHINE_ARN")]
    pub state_machine_arn: Option<String>,
    /// Print JSON (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// `ferry cutover ...`.
#[derive(Debug, Subcommand)]
pub enum CutoverCommand {
    /// Start a migration (an execution named after the migration id).
    Start {
        /// Migration id (execution name).
        id: String,
        /// Consumer groups to move (default: every source group with offsets on mirrored
        /// topics that the cutover function's group filter matches).
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// The source topics this migration moves, as one wave of several (default: every
        /// mirrored topic). Only their lag, content and drain count, only their mappings are
        /// disabled at the end and only this migration's producers move; later waves keep
        /// mirroring.
        #[arg(long, value_delimiter = ',')]
        topics: Vec<String>,
        /// Groups that move only after `ferry cutover approve <id> --group <g>` (each must be
        /// one of the groups moved).
        #[arg(long, value_delimiter = ',')]
        gated_groups: Vec<String>,
        /// Start when at most this many records are not mirrored yet.
        #[arg(long, default_value_t = 1000)]
        lag_threshold: i64,
        /// What to do with a group that does not stop in time: `continue` (report it, it stays
        /// on the source) or `fail` (roll back).
        #[arg(long, default_value = "continue")]
        on_group_timeout: String,
        /// Where things live.
        #[command(flatten)]
        at: MigrationArgs,
    },
    /// Phase, groups, producers, approval, execution status; `--watch` refreshes until it ends.
    Status {
        /// Migration id.
        id: String,
        /// Refresh every 2 s until the execution ends.
        #[arg(long)]
        watch: bool,
        /// Where things live.
        #[command(flatten)]
        at: MigrationArgs,
    },
    /// Approve the producer cutover, or with `--group` a gated group's move (the state machine
    /// waits for it).
    Approve {
        /// Migration id.
        id: String,
        /// Approve this gated group's move instead of the producer cutover.
        #[arg(long)]
        group: Option<String>,
        /// Who approves (recorded in the execution history).
        #[arg(long, env = "USER", default_value = "operator")]
        by: String,
        /// Where things live.
        #[command(flatten)]
        at: MigrationArgs,
    },
    /// Pause a migration at its next step, in any phase before producers move (groups already
    /// moving finish first): it is held there until `ferry cutover resume` (or `abort`).
    Pause {
        /// Migration id.
        id: String,
        /// Who pauses, and why (recorded).
        #[arg(long, default_value = "the operator")]
        reason: String,
        /// Where things live.
        #[command(flatten)]
        at: MigrationArgs,
    },
    /// Resume a migration held after a failed step or paused (`ferry cutover status` shows
    /// the hold): the state machine runs that step again. A pause not taken yet is withdrawn.
    Resume {
        /// Migration id.
        id: String,
        /// Where things live.
        #[command(flatten)]
        at: MigrationArgs,
    },
    /// Abort before producers move: at once at the approval gate or from a hold, otherwise at
    /// the next step; the state machine rolls back (moved groups return to the source at their
    /// exact offsets, producers stay on the source).
    Abort {
        /// Migration id.
        id: String,
        /// Why (recorded).
        #[arg(long, default_value = "aborted by the operator")]
        reason: String,
        /// Where things live.
        #[command(flatten)]
        at: MigrationArgs,
    },
}

/// `ferry validate`.
#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// `lag` (offsets only) or `full` (counts and content).
    #[arg(long, default_value = "full")]
    pub mode: String,
    /// Migration id the report is stored under.
    #[arg(long, default_value = "default")]
    pub migration_id: String,
    /// The validate function's name.
    #[arg(long, default_value = "validate")]
    pub function: String,
    /// Print the whole JSON report.
    #[arg(long)]
    pub json: bool,
}

/// Source and target clusters.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Source cluster bootstrap servers.
    #[arg(long, env = "FERRY_SOURCE_BOOTSTRAP", default_value = LOCAL_SOURCE)]
    pub source_bootstrap: String,
    /// Target cluster bootstrap servers.
    #[arg(long, env = "FERRY_TARGET_BOOTSTRAP", default_value = LOCAL_TARGET)]
    pub target_bootstrap: String,
}

/// `ferry demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Number of demo topics (demo-orders-*, demo-payments-*, demo-clicks-*, ...).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub topics: u32,
    /// Partitions per topic (same on source and target).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..=256))]
    pub partitions: i32,
    /// Records in total, spread evenly over the topics.
    #[arg(long, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..=50_000_000))]
    pub records: u64,
    /// Value size in bytes of ordinary records (some are tombstones or empty).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub value_bytes: u64,
    /// The mirror function binary (default: `mirror` next to this `ferry` binary).
    #[arg(long, value_name = "PATH")]
    pub mirror_bin: Option<PathBuf>,
    /// Concurrent pollers per mapping.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub pollers: u32,
    /// Maximum records per batch (AWS `BatchSize`).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
    /// Give up after this many seconds (everything included).
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub timeout: u64,
    /// Print the report as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Only mirror and compare (no applications, no cutover state machine).
    #[arg(long)]
    pub mirror_only: bool,
    /// Clusters.
    #[command(flatten)]
    pub clusters: ClusterArgs,
}

/// `ferry local`.
#[derive(Debug, Clone, Args)]
pub struct LocalArgs {
    /// DynamoDB state table (created if missing).
    #[arg(long, env = "FERRY_TABLE")]
    pub table: String,
    /// Source topics to mirror, one mapping each (comma-separated).
    #[arg(long, value_delimiter = ',', required = true, num_args = 1..)]
    pub topics: Vec<String>,
    /// The mirror function binary (default: `mirror` next to this `ferry` binary).
    #[arg(long, value_name = "PATH")]
    pub mirror_bin: Option<PathBuf>,
    /// Concurrent pollers per mapping.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub pollers: u32,
    /// Maximum records per batch (AWS `BatchSize`).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
    /// Batching window in milliseconds (AWS `MaximumBatchingWindowInSeconds`).
    #[arg(long, default_value_t = 50, value_name = "MS")]
    pub batching_window_ms: u64,
    /// Consumer group of each mapping: `<prefix>-<topic>` (default `ferry-<table>`).
    #[arg(long)]
    pub group_prefix: Option<String>,
    /// Where the mirror's own log goes (default: a file in the temp directory).
    #[arg(long, value_name = "PATH")]
    pub mirror_log: Option<PathBuf>,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    /// Run the template's EventBridge schedules (the `checkpoint` binary next to this `ferry`
    /// binary, every minute); `--schedules false` turns them off.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub schedules: bool,
    /// With `--schedules`, discovery (the `discover` binary, every 5 minutes) also maps new
    /// source topics matching this regex (comma-separated list) through the local Lambda API;
    /// without it, discovery only follows the `--topics` (new partitions).
    #[arg(long, value_name = "REGEX")]
    pub discover_include: Option<String>,
    /// Clusters.
    #[command(flatten)]
    pub clusters: ClusterArgs,
}

/// `ferry status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// DynamoDB state table.
    #[arg(long, env = "FERRY_TABLE")]
    pub table: String,
    /// Source topics (comma-separated).
    #[arg(long, value_delimiter = ',', required = true, num_args = 1..)]
    pub topics: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also list every committed target record past recorded progress, i.e. not (yet)
    /// recorded by Ferry: an attempt that died before recording (the next batch reconciles
    /// it) or a foreign writer (a partition stopped with `Ferry.TargetIntegrity`).
    #[arg(long)]
    pub unrecorded: bool,
    /// Refresh every `--interval` seconds (a live summary on stderr) until Ctrl-C, then print
    /// the table (or JSON).
    #[arg(long)]
    pub watch: bool,
    /// Seconds between refreshes with `--watch`.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..), value_name = "SECONDS")]
    pub interval: u64,
    /// Clusters.
    #[command(flatten)]
    pub clusters: ClusterArgs,
}

/// `ferry plan`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Source topics to plan (comma-separated); default: every topic matching --include/--exclude.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub topics: Vec<String>,
    /// Topics to plan, comma-separated full-match regexes (default: all; internal topics never).
    #[arg(long, default_value = "")]
    pub include: String,
    /// Topics to leave out, comma-separated full-match regexes.
    #[arg(long, default_value = "")]
    pub exclude: String,
    /// Seconds between the two end-offset samples.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600), value_name = "SECONDS")]
    pub interval: u64,
    /// Newest records read per topic for the mean record size (0: sizes unknown).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub sample_records: u64,
    /// Where ferry-plan.json and mappings.yaml are written (or checked).
    #[arg(long, default_value = "infra", value_name = "DIR")]
    pub out_dir: PathBuf,
    /// Do not measure: render mappings.yaml from this plan file (e.g. infra/ferry-plan.json).
    #[arg(long, value_name = "PLAN_JSON")]
    pub from: Option<PathBuf>,
    /// With --from: compare instead of writing; exit code 1 if `<out-dir>`/mappings.yaml differs.
    #[arg(long, requires = "from")]
    pub check: bool,
    /// Print the plan as JSON on stdout (the table goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Tier thresholds.
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
    /// Clusters (only the source is read).
    #[command(flatten)]
    pub clusters: ClusterArgs,
}

/// `ferry plan`'s tier thresholds: when a topic is high or medium volume (a topic is in the
/// highest tier any of its measures reaches).
#[derive(Debug, Clone, Copy, PartialEq, Args)]
pub struct ThresholdArgs {
    /// High tier from this write rate (bytes/s).
    #[arg(long, default_value_t = 1_048_576.0)]
    pub high_bytes_per_sec: f64,
    /// High tier from this write rate (records/s).
    #[arg(long, default_value_t = 5_000.0)]
    pub high_records_per_sec: f64,
    /// High tier from this retained size (bytes; the initial copy).
    #[arg(long, default_value_t = 107_374_182_400.0)]
    pub high_retained_bytes: f64,
    /// Medium tier from this write rate (bytes/s).
    #[arg(long, default_value_t = 65_536.0)]
    pub medium_bytes_per_sec: f64,
    /// Medium tier from this write rate (records/s).
    #[arg(long, default_value_t = 100.0)]
    pub medium_records_per_sec: f64,
    /// Medium tier from this retained size (bytes).
    #[arg(long, default_value_t = 1_073_741_824.0)]
    pub medium_retained_bytes: f64,
}
