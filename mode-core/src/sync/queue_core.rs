//! The bounded, flow-controlled ring buffer behind [`FlowControlQueue`] and
//! [`ThrowableQueue`].
//!
//! # Invariants
//!
//! - `buf` holds at most `capacity` entries that count toward capacity; entries that
//!   [bypass](Entry::bypasses) (thrown errors) are counted in `bypassing` and may exceed it.
//! - Every successful put of a counted or bypassing entry notifies one *additional* getter;
//!   every get of a counted entry notifies one additional putter. A waiter that is woken
//!   but cannot proceed because the flow is suspended goes back to sleep: the flow
//!   event's `resume` wakes every waiter of every queue it manages, so the wake-up it
//!   consumed is given back then.
//! - `clears` counts clears of this queue. A put that started waiting fails with
//!   `Cleared` as soon as it sees the count change.
//! - With `clear_on_resume`, a change of the flow event's generation is applied lazily
//!   under the lock before anything else: the buffer is emptied and `clears` incremented.
//!
//! Entries are dropped outside the lock (their `Drop` is user code), and the preallocated
//! buffer is put back afterwards so that clearing does not allocate.
//!
//! [`FlowControlQueue`]: crate::sync::FlowControlQueue
//! [`ThrowableQueue`]: crate::sync::ThrowableQueue

use crate::platform::plain::Arc as AllocArc;
use alloc::collections::VecDeque;
use core::fmt;
use core::future::Future;
use core::mem;
use core::pin::Pin;
use core::task::{Context, Poll};

use event_listener::EventListener;

use super::flow_control::{FlowControlEvent, QueueWakers};
use crate::platform::sync::{Arc, Mutex};

/// What the queue needs to know about a stored entry.
pub(crate) trait Entry {
    /// Whether the entry ignores capacity and flow control (a thrown error).
    fn bypasses(&self) -> bool;
}

/// An ordinary item: counts toward capacity and obeys flow control.
pub(crate) struct Plain<T>(pub(crate) T);

impl<T> Entry for Plain<T> {
    fn bypasses(&self) -> bool {
        false
    }
}

impl<T, E> Entry for Result<T, E> {
    fn bypasses(&self) -> bool {
        self.is_err()
    }
}

/// Why a put failed; the entry is handed back.
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
    Suspended,
    Closed,
}

struct State<M> {
    buf: VecDeque<M>,
    /// Entries in `buf` that bypass capacity.
    bypassing: usize,
    closed: bool,
    /// Clears of this queue so far.
    clears: u64,
    /// The flow generation last applied (only used with `clear_on_resume`).
    flow_generation: usize,
}

impl<M> State<M> {
    fn counted(&self) -> usize {
        self.buf.len() - self.bypassing
    }

    /// Empties the buffer, leaving an unallocated one in its place.
    fn take_all(&mut self) -> VecDeque<M> {
        self.bypassing = 0;
        self.clears = self.clears.wrapping_add(1);
        mem::take(&mut self.buf)
    }
}

/// The state of one queue, shared by its clones.
pub(crate) struct Core<M> {
    state: Mutex<State<M>>,
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

/// What a locked put decided; the entry comes back unless it was stored.
enum PutStep<M> {
    Done,
    Fail(M, PutFailure),
    Wait(M, u64),
}

/// What a locked get decided.
enum GetStep<M> {
    Got(M),
    Closed,
    Wait,
}

impl<M: Entry> Core<M> {
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
                bypassing: 0,
                closed: false,
                clears: 0,
                flow_generation: flow.generation(),
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

    /// Runs `f` under the lock after applying a pending flow clear; drops what the clear
    /// removed after unlocking. `f` gets the flow state word, read under the lock.
    fn locked<R>(&self, f: impl FnOnce(&mut State<M>, bool) -> R) -> R {
        let (result, stale) = self.state.with(|state| {
            let flow_state = self.flow.load();
            let mut stale = None;
            if self.clear_on_resume {
                let generation = flow_state >> 1;
                if generation != state.flow_generation {
                    state.flow_generation = generation;
                    stale = Some(state.take_all());
                }
            }
            let active = flow_state & 1 == 0;
            (f(state, active), stale)
        });
        if let Some(stale) = stale {
            self.discard(stale);
        }
        result
    }

    /// Drops removed entries outside the lock, then gives the (now empty, still
    /// allocated) buffer back to the queue, keeping anything put in the meantime.
    fn discard(&self, mut stale: VecDeque<M>) {
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

    pub(crate) fn poll_put(
        &self,
        entry: &mut Option<M>,
        waiter: &mut PutWaiter,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), (M, PutFailure)>> {
        let Some(mut value) = entry.take() else {
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
                if !active || state.counted() >= self.capacity {
                    return PutStep::Wait(value, state.clears);
                }
                state.buf.push_back(value);
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
                                *entry = Some(value);
                                return Poll::Pending;
                            }
                        },
                    }
                }
            }
        }
    }

    pub(crate) fn try_put(&self, entry: M) -> Result<(), (M, TryPutFailure)> {
        let result = self.locked(|state, active| {
            if state.closed {
                Err((entry, TryPutFailure::Closed))
            } else if !active {
                Err((entry, TryPutFailure::Suspended))
            } else if state.counted() >= self.capacity {
                Err((entry, TryPutFailure::Full))
            } else {
                state.buf.push_back(entry);
                Ok(())
            }
        });
        if result.is_ok() {
            self.wakers.get.notify_additional(1);
        }
        result
    }

    /// Puts an entry that bypasses capacity and flow control.
    pub(crate) fn push_bypassing(&self, entry: M) -> Result<(), M> {
        let result = self.locked(|state, _| {
            if state.closed {
                return Err(entry);
            }
            state.bypassing += 1;
            state.buf.push_back(entry);
            Ok(())
        });
        if result.is_ok() {
            self.wakers.get.notify_additional(1);
        }
        result
    }

    /// Pops the front entry if the flow allows it; `None` if there is nothing to take.
    fn pop(&self, state: &mut State<M>, active: bool) -> Option<M> {
        let front = state.buf.front()?;
        if front.bypasses() {
            state.bypassing -= 1;
        } else if !(active || state.closed) {
            return None;
        }
        state.buf.pop_front()
    }

    /// After a get: a counted entry frees a slot for one more putter.
    fn after_get(&self, entry: &M) {
        if !entry.bypasses() {
            self.wakers.put.notify_additional(1);
        }
    }

    /// `Ready(None)` means closed and empty.
    pub(crate) fn poll_get(
        &self,
        listener: &mut Option<EventListener>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<M>> {
        loop {
            let step = self.locked(|state, active| match self.pop(state, active) {
                Some(entry) => GetStep::Got(entry),
                None if state.closed && state.buf.is_empty() => GetStep::Closed,
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

    pub(crate) fn try_get(&self) -> Result<M, TryGetFailure> {
        let result = self.locked(|state, active| match self.pop(state, active) {
            Some(entry) => Ok(entry),
            None if state.closed => Err(TryGetFailure::Closed),
            None if !active => Err(TryGetFailure::Suspended),
            None => Err(TryGetFailure::Empty),
        });
        if let Ok(entry) = &result {
            self.after_get(entry);
        }
        result
    }

    /// Drops the contents and fails every waiting put with `Cleared`.
    pub(crate) fn clear(&self) {
        let stale = self.state.with(State::take_all);
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

    /// Entries waiting to be taken, including bypassing ones.
    pub(crate) fn len(&self) -> usize {
        self.locked(|state, _| state.buf.len())
    }

    /// Whether a put would have to wait for room (ignoring flow control).
    pub(crate) fn is_full(&self) -> bool {
        self.locked(|state, _| state.counted() >= self.capacity)
    }
}

impl<M> Drop for Core<M> {
    fn drop(&mut self) {
        self.flow.deregister(&self.wakers);
    }
}

impl<M> fmt::Debug for Core<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (len, closed) = self.state.with(|state| (state.buf.len(), state.closed));
        f.debug_struct("Queue")
            .field("len", &len)
            .field("capacity", &self.capacity)
            .field("closed", &closed)
            .field("clear_on_resume", &self.clear_on_resume)
            .field("flow_control", &*self.flow)
            .finish()
    }
}

/// A put in progress, shared by the queues' `put` futures.
pub(crate) struct PutState<'a, M> {
    pub(crate) core: &'a Core<M>,
    pub(crate) entry: Option<M>,
    pub(crate) waiter: PutWaiter,
}

impl<M: Entry> PutState<'_, M> {
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), (M, PutFailure)>> {
        self.core.poll_put(&mut self.entry, &mut self.waiter, cx)
    }
}

/// A get in progress, shared by the queues' `get` futures.
pub(crate) struct GetState<'a, M> {
    pub(crate) core: &'a Core<M>,
    pub(crate) listener: Option<EventListener>,
}

impl<M: Entry> GetState<'_, M> {
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<M>> {
        self.core.poll_get(&mut self.listener, cx)
    }
}
