//! Demo-only routes (`brygga demo`): the seeded caseworkers and a login without an eID.
//! `router()` in `http` merges these only in demo mode; under `serve` they do not exist.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, parse_json};
use crate::domain::Principal;
use crate::domain::ids::{CaseworkerId, MunicipalityCode};
use crate::domain::people::Citizen;
use crate::domain::people::{Loa, Protection};
use crate::domain::personnummer::Personnummer;
use tower_sessions::Session;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/demo/caseworkers", get(caseworkers))
        .route("/demo/login", post(login))
}

#[derive(Serialize)]
struct DemoCaseworker {
    id: String,
    name: String,
    municipality: String,
    skills: Vec<String>,
    languages: Vec<String>,
    capacity: u32,
    protected_identity_clearance: bool,
}

async fn caseworkers(State(app): State<AppState>) -> Result<Json<Vec<DemoCaseworker>>, ApiError> {
    let all = app.ctx.demo_caseworkers().await?;
    Ok(Json(
        all.into_iter()
            .map(|c| DemoCaseworker {
                id: c.id.into(),
                name: c.name,
                municipality: c.municipality.into(),
                skills: c.skills.into_iter().map(String::from).collect(),
                languages: c.languages.into_iter().map(String::from).collect(),
                capacity: c.capacity,
                protected_identity_clearance: c.protected_identity_clearance,
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CitizenLogin {
    #[serde(default)]
    personnummer: Option<String>,
    #[serde(default)]
    municipality: Option<String>,
    #[serde(default)]
    protection: Option<Protection>,
    /// Older form of `protection`: `true` = `skyddad_folkbokforing`.
    #[serde(default)]
    protected_identity: Option<bool>,
    #[serde(default)]
    loa: Option<Loa>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseworkerLogin {
    caseworker_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminLogin {
    #[serde(default)]
    municipality: Option<String>,
}

#[derive(Deserialize)]
struct Role {
    role: String,
}

#[derive(Serialize)]
struct LoginAnswer {
    token: String,
    #[serde(flatten)]
    principal: Principal,
}

/// A code in the request: malformed → unknown; well-formed but not a member → outside (R3).
fn home_code(app: &AppState, code: &str) -> Result<MunicipalityCode, ApiError> {
    let code = MunicipalityCode::parse(code)
        .map_err(|_| ApiError::Unprocessable("unknown_municipality"))?;
    app.ctx
        .federation
        .municipality(&code)
        .map(|m| m.code.clone())
        .ok_or(ApiError::Unprocessable("home_outside_federation"))
}

fn citizen(app: &AppState, body: CitizenLogin) -> Result<Citizen, ApiError> {
    let loa = body.loa.unwrap_or(Loa::Loa3);
    // As the real login does (R1): below loa3 no identified session is made.
    if !loa.suffices_for_identified() {
        return Err(ApiError::LoaTooLow);
    }
    let protection = match (body.protection, body.protected_identity) {
        (Some(p), _) => p,
        (None, Some(true)) => Protection::SkyddadFolkbokforing,
        (None, _) => Protection::None,
    };
    let personnummer = match body.personnummer.as_deref() {
        Some(raw) => Some(
            Personnummer::parse(raw, app.ctx.clock.today())
                .map_err(|_| ApiError::Unprocessable("invalid_personnummer"))?,
        ),
        None if loa.is_eidas() => None,
        None => {
            return Err(ApiError::InvalidField {
                field: "personnummer".into(),
            });
        }
    };
    let home = match (&body.municipality, &personnummer) {
        (Some(code), _) => home_code(app, code)?,
        (None, Some(number)) => app
            .ctx
            .federation
            .member_for_key(number.as_str())
            .code
            .clone(),
        // R2: an eIDAS login without a Swedish number states a member municipality.
        (None, None) => return Err(ApiError::Unprocessable("municipality_required")),
    };
    Ok(Citizen {
        personnummer,
        home,
        protection,
        loa,
    })
}

async fn login(
    State(app): State<AppState>,
    session: Session,
    ApiJson(value): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let role: Role = serde_json::from_value(value.clone()).map_err(|_| ApiError::InvalidField {
        field: "role".into(),
    })?;
    let mut body = value;
    if let Some(map) = body.as_object_mut() {
        map.remove("role");
    }
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let principal = match role.role.as_str() {
        "citizen" => Principal::Citizen(citizen(&app, parse_json::<CitizenLogin>(&bytes)?)?),
        "caseworker" => {
            let login: CaseworkerLogin = parse_json(&bytes)?;
            let id = CaseworkerId::parse(&login.caseworker_id).map_err(|_| ApiError::NotFound)?;
            let record = app.ctx.caseworker(&id).await?;
            Principal::Caseworker {
                caseworker_id: record.id,
                municipality: record.municipality,
            }
        }
        "admin" => {
            let login: AdminLogin = parse_json(&bytes)?;
            let municipality = match login.municipality.as_deref() {
                Some(code) => Some(
                    home_code(&app, code)
                        .map_err(|_| ApiError::Unprocessable("unknown_municipality"))?,
                ),
                None => None,
            };
            Principal::Admin { municipality }
        }
        _ => {
            return Err(ApiError::InvalidField {
                field: "role".into(),
            });
        }
    };
    // A real browser session (cookie) as the OpenID Connect login makes, and a bearer token
    // for API clients, bound to it.
    let login = super::login::establish(&app, &session, principal.clone(), None, None).await?;
    let token = super::login::session_token(&app, &login).await?;
    Ok(Json(LoginAnswer {
        token: token.token,
        principal,
    })
    .into_response())
}
