//! The service tree as a graph, exported as Graphviz DOT or Mermaid text.
//!
//! A [`Graph`] is a flat list of [`GraphNode`]s, each naming its parent and how it became a
//! child ([`ChildKind`]): declared when the tree was built, or added as a runtime dependency
//! while it ran. The engine builds one from the live tree; this module only renders it, so
//! it needs neither a runtime nor `std`, and never runs the Graphviz `dot` binary (feed the
//! text to it, or to any Mermaid renderer, yourself).
//!
//! Nodes are rendered in the order given, which the engine makes parents first and children
//! in declaration order, so the output of an unchanged tree is byte-for-byte stable.
//!
//! ```
//! use mode::graph::{ChildKind, Graph, GraphNode};
//!
//! let graph = Graph::new(vec![
//!     GraphNode::new(1, "App", None, ChildKind::Root),
//!     GraphNode::new(2, "Webserver", Some(1), ChildKind::Declared),
//!     GraphNode::new(3, "UserCache", Some(1), ChildKind::Runtime),
//! ]);
//!
//! assert_eq!(
//!     graph.to_dot(),
//!     "digraph mode {
//!     n1 [label=\"App\"];
//!     n2 [label=\"Webserver\"];
//!     n3 [label=\"UserCache\"];
//!     n1 -> n2;
//!     n1 -> n3 [style=dashed];
//! }
//! "
//! );
//! assert_eq!(
//!     graph.to_mermaid(),
//!     "graph TD
//!     n1[\"App\"]
//!     n2[\"Webserver\"]
//!     n3[\"UserCache\"]
//!     n1 --> n2
//!     n1 -.-> n3
//! "
//! );
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

/// How a node became part of the tree; decides how its edge from the parent is drawn.
///
/// ```
/// use mode::graph::ChildKind;
///
/// assert_ne!(ChildKind::Declared, ChildKind::Runtime);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ChildKind {
    /// The root of the tree (the service the Worker runs); it has no incoming edge.
    Root,
    /// A child declared by its parent before it started; drawn as a solid edge.
    Declared,
    /// A dependency added while the parent was running; drawn as a dashed edge.
    Runtime,
}

/// One service in a [`Graph`].
///
/// ```
/// use mode::graph::{ChildKind, GraphNode};
///
/// let node = GraphNode::new(2, "Webserver", Some(1), ChildKind::Declared);
/// assert_eq!(node.id, 2);
/// assert_eq!(node.label, "Webserver");
/// assert_eq!(node.parent, Some(1));
/// assert_eq!(node.kind, ChildKind::Declared);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GraphNode {
    /// The node's id, unique within its graph; rendered as `n<id>`.
    pub id: u64,
    /// The service's label, rendered escaped for the output format.
    pub label: String,
    /// The id of the parent node, `None` for a root.
    pub parent: Option<u64>,
    /// How the node became a child of `parent`.
    pub kind: ChildKind,
}

impl GraphNode {
    /// A node with the given id, label, parent and kind.
    #[must_use]
    pub fn new(id: u64, label: impl Into<String>, parent: Option<u64>, kind: ChildKind) -> Self {
        GraphNode {
            id,
            label: label.into(),
            parent,
            kind,
        }
    }
}

/// A service tree with its runtime dependencies, ready to render.
///
/// Every node with a parent gets one edge from that parent: solid for
/// [`ChildKind::Declared`] (and [`ChildKind::Root`]), dashed for [`ChildKind::Runtime`].
/// Ids are not checked: an edge to a parent that is not among the nodes is still written,
/// and the renderer draws that parent as a bare id. [`Display`](fmt::Display) writes DOT.
///
/// ```
/// use mode::graph::{ChildKind, Graph, GraphNode};
///
/// let graph = Graph::new(vec![GraphNode::new(7, "Worker", None, ChildKind::Root)]);
/// assert_eq!(graph.nodes().len(), 1);
/// assert_eq!(graph.to_string(), graph.to_dot());
/// assert_eq!(Graph::default().to_mermaid(), "graph TD\n");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    nodes: Vec<GraphNode>,
}

impl Graph {
    /// A graph of `nodes`, rendered in this order (parents before children).
    #[must_use]
    pub fn new(nodes: Vec<GraphNode>) -> Self {
        Graph { nodes }
    }

    /// The nodes, in the order given to [`new`](Graph::new).
    #[must_use]
    pub fn nodes(&self) -> &[GraphNode] {
        &self.nodes
    }

    /// The graph in Graphviz DOT: `digraph mode { ... }`, one statement per line.
    ///
    /// Labels are written as DOT quoted strings with `"` and `\` escaped and line breaks
    /// as `\n`, so a label can never end the string or be read as a DOT escape.
    ///
    /// ```
    /// use mode::graph::{ChildKind, Graph, GraphNode};
    ///
    /// let graph = Graph::new(vec![GraphNode::new(1, "say \"hi\"", None, ChildKind::Root)]);
    /// assert_eq!(graph.to_dot(), "digraph mode {\n    n1 [label=\"say \\\"hi\\\"\"];\n}\n");
    /// ```
    #[must_use]
    pub fn to_dot(&self) -> String {
        let mut out = String::new();
        // Writing into a `String` cannot fail.
        let _ = self.write_dot(&mut out);
        out
    }

    /// The graph as a Mermaid flowchart: `graph TD`, one node or edge per line.
    ///
    /// Labels are quoted (`n1["App"]`) with Mermaid entity codes for the characters that
    /// would end the label or be read as markup (`"` as `#quot;`, `#` as `#35;`, `<`, `>`,
    /// `&`, and the backtick), and line breaks as `<br/>`.
    ///
    /// ```
    /// use mode::graph::{ChildKind, Graph, GraphNode};
    ///
    /// let graph = Graph::new(vec![
    ///     GraphNode::new(1, "App", None, ChildKind::Root),
    ///     GraphNode::new(2, "say \"hi\"", Some(1), ChildKind::Declared),
    /// ]);
    /// assert_eq!(
    ///     graph.to_mermaid(),
    ///     "graph TD\n    n1[\"App\"]\n    n2[\"say #quot;hi#quot;\"]\n    n1 --> n2\n"
    /// );
    /// ```
    #[must_use]
    pub fn to_mermaid(&self) -> String {
        let mut out = String::new();
        // Writing into a `String` cannot fail.
        let _ = self.write_mermaid(&mut out);
        out
    }

    fn write_dot(&self, out: &mut impl Write) -> fmt::Result {
        out.write_str("digraph mode {\n")?;
        for node in &self.nodes {
            write!(out, "    n{} [label=\"", node.id)?;
            escape_dot(&node.label, out)?;
            out.write_str("\"];\n")?;
        }
        for (parent, node) in self.edges() {
            write!(out, "    n{parent} -> n{}", node.id)?;
            if node.kind == ChildKind::Runtime {
                out.write_str(" [style=dashed]")?;
            }
            out.write_str(";\n")?;
        }
        out.write_str("}\n")
    }

    fn write_mermaid(&self, out: &mut impl Write) -> fmt::Result {
        out.write_str("graph TD\n")?;
        for node in &self.nodes {
            write!(out, "    n{}[\"", node.id)?;
            escape_mermaid(&node.label, out)?;
            out.write_str("\"]\n")?;
        }
        for (parent, node) in self.edges() {
            let arrow = if node.kind == ChildKind::Runtime {
                "-.->"
            } else {
                "-->"
            };
            writeln!(out, "    n{parent} {arrow} n{}", node.id)?;
        }
        Ok(())
    }

    fn edges(&self) -> impl Iterator<Item = (u64, &GraphNode)> + '_ {
        self.nodes
            .iter()
            .filter_map(|node| Some((node.parent?, node)))
    }
}

impl fmt::Display for Graph {
    /// Writes the graph as Graphviz DOT, as [`Graph::to_dot`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_dot(f)
    }
}

/// Escapes `label` for the inside of a DOT quoted string.
///
/// A backslash is doubled so that label text is never read as a DOT escape (`\N`, `\l`, ...);
/// CR LF, CR and LF all become the centred line break `\n`.
fn escape_dot(label: &str, out: &mut impl Write) -> fmt::Result {
    let mut chars = label.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.write_str("\\n")?;
            }
            c => out.write_char(c)?,
        }
    }
    Ok(())
}

/// Escapes `label` for the inside of a quoted Mermaid node label.
///
/// Mermaid has no backslash escapes; it reads `#name;` and `#number;` as entity codes, so
/// `#` itself must be escaped too, or a label such as `#quot;` would change meaning.
fn escape_mermaid(label: &str, out: &mut impl Write) -> fmt::Result {
    let mut chars = label.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.write_str("#quot;")?,
            '#' => out.write_str("#35;")?,
            '<' => out.write_str("#lt;")?,
            '>' => out.write_str("#gt;")?,
            '&' => out.write_str("#amp;")?,
            '`' => out.write_str("#96;")?,
            '\n' => out.write_str("<br/>")?,
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.write_str("<br/>")?;
            }
            c => out.write_char(c)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn dot(label: &str) -> String {
        let mut out = String::new();
        escape_dot(label, &mut out).unwrap();
        out
    }

    fn mermaid(label: &str) -> String {
        let mut out = String::new();
        escape_mermaid(label, &mut out).unwrap();
        out
    }

    #[test]
    fn dot_escapes_quotes_backslashes_and_newlines() {
        assert_eq!(dot("plain ^--Label"), "plain ^--Label");
        assert_eq!(dot(r#"a "b" c"#), r#"a \"b\" c"#);
        assert_eq!(dot(r"C:\path\N"), r"C:\\path\\N");
        assert_eq!(dot("one\ntwo\r\nthree\rfour"), r"one\ntwo\nthree\nfour");
        assert_eq!(dot("\\\""), r#"\\\""#);
        assert_eq!(dot("ünïcödé → ok"), "ünïcödé → ok");
        assert_eq!(dot(""), "");
    }

    #[test]
    fn mermaid_escapes_quotes_markup_and_newlines() {
        assert_eq!(mermaid("plain ^--Label"), "plain ^--Label");
        assert_eq!(mermaid(r#"a "b" c"#), "a #quot;b#quot; c");
        assert_eq!(mermaid("#quot;"), "#35;quot;");
        assert_eq!(mermaid("<b>&amp;</b>"), "#lt;b#gt;#amp;amp;#lt;/b#gt;");
        assert_eq!(mermaid("`code`"), "#96;code#96;");
        assert_eq!(
            mermaid("one\ntwo\r\nthree\rfour"),
            "one<br/>two<br/>three<br/>four"
        );
        assert_eq!(mermaid(r"back\slash [x] (y)"), r"back\slash [x] (y)");
    }

    #[test]
    fn labels_are_escaped_in_full_output() {
        let graph = Graph::new(vec![
            GraphNode::new(1, "a\"b", None, ChildKind::Root),
            GraphNode::new(2, "c\nd", Some(1), ChildKind::Runtime),
        ]);
        assert_eq!(
            graph.to_dot(),
            "digraph mode {\n    n1 [label=\"a\\\"b\"];\n    n2 [label=\"c\\nd\"];\n    n1 -> n2 [style=dashed];\n}\n"
        );
        assert_eq!(
            graph.to_mermaid(),
            "graph TD\n    n1[\"a#quot;b\"]\n    n2[\"c<br/>d\"]\n    n1 -.-> n2\n"
        );
    }

    #[test]
    fn edges_follow_node_order_and_kind() {
        let graph = Graph::new(vec![
            GraphNode::new(10, "Worker", None, ChildKind::Root),
            GraphNode::new(11, "App", Some(10), ChildKind::Declared),
            GraphNode::new(12, "Websockets", Some(11), ChildKind::Declared),
            GraphNode::new(13, "Webserver", Some(11), ChildKind::Declared),
            GraphNode::new(14, "Cache", Some(13), ChildKind::Runtime),
        ]);
        let edges: Vec<String> = graph
            .to_mermaid()
            .lines()
            .filter(|line| line.contains("->"))
            .map(|line| line.trim().to_string())
            .collect();
        assert_eq!(
            edges,
            ["n10 --> n11", "n11 --> n12", "n11 --> n13", "n13 -.-> n14"]
        );
        assert!(graph.to_dot().contains("    n13 -> n14 [style=dashed];\n"));
        assert_eq!(graph.nodes()[4].label, "Cache");
    }

    #[test]
    fn empty_graph_renders_headers_only() {
        let graph = Graph::new(Vec::new());
        assert_eq!(graph.to_dot(), "digraph mode {\n}\n");
        assert_eq!(graph.to_mermaid(), "graph TD\n");
        assert_eq!(graph, Graph::default());
    }
}
