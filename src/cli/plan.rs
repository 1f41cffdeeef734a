//! `obp plan`: what apply would do; `-out FILE` saves it for `obp apply FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use obp_engine::plan::{plan, Plan, PlanOptions};
use obp_engine::{render, saved};

use super::audit;
use super::errors::CliResult;
use super::output::{say, say_raw, Color};
use super::stack::{Failed, Policies, Stack};
use super::StackArgs;

/// Options shared by plan, apply and destroy.
#[derive(clap::Args, Clone, Default)]
pub struct PlanArgs {
    /// Only this address (prefix) and what it depends on; repeatable
    #[arg(long = "target", value_name = "ADDRESS")]
    pub targets: Vec<String>,
    /// Leave this address (prefix) alone; repeatable
    #[arg(long = "exclude", value_name = "ADDRESS")]
    pub excludes: Vec<String>,
    /// Read live objects before planning (false: plan from state alone)
    #[arg(long = "refresh", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,
}

impl PlanArgs {
    pub fn options(&self, destroy: bool) -> PlanOptions {
        PlanOptions {
            targets: self.targets.clone(),
            excludes: self.excludes.clone(),
            destroy,
            refresh: self.refresh,
        }
    }
}

/// Plans a loaded stack (the caller holds the lock).
pub async fn make(
    stack: &Stack,
    args: &StackArgs,
    plan_args: &PlanArgs,
    destroy: bool,
) -> Result<Plan, Failed> {
    stack.acyclic()?;
    let state = stack.state().await?;
    let mut made = plan(
        &stack.config,
        state,
        &stack.providers,
        &plan_args.options(destroy),
    )
    .await
    .map_err(|diagnostics| {
        stack.report(&diagnostics);
        Failed
    })?;
    made.stack = args.path().display().to_string();
    if !destroy {
        made.overrides = args.overrides.clone();
    }
    made.vars = args
        .options()
        .map(|o| obp_engine::codec::to_json_map(&o.eval.vars))
        .unwrap_or_default();
    Ok(made)
}

/// `obp plan [PATH]`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Save the plan to FILE for `obp apply FILE`
    #[arg(long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the plan as JSON
    #[arg(long)]
    pub json: bool,
    /// Exit 0 when nothing changes, 2 when something would, 1 on errors
    #[arg(long = "detailed-exitcode")]
    pub detailed_exitcode: bool,
    /// Plan to destroy everything
    #[arg(long)]
    pub destroy: bool,
}

pub async fn run(flags: &Args, color: Color) -> CliResult<ExitCode> {
    let (args, plan_args) = (&flags.stack, &flags.plan);
    let policies = Policies::unless_destroying(flags.destroy);
    let Ok(stack) = Stack::load(args, color, policies) else {
        return Ok(ExitCode::FAILURE);
    };
    let Ok(_lock) = stack.lock("plan").await else {
        return Ok(ExitCode::FAILURE);
    };
    let command = if flags.destroy {
        "plan -destroy"
    } else {
        "plan"
    };
    let Ok(made) = make(&stack, args, plan_args, flags.destroy).await else {
        let entry = audit::Entry::new(&stack, command).detail("planning failed".to_owned());
        audit::ending(entry, &stack, 1).await;
        return Ok(ExitCode::FAILURE);
    };
    if flags.json {
        say!("{}", serde_json::to_string_pretty(&render::json(&made))?)?;
    } else {
        say_raw!("{}", render::human(&made, matches!(color, Color::Always)))?;
    }
    if let Some(out) = &flags.out {
        if let Err(error) = saved::write(out, &made) {
            stack.fail(error);
            return Ok(ExitCode::FAILURE);
        }
        if !flags.json {
            say!(
                "\nSaved the plan to {}. Apply exactly it with `obp apply {}`.",
                out.display(),
                out.display()
            )?;
        }
    }
    let code = if flags.detailed_exitcode && made.has_changes() {
        2
    } else {
        0
    };
    let command = if flags.destroy {
        "plan -destroy"
    } else {
        "plan"
    };
    Ok(audit::ending(audit::Entry::new(&stack, command).plan(&made), &stack, code).await)
}
