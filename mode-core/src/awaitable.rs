//! [`from_awaitable`]: a future run as a service (mode's `Service.from_awaitable`).

use alloc::borrow::Cow;
use core::fmt;
use core::future::Future;

use crate::context::Context;
use crate::error::BoxResult;
use crate::service::Service;
use crate::task::default_name;

/// A service that runs `future`, for a future you were handed and cannot write as a
/// service (mode's `Service.from_awaitable`).
///
/// The service is running while the future runs, as a task of the service: it starts with
/// the service, is cancelled (dropped at its next poll) when the service stops, and when it
/// returns `Ok` the service stops itself (a root ends its tree: the program exits 0). An
/// error or a panic crashes the service, as any task's does. The future need not be `Send`:
/// it runs on the tree's thread.
///
/// Unlike mode, whose start waits until the coroutine has finished (delaying the services
/// started after it), the start completes as soon as the future runs. The future runs once:
/// a restart crashes the service with [`AlreadyRan`].
///
/// ```
/// use mode::testing::VirtualRuntime;
/// use mode::{from_awaitable, StopReason, Tree};
/// use std::time::Duration;
///
/// let rt = VirtualRuntime::new();
/// let clock = rt.clone();
/// let main = from_awaitable(async move {
///     clock.sleep(Duration::from_secs(1)).await;
///     Ok(())
/// })
/// .with_label("Main");
/// let exit = rt.block_on(Tree::new(main, rt.clone(), rt.clone()).run()).unwrap();
/// assert!(matches!(exit.reason(), StopReason::Requested));
/// assert_eq!(rt.now().as_duration(), Duration::from_secs(1));
/// ```
pub fn from_awaitable<F>(future: F) -> Awaitable<F>
where
    F: Future<Output = BoxResult> + 'static,
{
    Awaitable {
        future: Some(future),
        label: default_name::<F>().readable(),
    }
}

/// A future run as a service: see [`from_awaitable`].
pub struct Awaitable<F> {
    future: Option<F>,
    label: Cow<'static, str>,
}

impl<F> Awaitable<F> {
    /// The service's label in logs and tree dumps, instead of where its future was written.
    #[must_use]
    pub fn with_label(mut self, label: impl Into<Cow<'static, str>>) -> Self {
        self.label = label.into();
        self
    }
}

impl<F> fmt::Debug for Awaitable<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Awaitable")
            .field("label", &self.label)
            .field("ran", &self.future.is_none())
            .finish()
    }
}

impl<F> Service for Awaitable<F>
where
    F: Future<Output = BoxResult> + 'static,
{
    fn label(&self) -> Cow<'static, str> {
        self.label.clone()
    }

    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let future = self.future.take().ok_or(AlreadyRan)?;
        let me = cx.handle().clone();
        cx.spawn_local(async move {
            future.await?;
            me.request_stop();
            Ok(())
        })?;
        Ok(())
    }
}

/// The crash of an [`Awaitable`] started a second time: its future ran already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AlreadyRan;

impl fmt::Display for AlreadyRan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the future of a service made with from_awaitable ran already; it runs once")
    }
}

impl core::error::Error for AlreadyRan {}
