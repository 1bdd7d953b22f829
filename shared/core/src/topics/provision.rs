//! Provisioning the target: [`plan_topics`] compares source and target topics (through the
//! replication policy and the topic filter) and decides what to change on the target (create,
//! add partitions, update drifted configs; drift it must not fix is reported as [`Drift`]).

use super::description::{ConfigFilter, ConfigSource, ConfigValue, TopicDescription};
use crate::policy::{ReplicationPolicy, TopicFilter};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Planner inputs besides the descriptions.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Source → target topic names.
    pub policy: ReplicationPolicy,
    /// Which source topics are mirrored.
    pub filter: TopicFilter,
    /// Which configs are copied.
    pub configs: ConfigFilter,
    /// Number of brokers of the target cluster (caps the replication factor; `<= 0`: unknown,
    /// the source's replication factor is used).
    pub target_brokers: i32,
}

/// A topic to create on the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTopic {
    /// Partition count (the source's).
    pub partitions: i32,
    /// `min(source RF, target brokers)`.
    pub replication_factor: i32,
    /// Configs copied from the source.
    pub configs: BTreeMap<String, String>,
}

/// Partitions to add to a target topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionIncrease {
    /// Current count on the target.
    pub from: i32,
    /// New total (the source's count).
    pub to: i32,
}

/// A difference between source and target the planner does not fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    /// The setting (`partitions`, `replication.factor` or a config name).
    pub setting: String,
    /// Source value.
    pub source: Option<String>,
    /// Target value.
    pub target: Option<String>,
    /// Why it is left alone.
    pub message: String,
}

/// What to do for one mirrored topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicPlan {
    /// Source topic.
    pub source: String,
    /// Target topic.
    pub target: String,
    /// Source partition count.
    pub partitions: i32,
    /// Create the target topic (it does not exist).
    pub create: Option<CreateTopic>,
    /// Add partitions (the source grew).
    pub add_partitions: Option<PartitionIncrease>,
    /// Configs to set on an existing target topic (name → source value).
    pub config_updates: BTreeMap<String, String>,
    /// Differences left alone.
    pub drift: Vec<Drift>,
}

impl TopicPlan {
    /// Whether applying the plan changes nothing.
    pub fn is_noop(&self) -> bool {
        self.create.is_none() && self.add_partitions.is_none() && self.config_updates.is_empty()
    }

    /// The main action, for reports.
    pub fn action(&self) -> TopicAction {
        if self.create.is_some() {
            TopicAction::Created
        } else if self.add_partitions.is_some() {
            TopicAction::PartitionsAdded
        } else if !self.config_updates.is_empty() {
            TopicAction::ConfigUpdated
        } else {
            TopicAction::InSync
        }
    }
}

/// The main action taken (or planned) for a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopicAction {
    /// The target topic was created.
    Created,
    /// Partitions were added (configs may also have been updated).
    PartitionsAdded,
    /// Configs were updated.
    ConfigUpdated,
    /// Nothing to do.
    InSync,
}

/// Replication factor for a new target topic: `min(source RF, target brokers)`, at least 1.
pub fn target_replication_factor(source_rf: i32, target_brokers: i32) -> i32 {
    let rf = if target_brokers > 0 {
        source_rf.min(target_brokers)
    } else {
        source_rf
    };
    rf.max(1)
}

/// Plans one source topic against its target description (`None`: missing).
pub fn plan_topic(
    source: &TopicDescription,
    target_name: &str,
    target: Option<&TopicDescription>,
    options: &PlanOptions,
) -> TopicPlan {
    let copied = options.configs.copied(source);
    let mut plan = TopicPlan {
        source: source.name.clone(),
        target: target_name.to_string(),
        partitions: source.partitions,
        create: None,
        add_partitions: None,
        config_updates: BTreeMap::new(),
        drift: Vec::new(),
    };
    let Some(target) = target else {
        plan.create = Some(CreateTopic {
            partitions: source.partitions,
            replication_factor: target_replication_factor(
                source.replication_factor,
                options.target_brokers,
            ),
            configs: copied,
        });
        return plan;
    };
    if target.partitions < source.partitions {
        plan.add_partitions = Some(PartitionIncrease {
            from: target.partitions,
            to: source.partitions,
        });
    } else if target.partitions > source.partitions {
        plan.drift.push(Drift {
            setting: "partitions".into(),
            source: Some(source.partitions.to_string()),
            target: Some(target.partitions.to_string()),
            message: format!(
                "target topic {target_name:?} has more partitions ({}) than source {:?} ({}); partitions are never removed",
                target.partitions, source.name, source.partitions
            ),
        });
    }
    let wanted_rf = target_replication_factor(source.replication_factor, options.target_brokers);
    if target.replication_factor < wanted_rf {
        plan.drift.push(Drift {
            setting: "replication.factor".into(),
            source: Some(source.replication_factor.to_string()),
            target: Some(target.replication_factor.to_string()),
            message: format!(
                "target topic {target_name:?} has replication factor {} (expected {wanted_rf}); reassign its replicas to change it",
                target.replication_factor
            ),
        });
    }
    for (name, value) in &copied {
        let current = target.config(name);
        if current == Some(value.as_str()) {
            continue;
        }
        if target.configs.get(name).is_some_and(|c| c.read_only) {
            plan.drift.push(Drift {
                setting: name.clone(),
                source: Some(value.clone()),
                target: current.map(str::to_string),
                message: format!("{name} is read-only on target topic {target_name:?}"),
            });
            continue;
        }
        plan.config_updates.insert(name.clone(), value.clone());
    }
    // Target overrides the source does not have: left alone (operators may have set them on
    // purpose), reported when the effective values differ.
    for (name, c) in &target.configs {
        if c.source != ConfigSource::Topic
            || c.sensitive
            || copied.contains_key(name)
            || !options.configs.copies(name)
        {
            continue;
        }
        let source_value = source.config(name);
        if source_value != c.value.as_deref() {
            plan.drift.push(Drift {
                setting: name.clone(),
                source: source_value.map(str::to_string),
                target: c.value.clone(),
                message: format!(
                    "target topic {target_name:?} overrides {name} = {}; the source uses {} (left as is)",
                    c.value.as_deref().unwrap_or("?"),
                    source_value.unwrap_or("its default")
                ),
            });
        }
    }
    plan
}

/// Plans every source topic the filter accepts, sorted by source name. `targets` maps target
/// topic names to their descriptions (missing topics absent).
pub fn plan_topics(
    sources: &[TopicDescription],
    targets: &BTreeMap<String, TopicDescription>,
    options: &PlanOptions,
) -> Vec<TopicPlan> {
    let mut plans: Vec<TopicPlan> = sources
        .iter()
        .filter(|s| options.filter.matches(&s.name))
        .map(|s| {
            let target_name = options.policy.target_topic(&s.name);
            let target = targets.get(&target_name);
            plan_topic(s, &target_name, target, options)
        })
        .collect();
    plans.sort_by(|a, b| a.source.cmp(&b.source));
    plans
}

/// A change [`apply_plan`] makes to a target topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopicChange {
    /// The topic is created.
    Create,
    /// Partitions are added.
    AddPartitions,
    /// Configs are set.
    SetConfigs,
}

impl TopicChange {
    /// `create`, `add_partitions`, `set_configs` (metric label).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::AddPartitions => "add_partitions",
            Self::SetConfigs => "set_configs",
        }
    }
}

/// Applies `plan` to the target: creates the topic, or adds partitions and sets the drifted
/// configs. `observe` hears of each change (with a human-readable detail) before it is made.
/// Stops at the first failure (the next pass plans again from what the target then holds).
pub async fn apply_plan<T: crate::ports::TargetTopicAdmin>(
    target: &T,
    plan: &TopicPlan,
    mut observe: impl FnMut(TopicChange, String),
) -> Result<(), crate::ports::TopicAdminError> {
    if let Some(c) = &plan.create {
        observe(
            TopicChange::Create,
            format!(
                "{} partitions, replication factor {}",
                c.partitions, c.replication_factor
            ),
        );
        return target
            .create_topic(&plan.target, c.partitions, c.replication_factor, &c.configs)
            .await;
    }
    if let Some(inc) = plan.add_partitions {
        observe(
            TopicChange::AddPartitions,
            format!("partitions {} -> {}", inc.from, inc.to),
        );
        target.create_partitions(&plan.target, inc.to).await?;
    }
    if !plan.config_updates.is_empty() {
        observe(
            TopicChange::SetConfigs,
            format!("{:?}", plan.config_updates),
        );
        target
            .set_configs(&plan.target, &plan.config_updates)
            .await?;
    }
    Ok(())
}

/// The description the target topic has after `plan` is applied (for re-checks and dry runs).
pub fn apply_to_description(
    plan: &TopicPlan,
    target: Option<&TopicDescription>,
) -> Option<TopicDescription> {
    let mut desc = match (&plan.create, target) {
        (Some(c), _) => TopicDescription {
            name: plan.target.clone(),
            partitions: c.partitions,
            replication_factor: c.replication_factor,
            configs: c
                .configs
                .iter()
                .map(|(k, v)| (k.clone(), ConfigValue::topic(v.clone())))
                .collect(),
        },
        (None, Some(t)) => t.clone(),
        (None, None) => return None,
    };
    if let Some(inc) = plan.add_partitions {
        desc.partitions = desc.partitions.max(inc.to);
    }
    for (k, v) in &plan.config_updates {
        desc.configs
            .insert(k.clone(), ConfigValue::topic(v.clone()));
    }
    Some(desc)
}
