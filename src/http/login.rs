//! Logging in and out: OpenID Connect for citizens (`/login/citizen`) and for each
//! municipality's staff (`/login/staff/{municipality}`), the callback (`/auth/callback`),
//! logout, and bearer tokens for a logged-in session (`POST /api/v1/me/tokens`).
//!
//! The browser session is tower-sessions' on Brygga's store. A login in progress keeps its
//! `state`, `nonce` and PKCE verifier there; a completed login rotates the session id and keeps
//! the principal with its login time (absolute timeout) and last request (idle timeout).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::AppState;
use super::error::ApiError;
use crate::auth::IssuedToken;
use crate::auth::login::{self as rules, Refusal, safe_return};
use crate::auth::oidc::{Oidc, OidcError, ProviderKey};
use crate::auth::register::PopulationRegister;
use crate::auth::sessions::{self, WebLogin};
use crate::domain::Principal;
use crate::domain::ids::MunicipalityCode;
use crate::i18n::{self, Lang};

/// The identity services of the HTTP layer.
pub struct AuthServices {
    pub oidc: Oidc,
    pub register: Option<Arc<dyn PopulationRegister>>,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/citizen", get(login_citizen))
        .route("/login/staff/{municipality}", get(login_staff))
        .route("/auth/callback", get(callback))
        .route("/logout", post(logout))
        .route("/api/v1/me/tokens", post(session_token_route))
}

fn session_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("session: {e}"))
}

/// Makes `principal` the login of this browser session, under a new session id (so an id
/// planted before the login is worthless after it).
pub async fn establish(
    app: &AppState,
    session: &Session,
    principal: Principal,
    provider: Option<ProviderKey>,
    id_token: Option<String>,
) -> Result<WebLogin, ApiError> {
    let now = app.ctx.clock.now();
    let login = WebLogin {
        principal,
        login_id: uuid::Uuid::new_v4().simple().to_string(),
        authenticated_at: now,
        last_seen: now,
        provider,
        id_token,
    };
    session.cycle_id().await.map_err(session_error)?;
    session
        .remove_value(sessions::PENDING)
        .await
        .map_err(session_error)?;
    session
        .insert(sessions::LOGIN, &login)
        .await
        .map_err(session_error)?;
    app.ctx.logged_in(&login).await?;
    Ok(login)
}

/// A bearer token for API use by this login, ending when the login would.
pub async fn session_token(app: &AppState, login: &WebLogin) -> Result<IssuedToken, ApiError> {
    Ok(app.ctx.issue_session_token(login).await?)
}

fn lang(headers: &HeaderMap) -> Lang {
    Lang::negotiate(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page a refused login gets: what happened, in the caller's language, and where to go.
fn refused(refusal: &Refusal, lang: Lang) -> Response {
    let title = i18n::text(lang, "login.title");
    let message = i18n::text(lang, &format!("login.refused.{}", refusal.code()));
    let next = if *refusal == Refusal::LoaTooLow {
        i18n::text(lang, "login.anonymous_instead")
    } else {
        i18n::text(lang, "login.start_again")
    };
    let page = format!(
        "<!doctype html>\n<html lang=\"{code}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head>\n<body><main>\n<h1>{title}</h1>\n\
         <p id=\"refusal\" data-code=\"{refusal_code}\">{message}</p>\n<p><a href=\"/\">{next}</a></p>\n\
         </main></body></html>\n",
        code = lang.code(),
        title = escape(title),
        refusal_code = refusal.code(),
        message = escape(message),
        next = escape(next),
    );
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
    (status, Html(page)).into_response()
}

fn oidc_refusal(e: &OidcError) -> Refusal {
    match e {
        OidcError::StateMismatch => Refusal::StateMismatch,
        OidcError::InvalidToken(_) => Refusal::InvalidToken,
        OidcError::Refused(_) => Refusal::ProviderRefused,
        OidcError::Provider(_) | OidcError::Config(_) | OidcError::UnknownProvider => {
            Refusal::ProviderUnavailable
        }
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(default)]
    return_to: Option<String>,
    /// The member municipality a citizen without a Swedish number states (R2).
    #[serde(default)]
    municipality: Option<String>,
    /// `caseworker` or `admin`, for staff with both roles.
    #[serde(rename = "as", default)]
    role: Option<String>,
}

async fn begin(
    app: &AppState,
    session: &Session,
    key: ProviderKey,
    query: LoginQuery,
    lang: Lang,
) -> Result<Response, ApiError> {
    if !app.auth.oidc.has(&key) {
        return Err(ApiError::NotFound);
    }
    let return_to = match safe_return(query.return_to.as_deref()) {
        Ok(path) => path,
        Err(refusal) => return Ok(refused(&refusal, lang)),
    };
    let role = match query.role.as_deref() {
        None => None,
        Some(r @ ("caseworker" | "admin")) => Some(r.to_owned()),
        Some(_) => {
            return Err(ApiError::InvalidField { field: "as".into() });
        }
    };
    let (url, pending) = match app
        .auth
        .oidc
        .begin(&key, return_to, query.municipality, role)
        .await
    {
        Ok(started) => started,
        Err(e) => {
            tracing::warn!(error = %e, "login could not start");
            return Ok(refused(&oidc_refusal(&e), lang));
        }
    };
    session
        .insert(sessions::PENDING, &pending)
        .await
        .map_err(session_error)?;
    Ok(Redirect::to(&url).into_response())
}

async fn login_citizen(
    State(app): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Query(mut query): Query<LoginQuery>,
) -> Result<Response, ApiError> {
    // The demo has no eID broker: its start page's login leads to the demo persons.
    if app.demo && !app.auth.oidc.has(&ProviderKey::Citizen) {
        return Ok(Redirect::to("/demo").into_response());
    }
    // A citizen who logged in wants their requests.
    query
        .return_to
        .get_or_insert_with(|| "/my/requests".to_owned());
    begin(&app, &session, ProviderKey::Citizen, query, lang(&headers)).await
}

async fn login_staff(
    State(app): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(municipality): Path<String>,
    Query(query): Query<LoginQuery>,
) -> Result<Response, ApiError> {
    begin(
        &app,
        &session,
        ProviderKey::Staff(municipality),
        query,
        lang(&headers),
    )
    .await
}

#[derive(Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

async fn callback(
    State(app): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, ApiError> {
    let lang = lang(&headers);
    // The pending login is used once: a replayed callback finds none.
    let pending: Option<crate::auth::oidc::PendingLogin> = session
        .remove(sessions::PENDING)
        .await
        .map_err(session_error)?;
    let Some(pending) = pending else {
        return Ok(refused(&Refusal::NoLoginInProgress, lang));
    };
    if let Some(error) = query.error.as_deref() {
        tracing::info!(%error, "the identity provider refused a login");
        return Ok(refused(&Refusal::ProviderRefused, lang));
    }
    let (Some(code), Some(state)) = (query.code.as_deref(), query.state.as_deref()) else {
        return Ok(refused(&Refusal::StateMismatch, lang));
    };
    let verified = match app.auth.oidc.complete(&pending, code, state).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "login refused");
            return Ok(refused(&oidc_refusal(&e), lang));
        }
    };
    let config = &app.ctx.config;
    let principal = match &pending.provider {
        ProviderKey::Citizen => {
            let Some(citizen_config) = config.citizen_login.as_ref() else {
                return Ok(refused(&Refusal::ProviderUnavailable, lang));
            };
            rules::citizen(
                citizen_config,
                app.auth.register.as_deref(),
                &app.ctx.federation(),
                &verified,
                pending.stated_municipality.as_deref(),
                app.ctx.clock.today(),
            )
            .await
            .map(Principal::Citizen)
        }
        ProviderKey::Staff(municipality) => {
            match (
                config
                    .staff_login
                    .iter()
                    .find(|s| s.municipality == *municipality),
                MunicipalityCode::parse(municipality),
            ) {
                (Some(staff_config), Ok(code)) => {
                    match rules::staff(
                        staff_config,
                        &verified,
                        pending.role.as_deref(),
                        app.ctx.config.federation_admin_issuer.as_deref(),
                    ) {
                        Ok(role) => match app.ctx.staff_principal(role, &code).await {
                            Ok(Some(principal)) => Ok(principal),
                            Ok(None) => Err(Refusal::UnknownStaff),
                            Err(e) => {
                                tracing::error!(error = %e, "caseworker lookup at login failed");
                                Err(Refusal::ProviderUnavailable)
                            }
                        },
                        Err(refusal) => Err(refusal),
                    }
                }
                _ => Err(Refusal::ProviderUnavailable),
            }
        }
    };
    let principal = match principal {
        Ok(p) => p,
        Err(refusal) => {
            tracing::info!(refusal = refusal.code(), "login refused");
            return Ok(refused(&refusal, lang));
        }
    };
    let landing = match principal {
        Principal::Caseworker { .. } => Some("/work"),
        Principal::Admin(_) => Some("/admin"),
        _ => None,
    };
    establish(
        &app,
        &session,
        principal,
        Some(pending.provider.clone()),
        Some(verified.id_token),
    )
    .await?;
    // Staff who asked for no page in particular land on their own pages.
    let next = match landing {
        Some(landing) if pending.return_to == "/" => landing,
        _ => pending.return_to.as_str(),
    };
    Ok(Redirect::to(next).into_response())
}

/// Ends the browser session and every token issued to it; with the provider's end-session
/// endpoint (RP-initiated logout) the browser is sent there too. A bearer token logs out only
/// itself.
async fn logout(
    State(app): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = super::extract::bearer_token(&headers) {
        app.ctx.log_out_token(&token).await?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let login: Option<WebLogin> = session.get(sessions::LOGIN).await.map_err(session_error)?;
    session.flush().await.map_err(session_error)?;
    let Some(login) = login else {
        return Ok(Redirect::to("/").into_response());
    };
    app.ctx.end_browser_login(&login, "logout").await?;
    let after = format!("{}/", app.ctx.config.public_url());
    if let (Some(provider), Some(id_token)) = (&login.provider, &login.id_token)
        && let Some(url) = app.auth.oidc.logout_url(provider, id_token, &after).await
    {
        return Ok(Redirect::to(&url).into_response());
    }
    Ok(Redirect::to("/").into_response())
}

#[derive(Serialize)]
struct TokenView {
    token: String,
    expires_at: chrono::DateTime<chrono::Utc>,
}

/// A bearer token for the logged-in browser session (not for a token: tokens do not beget
/// tokens).
async fn session_token_route(
    State(app): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<TokenView>), ApiError> {
    if headers.contains_key(header::AUTHORIZATION) {
        return Err(ApiError::Forbidden);
    }
    let login = super::extract::browser_login(&app, &session)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    let issued = session_token(&app, &login).await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenView {
            token: issued.token,
            expires_at: issued.expires_at,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_a_page_in_both_languages() {
        for refusal in [
            Refusal::LoaTooLow,
            Refusal::NoIdentityNumber,
            Refusal::InvalidIdentityNumber,
            Refusal::NotInRegister,
            Refusal::HomeOutsideFederation,
            Refusal::MunicipalityRequired,
            Refusal::UnknownStaff,
            Refusal::NoRole,
            Refusal::NoLoginInProgress,
            Refusal::StateMismatch,
            Refusal::ProviderRefused,
            Refusal::InvalidToken,
            Refusal::ProviderUnavailable,
            Refusal::BadReturnAddress,
            Refusal::RegisterUnavailable,
        ] {
            for lang in Lang::offered() {
                let key = format!("login.refused.{}", refusal.code());
                assert!(!i18n::text(lang, &key).is_empty(), "{key} ({lang:?})");
            }
        }
        assert_eq!(
            escape("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
    }
}
