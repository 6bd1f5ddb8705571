//! Async primitives: events, flow control, queues, signals and stampede protection.
//!
//! Everything here runs on any executor: waiting is built on [`event-listener`] (its no_std
//! mode) and mode-core's blocking-mutex facade, never on a runtime. Every type is
//! `Send + Sync` (given `Send` contents), every future is a named, `#[must_use]` type, and
//! every async method documents what is lost when its future is dropped (`# Cancel safety`).
//!
//! | type | what it is | mode (Python) |
//! |---|---|---|
//! | [`Event`] | a flag tasks can wait for; `set` wakes every waiter | `asyncio.Event` |
//! | [`FlowControlEvent`] | suspends and resumes producers (starts suspended) | `FlowControlEvent` |
//! | [`FlowControlQueue`] | bounded queue whose producers obey a [`FlowControlEvent`] (consumers keep draining); pressure callbacks | `FlowControlQueue` |
//! | [`ThrowableQueue`] | a flow-controlled queue whose consumer is handed errors ahead of items | `ThrowableQueue` |
//! | [`Signal`], [`SyncSignal`] | observer pattern: connect handlers (for any sender, for one sender, or weakly), `send` to them | `Signal`, `SyncSignal` |
//! | [`Stampede`] | concurrent callers share one in-flight call and its result | `stampede` |
//!
//! What does not live here: timers and sleeping (they need a [`Timer`](crate::runtime::Timer)),
//! services and their lifecycle, and the parsing of durations and rates
//! ([`utils`](crate::utils)).
//!
//! # Locks
//!
//! State is guarded by mode-core's blocking mutex (a `std` mutex, or a `critical-section`
//! mutex without `std`). No lock is ever held across an `.await`, while calling user code
//! (handlers, `Drop` of user values, wakers), or while taking another lock of this module,
//! except where a module documents its lock order.
//!
//! [`event-listener`]: https://docs.rs/event-listener

/// Declares a constructor that is `const` except under loom, whose atomics and mutexes
/// cannot be built in a `const` context.
macro_rules! loom_const_fn {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $body:block
    ) => {
        $(#[$meta])*
        #[cfg(not(loom))]
        $vis const fn $name($($arg: $ty),*) -> $ret $body

        $(#[$meta])*
        #[cfg(loom)]
        $vis fn $name($($arg: $ty),*) -> $ret $body
    };
}

/// Drops a listener without passing its notification (if any) on to another listener: for
/// waiters that completed and so used whatever they were notified of.
fn discard(listener: &mut Option<event_listener::EventListener>) {
    if let Some(listener) = listener.take() {
        event_listener::Listener::discard(listener);
    }
}

pub mod event;
pub mod flow_control;
pub mod flow_control_queue;
mod queue_core;
pub mod signal;
pub mod stampede;
pub mod throwable_queue;

#[doc(inline)]
pub use event::{Event, Wait};
#[doc(inline)]
pub use flow_control::{Acquire, Cleared, FlowControlEvent};
#[doc(inline)]
pub use flow_control_queue::{
    FlowControlQueue, Get, GetError, Put, PutError, TryGetError, TryPutError,
};
#[doc(inline)]
pub use signal::{
    HandlerFailure, HandlerFuture, HandlerId, SendError, SendFuture, Signal, SyncSignal,
};
#[doc(inline)]
pub use stampede::{Call, Stampede};
#[doc(inline)]
pub use throwable_queue::{ThrowableGet, ThrowablePut, ThrowableQueue};

#[cfg(all(test, not(loom)))]
pub(crate) mod tests_util;
