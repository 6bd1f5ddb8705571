//! Utilities: durations and rates from strings, rate limiting, stream helpers.
