//! Test-only crash injection for the mirror binary.
//!
//! Off unless `FERRY_FAULTS` is set (the SAM template never sets it). Format:
//! `after_produce=0.05,mid_produce=0.05,seed=7`: with the given probability per batch the process
//! aborts (like a Lambda sandbox dying) right after all records were produced but before the state
//! commit, or at a random moment (0–30 ms) after producing started. The integration tests use it to
//! prove that a killed invocation never causes a duplicate or a loss.

use std::sync::atomic::{AtomicU64, Ordering};

/// Where a fault can fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// Producing started (a timer may abort mid-produce).
    ProduceStarted,
    /// Every record was produced; the state commit has not happened.
    AfterProduce,
}

/// Parsed fault plan.
#[derive(Debug, Default)]
pub struct Faults {
    after_produce: f64,
    mid_produce: f64,
    state: AtomicU64,
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads `FERRY_FAULTS`; an unparsable value is an error naming the variable.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var("FERRY_FAULTS") {
            Ok(spec) if !spec.trim().is_empty() => Self::parse(&spec),
            _ => Ok(Self::none()),
        }
    }

    /// Parses a spec like `after_produce=0.05,mid_produce=0.05,seed=7`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut f = Self::none();
        let mut seed = std::process::id() as u64 ^ 0x9E37_79B9_7F4A_7C15;
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                format!("invalid setting FERRY_FAULTS: {part:?} is not key=value")
            })?;
            let num = |v: &str| {
                v.parse::<f64>()
                    .map_err(|_| format!("invalid setting FERRY_FAULTS: {k}={v:?} is not a number"))
            };
            match k {
                "after_produce" => f.after_produce = num(v)?,
                "mid_produce" => f.mid_produce = num(v)?,
                "seed" => seed ^= num(v)? as u64,
                _ => return Err(format!("invalid setting FERRY_FAULTS: unknown fault {k:?}")),
            }
        }
        f.state = AtomicU64::new(seed | 1);
        Ok(f)
    }

    /// Whether any fault is armed.
    pub fn armed(&self) -> bool {
        self.after_produce > 0.0 || self.mid_produce > 0.0
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
        assert!(Faults::parse("explode=1")
            .unwrap_err()
            .contains("FERRY_FAULTS"));
        assert!(Faults::parse("after_produce=x")
            .unwrap_err()
            .contains("FERRY_FAULTS"));
    }
}
