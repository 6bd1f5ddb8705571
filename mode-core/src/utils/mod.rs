//! Utilities: durations and rates from strings and in words, rate limiting, stream
//! helpers.
//!
//! - [`Seconds`], [`Rate`], [`want_seconds`], [`rate`]: mode's "seconds" (`1.5`, `"1.203"`,
//!   `"10/s"`, `"100/m"`, `"10.3/h"`, `"100/d"`, durations, numbers) with typed parse
//!   errors ([`ParseSecondsError`]).
//! - [`humanize_seconds`], [`humanize_seconds_ago`], [`Humanize`]: a span in words,
//!   `"1.50 minutes"`, as mode writes it.
//! - [`RateLimit`]: a token bucket driven by instants the caller passes in, so it needs
//!   no clock; [`RateLimit::acquire`] waits for a token on a clock the caller passes in
//!   ([`RateClock`]: a service's handle, or a [`Timer`](crate::runtime::Timer)).
//! - [`arange`], [`aslice`], [`chunks`]: `Stream` adapters from mode's `aiter` module;
//!   an [`Arange`] also answers membership, length and position.
//!
//! What does not live here: anything that owns a clock (a clock is always passed in);
//! async primitives ([`sync`](crate::sync)).

pub mod humanize;
pub mod rate_limit;
pub mod seconds;
pub mod stream;

#[doc(inline)]
pub use humanize::{humanize_seconds, humanize_seconds_ago, Humanize};
#[doc(inline)]
pub use rate_limit::{Acquire, RateClock, RateLimit, TimerSleep};
#[doc(inline)]
pub use seconds::{
    rate, want_seconds, IntoSeconds, ParseSecondsError, ParseSecondsErrorKind, Rate, RateUnit,
    Seconds,
};
#[doc(inline)]
pub use stream::{arange, aslice, chunks, try_arange, Arange, Aslice, Chunks, Step, ZeroStepError};
