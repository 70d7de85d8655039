//! Caseworkers' routes: the queue, claiming, the case thread, release, close, availability.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, CallerIn, CaseworkerAuth, family};
use super::views::{CaseworkerCaseView, CaseworkerView, QueueItemView};
use crate::domain::Principal;
use crate::domain::case::Outcome;
use crate::domain::people::Availability;
use crate::workflow::{TransferInput, Transferrer};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/queue", get(queue))
        .route("/api/v1/cases", get(mine))
        .route("/api/v1/cases/{id}", get(view))
        .route("/api/v1/cases/{id}/claim", post(claim))
        .route("/api/v1/cases/{id}/messages", post(write))
        .route("/api/v1/cases/{id}/release", post(release))
        .route("/api/v1/cases/{id}/close", post(close))
        .route("/api/v1/cases/{id}/transfer", post(transfer))
        .route("/api/v1/cases/{id}/harm-assessment", post(harm_assessment))
        .route("/api/v1/me/availability", put(availability).get(me))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    outcome: Outcome,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AvailabilityBody {
    status: Availability,
    #[serde(default)]
    capacity: Option<u32>,
}

async fn queue(
    State(app): State<AppState>,
    CaseworkerAuth(me): CaseworkerAuth,
) -> Result<Json<Vec<QueueItemView>>, ApiError> {
    let items = app.ctx.queue(&me).await?;
    Ok(Json(
        items.iter().map(|s| QueueItemView::from(&s.case)).collect(),
    ))
}

async fn mine(
    State(app): State<AppState>,
    CaseworkerAuth(me): CaseworkerAuth,
) -> Result<Json<Vec<CaseworkerCaseView>>, ApiError> {
    let cases = app.ctx.my_cases(&me).await?;
    Ok(Json(
        cases.iter().map(CaseworkerCaseView::summary).collect(),
    ))
}

async fn view(
    State(app): State<AppState>,
    CaseworkerAuth(me): CaseworkerAuth,
    Path(id): Path<String>,
) -> Result<Json<CaseworkerCaseView>, ApiError> {
    let view = app.ctx.view_case(&me, &id).await?;
    Ok(Json(CaseworkerCaseView::full(&view)))
}

async fn claim(
    State(app): State<AppState>,
    CaseworkerAuth(me): CaseworkerAuth,
    Path(id): Path<String>,
) -> Result<Json<CaseworkerCaseView>, ApiError> {
    let shown = app.ctx.claim(&me, &id).await?;
    Ok(Json(CaseworkerCaseView::summary(&shown)))
}

async fn write(
    State(app): State<AppState>,
    CaseworkerAuth(me): CaseworkerAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MessageBody>,
) -> Result<(StatusCode, Json<CaseworkerCaseView>), ApiError> {
    let shown = app.ctx.caseworker_writes(&me, &id, &body.text).await?;
    Ok((
        StatusCode::CREATED,
        Json(CaseworkerCaseView::summary(&shown)),
    ))
}

async fn release(
    State(app): State<AppState>,
    CaseworkerAuth(me): CaseworkerAuth,
    Path(id): Path<String>,
) -> Result<Json<CaseworkerCaseView>, ApiError> {
    let shown = app.ctx.release(&me, &id).await?;
    Ok(Json(CaseworkerCaseView::summary(&shown)))
}

async fn close(
    State(app): State<AppState>,
    CaseworkerAuth(me): CaseworkerAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CloseBody>,
) -> Result<Json<CaseworkerCaseView>, ApiError> {
    let shown = app.ctx.close(&me, &id, body.outcome).await?;
    Ok(Json(CaseworkerCaseView::summary(&shown)))
}

async fn me(CaseworkerAuth(me): CaseworkerAuth) -> Json<CaseworkerView> {
    Json(CaseworkerView::from(&me))
}

async fn availability(
    State(app): State<AppState>,
    CaseworkerAuth(me): CaseworkerAuth,
    ApiJson(body): ApiJson<AvailabilityBody>,
) -> Result<Json<CaseworkerView>, ApiError> {
    let updated = app
        .ctx
        .set_availability(&me, body.status, body.capacity)
        .await?;
    Ok(Json(CaseworkerView::from(&updated)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HarmAssessmentBody {
    cross_border_ok: bool,
    reason: String,
}

/// A home caseworker records whether a request with sekretessmarkering may leave home (R12).
async fn harm_assessment(
    State(app): State<AppState>,
    CaseworkerAuth(me): CaseworkerAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<HarmAssessmentBody>,
) -> Result<(axum::http::StatusCode, Json<serde_json::Value>), ApiError> {
    let case = app
        .ctx
        .record_harm_assessment(&me, &id, body.cross_border_ok, &body.reason)
        .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(serde_json::json!({
            "id": case.id,
            "harm_assessment": case.harm_assessment.map(|h| h.as_str()),
            "state": case.state,
        })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    #[serde(default)]
    municipality: Option<String>,
    #[serde(default)]
    caseworker_id: Option<String>,
    reason: String,
}

/// The owner, or an administrator of the case's home (or of the federation), moves the case;
/// an integration token only with `cases:write`.
async fn transfer(
    State(app): State<AppState>,
    CallerIn { caller, .. }: CallerIn<family::CasesWrite>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TransferBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let input = TransferInput {
        municipality: body.municipality,
        caseworker_id: body.caseworker_id,
        reason: body.reason,
    };
    let case = match caller.map(|c| c.principal) {
        None => return Err(ApiError::Unauthenticated),
        Some(Principal::Caseworker { caseworker_id, .. }) => {
            let me = app
                .ctx
                .caseworker(&caseworker_id)
                .await
                .map_err(|_| ApiError::Unauthenticated)?;
            let case = app
                .ctx
                .transfer(Transferrer::Caseworker(&me), &id, input)
                .await?;
            let shown = crate::workflow::Shown {
                identity: case.is_owned_by(&me.id),
                case,
                ground: Vec::new(),
            };
            serde_json::to_value(CaseworkerCaseView::summary(&shown))
        }
        Some(Principal::Admin(admin)) => {
            let case = app
                .ctx
                .transfer(Transferrer::Admin(&admin), &id, input)
                .await?;
            serde_json::to_value(QueueItemView::from(&case))
        }
        Some(Principal::Citizen(_)) => return Err(ApiError::Forbidden),
    };
    case.map(Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}
