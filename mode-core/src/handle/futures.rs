//! The futures that [`ServiceHandle`](super::ServiceHandle)'s requests and waits return:
//! named types, so that a user can keep one in a struct or name it in a trait.
//!
//! Each owns what it needs (the service's node, and while it waits a listener of the
//! node's changes), so every one is `Send + Sync + 'static` and cancel safe: dropping it
//! only stops waiting. A request (stop, start, restart) is made when the method is called,
//! not when the future is first polled.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::error::{Error, Stopped};
use crate::node::{Node, OwnedChangeListener, SharedNode};
use crate::own_hook;
use crate::platform::plain::Arc;
use crate::state::State;
use crate::time::Instant;
use crate::timer_queue::SleepUntil;

/// Waits for a condition on a node: checks it, listens to the node's changes, checks it
/// again, and sleeps until the next change (the pattern every waiter of a node follows).
pub(crate) struct Watch {
    node: Arc<Node>,
    listener: Option<OwnedChangeListener>,
}

impl Watch {
    pub(super) fn new(node: Arc<Node>) -> Self {
        Watch {
            node,
            listener: None,
        }
    }

    /// Waits until `check` gives a value, checking again after every change of `node`.
    pub(crate) async fn until<T>(node: Arc<Node>, mut check: impl FnMut(&Node) -> Option<T>) -> T {
        let mut watch = Watch::new(node);
        core::future::poll_fn(|cx| watch.poll_until(cx, &mut check)).await
    }

    fn poll_until<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut check: impl FnMut(&Node) -> Option<T>,
    ) -> Poll<T> {
        loop {
            if let Some(value) = check(&self.node) {
                self.listener = None;
                return Poll::Ready(value);
            }
            match &mut self.listener {
                // Listen, then loop to check again: a change made before the listener
                // existed would otherwise be missed.
                None => self.listener = Some(self.node.listen_changes_owned()),
                Some(listener) => match Pin::new(listener).poll(cx) {
                    Poll::Ready(()) => self.listener = None,
                    Poll::Pending => return Poll::Pending,
                },
            }
        }
    }
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch")
            .field("service", &self.node.label)
            .finish_non_exhaustive()
    }
}

/// The future of [`ServiceHandle::stop`](super::ServiceHandle::stop): completes once the
/// stop request has been executed (the service is then stopped).
///
/// # Cancel safety
///
/// Cancel safe: dropping it only stops waiting; the stop goes on.
#[derive(Debug)]
#[must_use = "the stop is requested already; the future only waits for it"]
pub struct Stop {
    watch: Watch,
    /// The number of the stop request; `None` if the tree no longer runs, or once found
    /// awaited from a hook it waits for.
    request: Option<u64>,
    /// Whether the first poll looked for that (see `own_hook.rs`).
    checked: bool,
}

impl Stop {
    pub(super) fn new(node: Arc<Node>, request: Option<u64>) -> Self {
        Stop {
            watch: Watch::new(node),
            request,
            checked: false,
        }
    }
}

impl Future for Stop {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if !core::mem::replace(&mut this.checked, true)
            && own_hook::awaited_by_its_own_holder(&this.watch.node)
        {
            // The stop stays queued, and runs once the hook has returned.
            this.request = None;
        }
        let Some(number) = this.request else {
            return Poll::Ready(());
        };
        this.watch.poll_until(cx, |node| {
            (node.stop_request_is_done(number) || node.tree.is_finished()).then_some(())
        })
    }
}

/// The future of [`ServiceHandle::start`](super::ServiceHandle::start): completes once
/// the start request has been executed, with its outcome.
///
/// # Cancel safety
///
/// Cancel safe: dropping it only stops waiting; the start goes on.
#[derive(Debug)]
#[must_use = "the start is requested already; the future only waits for its outcome"]
pub struct Start {
    watch: Watch,
    /// The outcome known without the driver (a bad request); taken when returned.
    early: Option<Result<(), Error>>,
    /// The node's count of finished starts when the request was made.
    starts: usize,
}

impl Start {
    pub(super) fn new(node: Arc<Node>, early: Option<Result<(), Error>>, starts: usize) -> Self {
        Start {
            watch: Watch::new(node),
            early,
            starts,
        }
    }
}

impl Future for Start {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(result) = this.early.take() {
            return Poll::Ready(result);
        }
        let starts = this.starts;
        this.watch.poll_until(cx, |node| {
            if node.starts() != starts {
                Some(node.last_start())
            } else if node.tree.is_finished() {
                Some(Err(Error::TreeFinished))
            } else {
                None
            }
        })
    }
}

/// The future of [`ServiceHandle::restart`](super::ServiceHandle::restart): completes
/// once the service runs again, or with why it does not.
///
/// # Cancel safety
///
/// Cancel safe: dropping it only stops waiting; the restart goes on.
#[derive(Debug)]
#[must_use = "the restart is requested already; the future only waits for its outcome"]
pub struct Restart {
    start: Start,
    /// Whether the first poll looked for a hook it waits for (see `own_hook.rs`).
    checked: bool,
}

impl Restart {
    pub(crate) fn new(start: Start) -> Self {
        Restart {
            start,
            checked: false,
        }
    }
}

impl Future for Restart {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if !core::mem::replace(&mut this.checked, true)
            && this.start.early.is_none()
            && own_hook::awaited_by_its_own_holder(&this.start.watch.node)
        {
            return Poll::Ready(Err(Error::AwaitedFromOwnHook));
        }
        Pin::new(&mut this.start).poll(cx)
    }
}

/// The future of [`ServiceHandle::maybe_start`](super::ServiceHandle::maybe_start):
/// whether it started the service.
///
/// # Cancel safety
///
/// Cancel safe: dropping it only stops waiting; the start goes on.
#[derive(Debug)]
#[must_use = "the start is requested already; the future only waits for its outcome"]
pub struct MaybeStart(pub(crate) Start);

impl Future for MaybeStart {
    type Output = Result<bool, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|result| match result {
            Ok(()) => Ok(true),
            Err(Error::AlreadyStarted) => Ok(false),
            Err(err) => Err(err),
        })
    }
}

/// The future of [`ServiceHandle::wait_until_running`](super::ServiceHandle::wait_until_running).
///
/// # Cancel safety
///
/// Cancel safe.
#[derive(Debug)]
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct UntilRunning(pub(super) Watch);

impl Future for UntilRunning {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.poll_until(cx, |node| match node.state() {
            State::Running => Some(Ok(())),
            State::Stopping | State::Stopped => Some(Err(match node.crash_reason() {
                Some(crash) => Error::Crashed(crash),
                None => Error::ServiceStopped,
            })),
            _ if node.tree.is_finished() => Some(Err(Error::TreeFinished)),
            _ => None,
        })
    }
}

/// The future of [`ServiceHandle::wait_until_stopped`](super::ServiceHandle::wait_until_stopped).
///
/// # Cancel safety
///
/// Cancel safe.
#[derive(Debug)]
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct UntilStopped(pub(super) Watch);

impl Future for UntilStopped {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.poll_until(cx, |node| match node.state() {
            State::Stopped => Some(()),
            State::Init if node.tree.is_finished() => Some(()),
            _ => None,
        })
    }
}

/// The future of [`ServiceHandle::sleep`](super::ServiceHandle::sleep) and
/// [`sleep_until`](super::ServiceHandle::sleep_until): completes at its deadline, or
/// early with [`Stopped`] once the service is asked to stop.
///
/// It is a deadline in the tree's own timer queue: it allocates nothing, and the tree's
/// sleeps share a single sleep of the executor.
///
/// # Cancel safety
///
/// Cancel safe.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct Sleep {
    sleep: SleepUntil,
    stop: Watch,
}

impl Sleep {
    pub(super) fn new(node: Arc<Node>, deadline: Instant) -> Self {
        use crate::timer_queue::SharedTimerQueue;
        Sleep {
            sleep: node.tree.timers.sleep_until(deadline),
            stop: Watch::new(node),
        }
    }

    /// The instant at which the sleep completes (unless the service stops first).
    #[must_use]
    pub fn deadline(&self) -> Instant {
        self.sleep.deadline()
    }
}

impl Future for Sleep {
    type Output = Result<(), Stopped>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // The deadline first: a sleep that is due wins over a stop.
        if Pin::new(&mut this.sleep).poll(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        this.stop
            .poll_until(cx, |node| node.should_stop().then_some(Err(Stopped)))
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.sleep.deadline())
            .finish_non_exhaustive()
    }
}
