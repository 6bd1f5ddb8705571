//! mode's README application, run from the command line.
//!
//! ```text
//! cargo run -p mode-examples --example app -- [--port 8000] [--loglevel info] [--graph]
//!                                                  [--runtime tokio|smol]
//! ```
//!
//! Connect with `nc 127.0.0.1 8000` to get a line back; stop with Ctrl-C to see the stop
//! order in the log.

use std::process::ExitCode;

use mode::log_format::{parse_level, ModeLogger};
use mode_examples::app::App;

const USAGE: &str = "usage: app [--port PORT] [--loglevel LEVEL] [--graph] [--runtime tokio|smol]";

/// The executor that runs the tree.
enum Runtime {
    Tokio,
    Smol,
}

struct Args {
    port: u16,
    level: log::LevelFilter,
    graph: bool,
    runtime: Runtime,
}

fn parse_args() -> std::result::Result<Args, String> {
    let mut args = Args {
        port: 8000,
        level: log::LevelFilter::Info,
        graph: false,
        runtime: Runtime::Tokio,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--port" => {
                let value = iter.next().ok_or("--port needs a value")?;
                args.port = value
                    .parse()
                    .map_err(|_| format!("--port: {value:?} is not a port number"))?;
            }
            "--loglevel" | "-l" => {
                let value = iter.next().ok_or("--loglevel needs a value")?;
                args.level = parse_level(&value).map_err(|err| err.to_string())?;
            }
            "--graph" => args.graph = true,
            "--runtime" => {
                args.runtime = match iter.next().as_deref() {
                    Some("tokio") => Runtime::Tokio,
                    Some("smol") => Runtime::Smol,
                    other => {
                        return Err(format!("--runtime: expected tokio or smol, got {other:?}"))
                    }
                };
            }
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if let Err(err) = ModeLogger::new(args.level).init() {
        eprintln!("cannot install the logger: {err}");
        return ExitCode::FAILURE;
    }
    let app = App::new(args.port).print_graph(args.graph);
    match args.runtime {
        Runtime::Tokio => mode::tokio::run(app),
        Runtime::Smol => mode::smol::run(app),
    }
}
