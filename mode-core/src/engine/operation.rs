//! Operations: the driver runs each request (and the tree's own start) as an operation of
//! its own, so that operations on disjoint subtrees run concurrently inside
//! [`Tree::run`](crate::Tree::run), on the driver's thread.
//!
//! An operation *holds* each service it works on while it works on it ([`Driver::hold`]):
//! a start or a stop holds a service from the beginning of its sequence to its end, a
//! restart holds its service for both halves, a supervisor's decision holds the
//! supervisor. An operation that reaches a service another one holds waits until it is
//! released. So operations on the same service are ordered, and each service's own
//! lifecycle order is unchanged, while a slow hook delays only the operations that need
//! its service.
//!
//! # Why this cannot deadlock
//!
//! An operation only ever waits for a service *below* every service it holds, or for its
//! first one: starts and stops descend from their top, a restart holds its service and
//! then its subtree, a supervisor's decision holds the supervisor and then its children;
//! nothing waits for a service above one it holds. Two operations waiting for each other
//! would each have to hold a service above the other's, which cannot both be true. (A hook
//! that awaits the stop of its own service or of an ancestor still deadlocks, as
//! documented on [`ServiceHandle::stop`](crate::ServiceHandle::stop): the stop waits for
//! the hook's service.)
//!
//! # How they are run
//!
//! [`Operations`] polls every running operation each time the driver's future is polled,
//! in the order they began, and again as long as a pass released a service while an
//! operation waited for one (a waiting operation registers no waker: only another
//! operation's release lets it go on). Requests are few and short-lived, so polling them all is cheaper than a
//! waker per operation.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::Cell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::engine::Driver;
use crate::engine::LocalRef;
use crate::own_hook;
use crate::service::SequenceFuture;

/// Which operation holds a service (its number; 0 when free). Lives in the driver's half
/// of a node.
#[derive(Debug, Default)]
pub(crate) struct Holder {
    operation: Cell<u64>,
}

/// The driver's bookkeeping for operations.
#[derive(Debug)]
pub(crate) struct OperationState {
    /// The operation being polled (0 outside operations).
    current: Cell<u64>,
    /// The number of the next operation.
    next: Cell<u64>,
    /// Whether a service was released since the pass began.
    released: Cell<bool>,
    /// Whether an operation waited for a service since the pass began.
    waiting: Cell<bool>,
}

impl Default for OperationState {
    fn default() -> Self {
        OperationState {
            current: Cell::new(0),
            next: Cell::new(1),
            released: Cell::new(false),
            waiting: Cell::new(false),
        }
    }
}

/// A service held by the current operation, released when dropped, unless the operation
/// held it already (as a restart's stop does): then the outer hold releases it.
pub(crate) struct Held<'a> {
    driver: &'a Driver,
    local: LocalRef,
    /// Whether this hold took the service (and so releases it).
    took: bool,
}

impl<'a> Held<'a> {
    /// The service held.
    pub(crate) fn local(&self) -> &LocalRef {
        &self.local
    }

    /// The driver of the operation that holds it.
    pub(crate) fn driver(&self) -> &'a Driver {
        self.driver
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if self.took {
            self.local.holder.operation.set(0);
            self.local.node().set_held_by(0);
            self.driver.operations.released.set(true);
        }
    }
}

impl core::fmt::Debug for Held<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Held")
            .field("service", self.local.handle())
            .finish()
    }
}

impl Driver {
    /// Holds `local` for the current operation, once no other operation holds it.
    pub(crate) fn hold(&self, local: &LocalRef) -> Hold<'_> {
        Hold {
            driver: self,
            local: Some(local.clone()),
        }
    }
}

/// The future of [`Driver::hold`].
#[derive(Debug)]
pub(crate) struct Hold<'a> {
    driver: &'a Driver,
    /// Until it is held.
    local: Option<LocalRef>,
}

impl<'a> Future for Hold<'a> {
    type Output = Held<'a>;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Held<'a>> {
        let driver = self.driver;
        let Some(local) = self.local.take() else {
            return Poll::Pending;
        };
        let holder = &local.holder.operation;
        let current = driver.operations.current.get();
        let took = match holder.get() {
            0 => {
                holder.set(current);
                // Truncated where `usize` is narrower: an identity for `own_hook.rs`.
                local.node().set_held_by(current as usize);
                true
            }
            operation if operation == current => false,
            _ => {
                // Another operation's release starts a new pass, which polls this again.
                driver.operations.waiting.set(true);
                self.local = Some(local);
                return Poll::Pending;
            }
        };
        Poll::Ready(Held {
            driver,
            local,
            took,
        })
    }
}

/// One running operation.
struct Operation<'a> {
    number: u64,
    future: SequenceFuture<'a, ()>,
}

/// The driver's running operations (see the module docs).
pub(crate) struct Operations<'a> {
    driver: &'a Driver,
    running: Vec<Operation<'a>>,
}

impl<'a> Operations<'a> {
    pub(crate) fn new(driver: &'a Driver) -> Self {
        Operations {
            driver,
            running: Vec::new(),
        }
    }

    /// Starts the operation `make` returns; it first runs at the next
    /// [`poll`](Self::poll).
    pub(crate) fn begin<F>(&mut self, make: impl FnOnce() -> F)
    where
        F: Future<Output = ()> + 'a,
    {
        self.begin_boxed(Box::pin(make()));
    }

    /// [`begin`](Self::begin) for an operation already boxed.
    pub(crate) fn begin_boxed(&mut self, future: SequenceFuture<'a, ()>) {
        let state = &self.driver.operations;
        let number = state.next.get();
        state.next.set(number + 1);
        self.running.push(Operation { number, future });
    }

    /// Polls every operation, in the order they began, until a pass releases nothing that
    /// an operation waited for.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) {
        let state = &self.driver.operations;
        loop {
            state.released.set(false);
            state.waiting.set(false);
            let mut index = 0;
            while let Some(operation) = self.running.get_mut(index) {
                state.current.set(operation.number);
                let _polling = own_hook::polling(&self.driver.shared, operation.number as usize);
                if Pin::new(&mut operation.future).poll(cx).is_ready() {
                    self.running.remove(index);
                } else {
                    index += 1;
                }
            }
            state.current.set(0);
            if !(state.released.get() && state.waiting.get()) {
                return;
            }
        }
    }
}

impl core::fmt::Debug for Operations<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Operations")
            .field("running", &self.running.len())
            .finish()
    }
}
