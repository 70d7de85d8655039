//! Caseworkers managed by administrators (API.md "Administrators", issue 21):
//! `GET/POST /api/v1/admin/caseworkers`, `GET/PUT/DELETE /api/v1/admin/caseworkers/{id}`.
//! A municipality's administrators manage their own staff, the federation's everyone's; an
//! integration token gets in with `caseworkers:read` (GET) or `caseworkers:write` (the rest),
//! and the gate still decides.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::{AdminIn, ApiJson, family};
use crate::domain::people::StaffMember;
use crate::workflow::{CaseworkerChange, NewCaseworker};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/caseworkers", get(list).post(create))
        .route(
            "/api/v1/admin/caseworkers/{id}",
            get(show).put(change).delete(deactivate),
        )
}

/// A `/demo/caseworkers` item, with what administrators manage besides.
#[derive(Serialize)]
pub(super) struct CaseworkerView {
    id: String,
    name: String,
    municipality: String,
    skills: Vec<String>,
    languages: Vec<String>,
    /// The working capacity (the caseworker may lower it themselves).
    capacity: u32,
    /// The most open cases an administrator allows them.
    max_capacity: u32,
    protected_identity_clearance: bool,
    supervisor: bool,
    /// `available` or `away`.
    availability: &'static str,
    /// `false` once deactivated: they can neither log in nor act nor be routed to.
    active: bool,
    /// The `sub` of their staff login, once known.
    subject: Option<String>,
    last_assigned_at: Option<DateTime<Utc>>,
}

impl From<&StaffMember> for CaseworkerView {
    fn from(m: &StaffMember) -> Self {
        let c = &m.caseworker;
        CaseworkerView {
            id: c.id.as_str().to_owned(),
            name: c.name.clone(),
            municipality: c.municipality.as_str().to_owned(),
            skills: c.skills.iter().map(|s| s.as_str().to_owned()).collect(),
            languages: c.languages.iter().map(|l| l.as_str().to_owned()).collect(),
            capacity: c.capacity,
            max_capacity: c.max_capacity,
            protected_identity_clearance: c.protected_identity_clearance,
            supervisor: c.supervisor,
            availability: c.status.as_str(),
            active: m.active,
            subject: m.subject.clone(),
            last_assigned_at: c.last_assigned_at,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBody {
    name: String,
    municipality: String,
    skills: Vec<String>,
    languages: Vec<String>,
    capacity: u32,
    #[serde(default)]
    protected_identity_clearance: bool,
    #[serde(default)]
    supervisor: bool,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

/// Every field optional: what is given changes, the rest stays.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    skills: Option<Vec<String>>,
    #[serde(default)]
    languages: Option<Vec<String>>,
    /// The maximum (`max_capacity`).
    #[serde(default)]
    capacity: Option<u32>,
    #[serde(default)]
    max_capacity: Option<u32>,
    #[serde(default)]
    protected_identity_clearance: Option<bool>,
    #[serde(default)]
    supervisor: Option<bool>,
    /// `available` or `away`.
    #[serde(default)]
    availability: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    /// `false` deactivates (as `DELETE`); `true` brings a deactivated caseworker back.
    #[serde(default)]
    active: Option<bool>,
}

#[derive(Deserialize)]
struct ListQuery {
    municipality: Option<String>,
}

async fn list(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::CaseworkersRead>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<CaseworkerView>>, ApiError> {
    let staff = app
        .ctx
        .staff_list(&admin, query.municipality.as_deref())
        .await?;
    Ok(Json(staff.iter().map(CaseworkerView::from).collect()))
}

async fn show(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::CaseworkersRead>,
    Path(id): Path<String>,
) -> Result<Json<CaseworkerView>, ApiError> {
    let member = app.ctx.staff_member(&admin, &id).await?;
    Ok(Json(CaseworkerView::from(&member)))
}

async fn create(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::CaseworkersWrite>,
    ApiJson(body): ApiJson<NewBody>,
) -> Result<(StatusCode, Json<CaseworkerView>), ApiError> {
    let member = app
        .ctx
        .create_caseworker(
            &admin,
            NewCaseworker {
                name: body.name,
                municipality: body.municipality,
                skills: body.skills,
                languages: body.languages,
                capacity: body.capacity,
                protected_identity_clearance: body.protected_identity_clearance,
                supervisor: body.supervisor,
                subject: body.subject,
                id: body.id,
                user_name: None,
                external_id: None,
                active: true,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(CaseworkerView::from(&member))))
}

async fn change(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::CaseworkersWrite>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ChangeBody>,
) -> Result<Json<CaseworkerView>, ApiError> {
    let member = app
        .ctx
        .change_caseworker(
            &admin,
            &id,
            CaseworkerChange {
                name: body.name,
                skills: body.skills,
                languages: body.languages,
                capacity: body.max_capacity.or(body.capacity),
                protected_identity_clearance: body.protected_identity_clearance,
                supervisor: body.supervisor,
                availability: body.availability,
                subject: body.subject,
                user_name: None,
                external_id: None,
                active: body.active,
            },
        )
        .await?;
    Ok(Json(CaseworkerView::from(&member)))
}

/// Deactivation, never a deletion: `200` with the caseworker as they now stand.
async fn deactivate(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::CaseworkersWrite>,
    Path(id): Path<String>,
) -> Result<Json<CaseworkerView>, ApiError> {
    let member = app.ctx.deactivate_caseworker(&admin, &id).await?;
    Ok(Json(CaseworkerView::from(&member)))
}
