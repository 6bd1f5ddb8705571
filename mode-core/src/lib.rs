//! mode-core: services you start, stop, restart and supervise, on any executor.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod loom;

pub mod runtime;
pub mod time;
pub mod sync;
pub mod utils;
