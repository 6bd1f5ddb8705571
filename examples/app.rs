//! mode's README application, run from the command line by the Worker.
//!
//! ```text
//! cargo run -p mode-examples --example app -- --help
//! cargo run -p mode-examples --example app -- --port 8000 -l debug --runtime smol
//! cargo run -p mode-examples --example app -- --graph=mermaid
//! ```
//!
//! Connect with `nc 127.0.0.1 8000` to get a line back; stop with Ctrl-C to see the stop
//! order in the log, or send SIGUSR1 to see a dump of the tree.

use std::process::ExitCode;

use clap::Parser;
use mode::worker::WorkerArgs;
use mode_examples::app::App;

/// mode's README application: a webserver, a cache and a websocket hub.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// The port the webserver listens on.
    #[arg(long, default_value_t = 8000)]
    port: u16,

    /// The executor that runs the tree.
    #[arg(long, value_enum, default_value_t = Runtime::Tokio)]
    runtime: Runtime,

    #[command(flatten)]
    worker: WorkerArgs,
}

/// The executors the app runs on.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Runtime {
    Tokio,
    Smol,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let app = App::new(cli.port);
    match cli.runtime {
        Runtime::Tokio => mode::tokio::Worker::new(app).with_args(cli.worker).run(),
        Runtime::Smol => mode::smol::Worker::new(app).with_args(cli.worker).run(),
    }
}
