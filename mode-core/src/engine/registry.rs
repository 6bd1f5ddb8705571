//! The driver's index of the services of its tree: a slab of [`LocalRef`]s, addressed by
//! the slot each shared [`Node`] carries, so that a command naming a node finds the
//! driver's half in O(1), without a map.

use slab::Slab;

use crate::engine::LocalRef;
use crate::node::Node;

/// The live services of a tree, by slot.
#[derive(Default)]
pub(crate) struct Registry(Slab<LocalRef>);

impl Registry {
    /// The slot that the next [`insert`](Self::insert) fills.
    pub(crate) fn next_slot(&self) -> usize {
        self.0.vacant_key()
    }

    /// Stores `local` in its node's slot, which must be [`next_slot`](Self::next_slot).
    pub(crate) fn insert(&mut self, local: LocalRef) {
        let slot = local.node().slot;
        let inserted = self.0.insert(local);
        debug_assert_eq!(slot, inserted);
    }

    /// The driver's half of `node`, if it is still in the tree.
    pub(crate) fn get(&self, node: &Node) -> Option<&LocalRef> {
        let local = self.0.get(node.slot)?;
        // A slot is reused once its service left: check it still holds this node.
        core::ptr::addr_eq(&**local.node(), node).then_some(local)
    }

    /// Removes `node`'s entry, if it is still there.
    pub(crate) fn remove(&mut self, node: &Node) {
        if self.get(node).is_some() {
            self.0.remove(node.slot);
        }
    }
}

impl IntoIterator for Registry {
    type Item = LocalRef;
    type IntoIter = core::iter::Map<slab::IntoIter<LocalRef>, fn((usize, LocalRef)) -> LocalRef>;

    /// Every service the registry held.
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter().map(|(_, local)| local)
    }
}
