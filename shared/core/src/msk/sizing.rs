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
