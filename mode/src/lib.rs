//! mode facade.
