//! A one-shot answer from the driver to a handle's request.
//!
//! The handle keeps a [`Receiver`]; the [`Responder`] travels in the command. The driver
//! answers with [`Responder::send`]; a responder dropped unanswered (the tree finished and
//! its queue was drained) closes the slot, and the receiver reports
//! [`Error::TreeFinished`]. A request queued after the driver drained its queue is never
//! dropped, so the receiver also checks the tree's finished flag, which is set before the
//! drain: whichever way the race goes, the receiver sees one of the two.

use crate::platform::plain::Arc;
use core::fmt;

use event_listener::Event;

use crate::error::Error;
use crate::platform::sync::Mutex;

enum Answer<T> {
    Waiting,
    Ready(T),
    Closed,
}

struct Slot<T> {
    answer: Mutex<Answer<T>>,
    /// Notified after the answer changes.
    changed: Event,
}

/// The driver's half: answers once, or closes the slot when dropped.
pub(crate) struct Responder<T> {
    slot: Option<Arc<Slot<T>>>,
}

/// The handle's half.
pub(crate) struct Receiver<T> {
    slot: Arc<Slot<T>>,
}

pub(crate) fn channel<T>() -> (Responder<T>, Receiver<T>) {
    let slot = Arc::new(Slot {
        answer: Mutex::new(Answer::Waiting),
        changed: Event::new(),
    });
    (
        Responder {
            slot: Some(slot.clone()),
        },
        Receiver { slot },
    )
}

impl<T> Responder<T> {
    pub(crate) fn send(mut self, value: T) {
        if let Some(slot) = self.slot.take() {
            slot.answer.with(|answer| *answer = Answer::Ready(value));
            slot.changed.notify(usize::MAX);
        }
    }
}

impl<T> Drop for Responder<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.answer.with(|answer| {
                if let Answer::Waiting = answer {
                    *answer = Answer::Closed;
                }
            });
            slot.changed.notify(usize::MAX);
        }
    }
}

impl<T> Receiver<T> {
    fn try_take(&self, tree_finished: &impl Fn() -> bool) -> Option<Result<T, Error>> {
        let taken = self.slot.answer.with(|answer| match answer {
            Answer::Waiting => None,
            Answer::Closed => Some(None),
            Answer::Ready(_) => match core::mem::replace(answer, Answer::Closed) {
                Answer::Ready(value) => Some(Some(value)),
                _ => None,
            },
        });
        match taken {
            Some(Some(value)) => Some(Ok(value)),
            Some(None) => Some(Err(Error::TreeFinished)),
            None if tree_finished() => Some(Err(Error::TreeFinished)),
            None => None,
        }
    }

    /// Waits for the answer; [`Error::TreeFinished`] if none will come (the slot was closed,
    /// or `tree_finished` says the tree finished).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses the answer, not the request.
    pub(crate) async fn recv(self, tree_finished: impl Fn() -> bool) -> Result<T, Error> {
        loop {
            if let Some(answer) = self.try_take(&tree_finished) {
                return answer;
            }
            let listener = self.slot.changed.listen();
            // Re-check after listening: an answer sent in between notified nobody.
            if let Some(answer) = self.try_take(&tree_finished) {
                return answer;
            }
            listener.await;
        }
    }
}

impl<T> fmt::Debug for Responder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("answered", &self.slot.is_none())
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}
