//! The entry points in a real process (see `mode_conformance::entry`).
#![cfg(unix)]

mode_conformance::entry_tests! {
    run: mode_smol::run,
    run_until_signal: |app| smol::block_on(mode_smol::run_until_signal(app)),
}
