//! Whose personal data an event about to be appended holds: the person whose key seals
//! the fields the catalog marks (`domain::catalog::PERSONAL`). Members and their mailboxes
//! are sealed under the member; an admin invitee under the invitation; a text message under
//! the person of the event that asked for it. The group is the organization, erased whole
//! when it is dissolved or its subscription's data is deleted.

use domain::mailbox::Mailbox;
use domain::member::Member;
use eventstore::{Personal, RecordedEvent};
use serde_json::Value;
use uuid::Uuid;

use crate::command::Loaded;
use crate::error::AppError;
use crate::streams::{Category, StreamName};

/// The subject of a member's personal data (and of their mailboxes').
pub(crate) fn member_subject(member_id: Uuid) -> String {
    format!("member-{member_id}")
}

/// The subject of an admin's phone (a dissolution code went to it).
pub(crate) fn admin_subject(organization_id: Uuid, account: &str) -> String {
    format!("admin-{organization_id}/{account}")
}

/// The subject of an admin invitee's personal data.
pub(crate) fn invitee_subject(invitation_id: Uuid) -> String {
    format!("invitation-{invitation_id}")
}

fn uuid_at(data: &Value, field: &str) -> Option<Uuid> {
    data.get(field)?.as_str()?.parse().ok()
}

fn fields(category: Category, event_type: &str) -> Vec<String> {
    domain::catalog::personal_fields(category.as_str(), event_type)
        .iter()
        .map(|f| (*f).to_owned())
        .collect()
}

/// The owner of an event's personal fields, `None` when the event has none. An event with
/// personal fields and no owner is refused: it would be written in clear.
pub(crate) fn owner(
    stream: &str,
    event_type: &str,
    data: &Value,
    loaded: &Loaded,
) -> Result<Option<Personal>, AppError> {
    let Some((category, id)) = StreamName::parse(stream) else {
        return Ok(None);
    };
    let fields = fields(category, event_type);
    if fields.is_empty() {
        return Ok(None);
    }
    let nil = |u: Uuid| (!u.is_nil()).then_some(u);
    let (subject, group) = match category {
        Category::Member => {
            let group = uuid_at(data, "organization_id").or_else(|| {
                loaded
                    .state::<Member>(stream)
                    .ok()
                    .and_then(|s| nil(s.organization_id))
            });
            (member_subject(id), group)
        }
        Category::Mailbox => {
            let state = loaded.state::<Mailbox>(stream).ok();
            let member = uuid_at(data, "member_id")
                .or_else(|| state.as_ref().and_then(|s| nil(s.member_id)));
            let group = uuid_at(data, "organization_id")
                .or_else(|| state.as_ref().and_then(|s| nil(s.organization_id)));
            match member {
                Some(m) => (member_subject(m), group),
                None => return Err(unowned(stream, event_type)),
            }
        }
        Category::Organization => match uuid_at(data, "invitation_id") {
            Some(invitation) => (invitee_subject(invitation), Some(id)),
            None => return Err(unowned(stream, event_type)),
        },
        _ => return Err(unowned(stream, event_type)),
    };
    Ok(Some(Personal {
        subject,
        group: group.map(|g| g.to_string()),
        fields,
    }))
}

/// The owner of the personal fields of an event written because of `cause` (a text
/// message about a member or an invitee).
pub(crate) fn owner_by_cause(
    category: Category,
    event_type: &str,
    cause: &RecordedEvent,
    recipient: Option<&crate::sms::Recipient>,
) -> Result<Option<Personal>, AppError> {
    let fields = fields(category, event_type);
    if fields.is_empty() {
        return Ok(None);
    }
    let (subject, group) = match (
        &cause.metadata.personal,
        StreamName::parse(&cause.stream_name),
    ) {
        // Whom the sender says the message is for (a mailbox's member, an admin).
        _ if recipient.is_some() => match recipient {
            Some(r) => (r.subject.clone(), Some(r.organization_id.to_string())),
            None => return Err(unowned(&cause.stream_name, event_type)),
        },
        (Some(p), _) => (p.subject.clone(), p.group.clone()),
        // The cause holds no personal field itself (an authorization): its member's key.
        (None, Some((Category::Member, id))) => (member_subject(id), None),
        _ => return Err(unowned(&cause.stream_name, event_type)),
    };
    Ok(Some(Personal {
        subject,
        group,
        fields,
    }))
}

fn unowned(stream: &str, event_type: &str) -> AppError {
    AppError::Internal(format!(
        "{event_type} on {stream} holds personal data but names no person to seal it for"
    ))
}
