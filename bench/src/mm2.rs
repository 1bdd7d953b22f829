//! MirrorMaker 2 in dedicated mode (`org.apache.kafka.connect.mirror.MirrorMaker`), started
//! through `scripts/stack kafka mirror-maker` with the stack's Kafka 4.1.2 jars (they include
//! connect-mirror, connect-runtime and friends from Maven Central; see
//! scripts/kafka-deps/pom.xml).
//!
//! Tuning (documented in BENCHMARKS.md): IdentityReplicationPolicy; `tasks.max` = partitions;
//! producer `linger.ms=5`, `batch.size=262144` (256 KiB), `acks=all` (Connect's default),
//! `compression.type` as every other system here (`--compression`, default lz4 = Ferry's default); consumer `max.poll.records=2000`,
//! `fetch.min.bytes=1`; checkpoints and heartbeats off (Ferry's checkpoint function is not part
//! of its mirror path either); offset syncs on (MM2's own bookkeeping); a per-run cluster
//! alias so MM2's internal topics are fresh and can be deleted afterwards.

/// The properties file of one MM2 run.
pub fn properties(
    alias: &str,
    source: &str,
    target: &str,
    topics: &[String],
    tasks: usize,
    compression: &str,
) -> String {
    let src = format!("{alias}src");
    let dst = format!("{alias}dst");
    let topics = topics
        .iter()
        .map(|t| t.replace('.', "\\."))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        "# Written by ferry-bench for one MirrorMaker 2 run (dedicated mode).
clusters = {src}, {dst}
{src}.bootstrap.servers = {source}
{dst}.bootstrap.servers = {target}
{src}->{dst}.enabled = true
{dst}->{src}.enabled = false
{src}->{dst}.topics = {topics}
replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy
tasks.max = {tasks}
replication.factor = 1
offset-syncs.topic.replication.factor = 1
checkpoints.topic.replication.factor = 1
heartbeats.topic.replication.factor = 1
offset.storage.replication.factor = 1
status.storage.replication.factor = 1
config.storage.replication.factor = 1
emit.heartbeats.enabled = false
emit.checkpoints.enabled = false
sync.group.offsets.enabled = false
sync.topic.acls.enabled = false
refresh.topics.interval.seconds = 5
refresh.groups.enabled = false
{dst}.producer.linger.ms = 5
{dst}.producer.batch.size = 262144
{dst}.producer.compression.type = {compression}
{dst}.producer.acks = all
{dst}.producer.buffer.memory = 67108864
{src}.consumer.max.poll.records = 2000
{src}.consumer.fetch.min.bytes = 1
{src}.consumer.auto.offset.reset = earliest
"
    )
}
