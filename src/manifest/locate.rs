//! Maps a JSON pointer into a parsed document back to the line and column of
//! the YAML it came from, through saphyr's marked tree. Only files with errors
//! are parsed this way, so clean files pay nothing for it.

use std::collections::BTreeMap;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use super::diagnostic::Diagnostic;

/// Fills in `line`/`column` of every diagnostic that has a pointer, parsing
/// each affected file once. `text_of` returns a file's text by path.
pub fn resolve<'a>(diags: &mut [Diagnostic], text_of: impl Fn(&str) -> Option<&'a str>) {
    let mut by_file: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, d) in diags.iter().enumerate() {
        if d.line.is_none() && d.pointer.is_some() {
            by_file.entry(d.file.clone()).or_default().push(i);
        }
    }
    for (file, indices) in by_file {
        let Some(text) = text_of(&file) else { continue };
        let Ok(docs) = MarkedYaml::load_from_str(text) else {
            continue;
        };
        let Some(root) = docs.first() else { continue };
        for i in indices {
            let pointer = diags[i].pointer.clone().unwrap_or_default();
            let (line, column) = position(root, &pointer, diags[i].at_key);
            diags[i].line = Some(line);
            diags[i].column = Some(column);
        }
    }
}

/// The 1-based position of the node at `pointer`. A pointer to a collection
/// member points at its key when the value is itself a collection (the value
/// of a block mapping starts on the next line, which reads as the wrong
/// place); a pointer that runs past the tree stops at the deepest node found.
/// With `at_key`, the final segment's key is the position (an unknown field).
pub fn position(root: &MarkedYaml<'_>, pointer: &str, at_key: bool) -> (usize, usize) {
    let mut node = root;
    let mut here = mark(node);
    let segments: Vec<String> = segments(pointer).collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match &node.data {
            YamlData::Mapping(map) => {
                let Some((key, value)) = map
                    .iter()
                    .find(|(k, _)| key_text(k).as_deref() == Some(segment.as_str()))
                else {
                    return here;
                };
                here = if is_collection(value) || (last && at_key) {
                    mark(key)
                } else {
                    mark(value)
                };
                node = value;
            }
            YamlData::Sequence(items) => {
                let Some(item) = segment.parse::<usize>().ok().and_then(|i| items.get(i)) else {
                    return here;
                };
                here = mark(item);
                node = item;
            }
            _ => return here,
        }
    }
    here
}

fn mark(node: &MarkedYaml<'_>) -> (usize, usize) {
    let m = node.span.start;
    (m.line().max(1), m.col() + 1)
}

fn is_collection(node: &MarkedYaml<'_>) -> bool {
    matches!(node.data, YamlData::Mapping(_) | YamlData::Sequence(_))
}

/// A mapping key as text, so `6:` and `"6":` both match the segment `6`.
fn key_text(node: &MarkedYaml<'_>) -> Option<String> {
    match &node.data {
        YamlData::Value(Scalar::String(s)) => Some(s.to_string()),
        YamlData::Value(Scalar::Integer(i)) => Some(i.to_string()),
        YamlData::Value(Scalar::Boolean(b)) => Some(b.to_string()),
        YamlData::Value(Scalar::FloatingPoint(f)) => Some(f.to_string()),
        YamlData::Value(Scalar::Null) => Some("null".to_string()),
        YamlData::Representation(s, _, _) => Some(s.to_string()),
        _ => None,
    }
}

fn segments(pointer: &str) -> impl Iterator<Item = String> + '_ {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_map_to_positions() {
        let text = "apiVersion: modelops/v1\nkind: Model\nspec:\n  versions:\n    - version: 6\n      stage: Prod\n      metrics: {acc: .9}\n  \"a/b\": 1\n";
        let docs = MarkedYaml::load_from_str(text).unwrap();
        let root = &docs[0];
        let cases = [
            ("", (1, 1)),
            ("/kind", (2, 7)),
            ("/spec/versions/0/stage", (6, 14)),
            ("/spec/versions/0", (5, 7)),
            ("/spec/versions", (4, 3)),
            ("/spec/versions/0/metrics", (7, 7)),
            ("/spec/versions/0/metrics/acc", (7, 22)),
            ("/spec/versions/0/nope", (5, 7)),
            ("/spec/versions/9", (4, 3)),
            ("/spec/a~1b", (8, 10)),
        ];
        for (pointer, want) in cases {
            assert_eq!(position(root, pointer, false), want, "{pointer}");
        }
        assert_eq!(position(root, "/spec/a~1b", true), (8, 3));
        assert_eq!(position(root, "/kind", true), (2, 1));
    }
}
