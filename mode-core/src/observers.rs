//! The tree's [`Observer`]s, and an event on its way to them and to the log ([`Emitted`]).
//!
//! The delivery to observers goes through a function that [`Observers::add`] installs, so
//! a program that adds no observer (a firmware, as a rule) links none of it, nor what
//! only a delivered event needs: the readable name of a timer that overran.

use alloc::vec::Vec;

use crate::events::{LifecycleEvent, Observer, ServiceInfo};
use crate::platform::plain::Arc;
use crate::platform::sync::atomic::{AtomicBool, Ordering};
use crate::platform::sync::Mutex;
use crate::task_run::TaskName;
use crate::time::Duration;

/// A lifecycle event on its way: as it is delivered, or a timer's overrun whose name is
/// made readable only where it is delivered (logged or observed).
pub(crate) enum Emitted<'a> {
    Event(LifecycleEvent<'a>),
    /// [`LifecycleEvent::TimerOverlap`], before its timer's name is made readable.
    TimerOverlap {
        timer: &'a TaskName,
        interval: Duration,
        late_by: Duration,
        skipped: u64,
    },
}

impl Emitted<'_> {
    /// Calls `deliver` with the event as observers and the log see it.
    pub(crate) fn with_event(&self, deliver: impl FnOnce(&LifecycleEvent<'_>)) {
        match *self {
            Emitted::Event(event) => deliver(&event),
            Emitted::TimerOverlap {
                timer,
                interval,
                late_by,
                skipped,
            } => deliver(&LifecycleEvent::TimerOverlap {
                timer: &timer.readable(),
                interval,
                late_by,
                skipped,
            }),
        }
    }
}

/// How the observers get an event: installed with the first of them.
type Deliver = fn(&Observers, &ServiceInfo<'_>, &Emitted<'_>);

/// The observers of a tree ([`Tree::with_observer`](crate::Tree::with_observer)).
pub(crate) struct Observers {
    added: AtomicBool,
    list: Mutex<List>,
}

struct List {
    observers: Vec<Arc<dyn Observer>>,
    deliver: Option<Deliver>,
}

impl Observers {
    pub(crate) fn new() -> Self {
        Observers {
            added: AtomicBool::new(false),
            list: Mutex::new(List {
                observers: Vec::new(),
                deliver: None,
            }),
        }
    }

    pub(crate) fn add(&self, observer: Arc<dyn Observer>) {
        self.list.with(|list| {
            list.observers.push(observer);
            list.deliver = Some(deliver_to_each);
        });
        self.added.store(true, Ordering::Release);
    }

    /// Whether an observer was added: the check before an event is made, inlined at
    /// every emitter.
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.added.load(Ordering::Acquire)
    }

    /// Hands `event` of the service `info` to every observer, in the order they were added.
    pub(crate) fn deliver(&self, info: &ServiceInfo<'_>, event: &Emitted<'_>) {
        if let Some(deliver) = self.list.with(|list| list.deliver) {
            deliver(self, info, event);
        }
    }
}

/// The [`Deliver`] of every tree with observers.
fn deliver_to_each(observers: &Observers, info: &ServiceInfo<'_>, event: &Emitted<'_>) {
    // Outside the lock: an observer may emit in turn.
    let list = observers.list.with(|list| list.observers.clone());
    event.with_event(|event| {
        for observer in &list {
            observer.observe(info, event);
        }
    });
}
