//! The EventBridge schedule emulator against in-process functions, with `rate(1 minute)`
//! compressed to 200 ms: regular invocations, no overlap, AWS-shaped payloads, and a failing
//! function retried twice per tick while its schedule keeps going.

use ferry_local::schedule::{run_schedules, Schedule, RETRY_ATTEMPTS};
use ferry_local::{FnInvoker, Invoker, InvokerMap};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn every_minute(function: &str) -> Schedule {
    Schedule {
        function: function.to_owned(),
        logical_id: format!("{function}Function"),
        rule_name: format!("{function}-every-minute"),
        every: Duration::from_secs(60),
        enabled: true,
    }
}

#[derive(Default)]
struct Probe {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    events: Mutex<Vec<Value>>,
}

#[tokio::test]
async fn fires_on_the_scaled_rate_without_overlap_and_retries_failures() {
    let ok = Arc::new(Probe::default());
    let failing = Arc::new(Probe::default());

    // Each invocation takes longer than half a period, so a second tick overlapping it
    // would be visible in `max_in_flight`.
    let probe = Arc::clone(&ok);
    let ok_fn = FnInvoker::new(move |event: Value| {
        let probe = Arc::clone(&probe);
        async move {
            let now = probe.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            probe.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(120)).await;
            probe.events.lock().unwrap().push(event);
            probe.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(serde_json::json!({"ok": true}))
        }
    });
    let probe = Arc::clone(&failing);
    let failing_fn = FnInvoker::new(move |event: Value| {
        let probe = Arc::clone(&probe);
        async move {
            probe.events.lock().unwrap().push(event);
            Err::<Value, _>(std::io::Error::other("boom"))
        }
    });
    let invoker: Arc<dyn Invoker> = Arc::new(
        InvokerMap::new()
            .with("ok", Arc::new(ok_fn))
            .with("failing", Arc::new(failing_fn)),
    );

    let shutdown = CancellationToken::new();
    let mut disabled = every_minute("ok");
    disabled.rule_name = "disabled".into();
    disabled.enabled = false;
    let runner = run_schedules(
        vec![every_minute("ok"), every_minute("failing"), disabled],
        invoker,
        shutdown.clone(),
        0.2 / 60.0,
    )
    .unwrap();
    assert_eq!(runner.stats().len(), 2, "disabled schedules do not run");

    tokio::time::sleep(Duration::from_millis(1200)).await;
    shutdown.cancel();
    let stats = tokio::time::timeout(Duration::from_secs(5), runner.join())
        .await
        .expect("schedules stop on shutdown");

    // The healthy function: about one invocation per 200 ms, never two at once.
    let (_, ok_stats) = stats.iter().find(|(s, _)| s.function == "ok").unwrap();
    assert!(ok_stats.invocations >= 3, "{ok_stats:?}");
    assert_eq!(ok_stats.failures, 0, "{ok_stats:?}");
    assert_eq!(ok.max_in_flight.load(Ordering::SeqCst), 1);
    let events = ok.events.lock().unwrap().clone();
    assert!(events.len() >= 3, "{events:?}");
    let mut ids = std::collections::HashSet::new();
    for e in &events {
        assert_eq!(e["version"], "0");
        assert_eq!(e["detail-type"], "Scheduled Event");
        assert_eq!(e["source"], "aws.events");
        assert_eq!(e["account"], "123456789012");
        assert_eq!(e["region"], "us-east-1");
        assert_eq!(
            e["resources"],
            serde_json::json!(["arn:aws:events:us-east-1:123456789012:rule/ok-every-minute"])
        );
        assert_eq!(e["detail"], serde_json::json!({}));
        let time = e["time"].as_str().unwrap();
        assert!(time.len() == 20 && time.ends_with('Z'), "{time}");
        assert!(
            ids.insert(e["id"].as_str().unwrap().to_owned()),
            "ids are unique"
        );
    }

    // The failing function: every tick is tried 1 + RETRY_ATTEMPTS times with the same event,
    // and the schedule keeps ticking.
    let (_, bad) = stats.iter().find(|(s, _)| s.function == "failing").unwrap();
    let per_tick = u64::from(RETRY_ATTEMPTS) + 1;
    assert!(bad.ticks >= 3, "{bad:?}");
    assert!(bad.exhausted >= 3, "{bad:?}");
    // Every finished attempt failed; the shutdown may cut the last one short.
    assert!(bad.failures <= bad.invocations, "{bad:?}");
    assert!(bad.failures + 1 >= bad.invocations, "{bad:?}");
    assert!(bad.invocations >= bad.exhausted * per_tick, "{bad:?}");
    assert!(bad.invocations <= bad.ticks * per_tick, "{bad:?}");
    assert_eq!(bad.retries, bad.invocations - bad.ticks, "{bad:?}");
    assert!(
        bad.last_error.as_deref().unwrap().contains("boom"),
        "{bad:?}"
    );
    let events = failing.events.lock().unwrap().clone();
    for tick in events
        .chunks(per_tick as usize)
        .filter(|c| c.len() == per_tick as usize)
    {
        assert!(
            tick.iter().all(|e| e["id"] == tick[0]["id"]),
            "retries resend the event"
        );
    }
}

#[tokio::test]
async fn invalid_time_scale_is_rejected() {
    let invoker: Arc<dyn Invoker> = Arc::new(InvokerMap::new());
    for scale in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(run_schedules(
            vec![every_minute("x")],
            Arc::clone(&invoker),
            CancellationToken::new(),
            scale
        )
        .is_err());
    }
}
