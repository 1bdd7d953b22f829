//! The client context every Ferry Kafka client is built with, and its SASL/OAUTHBEARER tokens:
//! Amazon MSK IAM, and unsecured JWTs for local tests.
//!
//! [`FerryContext`] is librdkafka's per-client callback object ([`ClientContext`] +
//! [`ConsumerContext`]). Every producer, consumer and admin client this crate builds uses it
//! ([`KafkaConnection::context`](crate::KafkaConnection::context)), whatever the security mode;
//! for anything but `msk-iam` and `oauthbearer-unsecured-jwt` it behaves like rdkafka's default
//! context, except that librdkafka's
//! log lines become `tracing` events and the retries librdkafka expects at start-up (coordinator
//! loading, [`is_expected_retry`]) are logged at debug level instead of as warnings. Clients
//! built outside this crate (the local emulator, the demo's applications) use it too
//! ([`FerryProducer`], [`FerryStreamConsumer`]).
//!
//! **MSK IAM** (`Security::MskIam`, `SASL_SSL` + `OAUTHBEARER`, port 9098): librdkafka asks for a
//! token when a client starts and again at 80 % of the token's lifetime, by queueing an
//! `OAUTHBEARER_TOKEN_REFRESH` event that rdkafka serves from the thread that polls the client
//! and hands to [`ClientContext::generate_oauth_token`]. The token is what the official MSK
//! signers produce (`aws-msk-iam-sasl-signer`): a SigV4-presigned `kafka-cluster:Connect` URL for
//! `kafka.<region>.amazonaws.com`, base64url-encoded, valid for 15 minutes, signed with the
//! default AWS credentials chain (in Lambda: the function role's credentials from the
//! environment).
//!
//! **Unsecured JWT** (`Security::OauthbearerUnsecuredJwt`, `SASL_PLAINTEXT` + `OAUTHBEARER`),
//! **for local testing only**: the same callback answers with an unsigned JWT
//! ([`unsecured_jwt`]: `{"alg":"none"}`, claims `sub`, `iat`, `exp`, empty signature), which
//! Kafka's default `OAuthBearerUnsecuredValidatorCallbackHandler` accepts (the local stack's
//! `OAUTH` listener). Its lifetime is configurable, so tests run the MSK IAM token path (first
//! token, refresh at 80 %, admin clients) against a real broker without AWS, in seconds.
//!
//! `generate_oauth_token` is synchronous and runs on whatever thread polls the client: the
//! producer's own polling thread, a blocking-pool thread for consumers, never knowingly a tokio
//! worker. The signer is async (credentials may come over HTTP), so it runs on **one dedicated
//! signer thread** with its own current-thread tokio runtime; the callback sends a request and
//! waits (at most [`SIGN_TIMEOUT`] + 1 s) for the answer. It never calls `block_on` on the
//! caller's runtime, so it cannot deadlock a runtime or panic inside one, whichever thread
//! librdkafka uses. The signer caches the AWS configuration (and so the credentials provider and
//! its credentials cache) per region.
//!
//! **Polling.** A client only gets its first token once something polls it: the producer polls
//! continuously; consumers used for metadata, watermarks and group offsets are polled once with
//! a zero timeout ([`serve_events`]) before every blocking call, on the blocking pool.
//! rdkafka 0.39's `AdminClient` never polls its main queue and does not enable the token
//! refresh event (fede1024/rust-rdkafka#757), so on its own it would never ask for a token.
//! Ferry's admin clients are therefore [`FerryAdmin`](crate::admin_token::FerryAdmin)s: a small
//! thread per client takes tokens from this same `generate_oauth_token` and hands them to
//! librdkafka directly, at start and at 80 % of each token's lifetime (see
//! [`crate::admin_token`]). Admin requests (create topics, describe/alter configs, create
//! partitions) authenticate like every other request.
//!
//! Nothing here has been run against a real MSK cluster (none is available to the tests): the
//! unit tests check token generation with static credentials, the token's shape (a presigned
//! URL for the right host, action, region and lifetime), the librdkafka configuration and that
//! the token never shows in `Debug` output. `tests/oauthbearer.rs` runs every kind of client
//! (admin, groups, producer, reader) against the local stack's OAUTHBEARER listener with
//! unsecured JWTs, including admin requests after a short-lived token has expired.

use crate::config::{KafkaConnection, Security};
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::StreamConsumer;
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long one token signing may take (credentials lookup included).
pub const SIGN_TIMEOUT: Duration = Duration::from_secs(10);

/// Principal name reported to librdkafka with MSK IAM tokens (MSK derives the identity from the
/// signature; librdkafka only uses this for its logs).
pub const MSK_IAM_PRINCIPAL: &str = "msk-iam";

/// A consumer built with [`FerryContext`].
pub type FerryConsumer = BaseConsumer<FerryContext>;

/// A stream consumer built with [`FerryContext`].
pub type FerryStreamConsumer = StreamConsumer<FerryContext>;

/// A future producer built with [`FerryContext`].
pub type FerryProducer = FutureProducer<FerryContext>;

/// The context of every client Ferry builds (see the module docs). It holds where tokens come
/// from, never a token.
#[derive(Debug, Clone, Default)]
pub struct FerryContext {
    tokens: Option<TokenSource>,
}

/// Where a [`FerryContext`]'s OAUTHBEARER tokens come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// MSK IAM tokens signed for this region ([`msk_iam_token`]).
    MskIam {
        /// AWS region of the cluster.
        region: String,
    },
    /// Unsecured JWTs ([`unsecured_jwt`]), local testing only.
    UnsecuredJwt {
        /// The `sub` claim.
        principal: String,
        /// Lifetime of each token.
        lifetime: Duration,
    },
}

impl FerryContext {
    /// The context for `conn`: OAUTHBEARER tokens for `msk-iam` and `oauthbearer-unsecured-jwt`,
    /// none otherwise.
    pub fn for_connection(conn: &KafkaConnection) -> Self {
        let tokens = match &conn.security {
            Security::MskIam { region } => Some(TokenSource::MskIam {
                region: region.clone(),
            }),
            Security::OauthbearerUnsecuredJwt {
                principal,
                lifetime,
            } => Some(TokenSource::UnsecuredJwt {
                principal: principal.clone(),
                lifetime: *lifetime,
            }),
            Security::Plaintext | Security::SaslScram { .. } | Security::Tls { .. } => None,
        };
        Self { tokens }
    }

    /// Where this context's OAUTHBEARER tokens come from, if it makes any.
    pub fn token_source(&self) -> Option<&TokenSource> {
        self.tokens.as_ref()
    }

    /// The MSK IAM region, if this context signs MSK IAM tokens.
    pub fn msk_iam_region(&self) -> Option<&str> {
        match &self.tokens {
            Some(TokenSource::MskIam { region }) => Some(region),
            _ => None,
        }
    }
}

/// librdkafka log lines and client errors that are expected while a cluster starts or a
/// coordinator moves, and that librdkafka retries by itself (for example `GETPID ... Coordinator
/// load in progress` from an idempotent producer right after a broker starts). They go to the
/// debug level; every other warning and error keeps its level.
pub fn is_expected_retry(message: &str) -> bool {
    const EXPECTED: &[&str] = &[
        "Coordinator load in progress",
        "COORDINATOR_LOAD_IN_PROGRESS",
        "Coordinator not available",
        "COORDINATOR_NOT_AVAILABLE",
        "Not coordinator",
        "NOT_COORDINATOR",
        "CONCURRENT_TRANSACTIONS",
        "Leader not available",
        "LEADER_NOT_AVAILABLE",
    ];
    EXPECTED.iter().any(|e| message.contains(e))
}

impl ClientContext for FerryContext {
    /// librdkafka's log lines as tracing events (target `librdkafka`), with expected start-up
    /// retries ([`is_expected_retry`]) at debug level.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        use RDKafkaLogLevel as L;
        if is_expected_retry(log_message) {
            tracing::debug!(target: "librdkafka", facility = fac, "{log_message}");
            return;
        }
        match level {
            L::Emerg | L::Alert | L::Critical | L::Error => {
                tracing::error!(target: "librdkafka", facility = fac, "{log_message}");
            }
            L::Warning => tracing::warn!(target: "librdkafka", facility = fac, "{log_message}"),
            L::Notice | L::Info => {
                tracing::info!(target: "librdkafka", facility = fac, "{log_message}");
            }
            L::Debug => tracing::debug!(target: "librdkafka", facility = fac, "{log_message}"),
        }
    }

    /// librdkafka's global client errors, at error level unless expected
    /// ([`is_expected_retry`]).
    fn error(&self, error: KafkaError, reason: &str) {
        if is_expected_retry(reason) || is_expected_retry(&error.to_string()) {
            tracing::debug!(target: "librdkafka", %error, "{reason}");
        } else {
            tracing::error!(target: "librdkafka", %error, "{reason}");
        }
    }

    // librdkafka raises the refresh event only for `sasl.mechanism=OAUTHBEARER`, which only
    // `msk-iam` and `oauthbearer-unsecured-jwt` connections set; for every other mode this is
    // inert.
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    /// A fresh token: called by rdkafka for producers and consumers (from the thread polling
    /// the client), and by [`FerryAdmin`](crate::admin_token::FerryAdmin)'s token thread for
    /// admin clients.
    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn Error>> {
        let (token, principal_name) = match &self.tokens {
            None => {
                return Err("an OAUTHBEARER token was requested but the connection uses neither msk-iam nor oauthbearer-unsecured-jwt".into())
            }
            Some(TokenSource::MskIam { region }) => {
                let token = msk_iam_token(region)?;
                tracing::debug!(
                    region = region.as_str(),
                    expires_at_ms = token.lifetime_ms,
                    "MSK IAM token generated"
                );
                (token, MSK_IAM_PRINCIPAL.to_owned())
            }
            Some(TokenSource::UnsecuredJwt {
                principal,
                lifetime,
            }) => {
                let token = unsecured_jwt(principal, *lifetime);
                tracing::debug!(
                    principal = principal.as_str(),
                    expires_at_ms = token.lifetime_ms,
                    "unsecured JWT generated (local testing only)"
                );
                (token, principal.clone())
            }
        };
        Ok(OAuthToken {
            token: token.token.into_inner(),
            principal_name,
            lifetime_ms: token.lifetime_ms,
        })
    }
}

impl ConsumerContext for FerryContext {}

/// Serves queued client events (token refresh, errors, logs) without waiting. Call on a thread
/// that may block (the blocking pool), before blocking requests on a consumer: with MSK IAM the
/// first call hands librdkafka its initial token. Consumers used this way never have partitions
/// assigned, so no message can be returned.
pub fn serve_events(consumer: &FerryConsumer) {
    let _ = consumer.poll(Duration::ZERO);
}

/// An OAUTHBEARER token (MSK IAM: the presigned URL, base64url; or an unsecured JWT) and when
/// it expires. `Debug` hides the token.
pub struct BearerToken {
    token: TokenString,
    /// Expiry, milliseconds since the Unix epoch.
    pub lifetime_ms: i64,
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerToken")
            .field("token", &self.token)
            .field("lifetime_ms", &self.lifetime_ms)
            .finish()
    }
}

impl BearerToken {
    /// The token value (hand it only to librdkafka).
    pub fn expose(&self) -> &str {
        &self.token.0
    }
}

struct TokenString(String);

impl TokenString {
    fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for TokenString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Signing an MSK IAM token failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The signer (credentials lookup or signing) failed.
    #[error("MSK IAM token for region {region} could not be signed: {reason}")]
    Signer {
        /// Region.
        region: String,
        /// Cause (never contains credentials).
        reason: String,
    },
    /// The signer did not answer in time.
    #[error("MSK IAM token for region {region} was not signed within {timeout:?}")]
    Timeout {
        /// Region.
        region: String,
        /// How long the caller waited.
        timeout: Duration,
    },
    /// The signer thread could not be started or is gone.
    #[error("MSK IAM signer thread unavailable: {0}")]
    Unavailable(String),
}

type Reply = Result<(String, i64), SignError>;

struct SignRequest {
    region: String,
    reply: mpsc::SyncSender<Reply>,
}

/// Signs a fresh MSK IAM token for `region` with the default AWS credentials chain, on the
/// dedicated signer thread (blocks the calling thread until it is signed or [`SIGN_TIMEOUT`]).
pub fn msk_iam_token(region: &str) -> Result<BearerToken, SignError> {
    let sender = signer()?;
    let (reply, answer) = mpsc::sync_channel(1);
    sender
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .send(SignRequest {
            region: region.to_owned(),
            reply,
        })
        .map_err(|_| SignError::Unavailable("signer thread stopped".into()))?;
    let wait = SIGN_TIMEOUT + Duration::from_secs(1);
    match answer.recv_timeout(wait) {
        Ok(Ok((token, lifetime_ms))) => Ok(BearerToken {
            token: TokenString(token),
            lifetime_ms,
        }),
        Ok(Err(e)) => Err(e),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(SignError::Timeout {
            region: region.to_owned(),
            timeout: wait,
        }),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(SignError::Unavailable("signer thread stopped".into()))
        }
    }
}

/// The header of every unsecured JWT: no signature algorithm.
const UNSECURED_JWT_HEADER: &str = r#"{"alg":"none"}"#;

/// An unsecured JWT for `principal`, issued now and valid for at least `lifetime` (whole
/// seconds, at least one; `exp` is rounded up to the next second):
/// `base64url(header).base64url(claims).` with the header `{"alg":"none"}`, the claims `sub`,
/// `iat` and `exp` (whole seconds since the Unix epoch) and an empty signature, as Kafka's
/// default `OAuthBearerUnsecuredValidatorCallbackHandler` accepts it.
///
/// **Local testing only**: anyone can forge such a token; only a broker that validates nothing
/// (the local stack's `OAUTH` listener) accepts it.
pub fn unsecured_jwt(principal: &str, lifetime: Duration) -> BearerToken {
    unsecured_jwt_at(principal, lifetime, SystemTime::now())
}

fn unsecured_jwt_at(principal: &str, lifetime: Duration, now: SystemTime) -> BearerToken {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let iat = now_ms / 1000;
    let exp = now_ms
        .saturating_add(lifetime.as_secs().max(1).saturating_mul(1000))
        .div_ceil(1000);
    let claims = serde_json::json!({ "sub": principal, "iat": iat, "exp": exp });
    let token = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(UNSECURED_JWT_HEADER),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    BearerToken {
        token: TokenString(token),
        lifetime_ms: i64::try_from(exp).unwrap_or(i64::MAX).saturating_mul(1000),
    }
}

fn signer() -> Result<&'static Mutex<mpsc::Sender<SignRequest>>, SignError> {
    static SIGNER: OnceLock<Result<Mutex<mpsc::Sender<SignRequest>>, String>> = OnceLock::new();
    SIGNER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<SignRequest>();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("tokio runtime: {e}"))?;
            std::thread::Builder::new()
                .name("ferry-msk-iam-signer".into())
                .spawn(move || signer_loop(&runtime, &rx))
                .map_err(|e| format!("thread: {e}"))?;
            Ok(Mutex::new(tx))
        })
        .as_ref()
        .map_err(|e| SignError::Unavailable(e.clone()))
}

fn signer_loop(runtime: &tokio::runtime::Runtime, requests: &mpsc::Receiver<SignRequest>) {
    let mut configs: HashMap<String, aws_config::SdkConfig> = HashMap::new();
    while let Ok(request) = requests.recv() {
        let region = request.region;
        let result = runtime.block_on(async {
            let region_value = aws_config::Region::new(region.clone());
            if !configs.contains_key(&region) {
                let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(region_value.clone())
                    .load()
                    .await;
                configs.insert(region.clone(), config);
            }
            let provider = configs
                .get(&region)
                .and_then(aws_config::SdkConfig::credentials_provider)
                .ok_or_else(|| SignError::Signer {
                    region: region.clone(),
                    reason: "no AWS credentials provider configured".into(),
                })?;
            let signed = tokio::time::timeout(
                SIGN_TIMEOUT,
                aws_msk_iam_sasl_signer::generate_auth_token_from_credentials_provider(
                    region_value,
                    provider,
                ),
            )
            .await;
            match signed {
                Err(_elapsed) => Err(SignError::Timeout {
                    region: region.clone(),
                    timeout: SIGN_TIMEOUT,
                }),
                Ok(Err(e)) => Err(SignError::Signer {
                    region: region.clone(),
                    reason: e.to_string(),
                }),
                Ok(Ok(token)) => Ok(token),
            }
        });
        // The caller may have given up waiting; nothing to do then.
        let _ = request.reply.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn decode(token: &str) -> String {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .expect("base64url without padding");
        String::from_utf8(bytes).expect("utf-8 url")
    }

    #[test]
    fn start_up_retries_are_expected_real_failures_are_not() {
        for line in [
            "[thrd:main]: Failed to acquire idempotence PID from broker 127.0.0.1:19092/1: Broker: Coordinator load in progress: retrying",
            "Group coordinator lookup failed: Broker: Coordinator not available",
            "InitProducerId failed: Broker: Producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing (CONCURRENT_TRANSACTIONS)",
        ] {
            assert!(is_expected_retry(line), "{line}");
        }
        for line in [
            "127.0.0.1:19092/bootstrap: Connect to ipv4#127.0.0.1:19092 failed: Connection refused",
            "SASL authentication error: Authentication failed during authentication due to invalid credentials",
            "Topic ferry-x partition count changed from 6 to 3",
        ] {
            assert!(!is_expected_retry(line), "{line}");
        }
    }

    fn static_credentials() {
        // Static credentials through the default chain (environment provider first); the tests
        // of this module all set the same values, so concurrent tests agree.
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDFERRYTEST");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "ferry-secret-access-key-test");
        std::env::remove_var("AWS_SESSION_TOKEN");
        std::env::remove_var("AWS_PROFILE");
    }

    #[test]
    fn token_is_a_presigned_connect_url_valid_for_fifteen_minutes() {
        static_credentials();
        let now_ms = i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap();
        let token = msk_iam_token("eu-west-1").expect("token");
        let url = decode(token.expose());
        assert!(
            url.starts_with("https://kafka.eu-west-1.amazonaws.com/?"),
            "{url}"
        );
        for part in [
            "Action=kafka-cluster%3AConnect",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDFERRYTEST%2F",
            "%2Feu-west-1%2Fkafka-cluster%2Faws4_request",
            "X-Amz-Expires=900",
            "X-Amz-Signature=",
            "User-Agent=aws-msk-iam-sasl-signer",
        ] {
            assert!(url.contains(part), "{part} missing in {url}");
        }
        assert!(!url.contains("ferry-secret-access-key-test"), "{url}");
        // Expires 15 minutes after signing (the signing time has second resolution).
        let lifetime = token.lifetime_ms - now_ms;
        assert!(
            (898_000..=901_000).contains(&lifetime),
            "lifetime {lifetime} ms"
        );
    }

    #[test]
    fn context_generates_tokens_only_for_msk_iam() {
        static_credentials();
        let conn = KafkaConnection {
            security: Security::MskIam {
                region: "us-east-2".into(),
            },
            ..KafkaConnection::plaintext("b-1.example:9098")
        };
        let ctx = conn.context();
        assert_eq!(ctx.msk_iam_region(), Some("us-east-2"));
        let token = ctx.generate_oauth_token(None).expect("token");
        assert_eq!(token.principal_name, MSK_IAM_PRINCIPAL);
        assert!(decode(&token.token).starts_with("https://kafka.us-east-2.amazonaws.com/"));
        assert!(token.lifetime_ms > 0);

        let plain = KafkaConnection::plaintext("b:9092").context();
        assert_eq!(plain.msk_iam_region(), None);
        assert_eq!(plain.token_source(), None);
        assert!(plain.generate_oauth_token(None).is_err());
    }

    fn unsecured(principal: &str, lifetime: Duration) -> KafkaConnection {
        KafkaConnection {
            security: Security::OauthbearerUnsecuredJwt {
                principal: principal.into(),
                lifetime,
            },
            ..KafkaConnection::plaintext("127.0.0.1:29094")
        }
    }

    fn json(part: &str) -> serde_json::Value {
        serde_json::from_str(&decode(part)).expect("JSON")
    }

    #[test]
    fn unsecured_jwt_is_header_dot_claims_dot_with_alg_none() {
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_750);
        let token = unsecured_jwt_at("ferry-test", Duration::from_secs(15), now);
        let jwt = token.expose();
        // Three dot-separated parts, the last (the signature) empty.
        assert!(jwt.ends_with('.'), "{jwt}");
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3, "{jwt}");
        assert_eq!(parts[2], "");
        // base64url without padding.
        assert!(
            jwt.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
            "{jwt}"
        );
        assert_eq!(decode(parts[0]), r#"{"alg":"none"}"#);
        let claims = json(parts[1]);
        assert_eq!(
            claims,
            serde_json::json!({"sub": "ferry-test", "iat": 1_700_000_000_u64, "exp": 1_700_000_016_u64})
        );
        // librdkafka gets the same expiry as the broker sees, in milliseconds: at least the
        // lifetime asked for (15.25 s here).
        assert_eq!(token.lifetime_ms, 1_700_000_016_000);

        // At least one second, whatever the configuration says; principals are JSON-escaped.
        let token = unsecured_jwt_at(r#"a "quoted" \ sub"#, Duration::ZERO, now);
        let claims = json(token.expose().split('.').nth(1).unwrap());
        assert_eq!(claims["sub"], r#"a "quoted" \ sub"#);
        assert_eq!(claims["exp"], 1_700_000_002_u64);
    }

    #[test]
    fn context_generates_unsecured_jwts_for_the_local_test_mode() {
        let ctx = unsecured("alice", Duration::from_secs(60)).context();
        assert_eq!(
            ctx.token_source(),
            Some(&TokenSource::UnsecuredJwt {
                principal: "alice".into(),
                lifetime: Duration::from_secs(60)
            })
        );
        assert_eq!(ctx.msk_iam_region(), None);
        let before_ms = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap();
        let token = ctx.generate_oauth_token(None).expect("token");
        assert_eq!(token.principal_name, "alice");
        let lifetime = token.lifetime_ms - before_ms;
        assert!((60_000..=61_500).contains(&lifetime), "{lifetime} ms");
        let claims = json(token.token.split('.').nth(1).unwrap());
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["exp"].as_i64().unwrap() * 1000, token.lifetime_ms);
    }

    #[test]
    fn debug_never_shows_an_unsecured_jwt() {
        let token = unsecured_jwt("bob", Duration::from_secs(30));
        let dbg = format!("{token:?} {token:#?}");
        assert!(!dbg.contains(token.expose()), "{dbg}");
        assert!(!dbg.contains("eyJ"), "{dbg}"); // base64url of `{"`
        assert!(dbg.contains("***"), "{dbg}");
        let conn = unsecured("bob", Duration::from_secs(30));
        let ctx = conn.context();
        assert_eq!(
            format!("{ctx:?}"),
            "FerryContext { tokens: Some(UnsecuredJwt { principal: \"bob\", lifetime: 30s }) }"
        );
        let dbg = format!("{conn:?}");
        assert!(!dbg.contains("eyJ"), "{dbg}");
    }

    #[test]
    fn debug_never_shows_the_token() {
        static_credentials();
        let token = msk_iam_token("eu-central-1").expect("token");
        let dbg = format!("{token:?} {token:#?}");
        assert!(!dbg.contains(token.expose()), "{dbg}");
        assert!(!dbg.contains("X-Amz"), "{dbg}");
        assert!(dbg.contains("***"), "{dbg}");
        let ctx = FerryContext::for_connection(&KafkaConnection {
            security: Security::MskIam {
                region: "eu-central-1".into(),
            },
            ..KafkaConnection::plaintext("b:9098")
        });
        assert_eq!(
            format!("{ctx:?}"),
            "FerryContext { tokens: Some(MskIam { region: \"eu-central-1\" }) }"
        );
    }

    #[test]
    fn signing_from_a_tokio_worker_does_not_deadlock() {
        static_credentials();
        // librdkafka may call the context from any thread; even a current-thread runtime's only
        // worker blocking on it must get an answer (the signer has its own runtime).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let token = rt.block_on(async { msk_iam_token("ap-southeast-2") });
        assert!(token.is_ok(), "{token:?}");
    }

    #[test]
    fn every_client_builder_installs_the_context() {
        use rdkafka::consumer::Consumer;
        static_credentials();
        let conn = KafkaConnection {
            security: Security::MskIam {
                region: "eu-west-1".into(),
            },
            ..KafkaConnection::plaintext("b-1.example:9098")
        };
        let consumer = crate::admin::metadata_consumer(&conn).expect("metadata consumer");
        assert_eq!(consumer.context().msk_iam_region(), Some("eu-west-1"));
        // Admin clients too, and they serve their own tokens (crate::admin_token).
        let admin = crate::admin::admin_client(&conn).expect("admin client");
        assert_eq!(admin.inner().context().msk_iam_region(), Some("eu-west-1"));
        assert!(admin.serves_oauth_tokens());
    }
}
