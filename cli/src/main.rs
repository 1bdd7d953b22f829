//! Entry point of `ferry`: parses the command line, sets up logging (warnings and errors on
//! stderr; `RUST_LOG` overrides) and runs the command on a tokio runtime.
//!
//! Exit codes: 0 success, 1 the demo's comparison found a mismatch, 2 an error.

use clap::Parser as _;
use ferry_cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    if matches!(cli.command, Command::Demo(_)) {
        // Before any thread exists: it may set environment variables.
        ferry_cli::demo::default_to_moto();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(ferry_cli::run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
