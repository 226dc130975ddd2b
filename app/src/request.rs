//! Who asks for an operation: a principal proven by a token (GraphQL, the console), a
//! worker reacting to an event, or a timer. Access checks and the events' metadata both
//! come from here, so no channel can write without saying who it is.

use eventstore::RecordedEvent;
use uuid::Uuid;

use crate::auth::{Principal, PrincipalKind};
use crate::command::CommandContext;
use crate::error::AppError;

/// Who runs an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A request without a token (only public operations accept it).
    Anonymous,
    /// A caller proven by a token.
    Principal(Principal),
    /// The system itself: a worker or a timer, by name. Trusted: access is not checked.
    System(&'static str),
}

/// One operation's caller, with the ids that tie its events to the request or event.
#[derive(Debug, Clone)]
pub struct Request {
    actor: Actor,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
}

impl Request {
    /// A request from a client; `correlation_id` is echoed to it.
    pub fn client(principal: Option<Principal>, correlation_id: Uuid) -> Self {
        Request {
            actor: principal.map_or(Actor::Anonymous, Actor::Principal),
            correlation_id,
            causation_id: None,
        }
    }

    /// A worker's reaction to `cause`: same correlation, caused by it.
    pub fn worker(name: &'static str, cause: &RecordedEvent) -> Self {
        Request {
            actor: Actor::System(name),
            correlation_id: cause.metadata.correlation_id.unwrap_or_else(Uuid::now_v7),
            causation_id: Some(cause.event_id),
        }
    }

    /// The system acting on its own (a timer), with a fresh correlation id.
    pub fn system(name: &'static str) -> Self {
        Request {
            actor: Actor::System(name),
            correlation_id: Uuid::now_v7(),
            causation_id: None,
        }
    }

    /// The correlation id of the request.
    pub fn correlation_id(&self) -> Uuid {
        self.correlation_id
    }

    /// The principal, or UNAUTHENTICATED.
    pub fn principal(&self) -> Result<&Principal, AppError> {
        match &self.actor {
            Actor::Principal(p) => Ok(p),
            _ => Err(AppError::Unauthenticated),
        }
    }

    /// Whether the system itself asks (access is not checked).
    pub fn is_system(&self) -> bool {
        matches!(self.actor, Actor::System(_))
    }

    /// Whether an operator asks.
    pub fn is_operator(&self) -> bool {
        matches!(&self.actor, Actor::Principal(p) if p.kind == PrincipalKind::Operator)
    }

    /// The actor's name in metadata and idempotency records (`account:…`, `worker:sms`).
    pub fn actor_name(&self) -> String {
        match &self.actor {
            Actor::Anonymous => "anonymous".to_owned(),
            Actor::Principal(p) => p.actor(),
            Actor::System(name) => format!("worker:{name}"),
        }
    }

    pub(crate) fn context(&self) -> CommandContext {
        CommandContext {
            actor: self.actor_name(),
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
        }
    }
}
