//! mode's README application: `App` → `Websockets`, `UserCache`, `Webserver`.
//!
//! - `Websockets` owns a background task (a heartbeat loop that sleeps with early return on
//!   stop).
//! - `UserCache` owns a periodic timer that refreshes the cache on a drift-free schedule.
//! - `Webserver` listens on a TCP port and answers each connection with one line; its accept
//!   loop and every connection are tasks owned by the service, so stopping it closes them.
//!
//! Networking uses `async-io`, which works under any executor, so the same services run on
//! tokio and on smol.

use std::borrow::Cow;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_io::Async;
use futures_lite::AsyncWriteExt;
use mode::{BoxResult, Context, Dependencies, Service, ServiceHandle};

/// Where the webserver listens, once it does (port 0 picks a free port).
pub type BoundAddr = Arc<Mutex<Option<SocketAddr>>>;

/// The root service.
#[derive(Debug)]
pub struct App {
    port: u16,
    bound: BoundAddr,
    cache: Arc<UserCount>,
}

impl App {
    /// An app whose webserver listens on `127.0.0.1:port`.
    #[must_use]
    pub fn new(port: u16) -> Self {
        App {
            port,
            bound: BoundAddr::default(),
            cache: Arc::default(),
        }
    }

    /// Where the webserver listens, filled in when it has started.
    #[must_use]
    pub fn bound_addr(&self) -> BoundAddr {
        self.bound.clone()
    }
}

impl Service for App {
    fn label(&self) -> Cow<'static, str> {
        "App".into()
    }

    fn on_init_dependencies(&mut self, deps: &mut Dependencies<'_>) {
        deps.add(Websockets);
        deps.add(UserCache {
            users: self.cache.clone(),
            refresh_every: Duration::from_secs(5),
        });
        deps.add(Webserver {
            port: self.port,
            bound: self.bound.clone(),
            users: self.cache.clone(),
        });
    }
}

/// Counts users; shared by the cache (which refreshes it) and the webserver (which reads it).
#[derive(Debug, Default)]
pub struct UserCount(AtomicU64);

/// A websocket hub: here, a heartbeat task.
#[derive(Debug)]
pub struct Websockets;

impl Service for Websockets {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let handle = cx.handle().clone();
        cx.spawn(async move {
            let mut beats = 0u64;
            // `sleep` returns Err(Stopped) on stop, and `?` makes that a clean exit.
            loop {
                handle.sleep(Duration::from_secs(10)).await?;
                beats += 1;
                mode::debug!(handle, "heartbeat {beats}: 0 clients");
            }
        })?;
        Ok(())
    }
}

/// A cache refreshed by a periodic timer.
#[derive(Debug)]
pub struct UserCache {
    users: Arc<UserCount>,
    refresh_every: Duration,
}

impl Service for UserCache {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let users = self.users.clone();
        cx.timer(self.refresh_every, move |me| {
            let total = users.0.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                mode::debug!(me, "refreshed: {total} users");
                Ok(())
            }
        })?;
        Ok(())
    }
}

/// Answers every TCP connection with one line.
#[derive(Debug)]
pub struct Webserver {
    port: u16,
    bound: BoundAddr,
    users: Arc<UserCount>,
}

impl Service for Webserver {
    async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
        let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], self.port))
            .map_err(|err| format!("cannot listen on 127.0.0.1:{}: {err}", self.port))?;
        let addr = listener.get_ref().local_addr()?;
        *self.bound.lock().unwrap_or_else(|e| e.into_inner()) = Some(addr);
        mode::info!(cx, "Serving on port {}", addr.port());
        cx.spawn(accept_loop(
            cx.handle().clone(),
            listener,
            self.users.clone(),
        ))?;
        Ok(())
    }

    async fn on_stop(&mut self, cx: &Context<'_>) -> BoxResult {
        mode::info!(cx, "Closing server");
        Ok(())
    }
}

async fn accept_loop(
    handle: ServiceHandle,
    listener: Async<TcpListener>,
    users: Arc<UserCount>,
) -> BoxResult {
    let served = AtomicU64::new(0);
    loop {
        // Returns Err(Stopped) when the service stops: the listener is dropped with the task.
        let (mut stream, peer) = handle.wait(listener.accept()).await??;
        let n = served.fetch_add(1, Ordering::Relaxed) + 1;
        let line = format!(
            "hello {peer}: you are visitor {n}; {} users cached\n",
            users.0.load(Ordering::Relaxed)
        );
        handle.spawn(async move {
            stream.write_all(line.as_bytes()).await?;
            stream.close().await?;
            Ok(())
        })?;
    }
}
