//! The header comment that marks a fragment as modelops's and carries its
//! routing as JSON, so `observe` reads what nginx serves back from the files.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::manifest::deployment::StickyKey;
use crate::state::TrafficRecord;

/// What starts the line holding the routing.
pub const ROUTE_PREFIX: &str = "# modelops-route: ";

/// The routing one fragment serves, exactly as it was applied (zero entries
/// included: they are omitted from nginx's directives, not from the record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteHeader {
    /// The model served.
    pub model: String,
    /// The serving target's name.
    pub target: String,
    /// Percent of live traffic per version.
    pub weights: BTreeMap<String, u8>,
    /// Percent of requests mirrored per shadow version.
    #[serde(default)]
    pub mirrors: BTreeMap<String, u8>,
    /// What keeps a user in one arm, if anything.
    #[serde(default)]
    pub sticky: Option<StickyKey>,
}

impl RouteHeader {
    /// The header's line, without its newline. JSON escapes every control
    /// character, so the record stays on one line whatever the names hold.
    pub fn line(&self) -> String {
        let json = serde_json::to_string(self).expect("a route header serializes");
        format!("{ROUTE_PREFIX}{json}")
    }

    /// The traffic record this header carries.
    pub fn traffic(self) -> TrafficRecord {
        TrafficRecord {
            target: self.target,
            weights: self.weights,
            mirrors: self.mirrors,
            sticky: self.sticky,
        }
    }

    /// Reads the header from a fragment's leading comment lines.
    ///
    /// `Ok(None)` when there is no route line among them: the file is not
    /// modelops's. `Err` says why a route line that is there is unreadable.
    pub fn parse(text: &str) -> Result<Option<RouteHeader>, String> {
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if let Some(json) = line.strip_prefix(ROUTE_PREFIX) {
                return serde_json::from_str(json)
                    .map(Some)
                    .map_err(|e| format!("unreadable modelops-route header: {e}"));
            }
            if !line.starts_with('#') {
                return Ok(None);
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> RouteHeader {
        RouteHeader {
            model: "fraud-detector".into(),
            target: "edge".into(),
            weights: [("11".to_string(), 95), ("12".to_string(), 5)].into(),
            mirrors: BTreeMap::new(),
            sticky: Some(StickyKey {
                header: Some("X-User-Id".into()),
                cookie: None,
            }),
        }
    }

    #[test]
    fn line_is_the_prefix_and_compact_json() {
        assert_eq!(
            header().line(),
            r##"# modelops-route: {"model":"fraud-detector","target":"edge","weights":{"11":95,"12":5},"mirrors":{},"sticky":{"header":"X-User-Id"}}"##
        );
    }

    /// Name, fragment text, and what parsing it gives.
    type Case<'a> = (&'a str, &'a str, Result<Option<RouteHeader>, &'a str>);

    #[test]
    fn parse() {
        let ok = format!(
            "# Managed by modelops.\n{}\n\nupstream x {{}}\n",
            header().line()
        );
        let cases: &[Case] = &[
            ("round trip", &ok, Ok(Some(header()))),
            (
                "first line",
                &format!("{}\r\nserver {{}}\n", header().line()),
                Ok(Some(header())),
            ),
            (
                "optional fields absent",
                r##"# modelops-route: {"model":"m","target":"t","weights":{"1":100}}"##,
                Ok(Some(RouteHeader {
                    model: "m".into(),
                    target: "t".into(),
                    weights: [("1".to_string(), 100)].into(),
                    mirrors: BTreeMap::new(),
                    sticky: None,
                })),
            ),
            (
                "no header: not ours",
                "# a hand-written file\nserver {}\n",
                Ok(None),
            ),
            ("empty file", "", Ok(None)),
            (
                "route line after the leading comments is not a header",
                "server {}\n# modelops-route: {}\n",
                Ok(None),
            ),
            (
                "not JSON",
                "# modelops-route: {model: m}\n",
                Err("unreadable modelops-route header: key must be a string at line 1 column 2"),
            ),
            (
                "weights missing",
                "# modelops-route: {\"model\":\"m\",\"target\":\"t\"}\n",
                Err(
                    "unreadable modelops-route header: missing field `weights` at line 1 column 26",
                ),
            ),
            (
                "weight out of range",
                "# modelops-route: {\"model\":\"m\",\"target\":\"t\",\"weights\":{\"1\":300}}\n",
                Err(
                    "unreadable modelops-route header: invalid value: integer `300`, expected u8 at line 1 column 44",
                ),
            ),
        ];
        for (name, text, want) in cases {
            let want = want.clone().map_err(str::to_string);
            assert_eq!(RouteHeader::parse(text), want, "{name}");
        }
    }
}
