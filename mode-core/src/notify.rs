//! [`Notify`]: the flag and the waker slot that wake the tree's driver for new requests.

use core::task::{Context, Waker};

use atomic_waker::AtomicWaker;

use crate::platform::sync::atomic::{AtomicBool, Ordering};

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
    /// registered again only the first time, when it changed, or after a notification.
    /// (A notification's wake-up takes the registered waker, and may do so after this call
    /// registered it: the flag is set before the wake-up. So the call after one that saw a
    /// notification registers again.) One waiter at a time.
    pub(crate) fn take(&self, cx: &Context<'_>, registered: &mut Option<Waker>) -> bool {
        let mut notified = self.take_flag();
        let fresh = !registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()));
        if notified || fresh {
            self.waker.register(cx.waker());
            // Re-check: a notification between the first check and the registration
            // found no waker to wake.
            notified |= self.take_flag();
        }
        *registered = if notified {
            None
        } else if fresh {
            Some(cx.waker().clone())
        } else {
            registered.take()
        };
        notified
    }

    /// Clears the flag; whether it was set.
    fn take_flag(&self) -> bool {
        self.notified.load(Ordering::Relaxed) && self.notified.swap(false, Ordering::Acquire)
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use alloc::sync::Arc;
    use alloc::task::Wake;
    use core::sync::atomic::AtomicUsize;

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A notification whose flag the waiter takes before its wake-up runs: the wake-up then
    /// takes the waker the waiter had just registered, and the next `take` must register
    /// it again, or the notification after is lost.
    #[test]
    fn a_wake_up_that_lands_after_its_flag_was_taken_loses_no_later_notification() {
        let notify = Notify::default();
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let cx = Context::from_waker(&waker);
        let mut registered = None;
        assert!(!notify.take(&cx, &mut registered));

        // `notify` split in its two steps, the waiter's `take` in between.
        notify.notified.store(true, Ordering::Release);
        assert!(notify.take(&cx, &mut registered));
        notify.waker.wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);

        // The waiter, woken, finds nothing new, and registers again.
        assert!(!notify.take(&cx, &mut registered));
        notify.notify();
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            2,
            "the notification was lost"
        );
        assert!(notify.take(&cx, &mut registered));

        // Without a notification, the waker stays registered for the next one.
        assert!(!notify.take(&cx, &mut registered));
        assert!(!notify.take(&cx, &mut registered));
        notify.notify();
        assert_eq!(count.0.load(Ordering::SeqCst), 3);
    }
}
