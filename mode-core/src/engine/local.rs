//! The driver's half of a service, stored in the same allocation as the shared [`Node`].
//!
//! A service lives in two halves (see `node.rs`): the shared node, `Send + Sync` and
//! reference counted from any thread, and the driver's `LocalNode` with the service value
//! and everything else that need not be `Send`. Both halves sit in one block: the node's
//! last field is a [`LocalSlot`] holding the driver's half, so creating a service costs one
//! allocation, not two.
//!
//! Only the future that drives the tree may touch the driver's half. That is what
//! [`LocalRef`] enforces: it is the only way to reach the half, it is neither `Send` nor
//! `Sync` (so it never leaves the driver's thread), and only the driver creates one, once
//! per node (`Driver::create_node`), then clones it.
//!
//! # Lifetimes of the two halves
//!
//! The `LocalRef`s of a node count themselves in the slot (a plain `Cell`: they all live on
//! one thread) and together own one strong count of the node. When the last one goes, the
//! driver's half is dropped in place, on the driver's thread, and that strong count is
//! released. The node itself stays for as long as handles hold it, with its driver's half
//! dropped: nothing reaches the half then, since no `LocalRef` is left and none can be
//! made. The shared node's own drop never drops the half (it is `ManuallyDrop`), so a
//! handle dropped on another thread never drops a service value there.

use core::cell::{Cell, UnsafeCell};
use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::Deref;

use crate::engine::LocalNode;
use crate::handle::ServiceHandle;
use crate::node::Node;
use crate::platform::plain::Arc;

/// Where a node keeps its driver's half. See the module docs.
pub(crate) struct LocalSlot<T: ?Sized> {
    /// Live [`LocalRef`]s of the node.
    refs: Cell<usize>,
    value: UnsafeCell<ManuallyDrop<T>>,
}

impl<T> LocalSlot<T> {
    /// A slot holding `value`, with no [`LocalRef`] yet.
    pub(crate) fn new(value: T) -> Self {
        LocalSlot {
            refs: Cell::new(0),
            value: UnsafeCell::new(ManuallyDrop::new(value)),
        }
    }
}

// SAFETY: the slot's contents are only reached through `LocalRef`s, which are neither `Send`
// nor `Sync` and are all made on the thread that runs the tree's driver (the first by
// `LocalRef::adopt`, the others by cloning it). So `refs` and `value` are only ever touched
// from that one thread, whichever thread holds or drops the node. The value is never dropped
// by the slot itself (`ManuallyDrop`), only by the last `LocalRef`, on that thread.
unsafe impl<T: ?Sized> Send for LocalSlot<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: ?Sized> Sync for LocalSlot<T> {}

/// The driver's reference to a service: reaches the driver's half ([`LocalNode`], through
/// `Deref`) and the shared node. Cheap to clone (no atomic operation), and confined to the
/// driver's thread.
pub(crate) struct LocalRef {
    /// The node; all the refs of a node together own one strong count of it.
    handle: ManuallyDrop<ServiceHandle>,
    /// Neither `Send` nor `Sync`: see the module docs.
    _driver_only: PhantomData<*const ()>,
}

impl LocalRef {
    /// The first reference to a new node's driver's half, taking over the strong count
    /// `node` holds.
    ///
    /// Call it once per node, on the driver's thread, right after creating the node.
    pub(crate) fn adopt(node: Arc<Node>) -> Self {
        debug_assert_eq!(node.local.refs.get(), 0, "a node adopted twice");
        node.local.refs.set(1);
        LocalRef {
            handle: ManuallyDrop::new(ServiceHandle::new(node)),
            _driver_only: PhantomData,
        }
    }

    /// The service's handle.
    pub(crate) fn handle(&self) -> &ServiceHandle {
        &self.handle
    }

    /// The shared node.
    pub(crate) fn node(&self) -> &Arc<Node> {
        self.handle.node()
    }

    /// Whether both refer to the same service.
    pub(crate) fn ptr_eq(&self, other: &LocalRef) -> bool {
        core::ptr::addr_eq(&**self.node(), &**other.node())
    }

    fn slot(&self) -> &LocalSlot<LocalNode> {
        &self.node().local
    }
}

impl Clone for LocalRef {
    fn clone(&self) -> Self {
        let refs = &self.slot().refs;
        refs.set(refs.get() + 1);
        // SAFETY: the copy shares the one strong count that all refs of the node own
        // together (counted in `refs` just above); no ref releases it while another exists.
        let handle = unsafe { core::ptr::read(&*self.handle) };
        LocalRef {
            handle: ManuallyDrop::new(handle),
            _driver_only: PhantomData,
        }
    }
}

impl Deref for LocalRef {
    type Target = LocalNode;

    fn deref(&self) -> &LocalNode {
        // SAFETY: while a ref exists, the driver's half is alive (only the last ref drops
        // it), and it is only reached from the driver's thread, where this ref is; the
        // driver only takes shared references to it (mutation goes through its cells).
        unsafe { &*self.slot().value.get() }
    }
}

impl Drop for LocalRef {
    fn drop(&mut self) {
        let slot = self.slot();
        let refs = slot.refs.get() - 1;
        slot.refs.set(refs);
        if refs != 0 {
            return;
        }
        // SAFETY: this was the last ref, so no reference to the driver's half is left (they
        // all borrowed from a ref) and none can be made again: drop it in place, once. The
        // node's memory stays valid meanwhile: this ref still holds the strong count.
        unsafe { ManuallyDrop::drop(&mut *slot.value.get()) };
        // SAFETY: the strong count the refs owned together; this was the last of them.
        unsafe { ManuallyDrop::drop(&mut self.handle) };
    }
}

impl fmt::Debug for LocalRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use alloc::rc::Rc;
    use core::cell::Cell;
    use core::sync::atomic::{AtomicBool, Ordering};

    use crate::testing::VirtualRuntime;
    use crate::{Context, Dependencies, Result, Service, ServiceHandle, State, Tree};

    /// Records its drop; holds an `Rc`, so it is not `Send`.
    struct Dropped(Rc<Cell<bool>>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }

    struct Leaf(#[allow(dead_code)] Dropped);

    impl Service for Leaf {}

    struct Root {
        declared: Rc<Cell<bool>>,
        runtime: Rc<Cell<bool>>,
        runtime_handle: Rc<core::cell::RefCell<Option<ServiceHandle>>>,
    }

    impl Service for Root {
        fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
            deps.add(Leaf(Dropped(self.declared.clone())));
        }

        async fn on_start(&mut self, cx: &Context<'_>) -> Result {
            let child = cx
                .add_runtime_dependency(Leaf(Dropped(self.runtime.clone())))
                .await?;
            *self.runtime_handle.borrow_mut() = Some(child);
            Ok(())
        }
    }

    /// The driver's half of a service (its value) is dropped by the driver when the service
    /// leaves the tree, whatever handles are left: a handle, even one dropped on another
    /// thread later, only keeps the shared half.
    #[test]
    fn service_values_are_dropped_by_the_driver_and_handles_keep_only_the_shared_half() {
        let declared = Rc::new(Cell::new(false));
        let runtime = Rc::new(Cell::new(false));
        let runtime_handle = Rc::new(core::cell::RefCell::new(None));
        let rt = VirtualRuntime::new();
        let tree = Tree::new(
            Root {
                declared: declared.clone(),
                runtime: runtime.clone(),
                runtime_handle: runtime_handle.clone(),
            },
            rt.clone(),
            rt.clone(),
        );
        let root = tree.handle();
        let leaf = root.children()[0].clone();
        let ((), ()) = rt
            .block_on(futures_lite::future::zip(
                async {
                    tree.run().await;
                },
                async {
                    root.wait_until_running().await.unwrap();
                    root.restart().await.unwrap();
                    // The restart removed the first run's runtime child from the tree: its
                    // value is gone, though its handle is still held.
                    assert!(
                        runtime.get(),
                        "the removed runtime child's value was dropped"
                    );
                    root.stop().await;
                },
            ))
            .unwrap();
        assert!(declared.get(), "the tree dropped its services' values");
        let kept = runtime_handle.borrow_mut().take().unwrap();
        assert_eq!(kept.state(), State::Stopped);
        // The shared halves outlive the tree and can be dropped on any thread.
        let dropped_elsewhere = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                assert_eq!(leaf.state(), State::Stopped);
                assert_eq!(root.state(), State::Stopped);
                drop((leaf, root, kept));
                dropped_elsewhere.store(true, Ordering::SeqCst);
            });
        });
        assert!(dropped_elsewhere.load(Ordering::SeqCst));
    }
}
