//! Caseworkers' routes: the queue, claiming, the case thread, release, close, availability.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, CaseworkerAuth};
use super::views::{CaseworkerCaseView, CaseworkerView, QueueItemView};
use crate::domain::case::Outcome;
use crate::domain::people::Availability;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/queue", get(queue))
        .route("/api/v1/cases", get(mine))
        .route("/api/v1/cases/{id}", get(view))
        .route("/api/v1/cases/{id}/claim", post(claim))
        .route("/api/v1/cases/{id}/messages", post(write))
        .route("/api/v1/cases/{id}/release", post(release))
        .route("/api/v1/cases/{id}/close", post(close))
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
    Ok(Json(items.iter().map(QueueItemView::from).collect()))
}

async fn mine(
    State(app): State<AppState>,
    CaseworkerAuth(me): CaseworkerAuth,
) -> Result<Json<Vec<CaseworkerCaseView>>, ApiError> {
    let cases = app.ctx.my_cases(&me).await?;
    Ok(Json(
        cases
            .iter()
            .map(|c| CaseworkerCaseView::summary(c, &me))
            .collect(),
    ))
}

async fn view(
    State(app): State<AppState>,
    CaseworkerAuth(me): CaseworkerAuth,
    Path(id): Path<String>,
) -> Result<Json<CaseworkerCaseView>, ApiError> {
    let view = app.ctx.view_case(&me, &id).await?;
    Ok(Json(CaseworkerCaseView::full(&view, &me)))
}

async fn claim(
    State(app): State<AppState>,
    CaseworkerAuth(me): CaseworkerAuth,
    Path(id): Path<String>,
) -> Result<Json<CaseworkerCaseView>, ApiError> {
    let case = app.ctx.claim(&me, &id).await?;
    Ok(Json(CaseworkerCaseView::summary(&case, &me)))
}

async fn write(
    State(app): State<AppState>,
    CaseworkerAuth(me): CaseworkerAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MessageBody>,
) -> Result<(StatusCode, Json<CaseworkerCaseView>), ApiError> {
    let case = app.ctx.caseworker_writes(&me, &id, &body.text).await?;
    Ok((
        StatusCode::CREATED,
        Json(CaseworkerCaseView::summary(&case, &me)),
    ))
}

async fn release(
    State(app): State<AppState>,
    CaseworkerAuth(me): CaseworkerAuth,
    Path(id): Path<String>,
) -> Result<Json<CaseworkerCaseView>, ApiError> {
    let case = app.ctx.release(&me, &id).await?;
    Ok(Json(CaseworkerCaseView::summary(&case, &me)))
}

async fn close(
    State(app): State<AppState>,
    CaseworkerAuth(me): CaseworkerAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CloseBody>,
) -> Result<Json<CaseworkerCaseView>, ApiError> {
    let case = app.ctx.close(&me, &id, body.outcome).await?;
    Ok(Json(CaseworkerCaseView::summary(&case, &me)))
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
