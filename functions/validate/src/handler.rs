//! One validation run over the ports.
//!
//! 1. topics: the input's `topics`, or the source's topics matching the topic filter;
//! 2. per partition: source watermarks, progress (one batched read), target end offset; lag =
//!    source records not yet mirrored ([`pending_range`]), counted exactly (readable records, so
//!    transaction markers and aborted records do not count) when at most
//!    [`Limits::exact_lag_max`] offsets are pending, else the offset difference;
//! 3. `full` mode: per mirrored partition, source windows ([`plan_windows`]) are read from both
//!    clusters and compared in order ([`compare_records`]); the first difference of a partition
//!    is reported; when the content agrees, the counts are compared exactly;
//!    both modes: a target that ends before recorded progress is reported (`missing_on_target`);
//! 4. heartbeat: the newest heartbeats on source and target ([`heartbeat_status`]);
//! 5. groups: translation coverage of every source group on the mirrored topics;
//! 6. the report is stored as the migration's `validation` report, then returned — or, with
//!    `mode=full`, `fail_on_mismatch=true` and a mismatch, the run fails with
//!    [`ValidateError::Failed`] (`Ferry.ValidationFailed`).

use crate::error::ValidateError;
use crate::report::{Compared, HeartbeatReport, LagSummary, PartitionReport, ValidationReport};
use crate::request::{Mode, ValidateRequest};
use crate::telemetry::ValidateEvent;
use ferry_core::policy::{GroupFilter, ReplicationPolicy, TopicFilter};
use ferry_core::ports::{
    ClusterError, ClusterReader, MigrationStore, ProgressStore, ReadIsolation, SegmentStore,
    SourceGroups, SourceTopics,
};
use ferry_core::validation::{
    compare_records, group_coverage, heartbeat_status, mirrored_range, mirrored_records_from,
    pending_range, plan_windows, source_of, target_start_of, verdict, GroupCoverage, Heartbeat,
    Mismatch, MismatchKind,
};
use ferry_core::{Progress, Segment, TopicPartition};
use ferry_lambda::{now_ms, FailureError};
use futures::StreamExt;
use std::collections::HashMap;
use std::time::Instant;

/// Comparison limits (see the config table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Pending offsets up to which lag is counted exactly.
    pub exact_lag_max: i64,
    /// Mirrored ranges up to this many source offsets are compared completely.
    pub full_max_records: i64,
    /// Windows compared in larger ranges.
    pub sample_windows: u32,
    /// Source offsets per window.
    pub window_records: i64,
    /// Partitions validated at a time.
    pub concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            exact_lag_max: 10_000,
            full_max_records: 100_000,
            sample_windows: 8,
            window_records: 1000,
            concurrency: 16,
        }
    }
}

/// Heartbeats read from the end of the source heartbeat topic (to find the oldest one the target
/// does not have yet).
const HEARTBEATS_READ: i64 = 100;

/// Runs validations. Generic over the ports so unit tests use in-memory fakes.
#[derive(Debug)]
pub struct ValidateHandler<S, R, T, G> {
    store: S,
    source: R,
    target: T,
    groups_port: G,
    policy: ReplicationPolicy,
    topics: TopicFilter,
    groups: GroupFilter,
    heartbeat_topic: String,
    limits: Limits,
    now_ms: fn() -> i64,
}

impl<S, R, T, G> ValidateHandler<S, R, T, G>
where
    S: ProgressStore + SegmentStore + MigrationStore,
    R: ClusterReader,
    T: ClusterReader,
    G: SourceGroups + SourceTopics,
{
    /// Builds a handler (default limits, heartbeat topic `ferry-heartbeats`, system clock).
    pub fn new(
        store: S,
        source: R,
        target: T,
        groups_port: G,
        policy: ReplicationPolicy,
        topics: TopicFilter,
        groups: GroupFilter,
    ) -> Self {
        Self {
            store,
            source,
            target,
            groups_port,
            policy,
            topics,
            groups,
            heartbeat_topic: "ferry-heartbeats".into(),
            limits: Limits::default(),
            now_ms,
        }
    }

    /// Sets the comparison limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the heartbeat topic (source name).
    pub fn heartbeat_topic(mut self, topic: impl Into<String>) -> Self {
        self.heartbeat_topic = topic.into();
        self
    }

    /// Replaces the clock (tests).
    pub fn clock(mut self, now_ms: fn() -> i64) -> Self {
        self.now_ms = now_ms;
        self
    }

    /// The state store (tests inspect it).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// One validation (see the module docs). The report is stored before the run fails on a
    /// mismatch.
    pub async fn run(&self, request: &ValidateRequest) -> Result<ValidationReport, ValidateError> {
        let started = Instant::now();
        let result = match self.pause_requested(request).await {
            Ok(None) => self.validate(request).await,
            Ok(Some(e)) | Err(e) => Err(e),
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        let result = match result {
            Ok(mut report) => {
                report.duration_ms = duration_ms;
                self.finish(request, report).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            ValidateEvent::Failed {
                kind: e.kind(),
                message: &e.message(),
                // A mismatch failure comes after `Completed`, which recorded the duration.
                duration_ms: (!matches!(e, ValidateError::Failed { .. })).then_some(duration_ms),
            }
            .emit();
        }
        result
    }

    /// The operator's pause or abort request of the request's migration, for cutover steps
    /// ([`ValidateRequest::pausable`]).
    async fn pause_requested(
        &self,
        request: &ValidateRequest,
    ) -> Result<Option<ValidateError>, ValidateError> {
        if !request.pausable {
            return Ok(None);
        }
        let Some(doc) = self.store.load_migration(&request.migration_id).await? else {
            return Ok(None);
        };
        let state: ferry_core::migration::MigrationState = serde_json::from_str(&doc.value)
            .map_err(|e| {
                ValidateError::Store(ferry_core::ports::StoreError::Corrupt {
                    key: format!("MIGRATION#{}", request.migration_id),
                    reason: e.to_string(),
                })
            })?;
        Ok(state.pause_request.as_ref().map(ValidateError::pause))
    }

    async fn finish(
        &self,
        request: &ValidateRequest,
        report: ValidationReport,
    ) -> Result<ValidationReport, ValidateError> {
        let json = serde_json::to_string(&report).expect("the report serializes");
        self.store
            .put_report(&request.migration_id, crate::report::REPORT_NAME, &json)
            .await?;
        ValidateEvent::Completed(&report).emit();
        if request.mode == Mode::Full && request.fail_on_mismatch {
            if let Some(first) = report.mismatches.first() {
                return Err(ValidateError::Failed {
                    first: Box::new(first.clone()),
                    count: report.mismatches.len(),
                });
            }
        }
        Ok(report)
    }

    async fn validate(&self, request: &ValidateRequest) -> Result<ValidationReport, ValidateError> {
        let generated_at_ms = (self.now_ms)();
        let mut notes = Vec::new();
        let topics: Vec<String> = match &request.topics {
            Some(t) => t.clone(),
            None => self
                .groups_port
                .list_topics()
                .await?
                .into_iter()
                .filter(|t| self.topics.matches(t))
                .collect(),
        };
        // Partitions of every topic that exists on the source.
        let mut tps = Vec::new();
        for topic in &topics {
            match self.source.partitions(topic).await? {
                Some(n) => tps.extend((0..n).map(|p| TopicPartition::new(topic, p))),
                None => notes.push(format!("topic {topic:?} does not exist on the source")),
            }
        }
        let progress = self.store.load_progress(&tps).await?;

        let mut partitions = Vec::with_capacity(tps.len());
        let mut mismatches = Vec::new();
        let mut lows = HashMap::new();
        let mut lag = LagSummary {
            exact: true,
            ..LagSummary::default()
        };
        let mut topic_lag: HashMap<&str, i64> = HashMap::new();
        // Partitions are validated `concurrency` at a time (each is a few round trips to both
        // clusters and the store), results taken in order.
        let mut results = futures::stream::iter(tps.iter())
            .map(|tp| self.partition(tp, progress.get(tp).copied(), request.mode))
            .buffered(self.limits.concurrency.max(1));
        for (i, tp) in tps.iter().enumerate() {
            let Some(result) = results.next().await else {
                break;
            };
            let (report, found) = match result {
                Ok(r) => r,
                Err(ValidateError::Cluster(ClusterError::TopicMissing {
                    cluster: "source",
                    topic,
                })) => {
                    notes.push(format!("topic {topic:?} disappeared from the source"));
                    continue;
                }
                Err(e) => return Err(e),
            };
            lows.insert(tp.clone(), report.source_low);
            lag.total += report.lag;
            lag.max = lag.max.max(report.lag);
            lag.partitions_behind += u32::from(report.lag > 0);
            lag.exact &= report.lag_exact;
            *topic_lag.entry(tp.topic.as_str()).or_default() += report.lag;
            mismatches.extend(found);
            partitions.push(report);
            // Progress of long runs: one line per topic done.
            if tps.get(i + 1).is_none_or(|next| next.topic != tp.topic) {
                let done: Vec<&PartitionReport> =
                    partitions.iter().filter(|p| p.topic == tp.topic).collect();
                ValidateEvent::TopicValidated {
                    topic: &tp.topic,
                    partitions: done.len(),
                    lag: topic_lag.get(tp.topic.as_str()).copied().unwrap_or(0),
                    mismatches: mismatches
                        .iter()
                        .filter(|m: &&Mismatch| m.topic == tp.topic)
                        .count(),
                }
                .emit();
            }
        }

        let heartbeat = self.heartbeat(&mut notes).await?;
        if let Some(h) = &heartbeat {
            ValidateEvent::HeartbeatChecked {
                topic: &h.topic,
                status: &h.status,
            }
            .emit();
        }
        let groups = self.coverage(&topics, &progress, &lows).await?;

        Ok(ValidationReport {
            migration_id: request.migration_id.clone(),
            mode: request.mode,
            generated_at_ms,
            duration_ms: 0,
            verdict: verdict(mismatches.len(), lag.total),
            lag,
            partitions,
            mismatches,
            heartbeat,
            groups,
            notes,
        })
    }

    /// Lag, target end and (full mode) content of one partition.
    async fn partition(
        &self,
        tp: &TopicPartition,
        progress: Option<Progress>,
        mode: Mode,
    ) -> Result<(PartitionReport, Vec<Mismatch>), ValidateError> {
        let target_tp = TopicPartition::new(self.policy.target_topic(&tp.topic), tp.partition);
        let (low, high) = self.source.watermarks(tp).await?;
        let pending = pending_range(progress, low, high);
        let offsets_pending = pending.end - pending.start;
        let (lag, lag_exact) = if offsets_pending == 0 {
            (0, true)
        } else if offsets_pending <= self.limits.exact_lag_max {
            let n = self
                .source
                .count_range(tp, pending.start, pending.end)
                .await?;
            (n as i64, true)
        } else {
            (offsets_pending, false)
        };
        let target_end = match self.target.watermarks(&target_tp).await {
            Ok((_, end)) => Some(end),
            Err(ClusterError::TopicMissing { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let mut report = PartitionReport {
            topic: tp.topic.clone(),
            partition: tp.partition,
            target_topic: target_tp.topic.clone(),
            source_low: low,
            source_high: high,
            next_source: progress.map(|p| p.next_source),
            next_target: progress.map(|p| p.next_target),
            target_end,
            lag,
            lag_exact,
            mirrored_records: 0,
            compared: None,
            status: String::new(),
        };
        let mut found = Vec::new();
        if let Some(p) = progress {
            let segments = self.store.segments(tp).await?;
            report.mirrored_records = mirrored_range(&segments, p).map_or(0, |r| r.records());
            if mode == Mode::Full {
                let (compared, mismatch) = self
                    .compare(tp, &target_tp, &segments, p, low, target_end)
                    .await?;
                report.compared = compared;
                found.extend(mismatch);
            }
            let end = target_end.unwrap_or(0);
            if found.is_empty() && end < p.next_target {
                found.push(Mismatch {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    source_offset: source_of(&segments, p, end).unwrap_or(p.next_source),
                    target_offset: end,
                    kind: MismatchKind::MissingOnTarget,
                    detail: match target_end {
                        Some(e) => format!(
                            "the target partition ends at offset {e} but {} records are recorded as mirrored (target offsets up to {}): records lost on the target or topic re-created",
                            report.mirrored_records, p.next_target
                        ),
                        None => format!(
                            "target topic {:?} (partition {}) does not exist but {} records are recorded as mirrored",
                            target_tp.topic, tp.partition, report.mirrored_records
                        ),
                    },
                });
            }
        }
        report.status = if !found.is_empty() {
            "mismatch"
        } else if progress.is_none() && high > low {
            "not_started"
        } else if lag > 0 {
            "lagging"
        } else {
            "ok"
        }
        .to_string();
        Ok((report, found))
    }

    /// Full-mode comparison of a mirrored partition: content over planned windows (first
    /// difference), then exact counts.
    async fn compare(
        &self,
        tp: &TopicPartition,
        target_tp: &TopicPartition,
        segments: &[Segment],
        p: Progress,
        source_low: i64,
        target_end: Option<i64>,
    ) -> Result<(Option<Compared>, Option<Mismatch>), ClusterError> {
        let Some(range) = mirrored_range(segments, p) else {
            return Ok((None, None));
        };
        let Some(target_end) = target_end else {
            return Ok((None, None));
        };
        // Records deleted from the source by retention since they were mirrored cannot be
        // compared: start at the source's low watermark.
        let source_range = range.source.start.max(source_low)..range.source.end;
        let windows = plan_windows(
            source_range.clone(),
            self.limits.full_max_records,
            self.limits.sample_windows,
            self.limits.window_records,
        );
        let full = windows.len() == 1 && windows[0] == source_range;
        let mut compared = Compared {
            how: if full { "full" } else { "sampled" }.to_string(),
            windows: windows.len() as u32,
            source_records: 0,
            target_records: 0,
        };
        for w in &windows {
            let src = self
                .source
                .read_range(tp, w.start, w.end, ReadIsolation::Committed)
                .await?;
            let t_from = target_start_of(segments, p, w.start);
            let t_to = target_start_of(segments, p, w.end).min(target_end);
            let tgt = if t_from < t_to {
                self.target
                    .read_range(target_tp, t_from, t_to, ReadIsolation::Committed)
                    .await?
            } else {
                Vec::new()
            };
            compared.source_records += src.len() as u64;
            compared.target_records += tgt.len() as u64;
            if let Some(m) = compare_records(tp, segments, p, &src, &tgt) {
                return Ok((Some(compared), Some(m)));
            }
        }
        // Counts: readable source records of the range vs target records recorded for it.
        let source_count = if full {
            compared.source_records
        } else {
            self.source
                .count_range(tp, source_range.start, source_range.end)
                .await?
        };
        let t_start = target_start_of(segments, p, source_range.start);
        let target_count = mirrored_records_from(segments, p, source_range.start).max(0) as u64;
        if source_count != target_count {
            return Ok((
                Some(compared),
                Some(Mismatch {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    source_offset: source_range.start,
                    target_offset: t_start,
                    kind: MismatchKind::CountDiffers,
                    detail: format!(
                        "source holds {source_count} readable records in offsets [{}, {}), target holds {target_count} in [{t_start}, {})",
                        source_range.start, source_range.end, p.next_target
                    ),
                }),
            ));
        }
        Ok((Some(compared), None))
    }

    /// Newest heartbeats on source and target.
    async fn heartbeat(
        &self,
        notes: &mut Vec<String>,
    ) -> Result<Option<HeartbeatReport>, ClusterError> {
        let topic = &self.heartbeat_topic;
        let target_topic = self.policy.target_topic(topic);
        let Some(parts) = self.source.partitions(topic).await? else {
            notes.push(format!(
                "heartbeat topic {topic:?} does not exist on the source (is the heartbeat function scheduled?)"
            ));
            return Ok(None);
        };
        let mut source = Vec::new();
        for p in 0..parts {
            source.extend(
                last_heartbeats(
                    &self.source,
                    &TopicPartition::new(topic, p),
                    HEARTBEATS_READ,
                )
                .await?,
            );
        }
        let mut target_newest: Option<Heartbeat> = None;
        match self.target.partitions(&target_topic).await? {
            None => notes.push(format!(
                "heartbeat topic {target_topic:?} does not exist on the target yet (is it mirrored?)"
            )),
            Some(tparts) => {
                for p in 0..tparts {
                    let newest = last_heartbeats(&self.target, &TopicPartition::new(&target_topic, p), 5)
                        .await?
                        .into_iter()
                        .max_by_key(|h| h.seq);
                    if newest.as_ref().map(|h| h.seq) > target_newest.as_ref().map(|h| h.seq) {
                        target_newest = newest;
                    }
                }
            }
        }
        Ok(Some(HeartbeatReport {
            topic: topic.clone(),
            target_topic,
            status: heartbeat_status(&source, target_newest.as_ref(), (self.now_ms)()),
        }))
    }

    /// Translation coverage of every matching source group with offsets on `topics`.
    async fn coverage(
        &self,
        topics: &[String],
        progress: &HashMap<TopicPartition, Progress>,
        lows: &HashMap<TopicPartition, i64>,
    ) -> Result<Vec<GroupCoverage>, ValidateError> {
        if topics.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut groups: Vec<String> = self
            .groups_port
            .list_groups()
            .await?
            .into_iter()
            .filter(|g| self.groups.matches(g))
            .collect();
        groups.sort();
        for g in groups {
            let committed = self.groups_port.committed_offsets(&g, topics).await?;
            if committed.is_empty() {
                continue;
            }
            out.push(group_coverage(&g, &committed, progress, lows));
        }
        Ok(out)
    }
}

/// The parseable heartbeats among the last `n` offsets of `tp` (none if the partition is empty).
async fn last_heartbeats<C: ClusterReader>(
    cluster: &C,
    tp: &TopicPartition,
    n: i64,
) -> Result<Vec<Heartbeat>, ClusterError> {
    let (low, high) = cluster.watermarks(tp).await?;
    if high <= low {
        return Ok(Vec::new());
    }
    Ok(cluster
        .read_range(tp, (high - n).max(low), high, ReadIsolation::Committed)
        .await?
        .iter()
        .filter_map(|r| r.value.as_deref())
        .filter_map(|v| serde_json::from_slice::<Heartbeat>(v).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::validation::Verdict;
    use ferry_core::{MirrorRecord, TimestampType};
    use ferry_testkit::{InMemoryCluster, InMemoryGroups, InMemoryStateStore};

    type H = ValidateHandler<InMemoryStateStore, InMemoryCluster, InMemoryCluster, InMemoryGroups>;

    const NOW: i64 = 1_000_000;

    fn rec(i: i64) -> MirrorRecord {
        MirrorRecord {
            offset: 0,
            timestamp: 1000 + i,
            timestamp_type: TimestampType::CreateTime,
            key: Some(format!("k{i}").into_bytes()),
            value: Some(format!("v{i}").into_bytes()),
            headers: vec![],
        }
    }

    struct Rig {
        source: InMemoryCluster,
        target: InMemoryCluster,
        store: InMemoryStateStore,
        groups: InMemoryGroups,
    }

    impl Rig {
        fn new() -> Self {
            Self {
                source: InMemoryCluster::new("source"),
                target: InMemoryCluster::new("target"),
                store: InMemoryStateStore::new(),
                groups: InMemoryGroups::new(),
            }
        }

        fn handler(&self, limits: Limits) -> H {
            ValidateHandler::new(
                self.store.clone(),
                self.source.clone(),
                self.target.clone(),
                self.groups.clone(),
                ReplicationPolicy::Identity,
                TopicFilter::default(),
                GroupFilter::default(),
            )
            .limits(limits)
            .clock(|| NOW)
        }

        /// `n` source records in `topic`/0, a marker after every 4th; the first `mirrored`
        /// offsets mirrored faithfully (progress + segments as the mirror records them).
        fn topic(&self, topic: &str, n: i64, mirrored: i64) -> TopicPartition {
            let tp = TopicPartition::new(topic, 0);
            self.source.create_topic(topic, 1);
            self.target.create_topic(topic, 1);
            self.groups.add_topic(topic);
            for i in 0..n {
                self.source.append(&tp, rec(i));
                if i % 4 == 3 {
                    self.source.skip(&tp, 1);
                }
            }
            let offsets: Vec<i64> = self
                .source
                .records(&tp)
                .iter()
                .map(|r| r.offset)
                .filter(|&o| o < mirrored)
                .collect();
            for r in self
                .source
                .records(&tp)
                .iter()
                .filter(|r| r.offset < mirrored)
            {
                self.target.append(&tp, r.clone());
            }
            let init = Progress::initial(0, 0);
            let (mut p, segs) = ferry_core::progress::advance(init, &offsets);
            let high = self.source.records(&tp).last().map_or(0, |r| r.offset + 1);
            p.next_source = p.next_source.max(mirrored.min(high));
            let mut all = vec![init.segment_here()];
            all.extend(segs);
            self.store.set_progress(&tp, Some(p));
            self.store.put_segments(&tp, &all);
            tp
        }
    }

    fn full() -> ValidateRequest {
        ValidateRequest {
            migration_id: "m1".into(),
            mode: Mode::Full,
            fail_on_mismatch: false,
            topics: None,
            pausable: false,
        }
    }

    #[tokio::test]
    async fn faithful_mirror_is_ok_and_the_report_is_stored() {
        let rig = Rig::new();
        rig.topic("orders", 40, i64::MAX);
        let report = rig.handler(Limits::default()).run(&full()).await.unwrap();
        assert_eq!(report.verdict, Verdict::Ok, "{report:?}");
        assert_eq!(
            report.lag,
            LagSummary {
                total: 0,
                max: 0,
                partitions_behind: 0,
                exact: true
            }
        );
        let p = &report.partitions[0];
        assert_eq!((p.mirrored_records, p.status.as_str()), (40, "ok"));
        assert_eq!(p.compared.as_ref().unwrap().how, "full");
        assert_eq!(p.compared.as_ref().unwrap().source_records, 40);
        let stored = rig
            .store
            .get_report("m1", "validation")
            .await
            .unwrap()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&stored).unwrap();
        assert_eq!(v["verdict"], "ok");
        assert_eq!(v["heartbeat"], serde_json::Value::Null);
        assert!(v["notes"][0].as_str().unwrap().contains("ferry-heartbeats"));
    }

    #[tokio::test]
    async fn lag_counts_readable_records_exactly_or_offsets_beyond_the_limit() {
        let rig = Rig::new();
        // 20 records over offsets 0..25 (markers at 4, 9, 14, 19, 24); mirrored below 10.
        let tp = rig.topic("t", 20, 10);
        let req = ValidateRequest {
            mode: Mode::Lag,
            ..full()
        };
        let report = rig.handler(Limits::default()).run(&req).await.unwrap();
        assert_eq!(report.verdict, Verdict::Lagging);
        // Offsets 10..25 hold 12 records (markers at 14, 19, 24).
        assert_eq!(
            report.lag,
            LagSummary {
                total: 12,
                max: 12,
                partitions_behind: 1,
                exact: true
            }
        );
        let small = Limits {
            exact_lag_max: 5,
            ..Limits::default()
        };
        let report = rig.handler(small).run(&req).await.unwrap();
        assert_eq!((report.lag.total, report.lag.exact), (15, false));
        // No progress: everything pending.
        rig.store.set_progress(&tp, None);
        let report = rig.handler(Limits::default()).run(&req).await.unwrap();
        assert_eq!(report.lag.total, 20);
        assert_eq!(report.partitions[0].status, "not_started");
    }

    #[tokio::test]
    async fn corrupted_target_record_is_named_and_fails_when_asked() {
        let rig = Rig::new();
        let tp = rig.topic("t", 30, i64::MAX);
        // Source offset 12 (the 10th record: markers at 4 and 9) is target offset 10.
        let mut bad = rec(10);
        bad.value = Some(b"corrupt".to_vec());
        rig.target.replace(&tp, 10, Some(bad));
        let report = rig.handler(Limits::default()).run(&full()).await.unwrap();
        assert_eq!(report.verdict, Verdict::Mismatch);
        let m = &report.mismatches[0];
        assert_eq!(
            (
                m.partition,
                m.source_offset,
                m.target_offset,
                m.kind,
                m.detail.as_str()
            ),
            (0, 12, 10, MismatchKind::ContentDiffers, "value differs")
        );
        // Lag mode does not read content.
        let lag = ValidateRequest {
            mode: Mode::Lag,
            ..full()
        };
        assert_eq!(
            rig.handler(Limits::default())
                .run(&lag)
                .await
                .unwrap()
                .verdict,
            Verdict::Ok
        );
        // fail_on_mismatch: stored, then Ferry.ValidationFailed naming the offsets.
        let req = ValidateRequest {
            fail_on_mismatch: true,
            ..full()
        };
        let err = rig.handler(Limits::default()).run(&req).await.unwrap_err();
        assert_eq!(err.kind().error_type(), "Ferry.ValidationFailed");
        let msg = err.message();
        assert!(
            msg.contains("t/0")
                && msg.contains("source offset 12")
                && msg.contains("target offset 10"),
            "{msg}"
        );
        let stored = rig
            .store
            .get_report("m1", "validation")
            .await
            .unwrap()
            .unwrap();
        assert!(stored.contains("content_differs"));
    }

    #[tokio::test]
    async fn missing_target_record_and_sampled_windows() {
        let rig = Rig::new();
        let tp = rig.topic("t", 1000, i64::MAX);
        // Remove target offset 500 and shift the rest down (a lost record), as a rewrite would.
        let mut recs = rig.target.records(&tp);
        recs.remove(500);
        let target = InMemoryCluster::new("target");
        target.create_topic("t", 1);
        for r in recs {
            target.append(&tp, r);
        }
        let rig = Rig { target, ..rig };
        let src_500 = rig.source.records(&tp)[500].offset;
        let report = rig.handler(Limits::default()).run(&full()).await.unwrap();
        let m = &report.mismatches[0];
        assert_eq!(
            (m.kind, m.source_offset, m.target_offset),
            (MismatchKind::MissingOnTarget, src_500, 500)
        );
        // Sampled: 3 windows of 10 offsets (first, middle, last) miss offset 500's record in
        // content, but the last window and the counts catch the shift.
        let sampled = Limits {
            full_max_records: 100,
            sample_windows: 3,
            window_records: 10,
            ..Limits::default()
        };
        let report = rig.handler(sampled).run(&full()).await.unwrap();
        assert_eq!(
            report.partitions[0].compared.as_ref().unwrap().how,
            "sampled"
        );
        assert_eq!(report.partitions[0].compared.as_ref().unwrap().windows, 3);
        assert_eq!(report.verdict, Verdict::Mismatch);
        // Lag mode sees the target end below recorded progress.
        let lag = ValidateRequest {
            mode: Mode::Lag,
            ..full()
        };
        let report = rig.handler(Limits::default()).run(&lag).await.unwrap();
        let m = &report.mismatches[0];
        assert_eq!(
            (m.kind, m.target_offset),
            (MismatchKind::MissingOnTarget, 999)
        );
    }

    #[tokio::test]
    async fn heartbeat_behind_and_group_coverage() {
        let rig = Rig::new();
        let tp = rig.topic("t", 10, 8);
        let hb_tp = TopicPartition::new("ferry-heartbeats", 0);
        rig.source.create_topic("ferry-heartbeats", 1);
        rig.target.create_topic("ferry-heartbeats", 1);
        for seq in 1..=3u64 {
            let hb = Heartbeat {
                seq,
                emitted_at_ms: NOW - 1000 * (4 - seq as i64),
                source: "src".into(),
            };
            let mut r = rec(0);
            r.value = Some(serde_json::to_vec(&hb).unwrap());
            rig.source.append(&hb_tp, r.clone());
            if seq < 3 {
                rig.target.append(&hb_tp, r);
            }
        }
        rig.groups.commit_source("app", &tp, 5);
        rig.groups.commit_source("late", &tp, 11);
        let req = ValidateRequest {
            mode: Mode::Lag,
            topics: Some(vec!["t".into()]),
            pausable: false,
            ..full()
        };
        let report = rig.handler(Limits::default()).run(&req).await.unwrap();
        let hb = report.heartbeat.unwrap();
        assert_eq!(
            (hb.status.source_seq, hb.status.target_seq, hb.status.behind),
            (Some(3), Some(2), 1)
        );
        assert_eq!(hb.status.latency_ms, Some(1000));
        let g: Vec<_> = report
            .groups
            .iter()
            .map(|g| (g.group.as_str(), g.translatable, g.max_records_behind))
            .collect();
        assert_eq!(g, [("app", 1, 0), ("late", 0, 3)]);
    }
}
