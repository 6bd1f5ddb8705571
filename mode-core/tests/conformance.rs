//! The conformance suite on the deterministic virtual-time runtime.

mod virtual_time {
    mode_conformance::conformance_tests!(mode_conformance::Virtual::new());
}
