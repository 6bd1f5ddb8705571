//! [`Roots`]: the service above a Worker's roots when it has several of them, or runs as a
//! daemon (as mode's Worker is itself the service above its own).

use std::borrow::Cow;
use std::fmt;

use mode_core::{BoxResult, Context, Dependencies, Service};

/// Adds one root below [`Roots`].
pub(crate) type AddRoot = Box<dyn FnOnce(&mut Dependencies<'_>)>;

/// The service above the Worker's roots, labelled `Worker`. Its own lifecycle lines are
/// logged at DEBUG (the Worker logs its own), and it sits at log depth 0, so the roots
/// log as `[^-Web]`, as a single root does.
///
/// Unless it is a daemon, it stops the tree once every root has stopped on its own.
pub(crate) struct Roots {
    roots: Vec<AddRoot>,
    daemon: bool,
}

impl Roots {
    pub(crate) fn new(roots: Vec<AddRoot>, daemon: bool) -> Self {
        Roots { roots, daemon }
    }
}

impl fmt::Debug for Roots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Roots")
            .field("roots", &self.roots.len())
            .field("daemon", &self.daemon)
            .finish()
    }
}

impl Service for Roots {
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed("Worker")
    }

    fn lifecycle_log_level(&self) -> log::Level {
        log::Level::Debug
    }

    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        for add in self.roots.drain(..) {
            add(deps);
        }
    }

    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        if self.daemon {
            return Ok(());
        }
        let me = cx.handle().clone();
        cx.spawn_named("roots-done", async move {
            for root in me.children() {
                root.wait_until_stopped().await;
            }
            me.request_stop();
            Ok(())
        })?;
        Ok(())
    }
}
