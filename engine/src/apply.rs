//! Applying a plan: a tokio walker over the changes that starts each one as soon as what it
//! waits for has succeeded, at most `parallelism` at a time. Every completed resource is
//! appended durably to the state journal before its dependents start; a failure skips its
//! dependents and leaves everything that succeeded in state.
//!
//! The walk halts — starts nothing new, lets the running changes finish within a grace period,
//! then abandons them — when state can no longer be written, when the backend reports that
//! its lock was lost, or when the caller asks it to ([`Stop`], e.g. on Ctrl-C). A provider that
//! panics fails its change like any other error.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinError, JoinSet};

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
    /// Asks the walk to start nothing new.
    pub stop: Stop,
    /// How long running changes may take to finish once the walk halts; then they are
    /// abandoned (reported as interrupted).
    pub grace: Duration,
}

impl Default for ApplyOptions {
    fn default() -> ApplyOptions {
        ApplyOptions {
            parallelism: 10,
            stop: Stop::new(),
            grace: Duration::from_secs(60),
        }
    }
}

/// A request to stop starting changes, shared between the walker and whoever may ask for it
/// (a signal handler, a lock watchdog). The first reason given wins.
#[derive(Clone)]
pub struct Stop {
    reason: Arc<watch::Sender<Option<String>>>,
}

impl Stop {
    pub fn new() -> Stop {
        Stop {
            reason: Arc::new(watch::channel(None).0),
        }
    }

    /// Asks the walk to start nothing new; `reason` says why (`interrupted by SIGINT`).
    pub fn request(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.reason.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason);
            true
        });
    }

    /// Why a stop was requested, if it was.
    pub fn reason(&self) -> Option<String> {
        self.reason.borrow().clone()
    }

    /// Resolves once a stop is requested.
    pub async fn requested(&self) {
        let mut receiver = self.reason.subscribe();
        let _ = receiver.wait_for(Option::is_some).await;
    }
}

impl Default for Stop {
    fn default() -> Stop {
        Stop::new()
    }
}

impl std::fmt::Debug for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stop({:?})", self.reason())
    }
}

/// Progress callbacks, called from the walker's tasks.
pub trait Progress: Send + Sync {
    fn started(&self, _change: &Change) {}
    fn finished(&self, _change: &Change, _elapsed: Duration) {}
    fn failed(&self, _change: &Change, _error: &ApplyError) {}
    fn skipped(&self, _change: &Change, _because: &str) {}
    /// The walk halts: nothing new starts (`reason` says why).
    fn halted(&self, _reason: &str, _running: usize) {}
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
    /// Why the walk halted before every change could start, if it did.
    pub halted: Option<String>,
    /// Changes never started because the walk halted.
    pub not_started: Vec<String>,
    /// Changes still running when the grace period after a halt ran out: abandoned, so
    /// whether they took effect is unknown (the next plan reads what is live).
    pub interrupted: Vec<String>,
    /// Changes the provider made but state could not record.
    pub unrecorded: Vec<String>,
    /// The state after apply.
    pub state: State,
    /// A failure to persist state (the walk halts when this happens).
    pub state_error: Option<StateError>,
}

impl ApplyReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
            && self.skipped.is_empty()
            && self.halted.is_none()
            && self.not_started.is_empty()
            && self.interrupted.is_empty()
            && self.unrecorded.is_empty()
            && self.state_error.is_none()
    }
}

enum Outcome {
    Done,
    Failed,
    Skipped,
    Interrupted,
}

/// The state shared by the walker's tasks; a panic elsewhere never makes it unusable.
fn locked(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
    // Renames from `moved` blocks are recorded first, and so is what the plan's refresh found:
    // resources gone (a destroy that was killed, an object deleted by hand) leave state, and
    // changed ones are recorded as they are live (an update a crash kept from state), so that
    // state never claims what is not there, whatever happens next.
    {
        let mut entries = Vec::new();
        {
            let mut state = locked(&shared);
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
            for drift in &plan.drift {
                match &drift.live {
                    None if drift.kind == "deleted"
                        && state.resources.remove(&drift.address).is_some() =>
                    {
                        entries.push(JournalEntry::Remove {
                            address: drift.address.clone(),
                        });
                    }
                    // What refresh read is what is live: record it (the changes below then
                    // record what they write over it).
                    Some(live) => {
                        if let Some(prior) = state.resources.get(&drift.address) {
                            let resource = ResourceState::new(
                                &prior.rtype,
                                &prior.provider,
                                &prior.module,
                                live.clone(),
                                prior.deps.clone(),
                            )
                            .with_order(prior.order);
                            state
                                .resources
                                .insert(drift.address.clone(), resource.clone());
                            entries.push(JournalEntry::Put {
                                address: drift.address.clone(),
                                resource,
                            });
                        }
                    }
                    None => {}
                }
            }
        }
        // Each journal entry counts as one change of state, as replay counts it.
        locked(&shared).serial += entries.len() as u64;
        if let Err(error) = backend.append(&entries).await {
            let state = locked(&shared).clone();
            return ApplyReport {
                state,
                halted: Some(halt_reason(&error)),
                not_started: plan
                    .changes
                    .iter()
                    .filter(|c| c.action != Action::NoOp)
                    .map(|c| c.address.clone())
                    .collect(),
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
    let mut pending: Vec<usize> = waits_for.iter().map(Vec::len).collect();
    let mut outcomes: Vec<Option<Outcome>> = (0..changes.len()).map(|_| None).collect();
    let mut report = ApplyReport::default();
    let mut tasks: JoinSet<Result<(), RunError>> = JoinSet::new();
    // Which change each running task applies (a panicked task returns nothing else).
    let mut running: HashMap<tokio::task::Id, usize> = HashMap::new();
    // Ready changes start in plan order; with parallelism 1 the whole walk is sequential.
    let mut ready: BinaryHeap<Reverse<usize>> = (0..changes.len())
        .filter(|i| pending[*i] == 0)
        .map(Reverse)
        .collect();
    // Once set, nothing new starts; running changes get until `deadline` to finish.
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut abandoned = false;

    loop {
        if report.halted.is_none() {
            let reason = options
                .stop
                .reason()
                .or_else(|| backend.lost().map(|e| e.to_string()));
            if let Some(reason) = reason {
                halt(
                    &mut report,
                    &mut deadline,
                    reason,
                    &tasks,
                    options,
                    &*progress,
                );
            }
        }
        // A slot frees only when the main loop has taken in a finished change, so that
        // what starts next never races with what the last result decides.
        while report.halted.is_none() && tasks.len() < parallelism {
            let Some(Reverse(i)) = ready.pop() else {
                break;
            };
            let change = changes[i].clone();
            let Some(provider) = providers.get(&change.provider).cloned() else {
                let error = ApplyError::Failed {
                    address: change.address.clone(),
                    action: verb(change.action).to_owned(),
                    message: format!("provider `{}` is not configured", change.provider),
                };
                progress.failed(&change, &error);
                fail(
                    i,
                    error,
                    &changes,
                    &dependents,
                    &mut outcomes,
                    &mut report,
                    &*progress,
                );
                continue;
            };
            let shared = shared.clone();
            let journal = journal.clone();
            let progress = progress.clone();
            let handle = tasks.spawn(async move {
                progress.started(&change);
                let started = Instant::now();
                let result = run_change(&change, provider.as_ref(), &shared, &journal).await;
                match &result {
                    Ok(()) => progress.finished(&change, started.elapsed()),
                    Err(RunError::Apply(error)) => progress.failed(&change, error),
                    Err(RunError::State(_)) => {}
                }
                result
            });
            running.insert(handle.id(), i);
        }
        if tasks.is_empty() {
            break;
        }
        let joined = tokio::select! {
            joined = tasks.join_next_with_id() => joined,
            () = options.stop.requested(), if report.halted.is_none() => continue,
            () = sleep_until(deadline), if deadline.is_some() && !abandoned => {
                // The grace period is over: abandon what still runs.
                tasks.abort_all();
                abandoned = true;
                continue;
            }
        };
        let Some(joined) = joined else {
            break;
        };
        let (i, result) = match joined {
            Ok((id, result)) => (running.remove(&id), result),
            Err(error) => {
                let i = running.remove(&error.id());
                let Some(i) = i else { continue };
                if error.is_cancelled() {
                    outcomes[i] = Some(Outcome::Interrupted);
                    report.interrupted.push(changes[i].address.clone());
                    continue;
                }
                let message = panic_message(error);
                let error = ApplyError::Failed {
                    address: changes[i].address.clone(),
                    action: verb(changes[i].action).to_owned(),
                    message: format!("the provider panicked (a bug: please report it): {message}"),
                };
                progress.failed(&changes[i], &error);
                fail(
                    i,
                    error,
                    &changes,
                    &dependents,
                    &mut outcomes,
                    &mut report,
                    &*progress,
                );
                continue;
            }
        };
        let Some(i) = i else { continue };
        match result {
            Ok(()) => {
                outcomes[i] = Some(Outcome::Done);
                report
                    .succeeded
                    .push((changes[i].address.clone(), changes[i].action));
                for d in &dependents[i] {
                    pending[*d] -= 1;
                    if pending[*d] == 0 && outcomes[*d].is_none() {
                        ready.push(Reverse(*d));
                    }
                }
            }
            Err(RunError::State(error)) => {
                // The provider acted but state could not say so: start nothing new.
                outcomes[i] = Some(Outcome::Failed);
                report.unrecorded.push(changes[i].address.clone());
                if report.halted.is_none() {
                    let reason = halt_reason(&error);
                    halt(
                        &mut report,
                        &mut deadline,
                        reason,
                        &tasks,
                        options,
                        &*progress,
                    );
                }
                report.state_error.get_or_insert(error);
            }
            Err(RunError::Apply(error)) => {
                fail(
                    i,
                    error,
                    &changes,
                    &dependents,
                    &mut outcomes,
                    &mut report,
                    &*progress,
                );
            }
        }
    }
    report.not_started = outcomes
        .iter()
        .enumerate()
        .filter(|(_, outcome)| outcome.is_none())
        .map(|(i, _)| changes[i].address.clone())
        .collect();
    drop(journal);
    let _ = writer.await;

    // Outputs, then one compacted write of the whole state — unless state cannot be written,
    // or the lock is gone (someone else may hold it now).
    let mut state = match Arc::try_unwrap(shared) {
        Ok(mutex) => mutex
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
        Err(shared) => locked(&shared).clone(),
    };
    if let (None, Some(lost)) = (&report.state_error, backend.lost()) {
        report.state_error = Some(lost);
    }
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
    report.not_started.sort();
    report.interrupted.sort();
    report.unrecorded.sort();
    report
}

/// Why a state error halts the walk, in words.
fn halt_reason(error: &StateError) -> String {
    match error {
        StateError::LockLost { .. } => error.to_string(),
        _ => "state can no longer be written".to_owned(),
    }
}

/// Stops starting changes: records why and when running ones must be done.
fn halt(
    report: &mut ApplyReport,
    deadline: &mut Option<tokio::time::Instant>,
    reason: String,
    tasks: &JoinSet<Result<(), RunError>>,
    options: &ApplyOptions,
    progress: &dyn Progress,
) {
    progress.halted(&reason, tasks.len());
    report.halted = Some(reason);
    *deadline = Some(tokio::time::Instant::now() + options.grace);
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// What a panicking task said (or why it did not finish).
pub fn panic_message(error: JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned()),
        Err(error) => error.to_string(),
    }
}

/// Records a failed change and skips everything that waits for it.
fn fail(
    i: usize,
    error: ApplyError,
    changes: &[Arc<Change>],
    dependents: &[Vec<usize>],
    outcomes: &mut [Option<Outcome>],
    report: &mut ApplyReport,
    progress: &dyn Progress,
) {
    outcomes[i] = Some(Outcome::Failed);
    report.failed.push((changes[i].address.clone(), error));
    skip_dependents(i, changes, dependents, outcomes, report, progress);
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
                let mut state = locked(&shared);
                for entry in entries {
                    state.apply_owned(entry);
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
        order: change.order,
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
            )
            .with_order(change.order);
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
    let state = locked(shared);
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
