//! The product's decisions as pure deciders (DESIGN.md, "Layout"; the domain issue).
//!
//! For each stream type: its commands, events, state, `decide(&state, command, now)` and
//! `evolve(state, &event)`. No IO, no async, no database: time comes in as an argument and
//! ids come in with the commands. Decisions that span streams (seats, refunds, binding)
//! are functions over both states returning the events of each stream.
//!
//! Uniqueness across streams is declared, not checked here: events say which keys they
//! claim and release ([`Claim`]); the command handler writes those claims in the same
//! transaction and turns a taken one into [`Scope::taken_error`].

mod claims;
mod error;
pub mod maildomain;
pub mod mailbox;
pub mod member;
pub mod organization;
pub mod pricing;
pub mod subscription;
pub mod validate;

#[cfg(test)]
mod harness;

pub use claims::{Claim, Scope};
pub use error::DomainError;

use chrono::{DateTime, Utc};

/// A decider: the rules of one stream type.
pub trait Decider {
    type State: Default + Clone;
    type Command;
    type Event: Clone;

    /// The events a command produces against the current state, or why it is refused.
    fn decide(
        state: &Self::State,
        command: Self::Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Self::Event>, DomainError>;

    /// The state after one more event. Never fails: events are facts.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// The state after a whole stream.
    fn fold<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self::State
    where
        Self::Event: 'a,
    {
        events.into_iter().fold(Self::State::default(), Self::evolve)
    }
}

/// Version of every event schema in this crate; bumped per enum when a shape changes.
pub const SCHEMA_VERSION: u32 = 1;
