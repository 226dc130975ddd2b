use crate::store::ExpectedRevision;

/// Everything the event store can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller's input is malformed; nothing was written.
    #[error(transparent)]
    Invalid(#[from] InputError),
    /// The stream is not at the revision the caller expected.
    #[error(
        "wrong expected version for stream {stream}: expected {expected:?}, actual {actual:?}"
    )]
    WrongExpectedVersion {
        stream: String,
        expected: ExpectedRevision,
        /// The stream's last revision, `None` when the stream does not exist.
        actual: Option<u64>,
    },
    /// An event id of the append is already recorded in another stream.
    #[error("an event id of this append to {stream} is already in stream {other_stream}")]
    EventIdInOtherStream {
        stream: String,
        other_stream: String,
    },
    /// Some event ids of the append are recorded in the stream, others are new.
    #[error("the append to {stream} repeats only some of its event ids")]
    PartialDuplicate { stream: String },
    /// A uniqueness claim is held by another stream.
    #[error("{scope} {key:?} is already claimed by stream {holder}")]
    ClaimTaken {
        scope: String,
        key: String,
        holder: String,
    },
    /// Personal data could not be sealed or opened: no keyring, or a wrong key.
    #[error("personal data: {0}")]
    Personal(String),
    /// A concurrent transaction got in the way; retrying the whole transaction succeeds.
    #[error("concurrent write to stream {stream}; retry the transaction")]
    Conflict { stream: String },
    /// The event's data does not fit the typed event it is read as.
    #[error("cannot convert event {event_type}: {source}")]
    Codec {
        event_type: String,
        source: serde_json::Error,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for Error {
    /// A deadlock or serialization failure between concurrent transactions (two writers
    /// appending to the same two streams in opposite order, say) is a conflict to retry,
    /// not a failure.
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if matches!(db.code().as_deref(), Some("40P01" | "40001")) {
                return Error::Conflict {
                    stream: db.table().unwrap_or("(transaction)").to_owned(),
                };
            }
        }
        Error::Database(e)
    }
}

/// Malformed input, caught before anything is sent to the database.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    #[error("stream name is empty")]
    EmptyStreamName,
    #[error("stream name is {len} characters long; at most {max} are allowed")]
    StreamNameTooLong { len: usize, max: usize },
    #[error("stream name {0:?} contains whitespace or control characters")]
    StreamNameWhitespace(String),
    #[error("stream name {0:?} starts with '$', which is reserved for system streams")]
    ReservedStreamName(String),
    #[error("an append needs at least one event")]
    NoEvents,
    #[error("an append holds {count} events; at most {max} are allowed")]
    TooManyEvents { count: usize, max: usize },
    #[error("event type {0:?} must be 1 to 128 characters without whitespace")]
    InvalidEventType(String),
    #[error("the data of event #{index} is not a JSON object")]
    DataNotObject { index: usize },
    #[error("the same event id {0} appears twice in one append")]
    RepeatedEventId(uuid::Uuid),
    #[error("claim {what} must be 1 to {max} characters")]
    InvalidClaim { what: &'static str, max: usize },
    #[error("consumer name must be 1 to 128 characters without whitespace")]
    InvalidConsumerName,
    #[error("limit must be between 1 and {max}")]
    InvalidLimit { max: usize },
}
