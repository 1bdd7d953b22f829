//! Connection settings for one Kafka cluster (bootstrap servers + authentication).
//!
//! [`KafkaConnection::apply`] is the single place where Ferry translates its connection model
//! into librdkafka properties; every client this crate builds (producer, consumers, admin) goes
//! through it. Secrets are held in [`Secret`], whose `Debug` prints `***`, so connections can be
//! logged safely.
//!
//! [`KafkaConnection::from_env`] reads a connection from `<PREFIX>_*` environment variables:
//!
//! | variable                    | meaning                                                        |
//! |-----------------------------|----------------------------------------------------------------|
//! | `<PREFIX>_BOOTSTRAP`        | bootstrap servers, `host:port[,host:port…]` (required)         |
//! | `<PREFIX>_SECURITY`         | `plaintext` (default) · `scram-sha-512` · `scram-sha-256` · `tls` · `msk-iam` |
//! | `<PREFIX>_SASL_USERNAME`    | SCRAM user name (required for `scram-*`)                       |
//! | `<PREFIX>_SASL_PASSWORD`    | SCRAM password (required for `scram-*`)                        |
//! | `<PREFIX>_TLS_CA_PEM`       | optional CA certificate(s), PEM (for `tls`)                    |
//! | `<PREFIX>_TLS_CERT_PEM`     | optional client certificate, PEM (for `tls`, mutual TLS)       |
//! | `<PREFIX>_TLS_KEY_PEM`      | optional client private key, PEM (for `tls`, mutual TLS)       |
//! | `<PREFIX>_REGION`           | AWS region for `msk-iam` (falls back to `AWS_REGION`)          |
//! | `<PREFIX>_CLIENT_ID`        | optional `client.id`                                           |
//!
//! Empty values count as unset.

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use std::fmt;
use thiserror::Error;

/// A secret string (password, private key). `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Call only where it is handed to the client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// SCRAM hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramMechanism {
    /// `SCRAM-SHA-256`.
    Sha256,
    /// `SCRAM-SHA-512` (what Amazon MSK uses).
    Sha512,
}

impl ScramMechanism {
    /// The `sasl.mechanism` value.
    pub fn as_rdkafka(self) -> &'static str {
        match self {
            Self::Sha256 => "SCRAM-SHA-256",
            Self::Sha512 => "SCRAM-SHA-512",
        }
    }
}

/// How to authenticate and encrypt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    /// No TLS, no authentication (local development only).
    Plaintext,
    /// SASL/SCRAM over TLS (`SASL_SSL`), e.g. MSK SCRAM on port 9096.
    SaslScram {
        /// Hash function.
        mechanism: ScramMechanism,
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// TLS, optionally mutual (`SSL`), e.g. MSK TLS on port 9094.
    Tls {
        /// CA certificate(s) to trust, PEM; `None` uses the system trust store.
        ca_pem: Option<String>,
        /// Client certificate for mutual TLS, PEM.
        cert_pem: Option<String>,
        /// Client private key for mutual TLS, PEM.
        key_pem: Option<Secret>,
    },
    /// Amazon MSK IAM authentication (`SASL_SSL` + `OAUTHBEARER`), e.g. port 9098.
    /// The token signer is not implemented yet: building a client with this fails with
    /// [`BuildError::Unsupported`].
    MskIam {
        /// AWS region of the cluster.
        region: String,
    },
}

impl Security {
    /// Short name as accepted by `<PREFIX>_SECURITY`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::SaslScram {
                mechanism: ScramMechanism::Sha256,
                ..
            } => "scram-sha-256",
            Self::SaslScram {
                mechanism: ScramMechanism::Sha512,
                ..
            } => "scram-sha-512",
            Self::Tls { .. } => "tls",
            Self::MskIam { .. } => "msk-iam",
        }
    }
}

/// Where a cluster is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConnection {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// Authentication and encryption.
    pub security: Security,
    /// Optional `client.id` (shows up in broker logs and quotas).
    pub client_id: Option<String>,
}

/// A connection could not be read from the environment.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("environment variable {var} is required but not set")]
    Missing {
        /// Variable name.
        var: String,
    },
    /// A variable has a value Ferry does not understand.
    #[error("environment variable {var} has invalid value {value:?}: expected {expected}")]
    Invalid {
        /// Variable name.
        var: String,
        /// The value found (never a secret).
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
}

/// A Kafka client could not be built.
#[derive(Debug, Error)]
pub enum BuildError {
    /// The connection asks for something this build cannot do yet.
    #[error("{what} is not supported yet")]
    Unsupported {
        /// What is missing.
        what: &'static str,
    },
    /// librdkafka rejected the configuration.
    #[error("could not create Kafka client: {0}")]
    Client(#[source] KafkaError),
}

impl KafkaConnection {
    /// A plaintext connection (local stack, tests).
    pub fn plaintext(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            security: Security::Plaintext,
            client_id: None,
        }
    }

    /// Returns a copy with `client.id` set.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Applies bootstrap servers, `client.id` and authentication to `config`. This is the only
    /// place where authentication properties are set.
    pub fn apply(&self, config: &mut ClientConfig) {
        config.set("bootstrap.servers", &self.bootstrap_servers);
        if let Some(id) = &self.client_id {
            config.set("client.id", id);
        }
        match &self.security {
            Security::Plaintext => {
                config.set("security.protocol", "PLAINTEXT");
            }
            Security::SaslScram {
                mechanism,
                username,
                password,
            } => {
                config
                    .set("security.protocol", "SASL_SSL")
                    .set("sasl.mechanism", mechanism.as_rdkafka())
                    .set("sasl.username", username)
                    .set("sasl.password", password.expose());
            }
            Security::Tls {
                ca_pem,
                cert_pem,
                key_pem,
            } => {
                config.set("security.protocol", "SSL");
                if let Some(ca) = ca_pem {
                    config.set("ssl.ca.pem", ca);
                }
                if let Some(cert) = cert_pem {
                    config.set("ssl.certificate.pem", cert);
                }
                if let Some(key) = key_pem {
                    config.set("ssl.key.pem", key.expose());
                }
            }
            Security::MskIam { .. } => {
                config
                    .set("security.protocol", "SASL_SSL")
                    .set("sasl.mechanism", "OAUTHBEARER");
            }
        }
    }

    /// A fresh [`ClientConfig`] with this connection applied, or
    /// [`BuildError::Unsupported`] if clients cannot be built for it yet.
    pub fn client_config(&self) -> Result<ClientConfig, BuildError> {
        if let Security::MskIam { .. } = self.security {
            return Err(BuildError::Unsupported {
                what: "MSK IAM authentication (security msk-iam)",
            });
        }
        let mut config = ClientConfig::new();
        self.apply(&mut config);
        Ok(config)
    }

    /// Reads a connection from `<prefix>_*` environment variables (see the module docs).
    /// `prefix` may be given with or without the trailing `_`, e.g. `"FERRY_TARGET"`.
    pub fn from_env(prefix: &str) -> Result<Self, ConfigError> {
        Self::from_lookup(prefix, |name| std::env::var(name).ok())
    }

    /// Like [`KafkaConnection::from_env`] but reads variables through `lookup` (for tests and
    /// for callers that already hold their configuration in a map).
    pub fn from_lookup(
        prefix: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let prefix = prefix.strip_suffix('_').unwrap_or(prefix);
        let var = |suffix: &str| format!("{prefix}_{suffix}");
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: String| match get(&name) {
            Some(v) => Ok(v),
            None => Err(ConfigError::Missing { var: name }),
        };

        let bootstrap_servers = required(var("BOOTSTRAP"))?.trim().to_owned();
        let client_id = get(&var("CLIENT_ID"));
        let security_var = var("SECURITY");
        let security_value = get(&security_var);
        let security = match security_value
            .as_deref()
            .map(|s| s.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("plaintext") => Security::Plaintext,
            Some(s @ ("scram-sha-512" | "scram-sha-256")) => Security::SaslScram {
                mechanism: if s == "scram-sha-256" {
                    ScramMechanism::Sha256
                } else {
                    ScramMechanism::Sha512
                },
                username: required(var("SASL_USERNAME"))?,
                password: Secret::new(required(var("SASL_PASSWORD"))?),
            },
            Some("tls") => Security::Tls {
                ca_pem: get(&var("TLS_CA_PEM")),
                cert_pem: get(&var("TLS_CERT_PEM")),
                key_pem: get(&var("TLS_KEY_PEM")).map(Secret::new),
            },
            Some("msk-iam") => {
                let region_var = var("REGION");
                let region = get(&region_var)
                    .or_else(|| get("AWS_REGION"))
                    .ok_or(ConfigError::Missing { var: region_var })?;
                Security::MskIam { region }
            }
            Some(_) => {
                return Err(ConfigError::Invalid {
                    var: security_var,
                    value: security_value.unwrap_or_default(),
                    expected: "plaintext, scram-sha-512, scram-sha-256, tls or msk-iam",
                })
            }
        };
        if let Security::Tls {
            cert_pem, key_pem, ..
        } = &security
        {
            if cert_pem.is_some() != key_pem.is_some() {
                let (var_name, value) = if cert_pem.is_some() {
                    (var("TLS_KEY_PEM"), "")
                } else {
                    (var("TLS_CERT_PEM"), "")
                };
                return Err(ConfigError::Invalid {
                    var: var_name,
                    value: value.to_owned(),
                    expected: "TLS_CERT_PEM and TLS_KEY_PEM to be set together",
                });
            }
        }
        Ok(Self {
            bootstrap_servers,
            security,
            client_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn props(conn: &KafkaConnection) -> HashMap<String, String> {
        let mut config = ClientConfig::new();
        conn.apply(&mut config);
        // `config_map` masks secrets, so read each value back with `get`.
        config
            .config_map()
            .keys()
            .map(|k| {
                (
                    (*k).to_owned(),
                    config.get(k).unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn plaintext_is_the_default() {
        let conn = KafkaConnection::from_lookup(
            "FERRY_TARGET",
            env(&[("FERRY_TARGET_BOOTSTRAP", " 127.0.0.1:29092 ")]),
        )
        .unwrap();
        assert_eq!(conn, KafkaConnection::plaintext("127.0.0.1:29092"));
        let p = props(&conn);
        assert_eq!(p["bootstrap.servers"], "127.0.0.1:29092");
        assert_eq!(p["security.protocol"], "PLAINTEXT");
        assert!(!p.contains_key("client.id"));
    }

    #[test]
    fn prefix_with_trailing_underscore_and_client_id() {
        let conn = KafkaConnection::from_lookup(
            "FERRY_SOURCE_",
            env(&[
                ("FERRY_SOURCE_BOOTSTRAP", "b:1"),
                ("FERRY_SOURCE_SECURITY", "PLAINTEXT"),
                ("FERRY_SOURCE_CLIENT_ID", "ferry-mirror"),
            ]),
        )
        .unwrap();
        assert_eq!(conn.client_id.as_deref(), Some("ferry-mirror"));
        assert_eq!(props(&conn)["client.id"], "ferry-mirror");
    }

    #[test]
    fn missing_bootstrap_names_the_variable() {
        let err =
            KafkaConnection::from_lookup("FERRY_TARGET", env(&[("FERRY_TARGET_BOOTSTRAP", "")]))
                .unwrap_err();
        assert_eq!(
            err,
            ConfigError::Missing {
                var: "FERRY_TARGET_BOOTSTRAP".into()
            }
        );
        assert!(err.to_string().contains("FERRY_TARGET_BOOTSTRAP"));
    }

    #[test]
    fn scram_requires_username_and_password() {
        let err = KafkaConnection::from_lookup(
            "FERRY_TARGET",
            env(&[
                ("FERRY_TARGET_BOOTSTRAP", "b:9096"),
                ("FERRY_TARGET_SECURITY", "scram-sha-512"),
                ("FERRY_TARGET_SASL_USERNAME", "alice"),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            err,
            ConfigError::Missing {
                var: "FERRY_TARGET_SASL_PASSWORD".into()
            }
        );
    }

    #[test]
    fn scram_sets_sasl_ssl() {
        for (name, mech) in [
            ("scram-sha-512", "SCRAM-SHA-512"),
            ("Scram-SHA-256", "SCRAM-SHA-256"),
        ] {
            let conn = KafkaConnection::from_lookup(
                "FERRY_TARGET",
                env(&[
                    ("FERRY_TARGET_BOOTSTRAP", "b:9096"),
                    ("FERRY_TARGET_SECURITY", name),
                    ("FERRY_TARGET_SASL_USERNAME", "alice"),
                    ("FERRY_TARGET_SASL_PASSWORD", "s3cr3t"),
                ]),
            )
            .unwrap();
            let p = props(&conn);
            assert_eq!(p["security.protocol"], "SASL_SSL");
            assert_eq!(p["sasl.mechanism"], mech);
            assert_eq!(p["sasl.username"], "alice");
            assert_eq!(p["sasl.password"], "s3cr3t");
            assert_eq!(conn.security.name(), name.to_ascii_lowercase());
        }
    }

    #[test]
    fn invalid_security_names_variable_and_value() {
        let err = KafkaConnection::from_lookup(
            "FERRY_TARGET",
            env(&[
                ("FERRY_TARGET_BOOTSTRAP", "b:1"),
                ("FERRY_TARGET_SECURITY", "kerberos"),
            ]),
        )
        .unwrap_err();
        match &err {
            ConfigError::Invalid { var, value, .. } => {
                assert_eq!(var, "FERRY_TARGET_SECURITY");
                assert_eq!(value, "kerberos");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("FERRY_TARGET_SECURITY"));
    }

    #[test]
    fn tls_with_and_without_client_cert() {
        let conn = KafkaConnection::from_lookup(
            "FERRY_TARGET",
            env(&[
                ("FERRY_TARGET_BOOTSTRAP", "b:9094"),
                ("FERRY_TARGET_SECURITY", "tls"),
            ]),
        )
        .unwrap();
        let p = props(&conn);
        assert_eq!(p["security.protocol"], "SSL");
        assert!(!p.contains_key("ssl.ca.pem"));

        let conn = KafkaConnection::from_lookup(
            "FERRY_TARGET",
            env(&[
                ("FERRY_TARGET_BOOTSTRAP", "b:9094"),
                ("FERRY_TARGET_SECURITY", "tls"),
                ("FERRY_TARGET_TLS_CA_PEM", "CA"),
                ("FERRY_TARGET_TLS_CERT_PEM", "CERT"),
                ("FERRY_TARGET_TLS_KEY_PEM", "KEY"),
            ]),
        )
        .unwrap();
        let p = props(&conn);
        assert_eq!(p["ssl.ca.pem"], "CA");
        assert_eq!(p["ssl.certificate.pem"], "CERT");
        assert_eq!(p["ssl.key.pem"], "KEY");

        let err = KafkaConnection::from_lookup(
            "FERRY_TARGET",
            env(&[
                ("FERRY_TARGET_BOOTSTRAP", "b:9094"),
                ("FERRY_TARGET_SECURITY", "tls"),
                ("FERRY_TARGET_TLS_CERT_PEM", "CERT"),
            ]),
        )
        .unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { ref var, .. } if var == "FERRY_TARGET_TLS_KEY_PEM")
        );
    }

    #[test]
    fn msk_iam_needs_a_region_and_is_not_buildable_yet() {
        let err = KafkaConnection::from_lookup(
            "FERRY_TARGET",
            env(&[
                ("FERRY_TARGET_BOOTSTRAP", "b:9098"),
                ("FERRY_TARGET_SECURITY", "msk-iam"),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            err,
            ConfigError::Missing {
                var: "FERRY_TARGET_REGION".into()
            }
        );

        let conn = KafkaConnection::from_lookup(
            "FERRY_TARGET",
            env(&[
                ("FERRY_TARGET_BOOTSTRAP", "b:9098"),
                ("FERRY_TARGET_SECURITY", "msk-iam"),
                ("AWS_REGION", "eu-west-1"),
            ]),
        )
        .unwrap();
        assert_eq!(
            conn.security,
            Security::MskIam {
                region: "eu-west-1".into()
            }
        );
        let p = props(&conn);
        assert_eq!(p["security.protocol"], "SASL_SSL");
        assert_eq!(p["sasl.mechanism"], "OAUTHBEARER");
        let err = conn.client_config().unwrap_err();
        assert!(matches!(err, BuildError::Unsupported { .. }));
        assert!(err.to_string().contains("not supported yet"));
    }

    #[test]
    fn debug_redacts_secrets() {
        let conn = KafkaConnection {
            bootstrap_servers: "b:9096".into(),
            security: Security::SaslScram {
                mechanism: ScramMechanism::Sha512,
                username: "alice".into(),
                password: Secret::new("hunter2-password"),
            },
            client_id: None,
        };
        let dbg = format!("{conn:?} {:#?}", conn);
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("***"));
        assert!(dbg.contains("alice"));

        let tls = Security::Tls {
            ca_pem: None,
            cert_pem: Some("CERT".into()),
            key_pem: Some(Secret::new("-----BEGIN PRIVATE KEY----- abc")),
        };
        let dbg = format!("{tls:?}");
        assert!(!dbg.contains("PRIVATE"), "{dbg}");
        assert_eq!(Secret::new("x").to_string(), "***");
    }
}
