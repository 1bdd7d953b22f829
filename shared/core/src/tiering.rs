//! Volume tiers of `ferry plan`: from a topic's measured write rate and retained size to the
//! settings of its Kafka event source mapping. Pure: the CLI measures, this decides, the CLI
//! renders.
//!
//! A topic is in the highest [`Tier`] any of its measures reaches ([`Thresholds`]). Tier
//! settings (AWS limits: BatchSize ≤ 10,000, MinimumPollers 1–200, MaximumPollers 1–2,000,
//! one poller reads up to ~5 MB/s, more pollers than partitions add nothing):
//!
//! | tier | BatchSize | MaximumBatchingWindowInSeconds | pollers |
//! |---|---|---|---|
//! | high | 10,000 | 1 | provisioned: min = max(⌈partitions/2⌉, ⌈2 × bytes/s ÷ 5 MiB/s⌉), max = partitions |
//! | medium | 2,000 | 2 | provisioned: min 1, max ⌈partitions/2⌉ |
//! | low | 500 | 5 | on demand |
//!
//! Every mapping starts at `TRIM_HORIZON` with consumer group `ferry-<topic>`
//! (`ferry-<prefix>-<hash>` if too long for AWS).

use serde::{Deserialize, Serialize};

/// Format version of [`Plan`].
pub const PLAN_VERSION: u32 = 1;
/// Bytes per second one event poller handles (AWS: up to 5 MB/s).
pub const POLLER_BYTES_PER_SEC: f64 = 5.0 * 1024.0 * 1024.0;
/// AWS limit of `ConsumerGroupId`.
pub const MAX_GROUP_ID_LEN: usize = 200;

/// When a topic is high or medium volume (a topic is in the highest tier any of its measures
/// reaches). Stored in the plan so rendering is reproducible.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// High tier from this write rate (bytes/s).
    pub high_bytes_per_sec: f64,
    /// High tier from this write rate (records/s).
    pub high_records_per_sec: f64,
    /// High tier from this retained size (bytes; the initial copy).
    pub high_retained_bytes: f64,
    /// Medium tier from this write rate (bytes/s).
    pub medium_bytes_per_sec: f64,
    /// Medium tier from this write rate (records/s).
    pub medium_records_per_sec: f64,
    /// Medium tier from this retained size (bytes).
    pub medium_retained_bytes: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            high_bytes_per_sec: 1_048_576.0,
            high_records_per_sec: 5_000.0,
            high_retained_bytes: 107_374_182_400.0,
            medium_bytes_per_sec: 65_536.0,
            medium_records_per_sec: 100.0,
            medium_retained_bytes: 1_073_741_824.0,
        }
    }
}

/// Volume tier of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// On-demand pollers, small batches, longer window.
    Low,
    /// A few provisioned pollers.
    Medium,
    /// Provisioned pollers sized to the rate, largest batches.
    High,
}

impl Tier {
    /// `low`, `medium`, `high`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// What was measured for one topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicMeasurement {
    /// Topic name.
    pub topic: String,
    /// Partition count.
    pub partitions: i32,
    /// Write rate, records per second (sum over partitions).
    pub records_per_sec: f64,
    /// Write rate, bytes per second (records/s × mean record size; 0 if sizes are unknown).
    pub bytes_per_sec: f64,
    /// Mean record size in bytes (key + value + headers) of the sampled records, if any.
    pub mean_record_bytes: Option<f64>,
    /// Records retained (sum of end − start offsets; compacted topics hold fewer).
    pub retained_records: u64,
    /// Retained size estimate (retained records × mean record size).
    pub retained_bytes: f64,
}

/// The plan file: measurements plus thresholds; `ferry-cli`'s `plan::render_mappings` is a pure function of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_VERSION`].
    pub version: u32,
    /// When the measurement ended (RFC 3339; informational, not rendered).
    pub measured_at: String,
    /// Seconds between the two offset samples.
    pub interval_secs: f64,
    /// Tier thresholds.
    pub thresholds: Thresholds,
    /// Topics, sorted by name.
    pub topics: Vec<TopicMeasurement>,
}

/// Settings of one event source mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappingSettings {
    /// The tier.
    pub tier: Tier,
    /// `BatchSize`.
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds`.
    pub batching_window_secs: u32,
    /// `ProvisionedPollerConfig` (minimum, maximum); `None`: on-demand pollers.
    pub pollers: Option<(u32, u32)>,
    /// Consumer group id of the mapping.
    pub consumer_group: String,
    /// `StartingPosition`.
    pub starting_position: &'static str,
}

/// The tier that `m` reaches under `t`.
pub fn tier(m: &TopicMeasurement, t: &Thresholds) -> Tier {
    if m.bytes_per_sec >= t.high_bytes_per_sec
        || m.records_per_sec >= t.high_records_per_sec
        || m.retained_bytes >= t.high_retained_bytes
    {
        Tier::High
    } else if m.bytes_per_sec >= t.medium_bytes_per_sec
        || m.records_per_sec >= t.medium_records_per_sec
        || m.retained_bytes >= t.medium_retained_bytes
    {
        Tier::Medium
    } else {
        Tier::Low
    }
}

/// The mapping settings for `m` (see the module docs' table).
pub fn settings(m: &TopicMeasurement, t: &Thresholds) -> MappingSettings {
    let tier = tier(m, t);
    let partitions = u32::try_from(m.partitions.max(1)).unwrap_or(1);
    let half = partitions.div_ceil(2);
    let (batch_size, batching_window_secs, pollers) = match tier {
        Tier::High => {
            let for_rate = (2.0 * m.bytes_per_sec / POLLER_BYTES_PER_SEC).ceil();
            let for_rate = if for_rate.is_finite() && for_rate > 0.0 {
                for_rate.min(f64::from(u32::MAX)) as u32
            } else {
                0
            };
            let max = partitions.clamp(1, 2000);
            let min = half.max(for_rate).clamp(1, 200).min(max);
            (10_000, 1, Some((min, max)))
        }
        Tier::Medium => (2_000, 2, Some((1, half.clamp(1, 2000)))),
        Tier::Low => (500, 5, None),
    };
    MappingSettings {
        tier,
        batch_size,
        batching_window_secs,
        pollers,
        consumer_group: consumer_group(&m.topic),
        starting_position: "TRIM_HORIZON",
    }
}

/// `ferry-<topic>`, shortened to `ferry-<prefix>-<hash>` when longer than AWS allows.
pub fn consumer_group(topic: &str) -> String {
    let group = format!("ferry-{topic}");
    if group.len() <= MAX_GROUP_ID_LEN {
        return group;
    }
    // Topic names are ASCII ([a-zA-Z0-9._-]), so byte slicing is safe.
    let keep = MAX_GROUP_ID_LEN - "ferry-".len() - 9;
    format!("ferry-{}-{:08x}", &topic[..keep], fnv1a(topic))
}

/// CloudFormation logical id of a topic's mapping: `Mapping<CamelTopic><hash>` (alphanumeric;
/// the hash keeps `a.b` and `a-b` apart).
pub fn logical_id(topic: &str) -> String {
    let mut camel = String::new();
    let mut upper = true;
    for c in topic.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                camel.extend(c.to_uppercase());
            } else {
                camel.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    camel.truncate(200);
    format!("Mapping{camel}{:08X}", fnv1a(topic))
}

/// 32-bit FNV-1a (stable across platforms and releases, unlike `std`'s hasher).
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(topic: &str, partitions: i32, rps: f64, bps: f64, retained: f64) -> TopicMeasurement {
        TopicMeasurement {
            topic: topic.to_owned(),
            partitions,
            records_per_sec: rps,
            bytes_per_sec: bps,
            mean_record_bytes: Some(100.0),
            retained_records: (retained / 100.0) as u64,
            retained_bytes: retained,
        }
    }

    #[test]
    fn tiers_follow_the_highest_measure() {
        let t = Thresholds::default();
        assert_eq!(tier(&m("a", 6, 0.0, 0.0, 0.0), &t), Tier::Low);
        assert_eq!(tier(&m("a", 6, 99.0, 60_000.0, 1e9), &t), Tier::Low);
        assert_eq!(tier(&m("a", 6, 100.0, 0.0, 0.0), &t), Tier::Medium);
        assert_eq!(tier(&m("a", 6, 0.0, 65_536.0, 0.0), &t), Tier::Medium);
        assert_eq!(tier(&m("a", 6, 0.0, 0.0, 2e9), &t), Tier::Medium);
        assert_eq!(tier(&m("a", 6, 5_000.0, 0.0, 0.0), &t), Tier::High);
        assert_eq!(tier(&m("a", 6, 1.0, 2e6, 0.0), &t), Tier::High);
        assert_eq!(tier(&m("a", 6, 0.0, 0.0, 2e11), &t), Tier::High);
    }

    #[test]
    fn settings_respect_aws_limits() {
        let t = Thresholds::default();
        for partitions in [1, 2, 3, 12, 64, 500, 5000] {
            for bps in [0.0, 1e5, 2e6, 5e7, 1e10, f64::INFINITY] {
                let s = settings(&m("t", partitions, 10_000.0, bps, 0.0), &t);
                assert_eq!(s.tier, Tier::High);
                assert!(s.batch_size <= 10_000);
                let (min, max) = s.pollers.unwrap();
                assert!((1..=200).contains(&min), "{partitions} {bps}: {min}");
                assert!((1..=2000).contains(&max), "{partitions} {bps}: {max}");
                assert!(min <= max);
                assert!(max as i32 <= partitions.max(1));
            }
        }
        // 40 MB/s over 24 partitions: 16 pollers (2x headroom at 5 MiB/s each), up to 24.
        let s = settings(&m("t", 24, 50_000.0, 40.0 * 1024.0 * 1024.0, 0.0), &t);
        assert_eq!(s.pollers, Some((16, 24)));
        let s = settings(&m("t", 12, 150.0, 1000.0, 0.0), &t);
        assert_eq!(
            (s.tier, s.batch_size, s.pollers),
            (Tier::Medium, 2000, Some((1, 6)))
        );
        let s = settings(&m("t", 12, 1.0, 100.0, 0.0), &t);
        assert_eq!((s.tier, s.batch_size, s.pollers), (Tier::Low, 500, None));
        assert_eq!(s.starting_position, "TRIM_HORIZON");
        assert_eq!(s.consumer_group, "ferry-t");
    }

    #[test]
    fn names_are_valid_and_distinct() {
        assert_eq!(consumer_group("orders"), "ferry-orders");
        let long = "x".repeat(249);
        let g = consumer_group(&long);
        assert_eq!(g.len(), MAX_GROUP_ID_LEN);
        assert_ne!(g, consumer_group(&format!("{}y", "x".repeat(248))));
        let ids = ["a.b", "a-b", "a_b", "ab", "A.b"].map(logical_id);
        for (i, a) in ids.iter().enumerate() {
            assert!(a.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
            assert!(
                a.starts_with("MappingAB") || a.starts_with("MappingAb"),
                "{a}"
            );
            for b in &ids[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert!(logical_id(&long).len() <= 255);
    }
}
