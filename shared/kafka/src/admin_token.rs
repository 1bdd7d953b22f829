//! [`FerryAdmin`]: an rdkafka admin client that gets its SASL/OAUTHBEARER tokens (MSK IAM, or
//! unsecured JWTs in local tests).
//!
//! rdkafka 0.39's `AdminClient` never polls its client's main queue and does not enable
//! librdkafka's token-refresh event (fede1024/rust-rdkafka#757), so
//! [`FerryContext::generate_oauth_token`] is never called for it: on an OAUTHBEARER listener an
//! admin client would never authenticate and every request would time out. librdkafka also
//! takes a token handed to it directly ("the application must call
//! `rd_kafka_oauthbearer_set_token()` once -- either directly or …", `rdkafka.h`), and that is
//! what [`FerryAdmin`] does for connections that use OAUTHBEARER
//! ([`Security::uses_oauthbearer`](crate::Security::uses_oauthbearer)): one small thread per
//! admin client
//!
//! 1. asks the client's own [`FerryContext`] for a token — the same `generate_oauth_token` that
//!    serves producers and consumers, so MSK IAM and the local unsecured JWTs take one path;
//! 2. hands it to librdkafka (`rd_kafka_oauthbearer_set_token`), which wakes the broker
//!    threads waiting for a token; requests made before that simply wait in librdkafka;
//! 3. sleeps until 80 % of the token's remaining lifetime (librdkafka's own schedule for
//!    producers and consumers) and starts over. A token that cannot be generated or set is
//!    logged, reported to librdkafka (`rd_kafka_oauthbearer_set_token_failure`, which then
//!    shows in its connection errors) and retried after [`TOKEN_RETRY`]; the old token, if any,
//!    stays in use until it expires.
//!
//! Times are wall-clock (token expiries are Unix times) and the thread wakes at least every
//! [`MAX_SLEEP`], so a process that was frozen (a Lambda container between invocations)
//! refreshes right after it thaws. The thread holds the context and only a weak reference to
//! the client; dropping the [`FerryAdmin`] stops it without waiting for a token being signed.
//!
//! Other security modes get no thread: [`FerryAdmin`] is then just the rdkafka admin client.
//!
//! **Unsafe code.** This module holds the crate's only `unsafe` code (the crate denies
//! `unsafe_code`, this module alone allows it; `unsafe_stays_in_this_module` checks that): the
//! two librdkafka calls above, each with its SAFETY argument.

#![allow(unsafe_code)]

use crate::auth::FerryContext;
use crate::config::{BuildError, KafkaConnection};
use rdkafka::admin::AdminClient;
use rdkafka::bindings::{rd_kafka_oauthbearer_set_token, rd_kafka_oauthbearer_set_token_failure};
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::types::RDKafkaRespErr;
use std::ffi::{c_char, CStr, CString};
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long after a failed token the token thread tries again (librdkafka waits as long).
pub const TOKEN_RETRY: Duration = Duration::from_secs(10);

/// The longest the token thread sleeps at once (it re-reads the wall clock after each sleep).
pub const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Share of a token's remaining lifetime after which it is replaced (librdkafka's 80 %).
const REFRESH_AT: f64 = 0.8;

/// An rdkafka admin client with [`FerryContext`] that, for OAUTHBEARER connections, serves its
/// own tokens (see the module docs). Dereferences to the rdkafka [`AdminClient`].
pub struct FerryAdmin {
    client: Arc<AdminClient<FerryContext>>,
    tokens: Option<TokenThread>,
}

/// The token thread's handle: dropping `_stop` wakes the thread and ends it.
struct TokenThread {
    _stop: mpsc::Sender<()>,
    stats: Arc<TokenStats>,
}

#[derive(Debug, Default)]
struct TokenStats {
    set: AtomicU64,
    failed: AtomicU64,
}

impl fmt::Debug for FerryAdmin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FerryAdmin")
            .field("context", self.client.inner().context())
            .field("serves_oauth_tokens", &self.serves_oauth_tokens())
            .field("tokens_set", &self.tokens_set())
            .field("token_failures", &self.token_failures())
            .finish_non_exhaustive()
    }
}

impl Deref for FerryAdmin {
    type Target = AdminClient<FerryContext>;

    fn deref(&self) -> &Self::Target {
        &self.client
    }
}

impl FerryAdmin {
    /// Builds the admin client for `conn` and, if it uses OAUTHBEARER, starts its token
    /// thread. Nothing connects until the first request (which waits for the first token).
    pub fn new(conn: &KafkaConnection) -> Result<Self, BuildError> {
        let client: AdminClient<FerryContext> = conn
            .client_config()?
            .create_with_context(conn.context())
            .map_err(BuildError::Client)?;
        let client = Arc::new(client);
        let tokens = if conn.security.uses_oauthbearer() {
            Some(TokenThread::start(&client).map_err(BuildError::TokenThread)?)
        } else {
            None
        };
        Ok(Self { client, tokens })
    }

    /// Whether this client's tokens come from its own token thread (OAUTHBEARER connections).
    pub fn serves_oauth_tokens(&self) -> bool {
        self.tokens.is_some()
    }

    /// How many tokens the token thread has handed to librdkafka so far (the first one and
    /// every refresh); 0 without OAUTHBEARER.
    pub fn tokens_set(&self) -> u64 {
        self.tokens
            .as_ref()
            .map_or(0, |t| t.stats.set.load(Ordering::Relaxed))
    }

    /// How many times a token could not be generated or set so far.
    pub fn token_failures(&self) -> u64 {
        self.tokens
            .as_ref()
            .map_or(0, |t| t.stats.failed.load(Ordering::Relaxed))
    }
}

impl TokenThread {
    fn start(client: &Arc<AdminClient<FerryContext>>) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel();
        let stats = Arc::new(TokenStats::default());
        let context = Arc::clone(client.inner().context());
        let weak = Arc::downgrade(client);
        let thread_stats = Arc::clone(&stats);
        std::thread::Builder::new()
            .name("ferry-admin-token".into())
            .spawn(move || serve_tokens(&context, &weak, &stopped, &thread_stats))?;
        Ok(Self { _stop: stop, stats })
    }
}

/// The token thread: set a token, sleep until it needs replacing, repeat; ends when the
/// [`FerryAdmin`] is dropped.
fn serve_tokens(
    context: &FerryContext,
    client: &Weak<AdminClient<FerryContext>>,
    stopped: &mpsc::Receiver<()>,
    stats: &TokenStats,
) {
    loop {
        let generated = context.generate_oauth_token(None);
        // Stopped while the token was generated: nothing to hand it to.
        let Some(admin) = client.upgrade() else {
            return;
        };
        let outcome = generated
            .map_err(|e| format!("the token could not be generated: {e}"))
            .and_then(|token| {
                let expires_ms = token.lifetime_ms;
                set_token(&admin, token).map(|()| expires_ms)
            });
        let next = match outcome {
            Ok(expires_ms) => {
                let set = stats.set.fetch_add(1, Ordering::Relaxed) + 1;
                let next = refresh_time(SystemTime::now(), expires_ms);
                tracing::debug!(
                    tokens_set = set,
                    expires_at_ms = expires_ms,
                    "OAUTHBEARER token set on a Kafka admin client"
                );
                next
            }
            Err(reason) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    retry_in = ?TOKEN_RETRY,
                    "Kafka admin client without a fresh OAUTHBEARER token: {reason}"
                );
                set_token_failure(&admin, &reason);
                SystemTime::now() + TOKEN_RETRY
            }
        };
        // The client is not kept alive while sleeping.
        drop(admin);
        if !sleep_until(next, stopped) {
            return;
        }
    }
}

/// When a token expiring at `expires_ms` (Unix milliseconds), set at `now`, is replaced: 80 %
/// into its remaining lifetime; right away if it has already expired.
fn refresh_time(now: SystemTime, expires_ms: i64) -> SystemTime {
    let expires = UNIX_EPOCH + Duration::from_millis(u64::try_from(expires_ms).unwrap_or(0));
    let remaining = expires.duration_since(now).unwrap_or(Duration::ZERO);
    now + remaining.mul_f64(REFRESH_AT)
}

/// Sleeps until the wall clock reaches `deadline`, in steps of at most [`MAX_SLEEP`]; `false`
/// as soon as the [`FerryAdmin`] is dropped.
fn sleep_until(deadline: SystemTime, stopped: &mpsc::Receiver<()>) -> bool {
    loop {
        let Ok(left) = deadline.duration_since(SystemTime::now()) else {
            return true;
        };
        if left.is_zero() {
            return true;
        }
        match stopped.recv_timeout(left.min(MAX_SLEEP)) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return false,
        }
    }
}

/// Hands `token` to librdkafka for `admin`'s broker connections; librdkafka's error message if
/// it refuses it (for example an expired token, or a client not configured for OAUTHBEARER).
fn set_token(admin: &AdminClient<FerryContext>, token: OAuthToken) -> Result<(), String> {
    let value =
        CString::new(token.token).map_err(|_| "the token contains a NUL byte".to_owned())?;
    let principal = CString::new(token.principal_name)
        .map_err(|_| "the principal name contains a NUL byte".to_owned())?;
    let mut errstr = [0_u8; 512];
    // SAFETY:
    // * `native_ptr()` is the librdkafka handle owned by `admin`'s rdkafka `Client`; the caller
    //   holds a strong reference to the `AdminClient` for the whole call, and the handle is only
    //   destroyed when the `AdminClient` is dropped, so it is live.
    // * `value` and `principal` are NUL-terminated C strings that outlive the call; librdkafka
    //   copies them (`rd_strdup`) and keeps no pointer to them.
    // * No SASL extensions: a null array with size 0, exactly what rdkafka itself passes.
    // * `errstr` is a writable buffer of the size given; librdkafka writes a NUL-terminated
    //   message into it (`rd_snprintf`) on error only and keeps no pointer to it.
    // * librdkafka handles are thread-safe and this function takes the SASL handle's own lock,
    //   so calling it from this thread while rdkafka's threads use the handle is fine (rdkafka
    //   makes the same call from whichever thread polls a producer or consumer).
    let code = unsafe {
        rd_kafka_oauthbearer_set_token(
            admin.inner().native_ptr(),
            value.as_ptr(),
            token.lifetime_ms,
            principal.as_ptr(),
            std::ptr::null_mut(),
            0,
            errstr.as_mut_ptr().cast::<c_char>(),
            errstr.len(),
        )
    };
    if code == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
        return Ok(());
    }
    let message = CStr::from_bytes_until_nul(&errstr)
        .map(|m| m.to_string_lossy().into_owned())
        .unwrap_or_default();
    Err(format!(
        "librdkafka refused the token ({code:?}): {message}"
    ))
}

/// Tells librdkafka that no token could be had (it then names `reason` when a broker
/// connection cannot authenticate); the previous token, if any, stays in use until it expires.
fn set_token_failure(admin: &AdminClient<FerryContext>, reason: &str) {
    let reason = if reason.is_empty() {
        "no OAUTHBEARER token"
    } else {
        reason
    };
    let Ok(message) = CString::new(reason.replace('\0', " ")) else {
        return;
    };
    // SAFETY: the handle is live for the call (the caller holds a strong reference to the
    // `AdminClient` that owns it, see `set_token`); `message` is a non-empty NUL-terminated C
    // string that outlives the call and that librdkafka copies; the function is thread-safe (it
    // takes the SASL handle's lock). Its result only says whether OAUTHBEARER is configured,
    // which it is for every client that has a token thread.
    let _ = unsafe {
        rd_kafka_oauthbearer_set_token_failure(admin.inner().native_ptr(), message.as_ptr())
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Security;
    use std::time::Instant;

    fn unsecured(lifetime: Duration) -> KafkaConnection {
        KafkaConnection {
            security: Security::OauthbearerUnsecuredJwt {
                principal: "ferry-unit".into(),
                lifetime,
            },
            // Nothing listens here: tokens are set without any broker.
            ..KafkaConnection::plaintext("127.0.0.1:1")
        }
    }

    fn wait_for(what: &str, timeout: Duration, done: impl Fn() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < timeout, "{what} within {timeout:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn plaintext_admin_has_no_token_thread() {
        let admin = FerryAdmin::new(&KafkaConnection::plaintext("127.0.0.1:1")).unwrap();
        assert!(!admin.serves_oauth_tokens());
        assert_eq!(admin.tokens_set(), 0);
        assert_eq!(admin.token_failures(), 0);
    }

    #[test]
    fn sets_a_token_at_once_and_refreshes_it_at_80_percent() {
        // One-second tokens (1 to 2 s of remaining lifetime): replaced every 0.8 to 1.6 s.
        let started = Instant::now();
        let admin = FerryAdmin::new(&unsecured(Duration::from_secs(1))).unwrap();
        assert!(admin.serves_oauth_tokens());
        wait_for("the first token", Duration::from_secs(2), || {
            admin.tokens_set() >= 1
        });
        wait_for("two refreshes", Duration::from_secs(5), || {
            admin.tokens_set() >= 3
        });
        // Not faster than the schedule either: two refreshes take at least 2 × 0.8 s.
        assert!(
            started.elapsed() >= Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(admin.token_failures(), 0);
    }

    #[test]
    fn dropping_the_admin_stops_its_token_thread() {
        let admin = FerryAdmin::new(&unsecured(Duration::from_secs(600))).unwrap();
        wait_for("the first token", Duration::from_secs(2), || {
            admin.tokens_set() >= 1
        });
        let stats = Arc::clone(&admin.tokens.as_ref().unwrap().stats);
        let client = Arc::downgrade(&admin.client);
        let dropped = Instant::now();
        drop(admin);
        // The thread lets go of its stats (it has ended) right away, not after its 8-minute
        // sleep, and the client is gone.
        wait_for("the token thread to end", Duration::from_secs(2), || {
            Arc::strong_count(&stats) == 1
        });
        assert!(dropped.elapsed() < Duration::from_secs(2));
        assert!(client.upgrade().is_none());
    }

    #[test]
    fn refusals_are_reported_with_librdkafka_s_message() {
        // A client without OAUTHBEARER: librdkafka refuses any token.
        let plain = FerryAdmin::new(&KafkaConnection::plaintext("127.0.0.1:1")).unwrap();
        let token = OAuthToken {
            token: "t".into(),
            principal_name: "p".into(),
            lifetime_ms: i64::MAX / 2,
        };
        let err = set_token(&plain, token).unwrap_err();
        assert!(
            err.contains("not the configured authentication mechanism"),
            "{err}"
        );
        // An expired token is refused too.
        let oauth = FerryAdmin::new(&unsecured(Duration::from_secs(600))).unwrap();
        let expired = OAuthToken {
            token: "t".into(),
            principal_name: "p".into(),
            lifetime_ms: 1_000,
        };
        let err = set_token(&oauth, expired).unwrap_err();
        assert!(err.contains("unexpired"), "{err}");
        set_token_failure(&oauth, "unit test");
        set_token_failure(&oauth, "");
    }

    #[test]
    fn refresh_time_is_80_percent_of_the_remaining_lifetime() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            refresh_time(now, 1_010_000),
            UNIX_EPOCH + Duration::from_secs(1_008)
        );
        // Expired or nonsense expiries: right away.
        assert_eq!(refresh_time(now, 999_000), now);
        assert_eq!(refresh_time(now, -5), now);
    }

    #[test]
    fn debug_shows_counters_not_tokens() {
        let admin = FerryAdmin::new(&unsecured(Duration::from_secs(600))).unwrap();
        wait_for("the first token", Duration::from_secs(2), || {
            admin.tokens_set() >= 1
        });
        let dbg = format!("{admin:?} {admin:#?}");
        assert!(dbg.contains("tokens_set: 1"), "{dbg}");
        assert!(dbg.contains("serves_oauth_tokens: true"), "{dbg}");
        assert!(!dbg.contains("eyJ"), "{dbg}"); // base64url of `{"`, how every JWT starts
    }

    /// `unsafe_code` is only `deny` for this crate (the workspace forbids it): this module is
    /// the one place that may allow it.
    #[test]
    fn unsafe_stays_in_this_module() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![src];
        let mut offenders = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.file_name().is_some_and(|n| n == "admin_token.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                if text.contains("unsafe_code")
                    || text.contains("unsafe {")
                    || text.contains("unsafe fn")
                {
                    offenders.push(path.display().to_string());
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "unsafe outside admin_token.rs: {offenders:?}"
        );
    }
}
