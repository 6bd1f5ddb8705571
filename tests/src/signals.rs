//! Signals bound to a sender, disconnecting, weak receivers (mode parity).

/// The tests of this module, for [`conformance_tests!`](crate::conformance_tests).
#[macro_export]
macro_rules! signal_parity_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@tests $backend;
        );
    };
}
