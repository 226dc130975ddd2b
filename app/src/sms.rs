//! The outcome of a text message: `SmsSent` or `SmsFailed` in the stream `sms-<source event
//! id>`, appended only if the stream does not exist, so a replay records nothing twice.

mod allowance;

pub use allowance::{take as take_allowance, Allowance};

use domain::notification::SmsEvent;
use eventstore::{ExpectedRevision, RecordedEvent};
use uuid::Uuid;

use crate::error::AppError;
use crate::streams::Category;
use crate::{streams, App, Request};

/// Whether the message `cause` asked for has its outcome recorded.
pub async fn is_recorded(app: &App, cause: &RecordedEvent) -> Result<bool, AppError> {
    Ok(app
        .store()
        .stream_revision(&streams::sms(cause.event_id))
        .await?
        .is_some())
}

/// Whom a text message went to, when the event that asked for it names nobody (a mailbox
/// ready for its member, a dissolution code for an admin): the key their number is sealed
/// under, erased with the organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub(crate) subject: String,
    pub(crate) organization_id: Uuid,
}

impl Recipient {
    /// A member of the organization.
    pub fn member(member_id: Uuid, organization_id: Uuid) -> Self {
        Recipient {
            subject: crate::personal::member_subject(member_id),
            organization_id,
        }
    }

    /// An admin (by account) of the organization.
    pub fn admin(organization_id: Uuid, account: &str) -> Self {
        Recipient {
            subject: crate::personal::admin_subject(organization_id, account),
            organization_id,
        }
    }
}

/// Records the outcome of the message `cause` asked for (once; a repeat is a no-op), its
/// number sealed under the person of `cause` or `recipient`.
pub async fn record_outcome(
    app: &App,
    request: &Request,
    cause: &RecordedEvent,
    outcome: &SmsEvent,
    recipient: Option<&Recipient>,
) -> Result<(), AppError> {
    if !request.is_system() {
        return Err(AppError::Forbidden);
    }
    let context = request.context();
    let mut metadata = eventstore::Metadata::new();
    metadata.actor = Some(context.actor);
    metadata.correlation_id = Some(context.correlation_id);
    metadata.causation_id = context.causation_id;
    let mut event = eventstore::encode_serde(outcome, metadata, domain::SCHEMA_VERSION)?;
    event.metadata.personal =
        crate::personal::owner_by_cause(Category::Sms, &event.event_type, cause, recipient)?;
    match app
        .store()
        .append(
            &streams::sms(cause.event_id),
            ExpectedRevision::NoStream,
            &[event],
        )
        .await
    {
        // Already recorded by an earlier run: the same outcome.
        Ok(_) | Err(eventstore::Error::WrongExpectedVersion { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
