//! Thread services: a service on its own OS thread, with its own executor, for blocking
//! clients and CPU-bound loops (mode's `ServiceThread` and `QueuedServiceThread`).
//!
//! A [`ServiceThread`] wraps a service `S`. In the parent's tree it is a child like any
//! other: it starts, stops, restarts and crashes there. When it starts it spawns one
//! dedicated, named OS thread (not a pool thread), builds an executor on it with a
//! [`ThreadRuntime`] (`mode::tokio::TokioThreadRuntime`, `mode::smol::SmolThreadRuntime`),
//! and runs a tree of its own there with `S` at the root. Every hook of `S` and of the
//! services below it runs on that thread, so a hook may block it briefly without stalling
//! the parent's driver.
//!
//! A [`ThreadHandle`] sends work to the thread from any task or thread:
//! [`call_thread`](ThreadHandle::call_thread) runs a closure there and returns its result,
//! [`cast_thread`](ThreadHandle::cast_thread) queues one without waiting. The work goes
//! through a bounded [`FlowControlQueue`]
//! ([`DEFAULT_QUEUE_CAPACITY`] items unless set): a full queue makes `call_thread` wait
//! (back-pressure) and `cast_thread` fail with [`ThreadCallError::Full`].
//!
//! # The rules
//!
//! - **Start.** The thread service is started once the thread's tree is running (its root
//!   has run `on_started`); if that tree fails to start, the thread service's start fails
//!   with the reason ([`ThreadError`]). Work sent before then waits in the queue and runs
//!   once the root has started.
//! - **Work.** Closures run one at a time, in the order they were queued, on the thread,
//!   between the polls of the thread's tree (a long closure holds the thread's executor,
//!   which is what the thread is for).
//! - **Stop.** Stopping the thread service closes the queue: work offered from then on is
//!   rejected with [`ThreadCallError::Stopping`]. **Work queued before the stop still runs**,
//!   in order; once the queue is empty the thread's tree is asked to stop, and the thread
//!   service waits for the thread to end (its tree stopped, its executor shut down, the
//!   thread joined). Work left in the queue when the thread's tree stops for another
//!   reason (a crash) is dropped, and its callers get [`ThreadCallError::Stopped`].
//! - **Stop timeout.** The wait for the thread is bounded by the thread service's stop
//!   timeout ([`ServiceThread::with_stop_timeout`], else the tree's default). A thread that
//!   does not end in time is logged by name and left running, and the stop is recorded as
//!   a stop timeout, an unclean stop of the run
//!   ([`Exit::unclean_stops`](mode_core::Exit::unclean_stops)).
//! - **Never started.** Stopping a thread service that never started (or whose thread
//!   never began its tree) does not wait for a thread.
//! - **Crash.** A crash of the thread's tree (a hook or task that failed or panicked on the
//!   thread), a panic in a closure sent with `call_thread` or `cast_thread`, or a panic of
//!   the thread itself crashes the thread service in the parent's tree with a
//!   [`ThreadError`] that names the thread and the reason; a supervisor above it restarts it
//!   on a new thread. (A closure's *errors* are its result's business: return a `Result`
//!   and `call_thread` hands it back.) A thread's tree that stops on its own, cleanly, stops
//!   the thread service too.
//! - **Restart.** A restart stops the thread as above and starts a new one; the same
//!   service value `S` moves to the new thread (its `on_restart` runs there), and every
//!   [`ThreadHandle`] sends to the new thread.
//! - **Keepalive.** The thread blocks on its tree until the tree stops, whether or not any
//!   task is pending on it: a thread service with nothing to do stays up (mode needed a
//!   keepalive coroutine for that).
//!
//! Python's `QueuedServiceThread` is every `ServiceThread` here: each has its queue.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use mode_core::runtime::Timer;
use mode_core::sync::{Event, FlowControlEvent, FlowControlQueue, TryPutError};
use mode_core::{
    BoxResult, Context, Crash, Dependencies, Exit, Service, ServiceHandle, StopReason, Tree,
};

/// The number of calls a thread service's queue holds unless set
/// ([`ServiceThread::with_queue_capacity`]).
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

// ===== ThreadRuntime =====

/// An executor a [`ServiceThread`] builds on its own thread and runs its tree on.
///
/// `mode-tokio` implements it with a current-thread tokio runtime
/// (`mode::tokio::TokioThreadRuntime`), `mode-smol` with an executor that the thread alone
/// runs (`mode::smol::SmolThreadRuntime`). Every method is called on the service's thread.
pub trait ThreadRuntime: Sized + 'static {
    /// The timer of the trees it runs.
    type Timer: Timer;

    /// Builds the executor, on the thread that will run it.
    ///
    /// # Errors
    ///
    /// When the executor cannot be built; the thread service's start then fails with it.
    fn build() -> io::Result<Self>;

    /// A tree for `root` whose tasks run on this executor (on this thread).
    fn tree<S: Service>(&self, root: S) -> Tree<Self::Timer>;

    /// Runs `future` (the tree's driver) to completion on the calling thread, with the
    /// executor running.
    fn block_on<F: Future>(&self, future: F) -> F::Output;
}

// ===== errors =====

/// Why a call through a [`ThreadHandle`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThreadCallError {
    /// The thread service is not running: it never started, or it has stopped.
    NotRunning,
    /// The thread service is stopping: it takes no new work.
    Stopping,
    /// The thread ended (its tree crashed or stopped) before it ran the call.
    Stopped,
    /// The queue is full ([`ThreadHandle::cast_thread`] does not wait for room).
    Full,
    /// The closure panicked, with this message; the thread service crashes with it.
    Panicked(String),
}

impl fmt::Display for ThreadCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThreadCallError::NotRunning => f.write_str("the thread service is not running"),
            ThreadCallError::Stopping => {
                f.write_str("the thread service is stopping and takes no new work")
            }
            ThreadCallError::Stopped => {
                f.write_str("the service's thread ended before it ran the call")
            }
            ThreadCallError::Full => f.write_str("the thread service's queue is full"),
            ThreadCallError::Panicked(message) => {
                write!(f, "the call panicked on the service's thread: {message}")
            }
        }
    }
}

impl std::error::Error for ThreadCallError {}

/// Why a [`ServiceThread`] crashed, or could not start: the name of its thread and what
/// happened there ([`ThreadErrorKind`]).
///
/// ```
/// use mode::worker::{ThreadError, ThreadErrorKind};
///
/// # fn check(err: &ThreadError) {
/// match err.kind() {
///     ThreadErrorKind::Panicked(message) => eprintln!("{} panicked: {message}", err.thread()),
///     other => eprintln!("{}: {other}", err.thread()),
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct ThreadError {
    thread: String,
    kind: ThreadErrorKind,
}

/// What went wrong on a service's thread ([`ThreadError::kind`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum ThreadErrorKind {
    /// The thread could not be spawned, or its executor built.
    Spawn(io::Error),
    /// A closure sent to the thread, or the thread itself outside the tree's hooks and
    /// tasks, panicked with this message.
    Panicked(String),
    /// The thread's tree crashed: the service at its root, or one below it without a
    /// supervisor, failed with this reason.
    Crashed(Crash),
    /// The thread's tree stopped, but not cleanly (these services failed to stop).
    Unclean(String),
    /// The thread's tree stopped before it had started.
    StoppedEarly,
    /// The previous thread has not ended (its stop timed out), and it still holds the
    /// service: the service cannot start on a new thread.
    StillRunning,
}

impl ThreadError {
    fn new(thread: &str, kind: ThreadErrorKind) -> Self {
        ThreadError {
            thread: thread.to_owned(),
            kind,
        }
    }

    /// The name of the thread.
    #[must_use]
    pub fn thread(&self) -> &str {
        &self.thread
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &ThreadErrorKind {
        &self.kind
    }
}

impl fmt::Display for ThreadErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThreadErrorKind::Spawn(err) => write!(f, "cannot start: {err}"),
            ThreadErrorKind::Panicked(message) => write!(f, "panicked: {message}"),
            ThreadErrorKind::Crashed(crash) => fmt::Display::fmt(crash, f),
            ThreadErrorKind::Unclean(services) => {
                write!(f, "its tree did not stop cleanly: {services}")
            }
            ThreadErrorKind::StoppedEarly => f.write_str("its tree stopped before it started"),
            ThreadErrorKind::StillRunning => {
                f.write_str("the previous thread has not ended and still holds the service")
            }
        }
    }
}

impl fmt::Display for ThreadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "thread `{}`: {}", self.thread, self.kind)
    }
}

impl std::error::Error for ThreadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ThreadErrorKind::Spawn(err) => Some(err),
            ThreadErrorKind::Crashed(crash) => Some(crash),
            _ => None,
        }
    }
}

// ===== shared state =====

/// A closure queued for the thread; `Err` carries the message of a panic.
struct Job(Box<dyn FnOnce() -> Result<(), String> + Send>);

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Job")
    }
}

/// Where a thread service is, for its handles.
const IDLE: u8 = 0;
const RUNNING: u8 = 1;
const STOPPING: u8 = 2;

/// What a thread service and its handles share across runs.
struct Shared {
    name: String,
    capacity: usize,
    /// [`IDLE`], [`RUNNING`] (starting or running), [`STOPPING`].
    phase: AtomicU8,
    /// The current thread's run, while there is one.
    run: Mutex<Option<Arc<Run>>>,
}

/// One thread: its queue, and how it is doing.
struct Run {
    queue: FlowControlQueue<Job>,
    state: Mutex<RunState>,
    /// Set once the thread has finished its work (the outcome is in `state`).
    finished: Event,
}

#[derive(Default)]
struct RunState {
    /// The root of the thread's tree, once built.
    inner: Option<ServiceHandle>,
    /// The parent asked the thread to stop.
    stop_asked: bool,
    /// The loop that runs the queued work has started on the thread.
    work_started: bool,
    /// The thread, until joined.
    thread: Option<JoinHandle<()>>,
    /// How the thread ended.
    outcome: Option<Result<(), ThreadErrorKind>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Run {
    fn new(capacity: usize) -> Self {
        Run {
            queue: FlowControlQueue::new(capacity, Arc::new(FlowControlEvent::new_resumed())),
            state: Mutex::new(RunState::default()),
            finished: Event::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, RunState> {
        lock(&self.state)
    }

    /// Records how the thread ended; the thread's last act.
    fn finish(&self, outcome: Result<(), ThreadErrorKind>) {
        self.state().outcome = Some(outcome);
        self.finished.set();
    }

    /// Once finished: joins the thread (it only has to return) and takes the outcome.
    fn join(&self) -> Result<(), ThreadErrorKind> {
        let (thread, outcome) = {
            let mut state = self.state();
            (state.thread.take(), state.outcome.take())
        };
        if let Some(thread) = thread {
            // The thread set `finished` as its last act: this waits for it to return.
            let _ = thread.join();
        }
        outcome.unwrap_or(Ok(()))
    }
}

// ===== ThreadHandle =====

/// Sends work to a [`ServiceThread`]'s thread, from any task or thread.
///
/// Cheap to clone, `Send + Sync`. It outlives restarts: after a restart, it sends to the
/// new thread.
///
/// ```
/// use mode::worker::ThreadCallError;
/// use mode::tokio::ServiceThread;
/// use mode::Service;
///
/// struct Db;
/// impl Service for Db {}
///
/// let db = ServiceThread::new(Db);
/// let handle = db.handle();
/// // Not started yet:
/// assert_eq!(handle.cast_thread(|| ()), Err(ThreadCallError::NotRunning));
/// ```
#[derive(Clone)]
pub struct ThreadHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for ThreadHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadHandle")
            .field("thread", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl ThreadHandle {
    /// The name of the service's thread.
    #[must_use]
    pub fn thread_name(&self) -> &str {
        &self.shared.name
    }

    /// Whether the thread service is running (or starting), so that it takes work.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.shared.phase.load(Ordering::Acquire) == RUNNING
    }

    /// The number of calls waiting in the queue.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.current().map_or(0, |run| run.queue.len())
    }

    /// The most calls the queue holds.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Runs `call` on the service's thread and returns its result; waits for room while
    /// the queue is full.
    ///
    /// ```
    /// use mode::tokio::ServiceThread;
    /// use mode::Service;
    ///
    /// struct Db;
    /// impl Service for Db {}
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let db = ServiceThread::new(Db).with_thread_name("db");
    /// let handle = db.handle();
    /// let tree = mode::tokio::tree(db);
    /// let root = tree.handle();
    /// let (exit, name) = futures_lite::future::zip(tree.run(), async {
    ///     root.wait_until_running().await.unwrap();
    ///     let name = handle.call_thread(|| std::thread::current().name().map(str::to_owned));
    ///     let name = name.await.unwrap();
    ///     root.stop().await;
    ///     name
    /// })
    /// .await;
    /// assert!(exit.is_clean(), "{exit}");
    /// assert_eq!(name.as_deref(), Some("db"));
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ThreadCallError::NotRunning`] or [`Stopping`](ThreadCallError::Stopping) when the
    /// thread service takes no work, [`Stopped`](ThreadCallError::Stopped) when the thread
    /// ended before running the call, [`Panicked`](ThreadCallError::Panicked) when `call`
    /// panicked (which also crashes the thread service).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before the call is queued drops the call; once queued, the call
    /// runs and its result is dropped.
    pub async fn call_thread<F, T>(&self, call: F) -> Result<T, ThreadCallError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let run = self.current().ok_or_else(|| self.rejected(None))?;
        let (reply, result) = oneshot::channel();
        let job = Job(Box::new(move || {
            match catch_unwind(AssertUnwindSafe(call)) {
                Ok(value) => {
                    let _ = reply.send(Ok(value));
                    Ok(())
                }
                Err(payload) => {
                    let message = panic_message(&*payload);
                    let _ = reply.send(Err(message.clone()));
                    Err(message)
                }
            }
        }));
        if run.queue.put(job).await.is_err() {
            return Err(self.rejected(Some(&run)));
        }
        drop(run);
        match result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(message)) => Err(ThreadCallError::Panicked(message)),
            Err(_) => Err(ThreadCallError::Stopped),
        }
    }

    /// Queues `call` to run on the service's thread, without waiting for room or for the
    /// call. A panic in `call` crashes the thread service.
    ///
    /// # Errors
    ///
    /// [`ThreadCallError::Full`] when the queue is full, [`NotRunning`](ThreadCallError::NotRunning)
    /// or [`Stopping`](ThreadCallError::Stopping) when the thread service takes no work.
    pub fn cast_thread<F>(&self, call: F) -> Result<(), ThreadCallError>
    where
        F: FnOnce() + Send + 'static,
    {
        let run = self.current().ok_or_else(|| self.rejected(None))?;
        let job = Job(Box::new(move || {
            catch_unwind(AssertUnwindSafe(call)).map_err(|payload| panic_message(&*payload))
        }));
        match run.queue.try_put(job) {
            Ok(()) => Ok(()),
            Err(TryPutError::Full(_) | TryPutError::Suspended(_)) => Err(ThreadCallError::Full),
            Err(TryPutError::Closed(_)) => Err(self.rejected(Some(&run))),
        }
    }

    fn current(&self) -> Option<Arc<Run>> {
        lock(&self.shared.run).clone()
    }

    /// Why work offered now is refused.
    fn rejected(&self, run: Option<&Run>) -> ThreadCallError {
        match self.shared.phase.load(Ordering::Acquire) {
            STOPPING => ThreadCallError::Stopping,
            RUNNING if run.is_some() => ThreadCallError::Stopped,
            _ => ThreadCallError::NotRunning,
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

// ===== ServiceThread =====

/// The hook that comes before `on_start` on the thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    FirstStart,
    Restart,
    Nothing,
}

/// A service `S` run on a dedicated, named OS thread with its own executor (`R`), started,
/// stopped, restarted and supervised from the parent's tree like any child; see
/// [the module](self) for the rules.
///
/// The adapters name it for their runtime: `mode::tokio::ServiceThread<S>`,
/// `mode::smol::ServiceThread<S>`.
///
/// Wrapping a blocking client:
///
/// ```
/// use mode::tokio::ServiceThread;
/// use mode::worker::ThreadHandle;
/// use mode::{BoxResult, Context, Dependencies, Service};
/// use std::cell::RefCell;
///
/// thread_local! {
///     // A blocking client that is not `Send`: it lives on the service's thread.
///     static CLIENT: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
/// }
///
/// struct Store;
///
/// impl Service for Store {
///     async fn on_start(&mut self, _cx: &Context<'_>) -> BoxResult {
///         CLIENT.with(|client| *client.borrow_mut() = Some(Vec::new())); // connect
///         Ok(())
///     }
/// }
///
/// /// What the rest of the program calls.
/// #[derive(Clone)]
/// struct StoreClient(ThreadHandle);
///
/// impl StoreClient {
///     async fn push(&self, value: &str) -> BoxResult<usize> {
///         let value = value.to_owned();
///         let len = self.0.call_thread(move || {
///             CLIENT.with(|client| {
///                 let mut client = client.borrow_mut();
///                 let client = client.as_mut().expect("connected in on_start");
///                 client.push(value); // a blocking call, on the store's thread
///                 client.len()
///             })
///         })
///         .await?;
///         Ok(len)
///     }
/// }
///
/// struct App;
///
/// impl Service for App {
///     fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
///         let store = ServiceThread::new(Store);
///         let client = StoreClient(store.handle());
///         deps.add(store);
///         deps.add(mode::from_awaitable(async move {
///             assert_eq!(client.push("a").await?, 1);
///             assert_eq!(client.push("b").await?, 2);
///             Ok(())
///         }));
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let tree = mode::tokio::tree(App);
/// let app = tree.handle();
/// let (exit, ()) = futures_lite::future::zip(tree.run(), async {
///     app.wait_until_running().await.unwrap();
///     app.children()[1].wait_until_stopped().await;
///     app.stop().await;
/// })
/// .await;
/// assert!(exit.is_clean(), "{exit}");
/// # }
/// ```
pub struct ServiceThread<S, R> {
    shared: Arc<Shared>,
    /// The service while it is not on a thread; its thread's tree puts it back when done.
    slot: Arc<Mutex<Option<S>>>,
    label: Cow<'static, str>,
    stop_timeout: Option<Duration>,
    before: Before,
    /// The current thread, from `on_start` to the end of `on_stop`.
    run: Option<Arc<Run>>,
    runtime: PhantomData<fn() -> R>,
}

impl<S, R> fmt::Debug for ServiceThread<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceThread")
            .field("label", &self.label)
            .field("thread", &self.shared.name)
            .field("capacity", &self.shared.capacity)
            .field("stop_timeout", &self.stop_timeout)
            .finish_non_exhaustive()
    }
}

impl<S: Service + Send, R: ThreadRuntime> ServiceThread<S, R> {
    /// `service` on a thread of its own, named after the service's label, with a queue of
    /// [`DEFAULT_QUEUE_CAPACITY`] calls.
    pub fn new(service: S) -> Self {
        let label = service.label();
        ServiceThread {
            shared: Arc::new(Shared {
                name: label.clone().into_owned(),
                capacity: DEFAULT_QUEUE_CAPACITY,
                phase: AtomicU8::new(IDLE),
                run: Mutex::new(None),
            }),
            slot: Arc::new(Mutex::new(Some(service))),
            label,
            stop_timeout: None,
            before: Before::FirstStart,
            runtime: PhantomData,
            run: None,
        }
    }

    /// Names the thread `name` (what `std::thread::current().name()` returns on it; the
    /// operating system may show only its first 15 bytes).
    ///
    /// # Panics
    ///
    /// If a [`handle`](Self::handle) was taken already.
    #[must_use]
    pub fn with_thread_name(mut self, name: impl Into<String>) -> Self {
        self.shared_mut().name = name.into();
        self
    }

    /// Holds at most `capacity` calls in the queue.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero, or a [`handle`](Self::handle) was taken already.
    #[must_use]
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        assert!(
            capacity > 0,
            "a thread service's queue needs room for a call"
        );
        self.shared_mut().capacity = capacity;
        self
    }

    /// Bounds the stop (the queued work, the thread's tree's stop, the thread's end) by
    /// `timeout` instead of the tree's default stop timeout.
    #[must_use]
    pub fn with_stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = Some(timeout);
        self
    }

    /// A handle that sends work to the thread.
    #[must_use]
    pub fn handle(&self) -> ThreadHandle {
        ThreadHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    fn shared_mut(&mut self) -> &mut Shared {
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => shared,
            None => panic!("configure a ServiceThread before taking its handle"),
        }
    }
}

impl<S: Service + Send, R: ThreadRuntime> Service for ServiceThread<S, R> {
    fn label(&self) -> Cow<'static, str> {
        self.label.clone()
    }

    /// Debug: the service logs its own lifecycle from its thread, under the same label.
    fn lifecycle_log_level(&self) -> log::Level {
        log::Level::Debug
    }

    fn stop_timeout(&self) -> Option<Duration> {
        self.stop_timeout
    }

    async fn on_restart(&mut self, _cx: &Context<'_>) -> BoxResult {
        self.before = Before::Restart;
        Ok(())
    }

    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let name = self.shared.name.clone();
        let Some(service) = lock(&self.slot).take() else {
            return Err(ThreadError::new(&name, ThreadErrorKind::StillRunning).into());
        };
        let run = Arc::new(Run::new(self.shared.capacity));
        *lock(&self.shared.run) = Some(Arc::clone(&run));
        self.shared.phase.store(RUNNING, Ordering::Release);
        self.run = Some(Arc::clone(&run));
        let (ready, started) = oneshot::channel();
        let carrier = Carrier {
            inner: Some(service),
            slot: Arc::clone(&self.slot),
            before: self.before,
            ready: Some(ready),
            run: Arc::clone(&run),
        };
        self.before = Before::Nothing;
        let depth = depth_below(cx.handle());
        let on_thread = Arc::clone(&run);
        let spawned = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || thread_main::<S, R>(carrier, &on_thread, depth));
        match spawned {
            Ok(thread) => run.state().thread = Some(thread),
            Err(err) => {
                // The closure, and the service in it, went back to the slot when dropped.
                self.run = None;
                *lock(&self.shared.run) = None;
                self.shared.phase.store(IDLE, Ordering::Release);
                return Err(ThreadError::new(&name, ThreadErrorKind::Spawn(err)).into());
            }
        }
        if started.await.is_err() {
            // The thread's tree ended without starting: say why.
            run.finished.wait().await;
            let outcome = run.join();
            self.run = None;
            *lock(&self.shared.run) = None;
            self.shared.phase.store(IDLE, Ordering::Release);
            let kind = outcome.err().unwrap_or(ThreadErrorKind::StoppedEarly);
            return Err(ThreadError::new(&name, kind).into());
        }
        // The thread's tree, for the dump (taken out of the run's lock first).
        let inner = run.state().inner.clone();
        cx.set_nested_tree(inner.as_ref());
        // Watches the thread while it runs: its end crashes (or stops) this service.
        let me = cx.handle().clone();
        let shared = Arc::clone(&self.shared);
        // Polled by the tree's driver, so that a stop cancels it at once.
        cx.spawn_local_named("thread", async move {
            run.finished.wait().await;
            if shared.phase.load(Ordering::Acquire) == STOPPING {
                return Ok(()); // `on_stop` takes it from here.
            }
            match run.join() {
                Ok(()) => {
                    me.request_stop();
                    Ok(())
                }
                Err(kind) => Err(ThreadError::new(&shared.name, kind).into()),
            }
        })?;
        Ok(())
    }

    async fn on_stop(&mut self, cx: &Context<'_>) -> BoxResult {
        let Some(run) = self.run.take() else {
            // Never started: no thread to wait for.
            return Ok(());
        };
        self.shared.phase.store(STOPPING, Ordering::Release);
        {
            let mut state = run.state();
            state.stop_asked = true;
            run.queue.close();
            // The thread drains the queue, then stops its tree; until its work loop runs,
            // stop the tree from here.
            if !state.work_started {
                if let Some(inner) = &state.inner {
                    inner.request_stop();
                }
            }
        }
        let abandoned = Abandoned {
            run: Some(&run),
            handle: cx.handle(),
            thread: &self.shared.name,
        };
        run.finished.wait().await;
        abandoned.disarm();
        let outcome = run.join();
        cx.set_nested_tree(None);
        *lock(&self.shared.run) = None;
        self.shared.phase.store(IDLE, Ordering::Release);
        match outcome {
            Ok(()) => Ok(()),
            Err(kind) => Err(ThreadError::new(&self.shared.name, kind).into()),
        }
    }
}

/// The number of dashes of the service in the log (the thread's root logs as the
/// service, under its label).
fn depth_below(handle: &ServiceHandle) -> usize {
    let mut depth = 1;
    let mut parent = handle.parent();
    while let Some(service) = parent {
        depth += 1;
        parent = service.parent();
    }
    depth
}

/// Logs the thread by name when the wait for it is cut short (the stop timed out).
struct Abandoned<'a> {
    run: Option<&'a Run>,
    handle: &'a ServiceHandle,
    thread: &'a str,
}

impl Abandoned<'_> {
    fn disarm(mut self) {
        self.run = None;
    }
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        if let Some(run) = self.run {
            if !run.finished.is_set() {
                self.handle.log(
                    log::Level::Error,
                    format_args!(
                        "Thread `{}` did not finish within the stop timeout; left running",
                        self.thread
                    ),
                );
            }
        }
    }
}

impl<S, R> Drop for ServiceThread<S, R> {
    fn drop(&mut self) {
        // A tree dropped while its thread runs (the parent's run was abandoned): tell the
        // thread to stop, without waiting for it.
        if let Some(run) = self.run.take() {
            run.queue.close();
            let mut state = run.state();
            state.stop_asked = true;
            if let Some(inner) = &state.inner {
                inner.request_stop();
            }
        }
    }
}

// ===== the thread =====

/// The root of the thread's tree: `S`, with the work loop and the start signal. `S` goes
/// back to the slot when the tree drops it.
struct Carrier<S> {
    inner: Option<S>,
    slot: Arc<Mutex<Option<S>>>,
    before: Before,
    ready: Option<oneshot::Sender<()>>,
    run: Arc<Run>,
}

impl<S> Drop for Carrier<S> {
    fn drop(&mut self) {
        if let Some(service) = self.inner.take() {
            *lock(&self.slot) = Some(service);
        }
    }
}

impl<S: Service> Service for Carrier<S> {
    fn label(&self) -> Cow<'static, str> {
        self.inner
            .as_ref()
            .map_or(Cow::Borrowed("ServiceThread"), Service::label)
    }

    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        if let Some(service) = &mut self.inner {
            service.on_init_dependencies(deps);
        }
    }

    fn stop_timeout(&self) -> Option<Duration> {
        self.inner.as_ref().and_then(Service::stop_timeout)
    }

    fn lifecycle_log_level(&self) -> log::Level {
        self.inner
            .as_ref()
            .map_or(log::Level::Info, Service::lifecycle_log_level)
    }

    fn wait_for_shutdown(&self) -> bool {
        self.inner.as_ref().is_some_and(Service::wait_for_shutdown)
    }

    async fn on_first_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let Some(service) = &mut self.inner else {
            return Ok(());
        };
        match self.before {
            Before::FirstStart => service.on_first_start(cx).await,
            Before::Restart => service.on_restart(cx).await,
            Before::Nothing => Ok(()),
        }
    }

    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        match &mut self.inner {
            Some(service) => service.on_start(cx).await,
            None => Ok(()),
        }
    }

    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        if let Some(service) = &mut self.inner {
            service.on_started(cx).await?;
        }
        let run = Arc::clone(&self.run);
        let me = cx.handle().clone();
        cx.spawn_local_named("call_thread", async move {
            run.state().work_started = true;
            loop {
                match run.queue.get().await {
                    Ok(Job(call)) => {
                        if let Err(message) = call() {
                            return Err(format!("a call on the thread panicked: {message}").into());
                        }
                    }
                    Err(_closed) => {
                        // Stopping, and every queued call has run.
                        me.request_stop();
                        return Ok(());
                    }
                }
            }
        })?;
        if let Some(ready) = self.ready.take() {
            let _ = ready.send(());
        }
        Ok(())
    }

    async fn on_stop(&mut self, cx: &Context<'_>) -> BoxResult {
        match &mut self.inner {
            Some(service) => service.on_stop(cx).await,
            None => Ok(()),
        }
    }

    async fn on_shutdown(&mut self, cx: &Context<'_>) -> BoxResult {
        match &mut self.inner {
            Some(service) => service.on_shutdown(cx).await,
            None => Ok(()),
        }
    }

    async fn on_restart(&mut self, cx: &Context<'_>) -> BoxResult {
        match &mut self.inner {
            Some(service) => service.on_restart(cx).await,
            None => Ok(()),
        }
    }
}

/// The thread's body: the tree until it stops, then the leftover work dropped and the
/// outcome recorded.
fn thread_main<S: Service, R: ThreadRuntime>(carrier: Carrier<S>, run: &Run, depth: usize) {
    let outcome = catch_unwind(AssertUnwindSafe(|| run_tree::<S, R>(carrier, run, depth)))
        .unwrap_or_else(|payload| Err(ThreadErrorKind::Panicked(panic_message(&*payload))));
    // Work that did not run: its callers get `ThreadCallError::Stopped`.
    run.queue.close();
    run.queue.clear();
    run.finish(outcome);
}

fn run_tree<S: Service, R: ThreadRuntime>(
    carrier: Carrier<S>,
    run: &Run,
    depth: usize,
) -> Result<(), ThreadErrorKind> {
    let runtime = R::build().map_err(ThreadErrorKind::Spawn)?;
    let tree = runtime.tree(carrier).with_log_depth(depth);
    {
        let mut state = run.state();
        if state.stop_asked {
            // Stopped before its tree began: a clean stop (a start still waiting for the
            // tree reports it as `StoppedEarly`).
            return Ok(());
        }
        state.inner = Some(tree.handle());
    }
    let exit = runtime.block_on(tree.run());
    drop(runtime);
    outcome_of(&exit)
}

fn outcome_of(exit: &Exit) -> Result<(), ThreadErrorKind> {
    if let StopReason::Crashed(crash) = exit.reason() {
        return Err(ThreadErrorKind::Crashed(crash.clone()));
    }
    if exit.is_failure() {
        let unclean: Vec<String> = exit
            .unclean_stops()
            .iter()
            .map(ToString::to_string)
            .collect();
        return Err(ThreadErrorKind::Unclean(if unclean.is_empty() {
            exit.to_string()
        } else {
            unclean.join("; ")
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_and_errors_are_send_sync() {
        assert_send_sync::<ThreadHandle>();
        assert_send_sync::<ThreadCallError>();
        assert_send_sync::<ThreadError>();
    }

    #[test]
    fn errors_name_the_thread_and_the_reason() {
        let err = ThreadError::new("db", ThreadErrorKind::Panicked("boom".into()));
        assert_eq!(err.to_string(), "thread `db`: panicked: boom");
        let crash = Crash::new("Db", "gone".into());
        let err = ThreadError::new("db", ThreadErrorKind::Crashed(crash));
        assert_eq!(err.to_string(), "thread `db`: Db crashed: gone");
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(
            ThreadCallError::Panicked("x".into()).to_string(),
            "the call panicked on the service's thread: x"
        );
    }
}
