//! State commands: `show`, `output`, `state list|show|rm|mv`, `refresh`, `import`,
//! `force-unlock`.

use super::audit::{self, Entry};
use super::errors::{CliError, CliResult};
use super::output::say;
use std::process::ExitCode;

use obp_engine::errors::{ApplyError, StateError};
use obp_engine::provider::ResourceRef;
use obp_engine::render;
use obp_engine::state::{JournalEntry, ResourceState, State};
use obp_lang::diagnostics::suggest;

use super::output::Color;
use super::stack::{Policies, Stack};
use super::StackArgs;

#[derive(clap::Subcommand, Clone)]
pub enum StateCommand {
    /// List every address in state
    List(ListArgs),
    /// Show one resource's recorded attributes
    Show(ShowStateArgs),
    /// Forget a resource (it is not destroyed)
    Rm(AddressArgs),
    /// Rename a resource in state
    Mv(MoveArgs),
}

/// `obp state list [PATH]`.
#[derive(clap::Args, Clone)]
pub struct ListArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Print the addresses as a JSON array
    #[arg(long)]
    pub json: bool,
}

/// `obp state show ADDRESS [PATH]`.
#[derive(clap::Args, Clone)]
pub struct ShowStateArgs {
    pub address: String,
    #[command(flatten)]
    pub stack: StackArgs,
    /// Print the resource as JSON (its type, provider, inputs and outputs)
    #[arg(long)]
    pub json: bool,
}

/// `obp state rm ADDRESS [PATH]`.
#[derive(clap::Args, Clone)]
pub struct AddressArgs {
    pub address: String,
    #[command(flatten)]
    pub stack: StackArgs,
}

/// `obp state mv FROM TO [PATH]`.
#[derive(clap::Args, Clone)]
pub struct MoveArgs {
    pub from: String,
    pub to: String,
    #[command(flatten)]
    pub stack: StackArgs,
}

/// An address as printed: `for each` keys may hold control characters, which are escaped.
fn render_text(address: &str) -> std::borrow::Cow<'_, str> {
    obp_lang::diagnostics::render::escape_controls(address)
}

fn missing(state: &State, address: &str) -> StateError {
    StateError::NoSuchAddress {
        address: address.to_owned(),
        suggestion: suggest::did_you_mean(address, state.resources.keys().map(String::as_str)),
    }
}

/// `obp show [PATH]`.
#[derive(clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Print the state as JSON
    #[arg(long)]
    pub json: bool,
}

/// `obp output [--name NAME] [PATH]`.
#[derive(clap::Args)]
pub struct OutputArgs {
    /// One output
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub stack: StackArgs,
    /// Print the outputs as JSON
    #[arg(long)]
    pub json: bool,
}

/// `obp import ADDRESS ID [PATH]`.
#[derive(clap::Args)]
pub struct ImportArgs {
    pub address: String,
    pub id: String,
    #[command(flatten)]
    pub stack: StackArgs,
}

/// `obp force-unlock ID [PATH]`.
#[derive(clap::Args)]
pub struct UnlockArgs {
    /// The lock id printed by the operation that found the state locked
    pub id: String,
    #[command(flatten)]
    pub stack: StackArgs,
}

pub async fn show(args: &ShowArgs, color: Color) -> CliResult<ExitCode> {
    let ShowArgs { stack: args, json } = args;
    let json = *json;
    let Ok(stack) = Stack::load(args, color, Policies::Skip) else {
        return Ok(ExitCode::FAILURE);
    };
    let Ok(state) = stack.state().await else {
        return Ok(ExitCode::FAILURE);
    };
    if json {
        say!("{}", serde_json::to_string_pretty(&state)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if state.resources.is_empty() {
        say!("The state is empty.")?;
    }
    for (address, resource) in &state.resources {
        print_resource(address, resource)?;
    }
    super::apply::print_outputs(&state.outputs)?;
    Ok(ExitCode::SUCCESS)
}

fn print_resource(address: &str, resource: &ResourceState) -> CliResult<()> {
    say!(
        "# {address} ({}, provider {})",
        resource.rtype,
        resource.provider
    )?;
    for (name, value) in resource.inputs.iter().chain(&resource.outputs) {
        say!("  {name} = {}", render::value_text(value))?;
    }
    if !resource.intact() {
        say!("  (warning: this entry does not match its hash; the state file was edited by hand)")?;
    }
    say!()
}

pub async fn output(args: &OutputArgs, color: Color) -> CliResult<ExitCode> {
    let OutputArgs {
        name,
        stack: args,
        json,
    } = args;
    let (name, json) = (name.as_deref(), *json);
    let Ok(stack) = Stack::load(args, color, Policies::Skip) else {
        return Ok(ExitCode::FAILURE);
    };
    let Ok(state) = stack.state().await else {
        return Ok(ExitCode::FAILURE);
    };
    match name {
        Some(name) => match state.outputs.get(name) {
            Some(value) if json => say!("{}", serde_json::to_string_pretty(value)?)?,
            Some(serde_json::Value::String(text)) => say!("{text}")?,
            Some(value) => say!("{}", render::value_text(value))?,
            None => {
                return Err(CliError::NoOutput {
                    name: name.to_owned(),
                    suggestion: suggest::did_you_mean(
                        name,
                        state.outputs.keys().map(String::as_str),
                    ),
                });
            }
        },
        None if json => say!("{}", serde_json::to_string_pretty(&state.outputs)?)?,
        None => {
            for (name, value) in &state.outputs {
                say!("{name} = {}", render::value_text(value))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn state(command: &StateCommand, color: Color) -> CliResult<ExitCode> {
    let args = match command {
        StateCommand::List(ListArgs { stack, .. })
        | StateCommand::Show(ShowStateArgs { stack, .. })
        | StateCommand::Rm(AddressArgs { stack, .. })
        | StateCommand::Mv(MoveArgs { stack, .. }) => stack,
    };
    let Ok(stack) = Stack::load(args, color, Policies::Skip) else {
        return Ok(ExitCode::FAILURE);
    };
    let Ok(_lock) = stack.lock("state").await else {
        return Ok(ExitCode::FAILURE);
    };
    let Ok(mut state) = stack.state().await else {
        return Ok(ExitCode::FAILURE);
    };
    match command {
        StateCommand::List(ListArgs { json: true, .. }) => {
            let addresses: Vec<&String> = state.resources.keys().collect();
            say!("{}", serde_json::to_string_pretty(&addresses)?)?;
        }
        StateCommand::List(_) => {
            for address in state.resources.keys() {
                say!("{}", render_text(address))?;
            }
        }
        StateCommand::Show(ShowStateArgs { address, json, .. }) => {
            match state.resources.get(address) {
                Some(resource) if *json => {
                    let shown = serde_json::json!({
                        "address": address,
                        "type": resource.rtype,
                        "provider": resource.provider,
                        "module": resource.module,
                        "inputs": resource.inputs,
                        "outputs": resource.outputs,
                        "intact": resource.intact(),
                    });
                    say!("{}", serde_json::to_string_pretty(&shown)?)?;
                }
                Some(resource) => print_resource(address, resource)?,
                None => {
                    stack.fail(missing(&state, address));
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        StateCommand::Rm(AddressArgs { address, .. }) => {
            let matched: Vec<String> = state
                .resources
                .keys()
                .filter(|a| obp_engine::address::matches(address, a))
                .cloned()
                .collect();
            if matched.is_empty() {
                stack.fail(missing(&state, address));
                return Ok(ExitCode::FAILURE);
            }
            for address in &matched {
                state.apply_entry(&JournalEntry::Remove {
                    address: address.clone(),
                });
                say!("Removed {address} from state (the object itself is untouched).")?;
            }
            if let Err(error) = stack.backend.write(&state).await {
                stack.fail(error);
                return Ok(ExitCode::FAILURE);
            }
            let entry = Entry::new(&stack, "state rm").detail(matched.join(", "));
            return Ok(audit::ending(entry, &stack, 0).await);
        }
        StateCommand::Mv(MoveArgs { from, to, .. }) => {
            if state.resources.contains_key(to) {
                stack.fail(StateError::AddressTaken {
                    address: to.clone(),
                });
                return Ok(ExitCode::FAILURE);
            }
            let Some(resource) = state.resources.get(from).cloned() else {
                stack.fail(missing(&state, from));
                return Ok(ExitCode::FAILURE);
            };
            state.apply_entry(&JournalEntry::Remove {
                address: from.clone(),
            });
            state.apply_entry(&JournalEntry::Put {
                address: to.clone(),
                resource,
            });
            if let Err(error) = stack.backend.write(&state).await {
                stack.fail(error);
                return Ok(ExitCode::FAILURE);
            }
            say!("Moved {from} to {to}.")?;
            let entry = Entry::new(&stack, "state mv").detail(format!("{from} to {to}"));
            return Ok(audit::ending(entry, &stack, 0).await);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads every resource again and records what is live (drift becomes the new state).
pub async fn refresh(args: &StackArgs, color: Color) -> CliResult<ExitCode> {
    let Ok(stack) = Stack::load(args, color, Policies::Skip) else {
        return Ok(ExitCode::FAILURE);
    };
    let Ok(_lock) = stack.lock("refresh").await else {
        return Ok(ExitCode::FAILURE);
    };
    let Ok(mut state) = stack.state().await else {
        return Ok(ExitCode::FAILURE);
    };
    let addresses: Vec<String> = state.resources.keys().cloned().collect();
    let mut changed = 0;
    let mut failures = Vec::new();
    for address in addresses {
        let resource = state.resources[&address].clone();
        let Some(provider) = stack.providers.get(&resource.provider) else {
            continue;
        };
        let reference = ResourceRef {
            order: None,
            address: &address,
            rtype: &resource.rtype,
        };
        match provider.read(&reference, &resource.recorded()).await {
            Ok(Some(live)) if live != resource.recorded() => {
                say!("{address}: changed outside obp; recorded what is live")?;
                let entry = ResourceState::new(
                    &resource.rtype,
                    &resource.provider,
                    &resource.module,
                    live,
                    resource.deps.clone(),
                )
                .with_order(resource.order);
                state.apply_entry(&JournalEntry::Put {
                    address: address.clone(),
                    resource: entry,
                });
                changed += 1;
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                say!("{address}: no longer exists; removed from state")?;
                state.apply_entry(&JournalEntry::Remove {
                    address: address.clone(),
                });
                changed += 1;
            }
            Err(error) => failures.push(ApplyError::ReadFailed {
                address: address.clone(),
                provider: resource.provider.clone(),
                message: error.to_string(),
                others: 0,
            }),
        }
    }
    // What could be read is recorded even when something could not.
    if changed > 0 {
        if let Err(error) = stack.backend.write(&state).await {
            stack.fail(error);
            return Ok(ExitCode::FAILURE);
        }
    }
    if !failures.is_empty() {
        let count = failures.len();
        stack.report(&obp_engine::plan::read_failures(failures));
        say!(
            "Refresh incomplete: {changed} resource(s) updated in state; {count} could not be read and keep what state recorded."
        )?;
        let entry = Entry::new(&stack, "refresh")
            .detail(format!("{changed} updated, {count} could not be read"));
        audit::ending(entry, &stack, 1).await;
        return Ok(ExitCode::FAILURE);
    }
    say!("Refresh complete: {changed} resource(s) updated in state.")?;
    let entry = Entry::new(&stack, "refresh").detail(format!("{changed} updated"));
    Ok(audit::ending(entry, &stack, 0).await)
}

/// Adopts an existing object into state at a declared address.
pub async fn import(args: &ImportArgs, color: Color) -> CliResult<ExitCode> {
    let ImportArgs {
        address,
        id,
        stack: args,
    } = args;
    let (address, id) = (address.as_str(), id.as_str());
    let Ok(stack) = Stack::load(args, color, Policies::Skip) else {
        return Ok(ExitCode::FAILURE);
    };
    let Ok(_lock) = stack.lock("import").await else {
        return Ok(ExitCode::FAILURE);
    };
    let Ok(mut state) = stack.state().await else {
        return Ok(ExitCode::FAILURE);
    };
    let Some(resource) = stack.config.resource(address) else {
        return Err(CliError::NotDeclared {
            address: address.to_owned(),
            suggestion: suggest::did_you_mean(
                address,
                stack.config.resources.iter().map(|r| r.address.as_str()),
            ),
        });
    };
    if state.resources.contains_key(address) {
        stack.fail(StateError::AddressTaken {
            address: address.to_owned(),
        });
        return Ok(ExitCode::FAILURE);
    }
    let Some((name, provider)) = stack
        .providers
        .for_resource(&resource.provider, &resource.rtype)
    else {
        stack.fail(ApplyError::NoProvider {
            rtype: resource.rtype.clone(),
            span: resource.span,
            suggestion: None,
        });
        return Ok(ExitCode::FAILURE);
    };
    let reference = ResourceRef {
        order: None,
        address,
        rtype: &resource.rtype,
    };
    let recorded = provider
        .import(&reference, id)
        .await
        .map_err(|e| CliError::ImportFailed {
            address: address.to_owned(),
            id: id.to_owned(),
            message: e.to_string(),
        })?;
    let deps = resource.deps.iter().map(|d| d.address.clone()).collect();
    let entry = ResourceState::new(&resource.rtype, name, &resource.module, recorded, deps);
    state.apply_entry(&JournalEntry::Put {
        address: address.to_owned(),
        resource: entry,
    });
    if let Err(error) = stack.backend.write(&state).await {
        stack.fail(error);
        return Ok(ExitCode::FAILURE);
    }
    say!(
        "Imported {id} as {address}. Run `obp plan` to see how it differs from the configuration."
    )?;
    let entry = Entry::new(&stack, "import").detail(format!("{address} from {id}"));
    Ok(audit::ending(entry, &stack, 0).await)
}

pub async fn force_unlock(args: &UnlockArgs, color: Color) -> CliResult<ExitCode> {
    let UnlockArgs { id, stack: args } = args;
    let Ok(stack) = Stack::load(args, color, Policies::Skip) else {
        return Ok(ExitCode::FAILURE);
    };
    match stack.backend.force_unlock(id).await {
        Ok(held) => {
            say!(
                "Removed the lock held by {} ({} since {}).",
                held.who,
                held.operation,
                held.created
            )?;
            let entry = Entry::new(&stack, "force-unlock").detail(format!(
                "lock {} of {} ({} since {})",
                held.id, held.who, held.operation, held.created
            ));
            Ok(audit::ending(entry, &stack, 0).await)
        }
        Err(error) => {
            stack.fail(error);
            Ok(ExitCode::FAILURE)
        }
    }
}
