//! Logging from a service with the macros `log` users know, and the service's prefix:
//! `mode::info!(cx, "Serving on port {}", port)` logs
//! `[^--Webserver]: Serving on port 8000` at info level, with the service's module as the
//! target. The first argument is anything that gives a [`ServiceHandle`](crate::ServiceHandle)
//! (`AsRef<ServiceHandle>`): a hook's [`Context`](crate::Context), a handle, a
//! [`SupervisorHandle`](crate::SupervisorHandle).
//!
//! ```
//! use mode::{BoxResult, Context, Service};
//!
//! struct Webserver {
//!     port: u16,
//! }
//!
//! impl Service for Webserver {
//!     async fn on_start(&mut self, cx: &Context<'_>) -> BoxResult {
//!         mode::info!(cx, "Serving on port {}", self.port);
//!         let me = cx.handle().clone();
//!         cx.spawn(async move {
//!             mode::debug!(me, "accepting connections");
//!             Ok(())
//!         })?;
//!         Ok(())
//!     }
//! }
//! # let _ = Webserver { port: 8000 };
//! ```

/// Logs with a service's prefix at `level`: `log!(service, Level::Warn, "...", args)`. See
/// the [module docs](crate::log_macros).
#[macro_export]
macro_rules! log {
    ($service:expr, $level:expr, $($arg:tt)+) => {
        $crate::ServiceHandle::log(
            ::core::convert::AsRef::<$crate::ServiceHandle>::as_ref(&$service),
            $level,
            ::core::format_args!($($arg)+),
        )
    };
}

/// Logs at error level with a service's prefix. See the [module docs](crate::log_macros).
#[macro_export]
macro_rules! error {
    ($service:expr, $($arg:tt)+) => {
        $crate::log!($service, $crate::__private::log::Level::Error, $($arg)+)
    };
}

/// Logs at warn level with a service's prefix. See the [module docs](crate::log_macros).
#[macro_export]
macro_rules! warn {
    ($service:expr, $($arg:tt)+) => {
        $crate::log!($service, $crate::__private::log::Level::Warn, $($arg)+)
    };
}

/// Logs at info level with a service's prefix. See the [module docs](crate::log_macros).
#[macro_export]
macro_rules! info {
    ($service:expr, $($arg:tt)+) => {
        $crate::log!($service, $crate::__private::log::Level::Info, $($arg)+)
    };
}

/// Logs at debug level with a service's prefix. See the [module docs](crate::log_macros).
#[macro_export]
macro_rules! debug {
    ($service:expr, $($arg:tt)+) => {
        $crate::log!($service, $crate::__private::log::Level::Debug, $($arg)+)
    };
}

/// Logs at trace level with a service's prefix. See the [module docs](crate::log_macros).
#[macro_export]
macro_rules! trace {
    ($service:expr, $($arg:tt)+) => {
        $crate::log!($service, $crate::__private::log::Level::Trace, $($arg)+)
    };
}
