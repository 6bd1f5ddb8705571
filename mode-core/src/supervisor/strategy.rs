//! [`Strategy`]: what a supervisor does when one of its children crashes (a value that the
//! shared node records, below the engine).

/// What a [`Supervisor`](crate::Supervisor) does when one of its children crashes (the Erlang/OTP meanings,
/// as in mode, and OTP's `rest_for_one`).
///
/// | strategy | on a child's crash | use when |
/// |---|---|---|
/// | [`OneForOne`](Self::OneForOne) | restart that child | the children are independent of each other |
/// | [`OneForAll`](Self::OneForAll) | restart every child | the children only work together (a shared connection, a protocol in lock step) |
/// | [`RestForOne`](Self::RestForOne) | restart that child and those after it | each child depends on the ones before it (a pipeline, a connection then its users) |
/// | [`ForfeitOneForOne`](Self::ForfeitOneForOne) | stop that child for good | a child is optional: the rest serves without it |
/// | [`ForfeitOneForAll`](Self::ForfeitOneForAll) | stop every child for good | the group is optional but only works whole |
/// | [`ForfeitRestForOne`](Self::ForfeitRestForOne) | stop that child and those after it for good | the ones after it are useless without it, the ones before still serve |
/// | [`Crashing`](Self::Crashing) | crash the supervisor too | the decision belongs to the supervisor above (a grouping without a policy of its own) |
///
/// ```
/// use mode::Strategy;
///
/// assert_eq!(Strategy::RestForOne.label(), "RestForOneSupervisor");
/// assert!(Strategy::RestForOne.restarts());
/// assert!(!Strategy::ForfeitRestForOne.restarts());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
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
    /// Restart the crashed child and every child after it (OTP's `rest_for_one`): those
    /// stop in reverse order, from the last child down to the crashed one, then start
    /// again in order; the children before it keep running, untouched. One crash is one
    /// restart for the restart intensity, however many children it restarts.
    RestForOne,
    /// Give up on the crashed child and every child after it: they stop in reverse order
    /// and are not restarted. The children before it go on.
    ForfeitRestForOne,
    /// Crash the supervisor too, so that the crash goes on to its parent: the next
    /// supervisor above decides, and without one the tree stops.
    Crashing,
}

impl Strategy {
    /// The default label of a supervisor with this strategy, mode's class name:
    /// `OneForOneSupervisor`, `OneForAllSupervisor`, `ForfeitOneForOneSupervisor`,
    /// `ForfeitOneForAllSupervisor`, `CrashingSupervisor`; and for the strategies mode
    /// does not have, `RestForOneSupervisor` and `ForfeitRestForOneSupervisor`.
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
            Strategy::RestForOne => "RestForOneSupervisor",
            Strategy::ForfeitRestForOne => "ForfeitRestForOneSupervisor",
            Strategy::Crashing => "CrashingSupervisor",
        }
    }

    /// Whether the strategy restarts children (`OneForOne`, `OneForAll`, `RestForOne`):
    /// only those count restarts against the restart intensity, wait for a
    /// [`Backoff`](crate::Backoff) and [quarantine](crate::Supervisor::with_quarantine)
    /// children.
    #[must_use]
    pub const fn restarts(self) -> bool {
        matches!(
            self,
            Strategy::OneForOne | Strategy::OneForAll | Strategy::RestForOne
        )
    }
}
