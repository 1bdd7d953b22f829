//! Connections to the clusters named by [`ClusterArgs`]: the bootstrap servers from the command
//! line plus the security settings from the environment, resolved like the functions do.

use crate::args::ClusterArgs;
use ferry_kafka::KafkaConnection;

impl ClusterArgs {
    /// The source connection: these bootstrap servers plus any `FERRY_SOURCE_*` security
    /// settings from the environment (a `FERRY_SOURCE_SECRET_ARN` / `_CA_SECRET_ARN` is read
    /// from Secrets Manager, as the functions do).
    pub async fn source(&self) -> anyhow::Result<KafkaConnection> {
        connection("FERRY_SOURCE", &self.source_bootstrap).await
    }

    /// The target connection: these bootstrap servers plus any `FERRY_TARGET_*` security
    /// settings from the environment (a `FERRY_TARGET_SECRET_ARN` is read from Secrets Manager).
    pub async fn target(&self) -> anyhow::Result<KafkaConnection> {
        connection("FERRY_TARGET", &self.target_bootstrap).await
    }
}

async fn connection(prefix: &str, bootstrap: &str) -> anyhow::Result<KafkaConnection> {
    let bootstrap_var = format!("{prefix}_BOOTSTRAP");
    let mut conn = KafkaConnection::from_lookup(prefix, |name| {
        if name == bootstrap_var {
            Some(bootstrap.to_owned())
        } else {
            std::env::var(name).ok()
        }
    })?;
    ferry_kafka::resolve_connections(&mut [&mut conn], ferry_aws::SecretsManagerSource::from_env)
        .await?;
    Ok(conn.with_client_id("ferry-cli"))
}
