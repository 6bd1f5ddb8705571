//! Async primitives: events, flow control, queues, signals and stampede protection.
