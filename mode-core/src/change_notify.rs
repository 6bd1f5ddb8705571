//! [`ChangeNotify`]: wakes whoever waits for a change of a service's state or flags, at the
//! cost of one load when nobody waits (most changes have no waiter).
//!
//! A waiter listens ([`ChangeNotify::listen`]), then checks its condition again, then
//! awaits the listener. A changer makes its change, then notifies. The listener count and
//! a `SeqCst` fence on each side order the two: either the notifier sees the listener, or
//! the listener's re-check sees the change (the loom model below checks it).
//!
//! A variant without the notifier's fence, for changes made by `SeqCst` stores, saved 1–2 %
//! on W1; it was dropped: too little for a second argument, and loom cannot check it (it
//! treats `SeqCst` loads and stores as `AcqRel`).

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use event_listener::{Event, EventListener};

use crate::platform::sync::atomic::{self, AtomicUsize, Ordering};

/// The waiters of one node's changes.
#[derive(Debug)]
pub(crate) struct ChangeNotify {
    changed: Event,
    /// Live [`ChangeListener`]s of `changed`.
    listeners: AtomicUsize,
}

impl ChangeNotify {
    pub(crate) fn new() -> Self {
        ChangeNotify {
            changed: Event::new(),
            listeners: AtomicUsize::new(0),
        }
    }

    /// Wakes every [`ChangeListener`]; call it after a change is visible.
    pub(crate) fn notify(&self) {
        // Pairs with the fence in `listen`: either this load sees the new listener, or that
        // listener's re-check sees the change made before this fence.
        atomic::fence(Ordering::SeqCst);
        if self.listeners.load(Ordering::Relaxed) != 0 {
            self.changed.notify(usize::MAX);
        }
    }

    /// Listens to the changes. Check the condition waited for again after this call: a
    /// change made before it may not wake the listener.
    pub(crate) fn listen(&self) -> ChangeListener<&Self> {
        ChangeNotify::listen_through(self)
    }

    /// [`listen`](Self::listen) through `holder`, which the listener keeps: an owner of the
    /// notifier, for a listener that must not borrow it.
    pub(crate) fn listen_through<H: AsRef<ChangeNotify>>(holder: H) -> ChangeListener<H> {
        let notify = holder.as_ref();
        notify.listeners.fetch_add(1, Ordering::Relaxed);
        atomic::fence(Ordering::SeqCst);
        let listener = notify.changed.listen();
        ChangeListener { holder, listener }
    }
}

impl AsRef<ChangeNotify> for ChangeNotify {
    fn as_ref(&self) -> &ChangeNotify {
        self
    }
}

/// A listener of changes (see [`ChangeNotify::listen`]); completes at the next change.
/// Keeps the notifier through `H`: a reference, or an owner of it.
#[derive(Debug)]
pub(crate) struct ChangeListener<H: AsRef<ChangeNotify>> {
    holder: H,
    listener: EventListener,
}

impl<H: AsRef<ChangeNotify>> Future for ChangeListener<H> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.listener).poll(cx)
    }
}

// The listener is `Unpin` whatever the holder is: it is never pinned through it.
impl<H: AsRef<ChangeNotify>> Unpin for ChangeListener<H> {}

impl<H: AsRef<ChangeNotify>> Drop for ChangeListener<H> {
    fn drop(&mut self) {
        let notify: &ChangeNotify = self.holder.as_ref();
        notify.listeners.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::platform::sync::atomic::AtomicBool;
    use crate::platform::sync::Arc;
    use loom::future::block_on;
    use loom::thread;

    /// Waits, as the node's waiters do, until `flag` is set.
    fn wait_for(notify: &ChangeNotify, flag: &AtomicBool) {
        loop {
            if flag.load(Ordering::SeqCst) {
                return;
            }
            let listener = notify.listen();
            if flag.load(Ordering::SeqCst) {
                return;
            }
            block_on(listener);
        }
    }

    /// A change made with a plain store, then `notify`: the waiter never sleeps through it.
    #[test]
    fn loom_change_notify_wakes_a_waiter() {
        loom::model(|| {
            let shared = Arc::new((ChangeNotify::new(), AtomicBool::new(false)));
            let changer = thread::spawn({
                let shared = shared.clone();
                move || {
                    shared.1.store(true, Ordering::Release);
                    shared.0.notify();
                }
            });
            wait_for(&shared.0, &shared.1);
            changer.join().unwrap();
        });
    }
}
