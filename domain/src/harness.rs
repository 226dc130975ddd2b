//! Given/when/then for deciders: given these events, when this command, then these events
//! or this error.

use std::fmt::Debug;

use chrono::{DateTime, TimeZone, Utc};

use crate::{Decider, DomainError};

/// 2026-03-01 09:00 UTC: "now" in tests unless a test says otherwise.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .expect("valid date")
}

/// `t0` plus whole days.
pub fn day(n: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::days(n)
}

pub struct Given<D: Decider> {
    state: D::State,
    now: DateTime<Utc>,
}

pub fn given<D: Decider>(events: &[D::Event]) -> Given<D> {
    Given {
        state: D::fold(events),
        now: t0(),
    }
}

impl<D: Decider> Given<D>
where
    D::Event: PartialEq + Debug,
{
    pub fn at(mut self, now: DateTime<Utc>) -> Self {
        self.now = now;
        self
    }

    pub fn when(self, command: D::Command) -> Then<D> {
        Then {
            result: D::decide(&self.state, command, self.now),
        }
    }
}

pub struct Then<D: Decider> {
    result: Result<Vec<D::Event>, DomainError>,
}

impl<D: Decider> Then<D>
where
    D::Event: PartialEq + Debug,
{
    #[track_caller]
    pub fn then(self, expected: &[D::Event]) {
        match self.result {
            Ok(events) => assert_eq!(events, expected),
            Err(e) => panic!("expected events, got error {e:?}"),
        }
    }

    #[track_caller]
    pub fn then_err(self, expected: DomainError) {
        match self.result {
            Ok(events) => panic!("expected {expected:?}, got events {events:?}"),
            Err(e) => assert_eq!(e, expected),
        }
    }

    /// For validation refusals whose message is incidental: only the kind is checked.
    #[track_caller]
    pub fn then_invalid(self) {
        match self.result {
            Ok(events) => panic!("expected a validation refusal, got events {events:?}"),
            Err(e) => assert!(e.field().is_some(), "expected a validation refusal: {e:?}"),
        }
    }

    /// The events, for tests that look at generated values.
    #[track_caller]
    pub fn events(self) -> Vec<D::Event> {
        match self.result {
            Ok(events) => events,
            Err(e) => panic!("expected events, got error {e:?}"),
        }
    }
}
