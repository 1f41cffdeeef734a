//! Plan output for people (symbols `+ ~ -/+ -`, optional colour, a summary per tenant, the
//! blast radius: what each group of changes does) and
//! for machines (`--json`). Sensitive attributes print as `(sensitive)`, secret references as
//! `(secret "path")`, values known only after apply as `(known after apply)`.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{json, Value as Json};

use crate::address;
use crate::claims;
use crate::plan::{Action, AttrDiff, Change, Drift, Plan};
use crate::provider::Effect;
use crate::resolve;

/// The objects changed outside obp that a plan found, as text (empty when there are none).
pub fn drift(plan: &Plan) -> String {
    let mut out = String::new();
    let (leftovers, changed): (Vec<&Drift>, Vec<&Drift>) = plan
        .drift
        .iter()
        .partition(|d| d.kind == claims::STRAY || d.kind == claims::OUTDATED);
    if !changed.is_empty() {
        out.push_str("Objects changed outside obp since the last apply:\n\n");
        for drift in changed {
            let _ = writeln!(out, "  # {} was {} outside obp", drift.address, drift.kind);
            for diff in &drift.diffs {
                let _ = writeln!(out, "      ~ {}", diff_line(diff));
            }
            if let Some(detail) = &drift.detail {
                for line in detail.lines() {
                    let _ = writeln!(out, "      {line}");
                }
            }
            out.push('\n');
        }
    }
    if !leftovers.is_empty() {
        out.push_str(
            "Left behind (by an interrupted apply or by hand); apply removes or rewrites them:\n\n",
        );
        for drift in leftovers {
            let what = if drift.kind == claims::STRAY {
                "was written by obp but no resource owns it"
            } else {
                "does not list what obp owns"
            };
            let _ = writeln!(out, "  # {} {what}", drift.address);
        }
        out.push('\n');
    }
    out
}

/// The drift a plan found, for machines: address, `changed` or `deleted`, changed paths.
pub fn drift_json(plan: &Plan) -> Vec<Json> {
    plan.drift
        .iter()
        .map(|d| json!({ "address": d.address, "kind": d.kind, "paths": d.diffs.iter().map(|x| x.path.clone()).collect::<Vec<_>>() }))
        .collect()
}

/// Renders a plan as text.
pub fn human(plan: &Plan, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_owned()
        }
    };
    let mut out = drift(plan);
    for (from, to) in &plan.moved {
        let _ = writeln!(out, "  # {from} has moved to {to}\n");
    }
    let changes: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| &**c)
        .collect();
    if changes.is_empty() {
        if plan.has_leftovers() {
            out.push_str("Plan: only the leftovers above, no other changes.\n");
        } else if plan.moved.is_empty() {
            out.push_str("No changes. The infrastructure matches the configuration.\n");
        } else {
            out.push_str("Plan: only the moves above, no other changes.\n");
        }
        return out;
    }
    out.push_str("obp will perform these actions:\n\n");
    for change in &changes {
        let (what, code) = match change.action {
            Action::Create => ("will be created", "32"),
            Action::Update => ("will be updated in place", "33"),
            Action::Replace => ("must be replaced", "35"),
            Action::Delete => ("will be destroyed", "31"),
            Action::NoOp => ("is unchanged", "0"),
        };
        let because = match change.action {
            Action::Delete | Action::Replace if !change.reasons.is_empty() => {
                format!(" ({})", change.reasons.join("; "))
            }
            _ => String::new(),
        };
        let _ = writeln!(out, "  # {} {what}{because}", change.address);
        let _ = writeln!(
            out,
            "{:>3} {}",
            paint(code, change.action.symbol()),
            change.address
        );
        if change.action != Action::Delete {
            for diff in &change.diffs {
                let symbol = match (&diff.before, &diff.after) {
                    (None, Some(_)) => paint("32", "+"),
                    (Some(_), None) => paint("31", "-"),
                    _ => paint("33", "~"),
                };
                let note = if diff.forces_replace && change.action == Action::Replace {
                    paint("35", "  # forces replacement")
                } else {
                    String::new()
                };
                let _ = writeln!(out, "      {symbol} {}{note}", diff_line(diff));
            }
        }
        out.push('\n');
    }
    let _ = writeln!(out, "Plan: {}.", counts(&changes));
    if !plan.overrides.is_empty() {
        let _ = writeln!(
            out,
            "Soft policies overridden for this plan: {}.",
            plan.overrides.join(", ")
        );
    }
    let mut tenants: BTreeMap<&str, Vec<&Change>> = BTreeMap::new();
    for change in &changes {
        if let Some(tenant) = address::tenant_of(&change.module) {
            tenants.entry(tenant).or_default().push(change);
        }
    }
    if tenants.len() > 1
        || (tenants.len() == 1 && tenants.values().map(Vec::len).sum::<usize>() < changes.len())
    {
        for (tenant, list) in &tenants {
            let _ = writeln!(out, "  {tenant}: {}", counts(list));
        }
        let root: Vec<&Change> = changes
            .iter()
            .copied()
            .filter(|c| c.module.is_empty())
            .collect();
        if !root.is_empty() {
            let _ = writeln!(out, "  (stack): {}", counts(&root));
        }
    }
    out.push_str(&blast_radius_text(&changes));
    out
}

/// The changes of one group (a tenant, or the shared ones) and their effects.
struct Blast<'a> {
    changes: Vec<&'a Change>,
    effects: BTreeMap<Effect, Vec<&'a Change>>,
}

/// The changes (no-ops aside) by group, shared ones (no group) under `None`, which sorts first.
fn blast_radius<'a>(changes: &[&'a Change]) -> BTreeMap<Option<&'a str>, Blast<'a>> {
    let mut groups: BTreeMap<Option<&str>, Blast<'_>> = BTreeMap::new();
    for change in changes.iter().filter(|c| c.action != Action::NoOp) {
        let blast = groups
            .entry(change.impact.group.as_deref())
            .or_insert_with(|| Blast {
                changes: Vec::new(),
                effects: BTreeMap::new(),
            });
        blast.changes.push(change);
        for effect in &change.impact.effects {
            blast.effects.entry(*effect).or_default().push(change);
        }
    }
    groups
}

/// The name a change is shown by in the blast radius: its object's, else its address.
fn shown_name(change: &Change) -> &str {
    change.impact.name.as_deref().unwrap_or(&change.address)
}

/// The "Blast radius" section: per group (tenants sorted, then the shared changes), how many
/// changes and what they do. Empty when no change has a group or an effect.
fn blast_radius_text(changes: &[&Change]) -> String {
    if !changes
        .iter()
        .any(|c| c.impact.group.is_some() || !c.impact.effects.is_empty())
    {
        return String::new();
    }
    let mut out = String::from("\nBlast radius:\n");
    let groups = blast_radius(changes);
    // Tenants first; the shared changes last.
    let ordered = groups
        .iter()
        .filter(|(g, _)| g.is_some())
        .chain(groups.iter().filter(|(g, _)| g.is_none()));
    for (group, blast) in ordered {
        let count = blast.changes.len();
        let _ = write!(
            out,
            "  {}: {count} change{}",
            group.unwrap_or("(shared)"),
            if count == 1 { "" } else { "s" }
        );
        let effects: Vec<String> = blast
            .effects
            .iter()
            .map(|(effect, list)| {
                let names: Vec<&str> = list.iter().map(|c| shown_name(c)).collect();
                format!("{} ({})", effect.words(), names.join(", "))
            })
            .collect();
        if effects.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, " — {}", effects.join(", "));
        }
    }
    out
}

/// The blast radius for machines: one entry per group (`null`: shared), with its changed
/// addresses and each effect with the change that has it.
fn blast_radius_json(plan: &Plan) -> Vec<Json> {
    let all: Vec<&Change> = plan.changes.iter().map(|c| &**c).collect();
    blast_radius(&all)
        .into_iter()
        .map(|(group, blast)| {
            let effects: Vec<Json> = blast
                .effects
                .iter()
                .flat_map(|(effect, list)| {
                    list.iter().map(move |c| {
                        json!({ "effect": effect, "address": c.address, "name": shown_name(c) })
                    })
                })
                .collect();
            json!({
                "group": group,
                "changes": blast.changes.iter().map(|c| c.address.clone()).collect::<Vec<_>>(),
                "effects": effects,
            })
        })
        .collect()
}

fn counts(changes: &[&Change]) -> String {
    let count = |action: Action| changes.iter().filter(|c| c.action == action).count();
    let mut parts = vec![
        format!("{} to add", count(Action::Create)),
        format!("{} to change", count(Action::Update)),
    ];
    let replace = count(Action::Replace);
    if replace > 0 {
        parts.push(format!("{replace} to replace"));
    }
    parts.push(format!("{} to destroy", count(Action::Delete)));
    parts.join(", ")
}

fn diff_line(diff: &AttrDiff) -> String {
    let show = |value: &Option<Json>| match value {
        None => "null".to_owned(),
        Some(_) if diff.sensitive => "(sensitive)".to_owned(),
        Some(value) => value_text(value),
    };
    match (&diff.before, &diff.after) {
        (None, Some(_)) => format!("{} = {}", diff.path, show(&diff.after)),
        (Some(_), None) => format!("{} = {} -> null", diff.path, show(&diff.before)),
        _ => format!(
            "{} = {} -> {}",
            diff.path,
            show(&diff.before),
            show(&diff.after)
        ),
    }
}

/// One value as plan text: compact JSON, with markers described in words.
pub fn value_text(value: &Json) -> String {
    match value {
        Json::Object(map) if map.len() == 1 => {
            if let Some(path) = map.get("$secret").and_then(Json::as_str) {
                return format!("(secret {path:?})");
            }
            if map.contains_key("$unknown") {
                return "(known after apply)".to_owned();
            }
            if map.contains_key("$template") {
                return if resolve::is_unknown(value) {
                    "(known after apply)".to_owned()
                } else {
                    "(sensitive: built from a secret)".to_owned()
                };
            }
            compact(value)
        }
        _ => compact(value),
    }
}

fn compact(value: &Json) -> String {
    if resolve::is_unknown(value) || resolve::contains_secret(value) {
        let masked = mask(value, false);
        return serde_json::to_string(&masked).unwrap_or_default();
    }
    serde_json::to_string(value).unwrap_or_default()
}

/// Replaces markers (and everything when `sensitive`) with descriptive strings.
fn mask(value: &Json, sensitive: bool) -> Json {
    if sensitive {
        return Json::String("(sensitive)".to_owned());
    }
    match value {
        Json::Object(map) if map.len() == 1 && map.keys().any(|k| k.starts_with('$')) => {
            Json::String(value_text(value))
        }
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), mask(v, false)))
                .collect(),
        ),
        Json::Array(items) => Json::Array(items.iter().map(|v| mask(v, false)).collect()),
        other => other.clone(),
    }
}

/// The plan for machines: stable keys, sensitive values masked.
pub fn json(plan: &Plan) -> Json {
    let changes: Vec<Json> = plan
        .changes
        .iter()
        .map(|c| {
            let diffs: Vec<Json> = c
                .diffs
                .iter()
                .map(|d| {
                    json!({
                        "path": d.path,
                        "before": d.before.as_ref().map(|v| mask(v, d.sensitive)),
                        "after": d.after.as_ref().map(|v| mask(v, d.sensitive)),
                        "forces_replacement": d.forces_replace,
                    })
                })
                .collect();
            let mut change = json!({
                "address": c.address,
                "type": c.rtype,
                "provider": c.provider,
                "module": c.module,
                "action": c.action,
                "reasons": c.reasons,
                "diffs": diffs,
            });
            // Its wave, where the provider renders the apply order (GitOps sync waves).
            if let Some(order) = c.order {
                change["order"] = json!(order);
            }
            change
        })
        .collect();
    let drift = drift_json(plan);
    let all: Vec<&Change> = plan.changes.iter().map(|c| &**c).collect();
    let count = |action: Action| all.iter().filter(|c| c.action == action).count();
    json!({
        "format_version": plan.format,
        "config_hash": plan.config_hash,
        "lineage": plan.lineage,
        "serial": plan.serial,
        "destroy": plan.destroy,
        "changes": changes,
        "drift": drift,
        "moved": plan.moved.iter().map(|(f, t)| json!({"from": f, "to": t})).collect::<Vec<_>>(),
        "outputs": plan.outputs.iter().map(|(k, v)| (k.clone(), mask(v, false))).collect::<serde_json::Map<_, _>>(),
        "policies": plan.policies,
        "overrides": plan.overrides,
        "blast_radius": blast_radius_json(plan),
        "summary": {
            "add": count(Action::Create),
            "change": count(Action::Update),
            "replace": count(Action::Replace),
            "destroy": count(Action::Delete),
        },
    })
}
