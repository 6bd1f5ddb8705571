//! mode-core's layering (`docs/architecture.md`): no module imports from a layer above
//! its own, every module is in the table, and no layer but the engine's has an import
//! cycle. The tables are read from the document, so the check and the docs cannot drift.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layer tables of `docs/architecture.md`.
struct Layers {
    /// Module path (`engine`, `supervisor`, …) → (layer, layer name).
    layer_of: BTreeMap<String, (u32, String)>,
    /// Upward imports allowed for now: (from, to).
    exceptions: BTreeSet<(String, String)>,
}

/// The layer whose modules may import each other in a cycle.
const THE_ENGINE: &str = "engine";

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The backticked names in a table cell.
fn names(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn read_layers() -> Layers {
    let text = fs::read_to_string(repository().join("docs/architecture.md"))
        .expect("docs/architecture.md");
    let mut section = "";
    let mut layers = Layers {
        layer_of: BTreeMap::new(),
        exceptions: BTreeSet::new(),
    };
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            section = if title == "Layers" {
                "layers"
            } else if title == "Allowed exceptions" {
                "exceptions"
            } else {
                ""
            };
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // `| a | b | … |` splits into an empty first and last cell.
        if cells.len() < 4 || cells[1].starts_with("---") {
            continue;
        }
        match section {
            "layers" => {
                let Ok(layer) = cells[1].parse::<u32>() else {
                    continue; // the header
                };
                for module in names(cells[3]) {
                    let previous = layers
                        .layer_of
                        .insert(module.clone(), (layer, cells[2].to_owned()));
                    assert!(previous.is_none(), "`{module}` is listed twice");
                }
            }
            "exceptions" => {
                let (from, to) = (names(cells[1]), names(cells[2]));
                if let ([from], [to]) = (&from[..], &to[..]) {
                    layers.exceptions.insert((from.clone(), to.clone()));
                }
            }
            _ => {}
        }
    }
    assert!(!layers.layer_of.is_empty(), "no layer table found");
    layers
}

/// The source files under `dir`, with their module paths (`engine/driver.rs` →
/// `engine::driver`; `lib.rs` is left out: it only declares and re-exports).
fn sources(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("mode-core/src")
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let module = if prefix.is_empty() {
            stem.clone()
        } else if stem == "mod" {
            prefix.to_owned()
        } else {
            format!("{prefix}::{stem}")
        };
        if path.is_dir() {
            sources(&path, &module, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") && module != "lib" {
            out.push((module, path));
        }
    }
}

/// The listed module a module path belongs to: the longest listed prefix.
fn listed<'a>(layers: &'a Layers, path: &str) -> Option<&'a str> {
    let segments: Vec<&str> = path.split("::").collect();
    (1..=segments.len()).rev().find_map(|n| {
        let candidate = segments[..n].join("::");
        layers
            .layer_of
            .get_key_value(&candidate)
            .map(|(key, _)| key.as_str())
    })
}

/// The code of a file without comments and without its test module (which may use
/// anything).
fn code(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let is_test_cfg = trimmed.starts_with("#[cfg(test)]")
            || (trimmed.starts_with("#[cfg(all(test") && !trimmed.contains("not(test"));
        if is_test_cfg && lines.peek().is_some_and(|next| next.contains("mod tests")) {
            break;
        }
        let line = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// The crate-relative paths a file imports: `crate::a::b::C` → `a::b::C`, and each item
/// of `crate::{a::X, b}`.
fn imports(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        // `pub(crate)`, `$crate::` and the like are not paths into the crate.
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == '(') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(group.len(), |(end, _)| end);
            let mut item = String::new();
            let mut depth = 0;
            for c in group[..end].chars().chain(Some(',')) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(path_of(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
        } else {
            found.push(path_of(rest));
        }
    }
    found.retain(|path| !path.is_empty());
    found
}

/// The leading `a::b::c` of `text`.
fn path_of(text: &str) -> String {
    let text = text.trim_start();
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    text[..end].trim_end_matches(':').to_owned()
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let layers = read_layers();
    let mut files = Vec::new();
    sources(&repository().join("mode-core/src"), "", &mut files);
    let mut problems = Vec::new();
    let mut edges: BTreeSet<(String, String)> = BTreeSet::new();
    for (module, path) in &files {
        let Some(from) = listed(&layers, module) else {
            problems.push(format!("{module} is in no layer of docs/architecture.md"));
            continue;
        };
        let text = fs::read_to_string(path).expect("a source file");
        for import in imports(&code(&text)) {
            let Some(to) = listed(&layers, &import) else {
                if import.starts_with(|c: char| c.is_uppercase()) {
                    problems.push(format!(
                        "{module} imports crate::{import}: name the module, not the \
                         re-export at the crate root"
                    ));
                }
                // Macros and the like, not modules.
                continue;
            };
            if to == from {
                continue;
            }
            let (from_layer, _) = &layers.layer_of[from];
            let (to_layer, to_name) = &layers.layer_of[to];
            let allowed = layers
                .exceptions
                .contains(&(from.to_owned(), to.to_owned()));
            if to_layer > from_layer && !allowed {
                problems.push(format!(
                    "{module} (layer {from_layer}) imports crate::{import}, of layer \
                     {to_layer} ({to_name})"
                ));
            }
            if to_layer == from_layer && !allowed {
                edges.insert((from.to_owned(), to.to_owned()));
            }
        }
    }
    // No cycle within a layer, the engine's excepted.
    for (from, to) in &edges {
        if layers.layer_of[from.as_str()].1 == THE_ENGINE {
            continue;
        }
        if reaches(&edges, to, from) {
            problems.push(format!(
                "{from} and {to} import each other (through a cycle)"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "mode-core breaks its layering (docs/architecture.md):\n  {}",
        problems.join("\n  ")
    );
}

/// Whether `from` reaches `to` through `edges`.
fn reaches(edges: &BTreeSet<(String, String)>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut next = vec![from.to_owned()];
    while let Some(module) = next.pop() {
        if module == to {
            return true;
        }
        if seen.insert(module.clone()) {
            next.extend(
                edges
                    .iter()
                    .filter(|(a, _)| *a == module)
                    .map(|(_, b)| b.clone()),
            );
        }
    }
    false
}

/// The check itself finds an upward import.
#[test]
fn an_upward_import_is_found() {
    let code = code(
        "use crate::time::Instant;\nuse crate::{engine::Driver, error::Error};\n\
         // use crate::tree::Tree;\nfn f() -> crate::handle::ServiceHandle { todo!() }\n\
         #[cfg(test)]\nmod tests {\n    use crate::tree::Tree;\n}\n",
    );
    assert_eq!(
        imports(&code),
        [
            "time::Instant",
            "engine::Driver",
            "error::Error",
            "handle::ServiceHandle"
        ]
    );
    let layers = read_layers();
    let (engine, _) = &layers.layer_of[listed(&layers, "engine::Driver").unwrap()];
    let (time, _) = &layers.layer_of[listed(&layers, "time::Instant").unwrap()];
    assert!(engine > time, "the engine sits above time");
}
