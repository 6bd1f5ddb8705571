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

#[doc = include_str!("../../docs/guide/04-flow-control.md")]
pub struct GuideFlowControl;

#[doc = include_str!("../../docs/guide/05-signals.md")]
pub struct GuideSignals;

#[doc = include_str!("../../docs/guide/06-worker.md")]
pub struct GuideWorker;

#[doc = include_str!("../../docs/guide/07-testing.md")]
pub struct GuideTesting;

#[doc = include_str!("../../docs/guide/08-embedded.md")]
pub struct GuideEmbedded;

#[doc = include_str!("../../docs/guide/README.md")]
pub struct GuideContents;

#[doc = include_str!("../../docs/guide/coming-from-python-mode.md")]
pub struct GuideComingFromPythonMode;

#[doc = include_str!("../README.md")]
pub struct ReadmeMode;

#[doc = include_str!("../../mode-core/README.md")]
pub struct ReadmeModeCore;

#[doc = include_str!("../../mode-tokio/README.md")]
pub struct ReadmeModeTokio;

#[doc = include_str!("../../mode-smol/README.md")]
pub struct ReadmeModeSmol;

#[doc = include_str!("../../mode-worker/README.md")]
pub struct ReadmeModeWorker;

#[doc = include_str!("../../mode-embassy/README.md")]
pub struct ReadmeModeEmbassy;
