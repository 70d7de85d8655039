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
use crate::domain::personnummer::{IdKind, Personnummer};
use tower_sessions::Session;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/demo/caseworkers", get(caseworkers))
        .route("/demo/admins", get(admins))
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
    /// The role the municipality names to read its cases' content and assess harm (R12, R15).
    supervisor: bool,
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
                supervisor: c.supervisor,
            })
            .collect(),
    ))
}

#[derive(Serialize)]
struct DemoAdmin {
    id: String,
    name: String,
    /// `null` for a federation administrator.
    municipality: Option<String>,
}

/// The demo's administrators, people with names (API.md "Demo").
async fn admins(State(app): State<AppState>) -> Json<Vec<DemoAdmin>> {
    Json(
        crate::demo::administrators(&app.ctx.federation())
            .into_iter()
            .map(|a| DemoAdmin {
                id: a.id,
                name: a.name,
                municipality: a.municipality.map(String::from),
            })
            .collect(),
    )
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
    /// An eIDAS login's person identifier (default: one stable demo identity per stated
    /// municipality).
    #[serde(default)]
    eidas_id: Option<String>,
    /// How sure the broker is of a samordningsnummer (R2): `confirmed` (default), `probable`
    /// or `uncertain`.
    #[serde(default)]
    coordination_level: Option<String>,
    /// R3: the member where a citizen with skyddad folkbokföring whom the register places
    /// outside the federation is helped.
    #[serde(default)]
    stated_municipality: Option<String>,
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
    /// One of `GET /demo/admins`.
    #[serde(default)]
    admin_id: Option<String>,
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
        .federation()
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
        (Some(code), _) => match home_code(app, code) {
            // R3: under skyddad folkbokföring the register may be wrong; such a citizen whom it
            // places outside the federation states the member where they are helped.
            Err(ApiError::Unprocessable("home_outside_federation"))
                if protection == Protection::SkyddadFolkbokforing =>
            {
                let stated = body
                    .stated_municipality
                    .as_deref()
                    .ok_or(ApiError::Unprocessable("municipality_required"))?;
                home_code(app, stated)?
            }
            other => other?,
        },
        (None, Some(number)) => app
            .ctx
            .federation()
            .member_for_key(number.as_str())
            .code
            .clone(),
        // R2: an eIDAS login without a Swedish number states a member municipality.
        (None, None) => return Err(ApiError::Unprocessable("municipality_required")),
    };
    let id_confirmed = match (&personnummer, body.coordination_level.as_deref()) {
        (Some(number), level) if number.kind() == IdKind::Samordningsnummer => {
            match level.unwrap_or("confirmed") {
                "confirmed" => true,
                "probable" | "uncertain" => false,
                _ => {
                    return Err(ApiError::InvalidField {
                        field: "coordination_level".into(),
                    });
                }
            }
        }
        _ => true,
    };
    let eidas = personnummer.is_none().then(|| {
        let identifier = body
            .eidas_id
            .clone()
            .unwrap_or_else(|| format!("demo-eidas-{home}"));
        Citizen::eidas_subject(&identifier)
    });
    Ok(Citizen {
        personnummer,
        id_confirmed,
        eidas,
        home,
        protection,
        loa,
    })
}

/// The principal a demo login body names (`role` and its fields, as `POST /demo/login`
/// takes them); shared with the `/demo` page's forms.
pub(super) async fn principal_of(
    app: &AppState,
    value: serde_json::Value,
) -> Result<Principal, ApiError> {
    let role: Role = serde_json::from_value(value.clone()).map_err(|_| ApiError::InvalidField {
        field: "role".into(),
    })?;
    let mut body = value;
    if let Some(map) = body.as_object_mut() {
        map.remove("role");
    }
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    Ok(match role.role.as_str() {
        "citizen" => Principal::Citizen(citizen(app, parse_json::<CitizenLogin>(&bytes)?)?),
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
            let admins = crate::demo::administrators(&app.ctx.federation());
            let chosen = match (login.admin_id.as_deref(), login.municipality.as_deref()) {
                (Some(id), _) => admins.into_iter().find(|a| a.id == id),
                (None, Some(code)) => {
                    let code = home_code(app, code)
                        .map_err(|_| ApiError::Unprocessable("unknown_municipality"))?;
                    admins
                        .into_iter()
                        .find(|a| a.municipality.as_ref() == Some(&code))
                }
                (None, None) => admins.into_iter().find(|a| a.municipality.is_none()),
            };
            Principal::Admin(chosen.ok_or(ApiError::NotFound)?)
        }
        _ => {
            return Err(ApiError::InvalidField {
                field: "role".into(),
            });
        }
    })
}

async fn login(
    State(app): State<AppState>,
    session: Session,
    ApiJson(value): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let principal = principal_of(&app, value).await?;
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
