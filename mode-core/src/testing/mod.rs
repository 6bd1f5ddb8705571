//! Deterministic test support: [`VirtualRuntime`], an executor with a virtual clock.
//!
//! [`VirtualRuntime`] implements both of mode's runtime seams,
//! [`Spawner`](crate::runtime::Spawner) and [`Timer`](crate::runtime::Timer), on one thread
//! and a clock that moves only when every task is idle. A test that sleeps for an hour of
//! virtual time finishes at once, and its outcome, including the order in which tasks run,
//! does not depend on the speed or load of the machine.
//!
//! ```
//! use mode::testing::VirtualRuntime;
//! use mode::time::{Duration, Instant};
//!
//! let rt = VirtualRuntime::new();
//! let elapsed = rt
//!     .block_on(async {
//!         rt.sleep(Duration::from_secs(3600)).await;
//!         rt.now()
//!     })
//!     .unwrap();
//! assert_eq!(elapsed, Instant::ZERO + Duration::from_secs(3600));
//! ```
//!
//! What does not live here: the conformance suite (it instantiates its tests on this
//! runtime and on every adapter) and anything that reads the host clock.
#![cfg_attr(docsrs, doc(cfg(feature = "test-util")))]

mod virtual_runtime;

#[cfg(test)]
mod tests;

pub use virtual_runtime::{ExternalWork, Stalled, VirtualRuntime, VirtualSleep};
