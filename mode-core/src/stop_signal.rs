//! [`StopSignal`]: a reusable wait for a service's stop flag, for the loops of sleeps,
//! waits and timers that return early when their service is asked to stop.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::node::{ChangeListener, Node};

/// Completes once `node` is asked to stop. Reusable: keeps one listener registered across
/// polls, so a loop that races it against each tick allocates only when the node changes.
#[derive(Debug)]
pub(crate) struct StopSignal<'a> {
    node: &'a Node,
    listener: Option<ChangeListener<'a>>,
}

impl<'a> StopSignal<'a> {
    pub(crate) fn new(node: &'a Node) -> Self {
        StopSignal {
            node,
            listener: None,
        }
    }

    /// Waits for the stop flag.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: nothing is lost if the future is dropped.
    pub(crate) fn wait(&mut self) -> WaitStop<'_, 'a> {
        WaitStop { signal: self }
    }
}

/// The future of [`StopSignal::wait`].
#[derive(Debug)]
pub(crate) struct WaitStop<'s, 'a> {
    signal: &'s mut StopSignal<'a>,
}

impl Future for WaitStop<'_, '_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let signal = &mut *self.get_mut().signal;
        loop {
            if signal.node.should_stop() {
                return Poll::Ready(());
            }
            match &mut signal.listener {
                None => {
                    // Listen, then loop to re-check: a notification sent before the
                    // listener existed would otherwise be missed.
                    signal.listener = Some(signal.node.listen_changes());
                }
                Some(listener) => match Pin::new(listener).poll(cx) {
                    Poll::Ready(()) => signal.listener = None,
                    Poll::Pending => return Poll::Pending,
                },
            }
        }
    }
}
