//! The entry points in a real process (see `mode_conformance::entry`).
#![cfg(unix)]

mode_conformance::entry_tests! {
    run: mode_tokio::run,
    run_until_signal: |app| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(mode_tokio::run_until_signal(app))
    },
}
