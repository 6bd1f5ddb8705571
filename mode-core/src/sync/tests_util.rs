//! Hand-driven polling for the unit tests: wakers that count their wake-ups.

use alloc::sync::Arc;
use alloc::task::Wake;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker, and a function that returns how many times it has been woken.
pub(crate) fn count_wakes() -> (Waker, impl Fn() -> usize) {
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    (waker, move || counter.0.load(Ordering::SeqCst))
}

/// Polls `future` once with `waker`.
pub(crate) fn poll_once<F: Future + Unpin + ?Sized>(
    future: &mut F,
    waker: &Waker,
) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}
