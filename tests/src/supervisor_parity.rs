//! Supervisors as mode users rely on them: replacement factories, replacing a child, the hook when every child is up again (mode parity).

/// The tests of this module, for [`conformance_tests!`](crate::conformance_tests).
#[macro_export]
macro_rules! supervisor_parity_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@tests $backend;
        );
    };
}
