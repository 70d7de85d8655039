//! Offers (push mode): a case reserved for one caseworker, who accepts or rejects it before
//! it expires.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::extract::CaseworkerAuth;
use super::views::CaseworkerCaseView;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/offers", get(list))
        .route("/api/v1/offers/{offer_id}/accept", post(accept))
        .route("/api/v1/offers/{offer_id}/reject", post(reject))
}

/// Non-identifying metadata only, as for queue items (R8).
#[derive(Serialize)]
struct OfferView {
    offer_id: String,
    id: String,
    category: String,
    language: String,
    urgent: bool,
    home: String,
    expires_at: DateTime<Utc>,
    interpreter_needed: bool,
}

#[derive(Serialize)]
struct Rejected {
    offer_id: String,
    outcome: &'static str,
}

async fn list(
    State(app): State<AppState>,
    CaseworkerAuth(me): CaseworkerAuth,
) -> Result<Json<Vec<OfferView>>, ApiError> {
    let offers = app.ctx.offers(&me).await?;
    Ok(Json(
        offers
            .into_iter()
            .map(|(offer, shown)| OfferView {
                offer_id: offer.id.into(),
                id: shown.case.id.into(),
                category: shown.case.category.into(),
                language: shown.case.language.into(),
                urgent: shown.case.urgent,
                home: shown.case.home.into(),
                expires_at: offer.expires_at,
                interpreter_needed: shown.case.interpreter_needed,
            })
            .collect(),
    ))
}

async fn accept(
    State(app): State<AppState>,
    CaseworkerAuth(me): CaseworkerAuth,
    Path(offer_id): Path<String>,
) -> Result<Json<CaseworkerCaseView>, ApiError> {
    let shown = app.ctx.accept_offer(&me, &offer_id).await?;
    Ok(Json(CaseworkerCaseView::summary(&shown)))
}

async fn reject(
    State(app): State<AppState>,
    CaseworkerAuth(me): CaseworkerAuth,
    Path(offer_id): Path<String>,
) -> Result<Json<Rejected>, ApiError> {
    app.ctx.reject_offer(&me, &offer_id).await?;
    Ok(Json(Rejected {
        offer_id,
        outcome: "rejected",
    }))
}
