//! `AppQuery` and `AppPath`: axum's extractors with rejections in the error envelope.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::AppError;

/// Query string parameters. Types should `#[serde(deny_unknown_fields)]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AppQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|rejection: QueryRejection| {
                let text = rejection.body_text();
                let problem = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                match problem.split_once(": ") {
                    Some((field, why)) if !field.contains(' ') => {
                        AppError::invalid_field(field, why)
                    }
                    _ => AppError::invalid_field("query", problem),
                }
            })
    }
}

/// Path parameters; a malformed id answers 400 naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for AppPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(|_: PathRejection| AppError::invalid_field("id", "must be a UUID"))
    }
}
