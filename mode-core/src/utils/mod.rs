//! Utilities: durations and rates from strings, rate limiting, stream helpers.
//!
//! - [`Seconds`], [`Rate`], [`want_seconds`], [`rate`]: mode's "seconds" (`1.5`, `"1.203"`,
//!   `"10/s"`, `"100/m"`, `"10.3/h"`, `"100/d"`, durations, numbers) with typed parse
//!   errors ([`ParseSecondsError`]).
//! - [`RateLimit`]: a token bucket driven by instants the caller passes in, so it needs
//!   no clock.
//! - [`arange`], [`aslice`], [`chunks`]: `Stream` adapters from mode's `aiter` module.
//!
//! What does not live here: anything that sleeps or reads a clock (that needs a
//! [`Timer`](crate::runtime::Timer)); async primitives ([`sync`](crate::sync)).

pub mod rate_limit;
pub mod seconds;
pub mod stream;

#[doc(inline)]
pub use rate_limit::RateLimit;
#[doc(inline)]
pub use seconds::{
    rate, want_seconds, IntoSeconds, ParseSecondsError, ParseSecondsErrorKind, Rate, RateUnit,
    Seconds,
};
#[doc(inline)]
pub use stream::{arange, aslice, chunks, Arange, Aslice, Chunks, Step};
