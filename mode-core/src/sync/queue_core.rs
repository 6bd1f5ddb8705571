//! The bounded, flow-controlled ring buffer behind [`FlowControlQueue`] and
//! [`ThrowableQueue`].
//!
//! # Invariants
//!
//! - `buf` holds the items. Ordinary puts keep it at most `capacity` long; a forced put
//!   ([`PutMode::Force`]) may go beyond (the buffer then grows).
//! - `errors` holds thrown errors ([`ThrowableQueue`] only), in the order thrown. A get
//!   takes the front error, if any, before any item.
//! - Flow control gates puts only: a put in [`PutMode::Obey`] waits (or fails) while the
//!   flow is suspended; gets never look at the flow.
//! - Every successful put or throw notifies one *additional* getter; every get of an item
//!   notifies one additional putter. A putter that is woken but cannot proceed because
//!   the flow is suspended goes back to sleep: the flow event's `resume` wakes every
//!   putter of every queue it manages, so the wake-up it consumed is given back then.
//! - `clears` counts [explicit clears](Core::clear) of this queue. A put that started
//!   waiting fails with `Cleared` as soon as it sees the count change.
//! - With `clear_on_resume`, a change of the flow event's generation is applied lazily
//!   under the lock before anything else: the buffer and the errors are emptied, but
//!   `clears` is not incremented, so waiting puts then deliver their items.
//! - Pressure: with callbacks set, a put that finds at least `high_mark` items turns the
//!   pressure high, and a get that finds at most `drop_mark` items (or a clear) turns it
//!   back; each change is one *transition*. Transitions are delivered to the callbacks in
//!   order, one at a time, by whichever thread claims the `dispatching` flag; a callback
//!   may use the queue (its transitions are picked up by the same dispatch loop).
//!
//! Entries are dropped and callbacks called outside the lock (both are user code), and the
//! preallocated buffer is put back after a clear so that clearing does not allocate.
//!
//! [`FlowControlQueue`]: crate::sync::FlowControlQueue
//! [`ThrowableQueue`]: crate::sync::ThrowableQueue

use crate::platform::plain::Arc as AllocArc;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::fmt;
use core::future::Future;
use core::mem;
use core::pin::Pin;
use core::task::{Context, Poll};

use event_listener::EventListener;

use super::flow_control::{FlowControlEvent, QueueWakers};
use crate::platform::sync::{Arc, Mutex};

/// Why a put failed; the item is handed back.
pub(crate) enum PutFailure {
    Closed,
    Cleared,
}

/// Why a non-blocking put failed.
pub(crate) enum TryPutFailure {
    Full,
    Suspended,
    Closed,
}

/// Why a non-blocking get failed.
pub(crate) enum TryGetFailure {
    Empty,
    Closed,
}

/// Which checks a non-waiting put makes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PutMode {
    /// Fails if the flow is suspended or the queue is full (`try_put`).
    Obey,
    /// Ignores the flow control; fails if the queue is full (mode's `put_nowait`).
    BypassFlow,
    /// Ignores the flow control and the capacity (mode's `force_put_nowait`).
    Force,
}

/// The callbacks of [`set_pressure_callbacks`](Core::set_pressure_callbacks).
pub(crate) struct PressureCallbacks {
    pub(crate) high: Box<dyn Fn() + Send + Sync>,
    pub(crate) drop: Box<dyn Fn() + Send + Sync>,
}

/// The pressure state of one queue.
struct Pressure {
    callbacks: Option<AllocArc<PressureCallbacks>>,
    /// Whether the pressure is high (a high transition happened, its drop did not yet).
    high: bool,
    /// Transitions so far (wrapping); they alternate high, drop, high, ...
    transitions: u64,
    /// Transitions handed to the callbacks so far (wrapping).
    delivered: u64,
    /// Whether the last delivered transition was a high one.
    delivered_high: bool,
    /// Whether a thread is delivering transitions.
    dispatching: bool,
}

impl Pressure {
    fn transition(&mut self, high: bool) {
        self.high = high;
        self.transitions = self.transitions.wrapping_add(1);
    }
}

struct State<T, E> {
    buf: VecDeque<T>,
    /// Thrown errors, delivered before any item.
    errors: VecDeque<E>,
    closed: bool,
    /// Explicit clears of this queue so far.
    clears: u64,
    /// The flow generation last applied (only used with `clear_on_resume`).
    flow_generation: usize,
    pressure: Pressure,
}

impl<T, E> State<T, E> {
    /// Empties the queue, leaving an unallocated buffer in its place. `fail_puts` makes
    /// the waiting puts fail with `Cleared`.
    fn take_all(&mut self, fail_puts: bool) -> (VecDeque<T>, VecDeque<E>) {
        if fail_puts {
            self.clears = self.clears.wrapping_add(1);
        }
        if self.pressure.high {
            self.pressure.transition(false);
        }
        (mem::take(&mut self.buf), mem::take(&mut self.errors))
    }
}

/// The state of one queue, shared by its clones.
pub(crate) struct Core<T, E> {
    state: Mutex<State<T, E>>,
    wakers: Arc<QueueWakers>,
    flow: AllocArc<FlowControlEvent>,
    capacity: usize,
    clear_on_resume: bool,
}

/// Per-put waiting state.
#[derive(Default)]
pub(crate) struct PutWaiter {
    listener: Option<EventListener>,
    /// The queue's clear count when this put started waiting.
    clears_seen: Option<u64>,
}

/// What a locked put decided; the item comes back unless it was stored.
enum PutStep<T> {
    Done,
    Fail(T, PutFailure),
    Wait(T, u64),
}

/// What a locked get decided.
enum GetStep<T, E> {
    Got(Result<T, E>),
    Closed,
    Wait,
}

/// Resets the dispatching flag if a pressure callback panics, so that later transitions
/// are still delivered.
struct Dispatching<'a, T, E> {
    core: &'a Core<T, E>,
    done: bool,
}

impl<T, E> Drop for Dispatching<'_, T, E> {
    fn drop(&mut self) {
        if !self.done {
            self.core
                .state
                .with(|state| state.pressure.dispatching = false);
        }
    }
}

impl<T, E> Core<T, E> {
    /// # Panics
    ///
    /// If `capacity` is zero.
    pub(crate) fn new(
        capacity: usize,
        flow: AllocArc<FlowControlEvent>,
        clear_on_resume: bool,
    ) -> Self {
        assert!(
            capacity > 0,
            "a flow-controlled queue needs a capacity of at least 1"
        );
        let wakers = Arc::new(QueueWakers::new());
        flow.register(wakers.clone());
        Core {
            state: Mutex::new(State {
                buf: VecDeque::with_capacity(capacity),
                errors: VecDeque::new(),
                closed: false,
                clears: 0,
                flow_generation: flow.generation(),
                pressure: Pressure {
                    callbacks: None,
                    high: false,
                    transitions: 0,
                    delivered: 0,
                    delivered_high: false,
                    dispatching: false,
                },
            }),
            wakers,
            flow,
            capacity,
            clear_on_resume,
        }
    }

    pub(crate) fn flow(&self) -> &AllocArc<FlowControlEvent> {
        &self.flow
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// mode's `pressure_high_size`: `floor(capacity / 1.25)`, in integers.
    pub(crate) fn pressure_high_mark(&self) -> usize {
        self.capacity / 5 * 4 + self.capacity % 5 * 4 / 5
    }

    /// mode's `pressure_drop_size`: `floor(capacity * 0.4)`, in integers.
    pub(crate) fn pressure_drop_mark(&self) -> usize {
        self.capacity / 5 * 2 + self.capacity % 5 * 2 / 5
    }

    /// Runs `f` under the lock after applying a pending flow clear; afterwards drops what
    /// the clear removed and delivers pressure transitions, outside the lock. `f` gets
    /// whether the flow is active, read under the lock.
    fn locked<R>(&self, f: impl FnOnce(&mut State<T, E>, bool) -> R) -> R {
        let (result, stale, dispatch) = self.state.with(|state| {
            let flow_state = self.flow.load();
            let mut stale = None;
            if self.clear_on_resume {
                let generation = flow_state >> 1;
                if generation != state.flow_generation {
                    state.flow_generation = generation;
                    stale = Some(state.take_all(false));
                }
            }
            let active = flow_state & 1 == 0;
            let result = f(state, active);
            let pressure = &mut state.pressure;
            let dispatch = pressure.transitions != pressure.delivered && !pressure.dispatching;
            if dispatch {
                pressure.dispatching = true;
            }
            (result, stale, dispatch)
        });
        if let Some(stale) = stale {
            self.discard(stale);
        }
        if dispatch {
            self.dispatch_pressure();
        }
        result
    }

    /// Delivers pending pressure transitions, in order, until none is left. Only the
    /// thread that claimed `dispatching` calls this.
    fn dispatch_pressure(&self) {
        let mut guard = Dispatching {
            core: self,
            done: false,
        };
        loop {
            let next = self.state.with(|state| {
                let pressure = &mut state.pressure;
                if pressure.delivered == pressure.transitions {
                    pressure.dispatching = false;
                    return None;
                }
                pressure.delivered = pressure.delivered.wrapping_add(1);
                pressure.delivered_high = !pressure.delivered_high;
                Some((pressure.delivered_high, pressure.callbacks.clone()))
            });
            match next {
                None => break,
                Some((true, Some(callbacks))) => (callbacks.high)(),
                Some((false, Some(callbacks))) => (callbacks.drop)(),
                Some((_, None)) => {}
            }
        }
        guard.done = true;
    }

    /// Drops removed entries outside the lock, then gives the (now empty, still
    /// allocated) buffer back to the queue, keeping anything put in the meantime.
    fn discard(&self, (mut stale, errors): (VecDeque<T>, VecDeque<E>)) {
        drop(errors);
        stale.clear();
        let newer = self.state.with(|state| {
            if stale.capacity() > state.buf.capacity() {
                mem::swap(&mut state.buf, &mut stale);
                state.buf.append(&mut stale);
            }
            stale
        });
        drop(newer);
    }

    /// Stores `item`, turning the pressure high if the queue already holds `high_mark`.
    fn push(&self, state: &mut State<T, E>, item: T) {
        if state.pressure.callbacks.is_some()
            && !state.pressure.high
            && state.buf.len() >= self.pressure_high_mark()
        {
            state.pressure.transition(true);
        }
        state.buf.push_back(item);
    }

    /// Takes the front error, or else the front item, dropping the pressure if the queue
    /// holds at most `drop_mark` items; `None` if there is nothing to take.
    fn take(&self, state: &mut State<T, E>) -> Option<Result<T, E>> {
        if let Some(error) = state.errors.pop_front() {
            return Some(Err(error));
        }
        if state.pressure.high && state.buf.len() <= self.pressure_drop_mark() {
            state.pressure.transition(false);
        }
        state.buf.pop_front().map(Ok)
    }

    pub(crate) fn poll_put(
        &self,
        slot: &mut Option<T>,
        waiter: &mut PutWaiter,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), (T, PutFailure)>> {
        let Some(mut value) = slot.take() else {
            panic!("a put future was polled after it completed");
        };
        loop {
            let step = self.locked(|state, active| {
                if state.closed {
                    return PutStep::Fail(value, PutFailure::Closed);
                }
                if waiter.clears_seen.is_some_and(|seen| seen != state.clears) {
                    return PutStep::Fail(value, PutFailure::Cleared);
                }
                if !active || state.buf.len() >= self.capacity {
                    return PutStep::Wait(value, state.clears);
                }
                self.push(state, value);
                PutStep::Done
            });
            match step {
                PutStep::Done => {
                    super::discard(&mut waiter.listener);
                    self.wakers.get.notify_additional(1);
                    return Poll::Ready(Ok(()));
                }
                PutStep::Fail(value, failure) => {
                    // Closing and clearing wake every putter: nothing to pass on.
                    super::discard(&mut waiter.listener);
                    return Poll::Ready(Err((value, failure)));
                }
                PutStep::Wait(back, clears) => {
                    value = back;
                    waiter.clears_seen.get_or_insert(clears);
                    match waiter.listener.as_mut() {
                        // Check, listen, re-check: the loop locks again after registering.
                        None => waiter.listener = Some(self.wakers.put.listen()),
                        Some(listener) => match Pin::new(listener).poll(cx) {
                            Poll::Ready(()) => waiter.listener = None,
                            Poll::Pending => {
                                *slot = Some(value);
                                return Poll::Pending;
                            }
                        },
                    }
                }
            }
        }
    }

    pub(crate) fn try_put(&self, item: T, mode: PutMode) -> Result<(), (T, TryPutFailure)> {
        let result = self.locked(|state, active| {
            if state.closed {
                Err((item, TryPutFailure::Closed))
            } else if mode == PutMode::Obey && !active {
                Err((item, TryPutFailure::Suspended))
            } else if mode != PutMode::Force && state.buf.len() >= self.capacity {
                Err((item, TryPutFailure::Full))
            } else {
                self.push(state, item);
                Ok(())
            }
        });
        if result.is_ok() {
            self.wakers.get.notify_additional(1);
        }
        result
    }

    /// Enqueues an error for the next get, ahead of every item.
    pub(crate) fn throw(&self, error: E) {
        self.locked(|state, _| state.errors.push_back(error));
        self.wakers.get.notify_additional(1);
    }

    /// After a get: an item frees a slot for one more putter.
    fn after_get(&self, entry: &Result<T, E>) {
        if entry.is_ok() {
            self.wakers.put.notify_additional(1);
        }
    }

    /// `Ready(None)` means closed and empty.
    pub(crate) fn poll_get(
        &self,
        listener: &mut Option<EventListener>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<T, E>>> {
        loop {
            let step = self.locked(|state, _| match self.take(state) {
                Some(entry) => GetStep::Got(entry),
                None if state.closed => GetStep::Closed,
                None => GetStep::Wait,
            });
            match step {
                GetStep::Got(entry) => {
                    super::discard(listener);
                    self.after_get(&entry);
                    return Poll::Ready(Some(entry));
                }
                GetStep::Closed => {
                    super::discard(listener);
                    return Poll::Ready(None);
                }
                GetStep::Wait => match listener.as_mut() {
                    None => *listener = Some(self.wakers.get.listen()),
                    Some(inner) => match Pin::new(inner).poll(cx) {
                        Poll::Ready(()) => *listener = None,
                        Poll::Pending => return Poll::Pending,
                    },
                },
            }
        }
    }

    pub(crate) fn try_get(&self) -> Result<Result<T, E>, TryGetFailure> {
        let result = self.locked(|state, _| match self.take(state) {
            Some(entry) => Ok(entry),
            None if state.closed => Err(TryGetFailure::Closed),
            None => Err(TryGetFailure::Empty),
        });
        if let Ok(entry) = &result {
            self.after_get(entry);
        }
        result
    }

    /// Drops the contents and fails every waiting put with `Cleared`.
    pub(crate) fn clear(&self) {
        let stale = self.locked(|state, _| state.take_all(true));
        self.wakers.put.notify(usize::MAX);
        self.discard(stale);
    }

    /// Returns `true` if this call closed the queue.
    pub(crate) fn close(&self) -> bool {
        let newly = self
            .state
            .with(|state| !mem::replace(&mut state.closed, true));
        if newly {
            self.wakers.put.notify(usize::MAX);
            self.wakers.get.notify(usize::MAX);
        }
        newly
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.with(|state| state.closed)
    }

    /// Items and errors waiting to be taken.
    pub(crate) fn len(&self) -> usize {
        self.locked(|state, _| state.buf.len() + state.errors.len())
    }

    /// Whether a put would have to wait for room (ignoring flow control).
    pub(crate) fn is_full(&self) -> bool {
        self.locked(|state, _| state.buf.len() >= self.capacity)
    }

    /// Replaces the pressure callbacks (dropping the old ones outside the lock).
    pub(crate) fn set_pressure_callbacks(&self, callbacks: PressureCallbacks) {
        let callbacks = AllocArc::new(callbacks);
        let old = self
            .state
            .with(|state| state.pressure.callbacks.replace(callbacks));
        drop(old);
    }

    /// Removes the pressure callbacks (dropping them outside the lock); pending
    /// transitions are then not delivered.
    pub(crate) fn remove_pressure_callbacks(&self) {
        let old = self.state.with(|state| {
            let pressure = &mut state.pressure;
            pressure.high = false;
            pressure.delivered = pressure.transitions;
            pressure.delivered_high = false;
            pressure.callbacks.take()
        });
        drop(old);
    }

    /// Whether the pressure is high: a high callback was due and its drop was not yet.
    pub(crate) fn is_pressure_high(&self) -> bool {
        self.locked(|state, _| state.pressure.high)
    }
}

impl<T, E> Drop for Core<T, E> {
    fn drop(&mut self) {
        self.flow.deregister(&self.wakers);
    }
}

impl<T, E> fmt::Debug for Core<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (len, errors, closed) = self
            .state
            .with(|state| (state.buf.len(), state.errors.len(), state.closed));
        let mut debug = f.debug_struct("Queue");
        debug.field("len", &len);
        if errors > 0 {
            debug.field("errors", &errors);
        }
        debug
            .field("capacity", &self.capacity)
            .field("closed", &closed)
            .field("clear_on_resume", &self.clear_on_resume)
            .field("flow_control", &*self.flow)
            .finish()
    }
}

/// A put in progress, shared by the queues' `put` futures.
pub(crate) struct PutState<'a, T, E> {
    pub(crate) core: &'a Core<T, E>,
    pub(crate) item: Option<T>,
    pub(crate) waiter: PutWaiter,
}

impl<T, E> PutState<'_, T, E> {
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), (T, PutFailure)>> {
        self.core.poll_put(&mut self.item, &mut self.waiter, cx)
    }
}

/// A get in progress, shared by the queues' `get` futures.
pub(crate) struct GetState<'a, T, E> {
    pub(crate) core: &'a Core<T, E>,
    pub(crate) listener: Option<EventListener>,
}

impl<T, E> GetState<'_, T, E> {
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, E>>> {
        self.core.poll_get(&mut self.listener, cx)
    }
}
