//! The service tree the firmware runs, and what it checks afterwards.
//!
//! ```text
//! App
//! ├── Ticker      a periodic timer, 100 ms, on absolute deadlines
//! ├── Supervisor  one-for-one
//! │   └── Flaky   crashes once, 30 ms after its first start; restarted
//! ├── Producer    puts 0..20 into a FlowControlQueue (capacity 4)
//! └── Consumer    gets them in a local task; suspends the flow for 50 ms half-way
//! ```
//!
//! Each of Ticker, Flaky and Consumer reports when it reached its goal; the last one asks
//! the root to stop, so the run ends on events, not on a fixed sleep.

use alloc::borrow::Cow;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use critical_section::Mutex;
use log::info;
use mode_core::events::{LifecycleEvent, Observer, ServiceInfo};
use mode_core::runtime::SpawnError;
use mode_core::sync::{FlowControlEvent, FlowControlQueue};
use mode_core::time::{Duration, Instant};
use mode_core::{BoxResult, Context, Dependencies, Error, Service, ServiceHandle, StopReason};
use mode_core::{Strategy, Supervisor};

use crate::checks::Checks;
use crate::heap_used;

const TICK: Duration = Duration::from_millis(100);
const TICKS: usize = 10;
const ITEMS: u32 = 20;
const QUEUE_CAPACITY: usize = 4;
const SUSPEND_AT: u32 = 9;
const SUSPEND_FOR: Duration = Duration::from_millis(50);
/// Goals: Ticker ticked `TICKS` times, Flaky was restarted, Consumer got every item.
const GOALS: usize = 3;

/// What the services record, for the checks.
struct Shared {
    root: Mutex<RefCell<Option<ServiceHandle>>>,
    goals: AtomicUsize,
    ticks: Mutex<RefCell<Vec<Instant>>>,
    received: Mutex<RefCell<Vec<u32>>>,
    produced: AtomicU32,
    /// Puts that completed while the flow was suspended.
    puts_while_suspended: AtomicU32,
    flaky_starts: AtomicU32,
    /// `"Label event"` for every lifecycle event, in order.
    events: Mutex<RefCell<Vec<String>>>,
}

impl Shared {
    fn goal_reached(&self, what: &str) {
        info!("[^Firmware]: goal reached: {what}");
        if self.goals.fetch_add(1, Ordering::AcqRel) + 1 == GOALS {
            let root = critical_section::with(|cs| self.root.borrow_ref(cs).clone());
            if let Some(root) = root {
                root.request_stop();
            }
        }
    }

    fn labels_of(&self, event: &str) -> Vec<String> {
        critical_section::with(|cs| {
            self.events
                .borrow_ref(cs)
                .iter()
                .filter_map(|line| match line.rsplit_once(' ') {
                    Some((label, name)) if name == event => Some(String::from(label)),
                    _ => None,
                })
                .collect()
        })
    }
}

/// Records lifecycle events.
struct Recorder(Arc<Shared>);

impl Observer for Recorder {
    fn observe(&self, service: &ServiceInfo<'_>, event: &LifecycleEvent<'_>) {
        let name = match event {
            LifecycleEvent::Starting => "starting",
            LifecycleEvent::Started => "started",
            LifecycleEvent::Stopping(_) => "stopping",
            LifecycleEvent::ShutdownComplete => "shutdown",
            LifecycleEvent::Crashed(_) => "crashed",
            LifecycleEvent::Restarting => "restarting",
            _ => return,
        };
        let line = format!("{} {}", service.label, name);
        critical_section::with(|cs| self.0.events.borrow_ref_mut(cs).push(line));
    }
}

struct App {
    shared: Arc<Shared>,
}

impl Service for App {
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed("App")
    }

    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        let flow = Arc::new(FlowControlEvent::new());
        let queue = FlowControlQueue::new(QUEUE_CAPACITY, flow.clone());
        deps.add(Ticker {
            shared: self.shared.clone(),
        });
        deps.add(Supervisor::new(Strategy::OneForOne).with_child(Flaky {
            shared: self.shared.clone(),
        }));
        deps.add(Producer {
            shared: self.shared.clone(),
            queue: queue.clone(),
        });
        deps.add(Consumer {
            shared: self.shared.clone(),
            queue,
            flow,
        });
    }
}

struct Ticker {
    shared: Arc<Shared>,
}

impl Service for Ticker {
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed("Ticker")
    }

    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let shared = self.shared.clone();
        cx.timer(TICK, move |me| {
            let now = me.now();
            let count = critical_section::with(|cs| {
                let mut ticks = shared.ticks.borrow_ref_mut(cs);
                ticks.push(now);
                ticks.len()
            });
            if count == TICKS {
                shared.goal_reached("Ticker ticked 10 times");
            }
            async { Ok(()) }
        })?;
        Ok(())
    }
}

struct Flaky {
    shared: Arc<Shared>,
}

impl Service for Flaky {
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed("Flaky")
    }

    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let starts = self.shared.flaky_starts.fetch_add(1, Ordering::AcqRel) + 1;
        if starts == 1 {
            let handle = cx.handle().clone();
            cx.spawn(async move {
                handle.sleep(Duration::from_millis(30)).await?;
                Err("simulated fault".into())
            })?;
        } else if starts == 2 {
            self.shared.goal_reached("Flaky restarted after its crash");
        }
        Ok(())
    }
}

struct Producer {
    shared: Arc<Shared>,
    queue: FlowControlQueue<u32>,
}

impl Service for Producer {
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed("Producer")
    }

    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        let queue = self.queue.clone();
        let shared = self.shared.clone();
        cx.spawn(async move {
            for item in 0..ITEMS {
                if queue.put(item).await.is_err() {
                    return Err("queue refused an item".into());
                }
                shared.produced.fetch_add(1, Ordering::AcqRel);
            }
            Ok(())
        })?;
        Ok(())
    }
}

struct Consumer {
    shared: Arc<Shared>,
    queue: FlowControlQueue<u32>,
    flow: Arc<FlowControlEvent>,
}

impl Service for Consumer {
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed("Consumer")
    }

    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        self.flow.resume();
        let (queue, flow, shared) = (self.queue.clone(), self.flow.clone(), self.shared.clone());
        let handle = cx.handle().clone();
        // Not `Send` (an `Rc`): runs through `spawn_local`, polled by the tree itself.
        let count = Rc::new(Cell::new(0u32));
        cx.spawn_local(async move {
            while count.get() < ITEMS {
                let Ok(item) = queue.get().await else {
                    return Err("queue closed".into());
                };
                critical_section::with(|cs| shared.received.borrow_ref_mut(cs).push(item));
                count.set(count.get() + 1);
                if item == SUSPEND_AT {
                    flow.suspend();
                    let before = shared.produced.load(Ordering::Acquire);
                    handle.sleep(SUSPEND_FOR).await?;
                    let during = shared.produced.load(Ordering::Acquire) - before;
                    shared.puts_while_suspended.store(during, Ordering::Release);
                    flow.resume();
                }
            }
            shared.goal_reached("Consumer received 20 items");
            Ok(())
        })?;
        Ok(())
    }
}

/// Starts `n` idle services: the unit of the heap-per-service measurement.
struct Flat {
    n: usize,
    started_heap: Rc<Cell<usize>>,
}

struct Idle;

impl Service for Idle {}

impl Service for Flat {
    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        for _ in 0..self.n {
            deps.add(Idle);
        }
    }

    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        self.started_heap.set(heap_used());
        cx.handle().request_stop();
        Ok(())
    }
}

/// Heap in use (bytes) for a tree of `1 + n` services: once created, and once started.
async fn heap_for(n: usize) -> (usize, usize) {
    let base = heap_used();
    let started_heap = Rc::new(Cell::new(0));
    let tree = mode_embassy::tree(Flat {
        n,
        started_heap: started_heap.clone(),
    });
    let created = heap_used() - base;
    tree.run().await;
    (created, started_heap.get() - base)
}

/// Spawns one task more than its tree's limit.
struct Greedy {
    result: Rc<Cell<Option<core::result::Result<(), Error>>>>,
}

impl Service for Greedy {
    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        cx.spawn(core::future::pending())?;
        cx.spawn(core::future::pending())?;
        self.result
            .set(Some(cx.spawn(core::future::pending()).map(drop)));
        cx.handle().request_stop();
        Ok(())
    }
}

/// Runs the trees and records the checks; every tree's memory must be freed afterwards.
pub async fn run(checks: &mut Checks) {
    let heap_at_start = heap_used();
    app_tree(checks).await;
    task_limit(checks).await;
    heap_per_service(checks).await;
    let leaked = heap_used().saturating_sub(heap_at_start);
    info!("[^Firmware]: heap in use after every tree was dropped: {leaked} bytes above the start");
    checks.check("every tree's memory was freed", leaked == 0);
}

/// The tree of the module docs.
async fn app_tree(checks: &mut Checks) {
    let shared = Arc::new(Shared {
        root: Mutex::new(RefCell::new(None)),
        goals: AtomicUsize::new(0),
        ticks: Mutex::new(RefCell::new(Vec::new())),
        received: Mutex::new(RefCell::new(Vec::new())),
        produced: AtomicU32::new(0),
        puts_while_suspended: AtomicU32::new(u32::MAX),
        flaky_starts: AtomicU32::new(0),
        events: Mutex::new(RefCell::new(Vec::new())),
    });
    let tree = mode_embassy::tree(App {
        shared: shared.clone(),
    })
    .with_task_limit(8)
    .with_observer(Recorder(shared.clone()));
    critical_section::with(|cs| *shared.root.borrow_ref_mut(cs) = Some(tree.handle()));
    let started = embassy_time::Instant::now();
    let exit = tree.run().await;
    let took = started.elapsed().as_millis();
    critical_section::with(|cs| shared.root.borrow_ref_mut(cs).take());
    info!("[^Firmware]: tree stopped after {took} ms: {exit}");

    checks.check(
        "the tree stopped cleanly",
        matches!(exit.reason(), StopReason::Requested),
    );

    let ticks = critical_section::with(|cs| shared.ticks.borrow_ref(cs).clone());
    checks.check("Ticker ticked at least 10 times", ticks.len() >= TICKS);
    let on_grid = ticks.iter().enumerate().all(|(k, tick)| {
        let due = ticks[0] + TICK * u32::try_from(k).unwrap_or(u32::MAX);
        let off = if *tick > due {
            *tick - due
        } else {
            due - *tick
        };
        off <= Duration::from_millis(1)
    });
    checks.check("every tick within 1 ms of start + k * 100 ms", on_grid);

    let starts = shared.flaky_starts.load(Ordering::Acquire);
    let events = critical_section::with(|cs| shared.events.borrow_ref(cs).clone());
    let crashed = events.iter().any(|e| e == "Flaky crashed");
    let restarted = events.iter().any(|e| e == "Flaky restarting");
    checks.check(
        "Flaky crashed once and the supervisor restarted it",
        starts == 2 && crashed && restarted,
    );

    let received = critical_section::with(|cs| shared.received.borrow_ref(cs).clone());
    let expected: Vec<u32> = (0..ITEMS).collect();
    checks.check("Consumer received 0..20 in order", received == expected);
    checks.check(
        "no put completed while the flow was suspended",
        shared.puts_while_suspended.load(Ordering::Acquire) == 0,
    );

    // Start order: parents log `Starting` before their children, children start in
    // declaration order; stop order is the reverse, parents finishing last.
    let starting = shared.labels_of("starting");
    let stopping = shared.labels_of("stopping");
    let shutdown = shared.labels_of("shutdown");
    let first_start: Vec<&str> = first_occurrences(&starting);
    let last_stop: Vec<&str> = last_occurrences(&stopping);
    let last_shutdown: Vec<&str> = last_occurrences(&shutdown);
    info!("[^Firmware]: start order {first_start:?}");
    info!("[^Firmware]: stop order {last_stop:?}");
    checks.check(
        "services started in declaration order",
        first_start
            == [
                "App",
                "Ticker",
                "OneForOneSupervisor",
                "Flaky",
                "Producer",
                "Consumer",
            ],
    );
    checks.check(
        "services stopped in reverse order",
        last_stop
            == [
                "App",
                "Consumer",
                "Producer",
                "OneForOneSupervisor",
                "Flaky",
                "Ticker",
            ],
    );
    checks.check(
        "each parent shut down after its children",
        last_shutdown
            == [
                "Consumer",
                "Producer",
                "Flaky",
                "OneForOneSupervisor",
                "Ticker",
                "App",
            ],
    );
}

/// Spawning beyond the tree's task limit is refused.
async fn task_limit(checks: &mut Checks) {
    let full = Rc::new(Cell::new(None));
    let tree = mode_embassy::tree(Greedy {
        result: full.clone(),
    })
    .with_task_limit(2);
    tree.run().await;
    checks.check(
        "a third task under a limit of two is refused with SpawnError::Full",
        matches!(full.take(), Some(Err(Error::Spawn(SpawnError::Full)))),
    );
}

/// The heap a service costs, created and running.
async fn heap_per_service(checks: &mut Checks) {
    let (created_1, started_1) = heap_for(1).await;
    let (created_17, started_17) = heap_for(17).await;
    let per_created = (created_17 - created_1) / 16;
    let per_started = (started_17 - started_1) / 16;
    info!(
        "[^Firmware]: heap per service: {per_created} bytes created, {per_started} bytes running \
         (trees of 2 and 18 services: {created_1}/{created_17} bytes created, \
         {started_1}/{started_17} bytes running)"
    );
    checks.check(
        "a service costs less than 1 KiB of heap",
        per_started < 1024,
    );
}

fn first_occurrences(labels: &[String]) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::new();
    for label in labels {
        if !seen.contains(&label.as_str()) {
            seen.push(label);
        }
    }
    seen
}

fn last_occurrences(labels: &[String]) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::new();
    for label in labels.iter().rev() {
        if !seen.contains(&label.as_str()) {
            seen.push(label);
        }
    }
    seen.reverse();
    seen
}
