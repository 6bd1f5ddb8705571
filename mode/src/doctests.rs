//! The Markdown outside the crate whose Rust blocks are doctests: the README and the user
//! guide (`docs/guide/`). Compiled only by `cargo test --doc`, so packaging the crate never
//! reads these files.

#[doc = include_str!("../../README.md")]
pub struct Readme;

#[doc = include_str!("../../docs/guide/01-services.md")]
pub struct GuideServices;

#[doc = include_str!("../../docs/guide/faq.md")]
pub struct GuideFaq;

#[doc = include_str!("../../docs/guide/02-tasks-and-timers.md")]
pub struct GuideTasksAndTimers;

#[doc = include_str!("../../docs/guide/03-supervisors.md")]
pub struct GuideSupervisors;
