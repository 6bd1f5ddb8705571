//! [`race`]: polls two futures, finishes with the first ready. Nothing here knows about
//! services.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// Which of two raced futures finished first.
#[derive(Debug)]
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

pin_project_lite::pin_project! {
    /// Polls `left` then `right`; finishes with the first that is ready (biased to `left`).
    pub(crate) struct Race<A, B> {
        #[pin]
        left: A,
        #[pin]
        right: B,
    }
}

pub(crate) fn race<A: Future, B: Future>(left: A, right: B) -> Race<A, B> {
    Race { left, right }
}

impl<A: Future, B: Future> Future for Race<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(value) = this.left.poll(cx) {
            return Poll::Ready(Either::Left(value));
        }
        if let Poll::Ready(value) = this.right.poll(cx) {
            return Poll::Ready(Either::Right(value));
        }
        Poll::Pending
    }
}
