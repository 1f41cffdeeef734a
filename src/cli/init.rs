//! `obp init DIR [--template NAME]`: a new stack from one of the examples (its `stack.obp`
//! and README, built into the binary), in a directory that is new or empty, so that nothing
//! a user has is ever overwritten.

use std::path::PathBuf;
use std::process::ExitCode;

use super::errors::{CliError, CliResult};
use super::output::say;

/// The templates: the examples of the repository, as they are when obp is built.
const TEMPLATES: &[(&str, &str, &str)] = &[
    (
        "quickstart",
        include_str!("../../examples/quickstart/stack.obp"),
        include_str!("../../examples/quickstart/README.md"),
    ),
    (
        "dedicated",
        include_str!("../../examples/dedicated/stack.obp"),
        include_str!("../../examples/dedicated/README.md"),
    ),
    (
        "saas",
        include_str!("../../examples/saas/stack.obp"),
        include_str!("../../examples/saas/README.md"),
    ),
    (
        "hybrid",
        include_str!("../../examples/hybrid/stack.obp"),
        include_str!("../../examples/hybrid/README.md"),
    ),
    (
        "multi-env",
        include_str!("../../examples/multi-env/stack.obp"),
        include_str!("../../examples/multi-env/README.md"),
    ),
];

/// `obp init`.
#[derive(clap::Args)]
pub struct Args {
    /// The new stack's directory (created if missing; it must be empty)
    pub dir: PathBuf,
    /// quickstart (GitOps only, no servers), dedicated, saas, hybrid or multi-env
    #[arg(long, default_value = "quickstart")]
    pub template: String,
}

pub fn run(args: &Args) -> CliResult<ExitCode> {
    let Some((name, stack, readme)) = TEMPLATES.iter().find(|(n, ..)| *n == args.template) else {
        return Err(CliError::Init {
            dir: args.dir.display().to_string(),
            reason: format!(
                "there is no template `{}` (there are {})",
                args.template,
                TEMPLATES
                    .iter()
                    .map(|(n, ..)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    };
    let refuse = |reason: String| CliError::Init {
        dir: args.dir.display().to_string(),
        reason,
    };
    match std::fs::read_dir(&args.dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(refuse(
                    "it is not empty, and init never overwrites".to_owned(),
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&args.dir)
                .map_err(|e| CliError::io("create the directory", e))?;
        }
        Err(e) => return Err(refuse(e.to_string())),
    }
    std::fs::write(args.dir.join("stack.obp"), stack)
        .map_err(|e| CliError::io("write stack.obp", e))?;
    std::fs::write(args.dir.join("README.md"), readme)
        .map_err(|e| CliError::io("write README.md", e))?;
    let dir = args.dir.display();
    say!("Created a `{name}` stack in {dir}: stack.obp and its README.")?;
    say!("Next: `obp validate {dir}`, then `obp plan {dir}` (replace the example image digests with yours first).")?;
    Ok(ExitCode::SUCCESS)
}
