//! The `qsafe` command line: parses, calls the libraries, prints.

mod cli;
mod cmd;
mod failure;
mod io;
mod pipeline;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use crate::failure::{Failure, exit};

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let json = cli.json;
    match cmd::run(cli) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(failure) => report(&failure, json),
    }
}

fn report(failure: &Failure, json: bool) -> ExitCode {
    eprintln!("error: {}", failure.message);
    if let Some(hint) = &failure.hint {
        eprintln!("hint: {hint}");
    }
    if json && !failure.json_done {
        let doc = serde_json::json!({
            "schema_version": 1,
            "ok": false,
            "error": { "exit_code": failure.code, "message": failure.message, "hint": failure.hint },
        });
        println!("{doc}");
    }
    ExitCode::from(failure.code)
}
