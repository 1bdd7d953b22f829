//! The SAM template (`infra/template.yaml`) and the generated mappings (`infra/mappings.yaml`)
//! match the crates. Needs no stack: it reads files only.
//!
//! * every `functions/<name>` crate is a `<Name>Function` built with `rust-cargolambda` from
//!   binary `<name>` on `provided.al2023` / arm64, and every function in the template has a crate;
//! * each function's `FERRY_*` environment variables are ones its crate reads (its sources'
//!   `FERRY_*` names, plus the `<PREFIX>_*` connection settings of `shared/kafka/src/config.rs`
//!   for each `FERRY_SOURCE` / `FERRY_TARGET` prefix it uses), and every setting the crate's
//!   `config.rs` module doc marks `required` is set;
//! * secrets are never environment variables (no `*_SASL_PASSWORD`, `*_TLS_KEY_PEM`; the
//!   Secrets Manager ARN is passed instead);
//! * schedules: checkpoint, heartbeat, validate and discover run on EventBridge rules the local
//!   schedule emulator accepts; mirror and cutover have none;
//! * only discover may create event source mappings, and only for the mirror function;
//! * no IAM statement allows a `*` action; `Resource: "*"` only for actions without
//!   resource-level permissions;
//! * the state machine substitutes the plain cutover and validate function names and may invoke
//!   only those two;
//! * the nested mappings stack gets exactly the parameters it declares.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use yaml_serde::Value;

/// Environment variables that hold secrets and must never be set by the template.
const SECRET_SETTINGS: [&str; 2] = ["SASL_PASSWORD", "TLS_KEY_PEM"];

/// Actions that have no resource-level permissions, so `Resource: "*"` is the only option.
const RESOURCE_STAR_OK: [&str; 9] = [
    "lambda:ListEventSourceMappings",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
];

/// Functions that run on a schedule (the others are invoked by mappings or the state machine).
const SCHEDULED: [&str; 4] = ["checkpoint", "heartbeat", "validate", "discover"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(rel: &str) -> Value {
    let text = std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"))
}

fn resources(t: &Value) -> &yaml_serde::Mapping {
    t.get("Resources")
        .and_then(Value::as_mapping)
        .expect("Resources")
}

fn str_of(v: &Value) -> Option<&str> {
    v.as_str()
}

/// `mirror` -> `MirrorFunction`.
fn logical_id(name: &str) -> String {
    let mut c = name.chars();
    let first = c.next().map(|f| f.to_ascii_uppercase()).unwrap_or_default();
    format!("{first}{}Function", c.as_str())
}

/// Function crates: folder names under `functions/` that hold a Cargo.toml.
fn function_crates() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root().join("functions"))
        .expect("functions/")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// Every `FERRY_[A-Z0-9_]*` token in the `.rs` files under `dir` (trailing `_` trimmed).
fn ferry_tokens(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
        {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                out.extend(tokens(&text));
            }
        }
    }
    out
}

fn tokens(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(pos) = text[i..].find("FERRY_") {
        let start = i + pos;
        let boundary = start == 0 || {
            let b = bytes[start - 1];
            !(b.is_ascii_alphanumeric() || b == b'_')
        };
        let mut end = start;
        while end < bytes.len()
            && (bytes[end].is_ascii_uppercase()
                || bytes[end].is_ascii_digit()
                || bytes[end] == b'_')
        {
            end += 1;
        }
        if boundary {
            out.push(text[start..end].trim_end_matches('_').to_owned());
        }
        i = end.max(start + 1);
    }
    out
}

/// Connection setting suffixes from `shared/kafka/src/config.rs`'s module-doc table
/// (`<PREFIX>_BOOTSTRAP`, ...).
fn connection_settings() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("shared/kafka/src/config.rs")).unwrap();
    let mut out = BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with("//! |")) {
        let mut rest = line;
        while let Some(pos) = rest.find("`<PREFIX>_") {
            let after = &rest[pos + "`<PREFIX>_".len()..];
            let end = after.find('`').unwrap_or(after.len());
            out.insert(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    assert!(out.contains("BOOTSTRAP"), "{out:?}");
    out
}

/// The source of ferry-lambda's `MigrationSettings` (settings several functions share).
fn migration_settings_source() -> String {
    std::fs::read_to_string(root().join("shared/lambda/src/config.rs"))
        .expect("shared/lambda/src/config.rs")
}

/// Whether a function crate's sources build its configuration on `MigrationSettings`.
fn uses_migration_settings(src: &Path) -> bool {
    ["config.rs", "main.rs", "lib.rs"].iter().any(|f| {
        std::fs::read_to_string(src.join(f)).is_ok_and(|t| t.contains("MigrationSettings"))
    })
}

/// Settings a crate's `config.rs` module-doc table marks `required` (first backticked name of
/// the row).
fn required_settings(name: &str) -> BTreeSet<String> {
    let path = root().join("functions").join(name).join("src/config.rs");
    required_rows(&std::fs::read_to_string(path).unwrap_or_default(), "//! |")
}

/// Settings a doc table (rows starting with `row_prefix`) marks `required`.
fn required_rows(text: &str, row_prefix: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| l.starts_with(row_prefix) && l.trim_end().ends_with("| required |"))
        .filter_map(|l| {
            let start = l.find('`')? + 1;
            let end = start + l[start..].find('`')?;
            Some(l[start..end].to_owned())
        })
        .filter(|v| v.starts_with("FERRY_"))
        .collect()
}

fn env_vars(function: &Value) -> BTreeMap<String, Value> {
    function
        .get("Properties")
        .and_then(|p| p.get("Environment"))
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_function_crate_is_a_sam_function_and_back() {
    let t = load("infra/template.yaml");
    let globals = t["Globals"]["Function"].clone();
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Architectures"][0].as_str(), Some("arm64"));
    assert!(
        globals["VpcConfig"].is_mapping(),
        "functions reach the clusters in the VPC"
    );
    let crates = function_crates();
    assert!(crates.contains(&"mirror".to_owned()), "{crates:?}");
    for name in &crates {
        let id = logical_id(name);
        let f = &resources(&t)
            .get(id.as_str())
            .unwrap_or_else(|| panic!("functions/{name} has no {id} in infra/template.yaml"));
        assert_eq!(
            f["Type"].as_str(),
            Some("AWS::Serverless::Function"),
            "{id}"
        );
        assert_eq!(
            f["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{id}"
        );
        assert_eq!(
            f["Metadata"]["BuildProperties"]["Binary"].as_str(),
            Some(name.as_str()),
            "{id}"
        );
        assert_eq!(
            f["Properties"]["CodeUri"].as_str(),
            Some("../"),
            "{id}: the workspace root"
        );
        let manifest =
            std::fs::read_to_string(root().join("functions").join(name).join("Cargo.toml"))
                .unwrap();
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "functions/{name}/Cargo.toml: the package (and binary) must be named {name}"
        );
    }
    for (id, r) in resources(&t) {
        if r["Type"].as_str() == Some("AWS::Serverless::Function") {
            let binary = r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_default();
            assert!(
                crates.iter().any(|c| c == binary),
                "{id:?} builds binary {binary:?}, which has no functions/ crate"
            );
        }
    }
}

#[test]
fn environment_variables_match_what_each_crate_reads() {
    let t = load("infra/template.yaml");
    let connection = connection_settings();
    let mut problems = Vec::new();
    for name in function_crates() {
        let id = logical_id(&name);
        let Some(f) = resources(&t).get(id.as_str()) else {
            continue; // reported by the other test
        };
        if !root()
            .join("functions")
            .join(&name)
            .join("src/config.rs")
            .is_file()
        {
            // A crate without its typed configuration yet (in progress): nothing to compare.
            eprintln!("functions/{name} has no src/config.rs yet: environment not checked");
            continue;
        }
        let src = root().join("functions").join(&name).join("src");
        let mut read = ferry_tokens(&src);
        // Settings shared by the functions that work on both clusters are read by
        // ferry-lambda's `MigrationSettings` (shared/lambda/src/config.rs).
        let shared = uses_migration_settings(&src);
        if shared {
            read.extend(tokens(&migration_settings_source()));
        }
        let prefixes: Vec<&str> = ["FERRY_SOURCE", "FERRY_TARGET"]
            .into_iter()
            .filter(|p| read.contains(*p) || read.iter().any(|v| v.starts_with(&format!("{p}_"))))
            .collect();
        let env = env_vars(f);
        for var in env.keys().filter(|v| v.starts_with("FERRY_")) {
            let conn = prefixes
                .iter()
                .find_map(|p| var.strip_prefix(&format!("{p}_")));
            if let Some(setting) = conn {
                if SECRET_SETTINGS.contains(&setting) {
                    problems.push(format!(
                        "{id}: {var} would put a secret into the environment"
                    ));
                } else if connection.contains(setting) {
                    continue;
                }
            }
            if !read.contains(var) {
                problems.push(format!(
                    "{id}: sets {var}, which functions/{name} does not read"
                ));
            }
        }
        let mut required = required_settings(&name);
        if shared {
            required.extend(required_rows(&migration_settings_source(), "/// |"));
        }
        for p in &prefixes {
            required.insert(format!("{p}_BOOTSTRAP"));
        }
        for var in required {
            if !env.contains_key(&var) {
                problems.push(format!(
                    "{id}: functions/{name} requires {var}, the template does not set it"
                ));
            }
        }
    }
    // The secret ARNs are read (ferry_kafka records them, ferry_kafka::secrets resolves them through ferry_aws::SecretsManagerSource).
    for setting in ["SECRET_ARN", "CA_SECRET_ARN"] {
        assert!(
            connection.contains(setting),
            "<PREFIX>_{setting} missing from shared/kafka/src/config.rs"
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_secret_in_any_environment_variable() {
    for file in ["infra/template.yaml", "infra/mappings.yaml"] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        for secret in SECRET_SETTINGS {
            assert!(!text.contains(secret), "{file} mentions {secret}");
        }
        assert!(
            !text.contains("{{resolve:secretsmanager"),
            "{file}: dynamic secret references end up in plain environment variables"
        );
    }
}

#[test]
fn schedules_are_the_ones_the_functions_expect() {
    let path = root().join("infra/template.yaml");
    let schedules = ferry_local::schedules_from_template_file(&path)
        .expect("the local schedule emulator reads every schedule of the template");
    let scheduled: BTreeSet<&str> = schedules.iter().map(|s| s.function.as_str()).collect();
    let crates = function_crates();
    for name in SCHEDULED {
        if crates.iter().any(|c| c == name) {
            assert!(
                scheduled.contains(name),
                "{name} has no schedule: {schedules:?}"
            );
        }
    }
    for s in &schedules {
        assert!(
            SCHEDULED.contains(&s.function.as_str()),
            "unexpected schedule {s:?}"
        );
        assert!(s.enabled, "{s:?}");
        assert!(s.every.as_secs() >= 60, "{s:?}");
    }
}

/// Every IAM statement in `v` (any depth): SAM inline policies and managed policy documents.
fn statements<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Mapping(m) => {
            if let Some(Value::Sequence(s)) = m.get("Statement") {
                out.extend(s.iter());
            }
            for (_, child) in m {
                statements(child, out);
            }
        }
        Value::Sequence(s) => s.iter().for_each(|c| statements(c, out)),
        Value::Tagged(t) => statements(&t.value, out),
        _ => {}
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(s) => s.iter().filter_map(str_of).map(str::to_owned).collect(),
        _ => vec![],
    }
}

#[test]
fn no_iam_statement_allows_star_actions() {
    for file in ["infra/template.yaml", "infra/mappings.yaml"] {
        let t = load(file);
        let mut found = Vec::new();
        statements(&t, &mut found);
        if file.ends_with("template.yaml") {
            assert!(
                found.len() >= 10,
                "{file}: only {} statements found",
                found.len()
            );
        }
        for s in found {
            assert_eq!(s["Effect"].as_str(), Some("Allow"), "{file}: {s:?}");
            assert!(
                s.get("NotAction").is_none() && s.get("NotResource").is_none(),
                "{s:?}"
            );
            let actions = strings(&s["Action"]);
            assert!(
                !actions.is_empty(),
                "{file}: statement without literal actions: {s:?}"
            );
            for a in &actions {
                assert!(
                    !a.contains('*'),
                    "{file}: action {a:?} has a wildcard: {s:?}"
                );
            }
            if strings(&s["Resource"]).iter().any(|r| r == "*") {
                for a in &actions {
                    assert!(
                        RESOURCE_STAR_OK.contains(&a.as_str()),
                        "{file}: {a} on Resource \"*\" (it supports resource-level permissions): {s:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn state_machine_invokes_exactly_the_cutover_and_validate_functions() {
    let t = load("infra/template.yaml");
    let sm = resources(&t)
        .values()
        .find(|r| r["Type"].as_str() == Some("AWS::Serverless::StateMachine"))
        .expect("a state machine");
    let p = &sm["Properties"];
    assert_eq!(
        p["DefinitionUri"].as_str(),
        Some("statemachine/cutover.asl.json")
    );
    let subs = p["DefinitionSubstitutions"]
        .as_mapping()
        .expect("DefinitionSubstitutions");
    for (key, function) in [
        ("CutoverFunctionName", "CutoverFunction"),
        ("ValidateFunctionName", "ValidateFunction"),
    ] {
        let v = subs
            .get(key)
            .unwrap_or_else(|| panic!("substitution {key}"));
        let Value::Tagged(tag) = v else {
            panic!("{key} must be !Ref {function} (the plain name): {v:?}")
        };
        assert_eq!(tag.tag.to_string(), "!Ref", "{key}");
        assert_eq!(tag.value.as_str(), Some(function), "{key}");
    }
    let mut invoked = BTreeSet::new();
    for policy in p["Policies"].as_sequence().expect("Policies") {
        if let Some(invoke) = policy.get("LambdaInvokePolicy") {
            let Value::Tagged(tag) = &invoke["FunctionName"] else {
                panic!("LambdaInvokePolicy FunctionName must be a !Ref: {invoke:?}")
            };
            invoked.insert(tag.value.as_str().unwrap_or_default().to_owned());
        } else {
            let mut found = Vec::new();
            statements(policy, &mut found);
            for s in found {
                for a in strings(&s["Action"]) {
                    assert!(
                        a.starts_with("logs:"),
                        "state machine may only invoke functions and log: {a}"
                    );
                }
            }
        }
    }
    assert_eq!(
        invoked,
        BTreeSet::from(["CutoverFunction".to_owned(), "ValidateFunction".to_owned()])
    );
    // Every ${Name} in the definition (once it exists) is substituted.
    let asl = root().join("infra/statemachine/cutover.asl.json");
    if let Ok(text) = std::fs::read_to_string(asl) {
        let _: serde_json::Value = serde_json::from_str(&text).expect("cutover.asl.json is JSON");
        let mut rest = text.as_str();
        while let Some(pos) = rest.find("${") {
            let after = &rest[pos + 2..];
            let end = after.find('}').expect("unterminated ${");
            let name = &after[..end];
            assert!(
                subs.contains_key(name),
                "cutover.asl.json uses ${{{name}}}, which DefinitionSubstitutions does not define"
            );
            rest = &after[end..];
        }
    }
}

#[test]
fn table_is_on_demand_with_point_in_time_recovery() {
    let t = load("infra/template.yaml");
    let tables: Vec<&Value> = resources(&t)
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .collect();
    assert_eq!(tables.len(), 1, "one table");
    let p = &tables[0]["Properties"];
    assert_eq!(p["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
}

#[test]
fn mappings_stack_gets_exactly_its_parameters() {
    let t = load("infra/template.yaml");
    let app = &resources(&t)["TopicMappings"];
    assert_eq!(app["Type"].as_str(), Some("AWS::Serverless::Application"));
    assert_eq!(
        app["Properties"]["Location"].as_str(),
        Some("mappings.yaml")
    );
    let passed: BTreeSet<String> = app["Properties"]["Parameters"]
        .as_mapping()
        .expect("Parameters")
        .keys()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    let nested = load("infra/mappings.yaml");
    let declared = nested["Parameters"]
        .as_mapping()
        .expect("nested Parameters");
    for (k, v) in declared {
        let k = k.as_str().unwrap();
        if v.get("Default").is_none() {
            assert!(
                passed.contains(k),
                "mappings.yaml parameter {k} is not passed"
            );
        }
    }
    for k in &passed {
        assert!(
            declared.contains_key(k.as_str()),
            "{k} is passed but mappings.yaml does not declare it"
        );
    }
    for (id, r) in resources(&nested) {
        if r["Type"].as_str() != Some("AWS::Lambda::EventSourceMapping") {
            continue;
        }
        let p = &r["Properties"];
        assert_eq!(
            p["Topics"].as_sequence().map(Vec::len),
            Some(1),
            "{id:?}: one topic per mapping"
        );
        let batch = p["BatchSize"].as_u64().expect("BatchSize");
        assert!((1..=10_000).contains(&batch), "{id:?}");
        assert_eq!(
            p["StartingPosition"].as_str(),
            Some("TRIM_HORIZON"),
            "{id:?}"
        );
    }
}

/// The `kafka-cluster:*` actions a function's managed policies grant (its `Policies` that are
/// `!Ref`s to `AWS::IAM::ManagedPolicy` resources, conditional ones included).
/// The managed policies (`!Ref`s under `Policies`) attached to `function`.
fn attached_policies<'a>(t: &'a Value, function: &str) -> Vec<&'a str> {
    let all = resources(t);
    let mut refs = Vec::new();
    fn collect_refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Tagged(tag) if tag.tag == "!Ref" => {
                if let Some(s) = tag.value.as_str() {
                    out.push(s);
                }
            }
            Value::Tagged(tag) => collect_refs(&tag.value, out),
            Value::Sequence(s) => s.iter().for_each(|c| collect_refs(c, out)),
            Value::Mapping(m) => m.iter().for_each(|(_, c)| collect_refs(c, out)),
            _ => {}
        }
    }
    collect_refs(&all[function]["Properties"]["Policies"], &mut refs);
    refs
}

fn msk_actions_of(t: &Value, function: &str) -> BTreeSet<String> {
    let all = resources(t);
    let refs = attached_policies(t, function);
    let mut actions = BTreeSet::new();
    for name in refs {
        let Some(policy) = all.get(name) else {
            continue;
        };
        if policy["Type"].as_str() != Some("AWS::IAM::ManagedPolicy") {
            continue;
        }
        let mut found = Vec::new();
        statements(policy, &mut found);
        for s in found {
            actions.extend(
                strings(&s["Action"])
                    .into_iter()
                    .filter(|a| a.starts_with("kafka-cluster:")),
            );
        }
    }
    actions
}

/// Admin requests work with MSK IAM (`ferry_kafka::admin_token`), so the role must grant them:
/// the cutover's preflight creates target topics, adds partitions and syncs configs; the mirror
/// reads the target topic's `max.message.bytes`. Nothing else gets topic admin rights.
#[test]
fn msk_iam_admin_actions_are_granted_where_used_and_nowhere_else() {
    let t = load("infra/template.yaml");
    let cutover = msk_actions_of(&t, "CutoverFunction");
    for a in [
        "kafka-cluster:CreateTopic",
        "kafka-cluster:AlterTopic",
        "kafka-cluster:DescribeTopicDynamicConfiguration",
        "kafka-cluster:AlterTopicDynamicConfiguration",
    ] {
        assert!(
            cutover.contains(a),
            "CutoverFunction lacks {a}: {cutover:?}"
        );
    }
    let discover = msk_actions_of(&t, "DiscoverFunction");
    for a in ["kafka-cluster:CreateTopic", "kafka-cluster:AlterTopic"] {
        assert!(
            discover.contains(a),
            "DiscoverFunction lacks {a}: {discover:?}"
        );
    }
    let mirror = msk_actions_of(&t, "MirrorFunction");
    assert!(
        mirror.contains("kafka-cluster:DescribeTopicDynamicConfiguration"),
        "{mirror:?}"
    );
    for function in ["MirrorFunction", "CheckpointFunction", "ValidateFunction"] {
        let granted = msk_actions_of(&t, function);
        for a in [
            "kafka-cluster:CreateTopic",
            "kafka-cluster:AlterTopic",
            "kafka-cluster:AlterTopicDynamicConfiguration",
        ] {
            assert!(
                !granted.contains(a),
                "{function} must not have {a}: {granted:?}"
            );
        }
    }
}

/// Issue 16: users give the clusters' ARNs instead of broker strings. Every function that
/// connects to a cluster gets `FERRY_<SIDE>_MSK_CLUSTER_ARN` and may call
/// `kafka:GetBootstrapBrokers` on exactly that cluster; the bootstrap parameters are optional
/// (a self-managed source still needs its servers: a template rule says so).
#[test]
fn functions_may_read_the_clusters_bootstrap_brokers_from_their_arns() {
    let t = load("infra/template.yaml");
    for side in ["Target", "Source"] {
        assert_eq!(
            t["Parameters"][format!("{side}BootstrapServers").as_str()]["Default"].as_str(),
            Some(""),
            "{side}BootstrapServers is optional"
        );
    }
    let rule = &t["Rules"]["SelfManagedSourceNeedsBootstrapServers"];
    assert!(
        rule["Assertions"][0]["AssertDescription"]
            .as_str()
            .is_some_and(|d| d.contains("SourceBootstrapServers")),
        "{rule:?}"
    );
    let all = resources(&t);
    let sides = [
        (
            "TARGET",
            "TargetMskClusterArn",
            &[
                "MirrorFunction",
                "CheckpointFunction",
                "ValidateFunction",
                "DiscoverFunction",
                "CutoverFunction",
            ][..],
        ),
        (
            "SOURCE",
            "SourceMskClusterArn",
            &[
                "MirrorFunction",
                "CheckpointFunction",
                "HeartbeatFunction",
                "ValidateFunction",
                "DiscoverFunction",
                "CutoverFunction",
            ][..],
        ),
    ];
    for (side, arn_param, functions) in sides {
        for function in functions {
            let env = env_vars(&all[*function]);
            let var = format!("FERRY_{side}_MSK_CLUSTER_ARN");
            assert!(env.contains_key(&var), "{function} lacks {var}");
            let mut granted = Vec::new();
            for name in attached_policies(&t, function) {
                let Some(policy) = all.get(name) else {
                    continue;
                };
                let mut found = Vec::new();
                statements(policy, &mut found);
                granted.extend(found.into_iter().filter(|s| {
                    strings(&s["Action"]).contains(&"kafka:GetBootstrapBrokers".to_owned())
                }));
            }
            let on = |statement: &Value, param: &str| {
                matches!(&statement["Resource"], Value::Tagged(tag)
                    if tag.tag == "!Ref" && tag.value.as_str() == Some(param))
            };
            assert!(
                granted.iter().any(|s| on(s, arn_param)),
                "{function} may not read the {side} bootstrap brokers"
            );
            for statement in granted {
                assert!(
                    on(statement, "TargetMskClusterArn") || on(statement, "SourceMskClusterArn"),
                    "{function}: GetBootstrapBrokers on the clusters only: {statement:?}"
                );
            }
        }
    }
}

/// Issue 16: the functions that administer target topics choose MSK's topic API at cold
/// start (`DescribeClusterV2`: Provisioned, Kafka >= 3.6.0), on the target cluster only.
#[test]
fn topic_administrators_may_describe_the_target_cluster() {
    let t = load("infra/template.yaml");
    let all = resources(&t);
    for function in ["DiscoverFunction", "CutoverFunction"] {
        let names = attached_policies(&t, function);
        assert!(
            names.contains(&"TargetMskTopicAdminPolicy"),
            "{function}: {names:?}"
        );
    }
    let mut found = Vec::new();
    statements(&all["TargetMskTopicAdminPolicy"], &mut found);
    let describe: Vec<&Value> = found
        .into_iter()
        .filter(|s| strings(&s["Action"]).contains(&"kafka:DescribeClusterV2".to_owned()))
        .collect();
    assert_eq!(describe.len(), 1, "one DescribeClusterV2 statement");
    assert!(
        matches!(&describe[0]["Resource"], Value::Tagged(tag)
            if tag.tag == "!Ref" && tag.value.as_str() == Some("TargetMskClusterArn")),
        "on the target cluster only: {:?}",
        describe[0]
    );
}

/// Issue 13: rollback commits the migrated groups' offsets on the source. On an IAM source
/// that needs AlterGroup on exactly those groups (`RollbackGroupArns`), granted to the cutover
/// only; the event source mappings' own groups keep their `ferry-*` grant.
#[test]
fn rollback_group_commits_are_granted_for_the_migrated_groups_only() {
    let t = load("infra/template.yaml");
    let all = resources(&t);
    let policy = &all["SourceMskRollbackGroupsPolicy"];
    assert_eq!(
        policy["Condition"].as_str(),
        Some("SourceIsMskWithRollbackGroups")
    );
    let mut found = Vec::new();
    statements(policy, &mut found);
    assert_eq!(found.len(), 1, "{found:?}");
    let s = found[0];
    assert_eq!(
        strings(&s["Action"]),
        vec!["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"]
    );
    match &s["Resource"] {
        Value::Tagged(tag) => {
            assert_eq!(tag.tag, "!Ref");
            assert_eq!(tag.value.as_str(), Some("RollbackGroupArns"));
        }
        other => panic!("Resource must be the RollbackGroupArns parameter: {other:?}"),
    }
    let params = t["Parameters"]["RollbackGroupArns"].clone();
    assert_eq!(params["Type"].as_str(), Some("CommaDelimitedList"));
    assert_eq!(params["Default"].as_str(), Some(""));
    // Attached to the cutover function and to nothing else.
    let users: Vec<&str> = all
        .iter()
        .filter(|(_, r)| {
            r["Type"].as_str() == Some("AWS::Serverless::Function")
                && format!("{:?}", r["Properties"]["Policies"])
                    .contains("SourceMskRollbackGroupsPolicy")
        })
        .filter_map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(users, vec!["CutoverFunction"]);
}

/// Issue 17: discovery creates the mappings of new topics. Only the discover function may call
/// `CreateEventSourceMapping`, on mappings that invoke the mirror function (condition
/// `lambda:FunctionArn`), and it runs one pass at a time.
#[test]
fn only_discovery_creates_mappings_and_only_for_the_mirror() {
    let t = load("infra/template.yaml");
    let mut creators = Vec::new();
    for (id, resource) in resources(&t) {
        let mut found = Vec::new();
        statements(resource, &mut found);
        for s in found {
            if strings(&s["Action"])
                .iter()
                .any(|a| a == "lambda:CreateEventSourceMapping")
            {
                creators.push(str_of(id).unwrap_or_default().to_owned());
                let condition = &s["Condition"]["StringEquals"]["lambda:FunctionArn"];
                let target = match condition {
                    Value::Tagged(tag) if tag.tag == "!GetAtt" => tag.value.as_str(),
                    _ => None,
                };
                assert_eq!(
                    target,
                    Some("MirrorFunction.Arn"),
                    "{id:?}: CreateEventSourceMapping must be limited to the mirror: {s:?}"
                );
            }
        }
    }
    assert_eq!(creators, ["DiscoverFunction"]);
    let discover = &resources(&t)["DiscoverFunction"]["Properties"];
    assert_eq!(
        discover["ReservedConcurrentExecutions"].as_u64(),
        Some(1),
        "overlapping discovery passes would race to create the same mappings"
    );
}
