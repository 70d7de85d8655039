//! The one mapping from errors to HTTP answers: `{"error": code, "message": text}` (API.md).
//!
//! An [`ApiError`] becomes a response carrying an [`ErrorBody`] extension; the [`localize`]
//! middleware, which sees the request's `Accept-Language`, writes the JSON with the message in
//! the caller's language. So handlers never choose a language, and every error, the router's
//! fallbacks included, has the same shape.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::case::TransitionError;
use crate::i18n::{self, Lang};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("not logged in")]
    Unauthenticated,
    #[error("forbidden for this role")]
    Forbidden,
    #[error("level of assurance too low")]
    LoaTooLow,
    /// A policy version's activation by its own author: a second federation administrator
    /// must activate it.
    #[error("four eyes required")]
    FourEyesRequired,
    /// Denied by policy on a case the caller may see; names the deciding rules.
    #[error("not eligible")]
    NotEligible { policies: Vec<String> },
    /// Denied by policy on a case the caller may see, for another reason than eligibility.
    #[error("denied by policy")]
    Denied { policies: Vec<String> },
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error(transparent)]
    Conflict(#[from] TransitionError),
    /// The thing to create exists already (a unique rule of the store).
    #[error("already exists")]
    AlreadyExists,
    /// 409 with its own code: the thing is not in a state that allows this (`in_use`,
    /// `not_a_draft`, `not_in_force`).
    #[error("conflict: {0}")]
    ConflictCode(&'static str),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("invalid field `{field}`")]
    InvalidField { field: String },
    /// A rule of API.md's 422 list, by its code (`unknown_category`, …).
    #[error("unprocessable: {0}")]
    Unprocessable(&'static str),
    /// A policy version that does not validate or fails its tests; the errors say why, and
    /// `at` (one entry per error, `None` where no place is known) where in the texts.
    #[error("policy invalid")]
    PolicyInvalid {
        errors: Vec<String>,
        at: Vec<Option<crate::policy::engine::Place>>,
    },
    /// Too many tries: 429 with `Retry-After` (seconds).
    #[error("rate limited")]
    RateLimited { retry_after: u64 },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Policy versions cannot be stored: the solver that proves them is not there (503).
    #[error("policy solver unavailable: {0}")]
    SolverUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// What the [`localize`] middleware turns into the JSON body.
#[derive(Clone, Debug)]
pub struct ErrorBody {
    pub code: &'static str,
    pub field: Option<String>,
    pub policies: Option<Vec<String>>,
    pub errors: Option<Vec<String>>,
    pub at: Option<Vec<Option<crate::policy::engine::Place>>>,
}

#[derive(Serialize)]
struct Wire<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policies: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<&'a [Option<crate::policy::engine::Place>]>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden
            | ApiError::FourEyesRequired
            | ApiError::LoaTooLow
            | ApiError::NotEligible { .. }
            | ApiError::Denied { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) | ApiError::AlreadyExists | ApiError::ConflictCode(_) => {
                StatusCode::CONFLICT
            }
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InvalidField { .. }
            | ApiError::Unprocessable(_)
            | ApiError::PolicyInvalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::SolverUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::Forbidden | ApiError::Denied { .. } => "forbidden",
            ApiError::LoaTooLow => "loa_too_low",
            ApiError::FourEyesRequired => "four_eyes_required",
            ApiError::NotEligible { .. } => "not_eligible",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(e) => match e {
                TransitionError::AlreadyClaimed => "already_claimed",
                TransitionError::AlreadyOffered => "already_offered",
                TransitionError::OfferExpired => "offer_expired",
                TransitionError::CapacityFull => "capacity_full",
                // The state machine's own owner check: the route's policy check lets only
                // owners through, so this is a race lost to a release or transfer.
                TransitionError::NotOwner | TransitionError::InvalidTransition { .. } => {
                    "invalid_transition"
                }
                TransitionError::AccessChanged => "access_changed",
            },
            ApiError::AlreadyExists => "already_exists",
            ApiError::ConflictCode(code) => code,
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::InvalidField { .. } => "invalid_field",
            ApiError::Unprocessable(code) => code,
            ApiError::PolicyInvalid { .. } => "policy_invalid",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::SolverUnavailable(_) => "solver_unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            // The detail goes to the log only; the caller gets the generic text.
            tracing::error!(error = %self, "request failed");
        }
        let retry_after = match &self {
            ApiError::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        };
        let body = ErrorBody {
            code: self.code(),
            field: match &self {
                ApiError::InvalidField { field } => Some(field.clone()),
                _ => None,
            },
            errors: match &self {
                ApiError::PolicyInvalid { errors, .. } => Some(errors.clone()),
                _ => None,
            },
            at: match &self {
                ApiError::PolicyInvalid { at, .. } => Some(at.clone()),
                _ => None,
            },
            policies: match self {
                ApiError::NotEligible { policies } | ApiError::Denied { policies } => {
                    Some(policies)
                }
                _ => None,
            },
        };
        let mut response = status.into_response();
        if let Some(seconds) = retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response.extensions_mut().insert(body);
        response
    }
}

/// Writes the JSON body of every error response in the language the caller asked for.
pub async fn localize(request: Request, next: Next) -> Response {
    let lang = Lang::negotiate(
        request
            .headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let response = next.run(request).await;
    let Some(body) = response.extensions().get::<ErrorBody>().cloned() else {
        return response;
    };
    let template = i18n::text(lang, &format!("error.{}", body.code));
    let message = match &body.field {
        Some(field) => template.replace("{field}", field),
        None => template.to_owned(),
    };
    let wire = Wire {
        error: body.code,
        message,
        field: body.field.as_deref(),
        policies: body.policies.as_deref(),
        errors: body.errors.as_deref(),
        at: body.at.as_deref(),
    };
    let (mut parts, _) = response.into_parts();
    let bytes = serde_json::to_vec(&wire).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(lang.code()),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every error a caller can get has its message in Swedish and English.
    #[test]
    fn every_error_has_a_message_in_both_languages() {
        let mut errors = vec![
            ApiError::MalformedJson(String::new()),
            ApiError::Unauthenticated,
            ApiError::Forbidden,
            ApiError::FourEyesRequired,
            ApiError::LoaTooLow,
            ApiError::NotEligible { policies: vec![] },
            ApiError::Denied { policies: vec![] },
            ApiError::NotFound,
            ApiError::MethodNotAllowed,
            ApiError::AlreadyExists,
            ApiError::PayloadTooLarge,
            ApiError::InvalidField { field: "x".into() },
            ApiError::PolicyInvalid {
                errors: vec![],
                at: vec![],
            },
            ApiError::RateLimited { retry_after: 1 },
            ApiError::Unavailable(String::new()),
            ApiError::SolverUnavailable(String::new()),
            ApiError::Internal(String::new()),
        ];
        for code in [
            "unknown_category",
            "unknown_language",
            "unknown_caseworker",
            "unknown_municipality",
            "invalid_personnummer",
            "municipality_required",
            "home_outside_federation",
            "constraint_violation",
        ] {
            errors.push(ApiError::Unprocessable(code));
        }
        for conflict in [
            TransitionError::AlreadyClaimed,
            TransitionError::AlreadyOffered,
            TransitionError::OfferExpired,
            TransitionError::CapacityFull,
            TransitionError::NotOwner,
            TransitionError::AccessChanged,
        ] {
            errors.push(ApiError::Conflict(conflict));
        }
        for error in errors {
            for lang in Lang::offered() {
                let key = format!("error.{}", error.code());
                assert!(!i18n::text(lang, &key).is_empty(), "{key} ({lang:?})");
            }
        }
        assert_eq!(
            ApiError::Conflict(TransitionError::AccessChanged).status(),
            StatusCode::CONFLICT
        );
        assert_eq!(ApiError::AlreadyExists.status(), StatusCode::CONFLICT);
    }
}
