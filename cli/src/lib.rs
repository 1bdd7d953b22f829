//! # ferry-cli
//!
//! The `ferry` command:
//!
//! * `ferry demo`: full local migration demo on the running stack ([`demo::migration`]);
//!   `ferry demo --mirror-only`: the mirror and a per-partition comparison only
//!   ([`demo::mirror_only`]).
//! * `ferry local`: the local runtime, the mirror behind one event source mapping per topic,
//!   until Ctrl-C ([`local`]).
//! * `ferry status`: per-partition progress, lag and segments ([`status`]).
//! * `ferry cutover start|status|approve|resume|abort` and `ferry validate`: the operator's side of
//!   the cutover state machine ([`cutover`]).
//! * `ferry plan`: volume-tiered event source mappings for the SAM template ([`plan`]).
//! * `ferry storage`: a Provisioned MSK target's broker volumes sized from the plan and the
//!   source's retention, grown after asking ([`storage`]).
//! * `ferry translate`: the exact target position of a source offset or of a group's committed
//!   offsets, for consumers without a consumer group ([`translate`]).
//!
//! [`args`] holds the clap definitions, [`clusters`] the connections they name, [`runtime`] the local-runtime wiring shared by `demo`
//! and `local`, [`state`] the reading of offsets and DynamoDB state, [`report`] the tables, [`progress`] the live
//! progress line on stderr.

pub mod apps;
pub mod args;
pub mod clusters;
pub mod cutover;
pub mod demo;
pub mod local;
pub mod plan;
pub mod progress;
pub mod report;
pub mod runtime;
pub mod state;
pub mod status;
pub mod storage;
pub mod translate;

pub use args::{Cli, Command};

/// Runs a parsed command. `Ok(false)` means it ran but found a problem (the demo's
/// comparison failed).
pub async fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Demo(args) => demo::run(&args).await,
        Command::Local(args) => local::run(&args).await.map(|()| true),
        Command::Status(args) => status::run(&args).await.map(|()| true),
        Command::Plan(args) => plan::run(&args).await,
        Command::Cutover(c) => cutover::run(c).await,
        Command::Validate(args) => cutover::validate(&args).await,
        Command::Translate(args) => translate::run(&args).await,
        Command::Storage(args) => storage::run(&args).await,
    }
}
