//! Applying a plan: a tokio walker over the changes that starts each one as soon as what it
//! waits for has succeeded, at most `parallelism` at a time. Every completed resource is
//! appended durably to the state journal before its dependents start; a failure skips its
//! dependents and leaves everything that succeeded in state.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::errors::{ApplyError, StateError};
use crate::plan::{Action, Change, Plan};
use crate::provider::{Provider, ProviderError, Providers, ResourceRef};
use crate::resolve;
use crate::state::{Backend, JournalEntry, ResourceState, State};

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Changes running at the same time.
    pub parallelism: usize,
}

impl Default for ApplyOptions {
    fn default() -> ApplyOptions {
        ApplyOptions { parallelism: 10 }
    }
}

/// Progress callbacks, called from the walker's tasks.
pub trait Progress: Send + Sync {
    fn started(&self, _change: &Change) {}
    fn finished(&self, _change: &Change, _elapsed: Duration) {}
    fn failed(&self, _change: &Change, _error: &ApplyError) {}
    fn skipped(&self, _change: &Change, _because: &str) {}
}

/// Progress that reports nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// What happened to each change.
#[derive(Debug, Default)]
pub struct ApplyReport {
    pub succeeded: Vec<(String, Action)>,
    pub failed: Vec<(String, ApplyError)>,
    /// (address, the failed address it waited for)
    pub skipped: Vec<(String, String)>,
    /// The state after apply.
    pub state: State,
    /// A failure to persist state (apply stops at once when this happens).
    pub state_error: Option<StateError>,
}

impl ApplyReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && self.state_error.is_none()
    }
}

enum Outcome {
    Done,
    Failed,
    Skipped,
}

/// Applies `plan` to `state`, persisting through `backend` as it goes.
pub async fn apply(
    plan: &Plan,
    state: State,
    providers: &Providers,
    backend: Arc<dyn Backend>,
    options: &ApplyOptions,
    progress: Arc<dyn Progress>,
) -> ApplyReport {
    let mut state = state;
    state.ensure_lineage();
    let shared = Arc::new(Mutex::new(state));
    // Renames from `moved` blocks are recorded first.
    {
        let mut entries = Vec::new();
        if let Ok(mut state) = shared.lock() {
            for (from, to) in &plan.moved {
                if let Some(resource) = state.resources.remove(from) {
                    entries.push(JournalEntry::Remove {
                        address: from.clone(),
                    });
                    entries.push(JournalEntry::Put {
                        address: to.clone(),
                        resource: resource.clone(),
                    });
                    state.resources.insert(to.clone(), resource);
                }
            }
        }
        if let Err(error) = backend.append(&entries).await {
            let state = shared.lock().map(|s| s.clone()).unwrap_or_default();
            return ApplyReport {
                state,
                state_error: Some(error),
                ..ApplyReport::default()
            };
        }
    }

    let changes: Vec<Arc<Change>> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .cloned()
        .map(Arc::new)
        .collect();
    let index: HashMap<&str, usize> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.address.as_str(), i))
        .collect();
    // waits_for[i]: changes that must succeed before change i starts.
    let waits_for: Vec<Vec<usize>> = changes
        .iter()
        .map(|c| {
            c.deps
                .iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect()
        })
        .collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); changes.len()];
    for (i, waits) in waits_for.iter().enumerate() {
        for w in waits {
            dependents[*w].push(i);
        }
    }

    let (journal, writer) = journal_writer(backend.clone(), shared.clone());
    let parallelism = options.parallelism.max(1);
    let mut in_flight = 0usize;
    let mut pending: Vec<usize> = waits_for.iter().map(Vec::len).collect();
    let mut outcomes: Vec<Option<Outcome>> = (0..changes.len()).map(|_| None).collect();
    let mut report = ApplyReport::default();
    let mut tasks: JoinSet<(usize, Result<(), RunError>)> = JoinSet::new();
    // Ready changes start in plan order; with parallelism 1 the whole walk is sequential.
    let mut ready: BinaryHeap<Reverse<usize>> = (0..changes.len())
        .filter(|i| pending[*i] == 0)
        .map(Reverse)
        .collect();
    let mut stop = false;

    loop {
        // A slot frees only when the main loop has taken in a finished change, so that
        // what starts next never races with what the last result decides.
        while let Some(&Reverse(i)) = ready.peek() {
            if in_flight >= parallelism {
                break;
            }
            ready.pop();
            let change = changes[i].clone();
            let Some(provider) = providers.get(&change.provider).cloned() else {
                let error = ApplyError::Failed {
                    address: change.address.clone(),
                    action: verb(change.action).to_owned(),
                    message: format!("provider `{}` is not configured", change.provider),
                };
                progress.failed(&change, &error);
                report.failed.push((change.address.clone(), error));
                outcomes[i] = Some(Outcome::Failed);
                skip_dependents(
                    i,
                    &changes,
                    &dependents,
                    &mut outcomes,
                    &mut report,
                    progress.as_ref(),
                );
                continue;
            };
            let shared = shared.clone();
            let journal = journal.clone();
            let progress = progress.clone();
            in_flight += 1;
            tasks.spawn(async move {
                progress.started(&change);
                let started = Instant::now();
                let result = run_change(&change, provider.as_ref(), &shared, &journal).await;
                match &result {
                    Ok(()) => progress.finished(&change, started.elapsed()),
                    Err(RunError::Apply(error)) => progress.failed(&change, error),
                    Err(RunError::State(_)) => {}
                }
                (i, result)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        in_flight -= 1;
        let (i, result) = match joined {
            Ok(pair) => pair,
            Err(_) => continue,
        };
        match result {
            Ok(()) => {
                outcomes[i] = Some(Outcome::Done);
                report
                    .succeeded
                    .push((changes[i].address.clone(), changes[i].action));
                if !stop {
                    for d in &dependents[i] {
                        pending[*d] -= 1;
                        if pending[*d] == 0 && outcomes[*d].is_none() {
                            ready.push(Reverse(*d));
                        }
                    }
                }
            }
            Err(RunError::State(error)) => {
                // The state could not be written: start nothing new.
                stop = true;
                outcomes[i] = Some(Outcome::Failed);
                report.state_error = Some(error);
            }
            Err(RunError::Apply(error)) => {
                outcomes[i] = Some(Outcome::Failed);
                report.failed.push((changes[i].address.clone(), error));
                skip_dependents(
                    i,
                    &changes,
                    &dependents,
                    &mut outcomes,
                    &mut report,
                    progress.as_ref(),
                );
            }
        }
    }
    for (i, outcome) in outcomes.iter().enumerate() {
        if outcome.is_none() && stop {
            report.skipped.push((
                changes[i].address.clone(),
                "state could not be written".to_owned(),
            ));
        }
    }
    drop(journal);
    let _ = writer.await;

    // Outputs, then one compacted write of the whole state.
    let mut state = match Arc::try_unwrap(shared) {
        Ok(mutex) => mutex.into_inner().unwrap_or_default(),
        Err(shared) => shared.lock().map(|s| s.clone()).unwrap_or_default(),
    };
    if report.state_error.is_none() {
        state.outputs = resolve_outputs(&plan.outputs, &state);
        if let Err(error) = backend.write(&state).await {
            report.state_error = Some(error);
        }
    }
    // With state written, providers remove what no resource owns and repair their listings.
    if report.state_error.is_none() {
        report
            .failed
            .extend(crate::claims::sweep(&state, providers).await);
    }
    report.state = state;
    report.succeeded.sort();
    report.failed.sort_by(|a, b| a.0.cmp(&b.0));
    report.skipped.sort();
    report
}

/// Why one change did not complete.
enum RunError {
    /// The provider (or resolution) failed: dependents are skipped.
    Apply(ApplyError),
    /// State could not be recorded: the whole apply stops.
    State(StateError),
}

impl From<ApplyError> for RunError {
    fn from(error: ApplyError) -> RunError {
        RunError::Apply(error)
    }
}

fn skip_dependents(
    failed: usize,
    changes: &[Arc<Change>],
    dependents: &[Vec<usize>],
    outcomes: &mut [Option<Outcome>],
    report: &mut ApplyReport,
    progress: &dyn Progress,
) {
    let root = changes[failed].address.clone();
    let mut stack = dependents[failed].clone();
    while let Some(i) = stack.pop() {
        if outcomes[i].is_some() {
            continue;
        }
        outcomes[i] = Some(Outcome::Skipped);
        progress.skipped(&changes[i], &root);
        report
            .skipped
            .push((changes[i].address.clone(), root.clone()));
        stack.extend(dependents[i].iter().copied());
    }
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "creating",
        Action::Update => "updating",
        Action::Replace => "replacing",
        Action::Delete => "deleting",
        Action::NoOp => "reading",
    }
}

type Journal = mpsc::UnboundedSender<(JournalEntry, oneshot::Sender<Result<(), StateError>>)>;

/// One task appends journal entries in batches (one fsync per batch) and applies them to the
/// shared state; each sender learns when its entry is durable.
fn journal_writer(
    backend: Arc<dyn Backend>,
    shared: Arc<Mutex<State>>,
) -> (Journal, tokio::task::JoinHandle<()>) {
    let (sender, mut receiver) =
        mpsc::unbounded_channel::<(JournalEntry, oneshot::Sender<Result<(), StateError>>)>();
    let handle = tokio::spawn(async move {
        while let Some(first) = receiver.recv().await {
            let mut batch = vec![first];
            while let Ok(next) = receiver.try_recv() {
                batch.push(next);
            }
            let (entries, acks): (Vec<JournalEntry>, Vec<_>) = batch.into_iter().unzip();
            let result = backend.append(&entries).await;
            if result.is_ok() {
                if let Ok(mut state) = shared.lock() {
                    for entry in entries {
                        state.apply_owned(entry);
                    }
                }
            }
            for ack in acks {
                let _ = ack.send(result.clone());
            }
        }
    });
    (sender, handle)
}

async fn record(journal: &Journal, entry: JournalEntry) -> Result<(), RunError> {
    let (ack, done) = oneshot::channel();
    let stopped = || {
        RunError::State(StateError::Io {
            path: "state journal".to_owned(),
            reason: "the state writer stopped".to_owned(),
        })
    };
    journal.send((entry, ack)).map_err(|_| stopped())?;
    match done.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(RunError::State(error)),
        Err(_) => Err(stopped()),
    }
}

async fn run_change(
    change: &Change,
    provider: &dyn Provider,
    shared: &Arc<Mutex<State>>,
    journal: &Journal,
) -> Result<(), RunError> {
    let reference = ResourceRef {
        address: &change.address,
        rtype: &change.rtype,
    };
    let failed = |error: ProviderError| {
        RunError::Apply(ApplyError::from_provider(
            &change.address,
            verb(change.action),
            error,
        ))
    };
    let prior = change.before.clone().unwrap_or_default();
    match change.action {
        Action::NoOp => Ok(()),
        Action::Delete => {
            provider.delete(&reference, &prior).await.map_err(failed)?;
            record(
                journal,
                JournalEntry::Remove {
                    address: change.address.clone(),
                },
            )
            .await
        }
        Action::Create | Action::Update | Action::Replace => {
            let inputs = resolved_inputs(change, shared)?;
            let recorded = match change.action {
                Action::Create => provider.create(&reference, &inputs).await.map_err(failed)?,
                Action::Update => provider
                    .update(&reference, &prior, &inputs)
                    .await
                    .map_err(failed)?,
                _ if change.create_before_destroy => {
                    let recorded = provider.create(&reference, &inputs).await.map_err(failed)?;
                    provider.delete(&reference, &prior).await.map_err(failed)?;
                    recorded
                }
                _ => {
                    provider.delete(&reference, &prior).await.map_err(failed)?;
                    // The old object is gone: say so durably before creating the new one.
                    record(
                        journal,
                        JournalEntry::Remove {
                            address: change.address.clone(),
                        },
                    )
                    .await?;
                    provider.create(&reference, &inputs).await.map_err(failed)?
                }
            };
            let resource = ResourceState::new(
                &change.rtype,
                &change.provider,
                &change.module,
                recorded,
                change.deps.clone(),
            );
            record(
                journal,
                JournalEntry::Put {
                    address: change.address.clone(),
                    resource,
                },
            )
            .await
        }
    }
}

/// The change's inputs with every value read from applied resources filled in.
fn resolved_inputs(
    change: &Change,
    shared: &Arc<Mutex<State>>,
) -> Result<BTreeMap<String, Json>, ApplyError> {
    let mut inputs = change.after.clone().unwrap_or_default();
    let state = shared.lock().map_err(|_| ApplyError::Failed {
        address: change.address.clone(),
        action: verb(change.action).to_owned(),
        message: "internal state lock poisoned".to_owned(),
    })?;
    for (name, value) in inputs.iter_mut() {
        if resolve::resolve(value, &*state) {
            return Err(ApplyError::StillUnknown {
                address: change.address.clone(),
                what: format!("attribute `{name}`"),
            });
        }
    }
    Ok(inputs)
}

fn resolve_outputs(outputs: &BTreeMap<String, Json>, state: &State) -> BTreeMap<String, Json> {
    outputs
        .iter()
        .map(|(name, value)| {
            let mut value = value.clone();
            resolve::resolve(&mut value, state);
            (name.clone(), value)
        })
        .collect()
}
