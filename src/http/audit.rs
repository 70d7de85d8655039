//! Administrators' audit routes: the trail (filtered), its verification, and the follow-up
//! report of unusual access (JSON or CSV).

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::{AdminAuth, AdminIn, family};
use crate::audit::AuditEntry;
use crate::workflow::{AuditSearch, Finding, Verification};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/audit", get(list))
        .route("/api/v1/admin/audit/verify", get(verify))
        .route("/api/v1/admin/audit/follow-up", get(follow_up))
        .route("/api/v1/admin/retention", axum::routing::post(retention))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    #[serde(default)]
    case: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    municipality: Option<String>,
    #[serde(default)]
    from: Option<DateTime<Utc>>,
    #[serde(default)]
    to: Option<DateTime<Utc>>,
    #[serde(default)]
    limit: Option<u32>,
}

#[derive(Serialize)]
pub struct AuditView {
    pub id: i64,
    pub municipality: String,
    pub seq: Option<i64>,
    pub at: DateTime<Utc>,
    pub actor: String,
    /// The acting person's name, where the event has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    pub role: Option<String>,
    pub actor_municipality: Option<String>,
    pub action: String,
    pub case_id: Option<String>,
    /// The legal ground: the policies that decided.
    pub policies: Vec<String>,
    pub request_id: Option<String>,
    pub detail: serde_json::Value,
}

impl From<AuditEntry> for AuditView {
    fn from(r: AuditEntry) -> Self {
        AuditView {
            id: r.id,
            municipality: r.municipality,
            seq: r.seq,
            at: r.at,
            actor: r.actor,
            actor_name: r.actor_name,
            role: r.role,
            actor_municipality: r.actor_municipality,
            action: r.action,
            case_id: r.case_id,
            policies: r.policies,
            request_id: r.request_id,
            detail: r.detail,
        }
    }
}

/// A municipality's administrators read their municipality's chain (its cases' events, the
/// controller's); federation administrators read every chain.
async fn list(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::AuditRead>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<AuditView>>, ApiError> {
    let events = app
        .ctx
        .audit_trail(
            &admin,
            AuditSearch {
                case: query.case,
                actor: query.actor,
                municipality: query.municipality,
                from: query.from,
                to: query.to,
                limit: query.limit.unwrap_or(500).min(5000),
            },
        )
        .await?;
    Ok(Json(events.into_iter().map(AuditView::from).collect()))
}

#[derive(Serialize)]
struct FindingView {
    reason: &'static str,
    event: AuditView,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FollowUpQuery {
    #[serde(default)]
    from: Option<DateTime<Utc>>,
    #[serde(default)]
    to: Option<DateTime<Utc>>,
    /// `json` (default) or `csv`.
    #[serde(default)]
    format: Option<String>,
}

/// Unusual access for follow-up (R15): cases opened by caseworkers who never had them,
/// refused attempts, and every access to protected-identity cases.
async fn follow_up(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::AuditRead>,
    Query(query): Query<FollowUpQuery>,
) -> Result<Response, ApiError> {
    let findings = app.ctx.follow_up(&admin, query.from, query.to).await?;
    match query.format.as_deref() {
        None | Some("json") => Ok(Json(
            findings
                .into_iter()
                .map(|f| FindingView {
                    reason: f.reason,
                    event: AuditView::from(f.event),
                })
                .collect::<Vec<_>>(),
        )
        .into_response()),
        Some("csv") => follow_up_csv(findings),
        Some(_) => Err(ApiError::InvalidField {
            field: "format".into(),
        }),
    }
}

/// The follow-up report as CSV, one row per finding: the API's `?format=csv` and the
/// administrators' page's download (`/admin/audit/follow-up.csv`) answer the same columns.
pub(crate) fn follow_up_csv(findings: Vec<Finding>) -> Result<Response, ApiError> {
    csv(
        &[
            "reason",
            "at",
            "municipality",
            "seq",
            "actor",
            "actor_name",
            "role",
            "actor_municipality",
            "action",
            "case_id",
            "policies",
        ],
        findings.into_iter().map(|f| {
            let policies = f.event.policies.join(" ");
            vec![
                f.reason.to_owned(),
                f.event.at.to_rfc3339(),
                f.event.municipality,
                f.event.seq.map(|s| s.to_string()).unwrap_or_default(),
                f.event.actor,
                f.event.actor_name.unwrap_or_default(),
                f.event.role.unwrap_or_default(),
                f.event.actor_municipality.unwrap_or_default(),
                f.event.action,
                f.event.case_id.unwrap_or_default(),
                policies,
            ]
        }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionBody {
    dry_run: bool,
}

/// Runs retention now (federation administrators in person; no token scope opens it), or lists
/// what it would thin.
async fn retention(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    super::extract::ApiJson(body): super::extract::ApiJson<RetentionBody>,
) -> Result<Json<Vec<crate::workflow::RetentionItem>>, ApiError> {
    Ok(Json(app.ctx.retention_by(&admin, body.dry_run).await?))
}

async fn verify(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::AuditRead>,
) -> Result<Json<Verification>, ApiError> {
    Ok(Json(app.ctx.verify_audit(&admin).await?))
}

/// CSV (RFC 4180) with a header row.
pub fn csv(
    header: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> Result<Response, ApiError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| ApiError::Internal(format!("csv: {e}"));
    writer.write_record(header).map_err(fail)?;
    for row in rows {
        writer.write_record(&row).map_err(fail)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| ApiError::Internal(format!("csv: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], bytes).into_response())
}
