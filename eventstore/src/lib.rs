//! The event store of mailplane on PostgreSQL, with EventStoreDB's semantics.
//!
//! Streams are named `{category}-{id}`. Appends check an [`ExpectedRevision`], are
//! idempotent on event ids, and can be combined with uniqueness claims in one
//! [`StoreTransaction`]. `$all` and categories are read in `(transaction id, sequence)`
//! order below the oldest running transaction, so a reader never skips an event that
//! commits late (see DESIGN.md, "Event store semantics").

mod append;
mod checkpoint;
mod claim_lookup;
pub mod cluster;
pub mod codec;
mod error;
mod event;
mod input;
mod listener;
pub mod personal;
mod position;
mod snapshot;
mod store;
mod subscription;
pub mod testkit;
mod transaction;

pub use codec::{decode, decode_serde, encode, encode_serde, EventCodec};
pub use error::{Error, InputError};
pub use event::{Metadata, NewEvent, RecordedEvent};
pub use personal::{Keyring, Personal, ERASED};
pub use position::Position;
pub use snapshot::Snapshot;
pub use store::{AppendResult, Direction, EventStore, ExpectedRevision, StreamPosition};
pub use subscription::{Subscription, SubscriptionFilter};
pub use transaction::StoreTransaction;

/// The migrations in `schema/migrations`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../schema/migrations");

/// The category of a stream: the part of its name before the first `-`.
pub fn category_of(stream_name: &str) -> &str {
    stream_name.split_once('-').map_or(stream_name, |(c, _)| c)
}
