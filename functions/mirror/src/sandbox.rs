//! The mirror's exit policy: when a warm sandbox gives up on its clients and exits, so that the
//! event source mapping's next delivery runs in a fresh sandbox (a cold start) with new clients.
//!
//! Two reasons, checked before every batch ([`SandboxHealth::check`]):
//!
//! * the target producer hit a fatal error: an idempotent or transactional producer cannot
//!   recover from one, every later batch would fail the same way ([`Restart::ProducerFatal`],
//!   exit code 70);
//! * the target was unreachable for [`MAX_CONSECUTIVE_TARGET_FAILURES`] batches in a row
//!   ([`Restart::TargetUnreachable`], exit code 71): librdkafka clients in a warm sandbox have
//!   been seen to stay disconnected after a target broker restart, while fresh ones connect.
//!
//! Exiting loses nothing: the batch in hand was not acknowledged and is delivered again. Any
//! other outcome of a batch (success, or a failure that is not the target being unreachable)
//! resets the count ([`SandboxHealth::record`]).

use crate::error::MirrorError;
use std::fmt::Display;
use std::sync::atomic::{AtomicU32, Ordering};

/// Consecutive batches that failed because the target was unreachable after which the sandbox
/// restarts.
pub const MAX_CONSECUTIVE_TARGET_FAILURES: u32 = 3;

/// Why this sandbox should exit and leave the next delivery to a fresh one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restart {
    /// The target producer hit a fatal error (its description).
    ProducerFatal(String),
    /// The target was unreachable for this many batches in a row.
    TargetUnreachable {
        /// Consecutive failed batches.
        failures: u32,
    },
}

impl Restart {
    /// The process exit code (`EX_SOFTWARE` 70 for a fatal producer, 71 for an unreachable
    /// target), so the logs of `Runtime.ExitError` tell the two apart.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::ProducerFatal(_) => 70,
            Self::TargetUnreachable { .. } => 71,
        }
    }

    /// Logs why and exits the process (the Lambda service then starts a fresh sandbox).
    pub fn exit(self) -> ! {
        match &self {
            Self::ProducerFatal(error) => tracing::error!(
                error = %error,
                "target producer hit a fatal error: restarting the sandbox"
            ),
            Self::TargetUnreachable { failures } => tracing::error!(
                failures,
                "target unreachable from this sandbox for several batches: restarting it with fresh clients"
            ),
        }
        std::process::exit(self.exit_code())
    }
}

/// The health of this sandbox's target clients, across the batches it handles.
#[derive(Debug)]
pub struct SandboxHealth {
    target_failures: AtomicU32,
    max_target_failures: u32,
}

impl Default for SandboxHealth {
    fn default() -> Self {
        Self::new()
    }
}

impl SandboxHealth {
    /// A healthy sandbox that restarts after [`MAX_CONSECUTIVE_TARGET_FAILURES`].
    pub const fn new() -> Self {
        Self::with_max_target_failures(MAX_CONSECUTIVE_TARGET_FAILURES)
    }

    /// A healthy sandbox that restarts after `max` consecutive unreachable-target batches.
    pub const fn with_max_target_failures(max: u32) -> Self {
        Self {
            target_failures: AtomicU32::new(0),
            max_target_failures: max,
        }
    }

    /// Before a batch: whether this sandbox may handle it. `producer_fatal` is the target
    /// producer's fatal error, if it has one.
    pub fn check(&self, producer_fatal: Option<impl Display>) -> Result<(), Restart> {
        if let Some(fatal) = producer_fatal {
            return Err(Restart::ProducerFatal(fatal.to_string()));
        }
        let failures = self.target_failures.load(Ordering::Relaxed);
        if failures >= self.max_target_failures {
            return Err(Restart::TargetUnreachable { failures });
        }
        Ok(())
    }

    /// After a batch: counts it if it failed because the target was unreachable, resets the count
    /// otherwise.
    pub fn record<T>(&self, result: &Result<T, MirrorError>) {
        match result {
            Err(e) if e.is_target_unavailable() => {
                self.target_failures.fetch_add(1, Ordering::Relaxed);
            }
            _ => self.target_failures.store(0, Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::ports::{StoreError, TargetError};

    const NO_FATAL: Option<&str> = None;

    fn unreachable() -> Result<(), MirrorError> {
        Err(MirrorError::Target(TargetError::Unavailable(
            "all brokers down".into(),
        )))
    }

    #[test]
    fn restarts_after_consecutive_unreachable_target_batches() {
        let health = SandboxHealth::new();
        for _ in 0..MAX_CONSECUTIVE_TARGET_FAILURES {
            assert_eq!(health.check(NO_FATAL), Ok(()));
            health.record(&unreachable());
        }
        let restart = health.check(NO_FATAL).unwrap_err();
        assert_eq!(
            restart,
            Restart::TargetUnreachable {
                failures: MAX_CONSECUTIVE_TARGET_FAILURES
            }
        );
        assert_eq!(restart.exit_code(), 71);
    }

    #[test]
    fn any_other_outcome_resets_the_count() {
        let health = SandboxHealth::with_max_target_failures(2);
        health.record(&unreachable());
        health.record(&Ok::<_, MirrorError>(()));
        health.record(&unreachable());
        assert_eq!(health.check(NO_FATAL), Ok(()));
        health.record(&Err::<(), _>(MirrorError::Store(StoreError::Unavailable(
            "dynamodb".into(),
        ))));
        health.record(&unreachable());
        assert_eq!(health.check(NO_FATAL), Ok(()));
        health.record(&unreachable());
        assert!(health.check(NO_FATAL).is_err());
    }

    #[test]
    fn a_fatal_producer_restarts_at_once() {
        let restart = SandboxHealth::new()
            .check(Some("fenced by a newer producer epoch"))
            .unwrap_err();
        assert_eq!(
            restart,
            Restart::ProducerFatal("fenced by a newer producer epoch".into())
        );
        assert_eq!(restart.exit_code(), 70);
    }
}
