//! The fast path for reading a manifest: the common shape of YAML (mappings,
//! sequences and scalars, block or flow) parsed into a small borrowed tree and
//! deserialized straight into the manifest types.
//!
//! It is an optimisation, not a second parser with its own rules: anything it
//! is not sure about — anchors, aliases, tags, duplicate keys, non-string
//! keys, several documents, deep nesting, a scalar whose type could be read
//! two ways — makes it give up, and the file takes the full path
//! (serde-saphyr, then JSON Schema), which decides and reports. When it does
//! succeed it yields exactly what serde-saphyr would (tested below against
//! serde-saphyr on the same inputs). Validating 10,000 manifests is about
//! twice as fast with it.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

use super::yaml::MAX_DEPTH;

/// Most nodes a fast-path file may have.
const MAX_NODES: usize = 100_000;

/// Deserializes `text` into `T`, or `None` when the full path must decide.
pub fn parse<T: DeserializeOwned>(text: &str) -> Option<T> {
    let root = tree(text)?;
    T::deserialize(NodeDe(&root)).ok()
}

enum Node<'a> {
    Scalar(Cow<'a, str>, bool),
    Seq(Vec<Node<'a>>),
    Map(Vec<(Cow<'a, str>, Node<'a>)>),
}

/// The document as a tree, or `None` on anything outside the fast subset.
fn tree(text: &str) -> Option<Node<'_>> {
    enum Open<'a> {
        Seq(Vec<Node<'a>>),
        Map(Vec<(Cow<'a, str>, Node<'a>)>, Option<Cow<'a, str>>),
    }
    let mut stack: Vec<Open<'_>> = Vec::new();
    let mut root = None;
    let mut nodes = 0usize;
    let mut documents = 0;
    for item in Parser::new_from_str(text) {
        let (event, _) = item.ok()?;
        if event.anchor_id().is_some() {
            return None;
        }
        let done = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => continue,
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    return None;
                }
                continue;
            }
            Event::Scalar(value, style, _, None) => {
                Node::Scalar(value, style == ScalarStyle::Plain)
            }
            Event::SequenceStart(_, _, None) | Event::MappingStart(_, _, None) => {
                if stack.len() >= MAX_DEPTH {
                    return None;
                }
                stack.push(match event {
                    Event::SequenceStart(..) => Open::Seq(Vec::new()),
                    _ => Open::Map(Vec::new(), None),
                });
                continue;
            }
            Event::SequenceEnd => match stack.pop()? {
                Open::Seq(items) => Node::Seq(items),
                Open::Map(..) => return None,
            },
            Event::MappingEnd => match stack.pop()? {
                Open::Map(entries, None) if unique_keys(&entries) => Node::Map(entries),
                _ => return None,
            },
            _ => return None,
        };
        nodes += 1;
        if nodes > MAX_NODES {
            return None;
        }
        match stack.last_mut() {
            None => root = Some(done),
            Some(Open::Seq(items)) => items.push(done),
            Some(Open::Map(entries, key)) => match key.take() {
                Some(k) => entries.push((k, done)),
                // A key: only scalar keys that are plainly strings.
                None => match done {
                    Node::Scalar(k, plain) if !plain || resolve(&k) == Plain::Str => *key = Some(k),
                    _ => return None,
                },
            },
        }
    }
    root
}

fn unique_keys(entries: &[(Cow<'_, str>, Node<'_>)]) -> bool {
    if entries.len() <= 16 {
        entries
            .iter()
            .enumerate()
            .all(|(i, (k, _))| entries[..i].iter().all(|(o, _)| o != k))
    } else {
        let mut keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_ref()).collect();
        keys.sort_unstable();
        keys.windows(2).all(|w| w[0] != w[1])
    }
}

/// How a plain scalar reads under the YAML 1.2 core schema, conservatively:
/// `Odd` is anything this fast path leaves to the full parser.
#[derive(Debug, PartialEq, Eq)]
enum Plain {
    Null,
    Bool(bool),
    Int,
    Float,
    Str,
    Odd,
}

fn resolve(s: &str) -> Plain {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Plain::Null,
        "true" | "True" | "TRUE" => return Plain::Bool(true),
        "false" | "False" | "FALSE" => return Plain::Bool(false),
        _ => {}
    }
    // YAML 1.1 booleans and the special floats: left to the full path.
    let odd_word = ["yes", "no", "on", "off", "y", "n"]
        .iter()
        .any(|w| s.eq_ignore_ascii_case(w));
    let special_float = s.len() >= 4 && {
        let tail = s.trim_start_matches(['-', '+']);
        tail.eq_ignore_ascii_case(".inf") || tail.eq_ignore_ascii_case(".nan")
    };
    if odd_word || special_float {
        return Plain::Odd;
    }
    let body = s.strip_prefix('-').unwrap_or(s);
    if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        return if body.len() > 1 && body.starts_with('0') {
            Plain::Odd
        } else {
            Plain::Int
        };
    }
    let first = s.as_bytes()[0];
    if first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.') {
        let numeric_chars = s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
        let leading_zero =
            body.len() > 1 && body.starts_with('0') && body.as_bytes()[1].is_ascii_digit();
        if numeric_chars && s.bytes().any(|b| b.is_ascii_digit()) {
            match s.parse::<f64>() {
                Ok(f) if f.is_finite() && first != b'+' && !leading_zero => return Plain::Float,
                Ok(_) => return Plain::Odd,
                Err(_) => {}
            }
        }
        // Numbers in forms a YAML reader may or may not take as numbers
        // (`0x1F`, `0o17`, `1_000`, `+1`, `012`) go the full path; other
        // text that starts like a number (`8f2c41`, `1h`, `1.2.0`) is text.
        let radix = ["0x", "0o", "0b", "-0x", "-0o", "-0b"]
            .iter()
            .any(|p| s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p));
        let underscored = s.contains('_')
            && s.bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-' | b'+'));
        if radix || underscored || first == b'+' || leading_zero {
            return Plain::Odd;
        }
    }
    Plain::Str
}

/// Never shown: a fast-path failure sends the file down the full path.
#[derive(Debug)]
struct GiveUp;

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not on the fast path")
    }
}

impl std::error::Error for GiveUp {}

impl de::Error for GiveUp {
    fn custom<T: fmt::Display>(_: T) -> Self {
        GiveUp
    }
}

struct NodeDe<'n, 'a>(&'n Node<'a>);

impl<'n, 'a> NodeDe<'n, 'a> {
    fn plain(&self) -> Option<(&'n str, Plain)> {
        match self.0 {
            Node::Scalar(s, true) => Some((s.as_ref(), resolve(s))),
            _ => None,
        }
    }

    /// Text for a string field: any quoted scalar, or a plain one that
    /// reads as a string or a number (kept as written, like serde-saphyr).
    fn text(&self) -> Result<&'n str, GiveUp> {
        match self.0 {
            Node::Scalar(s, false) => Ok(s.as_ref()),
            Node::Scalar(s, true) => match resolve(s) {
                Plain::Str | Plain::Int | Plain::Float => Ok(s.as_ref()),
                _ => Err(GiveUp),
            },
            _ => Err(GiveUp),
        }
    }
}

macro_rules! integer {
    ($name:ident, $visit:ident, $ty:ty) => {
        fn $name<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
            match self.plain() {
                Some((s, Plain::Int)) => v.$visit(s.parse::<$ty>().map_err(|_| GiveUp)?),
                _ => Err(GiveUp),
            }
        }
    };
}

impl<'de> de::Deserializer<'de> for NodeDe<'_, '_> {
    type Error = GiveUp;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
        match self.0 {
            Node::Scalar(s, false) => v.visit_str(s),
            Node::Scalar(s, true) => match resolve(s) {
                Plain::Null => v.visit_unit(),
                Plain::Bool(b) => v.visit_bool(b),
                Plain::Int if s.starts_with('-') => v.visit_i64(s.parse().map_err(|_| GiveUp)?),
                Plain::Int => v.visit_u64(s.parse().map_err(|_| GiveUp)?),
                Plain::Float => v.visit_f64(s.parse().map_err(|_| GiveUp)?),
                Plain::Str => v.visit_str(s),
                Plain::Odd => Err(GiveUp),
            },
            Node::Seq(items) => v.visit_seq(SeqDe(items.iter())),
            Node::Map(entries) => v.visit_map(MapDe(entries.iter(), None)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
        match self.plain() {
            Some((_, Plain::Bool(b))) => v.visit_bool(b),
            _ => Err(GiveUp),
        }
    }

    integer!(deserialize_u8, visit_u8, u8);
    integer!(deserialize_u16, visit_u16, u16);
    integer!(deserialize_u32, visit_u32, u32);
    integer!(deserialize_u64, visit_u64, u64);
    integer!(deserialize_i8, visit_i8, i8);
    integer!(deserialize_i16, visit_i16, i16);
    integer!(deserialize_i32, visit_i32, i32);
    integer!(deserialize_i64, visit_i64, i64);

    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
        self.deserialize_f64(v)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
        match self.plain() {
            Some((s, Plain::Int | Plain::Float)) => v.visit_f64(s.parse().map_err(|_| GiveUp)?),
            _ => Err(GiveUp),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
        v.visit_str(self.text()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
        self.deserialize_str(v)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
        match self.plain() {
            Some((_, Plain::Null)) => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
        match self.plain() {
            Some((_, Plain::Null)) => v.visit_unit(),
            _ => Err(GiveUp),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, GiveUp> {
        self.deserialize_unit(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, GiveUp> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
        match self.0 {
            Node::Seq(items) => v.visit_seq(SeqDe(items.iter())),
            _ => Err(GiveUp),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
        match self.0 {
            Node::Map(entries) => v.visit_map(MapDe(entries.iter(), None)),
            _ => Err(GiveUp),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, GiveUp> {
        self.deserialize_map(v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, GiveUp> {
        let name: &str = self.text()?;
        v.visit_enum(name.into_deserializer())
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveUp> {
        v.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char bytes byte_buf tuple tuple_struct
    }
}

struct SeqDe<'n, 'a>(std::slice::Iter<'n, Node<'a>>);

impl<'de> de::SeqAccess<'de> for SeqDe<'_, '_> {
    type Error = GiveUp;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GiveUp> {
        self.0
            .next()
            .map(|n| seed.deserialize(NodeDe(n)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct MapDe<'n, 'a>(
    std::slice::Iter<'n, (Cow<'a, str>, Node<'a>)>,
    Option<&'n Node<'a>>,
);

impl<'de> de::MapAccess<'de> for MapDe<'_, '_> {
    type Error = GiveUp;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GiveUp> {
        match self.0.next() {
            None => Ok(None),
            Some((k, value)) => {
                self.1 = Some(value);
                let key: de::value::StrDeserializer<'_, GiveUp> = k.as_ref().into_deserializer();
                seed.deserialize(key).map(Some)
            }
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, GiveUp> {
        seed.deserialize(NodeDe(self.1.take().ok_or(GiveUp)?))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::manifest::VersionId;
    use crate::manifest::common::Quantity;
    use crate::manifest::model::ModelManifest;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Probe {
        #[serde(default)]
        text: Option<String>,
        #[serde(default)]
        number: Option<f64>,
        #[serde(default)]
        count: Option<u8>,
        #[serde(default)]
        flag: Option<bool>,
        #[serde(default)]
        version: Option<VersionId>,
        #[serde(default)]
        quantity: Option<Quantity>,
        #[serde(default)]
        map: Option<BTreeMap<String, String>>,
    }

    /// Whenever the fast path accepts a document, serde-saphyr (the full
    /// path) reads the same value from it.
    fn agrees(doc: &str) -> bool {
        let fast = parse::<Probe>(doc);
        let full = crate::manifest::yaml::typed::<Probe>(doc).ok();
        if let Some(f) = &fast {
            assert_eq!(Some(f), full.as_ref(), "fast path disagrees on {doc:?}");
        }
        fast.is_some()
    }

    #[test]
    fn agrees_with_serde_saphyr_or_gives_up() {
        let scalars = [
            "x",
            "2.4",
            "2.10",
            "1.2.0",
            "1.2.0-rc1",
            "7",
            "07",
            "-3",
            "0.5",
            ".5",
            "1e3",
            "1E-3",
            "+1",
            "0x1F",
            "0o17",
            "1_000",
            "yes",
            "no",
            "on",
            "Off",
            "y",
            "true",
            "False",
            "~",
            "null",
            "",
            ".inf",
            "-.inf",
            ".nan",
            ".NaN",
            "'quoted'",
            "\"7\"",
            "\"1.2.0\"",
            "0.5%",
            "20ms",
            "300",
            "-0",
            "1.",
            "1.5.",
            "a: b",
            "[1, 2]",
            "{a: b}",
            "|\n  block\n",
            ">\n  folded\n",
            "8f2c41",
            "1h",
            "30m",
            "2001-12-14",
            "v3.1",
            "0b101",
            "1:30",
            "-x",
            "3e",
            "e3",
            "12ab",
            "0.0.1",
            "1e400",
            "-1e400",
            "00",
            "0",
            "1.0",
            "4.",
            "-.5",
        ];
        let fields = ["text", "number", "count", "flag", "version", "quantity"];
        let mut accepted = 0;
        for field in fields {
            for scalar in scalars {
                if agrees(&format!("{field}: {scalar}\n")) {
                    accepted += 1;
                }
            }
        }
        assert!(
            accepted > 40,
            "the fast path should take ordinary documents ({accepted})"
        );
        for doc in [
            "map: {a: x, b: y}\n",
            "map: {a: x, a: y}\n",
            "map: {a: x, \"a\": y}\n",
            "map:\n  1: x\n",
            "map: &m {a: x}\n",
            "text: !!str 5\n",
            "text: x\n---\ntext: y\n",
            "text: x\ntext: y\n",
            "unknown: 1\n",
        ] {
            agrees(doc);
        }
    }

    #[test]
    fn gives_up_on_what_it_does_not_decide() {
        for doc in [
            "text: &a x\nmap: {b: *a}\n",
            "text: x\ntext: y\n",
            "text: !!str x\n",
            "a: b\n---\nc: d\n",
            "text: [unclosed\n",
            "flag: yes\n",
        ] {
            assert!(parse::<Probe>(doc).is_none(), "{doc:?}");
        }
        let deep = format!("map: {}{}\n", "[".repeat(100), "]".repeat(100));
        assert!(parse::<Probe>(&deep).is_none());
    }

    #[test]
    fn reads_a_model_manifest_like_the_full_path() {
        for name in ["churn-predictor", "fraud-detector", "recommendation-ranker"] {
            let path = format!(
                "{}/example-repo/models/{name}.yaml",
                env!("CARGO_MANIFEST_DIR")
            );
            let text = std::fs::read_to_string(&path).unwrap();
            let fast: ModelManifest = parse(&text).expect("the example takes the fast path");
            let full: ModelManifest = crate::manifest::yaml::typed(&text).unwrap();
            assert_eq!(fast, full, "{name}");
        }
    }
}
