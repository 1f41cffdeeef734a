//! `obp audit`: the stack's audit trail (who ran which command, when, against which plan, and
//! what became of each resource), `obp audit verify`, which checks its hash chain, and the
//! records every command that plans, changes or edits state appends as it ends ([`Entry`]).

use std::process::ExitCode;

use obp_engine::apply::ApplyReport;
use obp_engine::audit::{self, Outcome, Record};
use obp_engine::plan::{Action, Plan};

use super::errors::CliResult;
use super::output::{say, Color};
use super::stack::{Failed, Policies, Stack};
use super::StackArgs;

/// `obp audit [PATH]` and `obp audit verify [PATH]`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub verify: Option<Verify>,
    #[command(flatten)]
    pub list: ListArgs,
}

#[derive(clap::Subcommand)]
pub enum Verify {
    /// Check that no record was edited, removed or inserted (exit 1 with E0619 if one was)
    Verify(StackArgs),
}

#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Only records from this time on (RFC 3339 or a date: 2026-12-01)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only records of commands that touched this tenant
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// Print the records as JSON lines
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: &Args, color: Color) -> CliResult<ExitCode> {
    match &args.verify {
        Some(Verify::Verify(stack)) => verify(stack, color).await,
        None => list(&args.list, color).await,
    }
}

/// The stack and its audit trail; `None` when either cannot be read (the error was said).
async fn trail(args: &StackArgs, color: Color) -> Option<(Stack, Vec<Record>)> {
    let stack = Stack::load(args, color, Policies::Skip).ok()?;
    match stack.backend.audit_trail().await {
        Ok(records) => Some((stack, records)),
        Err(error) => {
            stack.fail(error);
            None
        }
    }
}

async fn list(args: &ListArgs, color: Color) -> CliResult<ExitCode> {
    let Some((_, records)) = trail(&args.stack, color).await else {
        return Ok(ExitCode::FAILURE);
    };
    // RFC 3339 UTC times compare as text; a bare date is its first instant.
    let since = args.since.as_deref().unwrap_or("");
    for record in records.iter().filter(|r| {
        r.time.as_str() >= since
            && args
                .tenant
                .as_ref()
                .is_none_or(|t| r.tenants.iter().any(|x| x == t))
    }) {
        if args.json {
            say!("{}", serde_json::to_string(record)?)?;
        } else {
            say!("{}", line(record))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One record as one line: when, who, what, the outcome.
fn line(record: &Record) -> String {
    let failed = record
        .results
        .iter()
        .filter(|o| o.result != "done" && o.result != "planned")
        .count();
    let mut text = format!(
        "{}  {}@{}  {}  exit {}",
        record.time, record.user, record.host, record.command, record.exit
    );
    if let Some(environment) = &record.environment {
        text.push_str(&format!("  env {environment}"));
    }
    if !record.results.is_empty() {
        text.push_str(&format!(
            "  {} change{}",
            record.results.len(),
            if record.results.len() == 1 { "" } else { "s" }
        ));
        if failed > 0 {
            text.push_str(&format!(" ({failed} not done)"));
        }
    }
    if !record.tenants.is_empty() {
        text.push_str(&format!("  tenants {}", record.tenants.join(",")));
    }
    if !record.overrides.is_empty() {
        text.push_str(&format!("  overrides {}", record.overrides.join(",")));
    }
    if let Some(plan) = &record.plan {
        text.push_str(&format!("  plan {}", &plan[..plan.len().min(12)]));
    }
    if let Some(detail) = &record.detail {
        text.push_str(&format!("  ({detail})"));
    }
    obp_lang::diagnostics::render::escape_controls(&text).into_owned()
}

async fn verify(args: &StackArgs, color: Color) -> CliResult<ExitCode> {
    let Some((stack, records)) = trail(args, color).await else {
        return Ok(ExitCode::FAILURE);
    };
    match audit::verify(&records) {
        Ok(count) => {
            let head = records.last().map_or(audit::GENESIS, |r| r.hash.as_str());
            say!("The audit trail holds: {count} records, head {head}.")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            stack.fail(obp_engine::errors::StateError::AuditBroken {
                location: stack.backend.describe(),
                position: broken.position,
                why: broken.why,
            });
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The record a command appends as it ends.
pub struct Entry(Record);

impl Entry {
    /// A record of `command` on a loaded stack (its name and environment).
    pub fn new(stack: &Stack, command: &str) -> Entry {
        let info = stack.config.stack.as_ref();
        let mut record = Record::new(command, info.map_or("", |s| s.name.as_str()));
        record.environment = stack.environment.clone();
        Entry(record)
    }

    /// The plan the command made or applied: its hash, overrides, tenants and changes.
    pub fn plan(mut self, plan: &Plan) -> Entry {
        self.0.plan = Some(audit::plan_hash(plan));
        self.0.overrides = plan.overrides.clone();
        let mut tenants: Vec<String> = plan
            .changes
            .iter()
            .filter(|c| c.action != Action::NoOp)
            .filter_map(|c| c.impact.group.clone())
            .collect();
        tenants.sort();
        tenants.dedup();
        self.0.tenants = tenants;
        self.0.results = plan
            .changes
            .iter()
            .filter(|c| c.action != Action::NoOp)
            .map(|c| outcome(&c.address, c.action, "planned"))
            .collect();
        self
    }

    /// What the walk did with each planned change.
    pub fn report(mut self, report: &ApplyReport) -> Entry {
        let result_of = |address: &str| -> &'static str {
            let listed = |list: &[String]| list.iter().any(|a| a == address);
            if report.succeeded.iter().any(|(a, _)| a == address) {
                if listed(&report.unrecorded) {
                    "not recorded"
                } else {
                    "done"
                }
            } else if report.failed.iter().any(|(a, _)| a == address) {
                "failed"
            } else if report.skipped.iter().any(|(a, _)| a == address) {
                "skipped"
            } else if listed(&report.interrupted) {
                "interrupted"
            } else {
                "not started"
            }
        };
        for outcome in &mut self.0.results {
            outcome.result = result_of(&outcome.address).to_owned();
        }
        self
    }

    pub fn detail(mut self, detail: String) -> Entry {
        self.0.detail = Some(detail);
        self
    }

    /// Appends the record with the command's exit code; a record that cannot be written is
    /// reported (the command's work stands, but it failed: the trail lacks it).
    pub async fn write(mut self, stack: &Stack, exit: u8) -> Result<(), Failed> {
        self.0.exit = i32::from(exit);
        match stack.backend.audit(self.0).await {
            Ok(_) => Ok(()),
            Err(error) => Err(stack.fail(error)),
        }
    }
}

fn outcome(address: &str, action: Action, result: &str) -> Outcome {
    Outcome {
        address: address.to_owned(),
        action: action.name().to_owned(),
        result: result.to_owned(),
    }
}

/// `code`, or failure when the record could not be written.
pub async fn ending(entry: Entry, stack: &Stack, code: u8) -> ExitCode {
    match entry.write(stack, code).await {
        Ok(()) => ExitCode::from(code),
        Err(Failed) => ExitCode::FAILURE,
    }
}
