//! The outcome of a text message: `SmsSent` or `SmsFailed` in the stream `sms-<source event
//! id>`, appended only if the stream does not exist, so a replay records nothing twice.

mod allowance;

pub use allowance::{take as take_allowance, Allowance};

use domain::notification::SmsEvent;
use eventstore::{ExpectedRevision, RecordedEvent};

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

/// Records the outcome of the message `cause` asked for (once; a repeat is a no-op).
pub async fn record_outcome(
    app: &App,
    request: &Request,
    cause: &RecordedEvent,
    outcome: &SmsEvent,
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
        crate::personal::owner_by_cause(Category::Sms, &event.event_type, cause)?;
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
