//! Value types shared by every manifest kind: versions, stages, durations, percentages.

use std::cmp::Ordering;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only `apiVersion` this release reads.
pub const API_VERSION: &str = "modelops/v1";

/// `apiVersion: modelops/v1` — the schema family a file is written against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    /// The first and current manifest format.
    #[serde(rename = "modelops/v1")]
    V1,
}

/// Where a model version is in its lifecycle (the guidelines' stage graph:
/// Development → Staging → Production → Archived).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Stage {
    /// Registered, not yet validated for serving.
    Development,
    /// Passed the validation gates; candidate for Production.
    Staging,
    /// Serving live traffic. At most one version per model.
    Production,
    /// Retired; kept for audit and rollback, never deleted.
    Archived,
}

impl Stage {
    /// The name as written in manifests and shown in plans.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Development => "Development",
            Stage::Staging => "Staging",
            Stage::Production => "Production",
            Stage::Archived => "Archived",
        }
    }
}

impl std::str::FromStr for Stage {
    type Err = String;
    /// Parses a stage name as manifests write it (`Production`).
    fn from_str(s: &str) -> Result<Stage, String> {
        [
            Stage::Development,
            Stage::Staging,
            Stage::Production,
            Stage::Archived,
        ]
        .into_iter()
        .find(|stage| stage.as_str() == s)
        .ok_or_else(|| {
            format!("`{s}` is not a stage: Development, Staging, Production or Archived")
        })
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A model version: an auto-incremented integer (as MLflow assigns) or a
/// semantic version string such as `"1.4.0"`.
///
/// Deserializing checks what the schema says (an integer of 1 or more, or a
/// string matching the semantic-version pattern), so a typed parse accepts
/// exactly what the schema accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum VersionId {
    /// An integer version, 1 or greater.
    Number(#[schemars(range(min = 1))] u64),
    /// A semantic version `MAJOR.MINOR.PATCH`, optionally with `-pre` and `+build`.
    Semantic(
        #[schemars(regex(
            pattern = r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"
        ))]
        String,
    ),
}

/// Whether `s` is `MAJOR.MINOR.PATCH[-pre][+build]` as the schema's pattern says.
pub fn is_semver(s: &str) -> bool {
    let ident = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    };
    let (rest, build) = match s.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (s, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    numbers.len() == 3
        && numbers.iter().all(|n| {
            !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
                && (n.len() == 1 || !n.starts_with('0'))
        })
        && pre.is_none_or(ident)
        && build.is_none_or(ident)
}

impl<'de> Deserialize<'de> for VersionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = VersionId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer of 1 or more or a semantic version such as 1.4.0")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<VersionId, E> {
                if v == 0 {
                    Err(E::invalid_value(serde::de::Unexpected::Unsigned(0), &self))
                } else {
                    Ok(VersionId::Number(v))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<VersionId, E> {
                match u64::try_from(v) {
                    Ok(u) => self.visit_u64(u),
                    Err(_) => Err(E::invalid_value(serde::de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<VersionId, E> {
                if is_semver(v) {
                    Ok(VersionId::Semantic(v.to_string()))
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl VersionId {
    fn semver_parts(s: &str) -> (Vec<u64>, &str) {
        let core = s.split('+').next().unwrap_or(s);
        let (nums, pre) = core.split_once('-').unwrap_or((core, ""));
        (
            nums.split('.').map(|p| p.parse().unwrap_or(0)).collect(),
            pre,
        )
    }
}

impl Ord for VersionId {
    /// Integers sort numerically before semantic versions; semantic versions sort
    /// by their numeric parts, a pre-release before its release.
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (VersionId::Number(a), VersionId::Number(b)) => a.cmp(b),
            (VersionId::Number(_), VersionId::Semantic(_)) => Ordering::Less,
            (VersionId::Semantic(_), VersionId::Number(_)) => Ordering::Greater,
            (VersionId::Semantic(a), VersionId::Semantic(b)) => {
                let (na, pa) = Self::semver_parts(a);
                let (nb, pb) = Self::semver_parts(b);
                na.cmp(&nb)
                    .then_with(|| match (pa.is_empty(), pb.is_empty()) {
                        (true, true) => Ordering::Equal,
                        (true, false) => Ordering::Greater,
                        (false, true) => Ordering::Less,
                        (false, false) => pa.cmp(pb),
                    })
                    .then_with(|| a.cmp(b))
            }
        }
    }
}

impl PartialOrd for VersionId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionId::Number(n) => write!(f, "{n}"),
            VersionId::Semantic(s) => f.write_str(s),
        }
    }
}

impl std::str::FromStr for VersionId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(n) = s.parse::<u64>() {
            return if n == 0 {
                Err("versions start at 1".into())
            } else {
                Ok(VersionId::Number(n))
            };
        }
        let (nums, _) = Self::semver_parts(s);
        let core = s.split(['-', '+']).next().unwrap_or("");
        if nums.len() == 3
            && core
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            Ok(VersionId::Semantic(s.to_string()))
        } else {
            Err(format!(
                "`{s}` is neither an integer nor a semantic version like 1.4.0"
            ))
        }
    }
}

/// A length of time written as a number and a unit: `30s`, `30m`, `1h`, `7d`, `2w`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
#[schemars(example = "30m", example = "1h", example = "7d")]
pub struct DurationSpec(pub String);

impl DurationSpec {
    /// The duration in seconds, or a message saying why the text is not a duration.
    pub fn seconds(&self) -> Result<u64, String> {
        parse_duration(&self.0)
    }
}

/// Parses `30s`, `30m`, `1h`, `7d`, `2w` into seconds. Zero is refused: a stage
/// or a comparison that lasts no time at all is always a mistake.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || {
        format!(
            "`{text}` is not a duration: write a whole number and a unit (s, m, h, d or w), such as 30m, 1h or 7d"
        )
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    if n == 0 {
        return Err(format!(
            "`{text}` is zero: a duration must be longer than nothing"
        ));
    }
    n.checked_mul(factor).ok_or_else(bad)
}

/// A quantity written either as a bare number or as text with a unit, such as
/// `0.5%` or `20ms` (the guidelines' `rollback_if` style).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Quantity {
    /// A bare number, in the unit the field documents.
    Number(f64),
    /// A number with its unit: `%` for percentages, `ms` or `s` for times.
    Text(String),
}

/// What unit a [`Quantity`] field is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Percentage points: `0.5%` or `0.5`.
    Percent,
    /// Milliseconds: `20ms`, `0.02s` or `20`.
    Millis,
}

impl Quantity {
    /// The value in the field's unit, or a message naming the expected form.
    pub fn value(&self, unit: Unit) -> Result<f64, String> {
        let v = match self {
            Quantity::Number(n) => *n,
            Quantity::Text(t) => {
                let t = t.trim();
                let (num, scale) = match unit {
                    Unit::Percent => (t.strip_suffix('%').unwrap_or(t), 1.0),
                    Unit::Millis => match t.strip_suffix("ms") {
                        Some(n) => (n, 1.0),
                        None => (t.strip_suffix('s').unwrap_or(t), 1000.0),
                    },
                };
                let n: f64 = num.trim().parse().map_err(|_| match unit {
                    Unit::Percent => format!("`{t}` is not a percentage: write it as 0.5% or 0.5"),
                    Unit::Millis => format!("`{t}` is not a time: write it as 20ms or 0.02s"),
                })?;
                n * scale
            }
        };
        if !v.is_finite() || v < 0.0 {
            return Err(format!("{v} must be a finite number, zero or more"));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases: &[(&str, Result<u64, ()>)] = &[
            ("30s", Ok(30)),
            ("30m", Ok(1800)),
            ("1h", Ok(3600)),
            ("7d", Ok(604_800)),
            ("2w", Ok(1_209_600)),
            ("0h", Err(())),
            ("1x", Err(())),
            ("h", Err(())),
            ("1.5h", Err(())),
            ("", Err(())),
            ("99999999999999999999d", Err(())),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text).map_err(|_| ()), *want, "{text}");
        }
    }

    #[test]
    fn quantities() {
        let cases: &[(Quantity, Unit, Option<f64>)] = &[
            (Quantity::Text("0.5%".into()), Unit::Percent, Some(0.5)),
            (Quantity::Number(1.0), Unit::Percent, Some(1.0)),
            (Quantity::Text("20ms".into()), Unit::Millis, Some(20.0)),
            (Quantity::Text("0.02s".into()), Unit::Millis, Some(20.0)),
            (Quantity::Text("fast".into()), Unit::Millis, None),
            (Quantity::Number(-1.0), Unit::Percent, None),
        ];
        for (q, unit, want) in cases {
            assert_eq!(q.value(*unit).ok(), *want, "{q:?}");
        }
    }

    #[test]
    fn version_order() {
        let mut v: Vec<VersionId> = ["1.10.0", "1.2.0", "1.2.0-rc1", "3", "12"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        v.sort();
        let shown: Vec<String> = v.iter().map(|v| v.to_string()).collect();
        assert_eq!(shown, ["3", "12", "1.2.0-rc1", "1.2.0", "1.10.0"]);
    }

    #[test]
    fn semver_matches_the_schema_pattern() {
        let cases = [
            ("1.4.0", true),
            ("0.0.1", true),
            ("1.4.0-rc.1", true),
            ("1.4.0+build.7", true),
            ("1.4.0-rc1+b2", true),
            ("01.4.0", false),
            ("1.4", false),
            ("1.4.0-", false),
            ("v1.4.0", false),
            ("1.4.0_x", false),
        ];
        for (s, want) in cases {
            assert_eq!(is_semver(s), want, "{s}");
        }
    }

    #[test]
    fn version_parse() {
        assert!("0".parse::<VersionId>().is_err());
        assert!("1.2".parse::<VersionId>().is_err());
        assert!("v1.2.3".parse::<VersionId>().is_err());
        assert_eq!("7".parse::<VersionId>(), Ok(VersionId::Number(7)));
    }
}
