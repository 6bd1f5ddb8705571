//! One ordered record per thread of what hooks did and what mode logged.

use std::cell::RefCell;
use std::string::String;
use std::sync::Once;
use std::vec::Vec;

std::thread_local! {
    static JOURNAL: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Appends `line` if this thread is capturing.
pub fn record(line: impl Into<String>) {
    JOURNAL.with(|journal| {
        if let Some(lines) = journal.borrow_mut().as_mut() {
            lines.push(line.into());
        }
    });
}

/// Runs `f` capturing hooks and log lines recorded on this thread.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    install_logger();
    JOURNAL.with(|journal| *journal.borrow_mut() = Some(Vec::new()));
    let result = f();
    let lines = JOURNAL.with(|journal| journal.borrow_mut().take().unwrap_or_default());
    (result, lines)
}

/// Log lines only, with their level: `"INFO [^-App]: Starting..."`.
#[must_use]
pub fn logs(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .filter(|l| l.starts_with("INFO ") || l.starts_with("WARN ") || l.starts_with("ERROR "))
        .map(String::as_str)
        .collect()
}

struct JournalLogger;

impl log::Log for JournalLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        // Lines of threads that do not capture are not even formatted.
        metadata.level() <= log::Level::Info && JOURNAL.with(|journal| journal.borrow().is_some())
    }

    fn log(&self, entry: &log::Record<'_>) {
        if self.enabled(entry.metadata()) {
            record(format!("{} {}", entry.level(), entry.args()));
        }
    }

    fn flush(&self) {}
}

fn install_logger() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another logger may already be installed by the test binary; then only hook
        // records are captured.
        if log::set_logger(&JournalLogger).is_ok() {
            log::set_max_level(log::LevelFilter::Info);
        }
    });
}

/// The lines strictly between the marker lines `from` and `to`.
pub fn between<'a>(journal: &'a [String], from: &str, to: &str) -> Vec<&'a str> {
    journal
        .iter()
        .skip_while(|l| *l != from)
        .skip(1)
        .take_while(|l| *l != to)
        .map(String::as_str)
        .collect()
}

/// The non-empty lines of `text`, trimmed: an expected journal written as a block.
pub fn lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}
