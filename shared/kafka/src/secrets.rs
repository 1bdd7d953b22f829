//! Cluster credentials named by a connection's settings, read once at cold start.
//!
//! A [`KafkaConnection`] read from `<PREFIX>_*` settings records the secrets its settings name
//! (`<PREFIX>_SECRET_ARN`, `<PREFIX>_CA_SECRET_ARN`, see [`crate::config`]) and refuses to build
//! clients until they are resolved. [`resolve_connections`] does that for a function's
//! connections: it asks for a [`SecretSource`] (the port in `ferry_core::ports`; AWS Secrets
//! Manager in production, `ferry_aws::secrets::SecretsManagerSource`) only if some connection
//! names a secret, reads each secret, parses it and fills the connection in.
//!
//! Secret formats (the ones the Lambda Kafka event source mapping reads, so one secret serves
//! the mappings and the functions):
//!
//! | setting | security | secret JSON |
//! |---|---|---|
//! | `<PREFIX>_SECRET_ARN` | `scram-sha-512`, `scram-sha-256` | `{"username": "...", "password": "..."}` (`BASIC_AUTH`) |
//! | `<PREFIX>_SECRET_ARN` | `tls` (mutual TLS) | `{"certificate": "<PEM>", "privateKey": "<PEM>", "privateKeyPassword": "..."}`, password optional (`CLIENT_CERTIFICATE_TLS_AUTH`) |
//! | `<PREFIX>_CA_SECRET_ARN` | `scram-*`, `tls` | `{"certificate": "<PEM>"}` (`SERVER_ROOT_CA_CERTIFICATE`) |
//!
//! Values go straight into [`Secret`] (redacted `Debug`/`Display`); errors name the setting and
//! the ARN, never a secret's content (JSON parse errors are not passed on, they can quote the
//! input). The parsing and merging are unit-tested with an in-memory [`SecretSource`].

use crate::{BuildError, Credentials, CredentialsKind, KafkaConnection, Secret, SecretRef};
use ferry_core::ports::{BoxError, SecretSource};
use serde_json::{Map, Value};
use std::future::Future;
use thiserror::Error;

/// A secret could not be read or does not have the expected shape. Every message names the
/// setting and the secret's ARN, never its content.
#[derive(Debug, Error)]
pub enum SecretError {
    /// Secrets Manager did not return the secret.
    #[error("{var}: could not read secret {arn}: {source}")]
    Fetch {
        /// Setting naming the secret.
        var: String,
        /// Secret ARN.
        arn: String,
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// The secret is not a JSON object.
    #[error("{var}: secret {arn} is not a JSON object")]
    NotJson {
        /// Setting naming the secret.
        var: String,
        /// Secret ARN.
        arn: String,
    },
    /// A required field is missing, empty or not a string.
    #[error("{var}: secret {arn} has no {field:?} field")]
    MissingField {
        /// Setting naming the secret.
        var: String,
        /// Secret ARN.
        arn: String,
        /// The field.
        field: &'static str,
    },
    /// The secret does not fit the connection (e.g. a secret for a security mode without one).
    #[error(transparent)]
    Connection(#[from] BuildError),
}

/// Resolves the secrets of every connection. `make_source` is called (building, say, a Secrets
/// Manager client) only when some connection names a secret: a no-op otherwise. Call at cold
/// start, before building clients; errors fail the cold start (`Ferry.Config`).
pub async fn resolve_connections<S, F, Fut>(
    connections: &mut [&mut KafkaConnection],
    make_source: F,
) -> Result<(), SecretError>
where
    S: SecretSource,
    F: FnOnce() -> Fut,
    Fut: Future<Output = S>,
{
    if connections.iter().all(|c| c.secrets.is_empty()) {
        return Ok(());
    }
    let source = make_source().await;
    resolve_all(connections, &source).await
}

/// [`resolve_connections`] with a given [`SecretSource`].
pub async fn resolve_all(
    connections: &mut [&mut KafkaConnection],
    source: &impl SecretSource,
) -> Result<(), SecretError> {
    for conn in connections.iter_mut() {
        resolve(conn, source).await?;
    }
    Ok(())
}

/// Reads the secrets `conn` names and fills them in.
pub async fn resolve(
    conn: &mut KafkaConnection,
    source: &impl SecretSource,
) -> Result<(), SecretError> {
    if let Some(reference) = conn.secrets.credentials.clone() {
        let object = fetch_object(source, &reference).await?;
        let credentials = match conn.credentials_kind() {
            Some(CredentialsKind::Scram) => Credentials::Scram {
                username: field(&object, &reference, "username")?,
                password: Secret::new(field(&object, &reference, "password")?),
            },
            Some(CredentialsKind::ClientCertificate) => Credentials::ClientCertificate {
                cert_pem: field(&object, &reference, "certificate")?,
                key_pem: Secret::new(field(&object, &reference, "privateKey")?),
                key_password: optional_field(&object, "privateKeyPassword").map(Secret::new),
            },
            // `KafkaConnection::from_lookup` refuses such settings; a hand-built connection
            // gets the mismatch error from `resolve_credentials`.
            None => Credentials::Scram {
                username: field(&object, &reference, "username")?,
                password: Secret::new(field(&object, &reference, "password")?),
            },
        };
        conn.resolve_credentials(credentials)?;
        tracing::info!(
            var = reference.var.as_str(),
            arn = reference.arn.as_str(),
            "cluster credentials read from Secrets Manager"
        );
    }
    if let Some(reference) = conn.secrets.ca.clone() {
        let object = fetch_object(source, &reference).await?;
        conn.resolve_ca(field(&object, &reference, "certificate")?)?;
        tracing::info!(
            var = reference.var.as_str(),
            arn = reference.arn.as_str(),
            "cluster CA certificate read from Secrets Manager"
        );
    }
    Ok(())
}

async fn fetch_object(
    source: &impl SecretSource,
    reference: &SecretRef,
) -> Result<Map<String, Value>, SecretError> {
    let text = source
        .secret_string(&reference.arn)
        .await
        .map_err(|source| SecretError::Fetch {
            var: reference.var.clone(),
            arn: reference.arn.clone(),
            source,
        })?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(SecretError::NotJson {
            var: reference.var.clone(),
            arn: reference.arn.clone(),
        }),
    }
}

fn optional_field(object: &Map<String, Value>, name: &str) -> Option<String> {
    object
        .get(name)
        .and_then(Value::as_str)
        .filter(|v| !v.trim().is_empty())
        .map(str::to_owned)
}

fn field(
    object: &Map<String, Value>,
    reference: &SecretRef,
    name: &'static str,
) -> Result<String, SecretError> {
    optional_field(object, name).ok_or_else(|| SecretError::MissingField {
        var: reference.var.clone(),
        arn: reference.arn.clone(),
        field: name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Security;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// In-memory [`SecretSource`]: ARN → secret string; counts reads.
    #[derive(Default)]
    struct FakeSecrets {
        secrets: HashMap<String, String>,
        reads: AtomicUsize,
    }

    impl FakeSecrets {
        fn with(pairs: &[(&str, &str)]) -> Self {
            Self {
                secrets: pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                reads: AtomicUsize::new(0),
            }
        }
    }

    impl SecretSource for FakeSecrets {
        async fn secret_string(&self, arn: &str) -> Result<String, BoxError> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            self.secrets
                .get(arn)
                .cloned()
                .ok_or_else(|| format!("ResourceNotFoundException: {arn}").into())
        }
    }

    const ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_ferry-x1";
    const CA_ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ferry-ca-x2";
    const PASSWORD: &str = "pa55-Secret-Value-91";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEsecretkey\n-----END PRIVATE KEY-----";

    fn conn(pairs: &[(&str, &str)]) -> KafkaConnection {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        KafkaConnection::from_lookup("FERRY_SOURCE", |k| map.get(k).map(|v| (*v).to_owned()))
            .unwrap()
    }

    fn scram_with_secret() -> KafkaConnection {
        conn(&[
            ("FERRY_SOURCE_BOOTSTRAP", "b:9096"),
            ("FERRY_SOURCE_SECURITY", "scram-sha-512"),
            ("FERRY_SOURCE_SECRET_ARN", ARN),
        ])
    }

    #[tokio::test]
    async fn scram_credentials_and_ca_from_secrets() {
        let mut c = conn(&[
            ("FERRY_SOURCE_BOOTSTRAP", "b:9096"),
            ("FERRY_SOURCE_SECURITY", "scram-sha-256"),
            ("FERRY_SOURCE_SECRET_ARN", ARN),
            ("FERRY_SOURCE_CA_SECRET_ARN", CA_ARN),
        ]);
        let secrets = FakeSecrets::with(&[
            (
                ARN,
                &format!(r#"{{"username":"ferry","password":"{PASSWORD}"}}"#),
            ),
            (
                CA_ARN,
                r#"{"certificate":"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----"}"#,
            ),
        ]);
        resolve(&mut c, &secrets).await.unwrap();
        assert!(c.secrets.is_empty());
        match &c.security {
            Security::SaslScram {
                username,
                password,
                ca_pem,
                ..
            } => {
                assert_eq!(username, "ferry");
                assert_eq!(password.expose(), PASSWORD);
                assert!(ca_pem.as_deref().unwrap().contains("\nCA\n"));
            }
            other => panic!("{other:?}"),
        }
        let config = c.client_config().expect("resolved connections build");
        assert_eq!(config.get("sasl.password"), Some(PASSWORD));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains(PASSWORD), "{dbg}");
    }

    #[tokio::test]
    async fn mutual_tls_client_certificate_from_a_secret() {
        let mut c = conn(&[
            ("FERRY_SOURCE_BOOTSTRAP", "b:9094"),
            ("FERRY_SOURCE_SECURITY", "tls"),
            ("FERRY_SOURCE_SECRET_ARN", ARN),
        ]);
        let json = serde_json::json!({
            "certificate": "-----BEGIN CERTIFICATE-----\nCERT\n-----END CERTIFICATE-----",
            "privateKey": KEY,
            "privateKeyPassword": "kp-secret",
        });
        let secrets = FakeSecrets::with(&[(ARN, &json.to_string())]);
        resolve(&mut c, &secrets).await.unwrap();
        let config = c.client_config().unwrap();
        assert_eq!(config.get("ssl.key.pem"), Some(KEY));
        assert_eq!(config.get("ssl.key.password"), Some("kp-secret"));
        assert!(config.get("ssl.certificate.pem").unwrap().contains("CERT"));
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("secretkey") && !dbg.contains("kp-secret"),
            "{dbg}"
        );

        // The password is optional.
        let mut c = conn(&[
            ("FERRY_SOURCE_BOOTSTRAP", "b:9094"),
            ("FERRY_SOURCE_SECURITY", "tls"),
            ("FERRY_SOURCE_SECRET_ARN", ARN),
        ]);
        let json = serde_json::json!({"certificate": "CERT", "privateKey": KEY});
        resolve(&mut c, &FakeSecrets::with(&[(ARN, &json.to_string())]))
            .await
            .unwrap();
        assert_eq!(c.client_config().unwrap().get("ssl.key.password"), None);
    }

    #[tokio::test]
    async fn missing_field_names_setting_arn_and_field() {
        let mut c = scram_with_secret();
        let secrets = FakeSecrets::with(&[(ARN, r#"{"username":"ferry","pass":"x"}"#)]);
        let err = resolve(&mut c, &secrets).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(r#"FERRY_SOURCE_SECRET_ARN: secret {ARN} has no "password" field"#)
        );
        // Empty or non-string values count as missing.
        for json in [
            r#"{"username":"ferry","password":""}"#,
            r#"{"username":"ferry","password":7777777}"#,
        ] {
            let mut c = scram_with_secret();
            let err = resolve(&mut c, &FakeSecrets::with(&[(ARN, json)]))
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    SecretError::MissingField {
                        field: "password",
                        ..
                    }
                ),
                "{err}"
            );
            assert!(!err.to_string().contains("7777777"), "{err}");
        }
        // Still unresolved: no client can be built by mistake.
        assert!(c.client_config().is_err());
    }

    #[tokio::test]
    async fn malformed_secret_never_quotes_its_content() {
        for text in [
            PASSWORD,
            "[\"pa55-Secret-Value-91\"]",
            "{\"password\": pa55-Secret",
        ] {
            let mut c = scram_with_secret();
            let err = resolve(&mut c, &FakeSecrets::with(&[(ARN, text)]))
                .await
                .unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, SecretError::NotJson { .. }), "{msg}");
            assert!(
                msg.starts_with("FERRY_SOURCE_SECRET_ARN: secret arn:"),
                "{msg}"
            );
            assert!(!msg.contains("pa55"), "{msg}");
        }
    }

    #[tokio::test]
    async fn unreadable_secret_names_the_setting() {
        let mut c = conn(&[
            ("FERRY_SOURCE_BOOTSTRAP", "b:9094"),
            ("FERRY_SOURCE_SECURITY", "tls"),
            ("FERRY_SOURCE_CA_SECRET_ARN", CA_ARN),
        ]);
        let err = resolve(&mut c, &FakeSecrets::default()).await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "FERRY_SOURCE_CA_SECRET_ARN: could not read secret {CA_ARN}"
            )),
            "{msg}"
        );
        // A CA secret without "certificate".
        let secrets = FakeSecrets::with(&[(CA_ARN, r#"{"cert":"x"}"#)]);
        let err = resolve(&mut c, &secrets).await.unwrap_err();
        assert!(
            err.to_string().contains(r#"has no "certificate" field"#),
            "{err}"
        );
    }

    #[tokio::test]
    async fn connections_without_secrets_read_nothing() {
        let secrets = FakeSecrets::default();
        let mut a = KafkaConnection::plaintext("a:9092");
        let mut b = scram_with_secret();
        let before = a.clone();
        resolve_all(&mut [&mut a], &secrets).await.unwrap();
        assert_eq!(a, before);
        assert_eq!(secrets.reads.load(Ordering::Relaxed), 0);
        // And resolve_connections does not even build a source for them.
        resolve_connections(&mut [&mut a], || -> std::future::Ready<FakeSecrets> {
            panic!("no connection names a secret: no source must be built")
        })
        .await
        .unwrap();
        // When one does, the source is built once and read.
        let mut c = scram_with_secret();
        resolve_connections(&mut [&mut a, &mut c], || async {
            FakeSecrets::with(&[(ARN, r#"{"username":"u","password":"p"}"#)])
        })
        .await
        .unwrap();
        assert!(c.secrets.is_empty());

        let secrets = FakeSecrets::with(&[(ARN, r#"{"username":"u","password":"p"}"#)]);
        resolve_all(&mut [&mut a, &mut b], &secrets).await.unwrap();
        assert_eq!(secrets.reads.load(Ordering::Relaxed), 1);
        // Resolving again is a no-op.
        resolve(&mut b, &secrets).await.unwrap();
        assert_eq!(secrets.reads.load(Ordering::Relaxed), 1);
    }
}
