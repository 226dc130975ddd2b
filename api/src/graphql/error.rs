//! GraphQL errors from the application's errors: `extensions.code` from the one table in
//! `app::error` (and `field` for validation). Internal failures are logged, never shown.

use app::{AppError, ErrorCode};
use async_graphql::ErrorExtensions;
use domain::DomainError;

/// A GraphQL error with a code.
pub fn coded(code: ErrorCode, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message.into()).extend_with(|_, e| e.set("code", code.as_str()))
}

pub fn forbidden() -> async_graphql::Error {
    gql_error(AppError::Forbidden)
}

pub fn not_found(what: &'static str) -> async_graphql::Error {
    gql_error(AppError::not_found(what))
}

pub fn validation(field: &'static str, message: impl Into<String>) -> async_graphql::Error {
    gql_error(AppError::invalid(field, message))
}

/// An internal failure: logged, answered as INTERNAL.
pub fn internal(error: impl std::fmt::Display) -> async_graphql::Error {
    gql_error(AppError::Internal(error.to_string()))
}

/// A read model lookup that failed: busy (UNAVAILABLE) or broken (INTERNAL).
pub fn loader_error(error: std::sync::Arc<sqlx::Error>) -> async_graphql::Error {
    match std::sync::Arc::try_unwrap(error) {
        Ok(e) => gql_error(AppError::Database(e)),
        Err(shared) if app::error::is_overloaded(&shared) => {
            gql_error(AppError::Database(sqlx::Error::PoolTimedOut))
        }
        Err(shared) => internal(shared),
    }
}

/// The GraphQL error of an application error.
pub fn gql_error(e: AppError) -> async_graphql::Error {
    let code = e.code();
    let field = e.field();
    let mut err = coded(code, e.public_message());
    if let Some(field) = field {
        err = err.extend_with(|_, x| x.set("field", field));
    }
    if let AppError::Refused(DomainError::SeatsExhausted { available, .. }) = e {
        err = err.extend_with(|_, x| x.set("available", available));
    }
    err
}

/// `.gql()?` in resolvers: converts with codes. (async-graphql turns any `Display` error
/// into a code-less one through `?`; this keeps the codes.)
pub trait Gql<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T, E: Into<AppError>> Gql<T> for Result<T, E> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| gql_error(e.into()))
    }
}
