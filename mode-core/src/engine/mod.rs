//! The engine: the driver that runs every hook, and what is mutually recursive with it.
//!
//! A hook receives a [`Context`](crate::Context) that reaches the driver running the hook;
//! that loop (hook → `Context` → driver → `DynService` → hook) is the one the design needs,
//! and it stays inside this folder and the two front modules that close it (`context.rs`,
//! `service.rs`). Nothing outside the engine names these modules' items except through
//! the re-exports below.
//!
//! | module | holds |
//! |---|---|
//! | `driver` | the driver: creation, requests, crash propagation, the driver's half of a node |
//! | `operation` | operations, and the holds that order them per service |
//! | `start`, `stop` | the start and stop sequences, the stop budget |
//! | `supervision` | what a supervisor does with a crash, and its requests: reached only through the `Supervision` a supervisor installs |
//! | `requests` | a handle's start and restart, and what executes them: linked only where a program asks for one |
//! | `local` | the driver-only reference to a node's driver half |
//! | `registry` | the driver's index of its services |

mod driver;
pub(crate) mod local;
mod operation;
mod registry;
mod requests;
mod start;
mod stop;
mod supervision;

pub(crate) use driver::{busy, Deferred, Driver, LocalNode, Path, Resource};
pub(crate) use local::LocalRef;
pub(crate) use requests::ExecuteRequest;
pub(crate) use start::StartError;
pub(crate) use stop::{
    close_resources, wait_for_shutdown, CloseResources, StopBudget, WaitForShutdown,
};
pub(crate) use supervision::{
    AsSupervision, Request, Supervised, Supervision, SupervisorState, TakeRequest,
};
