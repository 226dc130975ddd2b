//! Validation of names and batches before they reach the database.

use crate::error::InputError;
use crate::event::NewEvent;

/// Longest stream name accepted, in characters.
pub const MAX_STREAM_NAME: usize = 200;
/// Most events accepted in one append.
pub const MAX_EVENTS_PER_APPEND: usize = 10_000;
/// Longest event type name, in characters.
const MAX_EVENT_TYPE: usize = 128;
/// Longest claim scope or key, in characters.
pub const MAX_CLAIM_PART: usize = 512;
/// Most events one read may return.
pub const MAX_READ_LIMIT: usize = 10_000;

/// Checks a stream name: not empty, not too long, no whitespace, not reserved.
pub fn stream_name(name: &str) -> Result<(), InputError> {
    if name.is_empty() {
        return Err(InputError::EmptyStreamName);
    }
    let len = name.chars().count();
    if len > MAX_STREAM_NAME {
        return Err(InputError::StreamNameTooLong {
            len,
            max: MAX_STREAM_NAME,
        });
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(InputError::StreamNameWhitespace(name.to_owned()));
    }
    if name.starts_with('$') {
        return Err(InputError::ReservedStreamName(name.to_owned()));
    }
    Ok(())
}

/// Checks a batch of events for one append.
pub fn events(events: &[NewEvent]) -> Result<(), InputError> {
    if events.is_empty() {
        return Err(InputError::NoEvents);
    }
    if events.len() > MAX_EVENTS_PER_APPEND {
        return Err(InputError::TooManyEvents {
            count: events.len(),
            max: MAX_EVENTS_PER_APPEND,
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        let t = &event.event_type;
        if t.is_empty()
            || t.chars().count() > MAX_EVENT_TYPE
            || t.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(InputError::InvalidEventType(t.clone()));
        }
        if !event.data.is_object() {
            return Err(InputError::DataNotObject { index });
        }
        if !seen.insert(event.event_id) {
            return Err(InputError::RepeatedEventId(event.event_id));
        }
    }
    Ok(())
}

/// Checks one part (scope or key) of a uniqueness claim.
pub fn claim_part(what: &'static str, value: &str) -> Result<(), InputError> {
    let len = value.chars().count();
    if len == 0 || len > MAX_CLAIM_PART {
        return Err(InputError::InvalidClaim {
            what,
            max: MAX_CLAIM_PART,
        });
    }
    Ok(())
}

/// Checks the name of a checkpointed consumer.
pub fn consumer(name: &str) -> Result<(), InputError> {
    let len = name.chars().count();
    if len == 0 || len > 128 || name.chars().any(char::is_whitespace) {
        return Err(InputError::InvalidConsumerName);
    }
    Ok(())
}

/// Checks a read limit and converts it for SQL.
pub fn limit(limit: usize) -> Result<i64, InputError> {
    if limit == 0 || limit > MAX_READ_LIMIT {
        return Err(InputError::InvalidLimit {
            max: MAX_READ_LIMIT,
        });
    }
    Ok(limit as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

    #[test]
    fn stream_names_are_checked() {
        assert_eq!(stream_name(""), Err(InputError::EmptyStreamName));
        assert!(matches!(
            stream_name(&"a".repeat(201)),
            Err(InputError::StreamNameTooLong { len: 201, .. })
        ));
        assert!(stream_name(&"a".repeat(200)).is_ok());
        for bad in [" ", "member- 1", "member-1\n", "\tmember", "a\u{3000}b"] {
            assert!(
                matches!(stream_name(bad), Err(InputError::StreamNameWhitespace(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            stream_name("$all"),
            Err(InputError::ReservedStreamName(_))
        ));
        assert!(stream_name("organization-0f3c").is_ok());
    }

    #[test]
    fn batches_are_checked() {
        assert_eq!(events(&[]), Err(InputError::NoEvents));
        let ok = NewEvent::new("Happened", json!({"a": 1}));
        assert!(events(std::slice::from_ref(&ok)).is_ok());
        for data in [json!([1]), json!("x"), json!(null), json!(3)] {
            let e = NewEvent::new("Happened", data);
            assert_eq!(
                events(&[ok.clone(), e]),
                Err(InputError::DataNotObject { index: 1 })
            );
        }
        for t in ["", "has space", &"t".repeat(129)] {
            let e = NewEvent::new(t, json!({}));
            assert!(matches!(events(&[e]), Err(InputError::InvalidEventType(_))));
        }
        let id = Uuid::new_v4();
        let twice = [
            NewEvent::new("A", json!({})).with_id(id),
            NewEvent::new("B", json!({})).with_id(id),
        ];
        assert_eq!(events(&twice), Err(InputError::RepeatedEventId(id)));
        let many = vec![ok; MAX_EVENTS_PER_APPEND + 1];
        assert!(matches!(
            events(&many),
            Err(InputError::TooManyEvents { .. })
        ));
    }

    #[test]
    fn claims_consumers_and_limits_are_checked() {
        assert!(claim_part("key", "").is_err());
        assert!(claim_part("key", &"k".repeat(513)).is_err());
        assert!(claim_part("key", "13800000000").is_ok());
        assert!(consumer("").is_err());
        assert!(consumer("a b").is_err());
        assert!(consumer("projection:members").is_ok());
        assert!(limit(0).is_err());
        assert!(limit(MAX_READ_LIMIT + 1).is_err());
        assert_eq!(limit(5), Ok(5));
    }
}
