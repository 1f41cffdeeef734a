//! `obp apply` and `obp destroy`: plan (or load a saved plan), confirm, walk, report.

use super::audit;
use super::errors::{CliError, CliResult};
use super::output::{say, say_raw};
use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use obp_engine::apply::{apply, ApplyOptions, Progress};
use obp_engine::errors::ApplyError;
use obp_engine::plan::{Action, Change, Plan};
use obp_engine::{render, saved};
use obp_lang::diagnostics::IntoDiagnostic;
use serde_json::json;

use super::output::Color;
use super::plan::{make, PlanArgs};
use super::stack::{Failed, Policies, Stack};
use super::StackArgs;

/// `obp apply [PATH|FILE]` and `obp destroy [PATH]`: the same options.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Do not ask for confirmation
    #[arg(long = "auto-approve")]
    pub auto_approve: bool,
    /// Changes applied at the same time
    #[arg(long, default_value_t = 10)]
    pub parallelism: usize,
    /// Print events as JSON, one object per line (the plan, each change started, finished,
    /// failed or skipped, and the outcome), instead of text; needs --auto-approve or a saved plan
    #[arg(long)]
    pub json: bool,
}

/// How to walk the plan: from the command line, or fixed for a saved plan.
struct Flags {
    auto_approve: bool,
    parallelism: usize,
    destroy: bool,
    json: bool,
}

/// Prints one line per step; safe from several tasks. On a terminal a progress bar counts
/// the finished changes below the lines.
struct Lines {
    bar: Option<indicatif::ProgressBar>,
}

impl Lines {
    fn new(total: usize) -> Lines {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} changes, {elapsed}")
            {
                bar.set_style(style);
            }
            bar
        });
        Lines { bar }
    }

    /// One progress line; addresses hold `for each` keys, so control characters are escaped.
    fn line(&self, text: String) {
        let text = obp_lang::diagnostics::render::escape_controls(&text).into_owned();
        match &self.bar {
            Some(bar) => bar.println(text),
            // A failed write of a progress line is not worth stopping an apply for.
            None => {
                let _ = say!("{text}");
            }
        }
    }

    fn tick(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Lines {
    fn started(&self, change: &Change) {
        self.line(format!("{}: {}…", change.address, doing(change.action)));
    }
    fn finished(&self, change: &Change, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        self.line(format!(
            "{}: {} after {seconds:.1}s",
            change.address,
            done(change.action)
        ));
        self.tick();
    }
    fn failed(&self, change: &Change, _error: &ApplyError) {
        self.line(format!("{}: failed", change.address));
        self.tick();
    }
    fn skipped(&self, change: &Change, because: &str) {
        self.line(format!(
            "{}: skipped, it waits for {because}",
            change.address
        ));
        self.tick();
    }
    fn halted(&self, reason: &str, running: usize) {
        self.line(format!(
            "Stopping ({reason}): starting no new changes; {running} running change{} may finish.",
            if running == 1 { "" } else { "s" }
        ));
    }
}

/// Progress as JSON events, one object per line on stdout (`apply --json`).
struct Events;

impl Progress for Events {
    fn started(&self, change: &Change) {
        let _ = event(
            json!({"type": "started", "address": change.address, "action": change.action.name()}),
        );
    }
    fn finished(&self, change: &Change, elapsed: Duration) {
        let _ = event(json!({
            "type": "finished",
            "address": change.address,
            "action": change.action.name(),
            "seconds": (elapsed.as_secs_f64() * 10.0).round() / 10.0,
        }));
    }
    fn failed(&self, change: &Change, error: &ApplyError) {
        let _ = event(json!({
            "type": "failed",
            "address": change.address,
            "action": change.action.name(),
            "error": error.to_string(),
        }));
    }
    fn skipped(&self, change: &Change, because: &str) {
        let _ = event(json!({"type": "skipped", "address": change.address, "waits_for": because}));
    }
    fn halted(&self, reason: &str, running: usize) {
        let _ = event(json!({"type": "halted", "reason": reason, "running": running}));
    }
}

/// One JSON event on a line of its own.
fn event(value: serde_json::Value) -> CliResult<()> {
    say!("{}", serde_json::to_string(&value)?)
}

/// The plan about to be applied: as text, or as the first JSON event.
fn show_plan(made: &Plan, flags: &Flags, color: Color) -> CliResult<()> {
    if flags.json {
        event(json!({"type": "plan", "plan": render::json(made)}))
    } else {
        say_raw!("{}", render::human(made, matches!(color, Color::Always)))
    }
}

/// Addresses listed in a report before the rest are only counted.
const LISTED: usize = 50;

/// Prints one labelled line per address, the first [`LISTED`] of them.
fn list(label: &str, addresses: &[String], why: &str) -> CliResult<()> {
    for address in addresses.iter().take(LISTED) {
        say!("  {label} {address}{why}")?;
    }
    if addresses.len() > LISTED {
        say!(
            "  … and {} more {}",
            addresses.len() - LISTED,
            label.trim_end_matches(':')
        )?;
    }
    Ok(())
}

fn doing(action: Action) -> &'static str {
    match action {
        Action::Create => "creating",
        Action::Update => "updating",
        Action::Replace => "replacing",
        Action::Delete => "destroying",
        Action::NoOp => "checking",
    }
}

fn done(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Delete => "destroyed",
        Action::NoOp => "unchanged",
    }
}

/// Applies (`destroy`: destroys) the stack, or applies a saved plan.
pub async fn run(command: &Args, destroy: bool, color: Color) -> CliResult<ExitCode> {
    let (args, plan_args) = (&command.stack, &command.plan);
    let flags = Flags {
        auto_approve: command.auto_approve,
        parallelism: command.parallelism,
        destroy,
        json: command.json,
    };
    // `obp apply FILE` applies a saved plan.
    if let Some(path) = &args.path {
        if path.is_file() && path.extension().is_none_or(|e| e != "obp") {
            return run_saved(path, flags, color).await;
        }
    }
    let policies = Policies::unless_destroying(flags.destroy);
    let Ok(stack) = Stack::load(args, color, policies) else {
        return Ok(ExitCode::FAILURE);
    };
    let Ok(lock) = stack
        .lock(if flags.destroy { "destroy" } else { "apply" })
        .await
    else {
        return Ok(ExitCode::FAILURE);
    };
    let Ok(made) = make(&stack, args, plan_args, flags.destroy).await else {
        let entry = audit::Entry::new(&stack, command_name(flags.destroy))
            .detail("planning failed".to_owned());
        audit::ending(entry, &stack, 1).await;
        return Ok(ExitCode::FAILURE);
    };
    show_plan(&made, &flags, color)?;
    if !made.has_changes() {
        if made.drift.is_empty() {
            // A run killed after its last change but before its final write left journal
            // entries: nothing changes now, but state folds them in.
            if let Err(Failed) = fold_journal(&stack).await {
                return Ok(ExitCode::FAILURE);
            }
            let entry = audit::Entry::new(&stack, command_name(flags.destroy)).plan(&made);
            let code = audit::ending(entry, &stack, 0).await;
            if flags.json {
                event(json!({"type": "done", "ok": code == ExitCode::SUCCESS, "changes": 0}))?;
            }
            return Ok(code);
        }
        // Live already matches the configuration, but not state (an apply killed after its
        // write, or a hand change to exactly the configured value): record what is live, so
        // that drift does not report obp's own writes. Nothing outside state changes.
        return execute(&stack, &made, &flags, &lock.info().id).await;
    }
    if !flags.auto_approve && (flags.json || !confirm(flags.destroy).await?) {
        if flags.json {
            let entry = audit::Entry::new(&stack, command_name(flags.destroy))
                .plan(&made)
                .detail("refused: --json needs --auto-approve or a saved plan".to_owned());
            audit::ending(entry, &stack, 1).await;
            return Err(CliError::NeedsConfirmation {
                operation: command_name(flags.destroy),
            });
        }
        say!("Apply cancelled.")?;
        let entry = audit::Entry::new(&stack, command_name(flags.destroy))
            .plan(&made)
            .detail("cancelled at the confirmation".to_owned());
        audit::ending(entry, &stack, 1).await;
        return Ok(ExitCode::FAILURE);
    }
    execute(&stack, &made, &flags, &lock.info().id).await
}

async fn run_saved(path: &Path, flags: Flags, color: Color) -> CliResult<ExitCode> {
    let made = match saved::read(path) {
        Ok(plan) => plan,
        Err(error) => {
            super::output::diagnostics(
                &[error.into_diagnostic()],
                &obp_lang::SourceMap::new(),
                color,
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let stack_args = StackArgs {
        path: Some(made.stack.clone().into()),
        vars: made.vars.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        var_files: Vec::new(),
        overrides: made.overrides.clone(),
    };
    let policies = Policies::unless_destroying(made.destroy);
    let Ok(stack) = Stack::load(&stack_args, color, policies) else {
        return Ok(ExitCode::FAILURE);
    };
    let Ok(lock) = stack.lock("apply").await else {
        return Ok(ExitCode::FAILURE);
    };
    let Ok(state) = stack.state().await else {
        return Ok(ExitCode::FAILURE);
    };
    if let Err(error) = saved::check_fresh(&made, &stack.config.hash(), &state) {
        stack.fail(error);
        return Ok(ExitCode::FAILURE);
    }
    show_plan(&made, &flags, color)?;
    // A saved plan was reviewed when it was made: no second confirmation.
    execute(
        &stack,
        &made,
        &Flags {
            auto_approve: true,
            ..flags
        },
        &lock.info().id,
    )
    .await
}

/// Asks for `yes`; the answer is read off the async runtime so that a Ctrl-C at the prompt
/// still ends the command (and releases the lock).
async fn confirm(destroy: bool) -> CliResult<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::NeedsConfirmation {
            operation: if destroy { "destroy" } else { "apply" },
        });
    }
    let what = if destroy {
        "destroy these resources"
    } else {
        "perform these actions"
    };
    say_raw!("\nDo you want to {what}? Only 'yes' will be accepted: ")?;
    let answer = tokio::task::spawn_blocking(|| {
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map(|_| answer)
    })
    .await
    .map_err(|e| CliError::io("read the answer", std::io::Error::other(e)))?
    .map_err(|e| CliError::io("read the answer", e))?;
    Ok(answer.trim() == "yes")
}

async fn execute(stack: &Stack, made: &Plan, flags: &Flags, lock_id: &str) -> CliResult<ExitCode> {
    let Ok(state) = stack.state().await else {
        return Ok(ExitCode::FAILURE);
    };
    if !flags.json {
        say!()?;
    }
    let options = ApplyOptions {
        parallelism: flags.parallelism,
        ..ApplyOptions::default()
    };
    // From here on a first Ctrl-C (or SIGTERM) stops the walk cleanly instead of abandoning
    // the command.
    let _walking = super::interrupt::walking(options.stop.clone(), lock_id);
    let total = made
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .count();
    let lines = Arc::new(Lines::new(if flags.json { 0 } else { total }));
    let progress: Arc<dyn Progress> = if flags.json {
        Arc::new(Events)
    } else {
        lines.clone()
    };
    let report = apply(
        made,
        state,
        &stack.providers,
        stack.backend.clone(),
        &options,
        progress,
    )
    .await;
    lines.done();
    let mut diagnostics: Vec<_> = report
        .failed
        .iter()
        .map(|(_, e)| e.clone().into_diagnostic())
        .collect();
    if let Some(error) = &report.state_error {
        diagnostics.push(error.clone().into_diagnostic());
    }
    let count = |action: Action| {
        report
            .succeeded
            .iter()
            .filter(|(_, a)| *a == action)
            .count()
    };
    let summary = format!(
        "{} added, {} changed, {} replaced, {} destroyed",
        count(Action::Create),
        count(Action::Update),
        count(Action::Replace),
        count(Action::Delete)
    );
    // Providers that took part get to finish (the GitOps provider commits here).
    let used: std::collections::BTreeSet<&str> =
        made.changes.iter().map(|c| c.provider.as_str()).collect();
    for name in used {
        if let Some(provider) = stack.providers.get(name) {
            if let Err(error) = provider.finish(&format!("obp apply: {summary}")).await {
                diagnostics.push(
                    ApplyError::ProviderConfig {
                        name: name.to_owned(),
                        message: error.to_string(),
                        span: None,
                    }
                    .into_diagnostic(),
                );
            }
        }
    }
    stack.report(&diagnostics);
    let entry = audit::Entry::new(stack, command_name(flags.destroy))
        .plan(made)
        .report(&report);
    if flags.json {
        let ok = report.ok() && diagnostics.is_empty();
        let wanted = if ok {
            0
        } else {
            super::interrupt::exit_status(&options.stop)
        };
        let code = audit::ending(entry, stack, wanted).await;
        event(json!({
            "type": "done",
            "ok": ok && code == ExitCode::SUCCESS,
            "added": count(Action::Create),
            "changed": count(Action::Update),
            "replaced": count(Action::Replace),
            "destroyed": count(Action::Delete),
            "failed": report.failed.iter().map(|(a, _)| a).collect::<Vec<_>>(),
            "skipped": report.skipped.iter().map(|(a, _)| a).collect::<Vec<_>>(),
            "not_started": report.not_started,
            "interrupted": report.interrupted,
            "not_recorded": report.unrecorded,
            "halted": report.halted,
            "outputs": report.state.outputs,
        }))?;
        return Ok(code);
    }
    if report.ok() && diagnostics.is_empty() {
        say!("\nApply complete: {summary}.")?;
        print_outputs(&report.state.outputs)?;
        Ok(audit::ending(entry, stack, 0).await)
    } else {
        let code = super::interrupt::exit_status(&options.stop);
        if audit::ending(entry, stack, code).await != ExitCode::from(code) {
            say!("The audit trail lacks this apply (see the error above).")?;
        }
        match &report.halted {
            Some(reason) => say!(
                "\nApply stopped ({reason}): {summary}; {} failed, {} skipped, {} not started.",
                report.failed.len(),
                report.skipped.len(),
                report.not_started.len()
            )?,
            None => say!(
                "\nApply incomplete: {summary}; {} failed, {} skipped.",
                report.failed.len(),
                report.skipped.len()
            )?,
        }
        for (address, error) in &report.failed {
            say!("  failed:  {address}: {error}")?;
        }
        for (address, because) in &report.skipped {
            say!("  skipped: {address} (waits for {because})")?;
        }
        list(
            "not recorded:",
            &report.unrecorded,
            " (done, but state could not record it)",
        )?;
        list(
            "interrupted:",
            &report.interrupted,
            " (abandoned while running; the next plan reads what is live)",
        )?;
        list("not started:", &report.not_started, "")?;
        if report.state_error.is_some() {
            say!("Everything recorded before the state error is in state; fix the cause and run apply again: its plan reads what is live.")?;
        } else {
            say!("Everything that succeeded is recorded in state; fix the cause and run apply again.")?;
        }
        Ok(ExitCode::from(code))
    }
}

/// Writes state when journal entries wait to be folded into it (the caller holds the lock).
async fn fold_journal(stack: &Stack) -> Result<(), Failed> {
    match stack.backend.has_journal().await {
        Ok(false) => Ok(()),
        Ok(true) => {
            let state = stack.state().await?;
            stack.backend.write(&state).await.map_err(|e| stack.fail(e))
        }
        Err(error) => Err(stack.fail(error)),
    }
}

/// The command a plan's walk records itself under.
fn command_name(destroy: bool) -> &'static str {
    if destroy {
        "destroy"
    } else {
        "apply"
    }
}

pub fn print_outputs(
    outputs: &std::collections::BTreeMap<String, serde_json::Value>,
) -> CliResult<()> {
    if outputs.is_empty() {
        return Ok(());
    }
    say!("\nOutputs:")?;
    for (name, value) in outputs {
        say!("  {name} = {}", render::value_text(value))?;
    }
    Ok(())
}
