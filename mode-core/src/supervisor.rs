//! Supervisors: services that own a group of children and decide what happens when one
//! of them crashes.
//!
//! A [`Supervisor`] is a [`Service`] like any other: it has a label, a place in the tree
//! and a handle. What makes it a supervisor is that a crash of one of its children (or of
//! any service below a child, up to the next supervisor) stops at it: it applies its
//! [`Strategy`] instead of letting the crash stop the tree. The crash reaches it at once,
//! through the same notification that a crash without a supervisor uses (no polling), and
//! whether it was an `Err` from a task, a timer callback, a hook, a panic (with `std`) or
//! [`ServiceHandle::crash`] makes no difference.
//!
//! | strategy | on a child's crash | use when |
//! |---|---|---|
//! | [`OneForOne`](Strategy::OneForOne) | restart that child | the children are independent of each other |
//! | [`OneForAll`](Strategy::OneForAll) | restart every child: stopped in reverse order, started in order | the children only work together |
//! | [`RestForOne`](Strategy::RestForOne) | restart that child and those after it; the ones before keep running | each child depends on the ones before it |
//! | [`ForfeitOneForOne`](Strategy::ForfeitOneForOne) | stop that child for good; the others go on | a child is optional |
//! | [`ForfeitOneForAll`](Strategy::ForfeitOneForAll) | stop every child for good; the supervisor stays up | the group is optional but only works whole |
//! | [`ForfeitRestForOne`](Strategy::ForfeitRestForOne) | stop that child and those after it for good | the ones after it are useless without it |
//! | [`Crashing`](Strategy::Crashing) | crash the supervisor too, so its parent sees the crash | the supervisor above decides |
//!
//! A restart is the lifecycle's restart: `Restarting...`, the stop sequence, then the start
//! sequence with `on_restart` (see the [crate docs](crate#lifecycle)). The services below a
//! restarted child stop and start again with it, without hooks of their own before
//! `on_start` (mode resets them; it does not restart them).
//!
//! # Fresh children instead of restarts
//!
//! A child added with [`Supervisor::with_child_factory`], and every child of a supervisor
//! with [`Supervisor::with_replacement`] (mode's `replacement=`), is not restarted: once it
//! stopped, the factory builds a fresh service, which takes its place (same index, same
//! order) with a handle of its own and starts as a new service (`on_first_start`). The
//! restart is decided, logged and counted as any restart, with the same intensity and
//! backoff. [`SupervisorHandle::replace`] does the same by hand, for the child at an index.
//!
//! # When every child is up again
//!
//! [`Supervisor::on_operational`] registers a hook called each time a restart (or
//! replacement) has brought every child back up: no child is left stopped or waiting for
//! its backoff delay.
//!
//! # Restart intensity
//!
//! A restarting supervisor allows at most `max_restarts` restarts in any window of length
//! `over` ([`Supervisor::with_max_restarts`]; 100 within 1 s by default, as in mode). Windows
//! are half-open: a restart exactly `over` after an earlier one no longer counts it. One
//! crash answered by a restart is one restart, whether one child restarts or, for
//! one-for-all and rest-for-one, a whole group. When a crash would need one restart too many, the
//! supervisor gives up: it crashes with a [`SupervisorError`] that names the child, the
//! number of restarts and the window, and that crash goes up the tree to the next
//! supervisor, or stops the tree. A new start of the supervisor forgets its past restarts.
//!
//! # Backoff
//!
//! With a [`Backoff`], a restart waits: the first for the initial delay, each further one
//! of a run of crashes longer (exponentially, up to a maximum). A child that has run for
//! [`Backoff::with_reset_after`] since its last restart starts a fresh run. The wait does not
//! block the tree: the children stop at once, the supervisor keeps serving requests, and a
//! stop of the supervisor during the wait stops it at once, without restarting anything.
//! [`Backoff::with_jitter`] draws each delay at random below it, from a generator seeded
//! deterministically ([`Backoff::with_jitter_seed`]).
//!
//! # Pause, resume and quarantine
//!
//! [`SupervisorHandle::pause`] stops a child on purpose: it is not restarted, counts no
//! crash, and is left out of group restarts and of the supervisor's own starts until
//! [`SupervisorHandle::resume`] starts it again. With [`Supervisor::with_quarantine`], a
//! child that crashes more often than its own restart budget allows is parked the same
//! way, with its last crash, instead of restarted (and instead of making the supervisor
//! give up). [`ServiceHandle::parked`] tells which ([`Parked`]).
//!
//! # Failed starts
//!
//! A child that crashes before it finished starting (including in `on_started`) is never
//! restarted at once, which would only repeat the failure in a loop:
//!
//! - while the supervisor itself starts, the child's crash fails the supervisor's start,
//!   with the child's crash as the reason (a supervisor runs only once all its children
//!   started);
//! - later (a restart that fails, or a start by hand), a restarting supervisor retries it
//!   after the next backoff delay, counted like any restart; without a backoff (or with a
//!   zero delay) it gives up with [`SupervisorErrorKind::StartFailed`] and the child's
//!   reason. A forfeiting supervisor gives up on the child; a crashing one crashes;
//! - a child added with [`SupervisorHandle::add`] that fails to start is removed again and
//!   the error returned to the caller.
//!
//! # Stopping
//!
//! A crash that reaches a supervisor that is stopping (or was asked to) restarts nothing
//! and counts nothing: the supervisor's stop stops the child.
//!
//! # Example
//!
//! ```
//! use mode::testing::VirtualRuntime;
//! use mode::time::Duration;
//! use mode::{BoxResult, Context, Service, State, Strategy, Supervisor, Tree};
//!
//! /// Loses its connection 10 ms after starting, the first two times.
//! struct Client {
//!     runs: u32,
//! }
//!
//! impl Service for Client {
//!     async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
//!         self.runs += 1;
//!         if self.runs <= 2 {
//!             let me = cx.handle().clone();
//!             cx.spawn(async move {
//!                 me.sleep(Duration::from_millis(10)).await?;
//!                 Err("connection reset".into())
//!             })?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let supervisor = Supervisor::new(Strategy::OneForOne)
//!     .with_max_restarts(3, Duration::from_secs(10))
//!     .with_child(Client { runs: 0 });
//! let rt = VirtualRuntime::new();
//! let tree = Tree::new(supervisor, rt.clone(), rt.clone());
//! let root = tree.handle();
//! let client = root.children()[0].clone();
//! rt.block_on(futures_lite::future::zip(tree.run(), async {
//!     root.sleep(Duration::from_secs(1)).await.unwrap();
//!     assert_eq!(client.restart_count(), 2);
//!     assert_eq!(client.state(), State::Running);
//!     root.stop().await;
//! }))
//! .unwrap();
//! ```

pub(crate) mod intensity;
pub(crate) mod reply;
pub(crate) mod strategy;

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;

pub(crate) use crate::engine::{AsSupervision, Request, Supervised, Supervision, SupervisorState};
pub use strategy::Strategy;

use crate::context::{Context, Dependencies};
use crate::error::{BoxResult, ChildCrash, Crash, Error};
use crate::graph::ChildKind;
use crate::handle::ServiceHandle;
use crate::service::{DynService, Service};
use crate::state::Parked;
use crate::time::Duration;

/// Exponential backoff between restarts.
///
/// The k-th restart of a run of crashes (counting from 0) waits
/// `min(initial × factor^k, max)`. A run ends once the child (for one-for-all, the group)
/// has been running for [`with_reset_after`](Self::with_reset_after) since its last restart; the
/// next crash then waits `initial` again.
///
/// ```
/// use mode::time::Duration;
/// use mode::Backoff;
///
/// let ms = Duration::from_millis;
/// let backoff = Backoff::exponential(ms(100), ms(1_000));
/// let delays: Vec<Duration> = (0..6).map(|k| backoff.delay(k)).collect();
/// assert_eq!(delays, [ms(100), ms(200), ms(400), ms(800), ms(1_000), ms(1_000)]);
/// assert_eq!(backoff.with_factor(3).delay(2), ms(900));
/// ```
///
/// # Jitter
///
/// With [`with_jitter`](Self::with_jitter), each delay is drawn at random below the delay
/// above, so that children (or supervisors) that crashed together do not restart in
/// lockstep. The draws come from a pseudo-random generator that the supervisor seeds
/// itself ([`with_jitter_seed`](Self::with_jitter_seed)), not from the system: the same
/// program on virtual time waits the same delays on every run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    factor: u32,
    reset_after: Duration,
    /// The jitter fraction in millionths (0 to 1,000,000).
    jitter_ppm: u32,
    seed: Option<u64>,
}

impl Backoff {
    /// Delays from `initial`, doubling up to `max`; a run of crashes ends after `max` of
    /// healthy running (change it with [`with_reset_after`](Self::with_reset_after)).
    #[must_use]
    pub const fn exponential(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            factor: 2,
            reset_after: max,
            jitter_ppm: 0,
            seed: None,
        }
    }

    /// Shortens each delay by a random part of up to `fraction` of it: a delay `d` becomes
    /// a value drawn uniformly from `(d × (1 − fraction), d]` (at nanosecond resolution).
    /// A jittered delay is never longer than the delay without jitter, so `max` still
    /// bounds every wait; `fraction` 1 draws from `(0, d]` ("full jitter"), 0 turns jitter
    /// off.
    ///
    /// `fraction` is clamped to `[0, 1]` (NaN counts as 0), and kept to a millionth.
    ///
    /// The draws come from a pseudo-random generator (`fastrand`'s wyrand) of the
    /// supervisor, seeded by [`with_jitter_seed`](Self::with_jitter_seed), or else from the
    /// supervisor's id in its tree: deterministic, so that tests on virtual time see the
    /// same delays on every run, and different for each supervisor of a tree.
    ///
    /// ```
    /// use mode::time::Duration;
    /// use mode::Backoff;
    ///
    /// let backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1))
    ///     .with_jitter(0.25);
    /// assert_eq!(backoff.jitter(), 0.25);
    /// // The delays without jitter; each wait is drawn from (75 ms, 100 ms], (150 ms,
    /// // 200 ms], ...
    /// assert_eq!(backoff.delay(1), Duration::from_millis(200));
    /// assert_eq!(Backoff::exponential(Duration::ZERO, Duration::ZERO).with_jitter(7.0).jitter(), 1.0);
    /// ```
    #[must_use]
    pub fn with_jitter(mut self, fraction: f64) -> Self {
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        // In range by the clamp: at most 1,000,000.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ppm = (fraction * 1_000_000.0 + 0.5) as u32;
        self.jitter_ppm = ppm.min(1_000_000);
        self
    }

    /// Seeds the generator that draws the jittered delays with `seed` instead of the
    /// supervisor's id. The generator starts again from the seed at each start of the
    /// supervisor.
    #[must_use]
    pub const fn with_jitter_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The jitter fraction, from 0 (no jitter) to 1.
    #[must_use]
    pub fn jitter(&self) -> f64 {
        f64::from(self.jitter_ppm) / 1_000_000.0
    }

    /// The seed given with [`with_jitter_seed`](Self::with_jitter_seed), if any.
    #[must_use]
    pub const fn jitter_seed(&self) -> Option<u64> {
        self.seed
    }

    /// The seed of the supervisor `id`'s generator.
    pub(crate) fn seed_for(&self, id: u64) -> u64 {
        // A fixed odd constant mixed with the id: distinct supervisors draw differently.
        self.seed
            .unwrap_or_else(|| 0x6d6f_6465_5f6a_6974 ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    /// `delay` with this backoff's jitter, drawn with `rng`: in `(delay × (1 − jitter),
    /// delay]`.
    pub(crate) fn jittered(&self, delay: Duration, rng: &mut fastrand::Rng) -> Duration {
        if self.jitter_ppm == 0 || delay.is_zero() {
            return delay;
        }
        // In 64 bits (no 128-bit arithmetic on a microcontroller): a delay of more than
        // 584 years is jittered as if it were 584 years.
        let nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        // The largest amount taken off, the delay's `jitter` share, without overflow:
        // `jitter_ppm` is at most 10^6.
        let ppm = u64::from(self.jitter_ppm);
        let span = nanos / 1_000_000 * ppm + nanos % 1_000_000 * ppm / 1_000_000;
        if span == 0 {
            return delay;
        }
        let cut = rng.u64(0..span);
        delay - Duration::from_nanos(cut)
    }

    /// Multiplies each delay by `factor` instead of 2 (`1` keeps it constant; `0` counts
    /// as `1`).
    #[must_use]
    pub const fn with_factor(mut self, factor: u32) -> Self {
        self.factor = if factor == 0 { 1 } else { factor };
        self
    }

    /// How long a restarted child must run without crashing for the next crash to wait
    /// `initial` again.
    #[must_use]
    pub const fn with_reset_after(mut self, healthy_for: Duration) -> Self {
        self.reset_after = healthy_for;
        self
    }

    /// The delay before the restart that follows `failures` earlier failures in a row.
    #[must_use]
    pub fn delay(&self, failures: u32) -> Duration {
        if self.initial.is_zero() || self.initial >= self.max || self.factor == 1 {
            return self.initial.min(self.max);
        }
        let mut delay = self.initial;
        for _ in 0..failures {
            delay = match delay.checked_mul(self.factor) {
                Some(next) if next < self.max => next,
                _ => return self.max,
            };
        }
        delay
    }
}

/// A service that supervises its children: see the [module docs](self) for the
/// strategies, restart intensity, backoff and failed starts.
///
/// Children are declared with [`with_child`](Self::with_child) before the tree starts, and added or
/// removed while it runs through a [`SupervisorHandle`]. A supervisor's children stay its
/// children across its restarts until removed. A supervisor does nothing but supervise:
/// put the program's logic in its children.
///
/// ```
/// use mode::testing::VirtualRuntime;
/// use mode::time::Duration;
/// use mode::{Backoff, BoxResult, Context, Service, Strategy, Supervisor, Tree};
///
/// struct Worker;
///
/// impl Service for Worker {
///     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
///         cx.spawn(async { Err("boom".into()) })?;
///         Ok(())
///     }
/// }
///
/// let supervisor = Supervisor::new(Strategy::OneForOne)
///     .with_label("Workers")
///     .with_max_restarts(2, Duration::from_secs(60))
///     .with_backoff(Backoff::exponential(
///         Duration::from_millis(100),
///         Duration::from_secs(5),
///     ))
///     .with_child(Worker);
/// let rt = VirtualRuntime::new();
/// let tree = Tree::new(supervisor, rt.clone(), rt.clone());
/// let worker = tree.handle().children()[0].clone();
///
/// // Worker crashes at once every time: restarted after 100 ms, then after 200 ms; the
/// // third crash exceeds 2 restarts within 60 s, and the supervisor gives up.
/// let exit = rt.block_on(tree.run()).unwrap();
/// let crash = exit.reason().crash().unwrap();
/// assert_eq!(crash.service(), "Workers");
/// assert_eq!(
///     crash.error().to_string(),
///     "max restarts exceeded: 2 restart(s) within 60s, then Worker crashed: boom"
/// );
/// assert_eq!(worker.restart_count(), 2);
/// assert_eq!(rt.now().as_duration(), Duration::from_millis(300));
/// ```
pub struct Supervisor {
    pub(crate) strategy: Strategy,
    pub(crate) max_restarts: u32,
    pub(crate) over: Duration,
    pub(crate) backoff: Option<Backoff>,
    /// Each child's own restart budget, if children over it are quarantined.
    pub(crate) quarantine: Option<(u32, Duration)>,
    label: Option<Cow<'static, str>>,
    /// Each child, with the factory that builds its replacements, if it has one.
    children: Vec<(Box<dyn DynService>, Option<Factory>)>,
    /// Taken by the engine when the supervisor joins a tree.
    pub(crate) replacement: Option<Replacement>,
    /// Taken by the engine when the supervisor joins a tree.
    pub(crate) on_operational: Option<OnOperational>,
}

/// Builds a fresh child for a crashed one (from [`Supervisor::with_child_factory`]).
pub(crate) type Factory = Box<dyn FnMut() -> Box<dyn DynService>>;

/// Builds a fresh child for the crashed child at an index (from
/// [`Supervisor::with_replacement`]).
pub(crate) type Replacement = Box<dyn FnMut(&ServiceHandle, usize) -> Box<dyn DynService>>;

/// Told that every child runs again (from [`Supervisor::on_operational`]).
pub(crate) type OnOperational = Box<dyn FnMut(&SupervisorHandle)>;

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("strategy", &self.strategy)
            .field("max_restarts", &self.max_restarts)
            .field("over", &self.over)
            .field("backoff", &self.backoff)
            .field("quarantine", &self.quarantine)
            .field("label", &Service::label(self))
            .field("children", &self.children.len())
            .field("replacement", &self.replacement.is_some())
            .field("on_operational", &self.on_operational.is_some())
            .finish()
    }
}

impl Supervisor {
    /// The default `max_restarts`, as in mode.
    pub const DEFAULT_MAX_RESTARTS: u32 = 100;
    /// The default window of `max_restarts`, as in mode.
    pub const DEFAULT_OVER: Duration = Duration::from_secs(1);

    /// A supervisor with `strategy`, no children yet, at most 100 restarts within 1 s and
    /// no backoff.
    #[must_use]
    pub fn new(strategy: Strategy) -> Self {
        Supervisor {
            strategy,
            max_restarts: Self::DEFAULT_MAX_RESTARTS,
            over: Self::DEFAULT_OVER,
            backoff: None,
            quarantine: None,
            label: None,
            children: Vec::new(),
            replacement: None,
            on_operational: None,
        }
    }

    /// Allows at most `max_restarts` restarts in any window of length `over`; one more
    /// and the supervisor gives up. `0` restarts gives up at the first crash; a zero
    /// `over` sets no limit. The supervisor remembers the instants of up to
    /// `max_restarts` restarts.
    #[must_use]
    pub fn with_max_restarts(mut self, max_restarts: u32, over: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.over = over;
        self
    }

    /// Waits between restarts as `backoff` says.
    #[must_use]
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// Gives each child a restart budget of its own: a child that crashes once more after
    /// `max_restarts` restarts of its own within `over` is quarantined instead of
    /// restarted. The supervisor stops it, logs `Quarantining ...` with its last crash, and
    /// keeps it stopped, [parked](ServiceHandle::parked) as [`Parked::Quarantined`] with
    /// its crash readable ([`ServiceHandle::crash_reason`]), until
    /// [`SupervisorHandle::resume`] starts it again with a fresh budget. The other
    /// children go on (with one-for-all and rest-for-one too: the group is not restarted
    /// for a crash that quarantines), and the crash is not counted against the
    /// supervisor's own [restart intensity](Self::with_max_restarts).
    ///
    /// A child's budget is checked before the supervisor's intensity, so one child that
    /// crashes in a loop is parked without the supervisor giving up; the supervisor's
    /// intensity still applies to the crashes of all its children together. Quarantine
    /// applies to the strategies that restart ([`Strategy::restarts`]); a new start of the
    /// supervisor forgets the budgets used (not the quarantine of a parked child).
    ///
    /// ```
    /// use mode::testing::VirtualRuntime;
    /// use mode::time::Duration;
    /// use mode::{BoxResult, Context, Parked, Service, State, Strategy, Supervisor, Tree};
    ///
    /// /// Crashes as soon as it started, every time.
    /// struct Flaky;
    ///
    /// impl Service for Flaky {
    ///     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
    ///         cx.handle().crash("bad config");
    ///         Ok(())
    ///     }
    /// }
    ///
    /// struct Steady;
    /// impl Service for Steady {}
    ///
    /// let supervisor = Supervisor::new(Strategy::OneForOne)
    ///     .with_quarantine(2, Duration::from_secs(60))
    ///     .with_child(Flaky)
    ///     .with_child(Steady);
    /// let rt = VirtualRuntime::new();
    /// let tree = Tree::new(supervisor, rt.clone(), rt.clone());
    /// let root = tree.handle();
    /// let [flaky, steady] = <[_; 2]>::try_from(root.children()).unwrap();
    /// rt.block_on(futures_lite::future::zip(tree.run(), async {
    ///     root.wait_until_running().await.unwrap();
    ///     flaky.wait_until_stopped().await;
    ///     while flaky.parked().is_none() {
    ///         root.sleep(Duration::from_millis(1)).await.unwrap();
    ///     }
    ///     // Restarted twice, then parked on its third crash.
    ///     assert_eq!(flaky.restart_count(), 2);
    ///     assert_eq!(flaky.parked(), Some(Parked::Quarantined));
    ///     assert_eq!(flaky.crash_reason().unwrap().to_string(), "Flaky crashed: bad config");
    ///     assert_eq!((root.state(), steady.state()), (State::Running, State::Running));
    ///     root.stop().await;
    /// }))
    /// .unwrap();
    /// ```
    #[must_use]
    pub fn with_quarantine(mut self, max_restarts: u32, over: Duration) -> Self {
        self.quarantine = Some((max_restarts, over));
        self
    }

    /// Labels the supervisor in logs and graphs (by default [`Strategy::label`]).
    #[must_use]
    pub fn with_label(mut self, label: impl Into<Cow<'static, str>>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Adds a child, started after the children added before it.
    #[must_use]
    pub fn with_child(mut self, service: impl Service) -> Self {
        self.children.push((Box::new(service), None));
        self
    }

    /// Adds a child built by `factory`, started after the children added before it; each
    /// time a restart is due for it, the supervisor builds a fresh one with `factory`
    /// instead of restarting the old value (mode's `replacement`, for one child).
    ///
    /// `factory` is called now for the first child, and then after each crash that the
    /// strategy answers with a restart, once the crashed child has stopped. The new child
    /// takes the old one's place among the children (same index, same order) with a
    /// [handle](ServiceHandle) of its own; the old handle stays readable, stopped with its
    /// crash, but belongs to the tree no more, as after [`SupervisorHandle::remove`]. A
    /// fresh child starts as services do the first time: with `on_first_start`, its
    /// [`restart_count`](ServiceHandle::restart_count) 0. Restart intensity and backoff
    /// count its crashes as those of the child it replaced. The factory stays with the
    /// children it builds; [`SupervisorHandle::replace`] and
    /// [`SupervisorHandle::remove`] drop it.
    ///
    /// `factory` runs inside [`Tree::run`](crate::Tree::run), on the driver's thread: keep
    /// it short, and do not panic in it.
    ///
    /// ```
    /// use mode::testing::VirtualRuntime;
    /// use mode::{BoxResult, Context, Service, State, Strategy, Supervisor, Tree};
    ///
    /// /// A connection: crashes once it has served a request.
    /// struct Conn {
    ///     id: u32,
    /// }
    ///
    /// impl Service for Conn {
    ///     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
    ///         if self.id == 1 {
    ///             cx.handle().crash("connection reset");
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let mut next_id = 0;
    /// let supervisor = Supervisor::new(Strategy::OneForOne).with_child_factory(move || {
    ///     next_id += 1;
    ///     Conn { id: next_id }
    /// });
    /// let rt = VirtualRuntime::new();
    /// let tree = Tree::new(supervisor, rt.clone(), rt.clone());
    /// let root = tree.handle();
    /// let first = root.children()[0].clone();
    /// rt.block_on(futures_lite::future::zip(tree.run(), async {
    ///     first.wait_until_stopped().await;
    ///     let second = root.children()[0].clone();
    ///     second.wait_until_running().await.unwrap();
    ///     assert_ne!(first, second);
    ///     assert_eq!(first.crash_reason().unwrap().to_string(), "Conn crashed: connection reset");
    ///     assert_eq!(second.restart_count(), 0);
    ///     assert_eq!(second.state(), State::Running);
    ///     root.stop().await;
    /// }))
    /// .unwrap();
    /// ```
    #[must_use]
    pub fn with_child_factory<S, F>(mut self, mut factory: F) -> Self
    where
        S: Service,
        F: FnMut() -> S + 'static,
    {
        let first: Box<dyn DynService> = Box::new(factory());
        let factory: Factory = Box::new(move || Box::new(factory()));
        self.children.push((first, Some(factory)));
        self
    }

    /// Builds a fresh service for every crashed child that a restart is due for, instead
    /// of restarting the old value (mode's `replacement=`): `replacement` gets the crashed
    /// child's handle (stopped by then, its [crash](ServiceHandle::crash_reason) readable)
    /// and its index among the children, and returns the service to put in its place.
    ///
    /// The replacement takes the same index, as for
    /// [`with_child_factory`](Self::with_child_factory) (whose factory comes first for its
    /// own children): a fresh service with a handle of its own, started with
    /// `on_first_start`. With one-for-all, every child the group restart stops is replaced,
    /// in order. It applies to children added later with [`SupervisorHandle::add`] too.
    ///
    /// `replacement` runs inside [`Tree::run`](crate::Tree::run), on the driver's thread:
    /// keep it short, and do not panic in it.
    ///
    /// ```
    /// use mode::testing::VirtualRuntime;
    /// use mode::{BoxResult, Context, Service, Strategy, Supervisor, Tree};
    ///
    /// /// One of several consumers of a partitioned topic (Faust's agent concurrency).
    /// struct Consumer {
    ///     partition: usize,
    ///     generation: u32,
    /// }
    ///
    /// impl Service for Consumer {
    ///     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
    ///         if self.partition == 1 && self.generation == 0 {
    ///             cx.handle().crash("rebalance");
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let supervisor = Supervisor::new(Strategy::OneForOne)
    ///     .with_child(Consumer { partition: 0, generation: 0 })
    ///     .with_child(Consumer { partition: 1, generation: 0 })
    ///     .with_replacement(|crashed, index| {
    ///         assert_eq!(crashed.restart_count(), 0);
    ///         Consumer { partition: index, generation: 1 }
    ///     });
    /// let rt = VirtualRuntime::new();
    /// let tree = Tree::new(supervisor, rt.clone(), rt.clone());
    /// let root = tree.handle();
    /// let crashed = root.children()[1].clone();
    /// rt.block_on(futures_lite::future::zip(tree.run(), async {
    ///     crashed.wait_until_stopped().await;
    ///     let fresh = root.children()[1].clone();
    ///     fresh.wait_until_running().await.unwrap();
    ///     assert_ne!(fresh, crashed);
    ///     root.stop().await;
    /// }))
    /// .unwrap();
    /// ```
    #[must_use]
    pub fn with_replacement<S, F>(mut self, mut replacement: F) -> Self
    where
        S: Service,
        F: FnMut(&ServiceHandle, usize) -> S + 'static,
    {
        self.replacement = Some(Box::new(move |crashed, index| {
            Box::new(replacement(crashed, index))
        }));
        self
    }

    /// Calls `hook` each time every child runs again after the supervisor restarted (or
    /// replaced) crashed children: once the restart that a crash called for (now, or after
    /// its backoff delay) has started its children, and no child is left stopped or
    /// waiting for its own restart. mode's supervisors ask `service_operational` which
    /// children need a restart; this is the notification that none does any more.
    ///
    /// It is not called for the supervisor's own start, nor after
    /// [`SupervisorHandle::add`] or [`SupervisorHandle::replace`] (their callers learn it
    /// from the answer), nor while a forfeited child stays stopped.
    ///
    /// `hook` runs inside [`Tree::run`](crate::Tree::run), on the driver's thread, after
    /// the last child's `on_started`: keep it short (set an
    /// [`Event`](crate::sync::Event), send on a channel), and do not panic in it.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use mode::sync::Event;
    /// use mode::testing::VirtualRuntime;
    /// use mode::{Service, Strategy, Supervisor, Tree};
    ///
    /// struct Worker;
    /// impl Service for Worker {}
    ///
    /// let recovered = Arc::new(Event::new());
    /// let supervisor = Supervisor::new(Strategy::OneForAll)
    ///     .with_child(Worker)
    ///     .with_child(Worker)
    ///     .on_operational({
    ///         let recovered = recovered.clone();
    ///         move |_supervisor| recovered.set()
    ///     });
    /// let rt = VirtualRuntime::new();
    /// let tree = Tree::new(supervisor, rt.clone(), rt.clone());
    /// let root = tree.handle();
    /// rt.block_on(futures_lite::future::zip(tree.run(), async {
    ///     root.wait_until_running().await.unwrap();
    ///     assert!(!recovered.is_set());
    ///     root.children()[0].crash("boom");
    ///     recovered.wait().await;
    ///     assert!(root.children().iter().all(|child| child.restart_count() == 1));
    ///     root.stop().await;
    /// }))
    /// .unwrap();
    /// ```
    #[must_use]
    pub fn on_operational(mut self, hook: impl FnMut(&SupervisorHandle) + 'static) -> Self {
        self.on_operational = Some(Box::new(hook));
        self
    }

    /// The strategy.
    #[must_use]
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }
}

impl Service for Supervisor {
    fn label(&self) -> Cow<'static, str> {
        self.label
            .clone()
            .unwrap_or(Cow::Borrowed(self.strategy.label()))
    }

    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        // Here rather than when the engine creates the node: only a program that uses a
        // supervisor reaches this, and so links the engine's supervision.
        Supervision::install(deps.parent, self);
        for (child, factory) in self.children.drain(..) {
            let child = deps
                .driver
                .create_node(child, Some(deps.parent), ChildKind::Declared);
            if let (Some(factory), Some(state)) = (factory, deps.parent.supervisor_state()) {
                state.borrow_mut().set_factory(child.node().id, factory);
            }
        }
    }

    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        if let Some(state) = cx.local.supervisor_state() {
            state.borrow_mut().reset(cx.local.node().id);
        }
        Ok(())
    }
}

/// The strategy of `service` if it is a [`Supervisor`], for its shared node.
pub(crate) fn strategy_of(service: &mut dyn DynService) -> Option<Strategy> {
    let supervisor = service.as_any_mut().downcast_mut::<Supervisor>()?;
    Some(supervisor.strategy)
}

/// A handle of a [`Supervisor`], to add and remove children while it runs; made from the
/// supervisor's [`ServiceHandle`] with `TryFrom`, which [`service`](Self::service) gives
/// back. Cheap to clone, `Send + Sync`.
///
/// ```
/// use mode::testing::VirtualRuntime;
/// use mode::{Service, State, Strategy, Supervisor, SupervisorHandle, Tree};
///
/// struct Worker;
/// impl Service for Worker {}
///
/// let rt = VirtualRuntime::new();
/// let tree = Tree::new(Supervisor::new(Strategy::OneForOne), rt.clone(), rt.clone());
/// let root = tree.handle();
/// let supervisor = SupervisorHandle::try_from(&root).unwrap();
/// rt.block_on(futures_lite::future::zip(tree.run(), async {
///     root.wait_until_running().await.unwrap();
///     let worker = supervisor.add(Worker).await.unwrap();
///     assert_eq!(worker.state(), State::Running);
///     assert_eq!(root.children(), [worker.clone()]);
///
///     assert!(supervisor.remove(&worker).await.unwrap());
///     assert_eq!(worker.state(), State::Stopped);
///     assert!(root.children().is_empty());
///     assert!(!supervisor.remove(&worker).await.unwrap());
///     supervisor.service().stop().await;
/// }))
/// .unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorHandle {
    service: ServiceHandle,
    strategy: Strategy,
}

impl AsRef<ServiceHandle> for SupervisorHandle {
    fn as_ref(&self) -> &ServiceHandle {
        &self.service
    }
}

impl TryFrom<&ServiceHandle> for SupervisorHandle {
    type Error = NotASupervisor;

    /// The supervisor behind `service`.
    ///
    /// # Errors
    ///
    /// [`NotASupervisor`] if `service` is not a [`Supervisor`].
    fn try_from(service: &ServiceHandle) -> core::result::Result<Self, NotASupervisor> {
        match service.node().supervisor {
            Some(strategy) => Ok(SupervisorHandle {
                service: service.clone(),
                strategy,
            }),
            None => Err(NotASupervisor),
        }
    }
}

impl TryFrom<ServiceHandle> for SupervisorHandle {
    type Error = NotASupervisor;

    /// As `TryFrom<&ServiceHandle>`.
    fn try_from(service: ServiceHandle) -> core::result::Result<Self, NotASupervisor> {
        SupervisorHandle::try_from(&service)
    }
}

/// The service is not a [`Supervisor`]: returned when a [`SupervisorHandle`] is made from
/// the handle of another service.
///
/// ```
/// use mode::supervisor::NotASupervisor;
///
/// assert_eq!(NotASupervisor.to_string(), "the service is not a supervisor");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NotASupervisor;

impl fmt::Display for NotASupervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the service is not a supervisor")
    }
}

impl core::error::Error for NotASupervisor {}

impl SupervisorHandle {
    /// The supervisor's service handle.
    #[must_use]
    pub fn service(&self) -> &ServiceHandle {
        &self.service
    }

    /// The supervisor's strategy.
    #[must_use]
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Adds `service` as the last child and returns its handle. If the supervisor runs,
    /// the child is started first, and supervised from then on; otherwise it starts with
    /// the supervisor. It stays a child across restarts of the supervisor until
    /// [removed](Self::remove).
    ///
    /// The request is made at once, whether or not the future is awaited.
    ///
    /// # Errors
    ///
    /// [`Error::Crashed`] if the child failed to start (it is removed again; the supervisor
    /// is not affected); [`Error::ServiceStopped`] if the supervisor was removed from its
    /// tree or began stopping while the child started; [`Error::TreeFinished`] if the
    /// tree no longer runs.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only stops waiting; the child is still added.
    pub fn add<S>(
        &self,
        service: S,
    ) -> impl Future<Output = core::result::Result<ServiceHandle, Error>> + Send + 'static
    where
        S: Service + Send,
    {
        self.request(|reply| Request::Add {
            service: Box::new(service),
            reply,
        })
    }

    /// Stops `child` and removes it from the supervisor and the tree; returns whether it
    /// was a child of this supervisor (`false`: nothing happened).
    ///
    /// A removed service's handle stays readable (its state is `Stopped`), but requests
    /// to start it fail with [`Error::TreeFinished`]: it no longer belongs to a running
    /// tree.
    ///
    /// # Errors
    ///
    /// [`Error::TreeFinished`] if the tree no longer runs.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only stops waiting; the child is still removed.
    pub fn remove(
        &self,
        child: &ServiceHandle,
    ) -> impl Future<Output = core::result::Result<bool, Error>> + Send + 'static {
        let child = child.node().clone();
        self.request(|reply| Request::Remove { child, reply })
    }

    /// Stops the child at `index` and puts `service` in its place: the new child keeps the
    /// index (the order of the children is kept), is started at once, and is supervised
    /// from then on; the old one is removed from the supervisor and the tree, as by
    /// [`remove`](Self::remove) (its handle stays readable, stopped). Returns the new
    /// child's handle.
    ///
    /// The old child's [factory](Supervisor::with_child_factory), if it had one, goes with
    /// it. If the supervisor begins to stop while the old child stops, the new child takes
    /// its place without starting: it starts with the supervisor's next start.
    ///
    /// The request is made at once, whether or not the future is awaited.
    ///
    /// ```
    /// use mode::supervisor::ReplaceError;
    /// use mode::testing::VirtualRuntime;
    /// use mode::{Service, State, Strategy, Supervisor, SupervisorHandle, Tree};
    ///
    /// struct Old;
    /// impl Service for Old {}
    /// struct New;
    /// impl Service for New {}
    /// struct Last;
    /// impl Service for Last {}
    ///
    /// let supervisor = Supervisor::new(Strategy::OneForOne)
    ///     .with_child(Old)
    ///     .with_child(Last);
    /// let rt = VirtualRuntime::new();
    /// let tree = Tree::new(supervisor, rt.clone(), rt.clone());
    /// let root = tree.handle();
    /// let supervisor = SupervisorHandle::try_from(&root).unwrap();
    /// let old = root.children()[0].clone();
    /// rt.block_on(futures_lite::future::zip(tree.run(), async {
    ///     root.wait_until_running().await.unwrap();
    ///     let new = supervisor.replace(0, New).await.unwrap();
    ///     assert_eq!(old.state(), State::Stopped);
    ///     assert_eq!(new.state(), State::Running);
    ///     let labels: Vec<String> = root.children().iter().map(|c| c.label().into()).collect();
    ///     assert_eq!(labels, ["New", "Last"]);
    ///
    ///     let err = supervisor.replace(2, New).await.unwrap_err();
    ///     assert!(matches!(err, ReplaceError::OutOfRange { index: 2, len: 2 }));
    ///     root.stop().await;
    ///     let err = supervisor.replace(0, New).await.unwrap_err();
    ///     assert!(matches!(err, ReplaceError::TreeFinished));
    /// }))
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// - [`ReplaceError::OutOfRange`] if the supervisor has no child at `index`;
    /// - [`ReplaceError::NotRunning`] if the supervisor is not running (it never started,
    ///   is stopping or stopped, or was removed from its tree), or began to stop while the
    ///   new child started (the new child is then stopped and removed);
    /// - [`ReplaceError::Crashed`] if the new child failed to start: it is stopped and
    ///   removed again, like a child that [`add`](Self::add) could not start, and the
    ///   supervisor has one child fewer (the old one is gone already);
    /// - [`ReplaceError::TreeFinished`] if the tree no longer runs.
    ///
    /// Nothing has changed when `OutOfRange`, or `NotRunning` before the old child
    /// stopped, is returned.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only stops waiting; the child is still replaced.
    pub fn replace<S>(
        &self,
        index: usize,
        service: S,
    ) -> impl Future<Output = core::result::Result<ServiceHandle, ReplaceError>> + Send + 'static
    where
        S: Service + Send,
    {
        let answer = self.ask(move |reply| Request::Replace {
            index,
            service: Box::new(service),
            reply,
        });
        async move {
            match answer.await {
                Ok(answer) => answer,
                Err(_) => Err(ReplaceError::TreeFinished),
            }
        }
    }

    /// Stops the child at `index` on purpose and keeps it stopped: the supervisor does not
    /// restart it, counts no crash for it, and leaves it out when it restarts a group
    /// (one-for-all, rest-for-one) or starts again itself, until [`resume`](Self::resume).
    /// The child's state is `Stopped` and its [`parked`](ServiceHandle::parked) says
    /// [`Parked::Paused`]; it stays a child, at its index. A restart it was waiting for
    /// (a backoff delay) is called off. Returns the child's handle once it stopped. (A
    /// start of the child by hand, [`ServiceHandle::start`], unparks it too.)
    ///
    /// The request is made at once, whether or not the future is awaited.
    ///
    /// ```
    /// use mode::supervisor::{PauseError, ResumeError};
    /// use mode::testing::VirtualRuntime;
    /// use mode::{Parked, Service, State, Strategy, Supervisor, SupervisorHandle, Tree};
    ///
    /// struct Ingest;
    /// impl Service for Ingest {}
    ///
    /// let rt = VirtualRuntime::new();
    /// let tree = Tree::new(
    ///     Supervisor::new(Strategy::OneForAll).with_child(Ingest),
    ///     rt.clone(),
    ///     rt.clone(),
    /// );
    /// let root = tree.handle();
    /// let supervisor = SupervisorHandle::try_from(&root).unwrap();
    /// rt.block_on(futures_lite::future::zip(tree.run(), async {
    ///     root.wait_until_running().await.unwrap();
    ///     let ingest = supervisor.pause(0).await.unwrap();
    ///     assert_eq!(ingest.state(), State::Stopped);
    ///     assert_eq!(ingest.parked(), Some(Parked::Paused));
    ///     assert!(matches!(
    ///         supervisor.pause(0).await,
    ///         Err(PauseError::AlreadyParked(Parked::Paused))
    ///     ));
    ///
    ///     supervisor.resume(0).await.unwrap();
    ///     assert_eq!((ingest.state(), ingest.parked()), (State::Running, None));
    ///     assert!(matches!(supervisor.resume(0).await, Err(ResumeError::NotParked)));
    ///     root.stop().await;
    /// }))
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// - [`PauseError::OutOfRange`] if the supervisor has no child at `index`;
    /// - [`PauseError::AlreadyParked`] if the child is paused or quarantined already;
    /// - [`PauseError::NotRunning`] if the supervisor is not running (never started,
    ///   stopping, stopped, or removed from its tree);
    /// - [`PauseError::TreeFinished`] if the tree no longer runs.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only stops waiting; the child is still paused.
    pub fn pause(
        &self,
        index: usize,
    ) -> impl Future<Output = core::result::Result<ServiceHandle, PauseError>> + Send + 'static
    {
        let answer = self.ask(move |reply| Request::Pause { index, reply });
        async move { answer.await.unwrap_or(Err(PauseError::TreeFinished)) }
    }

    /// Starts the paused or quarantined child at `index` again, at once, and supervises
    /// it from then on as before; a quarantined child gets a fresh restart budget and
    /// backoff. Returns the child's handle once it started.
    ///
    /// The request is made at once, whether or not the future is awaited.
    ///
    /// # Errors
    ///
    /// - [`ResumeError::OutOfRange`] if the supervisor has no child at `index`;
    /// - [`ResumeError::NotParked`] if the child is neither paused nor quarantined;
    /// - [`ResumeError::NotRunning`] if the supervisor is not running, or began to stop
    ///   while the child started;
    /// - [`ResumeError::Crashed`] if the child crashed while starting: it is stopped and
    ///   stays parked as it was, and may be resumed again;
    /// - [`ResumeError::TreeFinished`] if the tree no longer runs.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only stops waiting; the child is still resumed.
    pub fn resume(
        &self,
        index: usize,
    ) -> impl Future<Output = core::result::Result<ServiceHandle, ResumeError>> + Send + 'static
    {
        let answer = self.ask(move |reply| Request::Unpause { index, reply });
        async move { answer.await.unwrap_or(Err(ResumeError::TreeFinished)) }
    }

    fn request<T: Send + 'static>(
        &self,
        request: impl FnOnce(reply::Responder<core::result::Result<T, Error>>) -> Request,
    ) -> impl Future<Output = core::result::Result<T, Error>> + Send + 'static {
        let answer = self.ask(request);
        async move { answer.await.and_then(|answer| answer) }
    }

    /// Queues `request` for the driver; the answer, or [`Error::TreeFinished`] if none
    /// will come.
    fn ask<T: Send + 'static>(
        &self,
        request: impl FnOnce(reply::Responder<T>) -> Request,
    ) -> impl Future<Output = core::result::Result<T, Error>> + Send + 'static {
        let node = self.service.node().clone();
        let (responder, receiver) = reply::channel();
        if node.tree.is_finished() {
            drop(responder);
        } else {
            node.tree.send(request(responder).command(node.clone()));
        }
        async move {
            let tree_finished = || node.tree.is_finished();
            receiver.recv(tree_finished).await
        }
    }
}

/// Why [`SupervisorHandle::replace`] did not replace a child.
///
/// ```
/// use mode::supervisor::ReplaceError;
///
/// let err = ReplaceError::OutOfRange { index: 3, len: 2 };
/// assert_eq!(err.to_string(), "no child at index 3: the supervisor has 2 children");
/// assert_eq!(ReplaceError::NotRunning.to_string(), "the supervisor is not running");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ReplaceError {
    /// The supervisor has no child at `index`: it has `len` children.
    OutOfRange {
        /// The index asked for.
        index: usize,
        /// How many children the supervisor has.
        len: usize,
    },
    /// The supervisor is not running (never started, stopping, stopped, or removed from
    /// its tree), or began to stop while the new child started.
    NotRunning,
    /// The new child crashed while starting; it was removed again.
    Crashed(Crash),
    /// The tree no longer runs.
    TreeFinished,
}

impl fmt::Display for ReplaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplaceError::OutOfRange { index, len } => write!(
                f,
                "no child at index {index}: the supervisor has {len} children"
            ),
            ReplaceError::NotRunning => f.write_str("the supervisor is not running"),
            ReplaceError::Crashed(crash) => {
                write!(f, "the new child failed to start: {crash}")
            }
            ReplaceError::TreeFinished => f.write_str("the service tree is no longer running"),
        }
    }
}

impl core::error::Error for ReplaceError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            ReplaceError::Crashed(crash) => Some(crash),
            _ => None,
        }
    }
}

/// Why [`SupervisorHandle::pause`] did not pause a child.
///
/// ```
/// use mode::supervisor::PauseError;
/// use mode::Parked;
///
/// assert_eq!(
///     PauseError::AlreadyParked(Parked::Quarantined).to_string(),
///     "the child is quarantined already"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PauseError {
    /// The supervisor has no child at `index`: it has `len` children.
    OutOfRange {
        /// The index asked for.
        index: usize,
        /// How many children the supervisor has.
        len: usize,
    },
    /// The child is parked already: paused, or quarantined.
    AlreadyParked(Parked),
    /// The supervisor is not running (never started, stopping, stopped, or removed from
    /// its tree).
    NotRunning,
    /// The tree no longer runs.
    TreeFinished,
}

impl fmt::Display for PauseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PauseError::OutOfRange { index, len } => write!(
                f,
                "no child at index {index}: the supervisor has {len} children"
            ),
            PauseError::AlreadyParked(parked) => write!(f, "the child is {parked} already"),
            PauseError::NotRunning => f.write_str("the supervisor is not running"),
            PauseError::TreeFinished => f.write_str("the service tree is no longer running"),
        }
    }
}

impl core::error::Error for PauseError {}

/// Why [`SupervisorHandle::resume`] did not resume a child.
///
/// ```
/// use mode::supervisor::ResumeError;
///
/// assert_eq!(
///     ResumeError::NotParked.to_string(),
///     "the child is neither paused nor quarantined"
/// );
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ResumeError {
    /// The supervisor has no child at `index`: it has `len` children.
    OutOfRange {
        /// The index asked for.
        index: usize,
        /// How many children the supervisor has.
        len: usize,
    },
    /// The child is neither paused nor quarantined.
    NotParked,
    /// The supervisor is not running (never started, stopping, stopped, or removed from
    /// its tree), or began to stop while the child started.
    NotRunning,
    /// The child crashed while starting; it is stopped and parked again.
    Crashed(Crash),
    /// The tree no longer runs.
    TreeFinished,
}

impl fmt::Display for ResumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResumeError::OutOfRange { index, len } => write!(
                f,
                "no child at index {index}: the supervisor has {len} children"
            ),
            ResumeError::NotParked => f.write_str("the child is neither paused nor quarantined"),
            ResumeError::NotRunning => f.write_str("the supervisor is not running"),
            ResumeError::Crashed(crash) => write!(f, "the child failed to start: {crash}"),
            ResumeError::TreeFinished => f.write_str("the service tree is no longer running"),
        }
    }
}

impl core::error::Error for ResumeError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            ResumeError::Crashed(crash) => Some(crash),
            _ => None,
        }
    }
}

/// Why a supervisor gave up: the reason it crashes with, reported to the next supervisor
/// above or as the tree's stop reason.
///
/// ```
/// use mode::testing::VirtualRuntime;
/// use mode::time::Duration;
/// use mode::{BoxResult, Context, Service, Strategy, Supervisor, Tree};
/// use mode::{SupervisorError, SupervisorErrorKind};
///
/// struct Db;
///
/// impl Service for Db {
///     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
///         cx.handle().crash("disk full");
///         Ok(())
///     }
/// }
///
/// let supervisor = Supervisor::new(Strategy::OneForOne)
///     .with_max_restarts(0, Duration::from_secs(1))
///     .with_child(Db);
/// let rt = VirtualRuntime::new();
/// let exit = rt
///     .block_on(Tree::new(supervisor, rt.clone(), rt.clone()).run())
///     .unwrap();
/// let crash = exit.reason().crash().unwrap();
/// let error: &SupervisorError = crash.error().downcast_ref().unwrap();
/// assert_eq!(error.child(), "Db");
/// assert_eq!(
///     error.kind(),
///     SupervisorErrorKind::MaxRestarts {
///         restarts: 0,
///         over: Duration::from_secs(1)
///     }
/// );
/// assert_eq!(error.crash().error().to_string(), "disk full");
/// ```
#[derive(Debug, Clone)]
pub struct SupervisorError {
    child: Cow<'static, str>,
    crash: Crash,
    kind: SupervisorErrorKind,
}

/// The kinds of [`SupervisorError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SupervisorErrorKind {
    /// The supervisor had already restarted `restarts` times (its `max_restarts`) within
    /// the window `over` when the child crashed again.
    MaxRestarts {
        /// Restarts within the window.
        restarts: u32,
        /// The window.
        over: Duration,
    },
    /// The child crashed while starting, and there was no backoff delay to retry after.
    StartFailed,
}

impl SupervisorError {
    pub(crate) fn max_restarts(
        child: Cow<'static, str>,
        crash: Crash,
        restarts: u32,
        over: Duration,
    ) -> Self {
        SupervisorError {
            child,
            crash,
            kind: SupervisorErrorKind::MaxRestarts { restarts, over },
        }
    }

    pub(crate) fn start_failed(child: Cow<'static, str>, crash: Crash) -> Self {
        SupervisorError {
            child,
            crash,
            kind: SupervisorErrorKind::StartFailed,
        }
    }

    /// The label of the child whose crash the supervisor gave up on.
    #[must_use]
    pub fn child(&self) -> &str {
        &self.child
    }

    /// That crash (of the child, or of a service below it).
    #[must_use]
    pub fn crash(&self) -> &Crash {
        &self.crash
    }

    /// Why the supervisor gave up.
    #[must_use]
    pub fn kind(&self) -> SupervisorErrorKind {
        self.kind
    }
}

impl fmt::Display for SupervisorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let child = &self.child;
        let reason = ChildCrash {
            child,
            crash: &self.crash,
        };
        match self.kind {
            SupervisorErrorKind::MaxRestarts { restarts, over } => write!(
                f,
                "max restarts exceeded: {restarts} restart(s) within {over:?}, then {child} \
                 crashed: {reason}"
            ),
            SupervisorErrorKind::StartFailed => write!(
                f,
                "{child} failed to start: {reason} (a failed start is retried only after \
                 a backoff delay)"
            ),
        }
    }
}

impl core::error::Error for SupervisorError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(&self.crash)
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<SupervisorHandle>();
    is::<SupervisorError>();
    is::<ReplaceError>();
    is::<PauseError>();
    is::<ResumeError>();
    is::<Strategy>();
    is::<Backoff>();
}

#[allow(dead_code)]
fn assert_send_futures(handle: &SupervisorHandle, child: &ServiceHandle) {
    fn is_send<T: Send + 'static>(_: T) {}
    struct Plain;
    impl Service for Plain {}
    is_send(handle.add(Plain));
    is_send(handle.remove(child));
    is_send(handle.replace(0, Plain));
    is_send(handle.pause(0));
    is_send(handle.resume(0));
}
