//! Stop details as mode users rely on them: on_shutdown after a timed-out shutdown wait, children of a restarted parent, the crash reason on every service a crash stopped (mode parity).

/// The tests of this module, for [`conformance_tests!`](crate::conformance_tests).
#[macro_export]
macro_rules! stop_parity_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@tests $backend;
        );
    };
}
