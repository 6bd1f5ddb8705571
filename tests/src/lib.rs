//! The conformance suite: every behaviour of mode-core, written once against the core API
//! and instantiated for each backend with [`conformance_tests!`].
//!
//! A backend says how to build a [`Tree`] on its executor and how to block on a future
//! ([`Backend`]). Test names carry the backend (`tokio_multi_thread::lifecycle_order`), so a
//! failure says where. Timing assertions are exact on virtual time and tolerant on real
//! clocks ([`Backend::is_virtual`]); no behaviour is skipped on any backend.
//!
//! Hooks and log lines are recorded in one per-thread [`journal`], so a test can assert their
//! exact interleaving: the tree's driver (which runs hooks and emits lifecycle logs) runs on
//! the thread that blocks on it, on every backend.

use core::future::Future;

use mode_core::runtime::Timer;
use mode_core::{Service, Tree};

pub mod journal;
pub mod probe;

pub mod concurrency;
pub mod crash;
#[cfg(unix)]
pub mod entry;
pub mod exits;
pub mod faults;
pub mod flight_recorder;
pub mod graph;
pub mod handles;
pub mod lifecycle;
pub mod primitives;
pub mod queues;
pub mod resources;
pub mod signals;
pub mod stop_parity;
pub mod supervisor_control;
pub mod supervisor_parity;
pub mod supervisors;
pub mod tasks;
pub mod threads;
pub mod timer_parity;
pub mod timers;
pub mod waits;
#[cfg(unix)]
pub mod worker;

/// An executor the suite runs on.
pub trait Backend: 'static {
    /// The backend's timer.
    type Timer: Timer;

    /// A tree for `root` on this backend.
    fn tree<S: Service>(&self, root: S) -> Tree<Self::Timer>;

    /// Runs `future` to completion on this backend, from the calling thread.
    fn block_on<F: Future>(&self, future: F) -> F::Output;

    /// Whether time is virtual (deterministic, exact) rather than a real clock.
    fn is_virtual(&self) -> bool;
}

/// The virtual-time backend of mode-core's `testing` module.
#[derive(Debug, Clone, Default)]
pub struct Virtual {
    rt: mode_core::testing::VirtualRuntime,
}

impl Virtual {
    /// A fresh virtual runtime.
    #[must_use]
    pub fn new() -> Self {
        Virtual::default()
    }

    /// The runtime, e.g. to count its live tasks.
    #[must_use]
    pub fn runtime(&self) -> &mode_core::testing::VirtualRuntime {
        &self.rt
    }
}

impl Backend for Virtual {
    type Timer = mode_core::testing::VirtualRuntime;

    fn tree<S: Service>(&self, root: S) -> Tree<Self::Timer> {
        Tree::new(root, self.rt.clone(), self.rt.clone())
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self.rt.block_on(future) {
            Ok(output) => output,
            Err(stalled) => panic!("virtual runtime: {stalled}"),
        }
    }

    fn is_virtual(&self) -> bool {
        true
    }
}

/// Runs `tree` while `driver` interacts with it through handles; returns both outputs.
pub async fn run_with<T, F>(tree: Tree<T>, driver: F) -> (mode_core::Exit, F::Output)
where
    T: Timer,
    F: Future,
{
    futures_lite::future::zip(tree.run(), driver).await
}

/// Runs `test` against a running tree of one [`Probe`](probe::Probe) on `backend`, then
/// stops the tree; the run must not fail.
pub fn with_running_tree<B, F, Fut>(backend: &B, test: F)
where
    B: Backend,
    F: FnOnce(mode_core::ServiceHandle) -> Fut,
    Fut: Future<Output = ()>,
{
    let tree = backend.tree(probe::Probe::new("App"));
    let root = tree.handle();
    let (exit, ()) = backend.block_on(run_with(tree, async {
        root.wait_until_running().await.unwrap();
        test(root.clone()).await;
        root.stop().await;
    }));
    assert!(!exit.is_failure(), "{exit:?}");
}

/// Runs `tree` while `driver` interacts with it; returns how the run ended with the
/// journal (hooks and log lines) of the whole run.
pub fn run_journaled<B: Backend, F: Future<Output = ()>>(
    backend: &B,
    tree: Tree<B::Timer>,
    driver: F,
) -> (mode_core::Exit, std::vec::Vec<std::string::String>) {
    journal::capture(|| backend.block_on(async { run_with(tree, driver).await.0 }))
}

/// Runs `tree` until its root runs, stops it, and returns how the run ended with the
/// journal (hooks and log lines) of the whole run.
pub fn start_and_stop<B: Backend>(
    backend: &B,
    tree: Tree<B::Timer>,
) -> (mode_core::Exit, std::vec::Vec<std::string::String>) {
    let root = tree.handle();
    journal::capture(|| {
        backend.block_on(async {
            let (exit, ()) = run_with(tree, async {
                root.wait_until_running().await.unwrap();
                root.stop().await;
            })
            .await;
            exit
        })
    })
}

/// Generates one `#[test]` per conformance test, for the backend built by `$backend`.
#[macro_export]
macro_rules! conformance_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@tests $backend;
            lifecycle::lifecycle_order,
            lifecycle::restart_runs_on_restart_and_keeps_the_handle,
            lifecycle::runtime_dependencies,
            lifecycle::stop_is_idempotent_and_concurrent,
            lifecycle::bad_requests_get_clear_errors,
            lifecycle::stop_reasons_are_typed,
            lifecycle::stop_during_start_stops_what_started,
            lifecycle::adding_children_to_a_stopping_service_fails,
            lifecycle::lifecycle_lines_take_the_services_level,
            lifecycle::a_stopping_service_says_what_it_waits_on,
            tasks::tasks_are_gone_after_stop,
            tasks::no_task_leaks_over_many_cycles,
            tasks::tasks_start_after_on_start_in_order,
            tasks::spawn_after_stop_is_refused,
            tasks::local_tasks_are_owned_too,
            tasks::tasks_spawned_before_start_run_at_start,
            tasks::a_future_runs_as_a_service,
            handles::task_handles_await_abort_and_list,
            handles::a_failed_tasks_handle_says_so,
            handles::no_handle_for_a_stopped_service,
            exits::a_tasks_system_exit_stops_the_tree_with_its_status,
            exits::the_first_exit_status_asked_wins,
            exits::a_hooks_system_exit_is_a_crash_that_keeps_its_status,
            timers::timer_has_no_drift,
            timers::overrun_skips_and_warns_once,
            timers::no_tick_after_stop_begins,
            timers::zero_interval_is_an_error,
            flight_recorder::a_body_done_in_time_logs_nothing,
            flight_recorder::a_body_past_its_timeout_replays_its_lines,
            flight_recorder::a_line_recorded_after_the_timeout_is_logged_at_once,
            waits::sleep_returns_early_on_stop,
            waits::wait_with_timeout,
            waits::wait_first_and_many,
            waits::wait_for_stopped_other,
            waits::wait_for_shutdown_flag,
            resources::resources_released_in_reverse_order,
            resources::stop_timeout_aborts_and_goes_on,
            crash::hook_error_crashes_the_tree,
            crash::task_error_crashes_the_tree,
            crash::panic_crashes_the_tree,
            crash::crash_from_handle,
            crash::crash_while_starting_child,
            graph::graph_exports,
            primitives::flow_control_queue_between_services,
            primitives::queue_clear_wakes_waiting_putters,
            primitives::event_and_signal_across_tasks,
            primitives::stampede_shares_one_call,
            primitives::throwable_queue_delivers_errors_in_order,
            supervisors::one_for_one_restarts_only_the_crashed_child,
            supervisors::one_for_all_restarts_every_child_in_order,
            supervisors::forfeit_one_for_one_gives_up_on_the_crashed_child,
            supervisors::forfeit_one_for_all_gives_up_on_every_child,
            supervisors::crashing_supervisor_crashes_upward,
            supervisors::crash_sources_are_handled_the_same,
            supervisors::intensity_allows_exactly_max_restarts,
            supervisors::intensity_window_slides,
            supervisors::backoff_delays_grow_and_reset,
            supervisors::failed_restart_without_backoff_gives_up,
            supervisors::failed_restart_with_backoff_is_retried_later,
            supervisors::failed_restarts_count_toward_intensity,
            supervisors::failed_first_start_fails_the_supervisor,
            supervisors::two_children_crash_at_once,
            supervisors::stop_during_backoff_stops_at_once,
            supervisors::stop_during_restart,
            supervisors::crash_while_supervisor_stops_restarts_nothing,
            supervisors::crashes_reach_the_nearest_supervisor,
            supervisors::children_added_and_removed_while_running,
            faults::stop_during_a_restart_wins,
            faults::restart_racing_stop_always_ends_stopped,
            faults::stop_hooks_run_only_for_a_run_that_began_on_start,
            faults::a_crash_during_the_parents_stop_is_reported,
            faults::failures_while_stopping_fail_the_run,
            faults::failures_in_a_restart_do_not_fail_the_run,
            concurrency::a_crash_is_handled_while_a_sibling_stops_slowly,
            concurrency::a_slow_start_does_not_delay_a_stop_elsewhere,
            concurrency::a_hook_may_await_the_stop_of_an_unrelated_service,
            concurrency::a_hook_awaiting_its_own_stop_or_restart_does_not_hang,
        );
        $crate::queue_parity_tests!($backend);
        $crate::signal_parity_tests!($backend);
        $crate::timer_parity_tests!($backend);
        $crate::supervisor_parity_tests!($backend);
        $crate::supervisor_control_tests!($backend);
        $crate::stop_parity_tests!($backend);
        $crate::conformance_tests!(@small_stack $backend;
            faults::deep_trees_need_no_stack_per_level,
        );
    };
    (@small_stack $backend:expr; $($module:ident :: $test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                // The backend is made on the thread too: not every backend is `Send`.
                std::thread::Builder::new()
                    .name(stringify!($test).into())
                    .stack_size($crate::faults::SMALL_STACK)
                    .spawn(|| $crate::$module::$test($backend))
                    .unwrap()
                    .join()
                    .unwrap();
            }
        )*
    };
    (@tests $backend:expr; $($module:ident :: $test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                $crate::$module::$test($backend);
            }
        )*
    };
}
