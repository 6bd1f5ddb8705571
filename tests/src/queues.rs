//! FlowControlQueue and ThrowableQueue as mode users rely on them (mode parity).

/// The tests of this module, for [`conformance_tests!`](crate::conformance_tests).
#[macro_export]
macro_rules! queue_parity_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@tests $backend;
        );
    };
}
