//! Administrators' routes of the router: routing settings per category, and the routing trace
//! of a case.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{AdminIn, ApiJson, family};
use crate::domain::Administrator;
use crate::routing::settings::CategoryRouting;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/routing", get(settings).put(put_settings))
        .route("/api/v1/admin/cases/{id}/routing", get(traces))
}

#[derive(Serialize)]
struct SettingsView {
    categories: Vec<CategoryRouting>,
}

async fn settings(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::RoutingRead>,
) -> Result<Json<SettingsView>, ApiError> {
    settings_for(&app, &admin).await
}

async fn settings_for(
    app: &AppState,
    admin: &Administrator,
) -> Result<Json<SettingsView>, ApiError> {
    let settings = app.ctx.routing_settings_for(admin).await?;
    Ok(Json(SettingsView {
        categories: settings.all().cloned().collect(),
    }))
}

/// Federation administrators only: the settings are shared by every member (a token with
/// `routing:write` gets past its scope and is then refused by the gate, as a token never
/// administers the federation).
async fn put_settings(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::RoutingWrite>,
    ApiJson(body): ApiJson<Vec<CategoryRouting>>,
) -> Result<Json<SettingsView>, ApiError> {
    app.ctx.set_routing_settings(&admin, &body).await?;
    settings_for(&app, &admin).await
}

#[derive(Serialize)]
struct TraceView {
    at: DateTime<Utc>,
    trace: serde_json::Value,
}

/// Every routing decision about the case, oldest first. A municipality administrator sees the
/// cases whose home is theirs; others get 404.
async fn traces(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::RoutingRead>,
    Path(id): Path<String>,
) -> Result<Json<Vec<TraceView>>, ApiError> {
    let traces = app.ctx.routing_traces(&admin, &id).await?;
    Ok(Json(
        traces
            .into_iter()
            .map(|t| TraceView {
                at: t.at,
                trace: t.trace,
            })
            .collect(),
    ))
}
