//! `ferry demo`: the README's demo on the running local stack, in one of two modes.
//!
//! * [`migration`] (the default): a complete migration, from live traffic on the source to
//!   consumers and producers running on the target, driven by the real cutover state machine.
//! * [`mirror_only`] (`ferry demo --mirror-only`): only the mirror, then a per-partition
//!   source/target comparison (no applications, no state machine).
//!
//! This module holds what both modes share: the moto defaults, the stack check and unique
//! names. Progress goes to stderr through [`crate::progress::LiveLine`].

pub mod migration;
mod migration_report;
pub mod mirror_only;

use crate::args::DemoArgs;
use ferry_kafka::KafkaConnection;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Runs the demo in the mode `args` selects; `Ok(true)` if every check passed.
pub async fn run(args: &DemoArgs) -> anyhow::Result<bool> {
    if args.mirror_only {
        mirror_only::run(args).await
    } else {
        migration::run(args).await
    }
}

/// The AWS settings of the local stack's moto, used for variables that are not set.
pub const MOTO_ENV: [(&str, &str); 5] = [
    ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
];

/// The local stack's DynamoDB (minidyn; `FERRY_LOCAL_DYNAMODB=moto` keeps moto's).
pub const MINIDYN_ENDPOINT: &str = "http://127.0.0.1:4567";

/// The demo never talks to real AWS: without `AWS_ENDPOINT_URL` it points the AWS SDK (and the
/// function processes, which inherit the environment) at the local stack: moto, and DynamoDB
/// on minidyn unless `FERRY_LOCAL_DYNAMODB=moto`. Must run before any thread starts.
pub fn default_to_moto() {
    if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        return;
    }
    eprintln!("AWS_ENDPOINT_URL is not set: using the local stack (as `eval \"$(scripts/stack env)\"` would)");
    for (key, value) in MOTO_ENV {
        if std::env::var_os(key).is_none() {
            std::env::set_var(key, value);
        }
    }
    let moto_dynamodb = std::env::var("FERRY_LOCAL_DYNAMODB").is_ok_and(|v| v == "moto");
    if !moto_dynamodb && std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        std::env::set_var("AWS_ENDPOINT_URL_DYNAMODB", MINIDYN_ENDPOINT);
    }
}

/// Checks that both clusters and the DynamoDB endpoint answer, with instructions if not.
pub(crate) async fn check_stack(
    source: &KafkaConnection,
    target: &KafkaConnection,
) -> anyhow::Result<()> {
    let hint = "start the local stack with `scripts/stack up` (scripts/demo does)";
    for (what, servers) in [
        ("source Kafka", &source.bootstrap_servers),
        ("target Kafka", &target.bootstrap_servers),
    ] {
        let first = servers.split(',').next().unwrap_or_default().trim();
        if !reachable(first).await {
            anyhow::bail!("{what} at {first} is not answering: {hint}");
        }
    }
    let dynamodb = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .map(|e| (e, "AWS_ENDPOINT_URL_DYNAMODB"))
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL").map(|e| (e, "AWS_ENDPOINT_URL")));
    if let Ok((endpoint, var)) = dynamodb {
        let authority = endpoint
            .split_once("://")
            .map_or(endpoint.as_str(), |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        if !reachable(&authority).await {
            anyhow::bail!("DynamoDB endpoint {endpoint} ({var}) is not answering: {hint}");
        }
    }
    Ok(())
}

async fn reachable(addr: &str) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

/// A short suffix that makes topic, group and table names unique per run.
pub(crate) fn suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 40);
    format!("{:08x}", mixed & 0xffff_ffff)
}

/// Topic names for the demo: `demo-<name>-<suffix>`, with the first three names being
/// orders, payments and clicks.
pub fn topic_names(count: u32, suffix: &str) -> Vec<String> {
    const NAMES: [&str; 10] = [
        "orders",
        "payments",
        "clicks",
        "inventory",
        "shipments",
        "users",
        "sessions",
        "invoices",
        "reviews",
        "carts",
    ];
    (0..count as usize)
        .map(|i| match NAMES.get(i) {
            Some(name) => format!("demo-{name}-{suffix}"),
            None => format!("demo-topic{i}-{suffix}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_pattern() {
        assert_eq!(
            topic_names(3, "x1"),
            ["demo-orders-x1", "demo-payments-x1", "demo-clicks-x1"]
        );
        assert_eq!(topic_names(10, "s").len(), 10);
        assert_eq!(topic_names(11, "s")[10], "demo-topic10-s");
    }

    #[test]
    fn suffixes_are_hex() {
        let s = suffix();
        assert_eq!(s.len(), 8);
        assert!(s.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
