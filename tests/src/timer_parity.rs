//! Timers as mode users rely on them: a first call at once, ticks as a stream, names (mode parity).

use std::borrow::ToOwned;
use std::string::String;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use futures_lite::StreamExt;
use mode_core::events::{LifecycleEvent, Observer, ServiceInfo};
use mode_core::time::{Duration, Instant};
use mode_core::utils::RateLimit;
use mode_core::{BoxResult, Context, Error, MissedTickBehavior, Service, Stopped, TimerOptions};

use crate::probe::Probe;
use crate::{run_with, Backend};

/// The tests of this module, for [`conformance_tests!`](crate::conformance_tests).
#[macro_export]
macro_rules! timer_parity_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@tests $backend;
            timer_parity::first_tick_at_once_then_on_the_grid,
            timer_parity::a_slow_first_tick_skips_to_the_grid,
            timer_parity::a_named_timer_is_listed_and_warns_by_its_name,
            timer_parity::ticks_stay_on_the_grid,
            timer_parity::ticks_skip_missed_ticks_and_warn_by_their_name,
            timer_parity::ticks_at_once_with_burst,
            timer_parity::ticks_end_when_the_service_is_asked_to_stop,
            timer_parity::zero_interval_ticks_are_refused,
            timer_parity::rate_limit_acquire_paces_on_the_trees_clock,
            timer_parity::rate_limit_wait_ends_when_the_service_stops,
        );
    };
}

/// The period of these tests: on a real clock, long enough that the wake-up lateness of a
/// loaded machine (often 5–15 ms) stays well under half a period.
fn period<B: Backend>(backend: &B) -> Duration {
    if backend.is_virtual() {
        Duration::from_millis(10)
    } else {
        Duration::from_millis(50)
    }
}

/// The instant `d` before `at`.
fn before(at: Instant, d: Duration) -> Instant {
    Instant::from_duration(at.as_duration() - d)
}

/// `k` periods.
fn times(period: Duration, k: u32) -> Duration {
    period * k
}

/// Counts timer overlap events, and keeps the names of the timers that overran.
#[derive(Default, Clone)]
struct Overlaps(Arc<Mutex<Vec<String>>>);

impl Overlaps {
    fn names(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl Observer for Overlaps {
    fn observe(&self, _service: &ServiceInfo<'_>, event: &LifecycleEvent<'_>) {
        if let LifecycleEvent::TimerOverlap { timer, .. } = event {
            self.0.lock().unwrap().push((*timer).to_owned());
        }
    }
}

/// A callback timer of `options` that records when it was started and when each tick came,
/// stops the tree after `count` ticks, and spends `slow_for` in its first tick.
struct Ticker {
    period: Duration,
    options: TimerOptions,
    count: usize,
    slow_for: Duration,
    started: Arc<Mutex<Option<Instant>>>,
    ticks: Arc<Mutex<Vec<Instant>>>,
    /// The timer's task names, as listed from inside a tick.
    listed: Arc<Mutex<Vec<String>>>,
    after_stop: Arc<AtomicUsize>,
}

impl Ticker {
    fn new(period: Duration, options: TimerOptions, count: usize) -> Self {
        Ticker {
            period,
            options,
            count,
            slow_for: Duration::ZERO,
            started: Arc::default(),
            ticks: Arc::default(),
            listed: Arc::default(),
            after_stop: Arc::default(),
        }
    }
}

impl Service for Ticker {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        *self.started.lock().unwrap() = Some(cx.handle().now());
        let (ticks, listed, after_stop) = (
            self.ticks.clone(),
            self.listed.clone(),
            self.after_stop.clone(),
        );
        let (count, slow_for) = (self.count, self.slow_for);
        cx.timer_with(self.period, self.options.clone(), move |me| {
            let (ticks, listed, after_stop) = (ticks.clone(), listed.clone(), after_stop.clone());
            async move {
                if me.should_stop() {
                    after_stop.fetch_add(1, Ordering::SeqCst);
                }
                let n = {
                    let mut ticks = ticks.lock().unwrap();
                    ticks.push(me.now());
                    ticks.len()
                };
                if n == 1 {
                    *listed.lock().unwrap() = me.task_names().into_iter().map(Into::into).collect();
                    if !slow_for.is_zero() {
                        me.sleep(slow_for).await?;
                    }
                }
                if n == count {
                    me.request_stop();
                }
                Ok(())
            }
        })?;
        Ok(())
    }
}

/// Runs `ticker` to its end; returns its start and its ticks' offsets from it.
fn run_ticker<B: Backend>(
    backend: &B,
    ticker: Ticker,
    overlaps: &Overlaps,
) -> (Vec<Duration>, Vec<String>) {
    let (started, ticks, listed, after_stop) = (
        ticker.started.clone(),
        ticker.ticks.clone(),
        ticker.listed.clone(),
        ticker.after_stop.clone(),
    );
    let exit = backend.block_on(backend.tree(ticker).with_observer(overlaps.clone()).run());
    assert!(!exit.is_failure(), "{exit:?}");
    assert_eq!(
        after_stop.load(Ordering::SeqCst),
        0,
        "a tick after the stop"
    );
    let started = started.lock().unwrap().expect("started");
    let offsets = ticks.lock().unwrap().iter().map(|t| *t - started).collect();
    let listed = listed.lock().unwrap().clone();
    (offsets, listed)
}

/// With a first tick at once (mode's `exec_first`), the timer calls back when it starts,
/// then every period on the grid `start + k·period`.
pub fn first_tick_at_once_then_on_the_grid<B: Backend>(backend: B) {
    // On a real clock, a long period tells "at once" from "after a period" however late the
    // timer's task starts on a loaded machine.
    let period = if backend.is_virtual() {
        Duration::from_millis(10)
    } else {
        Duration::from_millis(200)
    };
    let options = TimerOptions::new().with_first_tick_at_once();
    let overlaps = Overlaps::default();
    let (offsets, _) = run_ticker(&backend, Ticker::new(period, options, 4), &overlaps);
    assert_eq!(offsets.len(), 4);
    if backend.is_virtual() {
        assert_eq!(offsets, [0, 1, 2, 3].map(|k| times(period, k)));
    } else {
        assert!(offsets[0] < period / 2, "{offsets:?}: not at once");
        for (k, offset) in (0..).zip(&offsets) {
            assert!(*offset >= times(period, k), "{offsets:?}: tick {k} early");
        }
        assert!(offsets[3] < times(period, 3) + Duration::from_secs(2));
    }
    assert!(overlaps.names().is_empty(), "{:?}", overlaps.names());
}

/// A first tick at once that overruns skips the ticks it missed: the next comes on the
/// grid, not one period after it ended.
pub fn a_slow_first_tick_skips_to_the_grid<B: Backend>(backend: B) {
    let period = period(&backend);
    let options = TimerOptions::new().with_first_tick_at_once();
    let mut ticker = Ticker::new(period, options, 3);
    ticker.slow_for = period * 5 / 2;
    let overlaps = Overlaps::default();
    let (offsets, _) = run_ticker(&backend, ticker, &overlaps);
    assert_eq!(offsets.len(), 3);
    if backend.is_virtual() {
        // 0 (took 2.5 periods: 1 and 2 are skipped), 3, 4.
        assert_eq!(offsets, [0, 3, 4].map(|k| times(period, k)));
    } else {
        assert!(offsets[1] >= times(period, 3), "{offsets:?}");
        assert!(offsets[2] >= times(period, 4), "{offsets:?}");
        assert!(offsets[2] < times(period, 4) + Duration::from_secs(2));
    }
    assert_eq!(overlaps.names().len(), 1, "{:?}", overlaps.names());
}

/// A timer's name is its name everywhere: in its service's task listing and in its
/// overlap warning.
pub fn a_named_timer_is_listed_and_warns_by_its_name<B: Backend>(backend: B) {
    let period = period(&backend);
    let options = TimerOptions::new().with_name("flush");
    let mut ticker = Ticker::new(period, options, 3);
    ticker.slow_for = period * 3 / 2;
    let overlaps = Overlaps::default();
    let (offsets, listed) = run_ticker(&backend, ticker, &overlaps);
    assert_eq!(offsets.len(), 3);
    assert_eq!(listed, ["flush"]);
    assert_eq!(overlaps.names(), ["flush"]);
}

/// The ticks of a stream are due on `start + k·period` however long the consumer works
/// between them, and never come before they are due.
pub fn ticks_stay_on_the_grid<B: Backend>(backend: B) {
    let period = period(&backend);
    let count = if backend.is_virtual() { 1_000 } else { 10 };
    let tree = backend.tree(Probe::new("App"));
    let root = tree.handle();
    let (exit, ()) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        let mut ticks = root.ticks(period).unwrap();
        assert_eq!(ticks.interval(), period);
        let start = before(ticks.deadline(), period);
        let mut last = start;
        for k in 1..=count {
            let due = ticks.next().await.expect("a tick");
            let arrived = root.now();
            assert!(arrived >= due, "tick {k} came early");
            assert!(due > last);
            assert_eq!(
                (due - start).as_nanos() % period.as_nanos(),
                0,
                "off the grid"
            );
            if backend.is_virtual() {
                assert_eq!(due, start + times(period, k));
                assert_eq!(arrived, due);
            }
            last = due;
        }
        root.stop().await;
    }));
    assert!(!exit.is_failure(), "{exit:?}");
}

/// A consumer that overruns a period skips the ticks it missed (by default), stays on the
/// grid, and is warned once, by the stream's name: by default where it was made.
pub fn ticks_skip_missed_ticks_and_warn_by_their_name<B: Backend>(backend: B) {
    let period = period(&backend);
    let overlaps = Overlaps::default();
    let tree = backend
        .tree(Probe::new("App"))
        .with_observer(overlaps.clone());
    let root = tree.handle();
    let (exit, ()) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        let mut ticks = root.ticks(period).unwrap();
        let start = before(ticks.deadline(), period);
        let mut due = Vec::new();
        for k in 0..6 {
            due.push(ticks.next().await.expect("a tick") - start);
            if k < 3 {
                root.sleep(period * 5 / 2).await.unwrap();
            }
        }
        if backend.is_virtual() {
            assert_eq!(due, [1, 4, 7, 10, 11, 12].map(|k| times(period, k)));
        } else {
            for k in 0..3 {
                assert!(due[k + 1] - due[k] >= times(period, 3), "{due:?}");
            }
        }
        let default_name = ticks.name().into_owned();
        assert!(default_name.starts_with("ticks at "), "{default_name}");
        assert!(default_name.contains("timer_parity.rs:"), "{default_name}");
        assert_eq!(overlaps.names(), [default_name.as_str()], "rate limited");

        let options = TimerOptions::new().with_name("poll");
        let mut named = root.ticks_with(period, options).unwrap();
        assert_eq!(named.name(), "poll");
        named.next().await.unwrap();
        root.sleep(period * 3 / 2).await.unwrap();
        named.next().await.unwrap();
        assert_eq!(overlaps.names(), [default_name.as_str(), "poll"]);
        root.stop().await;
    }));
    assert!(!exit.is_failure(), "{exit:?}");
}

/// With a first tick at once and [`MissedTickBehavior::Burst`], a stream yields every due
/// instant of the grid, the missed ones back to back.
pub fn ticks_at_once_with_burst<B: Backend>(backend: B) {
    let period = period(&backend);
    let tree = backend.tree(Probe::new("App"));
    let root = tree.handle();
    let (exit, ()) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        let options = TimerOptions::new()
            .with_first_tick_at_once()
            .with_missed_ticks(MissedTickBehavior::Burst);
        let mut ticks = root.ticks_with(period, options).unwrap();
        let start = ticks.deadline();
        let (mut due, mut arrived) = (Vec::new(), Vec::new());
        for k in 0..5 {
            due.push(ticks.next().await.expect("a tick") - start);
            arrived.push(root.now() - start);
            if k == 0 {
                root.sleep(period * 5 / 2).await.unwrap();
            }
        }
        // Every deadline, none skipped, whatever the clock.
        assert_eq!(due, [0, 1, 2, 3, 4].map(|k| times(period, k)));
        for (due, arrived) in due.iter().zip(&arrived) {
            assert!(arrived >= due, "{arrived:?} before {due:?}");
        }
        if backend.is_virtual() {
            let burst = period * 5 / 2;
            assert_eq!(
                arrived,
                [
                    Duration::ZERO,
                    burst,
                    burst,
                    times(period, 3),
                    times(period, 4)
                ]
            );
        }
        root.stop().await;
    }));
    assert!(!exit.is_failure(), "{exit:?}");
}

/// A stream ends as soon as its service is asked to stop, without waiting for its next
/// tick, yields nothing after that, and a stream of a stopped service ends at once.
pub fn ticks_end_when_the_service_is_asked_to_stop<B: Backend>(backend: B) {
    let period = period(&backend);
    let tree = backend.tree(Probe::new("App"));
    let root = tree.handle();
    let (exit, ()) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        let mut hourly = root.ticks(Duration::from_secs(3600)).unwrap();
        let mut fast = root.ticks(period).unwrap();
        let start = root.now();
        let (ended, ()) = futures_lite::future::zip(hourly.next(), async {
            fast.next().await.unwrap();
            fast.next().await.unwrap();
            root.request_stop();
            // Due again one period later: no tick may come once the stop was asked.
            assert_eq!(fast.next().await, None);
        })
        .await;
        assert_eq!(ended, None);
        assert!(root.now() - start < Duration::from_secs(60));
        assert_eq!(hourly.next().await, None, "fused");
        assert_eq!(futures_lite::Stream::size_hint(&hourly), (0, Some(0)));
        root.wait_until_stopped().await;
        assert_eq!(root.ticks(period).unwrap().next().await, None);
    }));
    assert!(!exit.is_failure(), "{exit:?}");
}

struct ZeroTicks;

impl Service for ZeroTicks {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let err = cx.handle().ticks(Duration::ZERO).unwrap_err();
        assert!(matches!(err, Error::ZeroInterval));
        assert!(err.to_string().contains("greater than zero"));
        let options = TimerOptions::new().with_first_tick_at_once();
        let err = cx
            .timer_with(Duration::ZERO, options, |_| async { Ok(()) })
            .unwrap_err();
        assert!(matches!(err, Error::ZeroInterval));
        cx.handle().request_stop();
        Ok(())
    }
}

/// A zero interval is refused with a clear error, for streams as for callbacks.
pub fn zero_interval_ticks_are_refused<B: Backend>(backend: B) {
    let exit = backend.block_on(backend.tree(ZeroTicks).run());
    assert!(!exit.is_failure(), "{exit:?}");
}

/// `RateLimit::acquire` waits on the tree's clock through a service's handle: a burst at
/// once, then one token per interval, shared fairly enough between two waiters.
pub fn rate_limit_acquire_paces_on_the_trees_clock<B: Backend>(backend: B) {
    let period = period(&backend);
    let tree = backend.tree(Probe::new("App"));
    let root = tree.handle();
    let (exit, ()) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        let limit = RateLimit::with_interval(period.into(), 2);
        let start = root.now();
        let taken = Mutex::new(Vec::new());
        let take = |n: usize| {
            let (root, limit, taken) = (&root, &limit, &taken);
            async move {
                for _ in 0..n {
                    limit.acquire(root).await.unwrap();
                    taken.lock().unwrap().push(root.now() - start);
                }
            }
        };
        futures_lite::future::zip(take(3), take(3)).await;
        let mut taken = taken.into_inner().unwrap();
        taken.sort();
        assert_eq!(taken.len(), 6);
        if backend.is_virtual() {
            assert_eq!(taken, [0, 0, 1, 2, 3, 4].map(|k| times(period, k)));
        } else {
            // Never early: the k-th token after the burst is not free before k periods.
            for (k, at) in (0..).zip(&taken[2..]) {
                assert!(*at >= times(period, k + 1), "{taken:?}");
            }
            assert!(taken[5] < times(period, 4) + Duration::from_secs(2));
        }
        root.stop().await;
    }));
    assert!(!exit.is_failure(), "{exit:?}");
}

/// A wait for a token ends with `Stopped` as soon as the service is asked to stop.
pub fn rate_limit_wait_ends_when_the_service_stops<B: Backend>(backend: B) {
    let period = period(&backend);
    let tree = backend.tree(Probe::new("App"));
    let root = tree.handle();
    let (exit, ()) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        let limit = RateLimit::new("1/h").unwrap();
        assert_eq!(limit.acquire(&root).await, Ok(()));
        let start = root.now();
        let (waited, ()) = futures_lite::future::zip(limit.acquire(&root), async {
            root.sleep(period).await.unwrap();
            root.request_stop();
        })
        .await;
        assert_eq!(waited, Err(Stopped));
        assert!(root.now() - start < Duration::from_secs(60));
        // The wait that ended took no token: the next is still due an hour after the first.
        let left = limit.time_until_ready(root.now());
        assert!(left <= Duration::from_secs(3600), "{left:?}");
        assert!(left > Duration::from_secs(3000), "{left:?}");
    }));
    assert!(!exit.is_failure(), "{exit:?}");
}
