//! `mode_core::utils` through its public API: seconds and rates, the rate limiter fed by
//! a fake clock, and the stream helpers chained together.

use futures_lite::future::block_on;
use futures_lite::StreamExt;
use mode_core::time::{Duration, Instant};
use mode_core::utils::{
    arange, aslice, chunks, rate, want_seconds, ParseSecondsErrorKind as Kind, Rate, RateLimit,
    Seconds,
};

#[test]
fn mode_changelog_examples() {
    // want_seconds('1.203') == 1.203
    assert_eq!(want_seconds("1.203").unwrap().as_secs_f64(), 1.203);
    // The rate values mode returns from want_seconds/rate:
    assert_eq!(rate("10/s").unwrap(), 10.0);
    assert_eq!(rate("10.3/h").unwrap(), 0.0028611111111111116);
    assert_eq!(rate("100/h").unwrap(), 0.02777777777777778);
    assert_eq!(rate("100/d").unwrap(), 0.0011574074074074076);
    // As spans, the same strings are the interval between events.
    assert_eq!(want_seconds("10/s").unwrap(), Seconds::from_millis(100));
    assert_eq!(want_seconds("100/m").unwrap(), Seconds::from_millis(600));
}

#[test]
fn bad_input_is_reported_never_panics() {
    let cases: [(&str, Kind, usize); 8] = [
        ("", Kind::Empty, 0),
        ("10/x", Kind::InvalidUnit, 3),
        ("-1/s", Kind::Negative, 0),
        ("NaN", Kind::NotFinite, 0),
        ("inf", Kind::NotFinite, 0),
        ("1e400", Kind::OutOfRange, 0),
        ("10//s", Kind::InvalidUnit, 3),
        ("0/s", Kind::ZeroRate, 0),
    ];
    for (input, kind, position) in cases {
        let error = input.parse::<Seconds>().unwrap_err();
        assert_eq!(
            (error.kind(), error.position()),
            (kind, position),
            "{input:?}"
        );
        assert!(
            error.to_string().contains(&format!("at byte {position}")),
            "{error}"
        );
    }
}

#[test]
fn every_number_type_converts() {
    assert_eq!(want_seconds(3_u8).unwrap(), Seconds::from_secs(3));
    assert_eq!(want_seconds(3_i16).unwrap(), Seconds::from_secs(3));
    assert_eq!(want_seconds(0.001_f64).unwrap(), Seconds::from_millis(1));
    assert_eq!(
        want_seconds(Duration::from_secs(9)).unwrap(),
        Seconds::from_secs(9)
    );
    assert_eq!(want_seconds(-1_isize).unwrap_err().kind(), Kind::Negative);
    assert_eq!(want_seconds(f64::NAN).unwrap_err().kind(), Kind::NotFinite);
}

/// A limiter of 10 per second over a simulated span (a minute; two seconds under miri,
/// which is slow) admits the burst plus one event per interval.
#[test]
fn rate_limit_over_simulated_time() {
    let seconds: u64 = if cfg!(miri) { 2 } else { 60 };
    let limit = RateLimit::new("10/s").unwrap();
    let mut admitted = 0;
    let mut now = Instant::ZERO;
    let end = Instant::ZERO + Duration::from_secs(seconds);
    while now < end {
        if limit.check(now) {
            admitted += 1;
        }
        now += Duration::from_millis(1);
    }
    // 10 at once, then one every 100 ms for the rest of the span.
    assert_eq!(admitted, 10 + (seconds * 10 - 1));
}

#[test]
fn rate_limit_from_parsed_rate_and_wait_times() {
    let rate: Rate = "3/m".parse().unwrap();
    let limit = RateLimit::new(rate).unwrap().with_burst(1);
    let t0 = Instant::ZERO + Duration::from_secs(1_000);
    assert_eq!(limit.try_acquire(t0), Ok(()));
    let wait = limit.try_acquire(t0).unwrap_err();
    assert_eq!(wait, Duration::from_secs(20));
    assert!(limit.check(t0 + wait));
}

#[test]
fn stream_helpers_compose() {
    let stream = chunks(aslice(arange(0_u32, 1_000, 7), 10, 20), 4);
    let chunks: Vec<Vec<u32>> = block_on(stream.collect());
    assert_eq!(
        chunks,
        [
            vec![70, 77, 84, 91],
            vec![98, 105, 112, 119],
            vec![126, 133]
        ]
    );
}
