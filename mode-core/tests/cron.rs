//! Cron timers in virtual time: exact instants, DST days, errors, stop and crash behaviour.
//!
//! Every tree here fixes its wall clock with `Tree::with_wall_clock_origin`, so wall time
//! is `origin + virtual time elapsed` and every call lands on an exact instant.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mode_core::events::{LifecycleEvent, Observer, ServiceInfo};
use mode_core::testing::VirtualRuntime;
use mode_core::time::Instant;
use mode_core::{
    BoxResult, Context, CronError, CronErrorKind, Crontab, Error, Exit, Service, StopReason, Tree,
};

/// A UTC date and time, by the civil-from-days algorithm (independent of the crates the
/// code under test uses).
fn utc(y: i64, m: i64, d: i64, h: i64, min: i64, s: i64) -> SystemTime {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + min * 60 + s;
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap())
}

/// One call of a cron callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Call {
    /// The tree's (virtual) instant.
    at: Instant,
    /// The tree's wall clock.
    wall: SystemTime,
    /// Whether the service had been asked to stop (must never be true).
    stopping: bool,
}

type Calls = Arc<Mutex<Vec<Call>>>;

/// Registers one crontab in `on_start`; stops the tree after `stop_after` calls.
struct CronService {
    expression: &'static str,
    zone: &'static str,
    calls: Calls,
    stop_after: usize,
    /// The n-th call (1-based) fails with "disk full".
    fail_on: Option<usize>,
    /// The n-th call (1-based) takes this long.
    slow: Option<(usize, Duration)>,
}

impl CronService {
    fn new(expression: &'static str, zone: &'static str, stop_after: usize) -> Self {
        CronService {
            expression,
            zone,
            calls: Calls::default(),
            stop_after,
            fail_on: None,
            slow: None,
        }
    }
}

impl Service for CronService {
    fn label(&self) -> std::borrow::Cow<'static, str> {
        "Cron".into()
    }

    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let schedule = Crontab::parse(self.expression, self.zone)?;
        let calls = self.calls.clone();
        let (stop_after, fail_on, slow) = (self.stop_after, self.fail_on, self.slow);
        cx.crontab(schedule, move |handle| {
            let calls = calls.clone();
            async move {
                let n = {
                    let mut calls = calls.lock().unwrap();
                    calls.push(Call {
                        at: handle.now(),
                        wall: handle.wall_time(),
                        stopping: handle.should_stop(),
                    });
                    calls.len()
                };
                if fail_on == Some(n) {
                    return Err("disk full".into());
                }
                if let Some((slow_call, duration)) = slow {
                    if slow_call == n {
                        handle.sleep(duration).await?;
                    }
                }
                if n == stop_after {
                    handle.request_stop();
                }
                Ok(())
            }
        })?;
        Ok(())
    }
}

/// Runs `service`'s tree in virtual time from the wall time `origin`.
fn run(service: CronService, origin: SystemTime) -> (Exit, Vec<Call>) {
    run_observed(service, origin, NoObserver)
}

fn run_observed(
    service: CronService,
    origin: SystemTime,
    observer: impl Observer,
) -> (Exit, Vec<Call>) {
    let calls = service.calls.clone();
    let rt = VirtualRuntime::new();
    let tree = Tree::new(service, rt.clone(), rt.clone())
        .with_wall_clock_origin(origin)
        .with_observer(observer);
    let exit = rt.block_on(tree.run()).expect("the tree stalled");
    assert_eq!(rt.spawned_tasks(), 0, "a task outlived the tree");
    let calls = calls.lock().unwrap().clone();
    assert!(calls.iter().all(|call| !call.stopping), "{calls:?}");
    (exit, calls)
}

struct NoObserver;

impl Observer for NoObserver {
    fn observe(&self, _service: &ServiceInfo<'_>, _event: &LifecycleEvent<'_>) {}
}

/// The wall times of `calls`, after checking that each ran at the virtual instant its wall
/// time maps to (the tree's clock starts at zero at `origin`).
fn walls(calls: &[Call], origin: SystemTime) -> Vec<SystemTime> {
    for call in calls {
        let elapsed = call.wall.duration_since(origin).unwrap();
        assert_eq!(call.at, Instant::ZERO + elapsed, "{call:?}");
    }
    calls.iter().map(|call| call.wall).collect()
}

fn run_walls(
    expression: &'static str,
    zone: &'static str,
    n: usize,
    origin: SystemTime,
) -> Vec<SystemTime> {
    let (exit, calls) = run(CronService::new(expression, zone, n), origin);
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    assert_eq!(calls.len(), n);
    walls(&calls, origin)
}

#[test]
fn minute_hour_and_day_schedules_fire_at_exact_instants() {
    let origin = utc(2025, 1, 1, 0, 0, 30);
    assert_eq!(
        run_walls("* * * * *", "UTC", 3, origin),
        [
            utc(2025, 1, 1, 0, 1, 0),
            utc(2025, 1, 1, 0, 2, 0),
            utc(2025, 1, 1, 0, 3, 0)
        ]
    );
    assert_eq!(
        run_walls("15 * * * *", "UTC", 3, origin),
        [
            utc(2025, 1, 1, 0, 15, 0),
            utc(2025, 1, 1, 1, 15, 0),
            utc(2025, 1, 1, 2, 15, 0)
        ]
    );
    // 06:00 in Berlin is 05:00Z in winter; Saturday 4 and Sunday 5 January are skipped.
    assert_eq!(
        run_walls("0 6 * * MON-FRI", "Europe/Berlin", 3, origin),
        [
            utc(2025, 1, 1, 5, 0, 0),
            utc(2025, 1, 2, 5, 0, 0),
            utc(2025, 1, 3, 5, 0, 0),
        ]
    );
    assert_eq!(
        run_walls("*/20 * * * * *", "UTC", 3, origin),
        [
            utc(2025, 1, 1, 0, 0, 40),
            utc(2025, 1, 1, 0, 1, 0),
            utc(2025, 1, 1, 0, 1, 20)
        ]
    );
}

/// New York, Sunday 2025-03-09: 02:00 EST (07:00Z) jumps to 03:00 EDT.
#[test]
fn spring_forward_in_new_york() {
    let saturday_noon = utc(2025, 3, 8, 12, 0, 0);
    // 02:30 does not exist that day: the daily job runs once, at 03:00 EDT.
    assert_eq!(
        run_walls("30 2 * * *", "America/New_York", 3, saturday_noon),
        [
            utc(2025, 3, 9, 7, 0, 0),   // 03:00 EDT
            utc(2025, 3, 10, 6, 30, 0), // 02:30 EDT
            utc(2025, 3, 11, 6, 30, 0),
        ]
    );
    // The hourly job skips the hour that does not exist and keeps one real hour apart.
    assert_eq!(
        run_walls(
            "0 * * * *",
            "America/New_York",
            3,
            utc(2025, 3, 9, 5, 30, 0)
        ),
        [
            utc(2025, 3, 9, 6, 0, 0), // 01:00 EST
            utc(2025, 3, 9, 7, 0, 0), // 03:00 EDT
            utc(2025, 3, 9, 8, 0, 0), // 04:00 EDT
        ]
    );
}

/// New York, Sunday 2025-11-02: 02:00 EDT (06:00Z) goes back to 01:00 EST.
#[test]
fn fall_back_in_new_york() {
    let saturday_noon = utc(2025, 11, 1, 12, 0, 0);
    // 01:30 occurs twice: the daily job runs once, at the first (EDT).
    assert_eq!(
        run_walls("30 1 * * *", "America/New_York", 2, saturday_noon),
        [
            utc(2025, 11, 2, 5, 30, 0), // 01:30 EDT
            utc(2025, 11, 3, 6, 30, 0), // 01:30 EST
        ]
    );
    // The half-hourly job runs at both occurrences.
    assert_eq!(
        run_walls(
            "*/30 * * * *",
            "America/New_York",
            5,
            utc(2025, 11, 2, 4, 45, 0)
        ),
        [
            utc(2025, 11, 2, 5, 0, 0),  // 01:00 EDT
            utc(2025, 11, 2, 5, 30, 0), // 01:30 EDT
            utc(2025, 11, 2, 6, 0, 0),  // 01:00 EST
            utc(2025, 11, 2, 6, 30, 0), // 01:30 EST
            utc(2025, 11, 2, 7, 0, 0),  // 02:00 EST
        ]
    );
}

/// Berlin: Sunday 2025-03-30 02:00 CET (01:00Z) jumps to 03:00 CEST; Sunday 2025-10-26
/// 03:00 CEST (01:00Z) goes back to 02:00 CET.
#[test]
fn both_changes_in_berlin() {
    assert_eq!(
        run_walls("30 2 * * *", "Europe/Berlin", 2, utc(2025, 3, 29, 12, 0, 0)),
        [
            utc(2025, 3, 30, 1, 0, 0),  // 03:00 CEST, the first instant after the gap
            utc(2025, 3, 31, 0, 30, 0), // 02:30 CEST
        ]
    );
    assert_eq!(
        run_walls(
            "30 2 * * *",
            "Europe/Berlin",
            2,
            utc(2025, 10, 25, 12, 0, 0)
        ),
        [
            utc(2025, 10, 26, 0, 30, 0), // 02:30 CEST, the first occurrence only
            utc(2025, 10, 27, 1, 30, 0), // 02:30 CET
        ]
    );
    assert_eq!(
        run_walls(
            "0,30 2 * * *",
            "Europe/Berlin",
            5,
            utc(2025, 10, 25, 12, 0, 0)
        ),
        [
            utc(2025, 10, 26, 0, 0, 0),  // 02:00 CEST
            utc(2025, 10, 26, 0, 30, 0), // 02:30 CEST
            utc(2025, 10, 26, 1, 0, 0),  // 02:00 CET
            utc(2025, 10, 26, 1, 30, 0), // 02:30 CET
            utc(2025, 10, 27, 1, 0, 0),  // Monday 02:00 CET
        ]
    );
}

#[test]
fn bad_expressions_and_zones_are_clear_errors() {
    let err = Crontab::parse("0 24 * * *", "UTC").unwrap_err();
    assert_eq!(err.kind(), CronErrorKind::InvalidExpression);
    assert_eq!(
        err.to_string(),
        "invalid cron expression `0 24 * * *`: hour field `24`: Number out of bounds."
    );
    let err = Crontab::parse("0 0 30 2 *", "UTC").unwrap_err();
    assert_eq!(err.kind(), CronErrorKind::NeverMatches);
    let err = Crontab::parse("0 0 * * *", "America/Springfield").unwrap_err();
    assert_eq!(err.kind(), CronErrorKind::UnknownTimeZone);
    assert_eq!(err.input(), "America/Springfield");
    assert!(
        err.to_string()
            .starts_with("unknown time zone `America/Springfield`: expected an IANA name"),
        "{err}"
    );

    // Registering with `?` in a hook makes the start fail with that error.
    let (exit, calls) = run(
        CronService::new("0 0 * * * * *", "UTC", 1),
        utc(2025, 1, 1, 0, 0, 0),
    );
    assert!(calls.is_empty());
    let StopReason::Crashed(crash) = exit.reason() else {
        panic!("{exit:?}")
    };
    assert_eq!(crash.service(), "Cron");
    let err = crash
        .error()
        .downcast_ref::<CronError>()
        .expect("a CronError");
    assert_eq!(err.kind(), CronErrorKind::InvalidExpression);
    assert!(err.to_string().contains("found 7"), "{err}");
}

/// The third call asks the tree to stop: no call may follow.
#[test]
fn no_call_after_the_service_asked_to_stop() {
    let origin = utc(2025, 1, 1, 0, 0, 0);
    let (exit, calls) = run(CronService::new("* * * * * *", "UTC", 3), origin);
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    assert_eq!(calls.len(), 3);
}

/// Stops the tree at a virtual instant, from a task spawned before the crontab.
struct StopsAt {
    cron: CronService,
    stop_at: Duration,
}

impl Service for StopsAt {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let handle = cx.handle().clone();
        let stop_at = Instant::ZERO + self.stop_at;
        cx.spawn(async move {
            handle.sleep_until(stop_at).await?;
            handle.request_stop();
            Ok(())
        })?;
        self.cron.on_start(cx).await
    }
}

/// A stop requested at the very instant a call is due wins: the call does not run, though
/// its sleep completed in the same round of the clock.
#[test]
fn a_stop_at_the_due_instant_wins() {
    let calls = Calls::default();
    let mut cron = CronService::new("* * * * *", "UTC", usize::MAX);
    cron.calls = calls.clone();
    let rt = VirtualRuntime::new();
    let service = StopsAt {
        cron,
        stop_at: Duration::from_secs(120),
    };
    let tree =
        Tree::new(service, rt.clone(), rt.clone()).with_wall_clock_origin(utc(2025, 1, 1, 0, 0, 0));
    let exit = rt.block_on(tree.run()).unwrap();
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    let calls = calls.lock().unwrap();
    // 00:01 ran; 00:02, due at the stop, did not.
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].wall, utc(2025, 1, 1, 0, 1, 0));
    assert_eq!(rt.now(), Instant::ZERO + Duration::from_secs(120));
}

#[test]
fn a_failing_call_crashes_the_service_with_its_error() {
    let mut cron = CronService::new("0 * * * *", "UTC", usize::MAX);
    cron.fail_on = Some(2);
    let origin = utc(2025, 1, 1, 0, 0, 0);
    let (exit, calls) = run(cron, origin);
    let StopReason::Crashed(crash) = exit.reason() else {
        panic!("{exit:?}")
    };
    assert_eq!(crash.service(), "Cron");
    assert_eq!(crash.error().to_string(), "disk full");
    assert_eq!(
        walls(&calls, origin),
        [utc(2025, 1, 1, 1, 0, 0), utc(2025, 1, 1, 2, 0, 0)]
    );
}

/// Counts skip reports and keeps the last one.
#[derive(Default, Clone)]
struct Overlaps(Arc<Mutex<Vec<(Duration, Duration, u64)>>>, Arc<AtomicUsize>);

impl Observer for Overlaps {
    fn observe(&self, _service: &ServiceInfo<'_>, event: &LifecycleEvent<'_>) {
        if let LifecycleEvent::TimerOverlap {
            interval,
            late_by,
            skipped,
            ..
        } = event
        {
            self.0.lock().unwrap().push((*interval, *late_by, *skipped));
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A call that outlasts the next times skips them (never a burst, never twice) and reports
/// the skip once.
#[test]
fn a_long_call_skips_the_times_it_missed() {
    let origin = utc(2025, 1, 1, 0, 0, 30);
    let mut cron = CronService::new("* * * * *", "UTC", 3);
    // The call at 00:01 runs until 00:03:30: 00:02 and 00:03 are missed.
    cron.slow = Some((1, Duration::from_secs(150)));
    let overlaps = Overlaps::default();
    let (exit, calls) = run_observed(cron, origin, overlaps.clone());
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    assert_eq!(
        walls(&calls, origin),
        [
            utc(2025, 1, 1, 0, 1, 0),
            utc(2025, 1, 1, 0, 4, 0),
            utc(2025, 1, 1, 0, 5, 0)
        ]
    );
    let reports = overlaps.0.lock().unwrap();
    // From 00:01 to the first missed time, 00:02; 90 s past it; two times skipped.
    assert_eq!(
        *reports,
        [(Duration::from_secs(60), Duration::from_secs(90), 2)]
    );
}

#[test]
fn the_wall_clock_follows_the_origin_and_the_system_clock_without_one() {
    let rt = VirtualRuntime::new();
    let origin = utc(2030, 6, 1, 12, 0, 0);
    let tree = Tree::new(NoHooks, rt.clone(), rt.clone()).with_wall_clock_origin(origin);
    let handle = tree.handle();
    assert_eq!(handle.wall_time(), origin);
    rt.block_on(rt.sleep(Duration::from_secs(90))).unwrap();
    assert_eq!(handle.wall_time(), origin + Duration::from_secs(90));

    // Without an origin, the system clock (which virtual time does not move).
    let tree = Tree::new(NoHooks, rt.clone(), rt.clone());
    let handle = tree.handle();
    let before = SystemTime::now();
    let wall = handle.wall_time();
    assert!(before <= wall && wall <= SystemTime::now());
}

/// Without an origin on a virtual runtime, calls run at meaningless instants but the timer
/// neither spins nor stalls: it serves distinct times and the tree stops.
#[test]
fn a_virtual_runtime_without_an_origin_still_progresses() {
    let service = CronService::new("* * * * * *", "UTC", 3);
    let calls = service.calls.clone();
    let rt = VirtualRuntime::new();
    let tree = Tree::new(service, rt.clone(), rt.clone());
    let exit = rt.block_on(tree.run()).unwrap();
    assert!(matches!(exit.reason(), StopReason::Requested), "{exit:?}");
    assert_eq!(calls.lock().unwrap().len(), 3);
    // Each call sleeps at most two spans of a little over a second.
    assert!(
        rt.now() < Instant::ZERO + Duration::from_secs(20),
        "{:?}",
        rt.now()
    );
}

struct NoHooks;

impl Service for NoHooks {}

#[test]
fn a_stopped_service_takes_no_crontab() {
    let rt = VirtualRuntime::new();
    let tree = Tree::new(NoHooks, rt.clone(), rt.clone());
    let handle = tree.handle();
    rt.block_on(async {
        let run = tree.run();
        let stop = async {
            handle.wait_until_running().await.unwrap();
            handle.stop().await;
        };
        futures_lite::future::zip(run, stop).await
    })
    .unwrap();
    let schedule = Crontab::parse("@daily", "UTC").unwrap();
    let err = handle.crontab(schedule, |_| async { Ok(()) }).unwrap_err();
    assert!(matches!(err, Error::ServiceStopped), "{err:?}");
}
