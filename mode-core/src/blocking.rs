//! Blocking detection: which service's code each thread is polling, for a watchdog that
//! notices a poll that does not yield (mode's `--blocking-timeout`).
//!
//! Every poll of a service's own code marks its thread while it runs: each poll of a hook
//! (named by its service and the hook, `on_start`), each poll of a task or timer (named
//! by its service and the task's name), and each poll of a tree's driver (named by the
//! tree's root), which runs the code a service hands it outside its hooks (a `Drop`,
//! `on_init_dependencies`, an observer, a slow logger). While a [`Watch`] is alive, each thread that polls
//! such code keeps a probe: how many of those polls it entered and left (odd while it is
//! inside one), and what it runs. A watchdog on another thread [samples](Watch::sample)
//! the probes: a thread seen inside the same poll twice did not yield in between, and
//! [`Busy::running`] names what it runs.
//!
//! While no `Watch` is alive, marking a poll costs one relaxed atomic load. Without the
//! `std` feature this module is private and marking costs nothing.
//!
//! Only polls of mode's code are seen: a future spawned on the executor directly, or the
//! executor's own work, is not. A poll inside another (a hook that polls a task of its
//! own tree to completion) is reported as the inner one, for as long as the outer one
//! has not yielded.
//!
//! ```
//! use mode::testing::VirtualRuntime;
//! use mode::{blocking, BoxResult, Context, Service, Tree};
//! use std::sync::{Arc, Barrier};
//!
//! /// Blocks its thread in `on_start` until the test has looked.
//! struct Stuck(Arc<Barrier>);
//!
//! impl Service for Stuck {
//!     async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
//!         self.0.wait(); // the poll has begun
//!         self.0.wait(); // the test has sampled it
//!         cx.handle().request_stop();
//!         Ok(())
//!     }
//! }
//!
//! let watch = blocking::watch();
//! let barrier = Arc::new(Barrier::new(2));
//! let service = Stuck(barrier.clone());
//! let driver = std::thread::spawn(move || {
//!     let rt = VirtualRuntime::new();
//!     rt.block_on(Tree::new(service, rt.clone(), rt.clone()).run()).unwrap();
//! });
//! barrier.wait();
//! let busy = watch.sample();
//! let stuck = busy
//!     .iter()
//!     .find(|busy| busy.thread().id() == driver.thread().id())
//!     .expect("the driver's thread is inside a poll");
//! let running = stuck.running().unwrap();
//! assert_eq!((running.service(), running.hook()), ("Stuck", Some("on_start")));
//! assert_eq!(running.to_string(), "[^-Stuck] in on_start");
//! barrier.wait();
//! driver.join().unwrap();
//! assert!(stuck.has_yielded());
//! ```

use crate::node::Node;
use crate::platform::plain::Arc;
use crate::task_run::TaskRun;

#[cfg(feature = "std")]
pub use watching::{watch, Busy, Running, Watch};

/// Marks this thread as polling a service's code until dropped (see the module docs).
#[must_use]
pub(crate) struct Probe {
    /// What this poll replaced, to put back when it ends; `None` when nobody watched as
    /// the poll began.
    #[cfg(feature = "std")]
    entered: Option<watching::Entered>,
}

impl Drop for Probe {
    #[inline]
    fn drop(&mut self) {
        #[cfg(feature = "std")]
        if let Some(entered) = self.entered.take() {
            watching::leave(entered);
        }
    }
}

/// Marks this thread as polling the task in `slot` of `run` (`None`: `node`'s own run).
#[inline]
#[cfg_attr(not(feature = "std"), allow(unused_variables))]
pub(crate) fn task(node: &Arc<Node>, run: &Option<Arc<TaskRun>>, slot: usize) -> Probe {
    #[cfg(feature = "std")]
    if watching::is_on() {
        return watching::enter_task(node, run, slot);
    }
    Probe {
        #[cfg(feature = "std")]
        entered: None,
    }
}

/// Marks this thread as polling the driver of the tree under `root`.
#[inline]
#[cfg_attr(not(feature = "std"), allow(unused_variables))]
pub(crate) fn driver(root: &Arc<Node>) -> Probe {
    #[cfg(feature = "std")]
    if watching::is_on() {
        return watching::enter_driver(root);
    }
    Probe {
        #[cfg(feature = "std")]
        entered: None,
    }
}

/// A hook of a service, as the hook's future keeps it to mark its polls (empty without
/// `std`).
#[derive(Clone, Copy)]
pub(crate) struct HookSite<'a> {
    #[cfg(feature = "std")]
    node: &'a Arc<Node>,
    #[cfg(feature = "std")]
    hook: &'static str,
    #[cfg(not(feature = "std"))]
    node: core::marker::PhantomData<&'a Node>,
}

impl<'a> HookSite<'a> {
    /// The hook named `hook` (`on_start`) of `node`.
    #[inline]
    #[cfg_attr(not(feature = "std"), allow(unused_variables))]
    pub(crate) fn new(node: &'a Arc<Node>, hook: &'static str) -> Self {
        HookSite {
            #[cfg(feature = "std")]
            node,
            #[cfg(feature = "std")]
            hook,
            #[cfg(not(feature = "std"))]
            node: core::marker::PhantomData,
        }
    }

    /// Marks this thread as polling the hook.
    #[inline]
    pub(crate) fn enter(self) -> Probe {
        #[cfg(feature = "std")]
        if watching::is_on() {
            return watching::enter_hook(self.node, self.hook);
        }
        Probe {
            #[cfg(feature = "std")]
            entered: None,
        }
    }
}

#[cfg(feature = "std")]
mod watching {
    use alloc::borrow::Cow;
    use alloc::vec::Vec;
    use core::fmt;
    use std::sync::{Mutex, MutexGuard, PoisonError};
    use std::thread::Thread;

    use super::Probe;
    use crate::node::Node;
    use crate::platform::plain::atomic::{AtomicUsize, Ordering};
    use crate::platform::plain::{Arc, Weak};
    use crate::task_run::TaskRun;

    /// How many [`Watch`]es are alive: the probes record only while this is not zero.
    static WATCHES: AtomicUsize = AtomicUsize::new(0);

    /// The probe of every thread that polled a service's code while watched (those whose
    /// thread has ended are pruned as they are found).
    static PROBES: Mutex<Vec<Weak<ThreadProbe>>> = Mutex::new(Vec::new());

    std::thread_local! {
        static PROBE: Arc<ThreadProbe> = ThreadProbe::register();
    }

    /// Locks `mutex`, whose holders never panic half-way through an update.
    fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
        mutex.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[inline]
    pub(super) fn is_on() -> bool {
        WATCHES.load(Ordering::Relaxed) != 0
    }

    /// One thread's probe.
    struct ThreadProbe {
        thread: Thread,
        /// The polls of a service's code this thread entered and left (counting only the
        /// outermost of nested ones): odd while it is inside one.
        polls: AtomicUsize,
        /// What the innermost of the polls it is inside runs.
        site: Mutex<Option<Site>>,
    }

    impl ThreadProbe {
        fn register() -> Arc<ThreadProbe> {
            let probe = Arc::new(ThreadProbe {
                thread: std::thread::current(),
                polls: AtomicUsize::new(0),
                site: Mutex::new(None),
            });
            let mut probes = lock(&PROBES);
            probes.retain(|probe| probe.strong_count() > 0);
            probes.push(Arc::downgrade(&probe));
            probe
        }
    }

    /// What a poll runs: a service's hook or task.
    #[derive(Clone)]
    struct Site {
        node: Arc<Node>,
        code: Code,
    }

    #[derive(Clone)]
    enum Code {
        /// The tree's driver (the node is the tree's root).
        Driver,
        Hook(&'static str),
        /// A task (or timer): its run (`None`: its node's own) and its slot there.
        Task {
            run: Option<Arc<TaskRun>>,
            slot: usize,
        },
    }

    /// A poll that began while watched.
    pub(super) struct Entered {
        /// What the thread ran before (`None`: this is the outermost poll).
        previous: Option<Site>,
    }

    #[cold]
    #[inline(never)]
    pub(super) fn enter_task(node: &Arc<Node>, run: &Option<Arc<TaskRun>>, slot: usize) -> Probe {
        enter(Site {
            node: node.clone(),
            code: Code::Task {
                run: run.clone(),
                slot,
            },
        })
    }

    #[cold]
    #[inline(never)]
    pub(super) fn enter_driver(root: &Arc<Node>) -> Probe {
        enter(Site {
            node: root.clone(),
            code: Code::Driver,
        })
    }

    #[cold]
    #[inline(never)]
    pub(super) fn enter_hook(node: &Arc<Node>, hook: &'static str) -> Probe {
        enter(Site {
            node: node.clone(),
            code: Code::Hook(hook),
        })
    }

    fn enter(site: Site) -> Probe {
        // Without the thread's local storage (it is being torn down) the poll goes unseen.
        let entered = PROBE.try_with(|probe| {
            let previous = lock(&probe.site).replace(site);
            if previous.is_none() {
                // Odd: inside. After the site, so that a sampler that reads this count
                // finds the site of this poll.
                probe.polls.fetch_add(1, Ordering::Release);
            }
            Entered { previous }
        });
        Probe {
            entered: entered.ok(),
        }
    }

    #[cold]
    #[inline(never)]
    pub(super) fn leave(entered: Entered) {
        let Entered { previous } = entered;
        let left = PROBE.try_with(|probe| {
            if previous.is_none() {
                // Even: outside. Before the site changes, so that a sampler that reads
                // the site and then this count again sees the poll it sampled, or sees
                // that it ended.
                probe.polls.fetch_add(1, Ordering::Release);
            }
            core::mem::replace(&mut *lock(&probe.site), previous)
        });
        // The site's references are dropped outside the lock.
        drop(left);
    }

    /// Blocking detection is on while this lives: the threads that poll a service's code
    /// record what they run, and [`sample`](Self::sample) reads it. Several may live at
    /// once; detection stays on until the last is dropped.
    ///
    /// See the [module docs](super) for an example.
    #[must_use = "blocking detection is on only while the `Watch` lives"]
    pub struct Watch {
        _private: (),
    }

    /// Switches blocking detection on until the returned [`Watch`] is dropped.
    ///
    /// A poll that began before is not seen; nor are the polls that began while the
    /// `Watch` lived once it is gone.
    pub fn watch() -> Watch {
        WATCHES.fetch_add(1, Ordering::Relaxed);
        Watch { _private: () }
    }

    impl Watch {
        /// Every thread that is inside the poll of a service's code now, with that poll's
        /// number ([`Busy::poll_number`]). Cheap: no thread is stopped or interrupted, and
        /// naming what it runs waits for [`Busy::running`].
        #[must_use]
        pub fn sample(&self) -> Vec<Busy> {
            let mut busy = Vec::new();
            let mut probes = lock(&PROBES);
            probes.retain(|weak| {
                let Some(probe) = weak.upgrade() else {
                    return false;
                };
                let poll = probe.polls.load(Ordering::Acquire);
                if poll % 2 == 1 {
                    busy.push(Busy { probe, poll });
                }
                true
            });
            busy
        }
    }

    impl Drop for Watch {
        fn drop(&mut self) {
            WATCHES.fetch_sub(1, Ordering::Relaxed);
        }
    }

    impl fmt::Debug for Watch {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Watch").finish_non_exhaustive()
        }
    }

    /// A thread that was inside the poll of a service's code when [`Watch::sample`] looked.
    pub struct Busy {
        probe: Arc<ThreadProbe>,
        poll: usize,
    }

    impl Busy {
        /// The thread.
        #[must_use]
        pub fn thread(&self) -> &Thread {
            &self.probe.thread
        }

        /// Which poll of its thread this is: two samples that show a thread with the same
        /// number saw it inside one poll, which did not yield in between. (Numbers wrap
        /// around after `usize::MAX` polls.)
        #[must_use]
        pub fn poll_number(&self) -> u64 {
            self.poll as u64
        }

        /// Whether the thread has left this poll since the sample.
        #[must_use]
        pub fn has_yielded(&self) -> bool {
            self.probe.polls.load(Ordering::Acquire) != self.poll
        }

        /// What the thread runs inside this poll: the service, and its hook or task.
        /// `None` once the thread has left the poll.
        #[must_use]
        pub fn running(&self) -> Option<Running> {
            let site = lock(&self.probe.site).clone();
            if self.has_yielded() {
                return None;
            }
            let Site { node, code } = site?;
            let (hook, task) = match code {
                Code::Driver => (None, None),
                Code::Hook(hook) => (Some(hook), None),
                Code::Task { run, slot } => {
                    let name = run.as_deref().unwrap_or(&node.run).task_name(slot);
                    // If the poll ended meanwhile, the slot may hold another task.
                    if self.has_yielded() {
                        return None;
                    }
                    (None, Some(name.map(|name| name.readable())))
                }
            };
            Some(Running { node, hook, task })
        }
    }

    impl fmt::Debug for Busy {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Busy")
                .field("thread", &self.probe.thread)
                .field("poll_number", &self.poll)
                .finish_non_exhaustive()
        }
    }

    /// What a thread inside a poll runs: a hook or a task (or timer) of a service, or the
    /// driver of a tree.
    ///
    /// Displays as `[^--Webserver] in on_start`, `[^--Webserver] in task flush` or
    /// `[^-App] in the driver` (the tree's root), with the service's prefix as its log
    /// lines show it.
    #[derive(Clone)]
    pub struct Running {
        node: Arc<Node>,
        hook: Option<&'static str>,
        /// `Some` for a task: its name, if it could be read.
        task: Option<Option<Cow<'static, str>>>,
    }

    impl Running {
        /// The service's label (the tree's root, for [the driver](Self::is_driver)).
        #[must_use]
        pub fn service(&self) -> &str {
            &self.node.label
        }

        /// Whether the tree's driver runs, outside any hook or task: code a service
        /// handed it (a `Drop`, `on_init_dependencies`, an observer) or mode's own.
        #[must_use]
        pub fn is_driver(&self) -> bool {
            self.hook.is_none() && self.task.is_none()
        }

        /// The hook (`on_start`, `on_stop`, …), if a hook runs.
        #[must_use]
        pub fn hook(&self) -> Option<&'static str> {
            self.hook
        }

        /// The task's or timer's name (as [`ServiceHandle::task_names`] lists it), if a
        /// task runs.
        ///
        /// [`ServiceHandle::task_names`]: crate::ServiceHandle::task_names
        #[must_use]
        pub fn task(&self) -> Option<&str> {
            self.task.as_ref()?.as_deref()
        }
    }

    impl fmt::Display for Running {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} in ", self.node.prefix())?;
            match (&self.hook, &self.task) {
                (Some(hook), _) => f.write_str(hook),
                (None, Some(Some(task))) => write!(f, "task {task}"),
                (None, Some(None)) => f.write_str("a task"),
                (None, None) => f.write_str("the driver"),
            }
        }
    }

    impl fmt::Debug for Running {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Running")
                .field("service", &self.node.label)
                .field("hook", &self.hook)
                .field("task", &self.task())
                .finish()
        }
    }
}
