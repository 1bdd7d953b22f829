//! Helpers shared by the integration tests.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Path of the `echo_fn` example binary; builds it if `cargo test` did not (e.g. `--test`).
pub fn echo_fn() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        // target/<profile>/deps/<test> -> target/<profile>/examples/echo_fn
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target profile dir");
        let path = profile_dir.join("examples").join("echo_fn");
        if !path.is_file() {
            let status = Command::new(env!("CARGO"))
                .args(["build", "-p", "ferry-local", "--example", "echo_fn"])
                .status()
                .expect("run cargo build --example echo_fn");
            assert!(status.success(), "building echo_fn failed");
        }
        assert!(path.is_file(), "{} missing", path.display());
        path
    })
    .clone()
}
