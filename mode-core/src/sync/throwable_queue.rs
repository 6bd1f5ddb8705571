//! [`ThrowableQueue`]: a flow-controlled queue whose consumer can be handed errors.
//!
//! A producer that fails cannot always return its error to anyone: it runs in another
//! task. mode's answer is a queue that carries errors too: [`throw`](ThrowableQueue::throw)
//! hands an error to the consumer, whose [`get`](ThrowableQueue::get) returns it as
//! `Err(error)`.
//!
//! As in mode, a thrown error **comes first**: a getter waiting on the empty queue is
//! woken with it at once, and otherwise the next `get` or `try_get` returns it *before*
//! any buffered item. Errors come out in the order thrown, and the queue is not
//! [empty](ThrowableQueue::is_empty) while one is pending. Thrown errors never wait: they
//! ignore the capacity and the flow control, which is why `throw` is a plain function
//! (mode's `_throw`; mode's `async throw` only calls it).
//!
//! Everything else is [`FlowControlQueue`]'s: `put` waits while the queue is full or the
//! flow is suspended, `get` drains what is buffered whatever the flow, the non-waiting
//! puts that bypass the flow control, and the pressure callbacks.
//!
//! Differences from mode, each deliberate: the queue is never closed (a producer that is
//! done throws an error of its own kind, so the consumer learns *why* the stream ended),
//! so [`PutError::Closed`] and [`TryPutError::Closed`] never occur here; a thrown error
//! is not reserved for one particular waiting getter (mode sets it on the first waiter's
//! future): the first getter to look takes it, which is the woken waiter unless another
//! consumer gets there first.
//!
//! [`FlowControlQueue`]: crate::sync::FlowControlQueue

use crate::platform::plain::Arc as AllocArc;
use alloc::boxed::Box;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::flow_control::FlowControlEvent;
use super::flow_control_queue::{
    put_error, try_get_error, try_put_error, PutError, TryGetError, TryPutError,
};
use super::queue_core::{Core, GetState, PressureCallbacks, PutMode, PutState, PutWaiter};
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
/// queue.put(2).await.unwrap();
/// queue.throw("disk on fire");
///
/// // The error overtakes the buffered items.
/// assert_eq!(queue.get().await, Err("disk on fire"));
/// assert_eq!(queue.get().await, Ok(1));
/// assert_eq!(queue.get().await, Ok(2));
/// # });
/// ```
pub struct ThrowableQueue<T, E> {
    core: Arc<Core<T, E>>,
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

    /// Like [`new`](Self::new), but the queue (items and pending errors) is also cleared
    /// whenever `flow_control` is cleared or resumed; a `put` waiting at that moment then
    /// delivers its item, as in
    /// [`FlowControlQueue::with_clear_on_resume`](crate::sync::FlowControlQueue::with_clear_on_resume).
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
    /// Fails with [`PutError::Cleared`] (handing the item back) if the queue is
    /// [cleared](Self::clear) while this put waits.
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
                item: Some(item),
                waiter: PutWaiter::default(),
            },
        }
    }

    /// Puts `item` without waiting: fails if the flow is suspended or the queue is full.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, ThrowableQueue, TryPutError};
    ///
    /// let queue = ThrowableQueue::<_, ()>::new(1, Arc::new(FlowControlEvent::new()));
    /// assert_eq!(queue.try_put(1), Err(TryPutError::Suspended(1)));
    /// ```
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        self.core
            .try_put(item, PutMode::Obey)
            .map_err(try_put_error)
    }

    /// Puts `item` without waiting and without looking at the flow control; fails only if
    /// the queue is full. mode's `put_nowait`; see
    /// [`FlowControlQueue::try_put_bypassing_flow_control`](crate::sync::FlowControlQueue::try_put_bypassing_flow_control).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, ThrowableQueue};
    ///
    /// let queue = ThrowableQueue::<_, ()>::new(1, Arc::new(FlowControlEvent::new()));
    /// assert_eq!(queue.try_put_bypassing_flow_control(1), Ok(()));
    /// assert_eq!(queue.try_get(), Ok(Ok(1)));
    /// ```
    pub fn try_put_bypassing_flow_control(&self, item: T) -> Result<(), TryPutError<T>> {
        self.core
            .try_put(item, PutMode::BypassFlow)
            .map_err(try_put_error)
    }

    /// Puts `item` at once, ignoring both the flow control and the capacity (the buffer
    /// grows past the capacity if needed). mode's `force_put_nowait`; see
    /// [`FlowControlQueue::force_put`](crate::sync::FlowControlQueue::force_put). Never
    /// fails: the queue is never closed.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, ThrowableQueue};
    ///
    /// let queue = ThrowableQueue::<_, ()>::new(1, Arc::new(FlowControlEvent::new()));
    /// queue.force_put(1);
    /// queue.force_put(2);
    /// assert_eq!(queue.len(), 2);
    /// ```
    pub fn force_put(&self, item: T) {
        if self.core.try_put(item, PutMode::Force).is_err() {
            unreachable!("a ThrowableQueue is never closed");
        }
    }

    /// Hands `error` to the consumer, without waiting: errors ignore the capacity and the
    /// flow control. A getter waiting on the empty queue is woken with it; otherwise the
    /// next `get` or `try_get` returns `Err(error)` before any buffered item. Errors
    /// thrown one after another come out in that order.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mode::sync::{FlowControlEvent, ThrowableQueue};
    ///
    /// let flow = Arc::new(FlowControlEvent::new_resumed());
    /// let queue = ThrowableQueue::<u8, &str>::new(4, flow);
    /// queue.try_put(1).unwrap();
    /// queue.throw("first");
    /// queue.throw("second");
    /// assert_eq!(queue.try_get(), Ok(Err("first")));
    /// assert_eq!(queue.try_get(), Ok(Err("second")));
    /// assert_eq!(queue.try_get(), Ok(Ok(1)));
    /// ```
    pub fn throw(&self, error: E) {
        self.core.throw(error);
    }

    /// Takes the front entry: a pending thrown error as `Err(error)`, or else the front
    /// item as `Ok(item)`. Waits while the queue holds neither; a suspended flow does not
    /// stop it.
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

    /// Takes the front entry without waiting: a pending error first, then items.
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
        self.core.try_get().map_err(try_get_error)
    }

    /// Drops every item and pending error in the queue and fails every waiting `put` with
    /// [`PutError::Cleared`].
    pub fn clear(&self) {
        self.core.clear();
    }

    /// The number of entries (items and pending errors) in the queue.
    #[must_use]
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether the queue holds nothing: no item and no pending error.
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

    /// Sets the pressure callbacks; see
    /// [`FlowControlQueue::set_pressure_callbacks`](crate::sync::FlowControlQueue::set_pressure_callbacks).
    /// Items count, errors do not.
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

    /// Removes the pressure callbacks; see
    /// [`FlowControlQueue::remove_pressure_callbacks`](crate::sync::FlowControlQueue::remove_pressure_callbacks).
    pub fn remove_pressure_callbacks(&self) {
        self.core.remove_pressure_callbacks();
    }

    /// `floor(capacity / 1.25)`; see
    /// [`FlowControlQueue::pressure_high_mark`](crate::sync::FlowControlQueue::pressure_high_mark).
    #[must_use]
    pub fn pressure_high_mark(&self) -> usize {
        self.core.pressure_high_mark()
    }

    /// `floor(capacity * 0.4)`; see
    /// [`FlowControlQueue::pressure_drop_mark`](crate::sync::FlowControlQueue::pressure_drop_mark).
    #[must_use]
    pub fn pressure_drop_mark(&self) -> usize {
        self.core.pressure_drop_mark()
    }

    /// Whether the pressure is high; see
    /// [`FlowControlQueue::is_pressure_high`](crate::sync::FlowControlQueue::is_pressure_high).
    #[must_use]
    pub fn is_pressure_high(&self) -> bool {
        self.core.is_pressure_high()
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
    state: PutState<'a, T, E>,
}

impl<T, E> Unpin for ThrowablePut<'_, T, E> {}

impl<T, E> Future for ThrowablePut<'_, T, E> {
    type Output = Result<(), PutError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.state.poll(cx).map_err(put_error)
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
    state: GetState<'a, T, E>,
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
    fn errors_come_before_items_in_the_order_thrown() {
        let queue = ThrowableQueue::new(4, resumed());
        queue.try_put(1).unwrap();
        queue.throw('x');
        queue.try_put(2).unwrap();
        queue.throw('y');
        assert_eq!(queue.len(), 4);
        assert_eq!(queue.try_get(), Ok(Err('x')));
        assert_eq!(queue.try_get(), Ok(Err('y')));
        assert_eq!(queue.try_get(), Ok(Ok(1)));
        assert_eq!(queue.try_get(), Ok(Ok(2)));
        assert_eq!(queue.try_get(), Err(TryGetError::Empty));
    }

    #[test]
    fn a_pending_error_makes_the_queue_non_empty() {
        let queue = ThrowableQueue::<u8, ()>::new(1, resumed());
        assert!(queue.is_empty());
        queue.throw(());
        assert!(!queue.is_empty());
        assert!(!queue.is_full(), "errors do not count toward capacity");
        assert_eq!(queue.try_get(), Ok(Err(())));
        assert!(queue.is_empty());
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
        assert_eq!(queue.try_get(), Ok(Err("a")));
        assert_eq!(queue.try_get(), Ok(Err("b")));
        assert_eq!(queue.try_get(), Ok(Ok(1)), "gets drain a suspended queue");
        assert_eq!(queue.try_get(), Err(TryGetError::Empty));
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

    #[test]
    fn bypassing_and_forced_puts() {
        let flow = AllocArc::new(FlowControlEvent::new());
        let queue = ThrowableQueue::<u8, ()>::new(1, flow);
        assert_eq!(queue.try_put(1), Err(TryPutError::Suspended(1)));
        queue.try_put_bypassing_flow_control(1).unwrap();
        assert_eq!(
            queue.try_put_bypassing_flow_control(2),
            Err(TryPutError::Full(2))
        );
        queue.force_put(2);
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.try_get(), Ok(Ok(1)));
        assert_eq!(queue.try_get(), Ok(Ok(2)));
    }
}
