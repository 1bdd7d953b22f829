//! Topic provisioning, config sync and preflight checks (in progress).
