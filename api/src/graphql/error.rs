//! One place that turns refusals into GraphQL errors with `extensions.code` (and `field`).
//! Internal failures are logged and never shown.

use async_graphql::ErrorExtensions;

use crate::command::CommandError;
use domain::DomainError;

/// A GraphQL error with a code.
pub fn coded(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message.into()).extend_with(|_, e| e.set("code", code))
}

pub fn unauthenticated() -> async_graphql::Error {
    coded("UNAUTHENTICATED", "a valid bearer token is required")
}

pub fn forbidden() -> async_graphql::Error {
    coded("FORBIDDEN", "not allowed for this principal")
}

pub fn not_found(what: &str) -> async_graphql::Error {
    coded("NOT_FOUND", format!("{what} not found"))
}

pub fn validation(field: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message.into()).extend_with(|_, e| {
        e.set("code", "VALIDATION");
        e.set("field", field);
    })
}

/// An internal failure: logged with the correlation id, answered as INTERNAL.
pub fn internal(error: impl std::fmt::Display) -> async_graphql::Error {
    tracing::error!(error = %error, "internal error");
    coded("INTERNAL", "internal error")
}

impl From<DomainError> for GqlError {
    fn from(e: DomainError) -> Self {
        let message = e.to_string();
        let code = e.code();
        let field = e.field();
        let mut err = async_graphql::Error::new(message).extend_with(|_, x| x.set("code", code));
        if let Some(field) = field {
            err = err.extend_with(|_, x| x.set("field", field));
        }
        if let DomainError::SeatsExhausted { available, .. } = e {
            err = err.extend_with(|_, x| x.set("available", available));
        }
        GqlError(err)
    }
}

impl From<CommandError> for GqlError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Domain(d) => d.into(),
            CommandError::Conflict(_) => GqlError(coded("CONFLICT", e.to_string())),
            CommandError::Store(s) => GqlError(internal(s)),
        }
    }
}

impl From<sqlx::Error> for GqlError {
    fn from(e: sqlx::Error) -> Self {
        GqlError(internal(e))
    }
}

impl From<eventstore::Error> for GqlError {
    fn from(e: eventstore::Error) -> Self {
        GqlError(internal(e))
    }
}

impl From<async_graphql::Error> for GqlError {
    fn from(e: async_graphql::Error) -> Self {
        GqlError(e)
    }
}

/// Our errors on their way to a GraphQL error with a code. (async-graphql turns any
/// `Display` error into a code-less one through `?`; this keeps the codes.)
pub struct GqlError(pub async_graphql::Error);

/// `.gql()?` in resolvers: converts with codes.
pub trait Gql<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T, E: Into<GqlError>> Gql<T> for Result<T, E> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| e.into().0)
    }
}
