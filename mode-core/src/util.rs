//! Small future combinators the engine needs (kept here to keep mode-core's dependencies
//! small).

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use atomic_waker::AtomicWaker;

use crate::loom::plain::atomic::{AtomicBool, Ordering};
use crate::node::{ChangeListener, Node};

/// Which of two raced futures finished first.
#[derive(Debug)]
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

pin_project_lite::pin_project! {
    /// Polls `left` then `right`; finishes with the first that is ready (biased to `left`).
    pub(crate) struct Race<A, B> {
        #[pin]
        left: A,
        #[pin]
        right: B,
    }
}

pub(crate) fn race<A: Future, B: Future>(left: A, right: B) -> Race<A, B> {
    Race { left, right }
}

impl<A: Future, B: Future> Future for Race<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(value) = this.left.poll(cx) {
            return Poll::Ready(Either::Left(value));
        }
        if let Poll::Ready(value) = this.right.poll(cx) {
            return Poll::Ready(Either::Right(value));
        }
        Poll::Pending
    }
}

/// Completes once `node` is asked to stop. Reusable: keeps one listener registered across
/// polls, so a loop that races it against each tick allocates only when the node changes.
#[derive(Debug)]
pub(crate) struct StopSignal<'a> {
    node: &'a Node,
    listener: Option<ChangeListener<'a>>,
}

impl<'a> StopSignal<'a> {
    pub(crate) fn new(node: &'a Node) -> Self {
        StopSignal {
            node,
            listener: None,
        }
    }

    /// Waits for the stop flag.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: nothing is lost if the future is dropped.
    pub(crate) fn wait(&mut self) -> WaitStop<'_, 'a> {
        WaitStop { signal: self }
    }
}

/// The future of [`StopSignal::wait`].
#[derive(Debug)]
pub(crate) struct WaitStop<'s, 'a> {
    signal: &'s mut StopSignal<'a>,
}

impl Future for WaitStop<'_, '_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let signal = &mut *self.get_mut().signal;
        loop {
            if signal.node.should_stop() {
                return Poll::Ready(());
            }
            match &mut signal.listener {
                None => {
                    // Listen, then loop to re-check: a notification sent before the
                    // listener existed would otherwise be missed.
                    signal.listener = Some(signal.node.listen_changes());
                }
                Some(listener) => match Pin::new(listener).poll(cx) {
                    Poll::Ready(()) => signal.listener = None,
                    Poll::Pending => return Poll::Pending,
                },
            }
        }
    }
}

/// A wake-up for a single waiter: a flag and one waker slot, without the lock and the
/// listener list of an event. The tree's driver waits on one for queued commands.
///
/// Made for a waiter that is polled often, for other reasons too, with the same waker:
/// [`take`](Self::take) costs one load when nothing happened, and registers the waker only
/// when it must.
#[derive(Debug, Default)]
pub(crate) struct Notify {
    notified: AtomicBool,
    waker: AtomicWaker,
}

impl Notify {
    /// Wakes the waiter, or makes its next [`take`](Self::take) return `true`.
    pub(crate) fn notify(&self) {
        self.notified.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Whether [`notify`](Self::notify) was called since the last `take` that returned
    /// `true`; the next call wakes `cx`'s waker.
    ///
    /// `registered` is the waiter's memory of the waker it registered last: the waker is
    /// registered again only the first time, when it changed, or after a notification
    /// (which takes the registered waker to wake it). One waiter at a time.
    pub(crate) fn take(&self, cx: &Context<'_>, registered: &mut Option<Waker>) -> bool {
        let mut notified = self.take_flag();
        let fresh = !registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()));
        if notified || fresh {
            self.waker.register(cx.waker());
            if fresh {
                *registered = Some(cx.waker().clone());
            }
            // Re-check: a notification between the first check and the registration
            // found no waker to wake.
            notified |= self.take_flag();
        }
        notified
    }

    /// Clears the flag; whether it was set.
    fn take_flag(&self) -> bool {
        self.notified.load(Ordering::Relaxed) && self.notified.swap(false, Ordering::Acquire)
    }
}
