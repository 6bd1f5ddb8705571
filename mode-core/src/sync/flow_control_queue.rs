//! [`FlowControlQueue`]: a bounded async queue whose producers and consumers obey a
//! [`FlowControlEvent`].
//!
//! `put` waits while the queue is full or the flow is suspended; `get` waits while the
//! queue is empty or the flow is suspended. Each operation has a non-blocking twin
//! (`try_put`, `try_get`) and its own error type that hands the value back.
//!
//! Differences from mode's `FlowControlQueue` (an `asyncio.Queue`), each deliberate:
//! - the capacity is required and at least 1 (asyncio's `maxsize=0` means unbounded);
//! - `get` also waits while the flow is suspended, so a suspended flow stops the whole
//!   pipeline, not only its producers;
//! - the queue can be [closed](FlowControlQueue::close): puts fail, gets drain what is left
//!   and then fail;
//! - [`clear`](FlowControlQueue::clear) fails every waiting `put` with
//!   [`PutError::Cleared`], handing its item back (mode cancels them, a fix listed in its
//!   changelog).
//!
//! The buffer is allocated once, at creation; the per-item path does not allocate. A task
//! that has to wait allocates one listener. Each put wakes one waiting consumer and each
//! get wakes one waiting producer, never all of them.

use crate::platform::plain::Arc as AllocArc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::flow_control::FlowControlEvent;
use super::queue_core::{
    Core, GetState, Plain, PutFailure, PutState, PutWaiter, TryGetFailure, TryPutFailure,
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
/// assert_eq!(queue.get().await?, 1);
/// flow.suspend();
/// assert_eq!(queue.try_get(), Err(TryGetError::Suspended));
/// flow.resume();
/// assert_eq!(queue.try_get(), Ok(2));
/// assert_eq!(queue.try_get(), Err(TryGetError::Empty));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct FlowControlQueue<T> {
    core: Arc<Core<Plain<T>>>,
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
    /// cleared or resumed (mode's `clear_on_resume=True`): its items are dropped, and
    /// every `put` waiting at that moment (for room, or for the flow to resume) fails with
    /// [`PutError::Cleared`], since its item is as stale as the ones dropped.
    ///
    /// The items are dropped by the next operation on the queue after the clear (any
    /// method, including [`len`](Self::len)); waiting tasks are woken at once.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, FlowControlQueue};
    ///
    /// let flow = Arc::new(FlowControlEvent::new_resumed());
    /// let queue = FlowControlQueue::with_clear_on_resume(4, flow.clone());
    /// queue.try_put("stale").unwrap();
    /// flow.suspend();
    /// flow.resume();
    /// assert!(queue.is_empty());
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
    /// [`PutError::Cleared`] if the queue is cleared while this put waits. Either way the
    /// item is handed back.
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
                entry: Some(Plain(item)),
                waiter: PutWaiter::default(),
            },
        }
    }

    /// Puts `item` without waiting.
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
            .try_put(Plain(item))
            .map_err(|(Plain(item), failure)| match failure {
                TryPutFailure::Full => TryPutError::Full(item),
                TryPutFailure::Suspended => TryPutError::Suspended(item),
                TryPutFailure::Closed => TryPutError::Closed(item),
            })
    }

    /// Takes the item at the front of the queue, waiting while the queue is empty or the
    /// flow is suspended.
    ///
    /// Once the queue is [closed](Self::close) the remaining items are still returned,
    /// suspended or not; then `get` fails with [`GetError`].
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
        self.core
            .try_get()
            .map(|Plain(item)| item)
            .map_err(|failure| match failure {
                TryGetFailure::Empty => TryGetError::Empty,
                TryGetFailure::Suspended => TryGetError::Suspended,
                TryGetFailure::Closed => TryGetError::Closed,
            })
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

    /// Whether the queue holds `capacity` items.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.core.is_full()
    }

    /// The most items the queue holds.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.core.capacity()
    }

    /// The flow-control event managing this queue.
    #[must_use]
    pub fn flow_control(&self) -> &AllocArc<FlowControlEvent> {
        self.core.flow()
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
    state: PutState<'a, Plain<T>>,
}

impl<T> Unpin for Put<'_, T> {}

impl<T> Future for Put<'_, T> {
    type Output = Result<(), PutError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.state
            .poll(cx)
            .map_err(|(Plain(item), failure)| match failure {
                PutFailure::Closed => PutError::Closed(item),
                PutFailure::Cleared => PutError::Cleared(item),
            })
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
    state: GetState<'a, Plain<T>>,
}

impl<T> Unpin for Get<'_, T> {}

impl<T> Future for Get<'_, T> {
    type Output = Result<T, GetError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.state
            .poll(cx)
            .map(|entry| entry.map(|Plain(item)| item).ok_or(GetError))
    }
}

impl<T> fmt::Debug for Get<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get")
            .field("queue", self.state.core)
            .finish_non_exhaustive()
    }
}

/// Why [`FlowControlQueue::try_put`] failed; holds the item.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum TryPutError<T> {
    /// The queue holds `capacity` items.
    Full(T),
    /// The flow is suspended.
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
pub struct GetError;

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot get from a closed and empty queue")
    }
}

impl core::error::Error for GetError {}

/// Why [`FlowControlQueue::try_get`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TryGetError {
    /// The queue is empty.
    Empty,
    /// The flow is suspended.
    Suspended,
    /// The queue is closed and empty.
    Closed,
}

impl TryGetError {
    /// Whether the queue was empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        matches!(self, TryGetError::Empty)
    }

    /// Whether the flow was suspended.
    #[must_use]
    pub fn is_suspended(&self) -> bool {
        matches!(self, TryGetError::Suspended)
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
            TryGetError::Suspended => "cannot get from a queue while its flow is suspended",
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
    fn suspended_flow_blocks_both_sides_until_resume() {
        let flow = AllocArc::new(FlowControlEvent::new());
        let queue = FlowControlQueue::new(2, flow.clone());
        let (waker, wakes) = count_wakes();
        let mut put = queue.put(5);
        assert!(poll_once(&mut put, &waker).is_pending());
        flow.resume();
        assert_eq!(wakes(), 1);
        assert_eq!(poll_once(&mut put, &waker), Poll::Ready(Ok(())));

        flow.suspend();
        assert_eq!(queue.try_get(), Err(TryGetError::Suspended));
        let mut get = queue.get();
        assert!(poll_once(&mut get, &waker).is_pending());
        flow.resume();
        assert_eq!(poll_once(&mut get, &waker), Poll::Ready(Ok(5)));
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
    fn resume_clear_fails_put_waiting_on_suspension() {
        let flow = AllocArc::new(FlowControlEvent::new());
        let queue = FlowControlQueue::with_clear_on_resume(2, flow.clone());
        let (waker, _) = count_wakes();
        let mut put = queue.put("before rebalance");
        assert!(poll_once(&mut put, &waker).is_pending());
        flow.resume();
        assert_eq!(
            poll_once(&mut put, &waker),
            Poll::Ready(Err(PutError::Cleared("before rebalance")))
        );
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

    /// A getter waits on a suspended flow with an item already queued; another thread
    /// resumes (two threads). The getter must be woken by the resume.
    #[test]
    fn loom_queue_resume_wakes_suspended_get() {
        loom::model(|| {
            let flow = AllocArc::new(FlowControlEvent::new_resumed());
            let queue = FlowControlQueue::new(1, flow.clone());
            queue.try_put(7).unwrap();
            flow.suspend();
            let resumer = thread::spawn(move || flow.resume());
            assert_eq!(block_on(queue.get()), Ok(7));
            resumer.join().unwrap();
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
