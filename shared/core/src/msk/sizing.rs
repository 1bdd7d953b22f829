//! Broker volume sizing for a Provisioned MSK target ([`size_volumes`]): given the bytes the
//! mirrored data will take (from [`crate::topics::storage_needed`], replicas included), the
//! broker count and the current EBS volume size, the volume size per broker to request with
//! `UpdateBrokerStorage`.
//!
//! * **Headroom**: the requested capacity keeps the projected use at or below
//!   [`crate::topics::STORAGE_WARN_RATIO`] (70 %), the level above which the storage preflight
//!   ([`crate::topics::check_storage`]) warns; so after growing, the preflight is clean. The
//!   target is assumed to hold nothing else: the MSK API does not report used bytes (add them
//!   to `needed` when known, e.g. from CloudWatch's `KafkaDataLogsDiskUsed`).
//! * **Rounding**: whole GiB, rounded up (MSK sizes volumes in GiB).
//! * **Limits**: MSK allows [`MIN_VOLUME_GIB`] to [`MAX_VOLUME_GIB`] per broker; storage can
//!   only grow (never shrinks), and MSK waits at least six hours between two increases of a
//!   cluster's storage, so size once, early.
//!
//! Invariants (proptested): the request never shrinks the volume; when the need fits under the
//! maximum, the requested capacity holds `needed` within the headroom; the request never exceeds
//! the maximum unless the volume already does.

use crate::msk::GIB;
use serde::{Deserialize, Serialize};

/// Largest EBS volume per broker MSK allows, GiB (MSK quota: "A maximum of 16384 GiB of storage
/// per broker").
pub const MAX_VOLUME_GIB: u32 = 16_384;
/// Smallest EBS volume per broker MSK allows, GiB.
pub const MIN_VOLUME_GIB: u32 = 1;

/// [`crate::topics::STORAGE_WARN_RATIO`] as a percentage (integer math keeps the sizing exact; a test keeps
/// the two in step).
pub(crate) const HEADROOM_PERCENT: u128 = 70;

/// What [`size_volumes`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSizing {
    /// Volume per broker the data needs with headroom (GiB, may exceed [`MAX_VOLUME_GIB`]).
    pub needed_gib: u64,
    /// The volume per broker now (GiB).
    pub current_gib: u32,
    /// The volume per broker to have: `max(current, needed)`, capped at [`MAX_VOLUME_GIB`].
    pub request_gib: u32,
}

impl VolumeSizing {
    /// Whether the volumes must grow (`UpdateBrokerStorage` with [`VolumeSizing::request_gib`]).
    pub fn grows(&self) -> bool {
        self.request_gib > self.current_gib
    }

    /// Whether even the largest volume leaves the data without the headroom: add brokers, or
    /// use tiered storage.
    pub fn exceeds_maximum(&self) -> bool {
        self.needed_gib > u64::from(MAX_VOLUME_GIB)
    }
}

/// The volume per broker for `needed` bytes on `brokers` brokers whose volumes have
/// `current_gib` now (see the module doc). `brokers` below 1 counts as 1.
pub fn size_volumes(needed: u64, brokers: u32, current_gib: u32) -> VolumeSizing {
    let brokers = u128::from(brokers.max(1));
    // capacity ≥ needed / 0.7  ⇔  brokers × gib × GIB × 70 ≥ needed × 100
    let denominator = brokers * u128::from(GIB) * HEADROOM_PERCENT;
    let needed_gib = (u128::from(needed) * 100).div_ceil(denominator);
    let needed_gib = u64::try_from(needed_gib).unwrap_or(u64::MAX);
    let wanted = needed_gib
        .max(u64::from(MIN_VOLUME_GIB))
        .min(u64::from(MAX_VOLUME_GIB));
    let wanted = u32::try_from(wanted).unwrap_or(MAX_VOLUME_GIB);
    VolumeSizing {
        needed_gib,
        current_gib,
        request_gib: wanted.max(current_gib),
    }
}

/// Hours MSK waits after a broker storage increase before it accepts the next one (Amazon
/// MSK Developer Guide, "Manual scaling": "a cool-down period of at least six hours"; the
/// storage auto-scaling policy has the same cool-down, which is why Stitch Fix's migration
/// could not lean on auto-scaling during the backfill).
pub const STORAGE_COOL_DOWN_HOURS: u32 = 6;

/// The preflight finding for a Provisioned MSK target whose broker volumes are too small for
/// `sizing` (from [`size_volumes`] on the bytes the mirrored data takes on the target):
/// a warning to grow them, naming the request, the cool-down and the command that asks
/// before it grows anything; an error when even [`MAX_VOLUME_GIB`] per broker is too small.
/// `None` when the volumes are large enough.
pub fn volume_finding(
    cluster_arn: &str,
    brokers: u32,
    sizing: &VolumeSizing,
) -> Option<crate::topics::Finding> {
    use crate::topics::{Check, Finding, Severity};
    let (severity, message) = if sizing.exceeds_maximum() {
        (
            Severity::Error,
            format!(
                "the mirrored data needs about {} GiB per broker on {brokers} brokers (with 30% headroom), above MSK's maximum of {MAX_VOLUME_GIB} GiB per broker: add brokers or enable tiered storage on the target before migrating",
                sizing.needed_gib
            ),
        )
    } else if sizing.grows() {
        (
            Severity::Warning,
            format!(
                "grow the {brokers} brokers' EBS volumes from {} GiB to {} GiB before the backfill fills them: `ferry storage --target-msk-cluster-arn {cluster_arn} --grow` shows the sizing and asks before it calls UpdateBrokerStorage; MSK accepts the next storage increase only {STORAGE_COOL_DOWN_HOURS} hours after one, and storage never shrinks, so size once, early",
                sizing.current_gib, sizing.request_gib
            ),
        )
    } else {
        return None;
    };
    Some(Finding {
        severity,
        check: Check::VolumeSizing,
        topic: String::new(),
        setting: "storage".into(),
        message,
    })
}

/// Bytes one replica of a topic will hold on the target once the migration has run for
/// `horizon_secs`, from the source's measurements: `retained_bytes` now, the write rate
/// `bytes_per_sec`, and the topic's `retention_ms` (`None` or negative: unlimited, or a
/// compacted topic).
///
/// * Time-retained topics fill their retention window: the larger of what is retained now and
///   `bytes_per_sec × retention` (a topic younger than its retention keeps growing until the
///   window is full).
/// * Topics without time retention keep everything: what is retained now plus
///   `bytes_per_sec × horizon_secs` (compacted topics grow less; this is an upper bound).
///
/// Never less than `retained_bytes`; saturates instead of overflowing.
pub fn projected_topic_bytes(
    retained_bytes: u64,
    bytes_per_sec: f64,
    retention_ms: Option<i64>,
    horizon_secs: u64,
) -> u64 {
    let rate = if bytes_per_sec.is_finite() && bytes_per_sec > 0.0 {
        bytes_per_sec
    } else {
        0.0
    };
    #[allow(clippy::cast_precision_loss)]
    let grown = |secs: f64| -> u64 {
        let bytes = (rate * secs).ceil();
        if bytes >= u64::MAX as f64 {
            u64::MAX
        } else {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let b = bytes as u64;
            b
        }
    };
    match retention_ms.filter(|r| *r >= 0) {
        #[allow(clippy::cast_precision_loss)]
        Some(ms) => retained_bytes.max(grown(ms as f64 / 1000.0)),
        #[allow(clippy::cast_precision_loss)]
        None => retained_bytes.saturating_add(grown(horizon_secs as f64)),
    }
}
