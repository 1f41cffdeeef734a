//! Saved plans (`obp plan -out FILE`): the plan plus what it was made from, so `obp apply FILE`
//! applies exactly it, or refuses when the configuration or state moved on.

use std::path::Path;

use crate::errors::StateError;
use crate::plan::Plan;
use crate::state::State;

/// Writes a plan file, as compact JSON: a plan holds every attribute of every change, so a
/// large stack makes a large plan (half the size of pretty JSON).
pub fn write(path: &Path, plan: &Plan) -> Result<(), StateError> {
    let text = serde_json::to_string(plan).map_err(|e| StateError::BadPlanFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    std::fs::write(path, text + "\n").map_err(|e| StateError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Reads a plan file.
pub fn read(path: &Path) -> Result<Plan, StateError> {
    let bad = |reason: String| StateError::BadPlanFile {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let plan: Plan = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if plan.format != crate::plan::PLAN_FORMAT {
        return Err(bad(format!("format {} is not supported", plan.format)));
    }
    Ok(plan)
}

/// Refuses a plan made for another configuration or state.
pub fn check_fresh(plan: &Plan, config_hash: &str, state: &State) -> Result<(), StateError> {
    if plan.config_hash != config_hash {
        return Err(StateError::StaleConfig {
            planned: plan.config_hash.clone(),
            current: config_hash.to_owned(),
        });
    }
    if plan.lineage != state.lineage || plan.serial != state.serial {
        return Err(StateError::StaleState {
            planned_serial: plan.serial,
            current_serial: state.serial,
            lineage_changed: plan.lineage != state.lineage,
        });
    }
    Ok(())
}
