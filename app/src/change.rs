//! What one decision appends to one stream: its events, claims and releases, and the
//! personal data it erases.

use domain::Claim;
use eventstore::Metadata;
use serde::Serialize;
use uuid::Uuid;

use crate::error::AppError;

/// The events one decision appends to one stream, with the keys they claim and release.
#[derive(Debug, Clone)]
pub struct Change {
    pub stream: String,
    pub events: Vec<(String, serde_json::Value)>,
    pub claims: Vec<Claim>,
    pub releases: Vec<Claim>,
    /// People whose data keys this change deletes (after its events are appended).
    pub erases: Vec<String>,
    /// An organization whose people's data keys this change deletes, all of them.
    pub erases_group: Option<Uuid>,
}

impl Change {
    /// A change of `stream` with domain events, claiming and releasing what each declares.
    pub fn claiming<E: Serialize>(
        stream: impl Into<String>,
        events: &[E],
        claims: impl Fn(&E) -> (Vec<Claim>, Vec<Claim>),
    ) -> Result<Change, AppError> {
        Ok(events.iter().fold(Change::new(stream, events)?, |c, e| {
            c.with_claims(claims(e))
        }))
    }

    /// A change of `stream` with domain events (adjacently tagged serde enums).
    pub fn new<E: Serialize>(stream: impl Into<String>, events: &[E]) -> Result<Change, AppError> {
        let mut encoded = Vec::with_capacity(events.len());
        for e in events {
            let new = eventstore::encode_serde(e, Metadata::new(), domain::SCHEMA_VERSION)?;
            encoded.push((new.event_type, new.data));
        }
        Ok(Change {
            stream: stream.into(),
            events: encoded,
            claims: vec![],
            releases: vec![],
            erases: vec![],
            erases_group: None,
        })
    }

    /// The same change, also erasing these people's personal data.
    pub fn erasing(mut self, subjects: impl IntoIterator<Item = String>) -> Self {
        self.erases.extend(subjects);
        self
    }

    /// The same change, also erasing the personal data of everyone in an organization.
    pub fn erasing_organization(mut self, organization_id: Uuid) -> Self {
        self.erases_group = Some(organization_id);
        self
    }

    /// The same change, also claiming and releasing keys.
    pub fn with_claims(mut self, (claims, releases): (Vec<Claim>, Vec<Claim>)) -> Self {
        self.claims.extend(claims);
        self.releases.extend(releases);
        self
    }
}
