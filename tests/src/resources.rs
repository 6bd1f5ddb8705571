//! Resources owned by a service, and the stop timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mode_core::events::{LifecycleEvent, Observer, ServiceInfo};
use mode_core::time::Duration;
use mode_core::{AsyncClose, BoxResult, Context, Service, State, StopReason, WaitingOn};

use crate::journal::record;
use crate::Backend;

struct Named(&'static str);

impl Drop for Named {
    fn drop(&mut self) {
        record(format!("drop {}", self.0));
    }
}

struct Closer(&'static str);

impl AsyncClose for Closer {
    async fn close(self) {
        futures_lite::future::yield_now().await;
        record(format!("close {}", self.0));
    }
}

struct Owner;

impl Service for Owner {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        cx.add_context(Named("first"))?;
        cx.add_async_context(Closer("second"))?;
        cx.add_context(Named("third"))?;
        Ok(())
    }

    async fn on_shutdown(&mut self, cx: &Context<'_>) -> BoxResult {
        record("on_shutdown");
        assert!(cx.add_context(Named("late")).is_err());
        Ok(())
    }
}

/// Values are dropped and async resources closed in reverse order, before `on_shutdown`.
pub fn resources_released_in_reverse_order<B: Backend>(backend: B) {
    let tree = backend.tree(Owner);
    let (_, journal) = crate::start_and_stop(&backend, tree);
    let order: Vec<&str> = journal
        .iter()
        .map(String::as_str)
        .filter(|l| !l.starts_with("INFO"))
        .collect();
    assert_eq!(
        order,
        [
            "drop third",
            "close second",
            "drop first",
            "on_shutdown",
            "drop late"
        ]
    );
}

/// `on_stop` never finishes, and a task ignores nothing (it is simply never polled again).
struct Stuck {
    on_shutdown_ran: Arc<AtomicBool>,
}

impl Service for Stuck {
    fn stop_timeout(&self) -> Option<Duration> {
        Some(Duration::from_millis(50))
    }

    async fn on_stop(&mut self, _cx: &Context<'_>) -> BoxResult {
        core::future::pending::<()>().await;
        Ok(())
    }

    async fn on_shutdown(&mut self, _cx: &Context<'_>) -> BoxResult {
        self.on_shutdown_ran.store(true, Ordering::SeqCst);
        Ok(())
    }
}

#[derive(Clone, Default)]
struct Timeouts(Arc<std::sync::Mutex<Vec<(std::string::String, WaitingOn)>>>);

impl Observer for Timeouts {
    fn observe(&self, service: &ServiceInfo<'_>, event: &LifecycleEvent<'_>) {
        if let LifecycleEvent::StopTimeout { waiting_on, .. } = event {
            self.0
                .lock()
                .unwrap()
                .push((service.label.into(), *waiting_on));
        }
    }
}

/// A stuck stop is cut short at the stop timeout; the log names the service and the step;
/// the stop goes on and reports `StopTimeout`.
pub fn stop_timeout_aborts_and_goes_on<B: Backend>(backend: B) {
    let ran = Arc::new(AtomicBool::new(false));
    let timeouts = Timeouts::default();
    let tree = backend
        .tree(Stuck {
            on_shutdown_ran: ran.clone(),
        })
        .with_observer(timeouts.clone());
    let root = tree.handle();
    let (exit, journal) = crate::run_journaled(&backend, tree, async {
        root.wait_until_running().await.unwrap();
        root.stop().await;
    });
    assert!(
        matches!(
            exit.reason(),
            StopReason::StopTimeout {
                waiting_on: WaitingOn::OnStop
            }
        ),
        "{exit:?}"
    );
    assert!(exit.is_failure());
    assert_eq!(root.state(), State::Stopped);
    assert!(
        ran.load(Ordering::SeqCst),
        "the stop went on to on_shutdown"
    );
    assert_eq!(
        *timeouts.0.lock().unwrap(),
        [("Stuck".into(), WaitingOn::OnStop)]
    );
    assert!(
        journal.iter().any(|l| l.starts_with("WARN [^-Stuck]: Stop timed out after 50ms waiting for on_stop")),
        "{journal:?}"
    );
}
