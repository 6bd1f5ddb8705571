//! Timers as mode users rely on them: a first call at once, ticks as a stream, names (mode parity).

/// The tests of this module, for [`conformance_tests!`](crate::conformance_tests).
#[macro_export]
macro_rules! timer_parity_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@tests $backend;
        );
    };
}
