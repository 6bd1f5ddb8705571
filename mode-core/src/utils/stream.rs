//! Stream helpers from mode's `aiter` module, as [`Stream`] adapters.
//!
//! - [`arange`]: a stream of integers, like Python's `range` (mode's `arange`).
//! - [`aslice`]: the items of a stream from index `start` up to `stop` (mode's `aslice`,
//!   Python's `islice`); stops polling the inner stream once `stop` is reached.
//! - [`chunks`]: a stream's items in `Vec`s of `n` (the last one shorter).
//!
//! All are runtime-independent and allocate nothing per item beyond `chunks`' vectors.

use alloc::vec::Vec;
use core::fmt;
use core::mem;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::Stream;
use pin_project_lite::pin_project;

mod sealed {
    pub trait Sealed {}
}

/// Integers [`arange`] can count with.
pub trait Step: sealed::Sealed + Copy + PartialOrd + fmt::Debug {
    #[doc(hidden)]
    fn zero() -> Self;
    #[doc(hidden)]
    fn checked_step(self, step: Self) -> Option<Self>;
}

macro_rules! step_impls {
    ($($ty:ty),*) => {$(
        impl sealed::Sealed for $ty {}
        impl Step for $ty {
            fn zero() -> Self {
                0
            }
            fn checked_step(self, step: Self) -> Option<Self> {
                self.checked_add(step)
            }
        }
    )*};
}

step_impls!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

/// A stream of `start`, `start + step`, … up to but excluding `stop`, like Python's
/// `range(start, stop, step)`. A negative `step` counts down. Ends (instead of
/// overflowing) when the next value does not fit the type.
///
/// # Panics
///
/// If `step` is zero.
///
/// ```
/// # futures_lite::future::block_on(async {
/// use futures_lite::StreamExt;
/// use mode::utils::arange;
///
/// assert_eq!(arange(0, 10, 3).collect::<Vec<_>>().await, [0, 3, 6, 9]);
/// assert_eq!(arange(5, 0, -2).collect::<Vec<_>>().await, [5, 3, 1]);
/// assert_eq!(arange(250_u8, 255, 4).collect::<Vec<_>>().await, [250, 254]);
/// # });
/// ```
pub fn arange<T: Step>(start: T, stop: T, step: T) -> Arange<T> {
    assert!(step != T::zero(), "arange: step must not be zero");
    Arange {
        next: Some(start),
        stop,
        step,
        up: step > T::zero(),
    }
}

/// The stream returned by [`arange`].
#[derive(Clone, Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Arange<T> {
    next: Option<T>,
    stop: T,
    step: T,
    up: bool,
}

impl<T: Step> Stream for Arange<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<T>> {
        let Some(current) = self.next else {
            return Poll::Ready(None);
        };
        let in_range = if self.up {
            current < self.stop
        } else {
            current > self.stop
        };
        if !in_range {
            self.next = None;
            return Poll::Ready(None);
        }
        self.next = current.checked_step(self.step);
        Poll::Ready(Some(current))
    }
}

// `T` is never pinned: values are copied in and out.
impl<T> Unpin for Arange<T> {}

pin_project! {
    /// The stream returned by [`aslice`].
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct Aslice<S> {
        #[pin]
        stream: S,
        start: usize,
        stop: usize,
        index: usize,
    }
}

/// The items of `stream` at indexes `start..stop`: skips `start` items, then yields until
/// `stop` items were taken from `stream` or it ends. The inner stream is not polled
/// again once `stop` is reached.
///
/// ```
/// # futures_lite::future::block_on(async {
/// use futures_lite::StreamExt;
/// use mode::utils::{arange, aslice};
///
/// let items: Vec<u32> = aslice(arange(0, 100, 1), 2, 5).collect().await;
/// assert_eq!(items, [2, 3, 4]);
/// # });
/// ```
pub fn aslice<S: Stream>(stream: S, start: usize, stop: usize) -> Aslice<S> {
    Aslice {
        stream,
        start,
        stop,
        index: 0,
    }
}

impl<S: Stream> Stream for Aslice<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let mut this = self.project();
        loop {
            if *this.index >= *this.stop {
                return Poll::Ready(None);
            }
            let item = match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => item,
                Poll::Ready(None) => {
                    *this.index = *this.stop;
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            };
            let index = *this.index;
            *this.index += 1;
            if index >= *this.start {
                return Poll::Ready(Some(item));
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.stop.saturating_sub(self.index.max(self.start));
        let (low, high) = self.stream.size_hint();
        let skip = self.start.saturating_sub(self.index);
        (
            low.saturating_sub(skip).min(left),
            Some(high.map_or(left, |high| high.saturating_sub(skip).min(left))),
        )
    }
}

pin_project! {
    /// The stream returned by [`chunks`].
    #[must_use = "streams do nothing unless polled"]
    pub struct Chunks<S: Stream> {
        #[pin]
        stream: S,
        size: usize,
        chunk: Vec<S::Item>,
        done: bool,
    }
}

/// The items of `stream` in vectors of `size`; the last vector holds the rest (it is
/// never empty). The inner stream is not polled after it ended.
///
/// # Panics
///
/// If `size` is zero.
///
/// ```
/// # futures_lite::future::block_on(async {
/// use futures_lite::StreamExt;
/// use mode::utils::{arange, chunks};
///
/// let groups: Vec<Vec<u8>> = chunks(arange(0, 7, 1), 3).collect().await;
/// assert_eq!(groups, [vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
/// # });
/// ```
pub fn chunks<S: Stream>(stream: S, size: usize) -> Chunks<S> {
    assert!(size > 0, "chunks: size must not be zero");
    Chunks {
        stream,
        size,
        chunk: Vec::new(),
        done: false,
    }
}

impl<S: Stream + fmt::Debug> fmt::Debug for Chunks<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chunks")
            .field("stream", &self.stream)
            .field("size", &self.size)
            .field("buffered", &self.chunk.len())
            .field("done", &self.done)
            .finish()
    }
}

impl<S: Stream> Stream for Chunks<S> {
    type Item = Vec<S::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        loop {
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    if this.chunk.capacity() == 0 {
                        this.chunk.reserve_exact(*this.size);
                    }
                    this.chunk.push(item);
                    if this.chunk.len() == *this.size {
                        return Poll::Ready(Some(mem::take(this.chunk)));
                    }
                }
                Poll::Ready(None) => {
                    *this.done = true;
                    let rest = mem::take(this.chunk);
                    return Poll::Ready((!rest.is_empty()).then_some(rest));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            return (0, Some(0));
        }
        let (low, high) = self.stream.size_hint();
        let held = self.chunk.len();
        let chunks = |n: usize| n.saturating_add(held).div_ceil(self.size);
        (chunks(low), high.map(chunks))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::tests_util::{count_wakes, poll_once};
    use alloc::vec;
    use core::sync::atomic::{AtomicUsize, Ordering};
    use futures_lite::future::block_on;
    use futures_lite::StreamExt;

    #[test]
    fn arange_like_range() {
        let collect = |s: Arange<i32>| block_on(s.collect::<Vec<_>>());
        assert_eq!(collect(arange(0, 5, 1)), [0, 1, 2, 3, 4]);
        assert_eq!(collect(arange(0, 0, 1)), [] as [i32; 0]);
        assert_eq!(collect(arange(3, 0, 1)), [] as [i32; 0]);
        assert_eq!(collect(arange(0, 3, -1)), [] as [i32; 0]);
        assert_eq!(collect(arange(-3, 3, 2)), [-3, -1, 1]);
        assert_eq!(collect(arange(i32::MAX - 1, i32::MAX, 5)), [i32::MAX - 1]);
        assert_eq!(collect(arange(i32::MIN + 1, i32::MIN, -1)), [i32::MIN + 1]);
    }

    #[test]
    #[should_panic(expected = "step must not be zero")]
    fn arange_rejects_zero_step() {
        let _ = arange(0, 1, 0);
    }

    #[test]
    fn aslice_stops_polling_at_stop() {
        let polled = AtomicUsize::new(0);
        let counted = futures_lite::stream::iter(0..100).inspect(|_| {
            polled.fetch_add(1, Ordering::SeqCst);
        });
        let items: Vec<_> = block_on(aslice(counted, 3, 6).collect());
        assert_eq!(items, [3, 4, 5]);
        assert_eq!(polled.load(Ordering::SeqCst), 6);
        assert_eq!(
            block_on(aslice(arange(0, 4, 1), 2, 10).collect::<Vec<_>>()),
            [2, 3]
        );
        assert_eq!(
            block_on(aslice(arange(0, 4, 1), 3, 2).collect::<Vec<_>>()),
            [] as [i32; 0]
        );
        assert_eq!(aslice(arange(0, 4, 1), 1, 3).size_hint(), (0, Some(2)));
        assert_eq!(
            aslice(futures_lite::stream::iter(0..10), 1, 3).size_hint(),
            (2, Some(2))
        );
    }

    #[test]
    fn aslice_and_chunks_pass_pending_through() {
        let (waker, _) = count_wakes();
        let mut pending = core::pin::pin!(aslice(futures_lite::stream::pending::<u8>(), 0, 1));
        assert!(pending
            .as_mut()
            .poll_next(&mut Context::from_waker(&waker))
            .is_pending());
        let mut chunked = chunks(
            futures_lite::stream::once(1).chain(futures_lite::stream::pending()),
            2,
        );
        let mut next = chunked.next();
        assert!(poll_once(&mut next, &waker).is_pending());
    }

    #[test]
    fn chunks_group_and_fuse() {
        let groups: Vec<_> = block_on(chunks(arange(0, 6, 1), 2).collect());
        assert_eq!(groups, [vec![0, 1], vec![2, 3], vec![4, 5]]);
        let mut stream = chunks(futures_lite::stream::iter(0..1), 4);
        assert_eq!(stream.size_hint(), (1, Some(1)));
        assert_eq!(block_on(stream.next()), Some(vec![0]));
        assert_eq!(block_on(stream.next()), None);
        assert_eq!(block_on(stream.next()), None);
        assert_eq!(
            chunks(futures_lite::stream::iter(0..10), 3).size_hint(),
            (4, Some(4))
        );
    }

    #[test]
    #[should_panic(expected = "size must not be zero")]
    fn chunks_rejects_zero_size() {
        let _ = chunks(arange(0, 1, 1), 0);
    }
}
