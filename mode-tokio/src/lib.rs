//! tokio adapter for mode.
