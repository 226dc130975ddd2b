//! The public event catalog: every event type, what it means, whether it leaves the service
//! (billing's feed, webhooks, the GraphQL subscription) and what billing reads in it; and
//! each type's JSON Schema, generated from the Rust types.

use serde_json::{json, Map, Value};

mod personal;
pub use personal::{personal_fields, PERSONAL};

use crate::mailbox::MailboxEvent;
use crate::maildomain::MailDomainEvent;
use crate::member::MemberEvent;
use crate::migration::MigrationEvent;
use crate::notification::SmsEvent;
use crate::organization::OrganizationEvent;
use crate::subscription::{BuyerEvent, SubscriptionEvent};

/// One event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The stream category it is recorded in.
    pub category: &'static str,
    /// Its `type`.
    pub event_type: &'static str,
    /// False for internal events: never sent to billing or webhooks.
    pub published: bool,
    /// What happened.
    pub meaning: &'static str,
    /// What billing reads in it ("" when nothing).
    pub billing: &'static str,
}

const fn public(
    category: &'static str,
    event_type: &'static str,
    meaning: &'static str,
    billing: &'static str,
) -> Entry {
    Entry {
        category,
        event_type,
        published: true,
        meaning,
        billing,
    }
}

const fn internal(
    category: &'static str,
    event_type: &'static str,
    meaning: &'static str,
) -> Entry {
    Entry {
        category,
        event_type,
        published: false,
        meaning,
        billing: "",
    }
}

/// Every event type, by category. Amounts are integers in minor units (fen for CNY) with
/// `currency` beside them; times are RFC 3339 UTC.
pub const CATALOG: &[Entry] = &[
    public("subscription", "TrialStarted", "A buyer started a free trial (15 days).", "subscription_id, order_id, buyer_account_id, edition, seats; period started_at → trial_ends_at; nothing to charge"),
    public("subscription", "SubscriptionPurchased", "A buyer bought the app directly.", "charge amount + currency for seats × months; period activated_at → expires_at; seats after = seats"),
    public("subscription", "TrialConverted", "A trial was converted into a paid subscription.", "charge amount + currency; period activated_at → expires_at; seats unchanged (the trial's)"),
    public("subscription", "SeatsExpanded", "Seats were added for the rest of the term.", "charge amount + currency (prorated for remaining_days); seats before = new_total − added, after = new_total"),
    public("subscription", "SubscriptionRenewed", "The term was extended.", "charge amount + currency for months; period starts_at → expires_at"),
    public("subscription", "Unsubscribed", "A paid subscription was cancelled within 5 days of activation.", "refund (amount) + currency; the subscription ends now"),
    public("subscription", "TrialExpired", "A trial ended without conversion; its data is deleted now.", "the trial ends; nothing to charge"),
    public("subscription", "SubscriptionExpired", "A paid term ended; mail is suspended, data deleted at data_delete_due.", "the term ends; stop charging"),
    public("subscription", "SubscriptionDataPurged", "An ended subscription's data was deleted.", ""),
    public("subscription", "AppBound", "The subscription was bound to an organization.", "organization_id the seats belong to"),
    public("subscription", "AppUnbound", "The organization the subscription was bound to was dissolved; the subscription can be bound to another organization.", "binding"),
    public("subscription", "SeatAssigned", "A member took one of the purchased seats (authorization).", "seats authorized + 1 (reconcile with subscription.seatUsage)"),
    public("subscription", "SeatReleased", "A member gave a seat back (revoked or deleted).", "seats authorized − 1"),
    public("buyer", "RefundGranted", "A refund was granted to a buyer (at most 10 in 365 days).", "pay back amount + currency for subscription_id"),
    public("organization", "OrganizationCreated", "An organization was created.", ""),
    internal("organization", "AdminInvited", "An admin was invited (carries the invitation token's hash)."),
    public("organization", "InvitationAccepted", "An invited admin accepted.", ""),
    public("organization", "AdminRemoved", "An admin no longer administers the organization.", ""),
    public("organization", "CreatorTransferred", "The creator role passed to another admin; the previous creator stays an admin.", ""),
    public("organization", "InvitationExpired", "An invitation expired unanswered.", ""),
    public("organization", "InvitationRevoked", "An invitation was revoked.", ""),
    public("organization", "DepartmentCreated", "A department was created.", ""),
    public("organization", "DepartmentRenamed", "A department was renamed.", ""),
    public("organization", "DepartmentMoved", "A department moved under another parent.", ""),
    public("organization", "DepartmentDeleted", "An empty department was deleted.", ""),
    public("organization", "AppBound", "The organization was bound to a subscription.", "subscription_id now serving this organization"),
    public("organization", "DepartmentAuthorized", "A whole department was authorized for the app.", ""),
    internal("organization", "DissolutionRequested", "An admin asked for the SMS code that confirms dissolving (never the code)."),
    public("organization", "OrganizationDissolved", "An empty organization was dissolved; its identifier is free.", ""),
    public("organization", "PersonalDataErased", "The personal data of everyone in the organization was erased from every event (dissolved, or its subscription's data deleted).", ""),
    public("member", "MemberAdded", "A member was added (never with a password).", ""),
    public("member", "MemberUpdated", "A member's details changed (only the changed fields are set).", ""),
    public("member", "MemberDisabled", "A member was disabled.", ""),
    public("member", "MemberEnabled", "A member was enabled again.", ""),
    public("member", "MemberDeleted", "A disabled member was deleted; account and phone are free.", ""),
    public("member", "MemberAuthorized", "A member was authorized for the app (takes a seat: see SeatAssigned).", ""),
    public("member", "MemberAuthorizationRevoked", "A member's authorization was revoked.", ""),
    public("member", "MemberPasswordReset", "A member's password was reset (never the password).", ""),
    public("member", "MemberErased", "A deleted member's personal data was erased from every event (published so that subscribers erase their copies too).", ""),
    public("maildomain", "DomainAdded", "A mail domain was added with the DNS records to publish.", ""),
    public("maildomain", "DomainModeChanged", "The domain's verification mode changed.", ""),
    public("maildomain", "DomainVerificationChecked", "The domain's records were looked up.", ""),
    public("maildomain", "DomainVerified", "The domain was verified.", ""),
    public("maildomain", "DomainReplaced", "The domain was replaced by another name; its mailboxes are renamed.", ""),
    public("maildomain", "DomainRemoved", "An unused domain was removed.", ""),
    public("maildomain", "DomainClaimEnded", "An organization's claim to a domain name ended: another organization verified the name first, or this one was dissolved. The name is released.", ""),
    public("mailbox", "MailboxOpened", "A mailbox was opened for a member.", ""),
    public("mailbox", "MailboxProvisioned", "The mail data plane created the mailbox.", ""),
    internal("mailbox", "MailboxProvisioningFailed", "The data plane could not create the mailbox yet (retried)."),
    internal("mailbox", "MailboxProvisioningRetried", "Provisioning was started again."),
    public("mailbox", "MailboxClosed", "A mailbox went into the recycle bin (30 days).", ""),
    public("mailbox", "MailboxRestored", "A mailbox came back from the recycle bin.", ""),
    public("mailbox", "MailboxSuspended", "A disabled member's mailbox refuses every login; its mail is kept.", ""),
    public("mailbox", "MailboxResumed", "A mailbox takes logins again (its member was enabled).", ""),
    public("mailbox", "MailboxReassigned", "A mailbox in the recycle bin was given to another member of the organization (restored with it).", ""),
    public("mailbox", "MailboxPurged", "A mailbox and its mail were deleted; the address is free.", ""),
    public("mailbox", "MailboxRenamed", "A mailbox got a new address (its domain was replaced).", ""),
    internal("migration", "MigrationCreated", "A mail migration task was created for an old server (valid 30 days)."),
    internal("migration", "MigrationConnectionChecked", "An admin checked that the old server answers."),
    internal("migration", "MigrationAccountsAdded", "Old accounts and their target mailboxes were added (never a password)."),
    internal("migration", "MigrationRunStarted", "A run began: the first, a retry of failed accounts, or an incremental re-run."),
    internal("migration", "AccountCheckStarted", "A worker began logging in to an old account."),
    internal("migration", "AccountCopyStarted", "An account's mail began copying (mirror or top-up)."),
    internal("migration", "AccountRetryScheduled", "The old server was unreachable; the account is tried again later."),
    internal("migration", "AccountSucceeded", "An account's mail was copied; per-folder counts."),
    internal("migration", "AccountFailed", "An account could not be migrated, and why."),
    internal("migration", "MigrationCompleted", "Every account of the run ended."),
    internal("migration", "MigrationCancelled", "An admin closed the task; its old passwords are deleted."),
    internal("migration", "MigrationExpired", "The task's 30 days ended; its old passwords are deleted."),
    internal("sms", "SmsSent", "A text message went out (never its text)."),
    internal("sms", "SmsFailed", "A text message could not be sent."),
];

/// The catalog entry of an event, if it has one.
pub fn entry(category: &str, event_type: &str) -> Option<&'static Entry> {
    CATALOG
        .iter()
        .find(|e| e.category == category && e.event_type == event_type)
}

/// Whether an event may leave the service (billing, webhooks, subscriptions).
pub fn is_published(category: &str, event_type: &str) -> bool {
    entry(category, event_type).is_some_and(|e| e.published)
}

/// The JSON Schema of every event type's `data`: (category, type, schema).
pub fn schemas() -> Vec<(&'static str, String, Value)> {
    let mut all = Vec::new();
    let mut add = |category: &'static str, root: schemars::Schema| {
        for (event_type, mut schema) in split(root.as_value()) {
            personal::mark(category, &event_type, &mut schema);
            all.push((category, event_type, schema));
        }
    };
    add("subscription", schemars::schema_for!(SubscriptionEvent));
    add("buyer", schemars::schema_for!(BuyerEvent));
    add("organization", schemars::schema_for!(OrganizationEvent));
    add("member", schemars::schema_for!(MemberEvent));
    add("maildomain", schemars::schema_for!(MailDomainEvent));
    add("mailbox", schemars::schema_for!(MailboxEvent));
    add("migration", schemars::schema_for!(MigrationEvent));
    add("sms", schemars::schema_for!(SmsEvent));
    all
}

/// One schema per variant of an adjacently tagged enum (`{"type": …, "data": …}`): the
/// schema of its `data`, with the definitions it refers to.
fn split(root: &Value) -> Vec<(String, Value)> {
    let defs = root
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let variants = root
        .get("oneOf")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    variants
        .iter()
        .filter_map(|variant| {
            let properties = variant.get("properties")?;
            let name = properties
                .get("type")
                .and_then(|t| {
                    t.get("const")
                        .or_else(|| t.get("enum").and_then(|e| e.get(0)))
                })?
                .as_str()?
                .to_owned();
            let mut schema = properties
                .get("data")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"}));
            let mut used = Map::new();
            collect_refs(&schema, &defs, &mut used);
            if let Value::Object(map) = &mut schema {
                map.insert(
                    "$schema".into(),
                    json!("https://json-schema.org/draft/2020-12/schema"),
                );
                map.insert("title".into(), json!(name));
                if let Some(d) = variant.get("description") {
                    map.insert("description".into(), d.clone());
                }
                if !used.is_empty() {
                    map.insert("$defs".into(), Value::Object(used));
                }
            }
            Some((name, schema))
        })
        .collect()
}

/// Copies into `used` every definition `value` refers to, and the ones those refer to.
fn collect_refs(value: &Value, defs: &Map<String, Value>, used: &mut Map<String, Value>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
            {
                if !used.contains_key(name) {
                    if let Some(def) = defs.get(name) {
                        used.insert(name.to_owned(), def.clone());
                        collect_refs(def, defs, used);
                    }
                }
            }
            map.values().for_each(|v| collect_refs(v, defs, used));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, defs, used)),
        _ => {}
    }
}

/// `schema/events/README.md`: one line per event type.
pub fn readme() -> String {
    let mut text = String::from(
        "# Event catalog\n\n\
         Generated by `mailplane schema --events schema/events` from the Rust types (a test fails\n\
         when this folder is stale). Each `<category>/<Type>.json` is the JSON Schema of that\n\
         event's `data`. Every channel (`GET /events`, webhooks, the GraphQL `events` query and\n\
         subscription) delivers an event as `{position, stream, type, data, metadata, recordedAt}`;\n\
         `stream` is `<category>-<id>`. Amounts are integers in minor units (fen for CNY) with\n\
         `currency` beside them; times are RFC 3339 in UTC. Internal events are not published:\n\
         billing and webhooks never receive them (operators read them in the GraphQL `events`).\n\
         Personal fields (marked `\"x-personal\": true` in the schemas) identify a person: they are\n\
         stored sealed with that person's key, are left out of every published event, and read\n\
         `\"[erased]\"` once the person is erased.\n\n\
         | category | type | published | personal fields | meaning | what billing uses |\n|---|---|---|---|---|---|\n",
    );
    for e in CATALOG {
        text.push_str(&format!(
            "| {} | [{}]({}/{}.json) | {} | {} | {} | {} |\n",
            e.category,
            e.event_type,
            e.category,
            e.event_type,
            if e.published { "yes" } else { "internal" },
            personal_fields(e.category, e.event_type).join(", "),
            e.meaning,
            e.billing
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_has_exactly_one_catalog_entry_and_a_schema() {
        let schemas = schemas();
        for (category, event_type, schema) in &schemas {
            assert!(
                entry(category, event_type).is_some(),
                "{category}/{event_type} is not in the catalog"
            );
            assert_eq!(schema["title"], json!(event_type));
        }
        assert_eq!(
            schemas.len(),
            CATALOG.len(),
            "catalog entries without an event type"
        );
    }

    #[test]
    fn commercial_events_are_published_and_secrets_bearing_ones_are_not() {
        assert!(is_published("subscription", "SeatsExpanded"));
        assert!(is_published("buyer", "RefundGranted"));
        assert!(!is_published("organization", "AdminInvited"));
        assert!(!is_published("sms", "SmsSent"));
        assert!(!is_published("subscription", "NoSuchEvent"));
    }

    #[test]
    fn a_schema_carries_the_definitions_it_refers_to() {
        let schemas = schemas();
        let (_, _, added) = schemas
            .iter()
            .find(|(c, t, _)| *c == "maildomain" && t == "DomainAdded")
            .unwrap();
        let text = added.to_string();
        assert!(text.contains("RequiredRecord"), "{text}");
        assert!(added["$defs"].get("RequiredRecord").is_some(), "{text}");
    }
}
