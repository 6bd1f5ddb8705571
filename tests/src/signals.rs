//! Signals bound to a sender, disconnecting, weak receivers (mode parity).
//!
//! The sends run in tasks of a running service, on the backend's own threads.

use std::string::String;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use mode_core::sync::{HandlerFuture, Signal, SyncSignal};
use mode_core::time::Duration;
use mode_core::ServiceHandle;

use crate::{with_running_tree, Backend};

/// The sends of one test, recorded by the handlers as `"{handler}:{sender}:{args}"`.
type Log = Arc<Mutex<Vec<String>>>;

/// An async handler that records its name, the sender and the arguments.
fn recorder(
    log: &Log,
    name: &'static str,
) -> impl for<'a> Fn(&'a &'static str, &'a u32) -> HandlerFuture<'a> + Send + Sync + 'static {
    let log = log.clone();
    move |sender, args| {
        let line = format!("{name}:{sender}:{args}");
        let log = log.clone();
        Box::pin(async move {
            log.lock().unwrap().push(line);
            Ok(())
        })
    }
}

/// Sends `(sender, args)` in order from a task of `root`'s service, and waits for them.
async fn send_from_task(
    root: &ServiceHandle,
    signal: &Signal<&'static str, u32>,
    sends: &'static [(&'static str, u32)],
) {
    let signal = signal.clone();
    let task = root
        .spawn_returning(async move {
            for (sender, args) in sends {
                signal.send(sender, args).await?;
            }
            Ok(())
        })
        .unwrap();
    root.wait_timeout(task, Duration::from_secs(60))
        .await
        .expect("the sends finish")
        .expect("every handler succeeds");
}

/// A receiver connected for a sender (mode's `connect(fn, sender=x)`), or through a clone
/// bound to a sender (mode's `with_default_sender`), hears only that sender's sends; a
/// receiver connected for any sender hears them all.
pub fn receivers_bound_to_a_sender_hear_only_it<B: Backend>(backend: B) {
    with_running_tree(&backend, |root| async move {
        let log = Log::default();
        let signal: Signal<&'static str, u32> = Signal::new();
        signal.connect(recorder(&log, "any"));
        signal.connect_for("db", recorder(&log, "db-only"));
        let web = signal.with_default_sender("web");
        web.connect(recorder(&log, "web-only"));

        send_from_task(&root, &signal, &[("db", 1), ("web", 2), ("cache", 3)]).await;
        let task = root
            .spawn_returning(async move { Ok(web.send_default(&4).await?) })
            .unwrap();
        root.wait_timeout(task, Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            *log.lock().unwrap(),
            [
                "any:db:1",
                "db-only:db:1",
                "any:web:2",
                "web-only:web:2",
                "any:cache:3",
                "any:web:4",
                "web-only:web:4",
            ]
        );
    });
}

/// `disconnect` removes exactly the receiver its id names: another receiver for the
/// same sender, and the same receiver connected for another sender, stay connected.
pub fn disconnect_removes_exactly_that_receiver<B: Backend>(backend: B) {
    with_running_tree(&backend, |root| async move {
        let log = Log::default();
        let signal: Signal<&'static str, u32> = Signal::new();
        let first_db = signal.connect_for("db", recorder(&log, "first"));
        signal.connect_for("db", recorder(&log, "second"));
        let first_web = signal
            .with_default_sender("web")
            .connect(recorder(&log, "first"));
        assert_eq!(signal.len(), 3);

        assert!(signal.disconnect(first_db));
        assert!(!signal.disconnect(first_db), "already disconnected");
        send_from_task(&root, &signal, &[("db", 1), ("web", 2)]).await;
        assert_eq!(*log.lock().unwrap(), ["second:db:1", "first:web:2"]);

        // Through the bound clone too.
        assert!(signal.with_default_sender("web").disconnect(first_web));
        send_from_task(&root, &signal, &[("web", 3)]).await;
        assert_eq!(log.lock().unwrap().len(), 2);
        assert_eq!(signal.len(), 1);
    });
}

/// A receiver connected weakly (mode's `connect(fn, weak=True)`) is not kept alive by
/// the signal; once it is dropped it is no longer called, and it leaves the signal.
pub fn dropped_weak_receivers_are_no_longer_called<B: Backend>(backend: B) {
    struct Cache {
        invalidated: AtomicUsize,
    }

    with_running_tree(&backend, |root| async move {
        let cache = Arc::new(Cache {
            invalidated: AtomicUsize::new(0),
        });
        let signal: Signal<&'static str, u32> = Signal::new();
        let sync: SyncSignal<&'static str, u32> = SyncSignal::new();
        signal.connect_weak(&cache, |cache, _, n| {
            let n = *n as usize;
            Box::pin(async move {
                cache.invalidated.fetch_add(n, Ordering::SeqCst);
                Ok(())
            })
        });
        sync.connect_weak(&cache, |cache, _, n| {
            cache
                .invalidated
                .fetch_add(*n as usize * 100, Ordering::SeqCst);
            Ok(())
        });
        // Bound and weak at once: only sends from "db" reach it.
        signal
            .with_default_sender("db")
            .connect_weak(&cache, |cache, _, n| {
                let n = *n as usize;
                Box::pin(async move {
                    cache.invalidated.fetch_add(n * 10_000, Ordering::SeqCst);
                    Ok(())
                })
            });
        assert_eq!(Arc::strong_count(&cache), 1, "the signals hold it weakly");

        send_from_task(&root, &signal, &[("web", 1), ("db", 2)]).await;
        let task = {
            let sync = sync.clone();
            root.spawn_returning(async move { Ok(sync.send(&"web", &1)?) })
                .unwrap()
        };
        root.wait_timeout(task, Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            cache.invalidated.load(Ordering::SeqCst),
            1 + 2 + 20_000 + 100
        );

        let weak = Arc::downgrade(&cache);
        drop(cache);
        assert!(weak.upgrade().is_none(), "nothing else kept it alive");
        send_from_task(&root, &signal, &[("db", 5)]).await;
        sync.send(&"web", &5).unwrap();
        assert!(signal.is_empty());
        assert!(sync.is_empty());
    });
}

/// The tests of this module, for [`conformance_tests!`](crate::conformance_tests).
#[macro_export]
macro_rules! signal_parity_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@tests $backend;
            signals::receivers_bound_to_a_sender_hear_only_it,
            signals::disconnect_removes_exactly_that_receiver,
            signals::dropped_weak_receivers_are_no_longer_called,
        );
    };
}
