//! Integration tokens: long-lived bearer tokens that administrators create for systems that
//! call Brygga's API (hashed at rest, scoped `read` or `read`+`write`, revocable, audited).
//! A token acts as an administrator of the municipality that created it.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::extract::{AdminAuth, ApiJson};
use crate::auth::{self, Principal, TokenRequest};
use crate::store::{ApiTokenRecord, NewAuditEvent};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/tokens", get(list).post(create))
        .route("/api/v1/admin/tokens/{id}", delete(revoke))
}

/// The longest an integration token may live, in days.
const MAX_DAYS: u32 = 730;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    /// `["read"]` or `["read", "write"]`.
    scopes: Vec<String>,
    #[serde(default)]
    days: Option<u32>,
}

#[derive(Serialize)]
struct TokenView {
    id: String,
    name: Option<String>,
    scopes: Vec<String>,
    /// The municipality the token acts for; absent for the federation.
    #[serde(skip_serializing_if = "Option::is_none")]
    municipality: Option<String>,
    created_by: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
struct Created {
    /// Shown once; only its hash is stored.
    token: String,
    #[serde(flatten)]
    view: TokenView,
}

fn acting_for(record: &ApiTokenRecord) -> Option<String> {
    match serde_json::from_value::<Principal>(record.principal.0.clone()) {
        Ok(Principal::Admin { municipality }) => municipality,
        _ => None,
    }
}

fn view(record: &ApiTokenRecord) -> TokenView {
    TokenView {
        id: record.id.clone(),
        name: record.name.clone(),
        scopes: record.scopes.0.clone(),
        municipality: acting_for(record),
        created_by: record.created_by.clone(),
        created_at: record.created_at,
        expires_at: record.expires_at,
        revoked_at: record.revoked_at,
    }
}

fn actor(municipality: Option<&str>) -> String {
    format!("admin:{}", municipality.unwrap_or("federation"))
}

/// An audit event on the chain of the municipality the token acts for (or the federation's).
fn audit(
    app: &AppState,
    municipality: Option<&str>,
    action: &str,
    detail: serde_json::Value,
) -> NewAuditEvent {
    NewAuditEvent {
        at: app.ctx.clock.now(),
        actor: actor(municipality),
        actor_municipality: municipality.map(str::to_owned),
        municipality: municipality.map_or_else(|| app.ctx.federation.id.clone(), str::to_owned),
        action: action.to_owned(),
        case_id: None,
        policies: vec!["municipality-administrator".to_owned()],
        detail,
        request_id: crate::audit::current_request_id(),
    }
}

/// Tokens do not beget tokens: an integration token cannot manage integration tokens.
async fn not_an_integration(app: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = super::extract::bearer_token(headers) else {
        return Ok(());
    };
    let record = app
        .ctx
        .store
        .api_token(&auth::token_hash(&token), app.ctx.clock.now())
        .await?;
    match record {
        Some(r) if r.kind == "integration" => Err(ApiError::Forbidden),
        _ => Ok(()),
    }
}

async fn create(
    State(app): State<AppState>,
    AdminAuth(municipality): AdminAuth,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    not_an_integration(&app, &headers).await?;
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::InvalidField {
            field: "name".into(),
        });
    }
    let mut scopes = body.scopes.clone();
    scopes.sort();
    scopes.dedup();
    if scopes != ["read"] && scopes != ["read", "write"] {
        return Err(ApiError::InvalidField {
            field: "scopes".into(),
        });
    }
    let days = body.days.unwrap_or(365);
    if days == 0 || days > MAX_DAYS {
        return Err(ApiError::InvalidField {
            field: "days".into(),
        });
    }
    let now = app.ctx.clock.now();
    let creator = actor(municipality.as_deref());
    let principal = Principal::Admin {
        municipality: municipality.clone(),
    };
    let issued = auth::issue_token(
        app.ctx.store.as_ref(),
        TokenRequest {
            principal: &principal,
            kind: "integration",
            name: Some(name.clone()),
            scopes: scopes.clone(),
            login_id: None,
            created_by: creator.clone(),
            now,
            expires_at: now + chrono::Duration::days(i64::from(days)),
        },
    )
    .await?;
    app.ctx
        .store
        .append_audit(&audit(
            &app,
            municipality.as_deref(),
            "integration_token_created",
            json!({ "id": issued.id, "name": name, "scopes": scopes }),
        ))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            token: issued.token,
            view: TokenView {
                id: issued.id,
                name: Some(name),
                scopes,
                municipality,
                created_by: creator,
                created_at: now,
                expires_at: issued.expires_at,
                revoked_at: None,
            },
        }),
    ))
}

/// A municipality's administrators see their municipality's tokens; federation
/// administrators see all.
async fn list(
    State(app): State<AppState>,
    AdminAuth(municipality): AdminAuth,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    let all = app.ctx.store.integration_tokens().await?;
    Ok(Json(
        all.iter()
            .filter(|t| municipality.is_none() || acting_for(t) == municipality)
            .map(view)
            .collect(),
    ))
}

async fn revoke(
    State(app): State<AppState>,
    AdminAuth(municipality): AdminAuth,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    not_an_integration(&app, &headers).await?;
    let all = app.ctx.store.integration_tokens().await?;
    let token = all
        .iter()
        .find(|t| t.id == id && (municipality.is_none() || acting_for(t) == municipality))
        .ok_or(ApiError::NotFound)?;
    if !app
        .ctx
        .store
        .revoke_api_token(&token.id, app.ctx.clock.now())
        .await?
    {
        // Already revoked (or expired): nothing is live under that id.
        return Err(ApiError::NotFound);
    }
    app.ctx
        .store
        .append_audit(&audit(
            &app,
            acting_for(token).as_deref(),
            "integration_token_revoked",
            json!({ "id": token.id, "by": actor(municipality.as_deref()) }),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
