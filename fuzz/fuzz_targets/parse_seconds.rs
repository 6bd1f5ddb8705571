//! Fuzzes mode-core's duration and rate parser.
//!
//! Properties: parsing never panics; an error's position lies inside the input; a parsed
//! value prints as a string that parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mode_core::utils::{Rate, Seconds};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    match text.parse::<Seconds>() {
        Ok(seconds) => {
            let printed = seconds.to_string();
            assert_eq!(printed.parse::<Seconds>(), Ok(seconds), "{text:?} -> {printed:?}");
        }
        Err(error) => {
            assert!(error.position() <= text.len(), "{text:?}: {error}");
            assert!(!error.to_string().is_empty());
        }
    }
    match text.parse::<Rate>() {
        Ok(rate) => {
            let printed = rate.to_string();
            let reparsed: Rate = printed.parse().expect("a printed rate parses");
            assert_eq!(reparsed, rate, "{text:?} -> {printed:?}");
            assert_eq!(reparsed.interval(), rate.interval());
        }
        Err(error) => assert!(error.position() <= text.len(), "{text:?}: {error}"),
    }
});
