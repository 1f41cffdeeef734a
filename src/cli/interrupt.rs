//! Ctrl-C (SIGINT) and SIGTERM. A signal is never a crash:
//!
//! - outside an apply walk (planning, the confirmation prompt, plan, drift, refresh …) the
//!   first signal abandons the command — nothing was changed yet — which releases the state
//!   lock, and obp exits with 130 (SIGINT) or 143 (SIGTERM);
//! - during an apply or destroy walk the first signal asks the walker to start nothing new:
//!   running changes finish (within the walker's grace period), state is written, the lock is
//!   released and obp exits with that code; a second signal exits at once (everything
//!   completed so far is already durable in the state journal).

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;

use crate::cli::errors::{CliError, CliResult};
use obp_engine::apply::Stop;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// The walk in progress, if any: its stop request and the id of the lock it holds.
static WALK: Mutex<Option<(Stop, String)>> = Mutex::new(None);

/// Unregisters the walk when dropped.
pub struct Walking;

impl Drop for Walking {
    fn drop(&mut self) {
        *WALK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

/// Routes signals to `stop` until the returned guard is dropped.
pub fn walking(stop: Stop, lock_id: &str) -> Walking {
    *WALK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((stop, lock_id.to_owned()));
    Walking
}

/// The exit status of a walk that did not complete: 130 after SIGINT, 143 after SIGTERM,
/// else 1.
pub fn exit_status(stop: &Stop) -> u8 {
    match stop.reason() {
        Some(reason) if reason.contains("SIGTERM") => 143,
        Some(_) => 130,
        None => 1,
    }
}

struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The next signal's name and exit code.
    async fn next(&mut self) -> (&'static str, u8) {
        tokio::select! {
            _ = self.interrupt.recv() => ("SIGINT", 130),
            _ = self.terminate.recv() => ("SIGTERM", 143),
        }
    }
}

/// Runs a command, handling SIGINT and SIGTERM as the module documentation says. The command
/// runs as its own task, so that a signal is noticed even while it computes without yielding.
pub async fn guarded(
    command: impl Future<Output = CliResult<ExitCode>> + Send + 'static,
) -> CliResult<ExitCode> {
    let Ok(mut signals) = Signals::new() else {
        return command.await;
    };
    let mut task = tokio::spawn(command);
    loop {
        let (name, code) = tokio::select! {
            result = &mut task => {
                return result.unwrap_or_else(|e| Err(stopped(e)));
            }
            signal = signals.next() => signal,
        };
        let walk = WALK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match walk {
            Some((stop, _)) if stop.reason().is_none() => {
                super::output::note(&format!(
                    "\n{name}: starting no new changes; the running ones may finish, then state is written and the lock released. Send it again to exit at once."
                ));
                stop.request(format!("interrupted by {name}"));
            }
            Some((_, lock_id)) => {
                super::output::note(&format!(
                    "\n{name} again: exiting at once. Everything completed so far is in the state journal; changes still running were abandoned (the next plan reads what is live). If the state stays locked, run `obp force-unlock {lock_id}`."
                ));
                exit(code);
            }
            None => {
                // Nothing was changed yet: ending the command drops its lock guard (at its next
                // await; a command busy computing holds no lock yet).
                task.abort();
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), &mut task).await;
                super::output::note(&format!("\n{name}: stopped; nothing was changed."));
                exit(code);
            }
        }
    }
}

/// Exits now, without waiting for blocked threads (a prompt reading stdin).
fn exit(code: u8) -> ! {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(i32::from(code))
}

/// The error for a command task that did not finish: a panic (a bug) or a cancellation.
fn stopped(error: tokio::task::JoinError) -> CliError {
    CliError::Internal {
        message: obp_engine::apply::panic_message(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use obp_lang::diagnostics::IntoDiagnostic;

    #[tokio::test]
    async fn a_panicking_command_is_a_coded_internal_error() {
        let result = guarded(async { panic!("walker bug") }).await;
        let Err(error) = result else {
            panic!("a panicking command must fail");
        };
        assert!(matches!(&error, CliError::Internal { message } if message == "walker bug"));
        assert_eq!(error.into_diagnostic().code, "E0910");
    }
}
