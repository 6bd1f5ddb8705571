//! The services of the examples, so that tests can run them too.
//!
//! [`app`] is the application of mode's README in Rust: an `App` with `Websockets`, a
//! `UserCache` and a `Webserver` that answers one line per TCP connection.

pub mod app;
