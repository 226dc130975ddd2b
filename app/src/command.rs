//! Command handling: load the streams a decision needs, decide, append every stream's
//! events and the uniqueness claims in one transaction with the expected revisions; on a
//! concurrent write, reload and decide again, a bounded number of times.

use std::collections::HashMap;
use std::sync::Mutex;

use domain::{Decider, Scope};
use eventstore::{
    EventStore, ExpectedRevision, Metadata, NewEvent, Position, RecordedEvent, Snapshot,
};
use uuid::Uuid;

use crate::error::AppError;

pub use crate::change::Change;

/// Attempts before a command that keeps meeting concurrent writes gives up with CONFLICT.
/// Under heavy contention on one stream (every authorization appends to the subscription)
/// each round lets one writer through, so this is generous; backoff spreads the rest.
const MAX_ATTEMPTS: u32 = 30;
/// Events folded past a stream's snapshot (or its start) before a new snapshot is kept:
/// what a command on a snapshotted stream reads at most, apart from races.
const SNAPSHOT_EVERY: usize = 64;

/// Who runs a command, for the events' metadata.
#[derive(Debug, Clone)]
pub(crate) struct CommandContext {
    /// `account:…`, `service:…/…`, `operator:…`, or a worker's name.
    pub(crate) actor: String,
    /// One per request; echoed to the client.
    pub(crate) correlation_id: Uuid,
    /// The event (or request) that caused this command, if any.
    pub(crate) causation_id: Option<Uuid>,
}

impl CommandContext {
    fn metadata(&self) -> Metadata {
        let mut m = Metadata::new();
        m.actor = Some(self.actor.clone());
        m.correlation_id = Some(self.correlation_id);
        m.causation_id = self.causation_id;
        m
    }
}

/// One loaded stream: its last revision, the snapshot it starts from, the events after.
#[derive(Debug, Default)]
struct LoadedStream {
    revision: Option<u64>,
    snapshot: Option<Snapshot>,
    events: Vec<RecordedEvent>,
}

/// The streams loaded for one attempt, with the revisions the append will expect.
#[derive(Debug, Default)]
pub struct Loaded {
    streams: HashMap<String, LoadedStream>,
    /// Snapshots worth keeping, found while folding (kept after the attempt).
    to_keep: Mutex<Vec<Snapshot>>,
}

impl Loaded {
    /// The recorded events of a loaded stream after its snapshot (empty when it does not
    /// exist).
    pub fn events(&self, stream: &str) -> &[RecordedEvent] {
        self.streams
            .get(stream)
            .map_or(&[], |s| s.events.as_slice())
    }

    /// The state of a loaded stream under a decider: its snapshot (if any) and the events
    /// after it folded.
    pub fn state<D: Decider>(&self, stream: &str) -> Result<D::State, AppError>
    where
        D::Event: serde::de::DeserializeOwned,
    {
        let loaded = self.streams.get(stream);
        let mut state = match loaded.and_then(|s| s.snapshot.as_ref()) {
            Some(snapshot) if Some(snapshot.version) == D::SNAPSHOT_VERSION => {
                D::restore(snapshot.state.clone()).ok_or_else(|| {
                    AppError::Internal(format!("the snapshot of {stream} cannot be read"))
                })?
            }
            Some(_) => {
                return Err(AppError::Internal(format!(
                    "{stream} was loaded from a snapshot of another decider"
                )))
            }
            None => D::State::default(),
        };
        let events = self.events(stream);
        for recorded in events {
            let event: D::Event = eventstore::decode_serde(recorded)?;
            state = D::evolve(state, &event);
        }
        if let (Some(version), Some(revision)) =
            (D::SNAPSHOT_VERSION, loaded.and_then(|s| s.revision))
        {
            if events.len() >= SNAPSHOT_EVERY {
                if let Some(value) = D::snapshot(&state) {
                    if let Ok(mut keep) = self.to_keep.lock() {
                        keep.push(Snapshot {
                            stream: stream.to_owned(),
                            revision,
                            version,
                            state: value,
                        });
                    }
                }
            }
        }
        Ok(state)
    }

    fn expected(&self, stream: &str) -> ExpectedRevision {
        match self.streams.get(stream) {
            Some(LoadedStream {
                revision: Some(rev),
                ..
            }) => ExpectedRevision::Exact(*rev),
            Some(_) => ExpectedRevision::NoStream,
            None => ExpectedRevision::Any,
        }
    }

    fn snapshots_to_keep(&self) -> Vec<Snapshot> {
        self.to_keep
            .lock()
            .map(|mut keep| std::mem::take(&mut *keep))
            .unwrap_or_default()
    }
}

/// A command's answer and the streams it wrote with the position of their last event.
#[derive(Debug)]
pub struct Executed<T> {
    pub answer: T,
    pub written: Vec<(String, Position)>,
}

impl<T> Executed<T> {
    /// The same writes with another answer.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Executed<U> {
        Executed {
            answer: f(self.answer),
            written: self.written,
        }
    }

    /// A result that wrote nothing.
    pub fn nothing(answer: T) -> Self {
        Executed {
            answer,
            written: vec![],
        }
    }
}

/// Runs commands against the event store.
#[derive(Clone)]
pub(crate) struct CommandHandler {
    store: EventStore,
}

impl CommandHandler {
    pub fn new(store: EventStore) -> Self {
        CommandHandler { store }
    }

    /// The event store underneath.
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// The current state of one stream under a decider.
    pub async fn load_state<D: Decider>(&self, stream: &str) -> Result<D::State, AppError>
    where
        D::Event: serde::de::DeserializeOwned,
    {
        let loaded = self.load(&[stream.to_owned()]).await?;
        let state = loaded.state::<D>(stream);
        self.keep_snapshots(&loaded).await;
        state
    }

    /// Loads `streams`, asks `decide` for an answer and the changes, and appends them
    /// atomically with the loaded revisions as expectations; retries on concurrent writes.
    /// The answer is returned only when the changes committed, with where the write landed
    /// (so the caller can wait for read models to pass it).
    pub async fn execute_tracked<T>(
        &self,
        context: &CommandContext,
        streams: &[String],
        mut decide: impl FnMut(&Loaded) -> Result<(T, Vec<Change>), AppError>,
    ) -> Result<Executed<T>, AppError> {
        for attempt in 0..MAX_ATTEMPTS {
            let loaded = self.load(streams).await?;
            let decided = decide(&loaded);
            self.keep_snapshots(&loaded).await;
            let (answer, changes) = decided?;
            match self.append(context, &loaded, changes).await {
                Ok(written) => return Ok(Executed { answer, written }),
                Err(AppendOutcome::Retry) => tokio::time::sleep(backoff(attempt)).await,
                Err(AppendOutcome::Failed(e)) => return Err(e),
            }
        }
        Err(AppError::Conflict(format!(
            "the command met concurrent changes {MAX_ATTEMPTS} times; try again"
        )))
    }

    /// Loads many streams at once, to fold several states (no write follows).
    pub async fn load_many(&self, streams: &[String]) -> Result<Loaded, AppError> {
        let loaded = self.load(streams).await?;
        self.keep_snapshots(&loaded).await;
        Ok(loaded)
    }

    /// Loads every stream in two queries: the snapshots of categories that keep them, then
    /// each stream's events after its snapshot.
    async fn load(&self, streams: &[String]) -> Result<Loaded, AppError> {
        let snapshotted: Vec<String> = streams
            .iter()
            .filter(|s| snapshot_version(s).is_some())
            .cloned()
            .collect();
        let mut snapshots: HashMap<String, Snapshot> = HashMap::new();
        if !snapshotted.is_empty() {
            for snapshot in self.store.read_snapshots(&snapshotted).await? {
                if Some(snapshot.version) == snapshot_version(&snapshot.stream) {
                    snapshots.insert(snapshot.stream.clone(), snapshot);
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        let from: Vec<(String, u64)> = streams
            .iter()
            .filter(|s| seen.insert(s.as_str()))
            .map(|s| {
                (
                    s.clone(),
                    snapshots.get(s).map_or(0, |snap| snap.revision + 1),
                )
            })
            .collect();
        let mut loaded = Loaded::default();
        for stream in streams {
            let snapshot = snapshots.remove(stream);
            let revision = snapshot.as_ref().map(|s| s.revision);
            loaded.streams.insert(
                stream.clone(),
                LoadedStream {
                    revision,
                    snapshot,
                    events: Vec::new(),
                },
            );
        }
        for event in self.store.read_streams_from(&from).await? {
            if let Some(s) = loaded.streams.get_mut(&event.stream_name) {
                s.revision = Some(event.stream_revision);
                s.events.push(event);
            }
        }
        Ok(loaded)
    }

    /// Keeps the snapshots an attempt found worth keeping; a failure costs only speed.
    async fn keep_snapshots(&self, loaded: &Loaded) {
        for snapshot in loaded.snapshots_to_keep() {
            if let Err(e) = self.store.save_snapshot(&snapshot).await {
                tracing::warn!(stream = %snapshot.stream, error = %e, "snapshot not kept");
            }
        }
    }

    async fn append(
        &self,
        context: &CommandContext,
        loaded: &Loaded,
        changes: Vec<Change>,
    ) -> Result<Vec<(String, Position)>, AppendOutcome> {
        let mut written = Vec::new();
        if changes
            .iter()
            .all(|c| c.events.is_empty() && c.erases.is_empty() && c.erases_group.is_none())
        {
            return Ok(written);
        }
        let mut tx = self.store.begin().await.map_err(AppendOutcome::store)?;
        for change in &changes {
            for release in &change.releases {
                // A key read back erased cannot be named: the stream gives back what it holds.
                if release.key.contains(eventstore::ERASED) {
                    tx.release_held(release.scope.name(), &change.stream)
                        .await
                        .map_err(AppendOutcome::store)?;
                    continue;
                }
                tx.release(release.scope.name(), &release.key, &change.stream)
                    .await
                    .map_err(AppendOutcome::store)?;
            }
        }
        for change in changes.iter().filter(|c| !c.events.is_empty()) {
            let mut events = Vec::with_capacity(change.events.len());
            for (t, d) in &change.events {
                let mut metadata = context.metadata();
                metadata.personal = crate::personal::owner(&change.stream, t, d, loaded)
                    .map_err(AppendOutcome::Failed)?;
                events.push(NewEvent::new(t.clone(), d.clone()).with_metadata(metadata));
            }
            let result = tx
                .append(&change.stream, loaded.expected(&change.stream), &events)
                .await
                .map_err(AppendOutcome::store)?;
            written.push((change.stream.clone(), result.position));
            for claim in &change.claims {
                tx.claim(claim.scope.name(), &claim.key, &change.stream)
                    .await
                    .map_err(AppendOutcome::store)?;
            }
        }
        // Last: events of this change about a person are sealed under the key it deletes.
        for change in &changes {
            if !change.erases.is_empty() {
                tx.erase_personal(&change.erases)
                    .await
                    .map_err(AppendOutcome::store)?;
            }
            if let Some(group) = change.erases_group {
                tx.erase_personal_group(&group.to_string())
                    .await
                    .map_err(AppendOutcome::store)?;
                // Members still in the organization keep no account or phone in the claims
                // table either: those keys named the people just erased.
                for scope in [Scope::MemberAccount, Scope::MemberPhone] {
                    tx.release_prefixed(scope.name(), &format!("{group}/"))
                        .await
                        .map_err(AppendOutcome::store)?;
                }
            }
        }
        tx.commit().await.map_err(AppendOutcome::store)?;
        Ok(written)
    }
}

fn snapshot_version(stream: &str) -> Option<u32> {
    crate::streams::Category::named(eventstore::category_of(stream))
        .and_then(crate::streams::Category::snapshot_version)
}

/// Full jitter up to 1, 2, 4 … 64 ms.
fn backoff(attempt: u32) -> std::time::Duration {
    crate::retry::backoff(
        attempt,
        std::time::Duration::from_millis(1),
        std::time::Duration::from_millis(64),
    )
}

enum AppendOutcome {
    Retry,
    Failed(AppError),
}

impl AppendOutcome {
    fn store(e: eventstore::Error) -> Self {
        match e {
            eventstore::Error::WrongExpectedVersion { .. } | eventstore::Error::Conflict { .. } => {
                AppendOutcome::Retry
            }
            eventstore::Error::ClaimTaken { scope, .. } => match Scope::named(&scope) {
                Some(scope) => AppendOutcome::Failed(AppError::Refused(scope.taken_error())),
                None => AppendOutcome::Failed(AppError::Internal(format!(
                    "a claim of unknown scope {scope} is taken"
                ))),
            },
            other => AppendOutcome::Failed(AppError::Store(other)),
        }
    }
}
