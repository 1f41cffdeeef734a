//! The instances of one `for each`, in collection order, with a lookup by key.
//!
//! `k8s.deployment.web[each.key]` is read once per tenant by every other tenant resource, so
//! finding an instance must not scan the list: at 1,000 tenants a scan made evaluation
//! quadratic (a third of `obp validate`'s time went to comparing keys).

use std::collections::HashMap;

/// Key and value of each instance; the key is `None` for a declaration without `for each`.
#[derive(Debug)]
pub(crate) struct Keyed<T> {
    items: Vec<(Option<String>, T)>,
    positions: HashMap<String, usize>,
}

impl<T> Keyed<T> {
    /// Keys are unique: `expand` refuses duplicates before this is built.
    pub(crate) fn new(items: Vec<(Option<String>, T)>) -> Keyed<T> {
        let positions = items
            .iter()
            .enumerate()
            .filter_map(|(position, (key, _))| Some((key.clone()?, position)))
            .collect();
        Keyed { items, positions }
    }

    /// The instance with `key`; `None` finds the single instance of a declaration without
    /// `for each`.
    pub(crate) fn get(&self, key: Option<&str>) -> Option<&T> {
        match key {
            Some(key) => self.positions.get(key).map(|&p| &self.items[p].1),
            None => self
                .items
                .first()
                .filter(|(k, _)| k.is_none())
                .map(|(_, value)| value),
        }
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.positions.contains_key(key)
    }

    pub(crate) fn iter(&self) -> std::slice::Iter<'_, (Option<String>, T)> {
        self.items.iter()
    }

    /// The keys, for "did you mean" suggestions.
    pub(crate) fn keys(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter_map(|(k, _)| k.as_deref())
            .collect()
    }

    pub(crate) fn first(&self) -> Option<&(Option<String>, T)> {
        self.items.first()
    }
}

#[cfg(test)]
mod tests {
    use super::Keyed;

    #[test]
    fn finds_by_key_and_the_single_unkeyed_instance() {
        let keyed = Keyed::new(vec![(Some("a".to_owned()), 1), (Some("b".to_owned()), 2)]);
        assert_eq!(keyed.get(Some("b")), Some(&2));
        assert_eq!(keyed.get(Some("c")), None);
        assert_eq!(keyed.get(None), None);
        assert_eq!(keyed.keys(), ["a", "b"]);
        let single = Keyed::new(vec![(None, 7)]);
        assert_eq!(single.get(None), Some(&7));
        assert!(!single.contains(""));
    }
}
