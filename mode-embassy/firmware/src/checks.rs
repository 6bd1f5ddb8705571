//! On-target checks: each prints `ok` or `FAILED` with its name.

use cortex_m_semihosting::hprintln;

/// Counts passed and failed checks.
pub struct Checks {
    passed: usize,
    failed: usize,
}

impl Checks {
    pub fn new() -> Self {
        Checks {
            passed: 0,
            failed: 0,
        }
    }

    /// Records one check.
    pub fn check(&mut self, name: &str, ok: bool) {
        if ok {
            self.passed += 1;
            hprintln!("check {} ... ok", name);
        } else {
            self.failed += 1;
            hprintln!("check {} ... FAILED", name);
        }
    }

    pub fn passed(&self) -> usize {
        self.passed
    }

    pub fn failed(&self) -> usize {
        self.failed
    }
}
