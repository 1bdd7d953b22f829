//! One discovery pass ([`DiscoverHandler::run`]), generic over the ports it needs: source topic
//! listing and description ([`SourceTopicDescriber`]), source end offsets
//! ([`SourceEndOffsets`]), target topic administration ([`TargetTopicAdmin`]) and the mirror's
//! event source mappings ([`MappingControl`] + [`MappingCreator`]).
//!
//! 1. List the source topics and the mirror function's mappings; plan with
//!    [`plan_discovery`] (mirrored, unmapped, orphaned, paused).
//! 2. Provision every mirrored topic on the target with [`plan_topic`] / [`apply_plan`]:
//!    create missing topics with the source's partitions and configs, add partitions where the
//!    source grew, sync drifted configs. New source partitions thus get their target partitions
//!    within one pass; until then the mirror answers their batches with `Ferry.TargetNotReady`
//!    and the mapping retries them (nothing is lost).
//! 3. Unless paused, measure each unmapped topic (two end-offset samples
//!    [`DiscoverSettings::sample`] apart, plus its size estimate), pick the tier's settings
//!    ([`settings`]) and create its mapping. A mapping created meanwhile by somebody else
//!    (`ResourceConflictException`) counts as mapped.
//! 4. Report orphaned mappings (never deleted) and return a [`DiscoveryReport`].
//!
//! A topic that fails (refused by the target, refused mapping) does not stop the others; the pass
//! then ends with [`DiscoverError::Incomplete`] so the scheduled-function alarm fires, and the
//! next pass tries again.

use crate::error::DiscoverError;
use crate::telemetry::DiscoverEvent;
use ferry_core::discovery::{measurement, plan_discovery, OrphanedMapping};
use ferry_core::policy::{ReplicationPolicy, TopicFilter};
use ferry_core::ports::{
    MappingControl, MappingCreator, MappingError, NewMapping, SourceEndOffsets,
    SourceTopicDescriber, TargetTopicAdmin, TopicAdminError,
};
use ferry_core::tiering::{settings, Thresholds, Tier};
use ferry_core::topics::{
    apply_plan, plan_topic, ConfigFilter, PlanOptions, TopicAction, TopicDescription,
};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// What the handler does, besides its ports.
#[derive(Debug, Clone)]
pub struct DiscoverSettings {
    /// The function the mappings invoke.
    pub mirror_function: String,
    /// Source → target topic names.
    pub policy: ReplicationPolicy,
    /// Which source topics are mirrored.
    pub topics: TopicFilter,
    /// Mirrored whatever the filter says.
    pub heartbeat_topic: Option<String>,
    /// Which configs are copied.
    pub configs: ConfigFilter,
    /// Tier thresholds.
    pub thresholds: Thresholds,
    /// Rate sampling interval (zero: no rate sample).
    pub sample: Duration,
    /// Change things (`false`: report only).
    pub apply: bool,
}

/// A target topic changed (or, in a dry run, to be changed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicProvisioned {
    /// Source topic.
    pub source: String,
    /// Target topic.
    pub target: String,
    /// `created`, `partitions_added` or `config_updated`.
    pub action: TopicAction,
    /// Partition count on the source.
    pub partitions: i32,
}

/// A mapping created (or, in a dry run, to be created).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappingCreated {
    /// Topic.
    pub topic: String,
    /// UUID (`None` in a dry run).
    pub uuid: Option<String>,
    /// Measured tier.
    pub tier: Tier,
    /// `BatchSize`.
    pub batch_size: u32,
    /// Provisioned pollers (minimum, maximum); `None`: on demand.
    pub pollers: Option<(u32, u32)>,
    /// Consumer group.
    pub consumer_group: String,
}

/// A topic that could not be provisioned or mapped this pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicFailure {
    /// Source topic.
    pub topic: String,
    /// `provision`, `measure` or `map`.
    pub step: &'static str,
    /// The error.
    pub message: String,
}

/// The result of a pass (the function's response; also logged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiscoveryReport {
    /// Report only: nothing was changed.
    pub dry_run: bool,
    /// Mirrored topics (filter accepted, or the heartbeat topic).
    pub mirrored: usize,
    /// Every mapping of the mirror is disabled: no mapping was created.
    pub paused: bool,
    /// Target topics created, grown or synced.
    pub provisioned: Vec<TopicProvisioned>,
    /// Mappings created.
    pub mappings_created: Vec<MappingCreated>,
    /// Topics somebody else mapped meanwhile.
    pub already_mapped: Vec<String>,
    /// Mappings reported and left alone.
    pub orphaned: Vec<OrphanedMapping>,
    /// Topics that failed this pass.
    pub failures: Vec<TopicFailure>,
}

/// The discovery handler; see the module docs.
#[derive(Debug)]
pub struct DiscoverHandler<S, E, T, M> {
    source: S,
    offsets: E,
    target: T,
    mappings: M,
    settings: DiscoverSettings,
}

impl<S, E, T, M> DiscoverHandler<S, E, T, M>
where
    S: SourceTopicDescriber,
    E: SourceEndOffsets,
    T: TargetTopicAdmin,
    M: MappingControl + MappingCreator,
{
    /// A handler over its ports.
    pub fn new(source: S, offsets: E, target: T, mappings: M, settings: DiscoverSettings) -> Self {
        Self {
            source,
            offsets,
            target,
            mappings,
            settings,
        }
    }

    /// One pass; see the module docs.
    pub async fn run(&self) -> Result<DiscoveryReport, DiscoverError> {
        let s = &self.settings;
        let names = self
            .source
            .list_topics()
            .await
            .map_err(DiscoverError::Source)?;
        let existing = self.mappings.list_mappings(&s.mirror_function).await?;
        let plan = plan_discovery(&names, &s.topics, s.heartbeat_topic.as_deref(), &existing);
        let mut report = DiscoveryReport {
            dry_run: !s.apply,
            mirrored: plan.mirrored.len(),
            paused: plan.paused,
            orphaned: plan.orphaned.clone(),
            ..DiscoveryReport::default()
        };
        for o in &plan.orphaned {
            DiscoverEvent::MappingOrphaned {
                uuid: &o.uuid,
                topic: &o.topic,
                reason: o.reason,
            }
            .emit();
        }

        let sources = self
            .source
            .describe_topics(&plan.mirrored)
            .await
            .map_err(DiscoverError::Source)?;
        let ready = self.provision(&sources, &mut report).await?;

        if plan.paused {
            DiscoverEvent::Paused {
                mappings: existing.len(),
            }
            .emit();
        } else {
            let to_map: Vec<&TopicDescription> = sources
                .iter()
                .filter(|d| plan.unmapped.contains(&d.name) && ready.contains(&d.name))
                .collect();
            self.map_topics(&to_map, &mut report).await?;
        }

        let unmapped = plan.unmapped.len()
            - report.mappings_created.len().min(plan.unmapped.len())
            - report.already_mapped.len().min(plan.unmapped.len());
        DiscoverEvent::Finished {
            mirrored: report.mirrored,
            unmapped: if report.dry_run {
                plan.unmapped.len()
            } else {
                unmapped
            },
            created: report.mappings_created.len(),
            dry_run: report.dry_run,
        }
        .emit();
        if let Some(first) = report.failures.first() {
            return Err(DiscoverError::Incomplete {
                failed: report.failures.len(),
                first: format!("{} ({}): {}", first.topic, first.step, first.message),
                refused: report.failures.iter().any(|f| f.step != "measure"),
            });
        }
        Ok(report)
    }

    /// Provisions every mirrored topic on the target; returns the source topics whose target
    /// topic exists (or, in a dry run, would exist) afterwards.
    async fn provision(
        &self,
        sources: &[TopicDescription],
        report: &mut DiscoveryReport,
    ) -> Result<BTreeSet<String>, DiscoverError> {
        let s = &self.settings;
        let target_names: Vec<String> = sources
            .iter()
            .map(|d| s.policy.target_topic(&d.name))
            .collect();
        let targets: HashMap<String, TopicDescription> = self
            .target
            .describe_topics(&target_names)
            .await
            .map_err(DiscoverError::Target)?
            .into_iter()
            .map(|d| (d.name.clone(), d))
            .collect();
        let options = PlanOptions {
            policy: s.policy.clone(),
            filter: s.topics.clone(),
            configs: s.configs.clone(),
            target_brokers: self
                .target
                .broker_count()
                .await
                .map_err(DiscoverError::Target)?,
        };
        let mut ready = BTreeSet::new();
        for (source, target_name) in sources.iter().zip(&target_names) {
            let plan = plan_topic(source, target_name, targets.get(target_name), &options);
            if !plan.is_noop() {
                report.provisioned.push(TopicProvisioned {
                    source: plan.source.clone(),
                    target: plan.target.clone(),
                    action: plan.action(),
                    partitions: plan.partitions,
                });
                if s.apply {
                    let applied = apply_plan(&self.target, &plan, |change, detail| {
                        DiscoverEvent::TargetTopicChanged {
                            topic: &plan.target,
                            change,
                            detail: &detail,
                        }
                        .emit();
                    })
                    .await;
                    match applied {
                        Ok(()) => {}
                        Err(e @ TopicAdminError::Rejected { .. }) => {
                            fail(report, &source.name, "provision", e.to_string());
                            continue;
                        }
                        Err(e) => return Err(DiscoverError::Target(e)),
                    }
                }
            }
            ready.insert(source.name.clone());
        }
        Ok(ready)
    }

    /// Measures `topics` over one sampling interval and creates their mappings.
    async fn map_topics(
        &self,
        topics: &[&TopicDescription],
        report: &mut DiscoveryReport,
    ) -> Result<(), DiscoverError> {
        if topics.is_empty() {
            return Ok(());
        }
        let s = &self.settings;
        let names: Vec<String> = topics.iter().map(|d| d.name.clone()).collect();
        let sum = |ends: &HashMap<ferry_core::TopicPartition, i64>, topic: &str| -> i64 {
            ends.iter()
                .filter(|(tp, _)| tp.topic == topic)
                .map(|(_, o)| *o)
                .sum()
        };
        let before = self
            .offsets
            .end_offsets(&names)
            .await
            .map_err(DiscoverError::Offsets)?;
        if !s.sample.is_zero() {
            tokio::time::sleep(s.sample).await;
        }
        let after = if s.sample.is_zero() {
            before.clone()
        } else {
            self.offsets
                .end_offsets(&names)
                .await
                .map_err(DiscoverError::Offsets)?
        };
        for topic in topics {
            let stats = match self.source.topic_stats(topic).await {
                Ok(stats) => stats,
                Err(e) => {
                    fail(report, &topic.name, "measure", e.to_string());
                    continue;
                }
            };
            let m = measurement(
                &topic.name,
                topic.partitions,
                sum(&before, &topic.name),
                sum(&after, &topic.name),
                s.sample.as_secs_f64(),
                &stats,
            );
            let settings = settings(&m, &s.thresholds);
            let mut created = MappingCreated {
                topic: topic.name.clone(),
                uuid: None,
                tier: settings.tier,
                batch_size: settings.batch_size,
                pollers: settings.pollers,
                consumer_group: settings.consumer_group.clone(),
            };
            if !s.apply {
                report.mappings_created.push(created);
                continue;
            }
            let new = NewMapping {
                topic: topic.name.clone(),
                settings,
            };
            match self.mappings.create_mapping(&s.mirror_function, &new).await {
                Ok(info) => {
                    DiscoverEvent::MappingCreated {
                        topic: &topic.name,
                        uuid: &info.uuid,
                        tier: created.tier,
                    }
                    .emit();
                    created.uuid = Some(info.uuid);
                    report.mappings_created.push(created);
                }
                Err(MappingError::Conflict { .. }) => {
                    report.already_mapped.push(topic.name.clone())
                }
                Err(e @ MappingError::Refused { .. }) => {
                    fail(report, &topic.name, "map", e.to_string());
                }
                Err(e) => return Err(DiscoverError::Mappings(e)),
            }
        }
        Ok(())
    }
}

fn fail(report: &mut DiscoveryReport, topic: &str, step: &'static str, message: String) {
    DiscoverEvent::TopicFailed {
        topic,
        step,
        message: &message,
    }
    .emit();
    report.failures.push(TopicFailure {
        topic: topic.to_owned(),
        step,
        message,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::discovery::OrphanReason;
    use ferry_core::topics::ConfigValue;
    use ferry_core::TopicPartition;
    use ferry_testkit::{InMemoryGroups, InMemoryMappings, InMemoryTopicAdmin};
    use std::collections::BTreeMap;

    fn topic(name: &str, partitions: i32) -> TopicDescription {
        TopicDescription {
            name: name.into(),
            partitions,
            replication_factor: 1,
            configs: BTreeMap::from([("retention.ms".to_owned(), ConfigValue::topic("3600000"))]),
        }
    }

    fn settings(apply: bool) -> DiscoverSettings {
        DiscoverSettings {
            mirror_function: "mirror".into(),
            policy: ReplicationPolicy::Identity,
            topics: TopicFilter::new(&[r"app\..*".to_owned()], &[]).unwrap(),
            heartbeat_topic: Some("ferry-heartbeats".into()),
            configs: ConfigFilter::new(&[]).unwrap(),
            thresholds: Thresholds::default(),
            sample: Duration::ZERO,
            apply,
        }
    }

    struct Rig {
        source: InMemoryTopicAdmin,
        groups: InMemoryGroups,
        target: InMemoryTopicAdmin,
        mappings: InMemoryMappings,
    }

    fn rig() -> Rig {
        let source = InMemoryTopicAdmin::new("source", 3);
        let target = InMemoryTopicAdmin::new("target", 3);
        let groups = InMemoryGroups::new();
        let mappings = InMemoryMappings::default();
        for (name, partitions) in [
            ("app.orders", 4),
            ("app.new", 2),
            ("ferry-heartbeats", 1),
            ("other", 1),
        ] {
            source.put_topic(topic(name, partitions));
        }
        target.put_topic(topic("app.orders", 2));
        mappings.add("mirror", "app.orders");
        mappings.add("mirror", "app.deleted");
        groups.set_end_offset(&TopicPartition::new("app.new", 0), 10);
        Rig {
            source,
            groups,
            target,
            mappings,
        }
    }

    fn handler(
        r: &Rig,
        apply: bool,
    ) -> DiscoverHandler<InMemoryTopicAdmin, InMemoryGroups, InMemoryTopicAdmin, InMemoryMappings>
    {
        DiscoverHandler::new(
            r.source.clone(),
            r.groups.clone(),
            r.target.clone(),
            r.mappings.clone(),
            settings(apply),
        )
    }

    #[tokio::test]
    async fn maps_new_topics_grows_partitions_and_reports_orphans() {
        let r = rig();
        let report = handler(&r, true).run().await.unwrap();
        assert_eq!(report.mirrored, 3);
        let created: Vec<&str> = report
            .mappings_created
            .iter()
            .map(|m| m.topic.as_str())
            .collect();
        assert_eq!(created, ["app.new", "ferry-heartbeats"]);
        assert!(report.mappings_created.iter().all(|m| m.uuid.is_some()));
        assert_eq!(r.target.topic("app.new").unwrap().partitions, 2);
        assert_eq!(r.target.topic("ferry-heartbeats").unwrap().partitions, 1);
        assert_eq!(r.target.topic("app.orders").unwrap().partitions, 4);
        assert!(r.target.topic("other").is_none());
        let orphan = &report.orphaned[0];
        assert_eq!(
            (orphan.topic.as_str(), orphan.reason),
            ("app.deleted", OrphanReason::Deleted)
        );
        let made = r.mappings.created();
        assert_eq!(made[0].1.settings.consumer_group, "ferry-app.new");
        assert_eq!(made[0].1.settings.starting_position, "TRIM_HORIZON");

        // A second pass changes nothing.
        let again = handler(&r, true).run().await.unwrap();
        assert!(again.mappings_created.is_empty() && again.provisioned.is_empty());
        assert_eq!(r.mappings.created().len(), 2);
    }

    #[tokio::test]
    async fn dry_run_changes_nothing() {
        let r = rig();
        let report = handler(&r, false).run().await.unwrap();
        assert!(report.dry_run);
        assert_eq!(report.mappings_created.len(), 2);
        assert!(report.mappings_created.iter().all(|m| m.uuid.is_none()));
        assert_eq!(report.provisioned.len(), 3);
        assert!(r.target.topic("app.new").is_none());
        assert!(r.mappings.created().is_empty());
    }

    #[tokio::test]
    async fn paused_when_every_mapping_is_disabled() {
        let r = rig();
        for uuid in ["uuid-0", "uuid-1"] {
            r.mappings.set_state(uuid, "Disabled");
        }
        let report = handler(&r, true).run().await.unwrap();
        assert!(report.paused);
        assert!(report.mappings_created.is_empty());
        // Target partitions still follow the source.
        assert_eq!(r.target.topic("app.orders").unwrap().partitions, 4);
    }

    #[tokio::test]
    async fn unavailable_target_is_transient() {
        let r = rig();
        r.target.set_unavailable(true);
        let err = handler(&r, true).run().await.unwrap_err();
        use ferry_lambda::FailureError as _;
        assert_eq!(err.kind(), ferry_core::failure::FailureKind::Transient);
        assert!(r.mappings.created().is_empty());
    }
}
