//! [`Probe`]: a service that records each hook call in the [`journal`](crate::journal).

use std::borrow::Cow;
use std::vec::Vec;

use mode_core::{BoxResult, Context, Dependencies, Service};

use crate::journal::record;

/// Records `"{label}.{hook}"` for every hook; declares its children.
#[derive(Debug)]
pub struct Probe {
    label: Cow<'static, str>,
    children: Vec<Probe>,
}

impl Probe {
    /// A probe labelled `label`, without children.
    #[must_use]
    pub fn new(label: impl Into<Cow<'static, str>>) -> Self {
        Probe {
            label: label.into(),
            children: Vec::new(),
        }
    }

    /// Adds a declared child.
    #[must_use]
    pub fn with_child(mut self, child: Probe) -> Self {
        self.children.push(child);
        self
    }
}

impl Service for Probe {
    fn label(&self) -> Cow<'static, str> {
        self.label.clone()
    }

    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        for child in self.children.drain(..) {
            deps.add(child);
        }
    }

    async fn on_first_start(&mut self, _cx: &Context<'_>) -> BoxResult {
        record(format!("{}.on_first_start", self.label));
        Ok(())
    }

    async fn on_start(&mut self, _cx: &Context<'_>) -> BoxResult {
        record(format!("{}.on_start", self.label));
        Ok(())
    }

    async fn on_started(&mut self, _cx: &Context<'_>) -> BoxResult {
        record(format!("{}.on_started", self.label));
        Ok(())
    }

    async fn on_stop(&mut self, cx: &Context<'_>) -> BoxResult {
        let reason = cx
            .handle()
            .stop_reason()
            .map(|r| r.to_string())
            .unwrap_or_default();
        record(format!("{}.on_stop ({reason})", self.label));
        Ok(())
    }

    async fn on_shutdown(&mut self, _cx: &Context<'_>) -> BoxResult {
        record(format!("{}.on_shutdown", self.label));
        Ok(())
    }

    async fn on_restart(&mut self, _cx: &Context<'_>) -> BoxResult {
        record(format!("{}.on_restart", self.label));
        Ok(())
    }
}
