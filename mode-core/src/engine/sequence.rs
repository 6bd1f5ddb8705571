//! Storage for the futures of start and stop sequences, reused from one sequence to the next.
//!
//! Each start or stop of a service runs its hooks inside one or two futures whose type
//! depends on the service's type, so the driver keeps them type-erased, behind a pointer
//! (see `DynService::start_sequence`). Sequences never outlive the driver and seldom
//! overlap (a hook that adds a runtime dependency starts the child's sequence inside its
//! own), so the blocks they live in can be kept and reused: [`SequenceBlocks`] keeps the
//! blocks of finished sequences, and a [`SequenceBox`] takes one of them, or allocates a
//! fresh one when none fits. A tree that starts and stops thousands of services thus
//! allocates only a few blocks.

use alloc::alloc::{alloc, dealloc, handle_alloc_error};
use alloc::vec::Vec;
use core::alloc::Layout;
use core::cell::RefCell;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context, Poll};

/// How many free blocks are kept: more than sequences usually nest.
const KEPT_BLOCKS: usize = 16;

/// The driver's free blocks for sequence futures. Neither `Send` nor `Sync`, like the
/// boxes it hands out: both stay on the driver's thread.
#[derive(Default)]
pub(crate) struct SequenceBlocks {
    free: RefCell<Vec<Block>>,
}

/// A block of memory for one future.
#[derive(Clone, Copy)]
struct Block {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl SequenceBlocks {
    /// Places `future` in a free block that fits (or a new one), pinned there until the
    /// returned box is dropped.
    pub(crate) fn boxed<'a, F>(&'a self, future: F) -> SequenceBox<'a, F::Output>
    where
        F: Future + 'a,
    {
        self.boxed_with(|| future)
    }

    /// [`boxed`](Self::boxed) for a future that `make` returns: made right in its block,
    /// not on the stack first and then copied there (a large future, such as an
    /// operation's, costs a copy of its whole size).
    pub(crate) fn boxed_with<'a, F>(
        &'a self,
        make: impl FnOnce() -> F,
    ) -> SequenceBox<'a, F::Output>
    where
        F: Future + 'a,
    {
        let needed = Layout::new::<F>();
        let block = self.take(needed);
        let ptr = block.ptr.cast::<F>();
        // SAFETY: the block is at least as large and as aligned as `F` (`take`), and it is
        // this box's alone until the box gives it back.
        unsafe { ptr.as_ptr().write(make()) };
        let future: NonNull<dyn Future<Output = F::Output> + 'a> = ptr;
        SequenceBox {
            future,
            block,
            blocks: self,
        }
    }

    /// A free block for `needed`, the most recently freed first; or a new one.
    fn take(&self, needed: Layout) -> Block {
        let mut free = self.free.borrow_mut();
        let fits = |block: &Block| {
            block.layout.size() >= needed.size() && block.layout.align() >= needed.align()
        };
        if let Some(at) = free.iter().rposition(fits) {
            return free.swap_remove(at);
        }
        drop(free);
        // A zero-sized future still gets a byte: `alloc` takes no empty layout.
        let layout = Layout::from_size_align(needed.size().max(1), needed.align())
            .unwrap_or_else(|_| handle_alloc_error(needed));
        // SAFETY: `layout` has a non-zero size.
        let ptr =
            NonNull::new(unsafe { alloc(layout) }).unwrap_or_else(|| handle_alloc_error(layout));
        Block { ptr, layout }
    }

    /// Keeps `block` for a later sequence, or frees it when enough are kept.
    fn give_back(&self, block: Block) {
        let mut free = self.free.borrow_mut();
        if free.len() < KEPT_BLOCKS {
            free.push(block);
        } else {
            drop(free);
            block.free();
        }
    }
}

impl Block {
    fn free(self) {
        // SAFETY: the block was allocated with this layout (`SequenceBlocks::take`) and
        // holds no value any more.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

impl Drop for SequenceBlocks {
    fn drop(&mut self) {
        for block in self.free.get_mut().drain(..) {
            block.free();
        }
    }
}

impl fmt::Debug for SequenceBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequenceBlocks")
            .field("free", &self.free.try_borrow().map(|free| free.len()).ok())
            .finish()
    }
}

/// A sequence future in a block of [`SequenceBlocks`], pinned there; gives the block back
/// when dropped.
pub(crate) struct SequenceBox<'a, T> {
    future: NonNull<dyn Future<Output = T> + 'a>,
    block: Block,
    blocks: &'a SequenceBlocks,
}

impl<T> Future for SequenceBox<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // SAFETY: the future is valid until the box drops it, and pinned: it never moves
        // out of its block (the box only holds a pointer to it, and moving the box moves
        // the pointer, which is why the box itself is `Unpin`).
        unsafe { Pin::new_unchecked(&mut *self.get_mut().future.as_ptr()) }.poll(cx)
    }
}

impl<T> Drop for SequenceBox<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the future was written in `boxed` and is dropped once, here, in place.
        unsafe { self.future.as_ptr().drop_in_place() };
        self.blocks.give_back(self.block);
    }
}

impl<T> fmt::Debug for SequenceBox<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequenceBox").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::rc::Rc;
    use core::cell::Cell;

    /// Counts its drops.
    struct Probe(Rc<Cell<usize>>);

    impl Drop for Probe {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn a_freed_block_serves_the_next_future_that_fits_and_every_future_drops_once() {
        let blocks = SequenceBlocks::default();
        let drops = Rc::new(Cell::new(0));
        let mut cx = Context::from_waker(core::task::Waker::noop());

        let probe = Probe(drops.clone());
        let mut first = blocks.boxed(async move {
            let _probe = probe;
            [7u64; 8].iter().sum::<u64>()
        });
        assert_eq!(Pin::new(&mut first).poll(&mut cx), Poll::Ready(56));
        let first_block = first.block.ptr;
        // A nested sequence while the first is alive gets a block of its own.
        let nested = blocks.boxed(async { 1u8 });
        assert_ne!(nested.block.ptr, first_block);
        drop(nested);
        drop(first);
        assert_eq!(drops.get(), 1);

        // The next future that fits takes the most recently freed block that fits.
        let probe = Probe(drops.clone());
        let second = blocks.boxed(async move {
            let _probe = probe;
        });
        assert_eq!(second.block.ptr, first_block);
        // Dropped without being polled: its captures are dropped all the same.
        drop(second);
        assert_eq!(drops.get(), 2);

        // A larger future than any kept block gets a new one.
        let bytes = [0u8; 4096];
        let large = blocks.boxed(async move { bytes.len() });
        assert!(large.block.layout.size() >= 4096);
        drop(large);
        assert_eq!(blocks.free.borrow().len(), 3);
    }
}
