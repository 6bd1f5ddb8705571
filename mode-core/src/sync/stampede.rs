//! [`Stampede`]: concurrent callers share one in-flight call.
//!
//! When many tasks ask for the same expensive thing at once (a token refresh, a cache
//! fill), only the first call runs; the others wait for it and all receive a clone of its
//! result. As soon as the call completes, the next call runs afresh: results are shared,
//! never cached.
//!
//! mode's changelog lists two bugs this design rules out: calls made in the same event
//! loop iteration each ran the function (here the first caller to be polled starts the
//! call and every later caller joins it, however close together), and the in-flight
//! flag was not cleared when the call finished (here it is cleared before anyone gets
//! the result).
//!
//! # Cancellation
//!
//! The call runs inside whichever caller is polling it; there is no background task.
//! Dropping one caller does not cancel the call: another waiting caller takes over
//! polling it. When *every* caller has been dropped, nobody wants the result, so the
//! call is dropped (cancelled) and the next call starts afresh.
//!
//! # Locks
//!
//! Two locks: the stampede's slot for the in-flight call, and the call's own state. The
//! slot may be locked first and the call's state inside it, never the other way round.
//! Neither is held while the call is polled or dropped.

use alloc::boxed::Box;
use core::fmt;
use core::future::Future;
use core::mem;
use core::pin::Pin;
use core::task::{Context, Poll};

use event_listener::EventListener;

use crate::platform::sync::{Arc, Mutex};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Shares one in-flight call of an async function among concurrent callers.
///
/// ```
/// # futures_lite::future::block_on(async {
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use mode::sync::Stampede;
///
/// static CALLS: AtomicU32 = AtomicU32::new(0);
/// static REFRESH: Stampede<u32> = Stampede::new();
///
/// let fetch = || async {
///     let n = CALLS.fetch_add(1, Ordering::SeqCst) + 100;
///     futures_lite::future::yield_now().await; // the call takes a while
///     n
/// };
///
/// // Four callers at once: one call, four copies of its result.
/// let results = futures_lite::future::zip(
///     futures_lite::future::zip(REFRESH.call(fetch), REFRESH.call(fetch)),
///     futures_lite::future::zip(REFRESH.call(fetch), REFRESH.call(fetch)),
/// )
/// .await;
/// assert_eq!(results, ((100, 100), (100, 100)));
/// assert_eq!(CALLS.load(Ordering::SeqCst), 1);
///
/// // The call completed, so the next one runs afresh.
/// assert_eq!(REFRESH.call(fetch).await, 101);
/// # });
/// ```
pub struct Stampede<T> {
    /// The call in flight, if any. Lock order: before a flight's state.
    current: Mutex<Option<Arc<Flight<T>>>>,
}

/// One shared call.
struct Flight<T> {
    state: Mutex<FlightState<T>>,
    /// Where callers that are not polling the call sleep: woken all at once when it
    /// completes, one at a time to hand the polling over.
    waiters: event_listener::Event,
}

struct FlightState<T> {
    /// The call. `None` while it is being created or polled, and once it is finished.
    future: Option<BoxFuture<T>>,
    /// The caller whose waker the call holds; only it polls. `None` after it left.
    poller: Option<u64>,
    /// Callers that joined and have neither received the result nor been dropped.
    callers: usize,
    /// Ticket for the next caller.
    next_caller: u64,
    /// The result, kept for the callers that still have to receive it.
    result: Option<T>,
    /// Completed, cancelled or poisoned: nobody may join any more.
    finished: bool,
    /// The call panicked.
    poisoned: bool,
}

impl<T> Flight<T> {
    fn new() -> Self {
        Flight {
            state: Mutex::new(FlightState {
                future: None,
                poller: None,
                callers: 0,
                next_caller: 0,
                result: None,
                finished: false,
                poisoned: false,
            }),
            waiters: event_listener::Event::new(),
        }
    }
}

impl<T> FlightState<T> {
    fn join(&mut self) -> u64 {
        self.callers += 1;
        self.next_caller += 1;
        self.next_caller
    }
}

impl<T> Stampede<T> {
    loom_const_fn! {
        /// Creates a stampede guard with no call in flight.
        #[must_use]
        pub fn new() -> Stampede<T> {
            Stampede {
                current: Mutex::new(None),
            }
        }
    }

    /// Whether a call is in flight.
    ///
    /// ```
    /// use mode::sync::Stampede;
    ///
    /// assert!(!Stampede::<()>::new().is_in_flight());
    /// ```
    #[must_use]
    pub fn is_in_flight(&self) -> bool {
        self.current.with(|current| current.is_some())
    }

    /// Forgets `flight` if it is still the one in flight, so the next call starts afresh.
    fn clear_current(&self, flight: &Arc<Flight<T>>) {
        let old = self.current.with(|current| match current {
            Some(in_flight) if Arc::ptr_eq(in_flight, flight) => current.take(),
            _ => None,
        });
        drop(old);
    }
}

impl<T: Clone> Stampede<T> {
    /// Calls `function` and awaits its future, unless a call is already in flight: then
    /// waits for that call instead and returns a clone of its result (`function` is not
    /// called).
    ///
    /// The caller joins or starts a call when the returned future is first polled.
    ///
    /// # Cancel safety
    ///
    /// Dropping this future never cancels the shared call while another caller waits for
    /// it; dropping the last caller cancels it. The result is lost only for the callers
    /// that were dropped.
    ///
    /// # Panics
    ///
    /// If the shared call panicked (in whichever caller was polling it), every caller
    /// waiting for it panics too.
    pub fn call<F, Fut>(&self, function: F) -> Call<'_, T, F>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        Call {
            stampede: self,
            function: Some(function),
            flight: None,
            listener: None,
        }
    }
}

impl<T> Default for Stampede<T> {
    fn default() -> Self {
        Stampede::new()
    }
}

impl<T> fmt::Debug for Stampede<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stampede")
            .field("in_flight", &self.is_in_flight())
            .finish()
    }
}

/// A caller's membership in a flight.
struct Joined<T> {
    flight: Arc<Flight<T>>,
    ticket: u64,
    /// Received the result: nothing to undo on drop.
    done: bool,
}

/// The future returned by [`Stampede::call`].
///
/// # Cancel safety
///
/// Dropping this future never cancels the shared call while another caller waits for
/// it; dropping the last caller cancels it. The result is lost only for the callers
/// that were dropped.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct Call<'a, T, F> {
    stampede: &'a Stampede<T>,
    /// The function, until this caller joins (and calls it, if it starts the flight).
    function: Option<F>,
    flight: Option<Joined<T>>,
    listener: Option<EventListener>,
}

// `F` is never pinned: it is called by value on the first poll.
impl<T, F> Unpin for Call<'_, T, F> {}

/// What a caller does next, decided under the flight's lock.
enum Step<T> {
    Done(T),
    Poll(BoxFuture<T>),
    Wait,
    Poisoned,
}

/// Marks the flight poisoned if the call panics while a caller holds it.
struct PanicGuard<'a, T> {
    stampede: &'a Stampede<T>,
    flight: &'a Arc<Flight<T>>,
}

impl<T> PanicGuard<'_, T> {
    fn disarm(self) {
        mem::forget(self);
    }
}

impl<T> Drop for PanicGuard<'_, T> {
    fn drop(&mut self) {
        self.flight.state.with(|state| {
            state.poisoned = true;
            state.finished = true;
            state.poller = None;
        });
        self.stampede.clear_current(self.flight);
        self.flight.waiters.notify(usize::MAX);
    }
}

impl<T, F, Fut> Call<'_, T, F>
where
    T: Clone,
    F: FnOnce() -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    /// Joins the flight in progress, or starts one (calling the function).
    fn join_or_start(&mut self) {
        let stampede = self.stampede;
        let (flight, ticket, starts) = stampede.current.with(|current| {
            if let Some(flight) = current.as_ref() {
                let ticket = flight
                    .state
                    .with(|state| (!state.finished).then(|| state.join()));
                if let Some(ticket) = ticket {
                    return (flight.clone(), ticket, false);
                }
            }
            let flight = Arc::new(Flight::new());
            // The starter is the poller from the outset, so joiners wait for it.
            let ticket = flight.state.with(|state| {
                let ticket = state.join();
                state.poller = Some(ticket);
                ticket
            });
            *current = Some(flight.clone());
            (flight, ticket, true)
        });
        self.flight = Some(Joined {
            flight: flight.clone(),
            ticket,
            done: false,
        });
        if let (true, Some(function)) = (starts, self.function.take()) {
            let guard = PanicGuard {
                stampede,
                flight: &flight,
            };
            let future: BoxFuture<T> = Box::pin(function());
            guard.disarm();
            flight.state.with(|state| state.future = Some(future));
        }
        self.function = None;
    }
}

impl<T, F, Fut> Future for Call<'_, T, F>
where
    T: Clone,
    F: FnOnce() -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if self.flight.is_none() {
            self.join_or_start();
        }
        let this = &mut *self;
        let Some(joined) = this.flight.as_mut() else {
            unreachable!("joined above");
        };
        assert!(!joined.done, "`Call` polled after it completed");
        loop {
            let step = joined.flight.state.with(|state| {
                if state.poisoned {
                    return Step::Poisoned;
                }
                if state.result.is_some() {
                    state.callers -= 1;
                    let result = if state.callers == 0 {
                        state.result.take()
                    } else {
                        state.result.clone()
                    };
                    return result.map_or(Step::Wait, Step::Done);
                }
                let mine = state.poller.is_none_or(|poller| poller == joined.ticket);
                match (mine, state.future.take()) {
                    (true, Some(future)) => {
                        state.poller = Some(joined.ticket);
                        Step::Poll(future)
                    }
                    (_, future) => {
                        state.future = future;
                        Step::Wait
                    }
                }
            });
            match step {
                Step::Done(result) => {
                    joined.done = true;
                    super::discard(&mut this.listener);
                    return Poll::Ready(result);
                }
                Step::Poisoned => panic!("the shared call of a `Stampede` panicked"),
                Step::Poll(mut future) => {
                    let guard = PanicGuard {
                        stampede: this.stampede,
                        flight: &joined.flight,
                    };
                    let poll = future.as_mut().poll(cx);
                    guard.disarm();
                    match poll {
                        Poll::Pending => {
                            joined
                                .flight
                                .state
                                .with(|state| state.future = Some(future));
                            return Poll::Pending;
                        }
                        Poll::Ready(result) => {
                            joined.done = true;
                            super::discard(&mut this.listener);
                            joined.flight.state.with(|state| {
                                state.finished = true;
                                state.poller = None;
                                state.callers -= 1;
                                if state.callers > 0 {
                                    state.result = Some(result.clone());
                                }
                            });
                            // Cleared before anyone is woken: a new call starts afresh.
                            this.stampede.clear_current(&joined.flight);
                            joined.flight.waiters.notify(usize::MAX);
                            drop(future);
                            return Poll::Ready(result);
                        }
                    }
                }
                Step::Wait => match this.listener.as_mut() {
                    // Check, listen, re-check.
                    None => this.listener = Some(joined.flight.waiters.listen()),
                    Some(listener) => match Pin::new(listener).poll(cx) {
                        Poll::Ready(()) => this.listener = None,
                        Poll::Pending => return Poll::Pending,
                    },
                },
            }
        }
    }
}

impl<T, F> Drop for Call<'_, T, F> {
    fn drop(&mut self) {
        let Some(joined) = self.flight.as_ref() else {
            return;
        };
        if joined.done {
            return;
        }
        enum Leave<T> {
            Quietly,
            HandOver,
            Cancel(Option<BoxFuture<T>>),
        }
        let leave = joined.flight.state.with(|state| {
            state.callers -= 1;
            if state.finished {
                if state.callers == 0 {
                    state.result = None;
                }
                return Leave::Quietly;
            }
            if state.callers == 0 {
                state.finished = true;
                state.poller = None;
                return Leave::Cancel(state.future.take());
            }
            if state.poller == Some(joined.ticket) {
                state.poller = None;
                return Leave::HandOver;
            }
            Leave::Quietly
        });
        match leave {
            Leave::Quietly => {}
            // The call holds this caller's waker: wake a waiting caller to poll it.
            Leave::HandOver => {
                joined.flight.waiters.notify_additional(1);
            }
            Leave::Cancel(future) => {
                self.stampede.clear_current(&joined.flight);
                drop(future);
            }
        }
    }
}

impl<T, F> fmt::Debug for Call<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("stampede", self.stampede)
            .field("joined", &self.flight.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    extern crate std;

    use super::*;
    use crate::sync::tests_util::{count_wakes, poll_once};
    use crate::sync::Event;
    use alloc::sync::Arc as AllocArc;
    use core::sync::atomic::{AtomicUsize, Ordering};

    /// A function counting its calls, whose call waits for `gate` and returns the
    /// call number.
    fn gated(
        calls: &AllocArc<AtomicUsize>,
        gate: &AllocArc<Event>,
    ) -> impl FnOnce() -> Pin<Box<dyn Future<Output = usize> + Send>> {
        let calls = calls.clone();
        let gate = gate.clone();
        move || {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Box::pin(async move {
                gate.wait().await;
                n
            })
        }
    }

    #[test]
    fn concurrent_callers_share_one_call() {
        let stampede = Stampede::new();
        let calls = AllocArc::new(AtomicUsize::new(0));
        let gate = AllocArc::new(Event::new());
        let (waker, wakes) = count_wakes();
        let mut callers: alloc::vec::Vec<_> = (0..4)
            .map(|_| stampede.call(gated(&calls, &gate)))
            .collect();
        for caller in &mut callers {
            assert!(poll_once(caller, &waker).is_pending());
        }
        assert!(stampede.is_in_flight());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        gate.set();
        assert_eq!(wakes(), 1, "only the polling caller is woken by the call");
        assert_eq!(poll_once(&mut callers[0], &waker), Poll::Ready(1));
        assert!(
            !stampede.is_in_flight(),
            "cleared as soon as the call completed"
        );
        assert_eq!(wakes(), 4, "completion wakes the waiting callers");
        for caller in &mut callers[1..] {
            assert_eq!(poll_once(caller, &waker), Poll::Ready(1));
        }
        // The next call runs afresh.
        let mut next = stampede.call(gated(&calls, &gate));
        assert_eq!(poll_once(&mut next, &waker), Poll::Ready(2));
    }

    #[test]
    fn dropping_the_polling_caller_hands_the_call_over() {
        let stampede = Stampede::new();
        let calls = AllocArc::new(AtomicUsize::new(0));
        let gate = AllocArc::new(Event::new());
        let (waker, wakes) = count_wakes();
        let mut first = stampede.call(gated(&calls, &gate));
        let mut second = stampede.call(gated(&calls, &gate));
        assert!(poll_once(&mut first, &waker).is_pending());
        assert!(poll_once(&mut second, &waker).is_pending());
        drop(first);
        assert_eq!(wakes(), 1, "a waiting caller is asked to take over");
        assert!(poll_once(&mut second, &waker).is_pending());
        gate.set();
        assert_eq!(poll_once(&mut second, &waker), Poll::Ready(1));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the call was not restarted"
        );
    }

    #[test]
    fn dropping_a_waiting_caller_changes_nothing() {
        let stampede = Stampede::new();
        let calls = AllocArc::new(AtomicUsize::new(0));
        let gate = AllocArc::new(Event::new());
        let (waker, _) = count_wakes();
        let mut first = stampede.call(gated(&calls, &gate));
        let mut second = stampede.call(gated(&calls, &gate));
        assert!(poll_once(&mut first, &waker).is_pending());
        assert!(poll_once(&mut second, &waker).is_pending());
        drop(second);
        gate.set();
        assert_eq!(poll_once(&mut first, &waker), Poll::Ready(1));
    }

    #[test]
    fn dropping_every_caller_cancels_the_call() {
        static DROPPED: AtomicUsize = AtomicUsize::new(0);
        struct OnDrop;
        impl Drop for OnDrop {
            fn drop(&mut self) {
                DROPPED.fetch_add(1, Ordering::SeqCst);
            }
        }
        let stampede = Stampede::new();
        let gate = AllocArc::new(Event::new());
        let (waker, _) = count_wakes();
        let start = |gate: AllocArc<Event>| {
            move || async move {
                let _guard = OnDrop;
                gate.wait().await;
                7
            }
        };
        let mut first = stampede.call(start(gate.clone()));
        let mut second = stampede.call(start(gate.clone()));
        assert!(poll_once(&mut first, &waker).is_pending());
        assert!(poll_once(&mut second, &waker).is_pending());
        drop(first);
        drop(second);
        assert_eq!(DROPPED.load(Ordering::SeqCst), 1, "the call was dropped");
        assert!(!stampede.is_in_flight());
        gate.set();
        assert_eq!(
            futures_lite::future::block_on(stampede.call(start(gate.clone()))),
            7
        );
    }

    #[test]
    fn unpolled_caller_calls_nothing() {
        let stampede = Stampede::<u8>::new();
        let calls = AllocArc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let call = stampede.call(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { 1 }
        });
        drop(call);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert!(!stampede.is_in_flight());
    }

    #[test]
    fn panicking_call_poisons_waiting_callers_only() {
        let stampede = Stampede::<u8>::new();
        let gate = AllocArc::new(Event::new());
        let (waker, _) = count_wakes();
        let wait = gate.clone();
        let mut first = stampede.call(move || async move {
            wait.wait().await;
            panic!("the call failed")
        });
        let mut second = stampede.call(|| async { 0 });
        assert!(poll_once(&mut first, &waker).is_pending());
        assert!(poll_once(&mut second, &waker).is_pending());
        gate.set();
        let first_panicked = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
            poll_once(&mut first, &waker)
        }));
        assert!(first_panicked.is_err());
        let second_panicked = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
            poll_once(&mut second, &waker)
        }));
        assert!(second_panicked.is_err());
        assert!(!stampede.is_in_flight());
        assert_eq!(
            futures_lite::future::block_on(stampede.call(|| async { 3 })),
            3
        );
    }

    #[test]
    fn threads_share_calls() {
        let stampede = AllocArc::new(Stampede::new());
        let calls = AllocArc::new(AtomicUsize::new(0));
        let rounds = if cfg!(miri) { 5 } else { 200 };
        let threads: alloc::vec::Vec<_> = (0..4)
            .map(|_| {
                let stampede = stampede.clone();
                let calls = calls.clone();
                std::thread::spawn(move || {
                    for _ in 0..rounds {
                        let calls = calls.clone();
                        let n = futures_lite::future::block_on(
                            stampede
                                .call(move || async move { calls.fetch_add(1, Ordering::SeqCst) }),
                        );
                        assert!(n < 4 * rounds);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(!stampede.is_in_flight());
        assert!(calls.load(Ordering::SeqCst) <= 4 * rounds);
    }
}
