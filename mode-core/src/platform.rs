//! The one place that chooses atomics, `Arc`/`Weak` and the blocking mutex.
//!
//! The primitives in `sync/` and the engine's own atomics (node, task runs, task sets,
//! notifications) import these from `crate::platform::sync` instead of
//! `core`/`alloc`/`std`, so that loom model tests (`RUSTFLAGS="--cfg loom"`) swap in loom's
//! types everywhere at once. Loom models cover the primitives, the timer queue, a
//! service's task run and change notification; the engine as a whole is exercised by the
//! conformance suite on real executors and the virtual-time runtime.
//!
//! The blocking [`Mutex`](sync::Mutex) is closure-scoped (`with`) so that one API covers
//! `std::sync::Mutex` (with `std`), a `critical-section` mutex (without `std`: interrupt-free
//! sections on a microcontroller, where the final binary supplies the implementation), and
//! loom's mutex. Critical sections are kept to a few instructions: never await or call user
//! code inside `with`.

/// The `Arc`/`Weak` that loom never swaps (those of the engine, and of public signatures
/// such as `FlowControlQueue::new`, so that loom builds keep the public API), and atomics
/// for the few places that must not be loom's (a loom atomic only works inside a model).
/// Every other atomic, the engine's included, comes from [`sync`].
///
/// `core`'s and `alloc`'s; portable-atomic's atomics with the `portable-atomic` feature or
/// on a target without atomic compare-and-swap (e.g. thumbv6m), and there, where
/// `alloc::sync` does not exist, portable-atomic-util's `Arc`/`Weak`. Where the target has
/// `alloc::sync`, `Arc` stays `alloc`'s, so enabling the feature never changes a public type
/// (features stay additive).
#[allow(unused_imports)]
pub(crate) mod plain {
    #[cfg(target_has_atomic = "ptr")]
    pub(crate) use alloc::{
        sync::{Arc, Weak},
        task::Wake,
    };
    #[cfg(all(not(feature = "portable-atomic"), target_has_atomic = "ptr"))]
    pub(crate) use core::sync::atomic;
    #[cfg(any(feature = "portable-atomic", not(target_has_atomic = "ptr")))]
    pub(crate) use portable_atomic as atomic;
    #[cfg(not(target_has_atomic = "ptr"))]
    pub(crate) use portable_atomic_util::{task::Wake, Arc, Weak};
}

#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) mod sync {
    pub(crate) use loom::sync::atomic;
    pub(crate) use loom::sync::Arc;

    /// loom's mutex behind the closure-scoped API.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
            f(&mut self.0.lock().unwrap())
        }

        /// [`with`](Self::with), for the sole owner (loom's mutex locks all the same).
        pub(crate) fn with_mut<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> R {
            self.with(f)
        }
    }
}

#[cfg(not(loom))]
#[allow(unused_imports, dead_code)]
pub(crate) mod sync {
    pub(crate) use super::plain::{atomic, Arc, Weak};

    /// `std::sync::Mutex` behind the closure-scoped API. Poisoning is ignored: no code
    /// that runs under the lock can panic half-way through an update.
    #[cfg(feature = "std")]
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(std::sync::Mutex<T>);

    #[cfg(feature = "std")]
    impl<T> Mutex<T> {
        pub(crate) const fn new(value: T) -> Self {
            Mutex(std::sync::Mutex::new(value))
        }

        pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
            let mut guard = match self.0.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            f(&mut guard)
        }

        /// [`with`](Self::with), for the sole owner: takes no lock.
        pub(crate) fn with_mut<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> R {
            match self.0.get_mut() {
                Ok(value) => f(value),
                Err(poisoned) => f(poisoned.into_inner()),
            }
        }
    }

    /// A `critical-section` mutex behind the closure-scoped API.
    #[cfg(not(feature = "std"))]
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(critical_section::Mutex<core::cell::RefCell<T>>);

    #[cfg(not(feature = "std"))]
    impl<T> Mutex<T> {
        pub(crate) const fn new(value: T) -> Self {
            Mutex(critical_section::Mutex::new(core::cell::RefCell::new(
                value,
            )))
        }

        pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
            critical_section::with(|cs| f(&mut self.0.borrow_ref_mut(cs)))
        }

        /// [`with`](Self::with), for the sole owner: takes no critical section.
        pub(crate) fn with_mut<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> R {
            f(self.0.get_mut().get_mut())
        }
    }
}
