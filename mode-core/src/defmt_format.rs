//! `defmt::Format` for mode's public types that carry text or a boxed error (the `defmt`
//! feature): they are written as their `Display`, formatted on the device
//! ([`defmt::Display2Format`]). The plain values (`State`, `WaitingOn`, `SpawnError`, …)
//! derive `defmt::Format` where they are defined, and are encoded the defmt way.

use crate::error::{Crash, Error, Panicked};
use crate::exit::{Exit, StopFailure, UncleanStop};
use crate::state::StopReason;
use crate::supervisor::{ReplaceError, ResumeError, SupervisorError};
use crate::sync::{HandlerFailure, PutError, SendError, TryPutError};
use crate::utils::{ParseSecondsError, Rate, Seconds, ZeroStepError};

/// `defmt::Format` as `Display` for each type.
macro_rules! format_as_display {
    ($([$($param:ident)?] $ty:ty),* $(,)?) => {
        $(
            impl<$($param)?> defmt::Format for $ty {
                fn format(&self, f: defmt::Formatter<'_>) {
                    defmt::write!(f, "{}", defmt::Display2Format(self));
                }
            }
        )*
    };
}

format_as_display!(
    [] Error,
    [] Crash,
    [] Panicked,
    [] StopReason,
    [] ResumeError,
    [] ReplaceError,
    [] SupervisorError,
    [] Exit,
    [] UncleanStop,
    [] StopFailure,
    [] SendError,
    [] HandlerFailure,
    [] Seconds,
    [] Rate,
    [] ParseSecondsError,
    [] ZeroStepError,
    [T] TryPutError<T>,
    [T] PutError<T>,
);
