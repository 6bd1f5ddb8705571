//! Noticing a request awaited from inside the operation it has to wait for: a hook that
//! awaits the stop or restart of its own service (or of a service above it) would wait
//! forever, since that stop waits for the hook. With `std`, the driver marks the thread
//! while it polls an operation, and each node records the operation that holds it, so the
//! request's future can tell on its first poll. (Without `std` nothing is noticed.)

use crate::node::{Node, TreeShared};

#[cfg(feature = "std")]
std::thread_local! {
    /// The tree (its address) and the operation that this thread's driver polls now.
    static POLLING: core::cell::Cell<Option<(usize, usize)>> = const { core::cell::Cell::new(None) };
}

/// Marks this thread as polling `operation` of `tree` until dropped.
pub(crate) struct Polling {
    #[cfg(feature = "std")]
    previous: Option<(usize, usize)>,
}

/// Marks this thread as polling `operation` of `tree` (see the module docs).
#[cfg_attr(not(feature = "std"), allow(unused_variables))]
pub(crate) fn polling(tree: &TreeShared, operation: usize) -> Polling {
    #[cfg(feature = "std")]
    {
        let marked = Some((tree_id(tree), operation));
        Polling {
            previous: POLLING.with(|polling| polling.replace(marked)),
        }
    }
    #[cfg(not(feature = "std"))]
    Polling {}
}

#[cfg(feature = "std")]
impl Drop for Polling {
    fn drop(&mut self) {
        POLLING.with(|polling| polling.set(self.previous));
    }
}

#[cfg(feature = "std")]
fn tree_id(tree: &TreeShared) -> usize {
    core::ptr::from_ref(tree).addr()
}

/// Whether this thread is inside the poll of an operation that holds `node` or a service
/// below it: a request on `node` awaited here would wait for itself.
#[cfg_attr(not(feature = "std"), allow(unused_variables))]
pub(crate) fn awaited_by_its_own_holder(node: &Node) -> bool {
    #[cfg(feature = "std")]
    {
        let Some((tree, operation)) = POLLING.with(core::cell::Cell::get) else {
            return false;
        };
        if tree != tree_id(&node.tree) {
            return false;
        }
        if node.held_by() == operation {
            return true;
        }
        let mut below = node.children();
        while let Some(child) = below.pop() {
            if child.held_by() == operation {
                return true;
            }
            below.extend(child.children());
        }
        false
    }
    #[cfg(not(feature = "std"))]
    false
}
