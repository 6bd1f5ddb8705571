//! [`Event`]: a flag that tasks can wait for.
//!
//! The async counterpart of `asyncio.Event`, which mode uses for "started", "stopped" and
//! "crashed" notifications. It is level-triggered: [`Event::wait`] completes at once while
//! the flag is set, and [`Event::set`] wakes every waiter.
//!
//! A waiter that was waiting when `set` was called completes even if `clear` runs before it
//! is polled again, as with `asyncio.Event`: a quick `set(); clear();` pulse is never lost.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use event_listener::EventListener;

use crate::platform::sync::atomic::{AtomicUsize, Ordering};

/// Bit 0 of the state: the flag is set.
const SET: usize = 1;
/// One unit of the set counter kept in the bits above [`SET`].
const ONE_SET: usize = 2;

/// A flag that tasks can wait for; `set` wakes every waiter.
///
/// `Event` is `Send + Sync` and has a `const` constructor, so it can live in a `static`;
/// its wait list is allocated on first use. A task that has to wait allocates one
/// listener.
///
/// ```
/// # futures_lite::future::block_on(async {
/// use mode::sync::Event;
///
/// static READY: Event = Event::new();
///
/// assert!(!READY.is_set());
/// READY.set();
/// READY.wait().await; // completes at once: the flag is set
/// assert!(READY.is_set());
/// READY.clear();
/// assert!(!READY.is_set());
/// # });
/// ```
///
/// Waking a task that waits in another thread:
///
/// ```
/// use std::sync::Arc;
/// use mode::sync::Event;
///
/// let event = Arc::new(Event::new());
/// let waiter = std::thread::spawn({
///     let event = event.clone();
///     move || futures_lite::future::block_on(event.wait())
/// });
/// event.set();
/// waiter.join().unwrap();
/// assert!(event.is_set());
/// ```
pub struct Event {
    /// Bit 0: the flag ([`SET`]). The bits above count how many times the flag went from
    /// clear to set (wrapping), so that a waiter notices a set that was cleared again
    /// before the waiter ran.
    state: AtomicUsize,
    /// Where waiters sleep.
    waiters: event_listener::Event,
}

impl Event {
    loom_const_fn! {
        /// Creates an event whose flag is clear.
        #[must_use]
        pub fn new() -> Event {
            Event {
                state: AtomicUsize::new(0),
                waiters: event_listener::Event::new(),
            }
        }
    }

    /// Sets the flag and wakes every task waiting in [`wait`](Self::wait).
    ///
    /// Setting a flag that is already set does nothing. Whatever the caller wrote before
    /// `set` is visible to a waiter after its `wait` completes.
    ///
    /// ```
    /// use mode::sync::Event;
    ///
    /// let event = Event::new();
    /// event.set();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    pub fn set(&self) {
        // SeqCst: the flag must be visible before the notification below, and a waiter's
        // re-check after registering its listener must see it (the eventcount rule that
        // event-listener's fences complete). The write also releases the caller's writes.
        let changed = self
            .state
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |state| {
                (state & SET == 0).then(|| (state | SET).wrapping_add(ONE_SET))
            })
            .is_ok();
        if changed {
            self.waiters.notify(usize::MAX);
        }
    }

    /// Clears the flag. Tasks that call [`wait`](Self::wait) from now on wait for the
    /// next [`set`](Self::set).
    ///
    /// ```
    /// use mode::sync::Event;
    ///
    /// let event = Event::new();
    /// event.set();
    /// event.clear();
    /// assert!(!event.is_set());
    /// ```
    pub fn clear(&self) {
        self.state.fetch_and(!SET, Ordering::SeqCst);
    }

    /// Whether the flag is set.
    #[must_use]
    pub fn is_set(&self) -> bool {
        // Acquire pairs with the release in `set`.
        self.state.load(Ordering::Acquire) & SET != 0
    }

    /// Waits until the flag is set.
    ///
    /// Completes at once if the flag is set. The future also completes if the flag is set
    /// at any moment after `wait` was called, even if it is cleared again before the
    /// future is polled.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses nothing, since waiting consumes no state.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use mode::sync::Event;
    ///
    /// let event = Event::new();
    /// let wait = event.wait();
    /// event.set();
    /// event.clear(); // the pulse is not lost for a waiter created before it
    /// wait.await;
    /// # });
    /// ```
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            event: self,
            sets_seen: self.state.load(Ordering::SeqCst) & !SET,
            listener: None,
        }
    }

    /// The number of clear-to-set transitions so far, without the flag bit.
    fn sets(&self) -> (bool, usize) {
        // SeqCst: this is the re-check of the eventcount protocol (see `set`).
        let state = self.state.load(Ordering::SeqCst);
        (state & SET != 0, state & !SET)
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}

/// The future returned by [`Event::wait`].
///
/// # Cancel safety
///
/// Cancel safe: dropping the future loses nothing, since waiting consumes no state.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct Wait<'a> {
    event: &'a Event,
    /// The set counter when the future was created: a different value means the flag was
    /// set since, even if it is clear now.
    sets_seen: usize,
    /// Registered only when the flag was found clear; boxed by event-listener.
    listener: Option<EventListener>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let (set, sets) = self.event.sets();
            if set || sets != self.sets_seen {
                super::discard(&mut self.listener);
                return Poll::Ready(());
            }
            match self.listener.as_mut() {
                // Check, listen, re-check: the loop re-reads the state after registering.
                None => self.listener = Some(self.event.waiters.listen()),
                Some(listener) => match Pin::new(listener).poll(cx) {
                    Poll::Ready(()) => self.listener = None,
                    Poll::Pending => return Poll::Pending,
                },
            }
        }
    }
}

impl fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("event", self.event)
            .field("listening", &self.listener.is_some())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    extern crate std;

    use super::*;
    use crate::sync::tests_util::{count_wakes, poll_once};
    use alloc::sync::Arc;
    use alloc::vec::Vec;

    #[test]
    fn wait_completes_at_once_when_set() {
        let event = Event::new();
        event.set();
        let (waker, wakes) = count_wakes();
        let mut wait = event.wait();
        assert!(poll_once(&mut wait, &waker).is_ready());
        assert_eq!(wakes(), 0);
    }

    #[test]
    fn set_wakes_every_waiter_once() {
        let event = Event::new();
        let (waker, wakes) = count_wakes();
        let mut waits: Vec<Wait<'_>> = (0..3).map(|_| event.wait()).collect();
        for wait in &mut waits {
            assert!(poll_once(wait, &waker).is_pending());
        }
        event.set();
        assert_eq!(wakes(), 3);
        event.set(); // already set: no further wake-ups
        assert_eq!(wakes(), 3);
        for wait in &mut waits {
            assert!(poll_once(wait, &waker).is_ready());
        }
    }

    #[test]
    fn pulse_completes_registered_waiter() {
        let event = Event::new();
        let (waker, wakes) = count_wakes();
        let mut wait = event.wait();
        assert!(poll_once(&mut wait, &waker).is_pending());
        event.set();
        event.clear();
        assert_eq!(wakes(), 1);
        assert!(poll_once(&mut wait, &waker).is_ready());
    }

    #[test]
    fn cleared_event_blocks_new_waiters() {
        let event = Event::new();
        event.set();
        event.clear();
        let (waker, _) = count_wakes();
        let mut wait = event.wait();
        assert!(poll_once(&mut wait, &waker).is_pending());
        event.set();
        assert!(poll_once(&mut wait, &waker).is_ready());
    }

    #[test]
    fn threads_wait_for_set() {
        let event = Arc::new(Event::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let event = event.clone();
                std::thread::spawn(move || futures_lite::future::block_on(event.wait()))
            })
            .collect();
        event.set();
        for thread in threads {
            thread.join().unwrap();
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::platform::sync::Arc;
    use loom::future::block_on;
    use loom::thread;

    /// One setter, one waiter: the smallest model of the lost-wake-up race between the
    /// waiter's check and its listener registration.
    #[test]
    fn loom_event_set_wakes_waiter() {
        loom::model(|| {
            let event = Arc::new(Event::new());
            let setter = thread::spawn({
                let event = event.clone();
                move || event.set()
            });
            block_on(event.wait());
            assert!(event.is_set());
            setter.join().unwrap();
        });
    }

    /// A set immediately followed by a clear must still complete a waiter that existed
    /// before the set: two threads are enough to interleave the pulse with the waiter's
    /// check and registration.
    #[test]
    fn loom_event_pulse_is_not_lost() {
        loom::model(|| {
            let event = Arc::new(Event::new());
            let wait = event.wait();
            let pulser = thread::spawn({
                let event = event.clone();
                move || {
                    event.set();
                    event.clear();
                }
            });
            block_on(wait);
            pulser.join().unwrap();
            assert!(!event.is_set());
        });
    }

    /// Two waiters on two threads plus the setter on the main thread (three threads in
    /// all): `set` must wake both, whatever order they registered in.
    #[test]
    fn loom_event_wakes_two_waiters() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(2);
        builder.check(|| {
            let event = Arc::new(Event::new());
            let waiters: [_; 2] = core::array::from_fn(|_| {
                let event = event.clone();
                thread::spawn(move || block_on(event.wait()))
            });
            event.set();
            for waiter in waiters {
                waiter.join().unwrap();
            }
        });
    }
}
