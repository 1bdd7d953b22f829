//! What the MSK control plane tells about a cluster ([`ClusterFacts`], from
//! `DescribeClusterV2`) and which of its listeners a client uses ([`MskAuth`], the key into
//! `GetBootstrapBrokers`).

use crate::topics::StorageInfo;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Bytes in one GiB (MSK sizes broker volumes in GiB).
pub const GIB: u64 = 1 << 30;

/// How a client authenticates to an MSK cluster, which decides the listener (and so the
/// bootstrap broker string) it connects to.
///
/// | auth | `<PREFIX>_SECURITY` of `ferry-kafka` | `GetBootstrapBrokers` field | port |
/// |---|---|---|---|
/// | [`MskAuth::Iam`] | `msk-iam` | `BootstrapBrokerStringSaslIam` | 9098 |
/// | [`MskAuth::Scram`] | `scram-sha-512` (MSK supports SHA-512 only) | `BootstrapBrokerStringSaslScram` | 9096 |
/// | [`MskAuth::Tls`] | `tls` | `BootstrapBrokerStringTls` | 9094 |
/// | [`MskAuth::Plaintext`] | `plaintext` | `BootstrapBrokerString` | 9092 |
///
/// MSK Serverless has the IAM listener only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MskAuth {
    /// SASL/OAUTHBEARER with IAM-signed tokens.
    #[serde(rename = "msk-iam")]
    Iam,
    /// SASL/SCRAM (credentials in Secrets Manager).
    Scram,
    /// TLS (mutual TLS when a client certificate is given).
    Tls,
    /// Unauthenticated, unencrypted.
    Plaintext,
}

impl MskAuth {
    /// All modes, in the table's order.
    pub const ALL: [Self; 4] = [Self::Iam, Self::Scram, Self::Tls, Self::Plaintext];

    /// The mode for a `ferry-kafka` security name (`msk-iam`, `scram-sha-512`, `scram-sha-256`,
    /// `tls`, `plaintext`); `None` for modes MSK has no listener for.
    pub fn from_security(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "msk-iam" => Some(Self::Iam),
            "scram-sha-512" | "scram-sha-256" => Some(Self::Scram),
            "tls" => Some(Self::Tls),
            "plaintext" => Some(Self::Plaintext),
            _ => None,
        }
    }

    /// The listener a client configured with `security` connects to:
    /// [`MskAuth::from_security`], and `oauthbearer-unsecured-jwt` (the local stand-in for
    /// `msk-iam`: SASL/OAUTHBEARER with unsecured JWTs) as [`MskAuth::Iam`].
    pub fn for_connection(security: &str) -> Option<Self> {
        if security
            .trim()
            .eq_ignore_ascii_case("oauthbearer-unsecured-jwt")
        {
            return Some(Self::Iam);
        }
        Self::from_security(security)
    }

    /// Stable name (`msk-iam`, `scram`, `tls`, `plaintext`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Iam => "msk-iam",
            Self::Scram => "scram",
            Self::Tls => "tls",
            Self::Plaintext => "plaintext",
        }
    }

    /// The `GetBootstrapBrokers` response field holding this mode's brokers.
    pub fn bootstrap_field(self) -> &'static str {
        match self {
            Self::Iam => "BootstrapBrokerStringSaslIam",
            Self::Scram => "BootstrapBrokerStringSaslScram",
            Self::Tls => "BootstrapBrokerStringTls",
            Self::Plaintext => "BootstrapBrokerString",
        }
    }
}

impl fmt::Display for MskAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bootstrap broker strings of a cluster, one per listener (`None`: the listener is off). What
/// `GetBootstrapBrokers` answers (private VPC listeners only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapBrokers {
    /// `BootstrapBrokerStringSaslIam`.
    pub iam: Option<String>,
    /// `BootstrapBrokerStringSaslScram`.
    pub scram: Option<String>,
    /// `BootstrapBrokerStringTls`.
    pub tls: Option<String>,
    /// `BootstrapBrokerString`.
    pub plaintext: Option<String>,
}

impl BootstrapBrokers {
    /// The brokers of `auth`'s listener, if it is on (an empty string counts as off).
    pub fn get(&self, auth: MskAuth) -> Option<&str> {
        match auth {
            MskAuth::Iam => self.iam.as_deref(),
            MskAuth::Scram => self.scram.as_deref(),
            MskAuth::Tls => self.tls.as_deref(),
            MskAuth::Plaintext => self.plaintext.as_deref(),
        }
        .filter(|s| !s.trim().is_empty())
    }

    /// Sets `auth`'s brokers.
    pub fn with(mut self, auth: MskAuth, brokers: impl Into<String>) -> Self {
        let slot = match auth {
            MskAuth::Iam => &mut self.iam,
            MskAuth::Scram => &mut self.scram,
            MskAuth::Tls => &mut self.tls,
            MskAuth::Plaintext => &mut self.plaintext,
        };
        *slot = Some(brokers.into());
        self
    }
}

/// Provisioned (brokers you size) or Serverless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterKind {
    /// `PROVISIONED`: brokers with EBS volumes.
    Provisioned,
    /// `SERVERLESS`: no brokers, no storage to size, IAM only, quotas
    /// ([`crate::msk::ServerlessLimits`]).
    Serverless,
}

/// A client authentication mode enabled on the cluster (`ClientAuthentication`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMode {
    /// `Sasl.Iam`.
    Iam,
    /// `Sasl.Scram`.
    Scram,
    /// `Tls` (mutual TLS with a private CA).
    MutualTls,
    /// `Unauthenticated`.
    Unauthenticated,
}

/// Provisioned storage throughput of the broker volumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionedThroughput {
    /// Whether it is on.
    pub enabled: bool,
    /// MiB/s per broker volume, when on.
    pub volume_mibps: Option<u32>,
}

/// What `DescribeClusterV2` tells about a cluster, as plain values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterFacts {
    /// Cluster ARN.
    pub arn: String,
    /// Cluster name.
    pub name: String,
    /// Provisioned or Serverless.
    pub kind: ClusterKind,
    /// `ACTIVE`, `CREATING`, `UPDATING`, `HEALING`, `MAINTENANCE`, ...
    pub state: String,
    /// The cluster's current version string (`UpdateBrokerStorage` needs it).
    pub current_version: String,
    /// Kafka version (Provisioned).
    pub kafka_version: Option<String>,
    /// Number of broker nodes (Provisioned).
    pub broker_count: Option<u32>,
    /// EBS volume size per broker in GiB (Provisioned; `None` for tiered-only or unknown).
    pub volume_gib: Option<u32>,
    /// Provisioned storage throughput (Provisioned, when configured).
    pub provisioned_throughput: Option<ProvisionedThroughput>,
    /// Enabled client authentication modes, sorted.
    pub client_auth: Vec<ClientAuthMode>,
}

impl ClusterFacts {
    /// Whether the cluster is MSK Serverless.
    pub fn is_serverless(&self) -> bool {
        self.kind == ClusterKind::Serverless
    }

    /// Whether the cluster is `ACTIVE` (changes such as storage updates need it).
    pub fn is_active(&self) -> bool {
        self.state.eq_ignore_ascii_case("ACTIVE")
    }

    /// Whether `mode` is enabled.
    pub fn accepts(&self, mode: ClientAuthMode) -> bool {
        self.client_auth.contains(&mode)
    }

    /// Whether MSK's topic API (`CreateTopic`, `DescribeTopic`, `UpdateTopic`, ...) serves this
    /// cluster: Provisioned clusters on Kafka 3.6.0 or later (Amazon MSK Developer Guide,
    /// "Create topics in an Amazon MSK cluster"); not MSK Serverless.
    pub fn supports_topic_api(&self) -> bool {
        self.kind == ClusterKind::Provisioned
            && self
                .kafka_version
                .as_deref()
                .and_then(kafka_major_minor)
                .is_some_and(|v| v >= (3, 6))
    }

    /// Total broker storage in bytes: brokers × EBS volume size. `None` for Serverless (no
    /// storage to size) or when either is unknown.
    pub fn storage_capacity_bytes(&self) -> Option<u64> {
        if self.is_serverless() {
            return None;
        }
        let brokers = u64::from(self.broker_count?);
        let gib = u64::from(self.volume_gib?);
        Some(brokers.saturating_mul(gib).saturating_mul(GIB))
    }

    /// The target's storage for the preflight ([`crate::topics::check_storage`]): capacity from
    /// [`ClusterFacts::storage_capacity_bytes`], use unknown (the MSK API does not report it;
    /// CloudWatch's `KafkaDataLogsDiskUsed` does).
    pub fn storage(&self) -> Option<StorageInfo> {
        self.storage_capacity_bytes()
            .filter(|c| *c > 0)
            .map(|capacity_bytes| StorageInfo {
                capacity_bytes,
                used_bytes: None,
            })
    }
}

/// `(major, minor)` of an MSK Kafka version string (`3.6.0`, `3.7.x`, `3.8.x.kraft`).
pub fn kafka_major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}
