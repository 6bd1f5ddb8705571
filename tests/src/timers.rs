//! Periodic timers: absolute deadlines, overrun policy, stop awareness.

use std::borrow::ToOwned;
use std::string::String;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use mode_core::events::{LifecycleEvent, Observer, ServiceInfo};
use mode_core::time::{Duration, Instant};
use mode_core::{BoxResult, Context, Error, Service};

use crate::{run_with, Backend};

type Ticks = Arc<Mutex<Vec<Instant>>>;

/// Ticks every `period`; records the time of each tick; stops the tree after `count` ticks.
/// The first `slow` ticks take `slow_for`.
struct Ticker {
    period: Duration,
    count: usize,
    slow: usize,
    slow_for: Duration,
    ticks: Ticks,
    violations: Arc<AtomicUsize>,
}

impl Ticker {
    fn new(period: Duration, count: usize) -> Self {
        Ticker {
            period,
            count,
            slow: 0,
            slow_for: Duration::ZERO,
            ticks: Ticks::default(),
            violations: Arc::default(),
        }
    }
}

impl Service for Ticker {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let handle = cx.handle().clone();
        let ticks = self.ticks.clone();
        let violations = self.violations.clone();
        let (count, slow, slow_for) = (self.count, self.slow, self.slow_for);
        cx.timer(self.period, move |_| {
            let handle = handle.clone();
            let ticks = ticks.clone();
            let violations = violations.clone();
            async move {
                if handle.should_stop() {
                    violations.fetch_add(1, Ordering::SeqCst);
                }
                let n = {
                    let mut ticks = ticks.lock().unwrap();
                    ticks.push(handle.now());
                    ticks.len()
                };
                if n <= slow {
                    handle.sleep(slow_for).await?;
                }
                if n == count {
                    handle.request_stop();
                }
                Ok(())
            }
        })?;
        Ok(())
    }
}

/// Counts timer overlap events, and keeps the names of the timers that overran.
#[derive(Default, Clone)]
struct Overlaps(Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>);

impl Observer for Overlaps {
    fn observe(&self, _service: &ServiceInfo<'_>, event: &LifecycleEvent<'_>) {
        if let LifecycleEvent::TimerOverlap { timer, .. } = event {
            self.0.fetch_add(1, Ordering::SeqCst);
            self.1.lock().unwrap().push((*timer).to_owned());
        }
    }
}

/// The period of timer tests: on a real clock, long enough that the wake-up lateness of a
/// loaded machine (often 5–15 ms) stays well under half a period.
fn test_period<B: Backend>(backend: &B) -> Duration {
    if backend.is_virtual() {
        Duration::from_millis(10)
    } else {
        Duration::from_millis(50)
    }
}

/// 10,000 ticks (virtual time; 20 on a real clock) land on `start + k·period`.
pub fn timer_has_no_drift<B: Backend>(backend: B) {
    let period = test_period(&backend);
    let count = if backend.is_virtual() { 10_000 } else { 20 };
    let ticker = Ticker::new(period, count);
    let ticks = ticker.ticks.clone();
    let violations = ticker.violations.clone();
    let tree = backend.tree(ticker);
    let root = tree.handle();
    let (exit, ()) = backend.block_on(run_with(tree, async {
        root.wait_until_stopped().await;
    }));
    assert!(!exit.is_failure(), "{exit:?}");
    let ticks = ticks.lock().unwrap();
    assert_eq!(ticks.len(), count);
    assert_eq!(violations.load(Ordering::SeqCst), 0);
    let first = ticks[0];
    if backend.is_virtual() {
        for (k, tick) in ticks.iter().enumerate() {
            let due = first + period * u32::try_from(k).unwrap();
            assert_eq!(*tick, due, "tick {k} is off the grid");
        }
    } else {
        // A real clock on a loaded machine wakes late by any amount, so exactness is proven
        // on virtual time; here the ticks must not come early or bunch up (a burst would
        // shorten the span), and the run must end in a sane time.
        let span = *ticks.last().unwrap() - first;
        let nominal = period * u32::try_from(count - 1).unwrap();
        assert!(
            span + period / 2 >= nominal,
            "span {span:?} for {count} ticks: too short"
        );
        assert!(
            span <= nominal + Duration::from_secs(2),
            "span {span:?}: far too long"
        );
    }
}

/// A tick that overruns skips the missed ticks, stays on the grid, and is reported once
/// (rate limited) however often it happens.
pub fn overrun_skips_and_warns_once<B: Backend>(backend: B) {
    let period = test_period(&backend);
    let mut ticker = Ticker::new(period, 6);
    ticker.slow = 3;
    ticker.slow_for = period * 5 / 2;
    let ticks = ticker.ticks.clone();
    let overlaps = Overlaps::default();
    let tree = backend.tree(ticker).with_observer(overlaps.clone());
    let root = tree.handle();
    backend.block_on(run_with(tree, async {
        root.wait_until_stopped().await;
    }));
    let ticks = ticks.lock().unwrap();
    assert_eq!(ticks.len(), 6);
    let first = ticks[0];
    let offsets: Vec<Duration> = ticks.iter().map(|t| *t - first).collect();
    // Each slow tick (2.5 periods) skips two deadlines; afterwards the grid resumes.
    let grid = [0, 3, 6, 9, 10, 11].map(|k| period * k);
    if backend.is_virtual() {
        assert_eq!(offsets, grid, "{offsets:?}");
    } else {
        // Late wake-ups move the exact points; the policy still shows: skipped ticks keep
        // the span at 11 periods or more (a burst would shorten it), and a slow tick is
        // never followed by another before it finished.
        let span = *ticks.last().unwrap() - first;
        assert!(span + period / 2 >= period * 11, "{offsets:?}");
        for k in 0..3 {
            assert!(ticks[k + 1] - ticks[k] >= period * 5 / 2, "{offsets:?}");
        }
    }
    assert_eq!(overlaps.0.load(Ordering::SeqCst), 1, "rate-limited warning");
    // The warning names the timer: by default, where its callback was written.
    assert_eq!(*overlaps.1.lock().unwrap(), ["Ticker::on_start"]);
}

/// Once a service is asked to stop, its timers never call back again.
pub fn no_tick_after_stop_begins<B: Backend>(backend: B) {
    // The third tick asks the tree to stop; no tick may follow, even one already due.
    let ticker = Ticker::new(Duration::from_millis(1), 3);
    let ticks = ticker.ticks.clone();
    let violations = ticker.violations.clone();
    let tree = backend.tree(ticker);
    backend.block_on(tree.run());
    assert_eq!(ticks.lock().unwrap().len(), 3);
    assert_eq!(violations.load(Ordering::SeqCst), 0);
}

struct ZeroTimer;

impl Service for ZeroTimer {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let err = cx.timer(Duration::ZERO, |_| async { Ok(()) }).unwrap_err();
        assert!(matches!(err, Error::ZeroInterval));
        assert!(err.to_string().contains("greater than zero"));
        cx.handle().request_stop();
        Ok(())
    }
}

/// A zero interval is refused with a clear error.
pub fn zero_interval_is_an_error<B: Backend>(backend: B) {
    let exit = backend.block_on(backend.tree(ZeroTimer).run());
    assert!(!exit.is_failure(), "{exit:?}");
}
