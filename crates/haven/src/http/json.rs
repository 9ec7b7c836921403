//! `AppJson`: axum's `Json`, with every rejection turned into Haven's error envelope.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::{AppError, Details, ErrorCode};

/// A JSON request or response body. Request types should `#[serde(deny_unknown_fields)]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(rejection_to_error(&rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

fn rejection_to_error(rejection: &JsonRejection) -> AppError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => AppError::new(
            ErrorCode::UnsupportedMediaType,
            ErrorCode::UnsupportedMediaType.default_message(),
        ),
        JsonRejection::JsonSyntaxError(_) => AppError::invalid_field("body", "is not valid JSON"),
        JsonRejection::JsonDataError(error) => data_error(&error.body_text()),
        JsonRejection::BytesRejection(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            AppError::new(
                ErrorCode::PayloadTooLarge,
                ErrorCode::PayloadTooLarge.default_message(),
            )
        }
        _ => AppError::invalid_field("body", "could not be read"),
    }
}

/// Turns serde's description of a shape mismatch into `details`. serde quotes the offending
/// value in some messages; those quotes are dropped so input is never echoed back.
fn data_error(text: &str) -> AppError {
    let text = text
        .strip_prefix("Failed to deserialize the JSON body into the target type: ")
        .unwrap_or(text);
    let (path, problem) = match text.split_once(": ") {
        Some((path, problem)) if !path.contains(' ') => (path, problem),
        _ => ("body", text),
    };
    let problem = strip_location(problem);
    if let Some(field) = backticked(problem, "unknown field `") {
        return AppError::validation(
            format!("unknown field: {field}"),
            Details::from([(field.to_owned(), "is not a known field".to_owned())]),
        );
    }
    if let Some(field) = backticked(problem, "missing field `") {
        let field = join_path(path, field);
        return AppError::validation(
            format!("{field}: is required"),
            Details::from([(field, "is required".to_owned())]),
        );
    }
    let problem = redact_quoted(problem);
    AppError::validation(
        format!("{path}: {problem}"),
        Details::from([(path.to_owned(), problem)]),
    )
}

fn backticked<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(prefix)?;
    rest.split_once('`').map(|(name, _)| name)
}

fn join_path(path: &str, field: &str) -> String {
    if path == "body" || path == "." {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

fn strip_location(problem: &str) -> &str {
    problem
        .find(" at line ")
        .map_or(problem, |at| &problem[..at])
}

fn redact_quoted(problem: &str) -> String {
    let mut out = String::with_capacity(problem.len());
    let mut in_quote = false;
    for c in problem.chars() {
        if c == '"' {
            if in_quote {
                out.push_str("\"…\"");
            }
            in_quote = !in_quote;
        } else if !in_quote {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(error: AppError) -> (String, Details) {
        let AppError::Client(body) = error else {
            panic!("expected a client error");
        };
        (
            body.message().to_owned(),
            body.details().cloned().unwrap_or_default(),
        )
    }

    #[test]
    fn unknown_and_missing_fields_are_named_in_details() {
        let (message, details) = body(data_error("unknown field `rol`, expected one of `role`"));
        assert_eq!(message, "unknown field: rol");
        assert_eq!(details["rol"], "is not a known field");

        let (_, details) = body(data_error("missing field `email` at line 1 column 2"));
        assert_eq!(details["email"], "is required");
    }

    #[test]
    fn type_errors_name_the_path_and_never_echo_the_value() {
        let (message, details) = body(data_error(
            "patient.firstName: invalid type: string \"Jane Doe\", expected u32 at line 1 column 30",
        ));
        assert!(!message.contains("Jane"), "{message}");
        assert_eq!(
            details["patient.firstName"],
            "invalid type: string \"…\", expected u32"
        );
    }
}
