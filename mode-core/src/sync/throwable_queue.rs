//! [`ThrowableQueue`]: a flow-controlled queue whose consumer can be handed errors.
//!
//! A producer that fails cannot always return its error to anyone: it runs in another
//! task. mode's answer is a queue that carries errors too: [`throw`](ThrowableQueue::throw)
//! enqueues an error, and the consumer's [`get`](ThrowableQueue::get) returns it as
//! `Err(error)`, in order with the items around it.
//!
//! Thrown errors never wait: they ignore the capacity and the flow control (a suspended
//! consumer still receives an error that reaches the front of the queue), which is why
//! `throw` is a plain function (mode's `_throw`; mode's `async throw` only calls it).
//!
//! Differences from mode, each deliberate: errors are delivered in order with items
//! (mode raises a pending error before any queued item); the queue is never closed (a
//! producer that is done throws an error of its own kind, so the consumer learns *why*
//! the stream ended), so [`PutError::Closed`] and [`TryPutError::Closed`] never occur here.

use crate::platform::plain::Arc as AllocArc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::flow_control::FlowControlEvent;
use super::flow_control_queue::{PutError, TryGetError, TryPutError};
use super::queue_core::{
    Core, GetState, PutFailure, PutState, PutWaiter, TryGetFailure, TryPutFailure,
};
use crate::platform::sync::Arc;

/// A flow-controlled queue of items of type `T` and thrown errors of type `E`.
///
/// ```
/// # futures_lite::future::block_on(async {
/// use std::sync::Arc;
/// use mode::sync::{FlowControlEvent, ThrowableQueue};
///
/// let queue = ThrowableQueue::new(8, Arc::new(FlowControlEvent::new_resumed()));
/// queue.put(1).await.unwrap();
/// queue.throw("disk on fire");
/// queue.put(2).await.unwrap();
///
/// assert_eq!(queue.get().await, Ok(1));
/// assert_eq!(queue.get().await, Err("disk on fire"));
/// assert_eq!(queue.get().await, Ok(2));
/// # });
/// ```
pub struct ThrowableQueue<T, E> {
    core: Arc<Core<Result<T, E>>>,
}

impl<T, E> ThrowableQueue<T, E> {
    /// Creates a queue holding at most `capacity` items (thrown errors do not count),
    /// managed by `flow_control`.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    #[must_use]
    pub fn new(capacity: usize, flow_control: AllocArc<FlowControlEvent>) -> Self {
        ThrowableQueue {
            core: Arc::new(Core::new(capacity, flow_control, false)),
        }
    }

    /// Like [`new`](Self::new), but the queue (items and errors) is also cleared whenever
    /// `flow_control` is cleared or resumed.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    #[must_use]
    pub fn with_clear_on_resume(capacity: usize, flow_control: AllocArc<FlowControlEvent>) -> Self {
        ThrowableQueue {
            core: Arc::new(Core::new(capacity, flow_control, true)),
        }
    }

    /// Puts `item` at the back of the queue, waiting while the queue is full or the flow
    /// is suspended.
    ///
    /// Fails with [`PutError::Cleared`] (handing the item back) if the queue is cleared
    /// while this put waits.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future before it completes drops the item.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, ThrowableQueue};
    ///
    /// let queue = ThrowableQueue::<_, ()>::new(1, Arc::new(FlowControlEvent::new_resumed()));
    /// queue.put("item").await.unwrap();
    /// assert_eq!(queue.len(), 1);
    /// # });
    /// ```
    pub fn put(&self, item: T) -> ThrowablePut<'_, T, E> {
        ThrowablePut {
            state: PutState {
                core: &self.core,
                entry: Some(Ok(item)),
                waiter: PutWaiter::default(),
            },
        }
    }

    /// Puts `item` without waiting.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, ThrowableQueue, TryPutError};
    ///
    /// let queue = ThrowableQueue::<_, ()>::new(1, Arc::new(FlowControlEvent::new()));
    /// assert_eq!(queue.try_put(1), Err(TryPutError::Suspended(1)));
    /// ```
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        self.core.try_put(Ok(item)).map_err(|(entry, failure)| {
            let item = match entry {
                Ok(item) => item,
                Err(_) => unreachable!("try_put only hands back the item it was given"),
            };
            match failure {
                TryPutFailure::Full => TryPutError::Full(item),
                TryPutFailure::Suspended => TryPutError::Suspended(item),
                TryPutFailure::Closed => TryPutError::Closed(item),
            }
        })
    }

    /// Enqueues `error` for the consumer, without waiting: errors ignore the capacity and
    /// the flow control. The consumer's `get` returns `Err(error)` when it reaches the
    /// front of the queue, after the items put before it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, ThrowableQueue};
    ///
    /// let flow = Arc::new(FlowControlEvent::new()); // suspended
    /// let queue = ThrowableQueue::<u8, &str>::new(1, flow);
    /// queue.throw("stop");
    /// assert_eq!(queue.try_get(), Ok(Err("stop")));
    /// ```
    pub fn throw(&self, error: E) {
        if self.core.push_bypassing(Err(error)).is_err() {
            unreachable!("a ThrowableQueue is never closed");
        }
    }

    /// Takes the entry at the front of the queue: `Ok(item)` or a thrown `Err(error)`.
    /// Waits while the queue is empty, or while the flow is suspended and the front entry
    /// is an item.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an entry is taken only by the poll that returns it.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, ThrowableQueue};
    ///
    /// let queue = ThrowableQueue::<u8, &str>::new(1, Arc::new(FlowControlEvent::new_resumed()));
    /// queue.throw("boom");
    /// assert_eq!(queue.get().await, Err("boom"));
    /// # });
    /// ```
    pub fn get(&self) -> ThrowableGet<'_, T, E> {
        ThrowableGet {
            state: GetState {
                core: &self.core,
                listener: None,
            },
        }
    }

    /// Takes the front entry without waiting.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, ThrowableQueue, TryGetError};
    ///
    /// let queue = ThrowableQueue::<u8, ()>::new(1, Arc::new(FlowControlEvent::new_resumed()));
    /// assert_eq!(queue.try_get(), Err(TryGetError::Empty));
    /// queue.try_put(4).unwrap();
    /// assert_eq!(queue.try_get(), Ok(Ok(4)));
    /// ```
    pub fn try_get(&self) -> Result<Result<T, E>, TryGetError> {
        self.core.try_get().map_err(|failure| match failure {
            TryGetFailure::Empty => TryGetError::Empty,
            TryGetFailure::Suspended => TryGetError::Suspended,
            TryGetFailure::Closed => TryGetError::Closed,
        })
    }

    /// Drops every item and error in the queue and fails every waiting `put` with
    /// [`PutError::Cleared`].
    pub fn clear(&self) {
        self.core.clear();
    }

    /// The number of entries (items and errors) in the queue.
    #[must_use]
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether the queue holds nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue holds `capacity` items (errors do not count).
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

impl<T, E> Clone for ThrowableQueue<T, E> {
    /// Another handle to the same queue.
    fn clone(&self) -> Self {
        ThrowableQueue {
            core: self.core.clone(),
        }
    }
}

impl<T, E> fmt::Debug for ThrowableQueue<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ThrowableQueue").field(&*self.core).finish()
    }
}

/// The future returned by [`ThrowableQueue::put`].
///
/// # Cancel safety
///
/// Not cancel safe: dropping the future before it completes drops the item.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct ThrowablePut<'a, T, E> {
    state: PutState<'a, Result<T, E>>,
}

impl<T, E> Unpin for ThrowablePut<'_, T, E> {}

impl<T, E> Future for ThrowablePut<'_, T, E> {
    type Output = Result<(), PutError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.state.poll(cx).map_err(|(entry, failure)| {
            let item = match entry {
                Ok(item) => item,
                Err(_) => unreachable!("a put only hands back the item it was given"),
            };
            match failure {
                PutFailure::Closed => PutError::Closed(item),
                PutFailure::Cleared => PutError::Cleared(item),
            }
        })
    }
}

impl<T, E> fmt::Debug for ThrowablePut<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrowablePut")
            .field("queue", self.state.core)
            .finish_non_exhaustive()
    }
}

/// The future returned by [`ThrowableQueue::get`].
///
/// # Cancel safety
///
/// Cancel safe: an entry is taken only by the poll that returns it.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct ThrowableGet<'a, T, E> {
    state: GetState<'a, Result<T, E>>,
}

impl<T, E> Unpin for ThrowableGet<'_, T, E> {}

impl<T, E> Future for ThrowableGet<'_, T, E> {
    type Output = Result<T, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.state.poll(cx) {
            Poll::Ready(Some(entry)) => Poll::Ready(entry),
            Poll::Ready(None) => unreachable!("a ThrowableQueue is never closed"),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, E> fmt::Debug for ThrowableGet<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrowableGet")
            .field("queue", self.state.core)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::tests_util::{count_wakes, poll_once};

    fn resumed() -> AllocArc<FlowControlEvent> {
        AllocArc::new(FlowControlEvent::new_resumed())
    }

    #[test]
    fn errors_come_in_order_with_items() {
        let queue = ThrowableQueue::new(4, resumed());
        queue.try_put(1).unwrap();
        queue.throw('x');
        queue.try_put(2).unwrap();
        queue.throw('y');
        assert_eq!(queue.len(), 4);
        assert_eq!(queue.try_get(), Ok(Ok(1)));
        assert_eq!(queue.try_get(), Ok(Err('x')));
        assert_eq!(queue.try_get(), Ok(Ok(2)));
        assert_eq!(queue.try_get(), Ok(Err('y')));
        assert_eq!(queue.try_get(), Err(TryGetError::Empty));
    }

    #[test]
    fn throw_wakes_waiting_getter() {
        let queue = ThrowableQueue::<u8, &str>::new(1, resumed());
        let (waker, wakes) = count_wakes();
        let mut get = queue.get();
        assert!(poll_once(&mut get, &waker).is_pending());
        queue.throw("crashed");
        assert_eq!(wakes(), 1);
        assert_eq!(poll_once(&mut get, &waker), Poll::Ready(Err("crashed")));
    }

    #[test]
    fn errors_ignore_capacity_and_suspension() {
        let flow = resumed();
        let queue = ThrowableQueue::new(1, flow.clone());
        queue.try_put(1).unwrap();
        queue.throw("a");
        queue.throw("b");
        assert!(queue.is_full());
        assert_eq!(queue.try_put(2), Err(TryPutError::Full(2)));
        flow.suspend();
        assert_eq!(
            queue.try_get(),
            Err(TryGetError::Suspended),
            "an item is at the front"
        );
        flow.resume();
        assert_eq!(queue.try_get(), Ok(Ok(1)));
        flow.suspend();
        assert_eq!(
            queue.try_get(),
            Ok(Err("a")),
            "errors pass a suspended flow"
        );
        assert_eq!(queue.try_get(), Ok(Err("b")));
        assert_eq!(queue.try_get(), Err(TryGetError::Suspended));
    }

    #[test]
    fn getting_an_error_frees_no_room() {
        let queue = ThrowableQueue::new(1, resumed());
        queue.throw(());
        queue.try_put(1).unwrap();
        let (waker, wakes) = count_wakes();
        let mut put = queue.put(2);
        assert!(poll_once(&mut put, &waker).is_pending());
        assert_eq!(queue.try_get(), Ok(Err(())));
        assert_eq!(wakes(), 0);
        assert_eq!(queue.try_get(), Ok(Ok(1)));
        assert_eq!(wakes(), 1);
        assert_eq!(poll_once(&mut put, &waker), Poll::Ready(Ok(())));
    }

    #[test]
    fn clear_drops_errors_too() {
        let queue = ThrowableQueue::new(2, resumed());
        queue.try_put(1).unwrap();
        queue.throw(());
        queue.clear();
        assert!(queue.is_empty());
        queue.throw(());
        assert_eq!(queue.try_get(), Ok(Err(())));
    }
}
