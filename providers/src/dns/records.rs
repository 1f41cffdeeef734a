//! Record sets: validation of names and contents per type, and the canonical forms PowerDNS
//! uses (absolute names with a trailing dot, quoted TXT contents).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::attrs::invalid;
use obp_engine::provider::ProviderError;
use serde_json::Value as Json;

/// TTL used when the blueprint gives none.
pub const DEFAULT_TTL: u64 = 300;

/// The record types obp manages.
pub const TYPES: &[&str] = &["A", "AAAA", "CNAME", "TXT"];

/// One name and type with all its records, as PowerDNS wants them.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSet {
    pub zone: String,
    pub name: String,
    pub rtype: String,
    pub ttl: u64,
    /// Record contents in PowerDNS form (TXT quoted, names absolute).
    pub records: Vec<String>,
}

/// `name` with a trailing dot, lowercase.
pub fn canonical(name: &str) -> String {
    let name = name.trim().to_ascii_lowercase();
    if name.ends_with('.') {
        name
    } else {
        format!("{name}.")
    }
}

/// A DNS name: labels of 1–63 letters, digits, `-` or `_` (for TXT owner names such as
/// `_acme-challenge`), 253 characters at most; `*` allowed as the first label.
pub fn check_name(name: &str) -> Result<(), String> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() || trimmed.len() > 253 {
        return Err(format!(
            "`{name}` is not a valid DNS name (1 to 253 characters)"
        ));
    }
    for (i, label) in trimmed.split('.').enumerate() {
        let ok = (i == 0 && label == "*")
            || (!label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        if !ok {
            return Err(format!("`{name}` is not a valid DNS name: label `{label}` must be 1 to 63 letters, digits, `-` or `_`"));
        }
    }
    Ok(())
}

impl RecordSet {
    /// Builds and validates a record set from `dns.record` attributes.
    pub fn from_inputs(inputs: &BTreeMap<String, Json>) -> Result<RecordSet, ProviderError> {
        let text = |name: &str| {
            inputs
                .get(name)
                .and_then(Json::as_str)
                .ok_or_else(|| invalid(name, "must be a string"))
        };
        let zone = text("zone")?;
        check_name(zone).map_err(|m| invalid("zone", m))?;
        let zone = canonical(zone);
        let name = text("name")?;
        let name = if name == "@" || canonical(name) == zone {
            zone.clone()
        } else {
            check_name(name).map_err(|m| invalid("name", m))?;
            let absolute = canonical(name);
            if absolute.ends_with(&format!(".{zone}")) {
                absolute
            } else {
                // A relative name lives in the zone.
                format!("{}.{zone}", name.trim_end_matches('.').to_ascii_lowercase())
            }
        };
        let rtype = text("type")?.to_ascii_uppercase();
        if !TYPES.contains(&rtype.as_str()) {
            return Err(invalid(
                "type",
                format!(
                    "`{rtype}` is not supported (use one of {})",
                    TYPES.join(", ")
                ),
            ));
        }
        let ttl = match inputs.get("ttl") {
            None => DEFAULT_TTL,
            Some(value) => value
                .as_u64()
                .filter(|t| (1..=2_147_483_647).contains(t))
                .ok_or_else(|| invalid("ttl", "must be a positive number of seconds"))?,
        };
        let list = inputs
            .get("records")
            .and_then(Json::as_array)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| invalid("records", "must be a non-empty list"))?;
        let mut records = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let attribute = format!("records[{i}]");
            let value = item
                .as_str()
                .ok_or_else(|| invalid(&attribute, "must be a string"))?;
            records.push(content(&rtype, value).map_err(|m| invalid(&attribute, m))?);
        }
        if rtype == "CNAME" && records.len() != 1 {
            return Err(invalid("records", "a CNAME has exactly one target"));
        }
        records.sort();
        records.dedup();
        Ok(RecordSet {
            zone,
            name,
            rtype,
            ttl,
            records,
        })
    }
}

/// The PowerDNS form of one record's content, or why it is invalid.
fn content(rtype: &str, value: &str) -> Result<String, String> {
    match rtype {
        "A" => value
            .parse::<Ipv4Addr>()
            .map(|a| a.to_string())
            .map_err(|_| format!("`{value}` is not an IPv4 address")),
        "AAAA" => value
            .parse::<Ipv6Addr>()
            .map(|a| a.to_string())
            .map_err(|_| format!("`{value}` is not an IPv6 address")),
        "CNAME" => check_name(value).map(|_| canonical(value)),
        _ => {
            if value.len() > 4000 {
                return Err("TXT records are limited to 4000 characters here".to_owned());
            }
            Ok(format!(
                "\"{}\"",
                value.replace('\\', "\\\\").replace('"', "\\\"")
            ))
        }
    }
}

/// Record contents as blueprints write them (TXT unquoted, CNAME targets without the dot).
pub fn display(rtype: &str, records: &[String]) -> Vec<String> {
    let mut out: Vec<String> = records
        .iter()
        .map(|r| match rtype {
            "TXT" => {
                let inner = r
                    .strip_prefix('"')
                    .and_then(|r| r.strip_suffix('"'))
                    .unwrap_or(r);
                inner.replace("\\\"", "\"").replace("\\\\", "\\")
            }
            "CNAME" => r.trim_end_matches('.').to_owned(),
            _ => r.clone(),
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(inputs: Json) -> Result<RecordSet, ProviderError> {
        let map: BTreeMap<String, Json> = serde_json::from_value(inputs).unwrap();
        RecordSet::from_inputs(&map)
    }

    #[test]
    fn names_become_absolute_inside_the_zone() {
        let record = set(json!({"zone": "acme.example", "name": "erp", "type": "a", "records": ["10.0.0.2", "10.0.0.1"]})).unwrap();
        assert_eq!(record.name, "erp.acme.example.");
        assert_eq!(record.rtype, "A");
        assert_eq!(record.records, ["10.0.0.1", "10.0.0.2"]);
        let apex = set(json!({"zone": "acme.example", "name": "@", "type": "TXT", "records": ["v=spf1 \"x\""]})).unwrap();
        assert_eq!(apex.name, "acme.example.");
        assert_eq!(apex.records, ["\"v=spf1 \\\"x\\\"\""]);
        assert_eq!(display("TXT", &apex.records), ["v=spf1 \"x\""]);
    }

    #[test]
    fn hostile_or_wrong_values_are_refused() {
        for (inputs, attribute) in [
            (
                json!({"zone": "../x", "name": "a", "type": "A", "records": ["1.2.3.4"]}),
                "zone",
            ),
            (
                json!({"zone": "acme.example", "name": "a;rm -rf", "type": "A", "records": ["1.2.3.4"]}),
                "name",
            ),
            (
                json!({"zone": "acme.example", "name": "a", "type": "MX", "records": ["x"]}),
                "type",
            ),
            (
                json!({"zone": "acme.example", "name": "a", "type": "A", "records": ["999.1.1.1"]}),
                "records[0]",
            ),
            (
                json!({"zone": "acme.example", "name": "x".repeat(300), "type": "A", "records": ["1.1.1.1"]}),
                "name",
            ),
        ] {
            match set(inputs) {
                Err(ProviderError::Invalid {
                    attribute: Some(a), ..
                }) => assert_eq!(a, attribute),
                other => panic!("expected an error on {attribute}, got {other:?}"),
            }
        }
    }
}
