//! Citizens' routes: submit a request, read it, write in its thread, cancel it, list their own.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, CitizenAuth, CitizenSide, MaybePrincipal};
use super::views::{ConsentHistoryView, RequestView, SubmittedView};
use crate::domain::Principal;
use crate::i18n::Lang;
use crate::workflow::{ConsentInput, SubmitInput};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/requests", post(submit))
        .route("/api/v1/requests/{id}", get(view))
        .route("/api/v1/requests/{id}/messages", post(write))
        .route("/api/v1/requests/{id}/cancel", post(cancel))
        .route("/api/v1/requests/{id}/consent", put(consent))
        .route("/api/v1/me/requests", get(mine))
        .route("/api/v1/me/export", get(export))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentBody {
    cross_municipality: bool,
    #[serde(default)]
    municipalities: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    category: String,
    language: String,
    text: String,
    consent: ConsentBody,
    #[serde(default)]
    municipality: Option<String>,
    #[serde(default)]
    child_municipality: Option<String>,
    /// The citizen says it is urgent.
    #[serde(default)]
    urgent: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    text: String,
}

fn lang(headers: &HeaderMap) -> Lang {
    Lang::negotiate(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

/// Without a token the request is anonymous (R1); staff cannot submit as citizens.
async fn submit(
    State(app): State<AppState>,
    MaybePrincipal(principal): MaybePrincipal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SubmitBody>,
) -> Result<(StatusCode, Json<SubmittedView>), ApiError> {
    let citizen = match principal {
        None => None,
        Some(Principal::Citizen(c)) => Some(c),
        Some(_) => return Err(ApiError::Forbidden),
    };
    let input = SubmitInput {
        category: body.category,
        language: body.language,
        text: body.text,
        consent: ConsentInput {
            cross_municipality: body.consent.cross_municipality,
            municipalities: body.consent.municipalities,
        },
        municipality: body.municipality,
        child_municipality: body.child_municipality,
        urgent: body.urgent,
    };
    let submitted = app.ctx.submit(citizen.as_ref(), input).await?;
    Ok((
        StatusCode::CREATED,
        Json(SubmittedView::new(submitted, lang(&headers))),
    ))
}

async fn view(
    State(app): State<AppState>,
    CitizenSide(key): CitizenSide,
    Path(id): Path<String>,
) -> Result<Json<RequestView>, ApiError> {
    let view = app.ctx.view_request(&key, &id).await?;
    Ok(Json(RequestView::full(&view)))
}

async fn write(
    State(app): State<AppState>,
    CitizenSide(key): CitizenSide,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MessageBody>,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let case = app.ctx.citizen_writes(&key, &id, &body.text).await?;
    Ok((StatusCode::CREATED, Json(RequestView::summary(&case))))
}

async fn cancel(
    State(app): State<AppState>,
    CitizenSide(key): CitizenSide,
    Path(id): Path<String>,
) -> Result<Json<RequestView>, ApiError> {
    let case = app.ctx.cancel(&key, &id).await?;
    Ok(Json(RequestView::summary(&case)))
}

/// Gives, narrows or withdraws consent to cross-municipality handling; a withdrawal takes
/// effect at once (R9) and the history is kept.
async fn consent(
    State(app): State<AppState>,
    CitizenSide(key): CitizenSide,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ConsentBody>,
) -> Result<Json<ConsentHistoryView>, ApiError> {
    let history = app
        .ctx
        .set_consent(
            &key,
            &id,
            ConsentInput {
                cross_municipality: body.cross_municipality,
                municipalities: body.municipalities,
            },
        )
        .await?;
    ConsentHistoryView::new(&history)
        .map(Json)
        .ok_or_else(|| ApiError::Internal("a request without consent history".into()))
}

/// Everything stored about the caller (R19).
async fn export(
    State(app): State<AppState>,
    CitizenAuth(citizen): CitizenAuth,
) -> Result<Json<crate::workflow::Export>, ApiError> {
    Ok(Json(app.ctx.export(&citizen).await?))
}

async fn mine(
    State(app): State<AppState>,
    CitizenAuth(citizen): CitizenAuth,
) -> Result<Json<Vec<RequestView>>, ApiError> {
    let shown = app.ctx.my_requests(&citizen).await?;
    Ok(Json(
        shown
            .iter()
            .map(|s| RequestView::summary(&s.case))
            .collect(),
    ))
}
