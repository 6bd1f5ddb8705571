//! [`FlowControlQueue`]: a bounded async queue whose producers obey a
//! [`FlowControlEvent`].
//!
//! `put` waits while the queue is full or the flow is suspended; `get` waits only while
//! the queue is empty: suspending the flow stops the producers, and the consumers keep
//! draining what is buffered (as in mode). Each operation has a non-blocking twin
//! (`try_put`, `try_get`) and its own error type that hands the value back.
//!
//! Two more non-waiting puts, mode's `put_nowait` and `force_put_nowait`, skip checks on
//! purpose and say so in their names:
//! [`try_put_bypassing_flow_control`](FlowControlQueue::try_put_bypassing_flow_control)
//! ignores the flow control (but not the capacity), and
//! [`force_put`](FlowControlQueue::force_put) ignores both.
//!
//! **Pressure callbacks** ([`set_pressure_callbacks`](FlowControlQueue::set_pressure_callbacks))
//! tell a producer that the queue is filling up and, later, that it drained, at mode's
//! fill ratios (see [`pressure_high_mark`](FlowControlQueue::pressure_high_mark)).
//!
//! Differences from mode's `FlowControlQueue` (an `asyncio.Queue`), each deliberate:
//! - the capacity is required and at least 1 (asyncio's `maxsize=0` means unbounded);
//! - the queue can be [closed](FlowControlQueue::close): puts fail, gets drain what is left
//!   and then fail;
//! - [`clear`](FlowControlQueue::clear) fails every waiting `put` with
//!   [`PutError::Cleared`], handing its item back (mode leaves them waiting, or in a
//!   `ThrowableQueue` cancels them); a clear by the flow event (`clear_on_resume`) lets
//!   them deliver their items, as in mode;
//! - pressure is checked by every put and get, not only by mode's `put_nowait_enhanced`
//!   and `get`, and the callbacks are registered once per queue instead of passed with
//!   each put, so the per-item path stays allocation-free.
//!
//! The buffer is allocated once, at creation; the per-item path does not allocate (a
//! [`force_put`](FlowControlQueue::force_put) past the capacity grows the buffer). A task
//! that has to wait allocates one listener. Each put wakes one waiting consumer and each
//! get wakes one waiting producer, never all of them.

use crate::platform::plain::Arc as AllocArc;
use alloc::boxed::Box;
use core::convert::Infallible;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::flow_control::FlowControlEvent;
use super::queue_core::{
    Core, GetState, PressureCallbacks, PutFailure, PutMode, PutState, PutWaiter, TryGetFailure,
    TryPutFailure,
};
use crate::platform::sync::Arc;

/// A bounded async queue managed by a [`FlowControlEvent`].
///
/// Clones share the same queue, so producers and consumers each hold one.
///
/// ```
/// # futures_lite::future::block_on(async {
/// use std::sync::Arc;
/// use mode::sync::{FlowControlEvent, FlowControlQueue, TryGetError, TryPutError};
///
/// let flow = Arc::new(FlowControlEvent::new()); // starts suspended
/// let queue = FlowControlQueue::new(2, flow.clone());
///
/// assert_eq!(queue.try_put(1), Err(TryPutError::Suspended(1)));
/// flow.resume();
/// queue.put(1).await?;
/// queue.put(2).await?;
/// assert_eq!(queue.try_put(3), Err(TryPutError::Full(3)));
///
/// flow.suspend(); // stops the producers only:
/// assert_eq!(queue.get().await?, 1);
/// assert_eq!(queue.try_put(3), Err(TryPutError::Suspended(3)));
/// assert_eq!(queue.try_get(), Ok(2));
/// assert_eq!(queue.try_get(), Err(TryGetError::Empty));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct FlowControlQueue<T> {
    core: Arc<Core<T, Infallible>>,
}

impl<T> FlowControlQueue<T> {
    /// Creates a queue holding at most `capacity` items, managed by `flow_control`.
    ///
    /// The buffer for `capacity` items is allocated now.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, FlowControlQueue};
    ///
    /// let queue: FlowControlQueue<u8> =
    ///     FlowControlQueue::new(16, Arc::new(FlowControlEvent::new_resumed()));
    /// assert_eq!(queue.capacity(), 16);
    /// ```
    #[must_use]
    pub fn new(capacity: usize, flow_control: AllocArc<FlowControlEvent>) -> Self {
        FlowControlQueue {
            core: Arc::new(Core::new(capacity, flow_control, false)),
        }
    }

    /// Like [`new`](Self::new), but the queue is also cleared whenever `flow_control` is
    /// cleared or resumed (mode's `clear_on_resume=True`): the items buffered before the
    /// resume are dropped. A `put` waiting at that moment (for the flow to resume, or for
    /// room) is not stale: it then delivers its item.
    ///
    /// The items are dropped by the next operation on the queue after the clear (any
    /// method, including [`len`](Self::len)); waiting producers are woken at once.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use std::sync::Arc;
    /// use futures_lite::future::poll_once;
    /// use mode::sync::{FlowControlEvent, FlowControlQueue};
    ///
    /// let flow = Arc::new(FlowControlEvent::new_resumed());
    /// let queue = FlowControlQueue::with_clear_on_resume(4, flow.clone());
    /// queue.try_put("stale").unwrap();
    /// flow.suspend();
    ///
    /// let mut blocked = Box::pin(queue.put("fresh"));
    /// assert!(poll_once(&mut blocked).await.is_none()); // waits: the flow is suspended
    /// flow.resume(); // drops "stale"; the blocked put then delivers
    /// assert_eq!(blocked.await, Ok(()));
    /// assert_eq!(queue.try_get(), Ok("fresh"));
    /// assert!(queue.is_empty());
    /// # });
    /// ```
    #[must_use]
    pub fn with_clear_on_resume(capacity: usize, flow_control: AllocArc<FlowControlEvent>) -> Self {
        FlowControlQueue {
            core: Arc::new(Core::new(capacity, flow_control, true)),
        }
    }

    /// Puts `item` at the back of the queue, waiting while the queue is full or the flow
    /// is suspended.
    ///
    /// Fails with [`PutError::Closed`] if the queue is closed, and with
    /// [`PutError::Cleared`] if the queue is [cleared](Self::clear) while this put waits.
    /// Either way the item is handed back.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future before it completes drops the item. Use
    /// [`try_put`](Self::try_put) to keep it.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, FlowControlQueue, PutError};
    ///
    /// let queue = FlowControlQueue::new(1, Arc::new(FlowControlEvent::new_resumed()));
    /// assert_eq!(queue.put(7).await, Ok(()));
    /// queue.close();
    /// assert_eq!(queue.put(8).await, Err(PutError::Closed(8)));
    /// # });
    /// ```
    pub fn put(&self, item: T) -> Put<'_, T> {
        Put {
            state: PutState {
                core: &self.core,
                item: Some(item),
                waiter: PutWaiter::default(),
            },
        }
    }

    /// Puts `item` without waiting: fails if the flow is suspended, the queue is full or
    /// closed.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, FlowControlQueue, TryPutError};
    ///
    /// let queue = FlowControlQueue::new(1, Arc::new(FlowControlEvent::new_resumed()));
    /// assert_eq!(queue.try_put('a'), Ok(()));
    /// assert_eq!(queue.try_put('b'), Err(TryPutError::Full('b')));
    /// ```
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        self.core
            .try_put(item, PutMode::Obey)
            .map_err(try_put_error)
    }

    /// Puts `item` without waiting and **without looking at the flow control**: succeeds
    /// while the flow is suspended, fails only if the queue is full
    /// ([`TryPutError::Full`]) or closed. mode's `put_nowait`.
    ///
    /// For the producer that must not be stopped, e.g. one that re-queues what it already
    /// took.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, FlowControlQueue, TryPutError};
    ///
    /// let queue = FlowControlQueue::new(1, Arc::new(FlowControlEvent::new())); // suspended
    /// assert_eq!(queue.try_put(1), Err(TryPutError::Suspended(1)));
    /// assert_eq!(queue.try_put_bypassing_flow_control(1), Ok(()));
    /// assert_eq!(queue.try_put_bypassing_flow_control(2), Err(TryPutError::Full(2)));
    /// ```
    pub fn try_put_bypassing_flow_control(&self, item: T) -> Result<(), TryPutError<T>> {
        self.core
            .try_put(item, PutMode::BypassFlow)
            .map_err(try_put_error)
    }

    /// Puts `item` at once, **ignoring both the flow control and the capacity**: the queue
    /// may then hold more than [`capacity`](Self::capacity) items (its buffer grows, which
    /// allocates), and ordinary puts wait until it is below capacity again. Fails only if
    /// the queue is closed ([`TryPutError::Closed`]). mode's `force_put_nowait`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, FlowControlQueue};
    ///
    /// let queue = FlowControlQueue::new(1, Arc::new(FlowControlEvent::new())); // suspended
    /// queue.force_put("a").unwrap();
    /// queue.force_put("b").unwrap();
    /// assert_eq!(queue.len(), 2); // over capacity
    /// assert!(queue.is_full());
    /// ```
    pub fn force_put(&self, item: T) -> Result<(), TryPutError<T>> {
        self.core
            .try_put(item, PutMode::Force)
            .map_err(try_put_error)
    }

    /// Takes the item at the front of the queue, waiting while the queue is empty.
    ///
    /// A suspended flow does not stop `get`: it stops the producers, and the consumers
    /// drain what is buffered. Once the queue is [closed](Self::close) the remaining
    /// items are still returned; then `get` fails with [`GetError`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an item is taken only by the poll that returns it.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, FlowControlQueue, GetError};
    ///
    /// let queue = FlowControlQueue::new(2, Arc::new(FlowControlEvent::new_resumed()));
    /// queue.try_put("last").unwrap();
    /// queue.close();
    /// assert_eq!(queue.get().await, Ok("last"));
    /// assert_eq!(queue.get().await, Err(GetError));
    /// # });
    /// ```
    pub fn get(&self) -> Get<'_, T> {
        Get {
            state: GetState {
                core: &self.core,
                listener: None,
            },
        }
    }

    /// Takes the front item without waiting.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, FlowControlQueue, TryGetError};
    ///
    /// let queue = FlowControlQueue::<u8>::new(1, Arc::new(FlowControlEvent::new_resumed()));
    /// assert_eq!(queue.try_get(), Err(TryGetError::Empty));
    /// queue.close();
    /// assert_eq!(queue.try_get(), Err(TryGetError::Closed));
    /// ```
    pub fn try_get(&self) -> Result<T, TryGetError> {
        match self.core.try_get() {
            Ok(Ok(item)) => Ok(item),
            Ok(Err(never)) => match never {},
            Err(failure) => Err(try_get_error(failure)),
        }
    }

    /// Drops every item in the queue and fails every waiting `put` with
    /// [`PutError::Cleared`] (handing its item back).
    ///
    /// Items are dropped by this call, outside the queue's lock.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, FlowControlQueue};
    ///
    /// let queue = FlowControlQueue::new(2, Arc::new(FlowControlEvent::new_resumed()));
    /// queue.try_put(1).unwrap();
    /// queue.clear();
    /// assert!(queue.is_empty());
    /// ```
    pub fn clear(&self) {
        self.core.clear();
    }

    /// Closes the queue: puts fail from now on and waiting puts fail with
    /// [`PutError::Closed`]; gets return the remaining items, then fail.
    ///
    /// Returns `true` if this call closed it, `false` if it was already closed.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, FlowControlQueue};
    ///
    /// let queue = FlowControlQueue::<()>::new(1, Arc::new(FlowControlEvent::new()));
    /// assert!(queue.close());
    /// assert!(!queue.close());
    /// assert!(queue.is_closed());
    /// ```
    pub fn close(&self) -> bool {
        self.core.close()
    }

    /// Whether the queue is closed.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// The number of items in the queue.
    #[must_use]
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether the queue holds no items.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue holds `capacity` items (or more, after a
    /// [`force_put`](Self::force_put)).
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.core.is_full()
    }

    /// The most items the queue holds (a [`force_put`](Self::force_put) may go beyond).
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.core.capacity()
    }

    /// The flow-control event managing this queue.
    #[must_use]
    pub fn flow_control(&self) -> &AllocArc<FlowControlEvent> {
        self.core.flow()
    }

    /// Sets the callbacks that report pressure (mode's `on_pressure_high` /
    /// `on_pressure_drop`), replacing any set before.
    ///
    /// - `on_high` is called when a put finds the queue holding at least
    ///   [`pressure_high_mark`](Self::pressure_high_mark) items, once per crossing: not
    ///   again until `on_drop` was called.
    /// - `on_drop` is called, after an `on_high`, when a get finds the queue holding at
    ///   most [`pressure_drop_mark`](Self::pressure_drop_mark) items (an empty queue
    ///   always qualifies), or when the queue is cleared.
    ///
    /// Every put and get checks (`put`, `try_put`, `try_put_bypassing_flow_control`,
    /// `force_put`, `get`, `try_get`). The callbacks are called after the queue's lock is
    /// released, one at a time and in order (high, drop, high, ...), by the thread whose
    /// operation crossed the mark or by one already calling them; they may use the queue.
    /// Setting them allocates once; the per-item path does not.
    ///
    /// A callback that owns a clone of this queue keeps the queue alive (a reference
    /// cycle): call [`remove_pressure_callbacks`](Self::remove_pressure_callbacks) when
    /// done with the queue, or capture only what the callback needs.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, FlowControlQueue};
    ///
    /// let queue = FlowControlQueue::new(10, Arc::new(FlowControlEvent::new_resumed()));
    /// assert_eq!((queue.pressure_high_mark(), queue.pressure_drop_mark()), (8, 4));
    ///
    /// let paused = Arc::new(AtomicBool::new(false));
    /// let (on_high, on_drop) = (paused.clone(), paused.clone());
    /// queue.set_pressure_callbacks(
    ///     move || on_high.store(true, Ordering::SeqCst), // e.g. pause the source
    ///     move || on_drop.store(false, Ordering::SeqCst), // and resume it
    /// );
    ///
    /// for i in 0..9 {
    ///     queue.try_put(i).unwrap();
    /// }
    /// assert!(paused.load(Ordering::SeqCst)); // the 9th put found 8 items
    /// for _ in 0..5 {
    ///     queue.try_get().unwrap();
    /// }
    /// assert!(paused.load(Ordering::SeqCst)); // the gets found 9..=5 items
    /// queue.try_get().unwrap(); // finds 4
    /// assert!(!paused.load(Ordering::SeqCst));
    /// ```
    pub fn set_pressure_callbacks<H, D>(&self, on_high: H, on_drop: D)
    where
        H: Fn() + Send + Sync + 'static,
        D: Fn() + Send + Sync + 'static,
    {
        self.core.set_pressure_callbacks(PressureCallbacks {
            high: Box::new(on_high),
            drop: Box::new(on_drop),
        });
    }

    /// Removes the pressure callbacks set by
    /// [`set_pressure_callbacks`](Self::set_pressure_callbacks), dropping them; the
    /// pressure is then no longer tracked.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, FlowControlQueue};
    ///
    /// let queue = FlowControlQueue::new(1, Arc::new(FlowControlEvent::new_resumed()));
    /// let inner = queue.clone(); // a cycle: the queue owns its callbacks
    /// queue.set_pressure_callbacks(move || { let _ = inner.len(); }, || {});
    /// queue.try_put(1).unwrap();
    /// assert!(queue.is_pressure_high());
    /// queue.remove_pressure_callbacks(); // breaks the cycle
    /// assert!(!queue.is_pressure_high());
    /// ```
    pub fn remove_pressure_callbacks(&self) {
        self.core.remove_pressure_callbacks();
    }

    /// The fill at which pressure is high: a put that finds at least this many items
    /// calls the high callback. mode's `pressure_high_size`, `floor(capacity / 1.25)`.
    #[must_use]
    pub fn pressure_high_mark(&self) -> usize {
        self.core.pressure_high_mark()
    }

    /// The fill at which high pressure drops: a get that finds at most this many items
    /// calls the drop callback. mode's `pressure_drop_size`, `floor(capacity * 0.4)`.
    #[must_use]
    pub fn pressure_drop_mark(&self) -> usize {
        self.core.pressure_drop_mark()
    }

    /// Whether the pressure is high: the high callback is due or was called, and the
    /// drop callback not yet. Always `false` without [pressure
    /// callbacks](Self::set_pressure_callbacks).
    #[must_use]
    pub fn is_pressure_high(&self) -> bool {
        self.core.is_pressure_high()
    }
}

/// The public error of a non-waiting put.
pub(crate) fn try_put_error<T>((item, failure): (T, TryPutFailure)) -> TryPutError<T> {
    match failure {
        TryPutFailure::Full => TryPutError::Full(item),
        TryPutFailure::Suspended => TryPutError::Suspended(item),
        TryPutFailure::Closed => TryPutError::Closed(item),
    }
}

/// The public error of a non-waiting get.
pub(crate) fn try_get_error(failure: TryGetFailure) -> TryGetError {
    match failure {
        TryGetFailure::Empty => TryGetError::Empty,
        TryGetFailure::Closed => TryGetError::Closed,
    }
}

/// The public error of a waiting put.
pub(crate) fn put_error<T>((item, failure): (T, PutFailure)) -> PutError<T> {
    match failure {
        PutFailure::Closed => PutError::Closed(item),
        PutFailure::Cleared => PutError::Cleared(item),
    }
}

impl<T> Clone for FlowControlQueue<T> {
    /// Another handle to the same queue.
    fn clone(&self) -> Self {
        FlowControlQueue {
            core: self.core.clone(),
        }
    }
}

impl<T> fmt::Debug for FlowControlQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FlowControlQueue")
            .field(&*self.core)
            .finish()
    }
}

/// The future returned by [`FlowControlQueue::put`].
///
/// # Cancel safety
///
/// Not cancel safe: dropping the future before it completes drops the item. Use
/// [`try_put`](FlowControlQueue::try_put) to keep it.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct Put<'a, T> {
    state: PutState<'a, T, Infallible>,
}

impl<T> Unpin for Put<'_, T> {}

impl<T> Future for Put<'_, T> {
    type Output = Result<(), PutError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.state.poll(cx).map_err(put_error)
    }
}

impl<T> fmt::Debug for Put<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put")
            .field("queue", self.state.core)
            .finish_non_exhaustive()
    }
}

/// The future returned by [`FlowControlQueue::get`].
///
/// # Cancel safety
///
/// Cancel safe: an item is taken only by the poll that returns it.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct Get<'a, T> {
    state: GetState<'a, T, Infallible>,
}

impl<T> Unpin for Get<'_, T> {}

impl<T> Future for Get<'_, T> {
    type Output = Result<T, GetError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.state.poll(cx).map(|entry| match entry {
            Some(Ok(item)) => Ok(item),
            Some(Err(never)) => match never {},
            None => Err(GetError),
        })
    }
}

impl<T> fmt::Debug for Get<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get")
            .field("queue", self.state.core)
            .finish_non_exhaustive()
    }
}

/// Why a non-waiting put ([`FlowControlQueue::try_put`],
/// [`try_put_bypassing_flow_control`](FlowControlQueue::try_put_bypassing_flow_control),
/// [`force_put`](FlowControlQueue::force_put)) failed; holds the item.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum TryPutError<T> {
    /// The queue holds `capacity` items (never from `force_put`).
    Full(T),
    /// The flow is suspended (only from `try_put`).
    Suspended(T),
    /// The queue is closed.
    Closed(T),
}

impl<T> TryPutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(item) | TryPutError::Suspended(item) | TryPutError::Closed(item) => {
                item
            }
        }
    }

    /// Whether the queue was full.
    #[must_use]
    pub fn is_full(&self) -> bool {
        matches!(self, TryPutError::Full(_))
    }

    /// Whether the flow was suspended.
    #[must_use]
    pub fn is_suspended(&self) -> bool {
        matches!(self, TryPutError::Suspended(_))
    }

    /// Whether the queue was closed.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        matches!(self, TryPutError::Closed(_))
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("Full(..)"),
            TryPutError::Suspended(_) => f.write_str("Suspended(..)"),
            TryPutError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryPutError::Full(_) => "cannot put into a full queue",
            TryPutError::Suspended(_) => "cannot put into a queue while its flow is suspended",
            TryPutError::Closed(_) => "cannot put into a closed queue",
        })
    }
}

impl<T> core::error::Error for TryPutError<T> {}

/// Why [`FlowControlQueue::put`] failed; holds the item.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PutError<T> {
    /// The queue is closed.
    Closed(T),
    /// The queue was cleared while the put waited; the item is stale.
    Cleared(T),
}

impl<T> PutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Closed(item) | PutError::Cleared(item) => item,
        }
    }

    /// Whether the queue was closed.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        matches!(self, PutError::Closed(_))
    }

    /// Whether the queue was cleared.
    #[must_use]
    pub fn is_cleared(&self) -> bool {
        matches!(self, PutError::Cleared(_))
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Closed(_) => f.write_str("Closed(..)"),
            PutError::Cleared(_) => f.write_str("Cleared(..)"),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PutError::Closed(_) => "cannot put into a closed queue",
            PutError::Cleared(_) => "the queue was cleared while the put was waiting",
        })
    }
}

impl<T> core::error::Error for PutError<T> {}

/// Why [`FlowControlQueue::get`] failed: the queue is closed and empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GetError;

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot get from a closed and empty queue")
    }
}

impl core::error::Error for GetError {}

/// Why [`FlowControlQueue::try_get`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TryGetError {
    /// The queue is empty.
    Empty,
    /// The queue is closed and empty.
    Closed,
}

impl TryGetError {
    /// Whether the queue was empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        matches!(self, TryGetError::Empty)
    }

    /// Whether the queue was closed and empty.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        matches!(self, TryGetError::Closed)
    }
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryGetError::Empty => "cannot get from an empty queue",
            TryGetError::Closed => "cannot get from a closed and empty queue",
        })
    }
}

impl core::error::Error for TryGetError {}

#[cfg(all(test, not(loom)))]
mod tests {
    extern crate std;

    use super::*;
    use crate::sync::tests_util::{count_wakes, poll_once};
    use alloc::vec::Vec;
    use core::sync::atomic::{AtomicUsize, Ordering};

    fn resumed() -> AllocArc<FlowControlEvent> {
        AllocArc::new(FlowControlEvent::new_resumed())
    }

    #[test]
    fn fifo_order_and_capacity() {
        let queue = FlowControlQueue::new(3, resumed());
        for i in 0..3 {
            queue.try_put(i).unwrap();
        }
        assert!(queue.is_full());
        assert_eq!(queue.try_put(3), Err(TryPutError::Full(3)));
        let got: Vec<_> = core::iter::from_fn(|| queue.try_get().ok()).collect();
        assert_eq!(got, [0, 1, 2]);
    }

    #[test]
    fn put_waits_for_room_and_wakes_one_putter_per_get() {
        let queue = FlowControlQueue::new(1, resumed());
        queue.try_put(0).unwrap();
        let (waker, wakes) = count_wakes();
        let mut first = queue.put(1);
        let mut second = queue.put(2);
        assert!(poll_once(&mut first, &waker).is_pending());
        assert!(poll_once(&mut second, &waker).is_pending());
        assert_eq!(queue.try_get(), Ok(0));
        assert_eq!(wakes(), 1, "one get wakes one putter");
        assert_eq!(poll_once(&mut first, &waker), Poll::Ready(Ok(())));
        assert!(poll_once(&mut second, &waker).is_pending());
        assert_eq!(queue.try_get(), Ok(1));
        assert_eq!(wakes(), 2);
        assert_eq!(poll_once(&mut second, &waker), Poll::Ready(Ok(())));
        assert_eq!(queue.try_get(), Ok(2));
    }

    #[test]
    fn get_waits_for_items_and_wakes_one_getter_per_put() {
        let queue = FlowControlQueue::new(4, resumed());
        let (waker, wakes) = count_wakes();
        let mut gets: Vec<_> = (0..3).map(|_| queue.get()).collect();
        for get in &mut gets {
            assert!(poll_once(get, &waker).is_pending());
        }
        queue.try_put('a').unwrap();
        assert_eq!(wakes(), 1);
        queue.try_put('b').unwrap();
        assert_eq!(wakes(), 2, "a second put wakes a second getter");
        assert_eq!(poll_once(&mut gets[0], &waker), Poll::Ready(Ok('a')));
        assert_eq!(poll_once(&mut gets[1], &waker), Poll::Ready(Ok('b')));
        assert!(poll_once(&mut gets[2], &waker).is_pending());
    }

    #[test]
    fn suspended_flow_blocks_producers_only() {
        let flow = AllocArc::new(FlowControlEvent::new());
        let queue = FlowControlQueue::new(2, flow.clone());
        let (waker, wakes) = count_wakes();
        let mut put = queue.put(5);
        assert!(poll_once(&mut put, &waker).is_pending());
        flow.resume();
        assert_eq!(wakes(), 1);
        assert_eq!(poll_once(&mut put, &waker), Poll::Ready(Ok(())));

        flow.suspend();
        let mut blocked = queue.put(6);
        assert!(poll_once(&mut blocked, &waker).is_pending());
        // Consumers keep draining what is buffered.
        assert_eq!(queue.try_get(), Ok(5));
        let mut get = queue.get();
        assert!(poll_once(&mut get, &waker).is_pending(), "empty: waits");
        assert!(
            poll_once(&mut blocked, &waker).is_pending(),
            "still suspended"
        );
        flow.resume();
        assert_eq!(poll_once(&mut blocked, &waker), Poll::Ready(Ok(())));
        assert_eq!(poll_once(&mut get, &waker), Poll::Ready(Ok(6)));
    }

    #[test]
    fn get_waiting_on_empty_is_woken_by_a_put_while_suspended() {
        let flow = AllocArc::new(FlowControlEvent::new());
        let queue = FlowControlQueue::new(2, flow.clone());
        let (waker, wakes) = count_wakes();
        let mut get = queue.get();
        assert!(poll_once(&mut get, &waker).is_pending());
        queue.try_put_bypassing_flow_control(1).unwrap();
        assert_eq!(wakes(), 1);
        assert_eq!(poll_once(&mut get, &waker), Poll::Ready(Ok(1)));
    }

    #[test]
    fn bypassing_and_forced_puts() {
        let flow = AllocArc::new(FlowControlEvent::new());
        let queue = FlowControlQueue::new(2, flow.clone());
        assert_eq!(queue.try_put(0), Err(TryPutError::Suspended(0)));
        queue.try_put_bypassing_flow_control(1).unwrap();
        queue.try_put_bypassing_flow_control(2).unwrap();
        assert_eq!(
            queue.try_put_bypassing_flow_control(3),
            Err(TryPutError::Full(3))
        );
        queue.force_put(3).unwrap();
        assert_eq!(queue.len(), 3);
        assert!(queue.is_full());
        flow.resume();
        // Over capacity: an ordinary put waits until the queue is below capacity again.
        let (waker, wakes) = count_wakes();
        let mut put = queue.put(4);
        assert!(poll_once(&mut put, &waker).is_pending());
        assert_eq!(queue.try_get(), Ok(1));
        assert!(
            poll_once(&mut put, &waker).is_pending(),
            "still at capacity"
        );
        assert_eq!(queue.try_get(), Ok(2));
        assert!(wakes() >= 1);
        assert_eq!(poll_once(&mut put, &waker), Poll::Ready(Ok(())));
        let got: Vec<_> = core::iter::from_fn(|| queue.try_get().ok()).collect();
        assert_eq!(got, [3, 4]);
        queue.close();
        assert_eq!(queue.force_put(5), Err(TryPutError::Closed(5)));
        assert_eq!(
            queue.try_put_bypassing_flow_control(5),
            Err(TryPutError::Closed(5))
        );
    }

    #[test]
    // The float formulas are mode's; `as usize` truncates, which is `floor` for these
    // small positive values.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    fn pressure_marks_are_modes_ratios() {
        for capacity in 1..=200usize {
            let queue = FlowControlQueue::<()>::new(capacity, resumed());
            let high = (capacity as f64 / 1.25) as usize;
            let drop = (capacity as f64 * 0.4) as usize;
            assert_eq!(queue.pressure_high_mark(), high, "capacity {capacity}");
            assert_eq!(queue.pressure_drop_mark(), drop, "capacity {capacity}");
        }
    }

    fn pressure_log(
        queue: &FlowControlQueue<u32>,
    ) -> AllocArc<std::sync::Mutex<Vec<&'static str>>> {
        let log = AllocArc::new(std::sync::Mutex::new(Vec::new()));
        let (high, drop) = (log.clone(), log.clone());
        queue.set_pressure_callbacks(
            move || high.lock().unwrap().push("high"),
            move || drop.lock().unwrap().push("drop"),
        );
        log
    }

    #[test]
    fn pressure_high_once_per_crossing_and_drop_at_the_mark() {
        let queue = FlowControlQueue::new(10, resumed());
        let log = pressure_log(&queue);
        for i in 0..8 {
            queue.try_put(i).unwrap();
        }
        assert!(
            log.lock().unwrap().is_empty(),
            "8 puts found at most 7 items"
        );
        queue.try_put(8).unwrap();
        assert_eq!(*log.lock().unwrap(), ["high"]);
        assert!(queue.is_pressure_high());
        queue.try_put(9).unwrap();
        assert_eq!(*log.lock().unwrap(), ["high"], "once per crossing");
        for _ in 0..6 {
            queue.try_get().unwrap(); // finds 10..=5 items
        }
        assert_eq!(*log.lock().unwrap(), ["high"]);
        queue.try_get().unwrap(); // finds 4
        assert_eq!(*log.lock().unwrap(), ["high", "drop"]);
        assert!(!queue.is_pressure_high());
        // A second crossing calls them again.
        while queue.len() < 9 {
            queue.force_put(0).unwrap();
        }
        queue.force_put(0).unwrap();
        assert_eq!(*log.lock().unwrap(), ["high", "drop", "high"]);
    }

    #[test]
    fn pressure_drops_on_an_empty_queue_and_on_clear() {
        // Capacity 1: high mark 0 (every put), drop mark 0 (a get on an empty queue).
        let queue = FlowControlQueue::new(1, resumed());
        let log = pressure_log(&queue);
        queue.try_put(1).unwrap();
        assert_eq!(*log.lock().unwrap(), ["high"]);
        assert_eq!(queue.try_get(), Ok(1)); // found 1 item
        assert_eq!(*log.lock().unwrap(), ["high"]);
        assert_eq!(queue.try_get(), Err(TryGetError::Empty));
        assert_eq!(*log.lock().unwrap(), ["high", "drop"]);

        queue.try_put(2).unwrap();
        queue.clear();
        assert_eq!(*log.lock().unwrap(), ["high", "drop", "high", "drop"]);
    }

    #[test]
    fn pressure_callbacks_may_use_the_queue() {
        let queue = FlowControlQueue::new(1, resumed());
        let log = AllocArc::new(std::sync::Mutex::new(Vec::new()));
        let (inner, high_log, drop_log) = (queue.clone(), log.clone(), log.clone());
        queue.set_pressure_callbacks(
            move || {
                high_log.lock().unwrap().push("high");
                // Drains the queue from inside the callback: a drop transition, delivered
                // after this call returns.
                while inner.try_get().is_ok() {}
            },
            move || drop_log.lock().unwrap().push("drop"),
        );
        queue.try_put(1).unwrap();
        assert_eq!(*log.lock().unwrap(), ["high", "drop"]);
        assert!(queue.is_empty());
        queue.remove_pressure_callbacks(); // the callback held a clone: a cycle
        assert_eq!(AllocArc::strong_count(&log), 1);
    }

    #[test]
    fn clear_fails_every_waiting_put() {
        let queue = FlowControlQueue::new(1, resumed());
        queue.try_put(0).unwrap();
        let (waker, wakes) = count_wakes();
        let mut puts: Vec<_> = (1..=3).map(|i| queue.put(i)).collect();
        for put in &mut puts {
            assert!(poll_once(put, &waker).is_pending());
        }
        queue.clear();
        assert_eq!(wakes(), 3, "clear wakes every waiting put");
        for (put, i) in puts.iter_mut().zip(1..) {
            assert_eq!(
                poll_once(put, &waker),
                Poll::Ready(Err(PutError::Cleared(i)))
            );
        }
        assert!(queue.is_empty());
        // The queue is usable afterwards, with its buffer.
        queue.try_put(9).unwrap();
        assert_eq!(queue.try_get(), Ok(9));
    }

    #[test]
    fn clear_on_resume_applies_to_managed_queues_only() {
        let flow = AllocArc::new(FlowControlEvent::new_resumed());
        let managed = FlowControlQueue::with_clear_on_resume(2, flow.clone());
        let plain = FlowControlQueue::new(2, flow.clone());
        managed.try_put(1).unwrap();
        plain.try_put(1).unwrap();
        flow.suspend();
        flow.resume();
        assert!(managed.is_empty());
        assert_eq!(plain.len(), 1);
        managed.try_put(2).unwrap();
        flow.clear();
        assert_eq!(managed.try_get(), Err(TryGetError::Empty));
    }

    #[test]
    fn resume_clear_drops_the_buffer_and_lets_a_waiting_put_deliver() {
        let flow = AllocArc::new(FlowControlEvent::new_resumed());
        let queue = FlowControlQueue::with_clear_on_resume(2, flow.clone());
        queue.try_put("stale").unwrap();
        flow.suspend();
        let (waker, wakes) = count_wakes();
        let mut put = queue.put("after rebalance");
        assert!(poll_once(&mut put, &waker).is_pending());
        flow.resume();
        assert_eq!(wakes(), 1);
        assert_eq!(poll_once(&mut put, &waker), Poll::Ready(Ok(())));
        assert_eq!(queue.try_get(), Ok("after rebalance"));
        assert_eq!(queue.try_get(), Err(TryGetError::Empty));
    }

    #[test]
    fn flow_clear_lets_a_put_waiting_for_room_deliver() {
        let flow = AllocArc::new(FlowControlEvent::new_resumed());
        let queue = FlowControlQueue::with_clear_on_resume(1, flow.clone());
        queue.try_put(1).unwrap();
        let (waker, wakes) = count_wakes();
        let mut put = queue.put(2);
        assert!(poll_once(&mut put, &waker).is_pending());
        flow.clear();
        assert_eq!(wakes(), 1);
        assert_eq!(poll_once(&mut put, &waker), Poll::Ready(Ok(())));
        assert_eq!(queue.try_get(), Ok(2));
        assert!(queue.is_empty());
    }

    #[test]
    fn close_wakes_everyone_and_drains() {
        let queue = FlowControlQueue::new(1, resumed());
        let (waker, wakes) = count_wakes();
        let empty = FlowControlQueue::<u8>::new(1, resumed());
        let mut get = empty.get();
        assert!(poll_once(&mut get, &waker).is_pending());
        assert!(empty.close());
        assert_eq!(poll_once(&mut get, &waker), Poll::Ready(Err(GetError)));

        queue.try_put(1).unwrap();
        let mut put = queue.put(2);
        assert!(poll_once(&mut put, &waker).is_pending());
        queue.close();
        assert!(wakes() >= 2);
        assert_eq!(
            poll_once(&mut put, &waker),
            Poll::Ready(Err(PutError::Closed(2)))
        );
        assert_eq!(queue.try_put(3), Err(TryPutError::Closed(3)));
        queue.flow_control().suspend();
        assert_eq!(
            queue.try_get(),
            Ok(1),
            "a closed queue drains even when suspended"
        );
        assert_eq!(queue.try_get(), Err(TryGetError::Closed));
    }

    #[test]
    fn cancelled_get_passes_its_wake_up_on() {
        let queue = FlowControlQueue::new(2, resumed());
        let (waker, wakes) = count_wakes();
        let mut first = queue.get();
        let mut second = queue.get();
        assert!(poll_once(&mut first, &waker).is_pending());
        assert!(poll_once(&mut second, &waker).is_pending());
        queue.try_put(1).unwrap();
        assert_eq!(wakes(), 1);
        drop(first);
        assert_eq!(wakes(), 2, "the dropped getter's notification moves on");
        assert_eq!(poll_once(&mut second, &waker), Poll::Ready(Ok(1)));
    }

    #[test]
    fn items_are_dropped_on_clear_and_with_the_queue() {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        struct Counted;
        impl Drop for Counted {
            fn drop(&mut self) {
                DROPS.fetch_add(1, Ordering::SeqCst);
            }
        }
        let flow = resumed();
        let queue = FlowControlQueue::new(4, flow.clone());
        for _ in 0..3 {
            queue.try_put(Counted).ok().unwrap();
        }
        queue.clear();
        assert_eq!(DROPS.load(Ordering::SeqCst), 3);
        queue.try_put(Counted).ok().unwrap();
        let clone = queue.clone();
        drop(queue);
        assert_eq!(DROPS.load(Ordering::SeqCst), 3);
        drop(clone);
        assert_eq!(DROPS.load(Ordering::SeqCst), 4);
        assert_eq!(
            AllocArc::strong_count(&flow),
            1,
            "the queue let go of its flow event"
        );
    }

    #[test]
    fn threads_move_every_item_once() {
        // Fewer under miri, which is slow.
        const ITEMS: usize = if cfg!(miri) { 20 } else { 2_000 };
        let queue = FlowControlQueue::new(8, resumed());
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let queue = queue.clone();
                std::thread::spawn(move || {
                    futures_lite::future::block_on(async {
                        for i in 0..ITEMS {
                            queue.put(p * ITEMS + i).await.unwrap();
                        }
                    })
                })
            })
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let queue = queue.clone();
                std::thread::spawn(move || {
                    futures_lite::future::block_on(async {
                        let mut got = Vec::new();
                        while let Ok(item) = queue.get().await {
                            got.push(item);
                        }
                        got
                    })
                })
            })
            .collect();
        for producer in producers {
            producer.join().unwrap();
        }
        queue.close();
        let mut all: Vec<usize> = consumers
            .into_iter()
            .flat_map(|consumer| consumer.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..2 * ITEMS).collect::<Vec<_>>());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::future::block_on;
    use loom::thread;

    fn resumed() -> AllocArc<FlowControlEvent> {
        AllocArc::new(FlowControlEvent::new_resumed())
    }

    /// A producer and a consumer (two threads) move two items through a queue of one
    /// slot, so both sides must wait for each other at least once: no wake-up may be lost
    /// and the order is kept.
    #[test]
    fn loom_queue_put_get_capacity_one() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(2);
        builder.check(|| {
            let queue = FlowControlQueue::new(1, resumed());
            let producer = thread::spawn({
                let queue = queue.clone();
                move || {
                    block_on(async {
                        queue.put(1).await.unwrap();
                        queue.put(2).await.unwrap();
                    })
                }
            });
            let first = block_on(queue.get()).unwrap();
            let second = block_on(queue.get()).unwrap();
            assert_eq!((first, second), (1, 2));
            producer.join().unwrap();
        });
    }

    /// A put waiting on a full queue races a `clear` (two threads). Either the clear came
    /// first and the put stored its item, or the put was waiting and got its item back.
    #[test]
    fn loom_queue_clear_releases_waiting_put() {
        loom::model(|| {
            let queue = FlowControlQueue::new(1, resumed());
            queue.try_put(0).unwrap();
            let clearer = thread::spawn({
                let queue = queue.clone();
                move || queue.clear()
            });
            match block_on(queue.put(1)) {
                Ok(()) => assert_eq!(queue.try_get(), Ok(1)),
                Err(error) => {
                    assert_eq!(error, PutError::Cleared(1));
                    assert!(queue.is_empty());
                }
            }
            clearer.join().unwrap();
        });
    }

    /// A `clear_on_resume` queue holds a stale item and a put waits on the suspended flow;
    /// another thread resumes (two threads). Whatever the interleaving, the stale item is
    /// dropped and the waiting put delivers its own.
    #[test]
    fn loom_queue_resume_clears_and_delivers_waiting_put() {
        loom::model(|| {
            let flow = AllocArc::new(FlowControlEvent::new_resumed());
            let queue = FlowControlQueue::with_clear_on_resume(1, flow.clone());
            queue.try_put(0).unwrap();
            flow.suspend();
            let resumer = thread::spawn(move || flow.resume());
            assert_eq!(block_on(queue.put(7)), Ok(()));
            resumer.join().unwrap();
            assert_eq!(queue.try_get(), Ok(7));
            assert_eq!(queue.try_get(), Err(TryGetError::Empty));
        });
    }

    /// Pressure transitions from a producer and a consumer thread (two threads): the
    /// callbacks are never called at once and alternate high, drop, high, ...
    #[test]
    fn loom_queue_pressure_callbacks_alternate() {
        use crate::platform::sync::atomic::{AtomicUsize, Ordering};
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(2);
        builder.check(|| {
            // Capacity 1: every put is a high crossing, a get on an empty queue a drop.
            let queue = FlowControlQueue::new(1, resumed());
            // Even: last delivered was a drop (or none); odd: a high.
            let state = Arc::new(AtomicUsize::new(0));
            let (high, drop) = (state.clone(), state.clone());
            queue.set_pressure_callbacks(
                move || assert_eq!(high.fetch_add(1, Ordering::SeqCst) % 2, 0),
                move || assert_eq!(drop.fetch_add(1, Ordering::SeqCst) % 2, 1),
            );
            let producer = thread::spawn({
                let queue = queue.clone();
                move || {
                    let _ = queue.try_put(1);
                }
            });
            let _ = queue.try_get();
            let _ = queue.try_get();
            producer.join().unwrap();
        });
    }

    /// A put blocked by suspension, a resumer, and a consumer (three threads, bounded
    /// preemptions): the item arrives exactly once.
    #[test]
    fn loom_queue_suspended_put_resume_get() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(2);
        builder.check(|| {
            let flow = AllocArc::new(FlowControlEvent::new());
            let queue = FlowControlQueue::new(1, flow.clone());
            let producer = thread::spawn({
                let queue = queue.clone();
                move || block_on(queue.put(3)).unwrap()
            });
            let resumer = thread::spawn(move || flow.resume());
            assert_eq!(block_on(queue.get()), Ok(3));
            producer.join().unwrap();
            resumer.join().unwrap();
            assert!(queue.is_empty());
        });
    }

    /// `close` racing a waiting getter (two threads): the getter ends with `GetError`.
    #[test]
    fn loom_queue_close_wakes_getter() {
        loom::model(|| {
            let queue = FlowControlQueue::<u8>::new(1, resumed());
            let closer = thread::spawn({
                let queue = queue.clone();
                move || {
                    queue.close();
                }
            });
            assert_eq!(block_on(queue.get()), Err(GetError));
            closer.join().unwrap();
        });
    }
}
