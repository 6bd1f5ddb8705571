//! Statistics over repetitions, and the JSON lines the harness prints.

use std::fmt::{self, Write as _};

/// Values of one measure, one per repetition.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples(Vec<f64>);

impl Samples {
    pub(crate) fn push(&mut self, value: f64) {
        self.0.push(value);
    }

    fn sorted(&self) -> Vec<f64> {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        sorted
    }

    /// The median (the mean of the two middle values for an even count); NaN when empty.
    pub(crate) fn median(&self) -> f64 {
        let sorted = self.sorted();
        match sorted.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        }
    }

    pub(crate) fn min(&self) -> f64 {
        self.0.iter().copied().fold(f64::INFINITY, f64::min)
    }

    pub(crate) fn max(&self) -> f64 {
        self.0.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }

    /// `{"median": .., "min": .., "max": ..}`.
    pub(crate) fn json(&self) -> Json {
        Json::obj()
            .with("median", self.median())
            .with("min", self.min())
            .with("max", self.max())
    }
}

/// The median of the per-repetition ratios `a[i] / b[i]` (repetitions paired in time, so
/// a slow patch of the machine affects both sides).
pub(crate) fn paired_ratio(a: &Samples, b: &Samples) -> f64 {
    let mut ratios = Samples::default();
    for (x, y) in a.0.iter().zip(&b.0) {
        ratios.push(x / y);
    }
    ratios.median()
}

/// A JSON value, written by hand to keep the harness's dependencies small.
#[derive(Debug, Clone)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(String),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub(crate) fn obj() -> Self {
        Json::Obj(Vec::new())
    }

    /// Adds `key: value` to an object (no-op on other values).
    #[must_use]
    pub(crate) fn with(mut self, key: &str, value: impl Into<Json>) -> Self {
        if let Json::Obj(fields) = &mut self {
            fields.push((key.to_owned(), value.into()));
        }
        self
    }
}

impl Json {
    /// The value at a dotted path of object keys (`"flat.mode.heap_bytes"`).
    pub(crate) fn get(&self, path: &str) -> Option<&Json> {
        path.split('.').try_fold(self, |value, key| match value {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        })
    }

    /// The number at `path`, NaN if there is none.
    pub(crate) fn num(&self, path: &str) -> f64 {
        match self.get(path) {
            Some(Json::Num(x)) => *x,
            Some(Json::Int(i)) => *i as f64,
            _ => f64::NAN,
        }
    }

    /// The boolean at `path`, if any.
    pub(crate) fn flag(&self, path: &str) -> Option<bool> {
        match self.get(path) {
            Some(Json::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// The string at `path`, empty if there is none.
    pub(crate) fn text(&self, path: &str) -> &str {
        match self.get(path) {
            Some(Json::Str(s)) => s,
            _ => "",
        }
    }
}

impl From<f64> for Json {
    fn from(value: f64) -> Self {
        Json::Num(value)
    }
}

impl From<usize> for Json {
    fn from(value: usize) -> Self {
        Json::Int(value as i64)
    }
}

impl From<u64> for Json {
    fn from(value: u64) -> Self {
        Json::Int(value as i64)
    }
}

impl From<i64> for Json {
    fn from(value: i64) -> Self {
        Json::Int(value)
    }
}

impl From<bool> for Json {
    fn from(value: bool) -> Self {
        Json::Bool(value)
    }
}

impl From<&str> for Json {
    fn from(value: &str) -> Self {
        Json::Str(value.to_owned())
    }
}

impl From<String> for Json {
    fn from(value: String) -> Self {
        Json::Str(value)
    }
}

impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(value: Option<T>) -> Self {
        value.map_or(Json::Null, Into::into)
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Int(i) => write!(f, "{i}"),
            // Four significant decimals are plenty for timings on a noisy machine.
            Json::Num(x) if x.is_finite() => {
                let rounded = format!("{x:.4}");
                let trimmed = rounded.trim_end_matches('0').trim_end_matches('.');
                f.write_str(if trimmed.is_empty() || trimmed == "-" {
                    "0"
                } else {
                    trimmed
                })
            }
            Json::Num(_) => f.write_str("null"),
            Json::Str(s) => write_str(f, s),
            Json::Obj(fields) => {
                f.write_char('{')?;
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write_str(f, key)?;
                    write!(f, ":{value}")?;
                }
                f.write_char('}')
            }
        }
    }
}

fn write_str(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let mut s = Samples::default();
        for x in [3.0, 1.0, 2.0, 10.0] {
            s.push(x);
        }
        assert_eq!(s.median(), 2.5);
        assert_eq!(s.min(), 1.0);
        assert_eq!(s.max(), 10.0);
    }

    #[test]
    fn paths_reach_nested_values() {
        let j = Json::obj().with("a", Json::obj().with("b", 3usize).with("c", true));
        assert_eq!(j.num("a.b"), 3.0);
        assert_eq!(j.flag("a.c"), Some(true));
        assert!(j.num("a.x").is_nan());
    }

    #[test]
    fn json_is_compact_and_escaped() {
        let j = Json::obj()
            .with("a", 1.5)
            .with("b", "x\"y")
            .with("c", Json::obj().with("d", true))
            .with("e", f64::NAN)
            .with("f", 2.0);
        assert_eq!(
            j.to_string(),
            r#"{"a":1.5,"b":"x\"y","c":{"d":true},"e":null,"f":2}"#
        );
    }
}
