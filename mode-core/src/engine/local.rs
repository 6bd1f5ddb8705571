//! [`LocalRef`]: the driver's reference to the driver's half of a service.
//!
//! A service lives in two halves: the shared [`Node`], `Send + Sync` and reference
//! counted from any thread (handles hold it), and the driver's [`LocalNode`], with the
//! service value and everything else that need not be `Send`, which holds the node.
//!
//! Only the future that drives the tree reaches the driver's half: [`LocalRef`] is an `Rc`,
//! neither `Send` nor `Sync`, so it never leaves the driver's thread, and only the driver
//! makes one (`Driver::new_node`). When the driver lets go of a service, the last
//! `LocalRef` drops the driver's half there, on the driver's thread; the node stays for as
//! long as handles hold it, and a handle dropped on another thread never drops a service
//! value there.

use alloc::rc::Rc;
use core::fmt;
use core::ops::Deref;

use crate::engine::LocalNode;
use crate::handle::ServiceHandle;
use crate::node::Node;
use crate::platform::plain::Arc;
use crate::service::DynService;

/// The driver's reference to a service: reaches the driver's half ([`LocalNode`], through
/// `Deref`) and the shared node. Cheap to clone (no atomic operation), and confined to the
/// driver's thread.
#[derive(Clone)]
pub(crate) struct LocalRef(Rc<LocalNode>);

impl LocalRef {
    /// The driver's half of a service, now shared by the driver's references.
    pub(crate) fn new<S: DynService>(local: LocalNode<S>) -> Self {
        let local: Rc<LocalNode> = Rc::new(local);
        LocalRef(local)
    }

    /// The service's handle.
    pub(crate) fn handle(&self) -> &ServiceHandle {
        &self.0.handle
    }

    /// The shared node.
    pub(crate) fn node(&self) -> &Arc<Node> {
        self.0.handle.node()
    }

    /// Whether both refer to the same service.
    pub(crate) fn ptr_eq(&self, other: &LocalRef) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Deref for LocalRef {
    type Target = LocalNode;

    fn deref(&self) -> &LocalNode {
        &self.0
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
    use crate::{BoxResult, Context, Dependencies, Service, ServiceHandle, State, Tree};

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

        async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
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
