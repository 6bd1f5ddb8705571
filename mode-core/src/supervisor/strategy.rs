//! [`Strategy`]: what a supervisor does when one of its children crashes (a value that the
//! shared node records, below the engine).

/// What a [`Supervisor`](crate::Supervisor) does when one of its children crashes (the Erlang/OTP meanings,
/// as in mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Strategy {
    /// Restart the crashed child only.
    OneForOne,
    /// Restart every child: all stop in reverse order, then all start in order.
    OneForAll,
    /// Give up on the crashed child: stop it and do not restart it. The others go on.
    ForfeitOneForOne,
    /// Give up on every child: stop them all (in reverse order). The supervisor stays up.
    ForfeitOneForAll,
    /// Crash the supervisor too, so that the crash goes on to its parent: the next
    /// supervisor above decides, and without one the tree stops.
    Crashing,
}

impl Strategy {
    /// The default label of a supervisor with this strategy, mode's class name:
    /// `OneForOneSupervisor`, `OneForAllSupervisor`, `ForfeitOneForOneSupervisor`,
    /// `ForfeitOneForAllSupervisor`, `CrashingSupervisor`.
    ///
    /// ```
    /// use mode::Strategy;
    /// assert_eq!(Strategy::OneForAll.label(), "OneForAllSupervisor");
    /// ```
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Strategy::OneForOne => "OneForOneSupervisor",
            Strategy::OneForAll => "OneForAllSupervisor",
            Strategy::ForfeitOneForOne => "ForfeitOneForOneSupervisor",
            Strategy::ForfeitOneForAll => "ForfeitOneForAllSupervisor",
            Strategy::Crashing => "CrashingSupervisor",
        }
    }
}
