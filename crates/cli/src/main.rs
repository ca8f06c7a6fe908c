//! `callvault`: the operator's command line. Thin glue over `callvault-vault`.
//!
//! No command prints audio or patient identifiers: output is counts, ids, hashes, sites and
//! reasons. Exit codes: 0 success, 1 problems found or rows failed, 2 usage error.

mod args;
mod commands;
mod demo_serve;
mod remote;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    init_logging();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            ExitCode::from(1)
        }
    }
}

/// Logs (the server's, the witness's) go to standard error: plain text by default, one JSON
/// object per line with `CALLVAULT_LOG_FORMAT=json`; the level from `CALLVAULT_LOG`
/// (`error`, `warn`, `info` — the default — `debug`, `trace`).
fn init_logging() {
    use tracing_subscriber::filter::LevelFilter;
    let level = std::env::var("CALLVAULT_LOG")
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false);
    if std::env::var("CALLVAULT_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// An error and its causes on one line, each said once: a cause whose text its wrapper
/// already includes (as `io::Error`s inside the vault's messages are) is not repeated.
fn report(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if out.contains(&s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s);
    }
    out
}
