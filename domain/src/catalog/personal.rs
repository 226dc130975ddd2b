//! The fields of events that identify a person. They are stored sealed with that person's
//! key (crypto-shredding), never leave the service in a published event, and read
//! `"[erased]"` once the person is erased.

use serde_json::{json, Value};

/// (category, event type, personal fields of its `data`).
pub const PERSONAL: &[(&str, &str, &[&str])] = &[
    (
        "member",
        "MemberAdded",
        &["name", "account", "phone", "email"],
    ),
    (
        "member",
        "MemberUpdated",
        &["name", "phone", "email", "previous_phone"],
    ),
    ("member", "MemberDeleted", &["account", "phone"]),
    ("organization", "AdminInvited", &["name", "phone", "email"]),
    // A mailbox address is the member's account at a domain: it names the person.
    ("mailbox", "MailboxOpened", &["address"]),
    ("mailbox", "MailboxPurged", &["address"]),
    ("mailbox", "MailboxReassigned", &["address"]),
    (
        "mailbox",
        "MailboxRenamed",
        &["address", "previous_address"],
    ),
    ("sms", "SmsSent", &["to"]),
    ("sms", "SmsFailed", &["to"]),
];

/// The personal fields of an event type (none for most).
pub fn personal_fields(category: &str, event_type: &str) -> &'static [&'static str] {
    PERSONAL
        .iter()
        .find(|(c, t, _)| *c == category && *t == event_type)
        .map_or(&[], |(_, _, fields)| fields)
}

/// Marks each personal property of an event's schema with `"x-personal": true`.
pub(super) fn mark(category: &str, event_type: &str, schema: &mut Value) {
    for field in personal_fields(category, event_type) {
        if let Some(Value::Object(property)) =
            schema.get_mut("properties").and_then(|p| p.get_mut(*field))
        {
            property.insert("x-personal".into(), json!(true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_personal_field_is_a_string_property_of_its_event() {
        let schemas = super::super::schemas();
        for (category, event_type, fields) in PERSONAL {
            let (_, _, schema) = schemas
                .iter()
                .find(|(c, t, _)| c == category && t == event_type)
                .unwrap_or_else(|| panic!("{category}/{event_type} has no schema"));
            for field in *fields {
                let property = &schema["properties"][*field];
                assert_eq!(property["x-personal"], json!(true), "{event_type}.{field}");
                let ty = &property["type"];
                assert!(
                    ty == "string" || ty.as_array().is_some_and(|t| t.contains(&json!("string"))),
                    "{event_type}.{field} must be a string to be sealed: {property}"
                );
            }
        }
        assert_eq!(personal_fields("member", "MemberDisabled"), &[] as &[&str]);
    }
}
