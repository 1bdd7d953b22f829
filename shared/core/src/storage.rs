//! Production adapters of [`TargetStorage`] that need no platform API.
//!
//! The preflight compares the bytes the mirrored topics will take on the target with the
//! target's storage ([`crate::topics::check_storage`]). Where the target's capacity cannot be
//! read (a self-managed cluster, or MSK Serverless, which has no storage to size), the
//! preflight is wired with [`UnknownStorage`] and skips the storage check. A Provisioned MSK
//! target's capacity comes from its control plane (`ferry_aws::msk::MskStorage`).

use crate::ports::{TargetStorage, TopicAdminError};
use crate::topics::StorageInfo;

/// A [`TargetStorage`] for a target whose storage is not known: [`TargetStorage::storage`]
/// always returns `Ok(None)` and never fails. The preflight then raises no storage finding
/// (neither a warning nor an error) and its report has no target capacity; the estimated
/// source and target bytes are still reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnknownStorage;

impl TargetStorage for UnknownStorage {
    async fn storage(&self) -> Result<Option<StorageInfo>, TopicAdminError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    #[test]
    fn reports_unknown_storage_at_once() {
        let mut f = pin!(UnknownStorage.storage());
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(r) => assert_eq!(r.unwrap(), None),
            Poll::Pending => panic!("UnknownStorage never waits"),
        }
    }
}
