//! `ferry cutover start|status|approve|abort` and `ferry validate`: the operator's side of the
//! cutover state machine (`infra/statemachine/cutover.asl.json`).
//!
//! Locally the state machine runs on moto's Step Functions (created from the same ASL file with
//! the template's `DefinitionSubstitutions`), its Lambda tasks reach the functions hosted by
//! `ferry local` / `ferry demo` on the local Lambda API; on AWS the same commands talk to the
//! deployed state machine (`--state-machine-arn`).
//!
//! The migration id is the execution name. `approve` and `abort` answer the producer approval
//! gate with the task token the cutover function stored in the migration's state document.

use crate::args::{CutoverCommand, MigrationArgs, ValidateArgs};
use crate::progress::LiveLine;
use anyhow::Context as _;
use aws_sdk_sfn::types::ExecutionStatus;
use ferry_aws::DynamoStateStore;
use ferry_core::migration::{MigrationState, Phase};
use ferry_core::ports::MigrationStore;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Name of the state machine `ferry` creates locally.
pub const LOCAL_STATE_MACHINE: &str = "ferry-cutover";
/// The ASL file, relative to the repository root.
pub const ASL_PATH: &str = "infra/statemachine/cutover.asl.json";
/// Role ARN given to moto (it does not check it).
const LOCAL_ROLE: &str = "arn:aws:iam::123456789012:role/ferry-cutover-local";

/// A Step Functions client from the standard AWS configuration.
pub async fn sfn_client() -> aws_sdk_sfn::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    aws_sdk_sfn::Client::new(&config)
}

/// The ASL with the template's `DefinitionSubstitutions` applied.
pub fn definition(asl: &str, cutover_fn: &str, validate_fn: &str) -> anyhow::Result<String> {
    let text = asl
        .replace("${CutoverFunctionName}", cutover_fn)
        .replace("${ValidateFunctionName}", validate_fn);
    if let Some(i) = text.find("${") {
        let rest: String = text[i..].chars().take(40).collect();
        anyhow::bail!("unsubstituted placeholder in the state machine definition: {rest}");
    }
    serde_json::from_str::<Value>(&text).context("the state machine definition is not JSON")?;
    Ok(text)
}

/// Finds the repository's ASL file from the current directory or the executable's location.
pub fn find_asl() -> anyhow::Result<std::path::PathBuf> {
    let mut candidates = vec![std::env::current_dir()?];
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(exe.ancestors().map(Path::to_path_buf));
    }
    for dir in candidates {
        for d in dir.ancestors() {
            let p = d.join(ASL_PATH);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    anyhow::bail!("cannot find {ASL_PATH}: run ferry from the repository")
}

/// Creates (or updates) the local state machine from the ASL file; returns its ARN.
pub async fn deploy_local(
    client: &aws_sdk_sfn::Client,
    name: &str,
    cutover_fn: &str,
    validate_fn: &str,
) -> anyhow::Result<String> {
    let asl_path = find_asl()?;
    let asl = std::fs::read_to_string(&asl_path)
        .with_context(|| format!("cannot read {}", asl_path.display()))?;
    let def = definition(&asl, cutover_fn, validate_fn)?;
    let existing = client
        .list_state_machines()
        .send()
        .await
        .context("Step Functions ListStateMachines")?
        .state_machines
        .into_iter()
        .find(|m| m.name == name);
    if let Some(m) = existing {
        client
            .update_state_machine()
            .state_machine_arn(&m.state_machine_arn)
            .definition(def)
            .send()
            .await
            .context("Step Functions UpdateStateMachine")?;
        return Ok(m.state_machine_arn);
    }
    let out = client
        .create_state_machine()
        .name(name)
        .definition(def)
        .role_arn(LOCAL_ROLE)
        .send()
        .await
        .context("Step Functions CreateStateMachine")?;
    Ok(out.state_machine_arn)
}

/// Starts a migration: an execution named `id` with `input`; returns the execution ARN.
pub async fn start(
    client: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
    id: &str,
    input: &Value,
) -> anyhow::Result<String> {
    let out = client
        .start_execution()
        .state_machine_arn(state_machine_arn)
        .name(id)
        .input(input.to_string())
        .send()
        .await
        .context("Step Functions StartExecution")?;
    Ok(out.execution_arn)
}

/// The execution ARN of migration `id` of a state machine.
pub fn execution_arn(state_machine_arn: &str, id: &str) -> String {
    format!(
        "{}:{id}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

/// The migration's state document.
pub async fn load_state(
    store: &DynamoStateStore,
    id: &str,
) -> anyhow::Result<Option<MigrationState>> {
    match store.load_migration(id).await? {
        None => Ok(None),
        Some(doc) => Ok(Some(
            serde_json::from_str(&doc.value).context("migration state document")?,
        )),
    }
}

/// Approves the producer cutover of migration `id`.
/// How long ago `since_ms` (epoch ms) was, for people.
fn held_for(since_ms: i64) -> String {
    let held = u64::try_from(epoch_ms() - since_ms).unwrap_or(0);
    indicatif::HumanDuration(Duration::from_millis(held)).to_string()
}

fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Changes migration `id`'s state document with `change` (read, change, conditional save;
/// retried on a concurrent change by the state machine).
async fn change_state<T>(
    store: &DynamoStateStore,
    id: &str,
    mut change: impl FnMut(&mut MigrationState) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    use ferry_core::ports::{MigrationStore as _, StoreError};
    for _ in 0..10 {
        let doc = store
            .load_migration(id)
            .await?
            .with_context(|| format!("migration {id} does not exist"))?;
        let mut state: MigrationState = serde_json::from_str(&doc.value)
            .with_context(|| format!("migration {id}: malformed state document"))?;
        let out = change(&mut state)?;
        match store
            .save_migration(id, &serde_json::to_string(&state)?, Some(doc.version))
            .await
        {
            Ok(_) => return Ok(out),
            Err(StoreError::VersionConflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("migration {id} kept changing while it was updated; try again")
}

/// Asks migration `id` to pause at its next step (before producers move): the state machine
/// holds it there until [`resume`]. Groups already moving finish first.
pub async fn pause(store: &DynamoStateStore, id: &str, by: &str) -> anyhow::Result<()> {
    change_state(store, id, |s| {
        if s.hold.is_some() {
            anyhow::bail!("migration {id} is already held: `ferry cutover status {id}`");
        }
        Ok(s.request_pause(by, false, epoch_ms())?)
    })
    .await
}

/// Answers a hold (the `HoldForOperator` task): `decision` is `resume` or `rollback`.
async fn decide(
    client: &aws_sdk_sfn::Client,
    token: &str,
    decision: &str,
    reason: &str,
) -> anyhow::Result<()> {
    client
        .send_task_success()
        .task_token(token)
        .output(json!({"decision": decision, "reason": reason}).to_string())
        .send()
        .await
        .context("Step Functions SendTaskSuccess")?;
    Ok(())
}

/// What [`resume`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resumed {
    /// The held migration runs this step again.
    Step(String),
    /// A pause request no step had honoured yet was withdrawn.
    PauseWithdrawn,
}

/// Resumes a migration held after a failed step or paused: the state machine runs that step
/// again. A pause request not honoured yet is withdrawn.
pub async fn resume(
    client: &aws_sdk_sfn::Client,
    store: &DynamoStateStore,
    id: &str,
) -> anyhow::Result<Resumed> {
    let state = load_state(store, id)
        .await?
        .with_context(|| format!("migration {id} does not exist"))?;
    let Some(hold) = &state.hold else {
        // A pause no step honoured yet is simply withdrawn.
        if state.pause_request.is_some()
            && change_state(store, id, |s| Ok(s.cancel_pause(epoch_ms()))).await?
        {
            return Ok(Resumed::PauseWithdrawn);
        }
        anyhow::bail!(
            "migration {id} is not held (phase {}): nothing to resume",
            state.phase
        );
    };
    decide(client, &hold.token, "resume", "resumed by the operator").await?;
    Ok(Resumed::Step(hold.step.clone()))
}

pub async fn approve(
    client: &aws_sdk_sfn::Client,
    store: &DynamoStateStore,
    id: &str,
    by: &str,
) -> anyhow::Result<()> {
    let state = load_state(store, id)
        .await?
        .with_context(|| format!("migration {id} does not exist"))?;
    let token = match (&state.approval_token, state.phase) {
        (Some(t), Phase::AwaitingApproval) => t.clone(),
        _ => anyhow::bail!(
            "migration {id} is not waiting for approval (phase {})",
            state.phase
        ),
    };
    client
        .send_task_success()
        .task_token(token)
        .output(json!({"approved_by": by}).to_string())
        .send()
        .await
        .context("Step Functions SendTaskSuccess")?;
    Ok(())
}

/// Approves gated group `group`'s move in migration `id` (the state machine then asks its
/// consumers to stop on the source and moves it).
pub async fn approve_group(
    client: &aws_sdk_sfn::Client,
    store: &DynamoStateStore,
    id: &str,
    group: &str,
    by: &str,
) -> anyhow::Result<()> {
    let token = change_state(store, id, |s| Ok(s.approve_group(group, by, epoch_ms())?)).await?;
    let Some(token) = token else {
        // Recorded: the state machine will not ask when it reaches the group.
        return Ok(());
    };
    client
        .send_task_success()
        .task_token(token)
        .output(json!({"approved_by": by, "group": group}).to_string())
        .send()
        .await
        .context("Step Functions SendTaskSuccess")?;
    Ok(())
}

/// Aborts migration `id` (the state machine rolls back exactly): at the approval gate or from a
/// hold at once, in any other phase before producers move at its next step.
pub async fn abort(
    client: &aws_sdk_sfn::Client,
    store: &DynamoStateStore,
    id: &str,
    reason: &str,
) -> anyhow::Result<()> {
    let state = load_state(store, id)
        .await?
        .with_context(|| format!("migration {id} does not exist"))?;
    if let Some(hold) = &state.hold {
        if !hold.can_roll_back() {
            anyhow::bail!(
                "migration {id} is held after its rollback failed ({}); only `ferry cutover resume {id}` can continue it",
                hold.cause
            );
        }
        decide(client, &hold.token, "rollback", reason).await?;
        return Ok(());
    }
    // A gated group waiting for its approval: failing that task fails the group moves, and the
    // state machine rolls back.
    if let Some(token) = state.group_tokens.values().next() {
        client
            .send_task_failure()
            .task_token(token)
            .error("Ferry.Aborted")
            .cause(reason)
            .send()
            .await
            .context("Step Functions SendTaskFailure")?;
        return Ok(());
    }
    let Some(token) = state.approval_token.clone() else {
        // Anywhere else: the next step that starts new work fails with Ferry.Aborted and the
        // state machine rolls back exactly.
        return change_state(store, id, |s| {
            Ok(s.request_pause(reason, true, epoch_ms())?)
        })
        .await;
    };
    client
        .send_task_failure()
        .task_token(token)
        .error("Ferry.Aborted")
        .cause(reason)
        .send()
        .await
        .context("Step Functions SendTaskFailure")?;
    Ok(())
}

/// An execution's status, error and output.
#[derive(Debug, Clone)]
pub struct ExecutionInfo {
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, ...
    pub status: String,
    /// Error name when failed.
    pub error: Option<String>,
    /// Cause when failed.
    pub cause: Option<String>,
    /// Output when succeeded.
    pub output: Option<Value>,
}

impl ExecutionInfo {
    /// Whether the execution ended.
    pub fn finished(&self) -> bool {
        self.status != ExecutionStatus::Running.as_str()
    }
}

/// Describes an execution.
pub async fn describe(client: &aws_sdk_sfn::Client, arn: &str) -> anyhow::Result<ExecutionInfo> {
    let d = client
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .context("Step Functions DescribeExecution")?;
    Ok(ExecutionInfo {
        status: d.status.as_str().to_string(),
        error: d.error,
        cause: d.cause,
        output: d.output.and_then(|o| serde_json::from_str(&o).ok()),
    })
}

/// Waits until the execution ends or `timeout` passes.
pub async fn wait(
    client: &aws_sdk_sfn::Client,
    arn: &str,
    timeout: Duration,
) -> anyhow::Result<ExecutionInfo> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let info = describe(client, arn).await?;
        if info.finished() || tokio::time::Instant::now() >= deadline {
            return Ok(info);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The operator's view of a migration, as JSON (`--json`) or lines.
pub fn status_json(state: &MigrationState, execution: Option<&ExecutionInfo>) -> Value {
    json!({
        "migration_id": state.id,
        "phase": state.phase,
        "producers": state.producers,
        "groups": state.groups,
        "topics": state.topics,
        "awaiting_approval": state.approval_token.is_some(),
        "held": state.hold.as_ref().map(|h| json!({
            "step": h.step,
            "cause": h.cause,
            "since_ms": h.since_ms,
            "can_roll_back": h.can_roll_back(),
            "next": h.next_steps(&state.id),
        })),
        "pause_request": state.pause_request,
        "cause": state.cause,
        "execution": execution.map(|e| json!({"status": e.status, "error": e.error, "cause": e.cause})),
        "history": state.history,
    })
}

/// Human-readable status lines.
pub fn status_lines(state: &MigrationState, execution: Option<&ExecutionInfo>) -> Vec<String> {
    let mut out = vec![format!(
        "migration {}: phase {}, producers on {:?}{}",
        state.id,
        state.phase,
        state.producers,
        execution.map_or(String::new(), |e| format!(", execution {}", e.status))
    )];
    if let Some(topics) = &state.topics {
        out.push(format!(
            "  wave: {} topic(s): {}",
            topics.len(),
            topics.join(", ")
        ));
    }
    for name in state.group_tokens.keys() {
        out.push(format!(
            "  group {name} waits for your approval: `ferry cutover approve {} --group {name}` (or `ferry cutover abort {}`)",
            state.id, state.id
        ));
    }
    for (name, g) in &state.groups {
        out.push(format!(
            "  group {name}: {:?}{}{}{}",
            g.phase,
            match (&g.gated, &g.approved_by) {
                (true, Some(by)) => format!(" (gated, approved by {by})"),
                (true, None) => " (gated)".to_owned(),
                _ => String::new(),
            },
            if g.offsets.is_empty() {
                String::new()
            } else {
                format!(" ({} partitions)", g.offsets.len())
            },
            g.note
                .as_deref()
                .map_or(String::new(), |n| format!(" — {n}"))
        ));
    }
    if let Some(h) = &state.hold {
        if h.is_pause() {
            out.push(format!(
                "  PAUSED (held) for {} before step {}: {}",
                held_for(h.since_ms),
                h.step,
                h.cause
            ));
        } else {
            out.push(format!(
                "  HELD for {} after step {} failed: {}",
                held_for(h.since_ms),
                h.step,
                h.cause
            ));
        }
        out.push(format!(
            "  producers stay {:?} until you decide: {}",
            state.producers,
            h.next_steps(&state.id)
        ));
    }
    if let Some(p) = &state.pause_request {
        out.push(format!(
            "  {} requested by {} {} ago: it takes effect at the next step (groups already moving finish first){}",
            if p.abort { "ABORT" } else { "PAUSE" },
            p.by,
            held_for(p.at_ms),
            if p.abort {
                String::new()
            } else {
                format!("; withdraw it with `ferry cutover resume {}`", state.id)
            }
        ));
    }
    if state.approval_token.is_some() {
        out.push(format!(
            "  waiting for approval: `ferry cutover approve {}` or `ferry cutover abort {}`",
            state.id, state.id
        ));
    }
    if let Some(c) = &state.cause {
        out.push(format!("  cause: {c}"));
    }
    out
}

async fn store_for(table: &str) -> DynamoStateStore {
    DynamoStateStore::new(ferry_aws::client_from_env().await, table.to_string())
}

async fn machine_arn(client: &aws_sdk_sfn::Client, at: &MigrationArgs) -> anyhow::Result<String> {
    match &at.state_machine_arn {
        Some(arn) => Ok(arn.clone()),
        None => deploy_local(client, LOCAL_STATE_MACHINE, "cutover", "validate").await,
    }
}

fn no_state_line(id: &str, execution: Option<&ExecutionInfo>) -> String {
    format!(
        "migration {id}: no state yet (execution {})",
        execution.map_or("unknown", |e| e.status.as_str())
    )
}

/// `ferry cutover status --watch` (text): the status on stdout whenever it changes, and a live
/// spinner line on stderr (terminal only) in between, until the execution ends.
async fn watch_status(
    client: &aws_sdk_sfn::Client,
    store: &DynamoStateStore,
    arn: &str,
    id: &str,
) -> anyhow::Result<bool> {
    let live = LiveLine::new();
    let mut shown: Vec<String> = Vec::new();
    loop {
        let execution = describe(client, arn).await.ok();
        let state = match load_state(store, id).await {
            Ok(state) => state,
            Err(err) => {
                live.finish();
                return Err(err);
            }
        };
        let lines = match &state {
            Some(s) => status_lines(s, execution.as_ref()),
            None => vec![no_state_line(id, execution.as_ref())],
        };
        if lines != shown {
            live.stdout(&lines);
            shown = lines;
        }
        let done = execution.as_ref().is_some_and(ExecutionInfo::finished);
        if done {
            live.clear();
            return Ok(execution.is_none_or(|e| e.status != "FAILED"));
        }
        if live.is_terminal() {
            live.set(format!("{} (refreshing every 2 s)", shown[0]));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Runs `ferry cutover ...`.
pub async fn run(command: CutoverCommand) -> anyhow::Result<bool> {
    let client = sfn_client().await;
    match command {
        CutoverCommand::Start {
            id,
            groups,
            topics,
            gated_groups,
            lag_threshold,
            on_group_timeout,
            at,
        } => {
            let machine = machine_arn(&client, &at).await?;
            let mut input =
                json!({"lag_threshold": lag_threshold, "on_group_timeout": on_group_timeout});
            if !groups.is_empty() {
                input["groups"] = json!(groups);
            }
            if !topics.is_empty() {
                input["topics"] = json!(topics);
            }
            if !gated_groups.is_empty() {
                input["gated_groups"] = json!(gated_groups);
            }
            let execution = start(&client, &machine, &id, &input).await?;
            if at.json {
                println!(
                    "{}",
                    json!({"migration_id": id, "execution_arn": execution})
                );
            } else {
                println!("started migration {id}\n  execution {execution}\n  watch it: ferry cutover status {id} --watch");
            }
            Ok(true)
        }
        CutoverCommand::Status { id, watch, at } => {
            let store = store_for(&at.table).await;
            let machine = machine_arn(&client, &at).await?;
            let arn = execution_arn(&machine, &id);
            if watch && !at.json {
                return watch_status(&client, &store, &arn, &id).await;
            }
            loop {
                let execution = describe(&client, &arn).await.ok();
                let state = load_state(&store, &id).await?;
                match (&state, at.json) {
                    (Some(s), true) => println!("{}", status_json(s, execution.as_ref())),
                    (Some(s), false) => {
                        for line in status_lines(s, execution.as_ref()) {
                            println!("{line}");
                        }
                    }
                    (None, _) => println!("{}", no_state_line(&id, execution.as_ref())),
                }
                let done = execution.as_ref().is_some_and(ExecutionInfo::finished);
                if !watch || done {
                    return Ok(execution.is_none_or(|e| e.status != "FAILED"));
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
        CutoverCommand::Approve { id, group, by, at } => {
            let store = store_for(&at.table).await;
            match group {
                Some(group) => {
                    approve_group(&client, &store, &id, &group, &by).await?;
                    println!("approved the move of group {group} in {id}");
                }
                None => {
                    approve(&client, &store, &id, &by).await?;
                    println!("approved the producer cutover of {id}");
                }
            }
            Ok(true)
        }
        CutoverCommand::Abort { id, reason, at } => {
            let store = store_for(&at.table).await;
            abort(&client, &store, &id, &reason).await?;
            println!("abort of {id} sent: the state machine rolls back (at its next step unless it was waiting)");
            Ok(true)
        }
        CutoverCommand::Resume { id, at } => {
            let store = store_for(&at.table).await;
            match resume(&client, &store, &id).await? {
                Resumed::Step(step) => {
                    println!("resumed {id}: the state machine runs {step} again")
                }
                Resumed::PauseWithdrawn => println!("{id}: the pause request is withdrawn"),
            }
            Ok(true)
        }
        CutoverCommand::Pause { id, reason, at } => {
            let store = store_for(&at.table).await;
            pause(&store, &id, &reason).await?;
            println!(
                "pause requested for {id}: it holds at its next step (groups already moving finish first)\n  watch it: ferry cutover status {id} --watch\n  continue: ferry cutover resume {id}"
            );
            Ok(true)
        }
    }
}

/// Runs `ferry validate`: invokes the validate function and prints its report.
pub async fn validate(args: &ValidateArgs) -> anyhow::Result<bool> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let payload = json!({"migration_id": args.migration_id, "mode": args.mode});
    let out = lambda
        .invoke()
        .function_name(&args.function)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
        .send()
        .await
        .context("Lambda Invoke of the validate function")?;
    let body: Value = out
        .payload()
        .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
        .unwrap_or(Value::Null);
    if let Some(kind) = out.function_error() {
        anyhow::bail!(
            "validate failed ({kind}): {}",
            body["errorMessage"].as_str().unwrap_or("no message")
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        println!(
            "validation {}: verdict {}, lag {} records ({} partitions behind), {} mismatches",
            body["mode"].as_str().unwrap_or("?"),
            body["verdict"].as_str().unwrap_or("?"),
            body["lag"]["total"],
            body["lag"]["partitions_behind"],
            body["mismatches"].as_array().map_or(0, Vec::len)
        );
        for m in body["mismatches"].as_array().into_iter().flatten() {
            println!(
                "  {} {}/{} at source offset {} / target offset {}: {}",
                m["kind"].as_str().unwrap_or("?"),
                m["topic"].as_str().unwrap_or("?"),
                m["partition"],
                m["source_offset"],
                m["target_offset"],
                m["detail"].as_str().unwrap_or("")
            );
        }
    }
    Ok(body["verdict"] == "ok")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutions_are_complete() {
        let asl = std::fs::read_to_string(find_asl().unwrap()).unwrap();
        let def = definition(&asl, "cutover", "validate").unwrap();
        assert!(def.contains("\"FunctionName\": \"cutover\""));
        assert!(definition("{\"x\": \"${Other}\"}", "a", "b").is_err());
    }

    #[test]
    fn execution_arns() {
        assert_eq!(
            execution_arn(
                "arn:aws:states:us-east-1:123456789012:stateMachine:ferry-cutover",
                "m1"
            ),
            "arn:aws:states:us-east-1:123456789012:execution:ferry-cutover:m1"
        );
    }
}
