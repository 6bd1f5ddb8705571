//! The tree as a graph.

use mode_core::graph::ChildKind;
use mode_core::{BoxResult, Context, Service};

use crate::probe::Probe;
use crate::{run_with, Backend};

struct WithRuntime;

impl Service for WithRuntime {
    fn on_init_dependencies(&mut self, deps: &mut mode_core::Dependencies<'_>) {
        deps.add(Probe::new("Web \"server\""));
    }

    async fn on_started(&mut self, cx: &Context<'_>) -> BoxResult {
        cx.add_runtime_dependency(Probe::new("Cache")).await?;
        Ok(())
    }
}

/// Declared and runtime children export to DOT and Mermaid.
pub fn graph_exports<B: Backend>(backend: B) {
    let tree = backend.tree(WithRuntime);
    let root = tree.handle();
    // Declared children exist before the tree starts.
    assert_eq!(root.graph().nodes().len(), 2);
    let graph = backend.block_on(async {
        let (_, graph) = run_with(tree, async {
            root.wait_until_running().await.unwrap();
            let graph = root.graph();
            root.stop().await;
            graph
        })
        .await;
        graph
    });
    let kinds: Vec<ChildKind> = graph.nodes().iter().map(|n| n.kind).collect();
    assert_eq!(
        kinds,
        [ChildKind::Root, ChildKind::Declared, ChildKind::Runtime]
    );
    let ids: Vec<u64> = graph.nodes().iter().map(|n| n.id).collect();
    let dot = graph.to_dot();
    assert!(dot.starts_with("digraph mode {"), "{dot}");
    assert!(dot.contains(r#"[label="Web \"server\""]"#), "{dot}");
    assert!(
        dot.contains(&format!("n{} -> n{};", ids[0], ids[1])),
        "{dot}"
    );
    assert!(
        dot.contains(&format!("n{} -> n{} [style=dashed];", ids[0], ids[2])),
        "{dot}"
    );
    let mermaid = graph.to_mermaid();
    assert!(mermaid.starts_with("graph TD"), "{mermaid}");
    assert!(
        mermaid.contains(&format!("n{} -.-> n{}", ids[0], ids[2])),
        "{mermaid}"
    );
}
