//! Process CPU time and context switches, from `getrusage` (of this process, or of the
//! child processes waited for).

use std::time::Duration;

/// A reading of the process's resource usage.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    cpu: Duration,
    voluntary: i64,
    involuntary: i64,
}

/// The difference between two readings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UsageDelta {
    pub(crate) cpu: Duration,
    pub(crate) voluntary: i64,
    pub(crate) involuntary: i64,
}

impl Usage {
    /// This process's usage so far.
    pub(crate) fn now() -> Self {
        Usage::read(libc::RUSAGE_SELF)
    }

    /// The usage of every child process waited for so far (grown by a child's whole life
    /// once it has been waited for).
    #[cfg(unix)]
    pub(crate) fn children() -> Self {
        Usage::read(libc::RUSAGE_CHILDREN)
    }

    /// `getrusage(who)`.
    fn read(who: libc::c_int) -> Self {
        // SAFETY: `rusage` is plain data, valid when zeroed; getrusage only writes to it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: RUSAGE_SELF or RUSAGE_CHILDREN with a valid pointer to a `rusage` cannot
        // fail.
        let rc = unsafe { libc::getrusage(who, &mut usage) };
        assert_eq!(rc, 0, "getrusage failed");
        Usage::from_raw(&usage)
    }

    /// The reading in `usage`.
    fn from_raw(usage: &libc::rusage) -> Self {
        let tv = |tv: libc::timeval| {
            Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
        };
        Usage {
            cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
            voluntary: usage.ru_nvcsw,
            involuntary: usage.ru_nivcsw,
        }
    }

    /// The reading as CPU time in ns, voluntary and involuntary context switches.
    pub(crate) fn to_parts(self) -> (u64, i64, i64) {
        let cpu_ns = u64::try_from(self.cpu.as_nanos()).unwrap_or(u64::MAX);
        (cpu_ns, self.voluntary, self.involuntary)
    }

    /// A reading from [`to_parts`](Self::to_parts).
    pub(crate) fn from_parts(cpu_ns: u64, voluntary: i64, involuntary: i64) -> Self {
        Usage {
            cpu: Duration::from_nanos(cpu_ns),
            voluntary,
            involuntary,
        }
    }

    pub(crate) fn since(self, earlier: Usage) -> UsageDelta {
        UsageDelta {
            cpu: self.cpu.saturating_sub(earlier.cpu),
            voluntary: self.voluntary - earlier.voluntary,
            involuntary: self.involuntary - earlier.involuntary,
        }
    }
}

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`): unlike wall time, it does
/// not count the time the thread waited for a core, which on a loaded machine dominates
/// longer phases.
pub(crate) fn thread_cpu() -> Duration {
    // SAFETY: `timespec` is plain data, valid when zeroed.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid clock id and a valid pointer; clock_gettime only writes to it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
