//! The Worker in a real process (see `mode_conformance::worker`).
#![cfg(unix)]

mode_conformance::worker_tests! {
    worker: mode_tokio::Worker,
}
