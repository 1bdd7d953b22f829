//! `ferry plan` against the real local source cluster: three topics written at very different
//! rates while the plan samples them get the high, medium and low tiers, and the generated
//! mappings template is valid CloudFormation YAML with one event source mapping per topic that
//! re-renders identically from the plan file (`--from ... --check`).

use ferry_kafka::FerryProducer;
use ferry_tests::{bin_path, require_stack, source, unique, SOURCE};
use rdkafka::producer::FutureRecord;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use yaml_serde::Value;

/// Writes `per_tick` records of `bytes` bytes every 50 ms to `topic` until `stop`.
async fn write_steadily(
    producer: FerryProducer,
    topic: String,
    partitions: i32,
    per_tick: usize,
    bytes: usize,
    stop: Arc<AtomicBool>,
) -> u64 {
    let value = vec![b'x'; bytes];
    let mut sent = 0u64;
    let mut pending = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        for _ in 0..per_tick {
            let key = format!("k{}", sent % 997);
            let record = FutureRecord::to(&topic)
                .partition((sent % partitions as u64) as i32)
                .key(&key)
                .payload(&value);
            // Queued without waiting for the broker: the rate is set by the ticks alone.
            pending.push(
                producer
                    .send_result(record)
                    .map_err(|(e, _)| e)
                    .expect("queued"),
            );
            sent += 1;
        }
    }
    for p in pending {
        p.await.expect("delivery").expect("delivered");
    }
    sent
}

fn ferry(args: &[&str]) -> std::process::Output {
    Command::new(bin_path("ferry"))
        .args(args)
        .env("FERRY_SOURCE_BOOTSTRAP", SOURCE)
        .output()
        .expect("run ferry")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_tiers_topics_by_measured_rate_and_renders_reproducibly() {
    require_stack();
    let hot = unique("plan-hot");
    let warm = unique("plan-warm");
    let cold = unique("plan-cold");
    for (t, p) in [(&hot, 6), (&warm, 3), (&cold, 1)] {
        ferry_kafka::admin::create_topic(&source(), t, p, &[])
            .await
            .expect("topic");
    }
    let producer = ferry_local::workload::producer(SOURCE).expect("producer");
    // The cold topic holds a few records (sizes known) but gets no writes while measured.
    for i in 0..5 {
        let key = format!("c{i}");
        producer
            .send(
                FutureRecord::to(&cold).key(&key).payload("cold-record"),
                Duration::from_secs(10),
            )
            .await
            .expect("cold record");
    }
    let stop = Arc::new(AtomicBool::new(false));
    // hot: 100 x 1 KiB per 50 ms = ~2 MB/s; warm: 10 x 100 B per 50 ms = ~200 records/s, 20 KB/s.
    let hot_writer = tokio::spawn(write_steadily(
        producer.clone(),
        hot.clone(),
        6,
        100,
        1024,
        stop.clone(),
    ));
    let warm_writer = tokio::spawn(write_steadily(
        producer.clone(),
        warm.clone(),
        3,
        10,
        100,
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;

    let dir = std::env::temp_dir().join(unique("ferry-plan"));
    let dir_s = dir.to_str().unwrap().to_owned();
    let topics = format!("{hot},{warm},{cold}");
    // Thresholds well below / above the rates (the 2-core CI machine is busy): high from
    // 256 KiB/s, medium from 20 records/s.
    let out = tokio::task::spawn_blocking({
        let (topics, dir_s) = (topics.clone(), dir_s.clone());
        move || {
            ferry(&[
                "plan",
                "--topics",
                &topics,
                "--interval",
                "4",
                "--out-dir",
                &dir_s,
                "--high-bytes-per-sec",
                "262144",
                "--medium-records-per-sec",
                "20",
                "--json",
            ])
        }
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    let hot_sent = hot_writer.await.unwrap();
    let warm_sent = warm_writer.await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ferry plan failed:\n{stderr}");
    eprintln!("{stderr}\nsent: hot {hot_sent}, warm {warm_sent}");

    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    let topic = |name: &str| {
        plan["topics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["topic"] == name)
            .unwrap_or_else(|| panic!("{name} missing from {plan}"))
            .clone()
    };
    let (h, w, c) = (topic(&hot), topic(&warm), topic(&cold));
    assert!(h["bytes_per_sec"].as_f64().unwrap() > 262_144.0, "{h}");
    assert!(
        (h["mean_record_bytes"].as_f64().unwrap() - 1026.0).abs() < 8.0,
        "{h}"
    );
    assert!(w["records_per_sec"].as_f64().unwrap() >= 20.0, "{w}");
    assert!(w["bytes_per_sec"].as_f64().unwrap() < 262_144.0, "{w}");
    assert_eq!(c["records_per_sec"].as_f64(), Some(0.0), "{c}");
    assert_eq!(c["retained_records"].as_u64(), Some(5), "{c}");
    assert_eq!(c["mean_record_bytes"].as_f64(), Some(13.0), "{c}");

    let text = std::fs::read_to_string(dir.join("mappings.yaml")).unwrap();
    let doc: Value = yaml_serde::from_str(&text).expect("mappings.yaml is YAML");
    let mappings: Vec<&Value> = doc["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Lambda::EventSourceMapping"))
        .collect();
    assert_eq!(mappings.len(), 3, "{text}");
    let mapping = |name: &str| {
        mappings
            .iter()
            .find(|m| m["Properties"]["Topics"][0].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no mapping for {name}"))["Properties"]
            .clone()
    };
    let (mh, mw, mc) = (mapping(&hot), mapping(&warm), mapping(&cold));
    assert_eq!(mh["BatchSize"].as_u64(), Some(10_000));
    assert_eq!(
        mh["ProvisionedPollerConfig"]["MaximumPollers"].as_u64(),
        Some(6)
    );
    assert_eq!(
        mh["ProvisionedPollerConfig"]["MinimumPollers"].as_u64(),
        Some(3)
    );
    assert_eq!(mw["BatchSize"].as_u64(), Some(2_000));
    assert_eq!(
        mw["ProvisionedPollerConfig"]["MaximumPollers"].as_u64(),
        Some(2)
    );
    assert_eq!(mc["BatchSize"].as_u64(), Some(500));
    assert!(mc.get("ProvisionedPollerConfig").is_none());
    assert!(
        text.contains(&format!("ConsumerGroupId: \"ferry-{hot}\"")),
        "{text}"
    );
    assert!(
        text.contains("# 3 topics: 1 high, 1 medium, 1 low."),
        "{text}"
    );

    // Reproducible: re-rendering from the plan file matches; an edited file does not.
    let plan_file = dir.join("ferry-plan.json");
    let plan_s = plan_file.to_str().unwrap();
    let check = ferry(&["plan", "--from", plan_s, "--out-dir", &dir_s, "--check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    std::fs::write(
        dir.join("mappings.yaml"),
        text.replace("BatchSize: 500", "BatchSize: 501"),
    )
    .unwrap();
    let check = ferry(&["plan", "--from", plan_s, "--out-dir", &dir_s, "--check"]);
    assert_eq!(
        check.status.code(),
        Some(1),
        "an edited mappings.yaml must fail --check"
    );
    let rerender = ferry(&["plan", "--from", plan_s, "--out-dir", &dir_s]);
    assert!(rerender.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.join("mappings.yaml")).unwrap(),
        text
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `ferry storage` with `args`, `stdin` as its input (the answer to its question) and the
/// local MSK API at `endpoint`.
fn ferry_storage(endpoint: &str, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = Command::new(bin_path("ferry"))
        .arg("storage")
        .args(args)
        .env("FERRY_SOURCE_BOOTSTRAP", SOURCE)
        .env("AWS_ENDPOINT_URL_KAFKA", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run ferry storage");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().expect("ferry storage output")
}

/// Issue 16: the storage preflight sizes a Provisioned MSK target from the plan's measured
/// bytes and the source topics' retention before the backfill, names the cool-down, and
/// grows the volumes (`UpdateBrokerStorage`) only when the operator says yes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_sizes_an_msk_target_from_the_plan_and_grows_it_only_when_asked() {
    use ferry_core::msk::{BootstrapBrokers, MskAuth};
    use ferry_core::tiering::{Plan, Thresholds, TopicMeasurement, PLAN_VERSION};
    require_stack();
    // One hour of retention at a measured 1 MB/s: 3.6 GB per replica, 1 replica on the one
    // broker; with 30 % headroom 5 GiB (the broker has 1 GiB).
    let hourly = unique("storage-hourly");
    ferry_kafka::admin::create_topic(&source(), &hourly, 2, &[("retention.ms", "3600000")])
        .await
        .expect("topic");
    let plan = Plan {
        version: PLAN_VERSION,
        measured_at: "2026-12-07T00:00:00Z".into(),
        interval_secs: 60.0,
        thresholds: Thresholds::default(),
        topics: vec![TopicMeasurement {
            topic: hourly.clone(),
            partitions: 2,
            records_per_sec: 1000.0,
            bytes_per_sec: 1_000_000.0,
            mean_record_bytes: Some(1000.0),
            retained_records: 1000,
            retained_bytes: 1_000_000.0,
        }],
    };
    let plan_path = std::env::temp_dir().join(format!("{}.json", unique("storage-plan")));
    std::fs::write(&plan_path, serde_json::to_string(&plan).unwrap()).unwrap();
    let plan_arg = plan_path.to_str().unwrap().to_owned();

    let msk = ferry_local::MskApiServer::bind("127.0.0.1:0".parse().unwrap())
        .await
        .expect("local MSK API");
    let arn = format!(
        "arn:aws:kafka:us-east-1:123456789012:cluster/{}/9a1b-1",
        unique("target")
    );
    msk.register_cluster(ferry_local::LocalCluster::provisioned(
        &arn,
        1,
        1,
        BootstrapBrokers::default().with(MskAuth::Plaintext, ferry_tests::TARGET),
        ferry_kafka::KafkaTopicAdmin::new(ferry_tests::target(), "target"),
    ));
    let endpoint = msk.endpoint_url();
    let base = [
        "--target-msk-cluster-arn",
        arn.as_str(),
        "--plan",
        plan_arg.as_str(),
    ];
    let run = |extra: &'static [&'static str], stdin: &'static str| {
        let (endpoint, mut args) = (endpoint.clone(), base.map(str::to_owned).to_vec());
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ferry_storage(&endpoint, &args, stdin)
        })
    };

    // Without --grow: the sizing, what to do, nothing changed.
    let out = run(&[], "").await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [hourly.as_str(), "1 h", "from 1 GiB to 5 GiB", "6 hours"] {
        assert!(stdout.contains(needle), "{needle}:\n{stdout}");
    }
    assert!(msk.storage_updates(&arn).is_empty());

    // --grow asks; "n" changes nothing.
    let out = run(&["--grow"], "n\n").await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("[y/N]") && stderr.contains("never shrinks"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("left as it is"));
    assert!(msk.storage_updates(&arn).is_empty(), "declined");

    // "y" grows every broker to 5 GiB.
    let out = run(&["--grow", "--json"], "y\n").await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sizing: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(sizing["volumes"]["request_gib"], 5, "{sizing}");
    assert!(sizing["operation_arn"].as_str().is_some(), "{sizing}");
    let updates = msk.storage_updates(&arn);
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(msk.cluster_facts(&arn).unwrap().volume_gib, Some(5));

    // Now large enough: --grow --yes does nothing.
    let out = run(&["--grow", "--yes"], "").await.unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("large enough"));
    assert_eq!(msk.storage_updates(&arn).len(), 1);

    // MSK Serverless: nothing to size.
    let serverless = format!(
        "arn:aws:kafka:us-east-1:123456789012:cluster/{}/9a1b-2",
        unique("serverless")
    );
    msk.register_cluster(ferry_local::LocalCluster::serverless(
        &serverless,
        "127.0.0.1:29094",
    ));
    let out = tokio::task::spawn_blocking({
        let (endpoint, serverless, plan_arg) =
            (endpoint.clone(), serverless.clone(), plan_arg.clone());
        move || {
            ferry_storage(
                &endpoint,
                &[
                    "--target-msk-cluster-arn",
                    &serverless,
                    "--plan",
                    &plan_arg,
                    "--grow",
                    "--yes",
                ],
                "",
            )
        }
    })
    .await
    .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("MSK Serverless"));
    assert!(msk.storage_updates(&serverless).is_empty());
    msk.shutdown();
    let _ = std::fs::remove_file(&plan_path);
}
