//! Connection settings for one Kafka cluster (bootstrap servers + authentication).
//!
//! [`KafkaConnection::apply`] is the single place where Ferry translates its connection model
//! into librdkafka properties, and [`KafkaConnection::context`] the client context (OAUTHBEARER
//! tokens, see [`crate::auth`]); every client this crate builds (producer, consumers, admin) goes
//! through both. Secrets are held in [`Secret`], whose `Debug` prints `***`, so connections can
//! be logged safely.
//!
//! [`KafkaConnection::from_env`] reads a connection from `<PREFIX>_*` environment variables:
//!
//! | variable                    | meaning                                                        |
//! |-----------------------------|----------------------------------------------------------------|
//! | `<PREFIX>_BOOTSTRAP`        | bootstrap servers, `host:port[,host:port…]` (required unless `<PREFIX>_MSK_CLUSTER_ARN` is set) |
//! | `<PREFIX>_MSK_CLUSTER_ARN`  | an MSK cluster: without `<PREFIX>_BOOTSTRAP`, its bootstrap brokers for the security mode are read at cold start (`GetBootstrapBrokers`, by `ferry_lambda::resolve_secrets`) |
//! | `<PREFIX>_SECURITY`         | `plaintext` (default) · `scram-sha-512` · `scram-sha-256` · `tls` · `msk-iam` · `oauthbearer-unsecured-jwt` (local tests only) |
//! | `<PREFIX>_SECRET_ARN`       | Secrets Manager ARN of the credentials (`scram-*`: `{"username","password"}`; `tls`: `{"certificate","privateKey"[,"privateKeyPassword"]}`), read at cold start by `ferry_kafka::secrets` (fetched through `ferry_aws::SecretsManagerSource`) |
//! | `<PREFIX>_CA_SECRET_ARN`    | Secrets Manager ARN of a private root CA, `{"certificate": "<PEM>"}` (`scram-*`, `tls`) |
//! | `<PREFIX>_SASL_USERNAME`    | SCRAM user name (`scram-*` without `<PREFIX>_SECRET_ARN`)      |
//! | `<PREFIX>_SASL_PASSWORD`    | SCRAM password (`scram-*` without `<PREFIX>_SECRET_ARN`; local use only) |
//! | `<PREFIX>_TLS_CA_PEM`       | optional CA certificate(s), PEM (`tls`, `scram-*`)             |
//! | `<PREFIX>_TLS_CERT_PEM`     | optional client certificate, PEM (for `tls`, mutual TLS)       |
//! | `<PREFIX>_TLS_KEY_PEM`      | optional client private key, PEM (for `tls`, mutual TLS; local use only) |
//! | `<PREFIX>_REGION`           | AWS region for `msk-iam` (falls back to `AWS_REGION`)          |
//! | `<PREFIX>_OAUTH_PRINCIPAL`  | `sub` of the unsecured JWTs (`oauthbearer-unsecured-jwt`; default `ferry`) |
//! | `<PREFIX>_OAUTH_TOKEN_LIFETIME_SECS` | lifetime of each unsecured JWT, 1 to 86400 s (`oauthbearer-unsecured-jwt`; default 900, like MSK IAM tokens) |
//! | `<PREFIX>_CLIENT_ID`        | optional `client.id`                                           |
//!
//! Empty values count as unset.
//!
//! **Secrets Manager.** With `<PREFIX>_SECRET_ARN` (or `<PREFIX>_CA_SECRET_ARN`) set,
//! [`KafkaConnection::from_lookup`] records the reference in [`KafkaConnection::secrets`] and
//! leaves the values it stands for empty; the function then resolves it at cold start
//! ([`crate::secrets::resolve_connections`]) before building any client — a connection with
//! unresolved secrets refuses to build clients ([`BuildError::SecretsNotResolved`]). The secret
//! formats are the ones the Lambda Kafka event source mapping reads. The ARN is the only source
//! of what it holds: setting both an ARN and a value it provides (`SASL_USERNAME`,
//! `SASL_PASSWORD`, `TLS_CERT_PEM`, `TLS_KEY_PEM`; `TLS_CA_PEM` for the CA secret) is a
//! configuration error naming both ([`ConfigError::Conflict`]), and so is an ARN for a security
//! mode that has no use for it (`plaintext`, `msk-iam`, `oauthbearer-unsecured-jwt`).
//!
//! **MSK IAM** (`msk-iam`): `SASL_SSL` + `OAUTHBEARER` with tokens signed from the function's
//! AWS credentials (see [`crate::auth`]), for every client including admin clients
//! ([`crate::admin_token`]).
//!
//! **Unsecured JWT** (`oauthbearer-unsecured-jwt`), **for local testing only**:
//! `SASL_PLAINTEXT` with `OAUTHBEARER` and unsigned JWTs (`{"alg":"none"}`) that anyone can
//! forge, as Kafka's default `OAuthBearerUnsecuredValidatorCallbackHandler` accepts them (the
//! local stack's `OAUTH` listener, `scripts/stack`). Tokens come from the same
//! [`crate::auth::FerryContext`] callback and refresh schedule as MSK IAM tokens, so tests of
//! this mode exercise the MSK IAM token path without AWS. No TLS, no real authentication:
//! never point it at a shared cluster.

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use std::fmt;
use std::time::Duration;
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
        /// CA certificate(s) to trust, PEM; `None` uses the system trust store.
        ca_pem: Option<String>,
    },
    /// TLS, optionally mutual (`SSL`), e.g. MSK TLS on port 9094.
    Tls {
        /// CA certificate(s) to trust, PEM; `None` uses the system trust store.
        ca_pem: Option<String>,
        /// Client certificate for mutual TLS, PEM.
        cert_pem: Option<String>,
        /// Client private key for mutual TLS, PEM.
        key_pem: Option<Secret>,
        /// Password of an encrypted client private key.
        key_password: Option<Secret>,
    },
    /// Amazon MSK IAM authentication (`SASL_SSL` + `OAUTHBEARER`), e.g. port 9098; tokens come
    /// from [`crate::auth::FerryContext`] (admin clients: [`crate::admin_token::FerryAdmin`]).
    MskIam {
        /// AWS region of the cluster.
        region: String,
    },
    /// **Local testing only**: `SASL_PLAINTEXT` + `OAUTHBEARER` with unsigned JWTs
    /// (`{"alg":"none"}`, claims `sub`, `iat`, `exp`) generated by
    /// [`crate::auth::FerryContext`], which Kafka's default unsecured validator accepts (the
    /// local stack's `OAUTH` listener). Same token callback and refresh path as
    /// [`Security::MskIam`]; no security at all.
    OauthbearerUnsecuredJwt {
        /// The tokens' `sub` claim (the Kafka principal).
        principal: String,
        /// How long each token is valid; clients replace it at 80 % of that.
        lifetime: Duration,
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
            Self::OauthbearerUnsecuredJwt { .. } => "oauthbearer-unsecured-jwt",
        }
    }

    /// Whether clients authenticate with SASL/OAUTHBEARER tokens from
    /// [`crate::auth::FerryContext`] (`msk-iam`, `oauthbearer-unsecured-jwt`).
    pub fn uses_oauthbearer(&self) -> bool {
        matches!(
            self,
            Self::MskIam { .. } | Self::OauthbearerUnsecuredJwt { .. }
        )
    }
}

/// Default `sub` of unsecured JWTs ([`Security::OauthbearerUnsecuredJwt`]).
pub const DEFAULT_OAUTH_PRINCIPAL: &str = "ferry";

/// Default lifetime of unsecured JWTs: 15 minutes, like MSK IAM tokens.
pub const DEFAULT_OAUTH_TOKEN_LIFETIME: Duration = Duration::from_secs(900);

/// Longest accepted `<PREFIX>_OAUTH_TOKEN_LIFETIME_SECS`.
const MAX_OAUTH_TOKEN_LIFETIME_SECS: u64 = 86_400;

/// Where a cluster is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConnection {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// Authentication and encryption.
    pub security: Security,
    /// Optional `client.id` (shows up in broker logs and quotas).
    pub client_id: Option<String>,
    /// Secrets Manager secrets still to be read into `security` (see the module docs).
    pub secrets: SecretRefs,
    /// The `<PREFIX>` of the settings it was read from (e.g. `FERRY_SOURCE`), to name them in
    /// errors ([`crate::handshake`]); `None` for connections built in code.
    pub prefix: Option<String>,
}

/// A Secrets Manager secret named by a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// The setting that names it, e.g. `FERRY_SOURCE_SECRET_ARN`.
    pub var: String,
    /// The secret's ARN (not a secret itself).
    pub arn: String,
}

/// What a connection still has to read at cold start (all `None` once resolved): secrets, and
/// the MSK cluster whose bootstrap brokers it connects to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretRefs {
    /// `<PREFIX>_SECRET_ARN`: SCRAM credentials or the mutual-TLS client certificate.
    pub credentials: Option<SecretRef>,
    /// `<PREFIX>_CA_SECRET_ARN`: a private root CA.
    pub ca: Option<SecretRef>,
    /// `<PREFIX>_MSK_CLUSTER_ARN` when `<PREFIX>_BOOTSTRAP` is not set: the MSK cluster whose
    /// bootstrap brokers for the connection's security mode are read from the MSK API
    /// (`GetBootstrapBrokers`) at cold start; `bootstrap_servers` is empty until then. Not a
    /// secret: [`SecretRefs::is_empty`] does not count it.
    pub msk_cluster: Option<SecretRef>,
}

impl SecretRefs {
    /// Nothing left to read.
    pub fn is_empty(&self) -> bool {
        self.credentials.is_none() && self.ca.is_none()
    }
}

/// The contents of a credentials secret, already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// SASL/SCRAM user and password.
    Scram {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// Mutual-TLS client certificate.
    ClientCertificate {
        /// Certificate (chain), PEM.
        cert_pem: String,
        /// Private key, PEM.
        key_pem: Secret,
        /// Password of an encrypted private key.
        key_password: Option<Secret>,
    },
}

/// Which [`Credentials`] a connection's credentials secret must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialsKind {
    /// `{"username", "password"}`.
    Scram,
    /// `{"certificate", "privateKey", "privateKeyPassword"?}`.
    ClientCertificate,
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
    /// Two settings that must not be given together are both set.
    #[error("environment variables {var} and {other} are both set: {var} provides {what}, remove {other}")]
    Conflict {
        /// The setting that wins conceptually (the secret ARN).
        var: String,
        /// The setting that must be removed.
        other: String,
        /// What `var` provides.
        what: &'static str,
    },
}

/// A Kafka client could not be built.
#[derive(Debug, Error)]
pub enum BuildError {
    /// The thread that serves an admin client's OAUTHBEARER tokens could not be started
    /// ([`crate::admin_token`]).
    #[error("could not start the OAUTHBEARER token thread of a Kafka admin client: {0}")]
    TokenThread(#[source] std::io::Error),
    /// librdkafka rejected the configuration.
    #[error("could not create Kafka client: {0}")]
    Client(#[source] KafkaError),
    /// The connection names a secret that was never read (a bug in the caller: resolve
    /// connections at cold start with [`crate::secrets`]).
    #[error("{var} ({arn}) has not been read from Secrets Manager")]
    SecretsNotResolved {
        /// The setting naming the secret.
        var: String,
        /// Its ARN.
        arn: String,
    },
    /// The secret given does not fit the connection's security mode.
    #[error("{var}: secret {arn} holds {found} credentials, but the connection uses {security}")]
    CredentialsMismatch {
        /// The setting naming the secret.
        var: String,
        /// Its ARN.
        arn: String,
        /// What the secret holds.
        found: &'static str,
        /// The connection's security mode.
        security: &'static str,
    },
}

impl KafkaConnection {
    /// A plaintext connection (local stack, tests).
    pub fn plaintext(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            security: Security::Plaintext,
            client_id: None,
            secrets: SecretRefs::default(),
            prefix: None,
        }
    }

    /// The client context for this connection (OAUTHBEARER tokens for `msk-iam` and
    /// `oauthbearer-unsecured-jwt`; inert otherwise). Build every client with
    /// `config.create_with_context(conn.context())`, admin clients with
    /// [`crate::admin_token::FerryAdmin::new`].
    pub fn context(&self) -> crate::auth::FerryContext {
        crate::auth::FerryContext::for_connection(self)
    }

    /// Which credentials `secrets.credentials` must hold for this security mode (`None`: the
    /// mode takes no credentials secret).
    pub fn credentials_kind(&self) -> Option<CredentialsKind> {
        match self.security {
            Security::SaslScram { .. } => Some(CredentialsKind::Scram),
            Security::Tls { .. } => Some(CredentialsKind::ClientCertificate),
            Security::Plaintext
            | Security::MskIam { .. }
            | Security::OauthbearerUnsecuredJwt { .. } => None,
        }
    }

    /// Fills in the credentials read from `secrets.credentials` and marks it resolved.
    pub fn resolve_credentials(&mut self, credentials: Credentials) -> Result<(), BuildError> {
        let Some(reference) = self.secrets.credentials.clone() else {
            return Ok(());
        };
        let security = self.security.name();
        match (&mut self.security, credentials) {
            (
                Security::SaslScram {
                    username, password, ..
                },
                Credentials::Scram {
                    username: u,
                    password: p,
                },
            ) => {
                *username = u;
                *password = p;
            }
            (
                Security::Tls {
                    cert_pem,
                    key_pem,
                    key_password,
                    ..
                },
                Credentials::ClientCertificate {
                    cert_pem: c,
                    key_pem: k,
                    key_password: kp,
                },
            ) => {
                *cert_pem = Some(c);
                *key_pem = Some(k);
                *key_password = kp;
            }
            (_, found) => {
                return Err(BuildError::CredentialsMismatch {
                    var: reference.var,
                    arn: reference.arn,
                    found: match found {
                        Credentials::Scram { .. } => "SCRAM",
                        Credentials::ClientCertificate { .. } => "client certificate",
                    },
                    security,
                })
            }
        }
        self.secrets.credentials = None;
        Ok(())
    }

    /// Fills in the CA read from `secrets.ca` and marks it resolved.
    pub fn resolve_ca(&mut self, pem: String) -> Result<(), BuildError> {
        let Some(reference) = self.secrets.ca.clone() else {
            return Ok(());
        };
        match &mut self.security {
            Security::SaslScram { ca_pem, .. } | Security::Tls { ca_pem, .. } => {
                *ca_pem = Some(pem);
            }
            Security::Plaintext
            | Security::MskIam { .. }
            | Security::OauthbearerUnsecuredJwt { .. } => {
                return Err(BuildError::CredentialsMismatch {
                    var: reference.var,
                    arn: reference.arn,
                    found: "CA certificate",
                    security: self.security.name(),
                })
            }
        }
        self.secrets.ca = None;
        Ok(())
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
                ca_pem,
            } => {
                config
                    .set("security.protocol", "SASL_SSL")
                    .set("sasl.mechanism", mechanism.as_rdkafka())
                    .set("sasl.username", username)
                    .set("sasl.password", password.expose());
                if let Some(ca) = ca_pem {
                    config.set("ssl.ca.pem", ca);
                }
            }
            Security::Tls {
                ca_pem,
                cert_pem,
                key_pem,
                key_password,
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
                if let Some(password) = key_password {
                    config.set("ssl.key.password", password.expose());
                }
            }
            Security::MskIam { .. } => {
                config
                    .set("security.protocol", "SASL_SSL")
                    .set("sasl.mechanism", "OAUTHBEARER");
            }
            // Not librdkafka's own `enable.sasl.oauthbearer.unsecure.jwt`: the tokens come from
            // FerryContext, exactly as MSK IAM tokens do.
            Security::OauthbearerUnsecuredJwt { .. } => {
                config
                    .set("security.protocol", "SASL_PLAINTEXT")
                    .set("sasl.mechanism", "OAUTHBEARER");
            }
        }
    }

    /// A fresh [`ClientConfig`] with this connection applied, or
    /// [`BuildError::SecretsNotResolved`] if a secret it names was never read. Build the client
    /// with [`KafkaConnection::context`].
    pub fn client_config(&self) -> Result<ClientConfig, BuildError> {
        if let Some(r) = self
            .secrets
            .credentials
            .as_ref()
            .or(self.secrets.ca.as_ref())
        {
            return Err(BuildError::SecretsNotResolved {
                var: r.var.clone(),
                arn: r.arn.clone(),
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

        // The bootstrap servers, or the MSK cluster to read them from at cold start.
        let (bootstrap_servers, msk_cluster) =
            match (get(&var("BOOTSTRAP")), get(&var("MSK_CLUSTER_ARN"))) {
                (Some(b), _) => (b.trim().to_owned(), None),
                (None, Some(arn)) => (
                    String::new(),
                    Some(SecretRef {
                        var: var("MSK_CLUSTER_ARN"),
                        arn: arn.trim().to_owned(),
                    }),
                ),
                (None, None) => {
                    return Err(ConfigError::Missing {
                        var: var("BOOTSTRAP"),
                    })
                }
            };
        let client_id = get(&var("CLIENT_ID"));
        let secret_ref = |suffix: &str| {
            let name = var(suffix);
            get(&name).map(|arn| SecretRef {
                var: name,
                arn: arn.trim().to_owned(),
            })
        };
        let secrets = SecretRefs {
            credentials: secret_ref("SECRET_ARN"),
            ca: secret_ref("CA_SECRET_ARN"),
            msk_cluster,
        };
        // A value the secret provides must not also come from the environment.
        let conflict = |reference: &Option<SecretRef>, suffix: &str, what: &'static str| match (
            reference,
            get(&var(suffix)),
        ) {
            (Some(r), Some(_)) => Err(ConfigError::Conflict {
                var: r.var.clone(),
                other: var(suffix),
                what,
            }),
            _ => Ok(()),
        };
        let security_var = var("SECURITY");
        let security_value = get(&security_var);
        let security = match security_value
            .as_deref()
            .map(|s| s.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("plaintext") => Security::Plaintext,
            Some(s @ ("scram-sha-512" | "scram-sha-256")) => {
                let (username, password) = if secrets.credentials.is_some() {
                    let what = "the SCRAM credentials";
                    conflict(&secrets.credentials, "SASL_USERNAME", what)?;
                    conflict(&secrets.credentials, "SASL_PASSWORD", what)?;
                    (String::new(), Secret::new(""))
                } else {
                    (
                        required(var("SASL_USERNAME"))?,
                        Secret::new(required(var("SASL_PASSWORD"))?),
                    )
                };
                conflict(&secrets.ca, "TLS_CA_PEM", "the CA certificate")?;
                Security::SaslScram {
                    mechanism: if s == "scram-sha-256" {
                        ScramMechanism::Sha256
                    } else {
                        ScramMechanism::Sha512
                    },
                    username,
                    password,
                    ca_pem: get(&var("TLS_CA_PEM")),
                }
            }
            Some("tls") => {
                let what = "the client certificate and key";
                conflict(&secrets.credentials, "TLS_CERT_PEM", what)?;
                conflict(&secrets.credentials, "TLS_KEY_PEM", what)?;
                conflict(&secrets.ca, "TLS_CA_PEM", "the CA certificate")?;
                Security::Tls {
                    ca_pem: get(&var("TLS_CA_PEM")),
                    cert_pem: get(&var("TLS_CERT_PEM")),
                    key_pem: get(&var("TLS_KEY_PEM")).map(Secret::new),
                    key_password: None,
                }
            }
            Some("msk-iam") => {
                let region_var = var("REGION");
                let region = get(&region_var)
                    .or_else(|| get("AWS_REGION"))
                    .ok_or(ConfigError::Missing { var: region_var })?;
                Security::MskIam { region }
            }
            Some("oauthbearer-unsecured-jwt") => {
                let principal = get(&var("OAUTH_PRINCIPAL"))
                    .map_or_else(|| DEFAULT_OAUTH_PRINCIPAL.to_owned(), |p| p.trim().to_owned());
                let lifetime_var = var("OAUTH_TOKEN_LIFETIME_SECS");
                let lifetime = match get(&lifetime_var) {
                    None => DEFAULT_OAUTH_TOKEN_LIFETIME,
                    Some(v) => match v.trim().parse::<u64>() {
                        Ok(secs @ 1..=MAX_OAUTH_TOKEN_LIFETIME_SECS) => Duration::from_secs(secs),
                        _ => {
                            return Err(ConfigError::Invalid {
                                var: lifetime_var,
                                value: v,
                                expected: "a whole number of seconds from 1 to 86400",
                            })
                        }
                    },
                };
                Security::OauthbearerUnsecuredJwt {
                    principal,
                    lifetime,
                }
            }
            Some(_) => {
                return Err(ConfigError::Invalid {
                    var: security_var,
                    value: security_value.unwrap_or_default(),
                    expected: "plaintext, scram-sha-512, scram-sha-256, tls, msk-iam or oauthbearer-unsecured-jwt (local tests only)",
                })
            }
        };
        if matches!(
            security,
            Security::Plaintext
                | Security::MskIam { .. }
                | Security::OauthbearerUnsecuredJwt { .. }
        ) {
            if let Some(r) = secrets.credentials.as_ref().or(secrets.ca.as_ref()) {
                return Err(ConfigError::Invalid {
                    var: r.var.clone(),
                    value: r.arn.clone(),
                    expected: "no secret with security plaintext, msk-iam or oauthbearer-unsecured-jwt (secrets are for scram-* and tls)",
                });
            }
        }
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
            secrets,
            prefix: Some(prefix.to_owned()),
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
    fn an_msk_cluster_arn_stands_in_for_the_bootstrap_servers() {
        let arn = "arn:aws:kafka:eu-west-1:123456789012:cluster/target/abc-1";
        let conn = KafkaConnection::from_lookup(
            "FERRY_TARGET",
            env(&[
                ("FERRY_TARGET_MSK_CLUSTER_ARN", arn),
                ("FERRY_TARGET_SECURITY", "msk-iam"),
                ("FERRY_TARGET_REGION", "eu-west-1"),
            ]),
        )
        .unwrap();
        assert_eq!(conn.bootstrap_servers, "");
        assert_eq!(
            conn.secrets.msk_cluster,
            Some(SecretRef {
                var: "FERRY_TARGET_MSK_CLUSTER_ARN".into(),
                arn: arn.into()
            })
        );
        assert!(conn.secrets.is_empty(), "an ARN is not a secret to read");
        // Given both, the bootstrap servers win and nothing is read.
        let both = KafkaConnection::from_lookup(
            "FERRY_TARGET",
            env(&[
                ("FERRY_TARGET_MSK_CLUSTER_ARN", arn),
                ("FERRY_TARGET_BOOTSTRAP", "b-1:9098"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (both.bootstrap_servers.as_str(), both.secrets.msk_cluster),
            ("b-1:9098", None)
        );
        let neither = KafkaConnection::from_lookup("FERRY_TARGET", env(&[])).unwrap_err();
        assert!(
            neither.to_string().contains("FERRY_TARGET_BOOTSTRAP"),
            "{neither}"
        );
    }

    #[test]
    fn plaintext_is_the_default() {
        let conn = KafkaConnection::from_lookup(
            "FERRY_TARGET",
            env(&[("FERRY_TARGET_BOOTSTRAP", " 127.0.0.1:29092 ")]),
        )
        .unwrap();
        assert_eq!(
            conn,
            KafkaConnection {
                prefix: Some("FERRY_TARGET".into()),
                ..KafkaConnection::plaintext("127.0.0.1:29092")
            }
        );
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
    fn msk_iam_needs_a_region_and_builds_with_oauthbearer() {
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
        let config = conn.client_config().expect("msk-iam clients can be built");
        assert_eq!(config.get("sasl.mechanism"), Some("OAUTHBEARER"));
        assert_eq!(conn.context().msk_iam_region(), Some("eu-west-1"));
        // The context is installed: a consumer builds with it (nothing connects yet).
        let consumer: crate::auth::FerryConsumer = config
            .create_with_context(conn.context())
            .expect("consumer");
        assert_eq!(
            rdkafka::consumer::Consumer::context(&consumer).msk_iam_region(),
            Some("eu-west-1")
        );
    }

    #[test]
    fn unsecured_jwt_uses_sasl_plaintext_with_oauthbearer() {
        let conn = KafkaConnection::from_lookup(
            "FERRY_TEST_TARGET",
            env(&[
                ("FERRY_TEST_TARGET_BOOTSTRAP", "127.0.0.1:29094"),
                ("FERRY_TEST_TARGET_SECURITY", "OAuthBearer-Unsecured-JWT"),
            ]),
        )
        .unwrap();
        assert_eq!(
            conn.security,
            Security::OauthbearerUnsecuredJwt {
                principal: DEFAULT_OAUTH_PRINCIPAL.into(),
                lifetime: DEFAULT_OAUTH_TOKEN_LIFETIME,
            }
        );
        assert_eq!(conn.security.name(), "oauthbearer-unsecured-jwt");
        assert!(conn.security.uses_oauthbearer());
        assert_eq!(conn.credentials_kind(), None);
        let p = props(&conn);
        assert_eq!(p["security.protocol"], "SASL_PLAINTEXT");
        assert_eq!(p["sasl.mechanism"], "OAUTHBEARER");
        // Tokens come from FerryContext, not from librdkafka's own unsecured-JWT generator.
        assert!(!p.contains_key("enable.sasl.oauthbearer.unsecure.jwt"));
        assert!(!p.contains_key("sasl.oauthbearer.config"));

        let conn = KafkaConnection::from_lookup(
            "FERRY_TEST_TARGET",
            env(&[
                ("FERRY_TEST_TARGET_BOOTSTRAP", "127.0.0.1:29094"),
                ("FERRY_TEST_TARGET_SECURITY", "oauthbearer-unsecured-jwt"),
                ("FERRY_TEST_TARGET_OAUTH_PRINCIPAL", " alice "),
                ("FERRY_TEST_TARGET_OAUTH_TOKEN_LIFETIME_SECS", "15"),
            ]),
        )
        .unwrap();
        assert_eq!(
            conn.security,
            Security::OauthbearerUnsecuredJwt {
                principal: "alice".into(),
                lifetime: Duration::from_secs(15),
            }
        );

        for bad in ["0", "-5", "1.5", "86401", "soon"] {
            let err = KafkaConnection::from_lookup(
                "FERRY_TEST_TARGET",
                env(&[
                    ("FERRY_TEST_TARGET_BOOTSTRAP", "127.0.0.1:29094"),
                    ("FERRY_TEST_TARGET_SECURITY", "oauthbearer-unsecured-jwt"),
                    ("FERRY_TEST_TARGET_OAUTH_TOKEN_LIFETIME_SECS", bad),
                ]),
            )
            .unwrap_err();
            assert!(
                matches!(&err, ConfigError::Invalid { var, value, .. }
                    if var == "FERRY_TEST_TARGET_OAUTH_TOKEN_LIFETIME_SECS" && value == bad),
                "{err}"
            );
        }
        for other in ["plaintext", "tls", "scram-sha-512"] {
            let conn = KafkaConnection {
                security: match other {
                    "plaintext" => Security::Plaintext,
                    "tls" => Security::Tls {
                        ca_pem: None,
                        cert_pem: None,
                        key_pem: None,
                        key_password: None,
                    },
                    _ => Security::SaslScram {
                        mechanism: ScramMechanism::Sha512,
                        username: "u".into(),
                        password: Secret::new("p"),
                        ca_pem: None,
                    },
                },
                ..KafkaConnection::plaintext("b:1")
            };
            assert!(!conn.security.uses_oauthbearer(), "{other}");
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let conn = KafkaConnection {
            bootstrap_servers: "b:9096".into(),
            security: Security::SaslScram {
                mechanism: ScramMechanism::Sha512,
                username: "alice".into(),
                password: Secret::new("hunter2-password"),
                ca_pem: None,
            },
            client_id: None,
            secrets: SecretRefs::default(),
            prefix: None,
        };
        let dbg = format!("{conn:?} {:#?}", conn);
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("***"));
        assert!(dbg.contains("alice"));

        let tls = Security::Tls {
            ca_pem: None,
            cert_pem: Some("CERT".into()),
            key_pem: Some(Secret::new("-----BEGIN PRIVATE KEY----- abc")),
            key_password: Some(Secret::new("key-password-xyz")),
        };
        let dbg = format!("{tls:?}");
        assert!(!dbg.contains("PRIVATE"), "{dbg}");
        assert!(!dbg.contains("key-password"), "{dbg}");
        assert_eq!(Secret::new("x").to_string(), "***");
    }

    const ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_ferry-AbCdEf";
    const CA_ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ferry-ca-AbCdEf";

    #[test]
    fn secret_arn_replaces_scram_variables_and_must_be_resolved() {
        let mut conn = KafkaConnection::from_lookup(
            "FERRY_SOURCE",
            env(&[
                ("FERRY_SOURCE_BOOTSTRAP", "b:9096"),
                ("FERRY_SOURCE_SECURITY", "scram-sha-512"),
                ("FERRY_SOURCE_SECRET_ARN", ARN),
                ("FERRY_SOURCE_CA_SECRET_ARN", CA_ARN),
            ]),
        )
        .expect("no SASL_* variables needed with a secret");
        assert_eq!(
            conn.secrets.credentials,
            Some(SecretRef {
                var: "FERRY_SOURCE_SECRET_ARN".into(),
                arn: ARN.into()
            })
        );
        assert_eq!(conn.secrets.ca.as_ref().unwrap().arn, CA_ARN);
        assert_eq!(conn.credentials_kind(), Some(CredentialsKind::Scram));
        let err = conn.client_config().unwrap_err();
        assert!(
            matches!(&err, BuildError::SecretsNotResolved { var, .. } if var == "FERRY_SOURCE_SECRET_ARN"),
            "{err}"
        );

        let wrong = Credentials::ClientCertificate {
            cert_pem: "CERT".into(),
            key_pem: Secret::new("KEY"),
            key_password: None,
        };
        let err = conn.clone().resolve_credentials(wrong).unwrap_err();
        assert!(err.to_string().contains("FERRY_SOURCE_SECRET_ARN"), "{err}");
        assert!(err.to_string().contains("scram-sha-512"), "{err}");

        conn.resolve_credentials(Credentials::Scram {
            username: "ferry".into(),
            password: Secret::new("pw"),
        })
        .unwrap();
        assert!(matches!(
            conn.client_config().unwrap_err(),
            BuildError::SecretsNotResolved { ref var, .. } if var == "FERRY_SOURCE_CA_SECRET_ARN"
        ));
        conn.resolve_ca("CA-PEM".into()).unwrap();
        assert!(conn.secrets.is_empty());
        let p = props(&conn);
        assert_eq!(p["sasl.username"], "ferry");
        assert_eq!(p["sasl.password"], "pw");
        assert_eq!(p["ssl.ca.pem"], "CA-PEM");
        conn.client_config().expect("resolved");
    }

    #[test]
    fn secret_arn_for_mutual_tls() {
        let mut conn = KafkaConnection::from_lookup(
            "FERRY_TARGET",
            env(&[
                ("FERRY_TARGET_BOOTSTRAP", "b:9094"),
                ("FERRY_TARGET_SECURITY", "tls"),
                ("FERRY_TARGET_SECRET_ARN", ARN),
            ]),
        )
        .unwrap();
        assert_eq!(
            conn.credentials_kind(),
            Some(CredentialsKind::ClientCertificate)
        );
        conn.resolve_credentials(Credentials::ClientCertificate {
            cert_pem: "CERT".into(),
            key_pem: Secret::new("KEY"),
            key_password: Some(Secret::new("KP")),
        })
        .unwrap();
        let p = props(&conn);
        assert_eq!(p["security.protocol"], "SSL");
        assert_eq!(p["ssl.certificate.pem"], "CERT");
        assert_eq!(p["ssl.key.pem"], "KEY");
        assert_eq!(p["ssl.key.password"], "KP");
    }

    #[test]
    fn secret_arn_and_plaintext_value_together_is_an_error_naming_both() {
        for (security, other) in [
            ("scram-sha-512", "FERRY_SOURCE_SASL_PASSWORD"),
            ("scram-sha-256", "FERRY_SOURCE_SASL_USERNAME"),
            ("tls", "FERRY_SOURCE_TLS_KEY_PEM"),
            ("tls", "FERRY_SOURCE_TLS_CERT_PEM"),
        ] {
            let err = KafkaConnection::from_lookup(
                "FERRY_SOURCE",
                env(&[
                    ("FERRY_SOURCE_BOOTSTRAP", "b:9096"),
                    ("FERRY_SOURCE_SECURITY", security),
                    ("FERRY_SOURCE_SECRET_ARN", ARN),
                    ("FERRY_SOURCE_SASL_USERNAME", "u"),
                    (other, "plaintext-secret-value"),
                ]),
            )
            .unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("FERRY_SOURCE_SECRET_ARN"), "{msg}");
            assert!(
                msg.contains(other) || msg.contains("FERRY_SOURCE_SASL_USERNAME"),
                "{msg}"
            );
            assert!(!msg.contains("plaintext-secret-value"), "{msg}");
        }
        let err = KafkaConnection::from_lookup(
            "FERRY_SOURCE",
            env(&[
                ("FERRY_SOURCE_BOOTSTRAP", "b:9094"),
                ("FERRY_SOURCE_SECURITY", "tls"),
                ("FERRY_SOURCE_CA_SECRET_ARN", CA_ARN),
                ("FERRY_SOURCE_TLS_CA_PEM", "CA"),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            err,
            ConfigError::Conflict {
                var: "FERRY_SOURCE_CA_SECRET_ARN".into(),
                other: "FERRY_SOURCE_TLS_CA_PEM".into(),
                what: "the CA certificate",
            }
        );
    }

    #[test]
    fn secret_arn_without_a_use_is_an_error() {
        for security in ["plaintext", "msk-iam", "oauthbearer-unsecured-jwt"] {
            for var in ["FERRY_TARGET_SECRET_ARN", "FERRY_TARGET_CA_SECRET_ARN"] {
                let err = KafkaConnection::from_lookup(
                    "FERRY_TARGET",
                    env(&[
                        ("FERRY_TARGET_BOOTSTRAP", "b:9098"),
                        ("FERRY_TARGET_SECURITY", security),
                        ("AWS_REGION", "eu-west-1"),
                        (var, ARN),
                    ]),
                )
                .unwrap_err();
                assert!(
                    matches!(&err, ConfigError::Invalid { var: v, .. } if v == var),
                    "{err}"
                );
            }
        }
        // An empty ARN (the template's default) counts as unset.
        let conn = KafkaConnection::from_lookup(
            "FERRY_TARGET",
            env(&[
                ("FERRY_TARGET_BOOTSTRAP", "b:9092"),
                ("FERRY_TARGET_SECRET_ARN", ""),
                ("FERRY_TARGET_CA_SECRET_ARN", " "),
            ]),
        )
        .unwrap();
        assert!(conn.secrets.is_empty());
    }
}
