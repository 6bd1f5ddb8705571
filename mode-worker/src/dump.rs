//! The tree dump (mode's "cry"): one line per service, logged on SIGUSR1 or built from
//! code with [`dump`].

use std::fmt::Write as _;

use mode_core::{ServiceHandle, State};

/// A dump of the tree below `root` (`root` included): one line per service, indented by
/// depth, with its state (and `(paused)` or `(quarantined)` for a child its supervisor
/// [parked](mode_core::ServiceHandle::parked)), its uptime while it runs (since its last
/// start began), restarts, last crash, what it waits on while it stops, and its tasks and
/// timers by name. A [`ServiceThread`](crate::ServiceThread)'s tree, which runs on its
/// thread, is shown below it, its root marked `[own tree]`.
///
/// ```
/// use mode::testing::VirtualRuntime;
/// use mode::{BoxResult, Context, Service, Tree};
/// use std::time::Duration;
///
/// struct App;
///
/// impl Service for App {
///     async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
///         cx.spawn_named("heartbeat", core::future::pending())?;
///         cx.handle().sleep(Duration::from_millis(1500)).await?;
///         let dump = mode::worker::dump(cx.handle());
///         assert_eq!(dump, "App: running, up 1.5s; tasks: heartbeat");
///         cx.handle().request_stop();
///         Ok(())
///     }
/// }
///
/// let rt = VirtualRuntime::new();
/// rt.block_on(Tree::new(App, rt.clone(), rt.clone()).run()).unwrap();
/// ```
#[must_use]
pub fn dump(root: &ServiceHandle) -> String {
    lines(root).join("\n")
}

/// The dump's lines, depth first in start order; a service's
/// [nested tree](ServiceHandle::nested_tree) (a thread service's) comes right below it,
/// before its children.
pub(crate) fn lines(root: &ServiceHandle) -> Vec<String> {
    let mut lines = Vec::new();
    // The roots of the trees shown so far: a tree that names one of them as its nested
    // tree is not shown again.
    let mut trees = vec![root.clone()];
    let mut stack = vec![(root.clone(), 0usize, false)];
    while let Some((service, depth, nested)) = stack.pop() {
        lines.push(line(&service, depth, nested));
        let children = service.children();
        stack.extend(
            children
                .into_iter()
                .rev()
                .map(|child| (child, depth + 1, false)),
        );
        if let Some(tree) = service.nested_tree().filter(|tree| !trees.contains(tree)) {
            trees.push(tree.clone());
            stack.push((tree, depth + 1, true));
        }
    }
    lines
}

/// One service's line; `nested` for the root of a nested tree.
fn line(service: &ServiceHandle, depth: usize, nested: bool) -> String {
    let mut line = format!(
        "{:indent$}{}{}: {}",
        "",
        if nested { "[own tree] " } else { "" },
        service.label(),
        service.state(),
        indent = 2 * depth
    );
    if let Some(parked) = service.parked() {
        let _ = write!(line, " ({parked})");
    }
    if let (State::Running, Some(since)) = (service.state(), service.started_at()) {
        let uptime = service.now() - since;
        let _ = write!(line, ", up {:.1}s", uptime.as_secs_f64());
    }
    match service.restart_count() {
        0 => {}
        1 => line.push_str(", restarted once"),
        n => {
            let _ = write!(line, ", restarted {n} times");
        }
    }
    if let Some(crash) = service.crash_reason() {
        let _ = write!(line, ", last crash: {}", crash.error());
    }
    if let Some(waiting_on) = service.waiting_on() {
        let _ = write!(line, ", waiting on {waiting_on}");
    }
    let tasks = service.task_names();
    if !tasks.is_empty() {
        let _ = write!(line, "; tasks: {}", tasks.join(", "));
    }
    line
}

#[cfg(test)]
mod tests {
    use mode_core::testing::VirtualRuntime;
    use mode_core::{BoxResult, Context, Service, Tree};

    /// Names its own tree as its nested tree: a cycle the dump must not follow.
    struct OwnTree;

    impl Service for OwnTree {
        async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
            cx.set_nested_tree(Some(cx.handle()));
            let lines = super::lines(cx.handle());
            assert_eq!(lines.len(), 1, "{lines:?}");
            assert!(lines[0].starts_with("OwnTree: running"), "{lines:?}");
            cx.handle().request_stop();
            Ok(())
        }
    }

    #[test]
    fn a_tree_is_shown_once_even_if_it_names_itself() {
        let rt = VirtualRuntime::new();
        let exit = rt
            .block_on(Tree::new(OwnTree, rt.clone(), rt.clone()).run())
            .unwrap();
        assert!(exit.is_clean(), "{exit}");
    }
}
