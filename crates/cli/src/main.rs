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
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
