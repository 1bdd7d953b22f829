//! The cold-start handshake check: one metadata request per authenticating connection
//! (`scram-*`, `tls`), bounded by a short timeout, so that a wrong SCRAM password, a client
//! certificate the cluster does not trust or a CA that does not sign the brokers' certificate
//! fails the cold start with an error naming the setting to fix — instead of every invocation
//! timing out while librdkafka retries in the background.
//!
//! Only SASL authentication failures (librdkafka's `_AUTHENTICATION`, the broker's
//! `SASL_AUTHENTICATION_FAILED`) and TLS handshake failures (`_SSL`, and a `_TRANSPORT` error
//! carrying a TLS alert: with TLS 1.3 the broker refuses a client certificate only after the
//! client's side of the handshake is done) fail the check. A cluster
//! that does not answer in time, or any other error, is logged and passes: the cold start must
//! not fail because the cluster is briefly unavailable, the invocations retry that themselves.
//!
//! Which setting is named ([`AuthSettings`], taken *before* the secrets are resolved, since
//! resolving forgets where the values came from): the credentials secret
//! (`<PREFIX>_SECRET_ARN`) or the variables holding them (`<PREFIX>_SASL_USERNAME`/
//! `_SASL_PASSWORD`, `<PREFIX>_TLS_CERT_PEM`/`_TLS_KEY_PEM`) for a rejected password or client
//! certificate, the CA (`<PREFIX>_CA_SECRET_ARN` or `<PREFIX>_TLS_CA_PEM`) when the client could
//! not verify the broker's certificate. Messages carry librdkafka's reason (which never holds a
//! credential; any secret value of the connection is masked all the same) and never a secret.

use crate::{KafkaConnection, Security};
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use rdkafka::ClientConfig;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use thiserror::Error;

/// How long the cold-start check waits for a cluster by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The settings that hold a connection's credentials and CA, named in [`HandshakeError`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// The credentials: `FERRY_SOURCE_SECRET_ARN`, or `FERRY_SOURCE_SASL_USERNAME/_SASL_PASSWORD`.
    pub credentials: String,
    /// The CA: `FERRY_SOURCE_CA_SECRET_ARN`, or `FERRY_SOURCE_TLS_CA_PEM`.
    pub ca: String,
    /// The listener: `FERRY_SOURCE_BOOTSTRAP/FERRY_SOURCE_SECURITY` (TLS to a listener that
    /// does not speak it).
    pub listener: String,
}

impl AuthSettings {
    /// The settings of `conn`, or `None` if it does not authenticate with SCRAM or TLS. Take
    /// them before resolving the connection's secrets.
    pub fn of(conn: &KafkaConnection) -> Option<Self> {
        let prefix = conn.prefix.as_deref().unwrap_or("<PREFIX>");
        let from_env = match &conn.security {
            Security::SaslScram { .. } => format!("{prefix}_SASL_USERNAME/{prefix}_SASL_PASSWORD"),
            Security::Tls { .. } => format!("{prefix}_TLS_CERT_PEM/{prefix}_TLS_KEY_PEM"),
            _ => return None,
        };
        Some(Self {
            credentials: conn
                .secrets
                .credentials
                .as_ref()
                .map_or(from_env, |r| r.var.clone()),
            ca: conn
                .secrets
                .ca
                .as_ref()
                .map_or_else(|| format!("{prefix}_TLS_CA_PEM"), |r| r.var.clone()),
            listener: format!("{prefix}_BOOTSTRAP/{prefix}_SECURITY"),
        })
    }
}

/// The cluster refused the connection's credentials or the TLS handshake failed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HandshakeError {
    /// SASL authentication failed (wrong user or password).
    #[error("{setting}: the cluster at {bootstrap} refused the SCRAM credentials ({security}): {reason}")]
    Authentication {
        /// The setting holding the credentials.
        setting: String,
        /// Bootstrap servers.
        bootstrap: String,
        /// Security mode.
        security: &'static str,
        /// librdkafka's reason (no secret).
        reason: String,
    },
    /// The TLS handshake failed: the cluster refused the client certificate, or the client
    /// could not verify the broker's certificate.
    #[error("{setting}: TLS handshake with the cluster at {bootstrap} failed ({security}, {what}): {reason}")]
    Tls {
        /// The setting to fix: the client certificate's or the CA's.
        setting: String,
        /// Bootstrap servers.
        bootstrap: String,
        /// Security mode.
        security: &'static str,
        /// What is at fault.
        what: &'static str,
        /// librdkafka's reason (no secret).
        reason: String,
    },
}

/// Records the first authentication or TLS error librdkafka reports.
/// Also keeps the last other error, for the warning of an inconclusive check.
#[derive(Default)]
struct CheckContext {
    failure: Mutex<Option<(RDKafkaErrorCode, String)>>,
    last_other: Mutex<Option<String>>,
}

impl CheckContext {
    fn failure(&self) -> Option<(RDKafkaErrorCode, String)> {
        self.failure.lock().map(|f| f.clone()).unwrap_or(None)
    }

    fn last_other(&self) -> Option<String> {
        self.last_other.lock().map(|f| f.clone()).unwrap_or(None)
    }
}

fn is_handshake_failure(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::Authentication
            | RDKafkaErrorCode::SaslAuthenticationFailed
            | RDKafkaErrorCode::SSL
    )
}

impl ClientContext for CheckContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        tracing::debug!(target: "librdkafka", facility = fac, ?level, "{log_message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let Some(code) = error.rdkafka_error_code() else {
            return;
        };
        // With TLS 1.3 the client's handshake completes before the broker checks the client
        // certificate; the broker's refusal then arrives as a TLS alert on the first read,
        // which librdkafka reports as a transport failure ("... SSL alert number 42").
        let code = if code == RDKafkaErrorCode::BrokerTransportFailure
            && reason.contains("SSL alert number")
        {
            RDKafkaErrorCode::SSL
        } else {
            code
        };
        if is_handshake_failure(code) {
            if let Ok(mut failure) = self.failure.lock() {
                failure.get_or_insert_with(|| (code, reason.to_owned()));
            }
        } else {
            tracing::debug!(target: "librdkafka", %error, "{reason}");
            if let Ok(mut last) = self.last_other.lock() {
                *last = Some(reason.to_owned());
            }
        }
    }
}

impl ProducerContext for CheckContext {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::producer::DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

/// Checks that `conn` can authenticate, within `timeout` (see the module docs); `settings` are
/// the connection's [`AuthSettings`] taken before its secrets were resolved. Connections that
/// do not authenticate with SCRAM or TLS, or have no settings, pass without a request.
pub async fn check(
    conn: &KafkaConnection,
    settings: Option<&AuthSettings>,
    timeout: Duration,
) -> Result<(), HandshakeError> {
    let Some(settings) = settings.cloned() else {
        return Ok(());
    };
    let Ok(mut config) = conn.client_config() else {
        // Unresolved secrets: building clients reports that.
        return Ok(());
    };
    config.set("socket.connection.setup.timeout.ms", "10000");
    let masked = secrets_of(conn);
    let bootstrap = conn.bootstrap_servers.clone();
    let security = conn.security.name();
    let outcome = tokio::task::spawn_blocking(move || probe(config, timeout)).await;
    let (code, reason) = match outcome {
        Ok(Probe::Ok) => return Ok(()),
        Ok(Probe::Failed(code, reason)) => (code, reason),
        Ok(Probe::Inconclusive(why)) => {
            let why = mask(&why, &masked);
            tracing::warn!(bootstrap = bootstrap.as_str(), security, %why, "cold-start handshake check inconclusive; continuing");
            return Ok(());
        }
        Err(e) => {
            tracing::warn!(bootstrap = bootstrap.as_str(), error = %e, "cold-start handshake check did not run");
            return Ok(());
        }
    };
    let reason = mask(&reason, &masked);
    Err(match code {
        RDKafkaErrorCode::SSL => {
            // The client rejected the broker's certificate: the CA is wrong. Otherwise the
            // broker rejected ours (or the handshake failed for a reason on its side).
            let client_side = reason.contains("certificate verify failed");
            let (setting, what) = if is_plaintext_listener(&reason) {
                (settings.listener, "the listener does not speak TLS")
            } else if client_side || matches!(conn.security, Security::SaslScram { .. }) {
                (
                    settings.ca,
                    "the broker's certificate is not signed by the configured CA",
                )
            } else {
                (
                    settings.credentials,
                    "the cluster refused the client certificate",
                )
            };
            HandshakeError::Tls {
                setting,
                bootstrap,
                security,
                what,
                reason,
            }
        }
        _ => HandshakeError::Authentication {
            setting: settings.credentials,
            bootstrap,
            security,
            reason,
        },
    })
}

/// librdkafka's hints for TLS spoken to a plaintext listener.
fn is_plaintext_listener(reason: &str) -> bool {
    reason.contains("PLAINTEXT broker listener") || reason.contains("wrong version number")
}

enum Probe {
    Ok,
    Failed(RDKafkaErrorCode, String),
    Inconclusive(String),
}

/// One metadata request, repeated in short steps until it answers, a handshake failure is
/// reported or `timeout` passes.
fn probe(config: ClientConfig, timeout: Duration) -> Probe {
    let producer: BaseProducer<CheckContext> =
        match config.create_with_context(CheckContext::default()) {
            Ok(p) => p,
            Err(e) => return Probe::Inconclusive(e.to_string()),
        };
    let deadline = Instant::now() + timeout;
    let step = Duration::from_millis(250);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let result = producer.client().fetch_metadata(None, step.min(left));
        // Serve the error callbacks (librdkafka reports authentication errors there).
        producer.poll(Duration::ZERO);
        if let Some((code, reason)) = producer.context().failure() {
            return Probe::Failed(code, reason);
        }
        match result {
            Ok(_) => return Probe::Ok,
            Err(KafkaError::MetadataFetch(code)) if is_handshake_failure(code) => {
                return Probe::Failed(code, code.to_string())
            }
            Err(e) if left.is_zero() => {
                let last = producer.context().last_other();
                return Probe::Inconclusive(
                    last.map_or_else(|| e.to_string(), |l| format!("{e}: {l}")),
                );
            }
            Err(_) => {}
        }
    }
}

fn secrets_of(conn: &KafkaConnection) -> Vec<String> {
    let mut out = Vec::new();
    match &conn.security {
        Security::SaslScram { password, .. } => out.push(password.expose().to_owned()),
        Security::Tls {
            key_pem,
            key_password,
            ..
        } => {
            out.extend(key_pem.iter().map(|s| s.expose().to_owned()));
            out.extend(key_password.iter().map(|s| s.expose().to_owned()));
        }
        _ => {}
    }
    out.retain(|s| !s.is_empty());
    out
}

fn mask(reason: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(reason.to_owned(), |r, s| r.replace(s.as_str(), "***"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn conn(pairs: &[(&str, &str)]) -> KafkaConnection {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        KafkaConnection::from_lookup("FERRY_SOURCE", |k| map.get(k).map(|v| (*v).to_owned()))
            .unwrap()
    }

    #[test]
    fn settings_name_the_secret_or_the_variables() {
        let plain = conn(&[("FERRY_SOURCE_BOOTSTRAP", "b:9092")]);
        assert_eq!(AuthSettings::of(&plain), None);
        let scram = conn(&[
            ("FERRY_SOURCE_BOOTSTRAP", "b:9096"),
            ("FERRY_SOURCE_SECURITY", "scram-sha-512"),
            ("FERRY_SOURCE_SECRET_ARN", "arn:x"),
        ]);
        assert_eq!(
            AuthSettings::of(&scram),
            Some(AuthSettings {
                credentials: "FERRY_SOURCE_SECRET_ARN".into(),
                ca: "FERRY_SOURCE_TLS_CA_PEM".into(),
                listener: "FERRY_SOURCE_BOOTSTRAP/FERRY_SOURCE_SECURITY".into(),
            })
        );
        let tls = conn(&[
            ("FERRY_SOURCE_BOOTSTRAP", "b:9094"),
            ("FERRY_SOURCE_SECURITY", "tls"),
            ("FERRY_SOURCE_CA_SECRET_ARN", "arn:ca"),
        ]);
        assert_eq!(
            AuthSettings::of(&tls),
            Some(AuthSettings {
                credentials: "FERRY_SOURCE_TLS_CERT_PEM/FERRY_SOURCE_TLS_KEY_PEM".into(),
                ca: "FERRY_SOURCE_CA_SECRET_ARN".into(),
                listener: "FERRY_SOURCE_BOOTSTRAP/FERRY_SOURCE_SECURITY".into(),
            })
        );
    }

    #[test]
    fn reasons_never_carry_a_secret() {
        let c = conn(&[
            ("FERRY_SOURCE_BOOTSTRAP", "b:9096"),
            ("FERRY_SOURCE_SECURITY", "scram-sha-512"),
            ("FERRY_SOURCE_SASL_USERNAME", "u"),
            ("FERRY_SOURCE_SASL_PASSWORD", "hunter2-pw"),
        ]);
        assert_eq!(
            mask("bad password hunter2-pw given", &secrets_of(&c)),
            "bad password *** given"
        );
    }

    #[tokio::test]
    async fn plaintext_and_unreachable_clusters_pass() {
        let plain = conn(&[("FERRY_SOURCE_BOOTSTRAP", "127.0.0.1:1")]);
        check(&plain, AuthSettings::of(&plain).as_ref(), DEFAULT_TIMEOUT)
            .await
            .unwrap();
        // Nobody listens: inconclusive, the cold start goes on.
        let scram = conn(&[
            ("FERRY_SOURCE_BOOTSTRAP", "127.0.0.1:1"),
            ("FERRY_SOURCE_SECURITY", "scram-sha-512"),
            ("FERRY_SOURCE_SASL_USERNAME", "u"),
            ("FERRY_SOURCE_SASL_PASSWORD", "p"),
        ]);
        let started = Instant::now();
        check(
            &scram,
            AuthSettings::of(&scram).as_ref(),
            Duration::from_millis(600),
        )
        .await
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
