//! The README's main command, `ferry demo`, end to end on the real local stack: producers and
//! consumer groups on the source, the mirror, the cutover state machine executed to the end,
//! consumers and producers really switched to the target, and every consumer checking itself
//! that it saw every record exactly once, in order, across the move.
//!
//! Runs the built `ferry` binary (it serves the local Lambda API on `FERRY_LAMBDA_API`, so this
//! test binary must not serve it too).

use ferry_tests::{bin_path, require_stack};
use std::process::Command;

#[test]
fn full_migration_demo_switches_consumers_and_producers_with_no_gap_or_duplicate() {
    require_stack();
    let out = Command::new(bin_path("ferry"))
        .args(["demo", "--records", "6000", "--timeout", "300", "--json"])
        .output()
        .expect("run ferry demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ferry demo failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["execution"]["status"], "SUCCEEDED");
    let checks = report["checks"].as_array().expect("checks");
    assert!(checks.len() >= 4, "{report:#}");
    assert!(checks.iter().all(|c| c["ok"] == true), "{report:#}");
    assert_eq!(report["report"]["phase"], "completed");
    assert_eq!(report["report"]["producers"], "target");
    for (group, g) in report["report"]["groups"].as_object().expect("groups") {
        assert_eq!(g["phase"], "moved", "{group}");
    }
}
