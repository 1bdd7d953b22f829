//! `ferry-bench`: Ferry vs MirrorMaker 2 vs a raw rdkafka pipe vs the broker's producer perf
//! tool, on the local stack. Run it through `bench/run` (builds the release binaries first);
//! method and results: BENCHMARKS.md.
//!
//! Subcommands: `run` (the benchmark), and the processes it starts: `ferry-host` (Ferry's
//! local runtime) and `pipe` (the raw pipe). `dynamo` times the state store's DynamoDB calls
//! against local endpoints (moto, minidyn) on its own.

mod dynamo;
mod ferry;
mod kafka;
mod mm2;
mod pipe;
mod procs;
mod proxy;
mod run;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ferry-bench",
    about = "Ferry benchmark harness (see BENCHMARKS.md)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Runs the benchmark (all workloads and systems by default).
    Run(run::RunArgs),
    /// Ferry's local runtime as a process under test (started by `run`).
    FerryHost(ferry::FerryArgs),
    /// The raw consumer → producer pipe (started by `run`).
    Pipe(pipe::PipeArgs),
    /// Latency of the state store's DynamoDB calls against local endpoints (moto, minidyn).
    Dynamo(dynamo::DynamoArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Pipe(args) => pipe::run(&args),
        Cmd::Run(args) => runtime()?.block_on(run::run(args)),
        Cmd::FerryHost(args) => runtime()?.block_on(ferry::run(&args)),
        Cmd::Dynamo(args) => runtime()?.block_on(dynamo::run(args)),
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}
