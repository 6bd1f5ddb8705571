//! [`FlowControlEvent`]: suspend and resume the producers of many queues at once.
//!
//! A flow-control event is shared by any number of [`FlowControlQueue`]s. While it is
//! suspended, their `put` waits (and `try_put` fails); [`resume`](FlowControlEvent::resume)
//! lets them continue. Consumers are not stopped: `get` keeps draining what is buffered,
//! as in mode. The event *starts suspended*, as in mode: whoever owns the flow decides
//! when data may move (use [`FlowControlEvent::new_resumed`] to start active).
//!
//! [`clear`](FlowControlEvent::clear) tells every holder of buffered data that the data is
//! stale (in Faust: the partitions were reassigned). Queues created with
//! [`FlowControlQueue::with_clear_on_resume`] drop what they buffered before the clear
//! (a producer waiting at that moment then delivers its item); other holders watch
//! [`generation`](FlowControlEvent::generation) or await
//! [`cleared`](FlowControlEvent::cleared). As in mode, every `resume` also clears.
//!
//! [`FlowControlQueue`]: crate::sync::FlowControlQueue
//! [`FlowControlQueue::with_clear_on_resume`]: crate::sync::FlowControlQueue::with_clear_on_resume

use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use event_listener::EventListener;

use crate::platform::sync::atomic::{AtomicUsize, Ordering};
use crate::platform::sync::{Arc, Mutex};

/// Bit 0 of the state: suspended.
const SUSPENDED: usize = 1;
/// One unit of the clear counter kept in the bits above [`SUSPENDED`].
const ONE_CLEAR: usize = 2;

/// The wake-up lists of one queue, shared with the [`FlowControlEvent`] that manages it so
/// that `resume` and `clear` can wake the queue's waiters.
pub(crate) struct QueueWakers {
    /// Tasks waiting to put: the queue is full or the flow suspended.
    pub(crate) put: event_listener::Event,
    /// Tasks waiting to get: the queue is empty (the flow does not matter).
    pub(crate) get: event_listener::Event,
}

impl QueueWakers {
    pub(crate) fn new() -> Self {
        QueueWakers {
            put: event_listener::Event::new(),
            get: event_listener::Event::new(),
        }
    }
}

/// Suspends and resumes the queues that share it; starts suspended.
///
/// ```
/// # futures_lite::future::block_on(async {
/// use mode::sync::FlowControlEvent;
///
/// let flow = FlowControlEvent::new();
/// assert!(!flow.is_active()); // starts suspended, as in mode
///
/// let generation = flow.generation();
/// flow.resume(); // resuming also clears
/// assert!(flow.is_active());
/// assert_ne!(flow.generation(), generation);
/// flow.acquire().await; // active: completes at once
///
/// flow.suspend();
/// assert!(!flow.is_active());
/// # });
/// ```
pub struct FlowControlEvent {
    /// Bit 0: [`SUSPENDED`]. The bits above count clears (wrapping).
    state: AtomicUsize,
    /// Where [`Acquire`] and [`Cleared`] futures sleep.
    changed: event_listener::Event,
    /// The queues that use this event. Lock order: this lock is never held while a queue's
    /// lock is taken, nor while waking.
    queues: Mutex<Vec<Arc<QueueWakers>>>,
}

impl FlowControlEvent {
    loom_const_fn! {
        /// Creates a suspended flow-control event (mode's default).
        #[must_use]
        pub fn new() -> FlowControlEvent {
            FlowControlEvent::with_state(SUSPENDED)
        }
    }

    loom_const_fn! {
        /// Creates an active flow-control event (mode's `initially_suspended=False`).
        ///
        /// ```
        /// use mode::sync::FlowControlEvent;
        ///
        /// assert!(FlowControlEvent::new_resumed().is_active());
        /// ```
        #[must_use]
        pub fn new_resumed() -> FlowControlEvent {
            FlowControlEvent::with_state(0)
        }
    }

    loom_const_fn! {
        fn with_state(state: usize) -> FlowControlEvent {
            FlowControlEvent {
                state: AtomicUsize::new(state),
                changed: event_listener::Event::new(),
                queues: Mutex::new(Vec::new()),
            }
        }
    }

    /// Suspends the flow: `put` on the queues that use this event waits (and `try_put`
    /// fails with `Suspended`) until [`resume`](Self::resume). Consumers are not stopped:
    /// `get` keeps taking what is buffered.
    ///
    /// Operations already past their checks complete; nothing is cleared.
    ///
    /// ```
    /// use mode::sync::FlowControlEvent;
    ///
    /// let flow = FlowControlEvent::new_resumed();
    /// flow.suspend();
    /// assert!(!flow.is_active());
    /// ```
    pub fn suspend(&self) {
        // SeqCst: the eventcount protocol with the queues' re-checks (see `resume`).
        self.state.fetch_or(SUSPENDED, Ordering::SeqCst);
    }

    /// Resumes the flow and [clears](Self::clear), as mode's `resume` does: every task
    /// waiting in [`acquire`](Self::acquire) or in a queue's `put` is woken.
    ///
    /// ```
    /// use mode::sync::FlowControlEvent;
    ///
    /// let flow = FlowControlEvent::new();
    /// flow.resume();
    /// assert!(flow.is_active());
    /// assert_eq!(flow.generation(), 1);
    /// ```
    pub fn resume(&self) {
        // One atomic step, so no observer sees "active" with the old generation.
        // SeqCst: waiters re-check the state after registering their listener; the state
        // must be written before the notifications below.
        let _ = self
            .state
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |state| {
                Some((state & !SUSPENDED).wrapping_add(ONE_CLEAR))
            });
        self.changed.notify(usize::MAX);
        self.wake_producers();
    }

    /// Tells every holder of buffered data that it is stale.
    ///
    /// Increments [`generation`](Self::generation), completes every [`Cleared`] future,
    /// and clears the queues created with `clear_on_resume`: what they buffered before
    /// this call is dropped, and their waiting `put`s are woken to deliver their items
    /// once the flow is active and there is room. The flow stays suspended or active as
    /// it was.
    ///
    /// ```
    /// use mode::sync::FlowControlEvent;
    ///
    /// let flow = FlowControlEvent::new();
    /// flow.clear();
    /// assert_eq!(flow.generation(), 1);
    /// assert!(!flow.is_active());
    /// ```
    pub fn clear(&self) {
        // SeqCst: as in `resume`.
        self.state.fetch_add(ONE_CLEAR, Ordering::SeqCst);
        self.changed.notify(usize::MAX);
        self.wake_producers();
    }

    /// Whether the flow is active (not suspended).
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.load() & SUSPENDED == 0
    }

    /// How many times the flow was cleared (each [`resume`](Self::resume) counts), wrapping
    /// on overflow. Holders of buffered data compare it with the value they saw when they
    /// buffered.
    #[must_use]
    pub fn generation(&self) -> usize {
        self.load() >> 1
    }

    /// Waits until the flow is active.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: waiting consumes nothing.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use std::sync::Arc;
    /// use mode::sync::FlowControlEvent;
    ///
    /// let flow = Arc::new(FlowControlEvent::new());
    /// let resumer = std::thread::spawn({
    ///     let flow = flow.clone();
    ///     move || flow.resume()
    /// });
    /// flow.acquire().await;
    /// assert!(flow.is_active());
    /// # resumer.join().unwrap();
    /// # });
    /// ```
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire {
            flow: self,
            listener: None,
        }
    }

    /// Waits for the next [`clear`](Self::clear) (or [`resume`](Self::resume)) after this
    /// call.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: waiting consumes nothing; a new `cleared()` only sees later clears.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use mode::sync::FlowControlEvent;
    ///
    /// let flow = FlowControlEvent::new();
    /// let cleared = flow.cleared();
    /// flow.clear();
    /// cleared.await;
    /// # });
    /// ```
    pub fn cleared(&self) -> Cleared<'_> {
        Cleared {
            flow: self,
            generation: self.generation(),
            listener: None,
        }
    }

    /// The whole state word.
    pub(crate) fn load(&self) -> usize {
        // SeqCst: the re-check half of the eventcount protocol (see `resume`).
        self.state.load(Ordering::SeqCst)
    }

    /// Lets `resume` and `clear` wake a queue's waiters.
    pub(crate) fn register(&self, wakers: Arc<QueueWakers>) {
        self.queues.with(|queues| queues.push(wakers));
    }

    /// Forgets a dropped queue.
    pub(crate) fn deregister(&self, wakers: &Arc<QueueWakers>) {
        self.queues
            .with(|queues| queues.retain(|queue| !Arc::ptr_eq(queue, wakers)));
    }

    /// Wakes the producers of every registered queue: on resume they may proceed, and
    /// on a clear a `clear_on_resume` queue has room again. Consumers never wait on the
    /// flow, so they are not woken.
    fn wake_producers(&self) {
        // Wake outside the lock: a waker is foreign code. The copy costs one allocation
        // per resume or clear, never per item.
        let queues = self.queues.with(|queues| queues.clone());
        for queue in &queues {
            queue.put.notify(usize::MAX);
        }
    }
}

impl Default for FlowControlEvent {
    /// A suspended event, like [`FlowControlEvent::new`].
    fn default() -> Self {
        FlowControlEvent::new()
    }
}

impl fmt::Debug for FlowControlEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowControlEvent")
            .field("active", &self.is_active())
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

/// The future returned by [`FlowControlEvent::acquire`].
///
/// # Cancel safety
///
/// Cancel safe: waiting consumes nothing.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct Acquire<'a> {
    flow: &'a FlowControlEvent,
    listener: Option<EventListener>,
}

impl Future for Acquire<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.flow.is_active() {
                super::discard(&mut self.listener);
                return Poll::Ready(());
            }
            match self.listener.as_mut() {
                // Check, listen, re-check.
                None => self.listener = Some(self.flow.changed.listen()),
                Some(listener) => match Pin::new(listener).poll(cx) {
                    Poll::Ready(()) => self.listener = None,
                    Poll::Pending => return Poll::Pending,
                },
            }
        }
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("flow", self.flow)
            .finish_non_exhaustive()
    }
}

/// The future returned by [`FlowControlEvent::cleared`].
///
/// # Cancel safety
///
/// Cancel safe: waiting consumes nothing; a new `cleared()` only sees later clears.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct Cleared<'a> {
    flow: &'a FlowControlEvent,
    generation: usize,
    listener: Option<EventListener>,
}

impl Future for Cleared<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.flow.generation() != self.generation {
                super::discard(&mut self.listener);
                return Poll::Ready(());
            }
            match self.listener.as_mut() {
                None => self.listener = Some(self.flow.changed.listen()),
                Some(listener) => match Pin::new(listener).poll(cx) {
                    Poll::Ready(()) => self.listener = None,
                    Poll::Pending => return Poll::Pending,
                },
            }
        }
    }
}

impl fmt::Debug for Cleared<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cleared")
            .field("flow", self.flow)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::tests_util::{count_wakes, poll_once};

    #[test]
    fn starts_suspended_unless_asked() {
        assert!(!FlowControlEvent::new().is_active());
        assert!(!FlowControlEvent::default().is_active());
        assert!(FlowControlEvent::new_resumed().is_active());
    }

    #[test]
    fn acquire_waits_until_resume() {
        let flow = FlowControlEvent::new();
        let (waker, wakes) = count_wakes();
        let mut acquire = flow.acquire();
        assert!(poll_once(&mut acquire, &waker).is_pending());
        flow.clear(); // wakes, but the flow is still suspended
        assert!(poll_once(&mut acquire, &waker).is_pending());
        flow.resume();
        assert!(wakes() >= 1);
        assert!(poll_once(&mut acquire, &waker).is_ready());
    }

    #[test]
    fn suspend_and_resume_keep_generation_consistent() {
        let flow = FlowControlEvent::new_resumed();
        assert_eq!(flow.generation(), 0);
        flow.suspend();
        flow.suspend();
        assert_eq!(flow.generation(), 0);
        flow.resume();
        flow.resume(); // mode clears on every resume, even when already active
        assert_eq!(flow.generation(), 2);
        assert!(flow.is_active());
    }

    #[test]
    fn cleared_sees_only_later_clears() {
        let flow = FlowControlEvent::new();
        flow.clear();
        let (waker, _) = count_wakes();
        let mut cleared = flow.cleared();
        assert!(poll_once(&mut cleared, &waker).is_pending());
        flow.suspend();
        assert!(poll_once(&mut cleared, &waker).is_pending());
        flow.clear();
        assert!(poll_once(&mut cleared, &waker).is_ready());
    }

    #[test]
    fn registered_queues_are_woken() {
        let flow = FlowControlEvent::new();
        let wakers = Arc::new(QueueWakers::new());
        flow.register(wakers.clone());
        let (waker, wakes) = count_wakes();
        let mut put = wakers.put.listen();
        let mut get = wakers.get.listen();
        assert!(poll_once(&mut put, &waker).is_pending());
        assert!(poll_once(&mut get, &waker).is_pending());
        flow.clear();
        assert_eq!(wakes(), 1, "clear wakes producers");
        assert!(poll_once(&mut put, &waker).is_ready());
        let mut put = wakers.put.listen();
        assert!(poll_once(&mut put, &waker).is_pending());
        flow.resume();
        assert_eq!(wakes(), 2, "resume wakes producers, never consumers");
        assert!(poll_once(&mut get, &waker).is_pending());
        flow.deregister(&wakers);
        assert_eq!(Arc::strong_count(&wakers), 1);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::future::block_on;
    use loom::thread;

    /// A resumer racing one `acquire` (two threads): the waiter must not miss the resume
    /// between its check and its registration.
    #[test]
    fn loom_flow_resume_wakes_acquire() {
        loom::model(|| {
            let flow = Arc::new(FlowControlEvent::new());
            let resumer = thread::spawn({
                let flow = flow.clone();
                move || flow.resume()
            });
            block_on(flow.acquire());
            assert!(flow.is_active());
            resumer.join().unwrap();
        });
    }

    /// Suspend and resume from one thread while another acquires (two threads). The
    /// acquire completes once the final resume is visible, and the generation shows one
    /// clear per resume.
    #[test]
    fn loom_flow_suspend_resume_race() {
        loom::model(|| {
            let flow = Arc::new(FlowControlEvent::new());
            let toggler = thread::spawn({
                let flow = flow.clone();
                move || {
                    flow.resume();
                    flow.suspend();
                    flow.resume();
                }
            });
            block_on(flow.acquire());
            toggler.join().unwrap();
            assert!(flow.is_active());
            assert_eq!(flow.generation(), 2);
        });
    }

    /// A clear racing a `cleared()` future created before it (two threads).
    #[test]
    fn loom_flow_clear_completes_cleared() {
        loom::model(|| {
            let flow = Arc::new(FlowControlEvent::new());
            let cleared = flow.cleared();
            let clearer = thread::spawn({
                let flow = flow.clone();
                move || flow.clear()
            });
            block_on(cleared);
            clearer.join().unwrap();
            assert_eq!(flow.generation(), 1);
        });
    }
}
