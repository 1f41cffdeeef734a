//! "Did you mean" suggestions for unknown names, in one place.

/// Similarity (Jaro-Winkler, 0..1) a candidate needs before it is offered; below this the
/// suggestion is more confusing than helpful.
const THRESHOLD: f64 = 0.8;

/// The most similar candidate to `name`, if any is similar enough.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(&str, f64)> = None;
    for candidate in candidates {
        let score = strsim::jaro_winkler(name, candidate);
        if score >= THRESHOLD && best.is_none_or(|(_, s)| score > s) {
            best = Some((candidate, score));
        }
    }
    best.map(|(c, _)| c)
}

/// A ready-made help line: "did you mean `x`?".
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(closest("tenat", ["tenant", "image"]), Some("tenant"));
        assert_eq!(closest("zzz", ["tenant", "image"]), None);
    }
}
