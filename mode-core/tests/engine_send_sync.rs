//! Compile-time checks: handles and the futures they return are `Send + Sync`, errors are
//! `Send + Sync + 'static`, so they cross threads and tasks freely.

use core::future::Future;

use mode_core::time::Duration;
use mode_core::{Crash, Error, ServiceHandle, State, StopReason, WaitError};

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>(_: &T) {}
fn error<T: core::error::Error + Send + Sync + 'static>() {}

#[allow(dead_code)]
fn handle_futures_are_send(handle: &ServiceHandle, other: &ServiceHandle) {
    send(&handle.stop());
    send(&handle.start());
    send(&handle.maybe_start());
    send(&handle.restart());
    send(&handle.wait_until_stopped());
    send(&handle.wait_until_running());
    send(&handle.sleep(Duration::from_secs(1)));
    send(&handle.wait(async {}));
    send(&handle.wait_timeout(async {}, Duration::from_secs(1)));
    send(&handle.wait_for_stopped(other));
    let first = handle.wait_first([async {}]);
    send(&first);
    assert_future(first);
}

fn assert_future<F: Future>(_: F) {}

#[test]
fn public_types_cross_threads() {
    send_sync::<ServiceHandle>();
    send_sync::<State>();
    send_sync::<StopReason>();
    send_sync::<Crash>();
    error::<Crash>();
    error::<Error>();
    error::<WaitError>();
    error::<mode_core::Stopped>();
    error::<mode_core::runtime::SpawnError>();
}

/// The futures of a handle's requests and waits are named: they can be kept in a struct,
/// and are `Send + Sync + Unpin + 'static`.
#[test]
fn handle_futures_are_named_and_storable() {
    use mode_core::handle::{MaybeStart, Restart, Sleep, Start, Stop, UntilRunning, UntilStopped};

    fn storable<T: Future + Send + Sync + Unpin + 'static>() {}
    storable::<Stop>();
    storable::<Start>();
    storable::<Restart>();
    storable::<MaybeStart>();
    storable::<UntilRunning>();
    storable::<UntilStopped>();
    storable::<Sleep>();

    /// What a user may write: a request kept in a field, awaited later.
    #[allow(dead_code)]
    struct Pending {
        stop: Stop,
        tick: Sleep,
    }
}
