//! Test-only crash injection for the mirror binary.
//!
//! Off unless `FERRY_FAULTS` is set (the SAM template never sets it). Format:
//! `after_produce=0.05,mid_produce=0.05,seed=7`: with the given probability per batch the process
//! aborts (like a Lambda sandbox dying) right after all records were produced but before the state
//! commit, or at a random moment (0–30 ms) after producing started. The integration tests use it to
//! prove that a killed invocation never causes a duplicate or a loss.
//!
//! Late writers (a zombie invocation whose requests reach the broker after its retry started):
//! `late_produce=0.2` sleeps `late_ms` (default 3000) right before producing a partition's
//! records, `late_commit=0.2` right before committing its transaction. With an invocation
//! timeout (or the ESM emulator's `abandon_after`) shorter than `late_ms`, the retry runs while
//! the late invocation is still about to write; fencing must make the late write harmless.

use ferry_lambda::ConfigError;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a fault can fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// Producing started (a timer may abort mid-produce).
    ProduceStarted,
    /// Every record was produced; the state commit has not happened.
    AfterProduce,
    /// About to produce a partition's records (a late writer may sleep here).
    BeforeProduce,
    /// About to commit a partition's transaction (a late writer may sleep here).
    BeforeTransactionCommit,
}

/// Parsed fault plan.
#[derive(Debug, Default)]
pub struct Faults {
    after_produce: f64,
    mid_produce: f64,
    late_produce: f64,
    late_commit: f64,
    late_ms: u64,
    state: AtomicU64,
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads `FERRY_FAULTS`; an unparsable value is an error naming the variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        match std::env::var("FERRY_FAULTS") {
            Ok(spec) if !spec.trim().is_empty() => Self::parse(&spec),
            _ => Ok(Self::none()),
        }
    }

    /// Parses a spec like `after_produce=0.05,mid_produce=0.05,seed=7`.
    pub fn parse(spec: &str) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::invalid("FERRY_FAULTS", reason);
        let mut f = Self {
            late_ms: 3000,
            ..Self::none()
        };
        let mut seed = std::process::id() as u64 ^ 0x9E37_79B9_7F4A_7C15;
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| invalid(format!("{part:?} is not key=value")))?;
            let num = |v: &str| {
                v.parse::<f64>()
                    .map_err(|_| invalid(format!("{k}={v:?} is not a number")))
            };
            match k {
                "after_produce" => f.after_produce = num(v)?,
                "mid_produce" => f.mid_produce = num(v)?,
                "late_produce" => f.late_produce = num(v)?,
                "late_commit" => f.late_commit = num(v)?,
                "late_ms" => f.late_ms = num(v)? as u64,
                "seed" => seed ^= num(v)? as u64,
                _ => return Err(invalid(format!("unknown fault {k:?}"))),
            }
        }
        f.state = AtomicU64::new(seed | 1);
        Ok(f)
    }

    /// Whether any fault is armed.
    pub fn armed(&self) -> bool {
        self.after_produce > 0.0
            || self.mid_produce > 0.0
            || self.late_produce > 0.0
            || self.late_commit > 0.0
    }

    /// Called by the handler where a late writer may be delayed; sleeps when the fault fires.
    pub async fn delay_at(&self, point: FaultPoint) {
        let p = match point {
            FaultPoint::BeforeProduce => self.late_produce,
            FaultPoint::BeforeTransactionCommit => self.late_commit,
            _ => 0.0,
        };
        if p > 0.0 && self.next_f64() < p {
            eprintln!("FERRY_FAULTS: delaying {point:?} by {} ms", self.late_ms);
            tokio::time::sleep(std::time::Duration::from_millis(self.late_ms)).await;
        }
    }

    fn next_f64(&self) -> f64 {
        // xorshift64*: good enough to pick crash points.
        let mut x = self.state.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state.store(x, Ordering::Relaxed);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Called by the handler at each fault point; may abort the process.
    pub fn at(&self, point: FaultPoint) {
        if !self.armed() {
            return;
        }
        match point {
            FaultPoint::AfterProduce if self.next_f64() < self.after_produce => {
                eprintln!("FERRY_FAULTS: aborting after produce, before the state commit");
                std::process::abort();
            }
            FaultPoint::ProduceStarted if self.next_f64() < self.mid_produce => {
                let delay = std::time::Duration::from_micros((self.next_f64() * 30_000.0) as u64);
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    eprintln!("FERRY_FAULTS: aborting mid-produce after {delay:?}");
                    std::process::abort();
                });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        assert!(!Faults::parse("").unwrap().armed());
        assert!(Faults::parse("after_produce=0.5,seed=3").unwrap().armed());
        let late = Faults::parse("late_produce=1,late_ms=20").unwrap();
        assert!(late.armed());
        assert_eq!(late.late_ms, 20);
        assert_eq!(
            Faults::parse("explode=1").unwrap_err().to_string(),
            "invalid setting FERRY_FAULTS: unknown fault \"explode\""
        );
        assert!(Faults::parse("after_produce=x")
            .unwrap_err()
            .to_string()
            .contains("FERRY_FAULTS"));
    }
}
