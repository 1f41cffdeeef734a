//! obp's port of the API server's field rules against a corpus of manifests that are valid
//! but for one field (`corpus/`): every base manifest passes both the k8s-openapi type check
//! and the rules, and every defect is reported exactly once, with its code, at its path.

mod corpus;

use obp_providers::api_rules;
use obp_providers::kinds::KINDS;

#[test]
fn valid_manifests_pass_and_each_defect_is_found_where_it_is() {
    for (name, manifest) in corpus::bases() {
        assert_eq!(api_rules::check(&manifest), [], "base {name}");
        let kind = KINDS.iter().find(|k| k.kind == manifest["kind"]).unwrap();
        assert_eq!(
            (kind.check)(&manifest),
            [],
            "base {name} is not a valid {}",
            kind.kind
        );
    }
    for defect in corpus::defects() {
        let manifest = corpus::apply(&defect).unwrap_or_else(|| {
            panic!(
                "{} {}: no such field in the base",
                defect.base, defect.pointer
            )
        });
        let found: Vec<(&str, String)> = api_rules::check(&manifest)
            .into_iter()
            .map(|r| (r.code, r.path))
            .collect();
        assert_eq!(
            found,
            [(defect.code, defect.path.to_owned())],
            "{} with {} = {}",
            defect.base,
            defect.pointer,
            defect.value
        );
    }
}
