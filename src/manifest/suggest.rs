//! "Did you mean …?": the known name closest to a misspelt one.

/// The candidate closest to `word` by edit distance, when it is close
/// enough to be a likely typo (at most 2 edits, or a quarter of its length
/// for long names, and never the whole name).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|k| (edit_distance(word, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < k.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// `; did you mean `X`?` for the closest candidate, else nothing.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates)
        .map(|k| format!("; did you mean `{k}`?"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested_and_far_ones_not() {
        let known = ["stage", "source", "version", "metrics", "fraud-detector"];
        assert_eq!(closest("stge", known), Some("stage"));
        assert_eq!(closest("metric", known), Some("metrics"));
        assert_eq!(closest("fraud-detectr", known), Some("fraud-detector"));
        assert_eq!(closest("colour", known), None);
        assert_eq!(did_you_mean("x", known), "");
        assert_eq!(did_you_mean("sorce", known), "; did you mean `source`?");
    }
}
