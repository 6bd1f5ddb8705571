//! Stream helpers from mode's `aiter` module, as [`Stream`] adapters.
//!
//! - [`arange`]: a stream of integers, like Python's `range` (mode's `arange`), which also
//!   answers membership ([`Arange::contains`]), length ([`Arange::len`]) and position
//!   ([`Arange::index`]) without being polled.
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
    /// The distance between `self` and `other`, which fits a `u128` for every type.
    #[doc(hidden)]
    fn distance(self, other: Self) -> u128;
}

macro_rules! step_impls {
    ($wide:ty: $($ty:ty),*) => {$(
        impl sealed::Sealed for $ty {}
        impl Step for $ty {
            fn zero() -> Self {
                0
            }
            fn checked_step(self, step: Self) -> Option<Self> {
                self.checked_add(step)
            }
            fn distance(self, other: Self) -> u128 {
                // Widening, never truncating: `$wide` holds every value of `$ty`.
                <$wide>::from(self).abs_diff(<$wide>::from(other))
            }
        }
    )*};
}

step_impls!(u128: u8, u16, u32, u64, u128);
step_impls!(i128: i8, i16, i32, i64, i128);

// `usize` and `isize` have no `From` into the 128-bit types (a pointer might be wider).
impl sealed::Sealed for usize {}
impl Step for usize {
    fn zero() -> Self {
        0
    }
    fn checked_step(self, step: Self) -> Option<Self> {
        self.checked_add(step)
    }
    fn distance(self, other: Self) -> u128 {
        // `usize` is at most 64 bits on every target Rust supports.
        self.abs_diff(other) as u128
    }
}

impl sealed::Sealed for isize {}
impl Step for isize {
    fn zero() -> Self {
        0
    }
    fn checked_step(self, step: Self) -> Option<Self> {
        self.checked_add(step)
    }
    fn distance(self, other: Self) -> u128 {
        self.abs_diff(other) as u128
    }
}

/// The error of [`try_arange`]: a range cannot count with a step of zero.
///
/// ```
/// use mode::utils::try_arange;
///
/// let error = try_arange(0, 10, 0).unwrap_err();
/// assert_eq!(error.to_string(), "arange: step must not be zero");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeroStepError {
    _priv: (),
}

impl fmt::Display for ZeroStepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("arange: step must not be zero")
    }
}

impl core::error::Error for ZeroStepError {}

/// A stream of `start`, `start + step`, … up to but excluding `stop`, like Python's
/// `range(start, stop, step)`. A negative `step` counts down. Ends (instead of
/// overflowing) when the next value does not fit the type.
///
/// The [`Arange`] also answers, without being polled, what mode's `arange` object does:
/// [`contains`](Arange::contains) (`n in arange(..)`), [`len`](Arange::len) and
/// [`index`](Arange::index).
///
/// # Panics
///
/// If `step` is zero; [`try_arange`] returns an error instead.
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
    match try_arange(start, stop, step) {
        Ok(range) => range,
        Err(error) => panic!("{error}"),
    }
}

/// [`arange`], with an error for a zero `step` instead of a panic.
///
/// # Errors
///
/// [`ZeroStepError`] if `step` is zero.
///
/// ```
/// # futures_lite::future::block_on(async {
/// use futures_lite::StreamExt;
/// use mode::utils::try_arange;
///
/// let range = try_arange(10_u32, 0, 1)?;
/// assert!(range.is_empty());
/// assert_eq!(range.collect::<Vec<u32>>().await, Vec::<u32>::new());
/// assert!(try_arange(0, 10, 0).is_err());
/// # Ok::<(), mode::utils::ZeroStepError>(())
/// # }).unwrap();
/// ```
pub fn try_arange<T: Step>(start: T, stop: T, step: T) -> Result<Arange<T>, ZeroStepError> {
    if step == T::zero() {
        return Err(ZeroStepError { _priv: () });
    }
    Ok(Arange {
        start,
        next: Some(start),
        stop,
        step,
        up: step > T::zero(),
    })
}

/// The stream returned by [`arange`]: the range's values, and what mode's `arange` object
/// answers about them.
///
/// [`contains`](Self::contains), [`len`](Self::len) and [`index`](Self::index) describe the
/// whole range, as made, however far the stream was polled (as mode's object does, which
/// starts a new iteration each time); [`size_hint`](Stream::size_hint) says how many values
/// are left to poll.
///
/// ```
/// use mode::utils::arange;
///
/// let range = arange(0, 100, 10);
/// assert!(range.contains(30));
/// assert!(!range.contains(35));
/// assert!(!range.contains(100));
/// assert_eq!(range.len(), 10);
/// assert_eq!(range.index(30), Some(3));
/// assert_eq!(range.index(35), None); // mode raises `ValueError`
/// ```
#[derive(Clone, Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Arange<T> {
    start: T,
    next: Option<T>,
    stop: T,
    step: T,
    up: bool,
}

impl<T: Step> Arange<T> {
    /// Whether `value` is one of the range's values (mode's `n in arange(..)` and, as 0 or
    /// 1, its `count(n)`).
    ///
    /// ```
    /// use mode::utils::arange;
    ///
    /// assert!(arange(0, 10, 1).contains(3));
    /// assert!(!arange(0, 2, 1).contains(3));
    /// assert!(arange(10, 0, -3).contains(4)); // 10, 7, 4, 1
    /// assert!(!arange(10, 0, -3).contains(0));
    /// ```
    #[must_use]
    pub fn contains(&self, value: T) -> bool {
        let within = if self.up {
            self.start <= value && value < self.stop
        } else {
            self.stop < value && value <= self.start
        };
        within && value.distance(self.start) % self.step_size() == 0
    }

    /// How many values the range has (Python's `len(range(..))`). A range longer than
    /// `usize::MAX` (a `u64` range on a 32-bit target) says `usize::MAX`.
    ///
    /// ```
    /// use mode::utils::arange;
    ///
    /// assert_eq!(arange(0, 10, 3).len(), 4); // 0, 3, 6, 9
    /// assert_eq!(arange(5, 0, -2).len(), 3); // 5, 3, 1
    /// assert_eq!(arange(0, 0, 1).len(), 0);
    /// assert_eq!(arange(i64::MIN, i64::MAX, 1).len(), usize::MAX); // on 64 bits: 2^64 - 1
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        saturate(self.count_from(self.start))
    }

    /// Whether the range has no values.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count_from(self.start) == 0
    }

    /// The position of `value` in the range, `None` if it is not one of its values (mode's
    /// `index(n)`, which raises `ValueError` then).
    ///
    /// ```
    /// use mode::utils::arange;
    ///
    /// assert_eq!(arange(0, 10, 1).index(3), Some(3));
    /// assert_eq!(arange(2, 20, 4).index(14), Some(3)); // 2, 6, 10, 14
    /// assert_eq!(arange(2, 20, 4).index(15), None);
    /// ```
    #[must_use]
    pub fn index(&self, value: T) -> Option<usize> {
        if !self.contains(value) {
            return None;
        }
        usize::try_from(value.distance(self.start) / self.step_size()).ok()
    }

    /// The size of a step, whichever its direction.
    fn step_size(&self) -> u128 {
        self.step.distance(T::zero())
    }

    /// How many values of the range come from `from` on (`from` being one of them, or past
    /// the last).
    fn count_from(&self, from: T) -> u128 {
        let within = if self.up {
            from < self.stop
        } else {
            from > self.stop
        };
        if within {
            from.distance(self.stop).div_ceil(self.step_size())
        } else {
            0
        }
    }
}

fn saturate(count: u128) -> usize {
    usize::try_from(count).unwrap_or(usize::MAX)
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

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.next.map_or(0, |next| self.count_from(next));
        match usize::try_from(left) {
            Ok(left) => (left, Some(left)),
            Err(_) => (usize::MAX, None),
        }
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
    use alloc::string::ToString;
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
    fn try_arange_says_zero_step() {
        assert_eq!(
            try_arange(0_u8, 1, 0).unwrap_err().to_string(),
            "arange: step must not be zero"
        );
        assert_eq!(try_arange(0_u8, 3, 1).unwrap().len(), 3);
    }

    /// mode's own cases (`tests/functional/utils/test_aiter.py`), then Python's `range`.
    #[test]
    fn arange_answers_like_modes_object() {
        assert!(arange(0, 10, 1).contains(3));
        assert!(!arange(0, 2, 1).contains(3));
        assert_eq!(usize::from(arange(0, 10, 1).contains(1)), 1); // count(1) == 1
        assert_eq!(arange(0, 10, 1).index(3), Some(3));

        // Each range against the list of its values.
        let ranges: [(i32, i32, i32); 9] = [
            (0, 10, 1),
            (2, 10, 1),
            (0, 100, 10),
            (0, 10, 3),
            (10, 0, -3),
            (-5, 5, 2),
            (5, -5, -1),
            (3, 3, 1),
            (0, 3, -1),
        ];
        for (start, stop, step) in ranges {
            let range = arange(start, stop, step);
            let values = block_on(range.clone().collect::<Vec<_>>());
            assert_eq!(range.len(), values.len(), "{range:?}");
            assert_eq!(range.is_empty(), values.is_empty());
            for probe in -15..=15 {
                let position = values.iter().position(|v| *v == probe);
                assert_eq!(
                    range.contains(probe),
                    position.is_some(),
                    "{probe} {range:?}"
                );
                assert_eq!(range.index(probe), position, "{probe} {range:?}");
            }
        }
    }

    #[test]
    fn arange_answers_at_the_edges_of_its_type() {
        let range = arange(250_u8, 255, 4);
        assert_eq!(range.len(), 2);
        assert!(range.contains(254));
        assert!(!range.contains(255));
        let range = arange(i128::MIN, i128::MAX, i128::MAX);
        assert_eq!(range.len(), 3); // MIN, -1, MAX - 1
        assert_eq!(range.index(-1), Some(1));
        assert_eq!(range.index(i128::MAX - 1), Some(2));
        assert!(!range.contains(i128::MAX));
        let range = arange(u128::MAX, 0, 1);
        assert!(range.is_empty());
        let huge = arange(0_u128, u128::MAX, 1);
        assert_eq!(huge.len(), usize::MAX);
        assert_eq!(huge.size_hint(), (usize::MAX, None));
        assert_eq!(huge.index(u128::MAX - 1), None); // past usize
        assert_eq!(arange(0_usize, 10, 5).index(5), Some(1));
        assert_eq!(arange(0_isize, -10, -5).index(-5), Some(1));
    }

    #[test]
    fn arange_size_hint_counts_what_is_left() {
        let mut range = arange(0, 10, 3);
        assert_eq!(range.size_hint(), (4, Some(4)));
        assert_eq!(block_on(range.next()), Some(0));
        assert_eq!(range.size_hint(), (3, Some(3)));
        // The range itself is unchanged.
        assert_eq!(range.len(), 4);
        assert!(range.contains(0));
        while block_on(range.next()).is_some() {}
        assert_eq!(range.size_hint(), (0, Some(0)));
        let mut edge = arange(250_u8, 255, 4);
        assert_eq!(block_on(edge.next()), Some(250));
        assert_eq!(block_on(edge.next()), Some(254));
        assert_eq!(edge.size_hint(), (0, Some(0)));
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
        assert_eq!(aslice(arange(0, 4, 1), 1, 3).size_hint(), (2, Some(2)));
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
