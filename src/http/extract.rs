//! Extractors: a JSON body whose errors follow API.md, and the caller's identity. A handler's
//! signature says who may call it.

use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

use super::AppState;
use super::error::ApiError;
use tower_sessions::Session;

use crate::auth::sessions::{self, WebLogin};
use crate::domain::Principal;
use crate::domain::access::{Scope, TokenKind};
use crate::domain::people::{Caseworker, Citizen};
use crate::workflow::limits::Client;
use crate::workflow::{CitizenKey, Login};

/// The browser session's cookie (tower-sessions; the id is random, only its hash is stored).
pub const SESSION_COOKIE: &str = "brygga_session";

/// A JSON body. Not JSON (or not UTF-8) → 400 `malformed_json`; JSON of the wrong shape → 422
/// `invalid_field` naming the field; over the size limit → 413. The content type is not
/// required: integrations that forget it still get a precise answer.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::MalformedJson(rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, so that broken JSON is always 400 whatever its shape would have been.
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            missing_field(&e.inner().to_string()).unwrap_or(path)
        } else {
            path
        };
        ApiError::InvalidField { field }
    })
}

/// serde reports a missing field at the parent's path; the field's name is in the message.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}

/// The bearer token of `Authorization: Bearer …`, if any.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<String> {
    let text = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    Some(text.strip_prefix("Bearer ")?.trim().to_owned())
}

/// The client's address, for limits (held in memory only, never stored).
pub fn client(parts: &Parts) -> Client {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(Client::Local, |info| Client::Address(info.0.ip()))
}

fn access_code(parts: &Parts) -> Option<String> {
    let text = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    Some(text.strip_prefix("AccessCode ")?.trim().to_owned())
}

/// Who is calling and how they are logged in.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    /// The token or browser login: what every delivery of a stream is re-checked against.
    pub login: Login,
    /// Called with an integration token (only through [`CallerIn`], [`AdminIn`] or
    /// [`AdminCaller::require`], which checked the route's scope).
    pub integration: bool,
}

/// An integration token's use of a route: what it opens, and how to refuse it (audited).
#[derive(Clone)]
struct TokenUse {
    ctx: crate::workflow::Context,
    /// The route families it opens ([`Scope::granted`]).
    scopes: Vec<Scope>,
    /// `METHOD /path`, for the refusal's audit event.
    route: String,
}

impl TokenUse {
    /// `forbidden`, audited on the token's chain (`needs` the route's family, if it has one).
    async fn refuse(&self, principal: &Principal, needs: Option<Scope>) -> ApiError {
        let Principal::Admin(admin) = principal else {
            return ApiError::Forbidden;
        };
        match self.ctx.refuse_token_scope(admin, needs, &self.route).await {
            Err(e) => e.into(),
            Ok(()) => ApiError::Forbidden,
        }
    }
}

/// Whoever calls, integration tokens included: a bearer token (`Authorization: Bearer`), else
/// the browser session. A token that is unknown, expired or revoked is 401, never silently
/// anonymous; so is a browser login whose idle or absolute time ran out (the session is ended
/// then). A session token without `write` may only read (GET); an integration token is let
/// through here with its scopes, for the extractor to check against the route's family.
async fn any_caller(
    parts: &mut Parts,
    app: &AppState,
) -> Result<Option<(Caller, Option<TokenUse>)>, ApiError> {
    if let Some(token) = bearer_token(&parts.headers) {
        let authenticated = app
            .ctx
            .authenticate_token(&token)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        let caller = Caller {
            integration: authenticated.kind == TokenKind::Integration,
            principal: authenticated.principal,
            login: authenticated.login,
        };
        if caller.integration {
            let token = TokenUse {
                ctx: app.ctx.clone(),
                scopes: authenticated.scopes,
                route: format!("{} {}", parts.method, parts.uri.path()),
            };
            return Ok(Some((caller, Some(token))));
        }
        let reading = parts.method == Method::GET || parts.method == Method::HEAD;
        if !reading && !authenticated.scopes.contains(&Scope::Write) {
            return Err(ApiError::Forbidden);
        }
        return Ok(Some((caller, None)));
    }
    let Some(session) = parts.extensions.get::<Session>().cloned() else {
        return Ok(None);
    };
    let Some(login) = browser_login(app, &session).await? else {
        return Ok(None);
    };
    let session_key = session
        .id()
        .map(|id| sessions::key(&id))
        .ok_or_else(|| ApiError::Internal("a logged-in session without an id".into()))?;
    Ok(Some((
        Caller {
            principal: login.principal,
            login: Login::Browser {
                session_key,
                login_id: login.login_id,
            },
            integration: false,
        },
        None,
    )))
}

/// The logged-in person, if any: a browser login or a session token (a session token without
/// `write` may only read; an unknown, expired or revoked token is 401). An
/// integration token is refused here (403, audited): a route opens to one only through
/// [`CallerIn`], [`AdminIn`] or [`AdminCaller::require`], naming its family's scope, so a route that forgets to
/// is closed to tokens rather than open.
pub struct MaybeCaller(pub Option<Caller>);

impl<S> FromRequestParts<S> for MaybeCaller
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        match any_caller(parts, &app).await? {
            Some((caller, Some(token))) => Err(token.refuse(&caller.principal, None).await),
            Some((caller, None)) => Ok(MaybeCaller(Some(caller))),
            None => Ok(MaybeCaller(None)),
        }
    }
}

/// A route family that integration tokens may be let into, named by its scope. The marker
/// types are in [`family`]; a handler's signature says which family it belongs to
/// (`AdminIn<family::AuditRead>`, `CallerIn<family::CasesWrite>`).
pub trait Family: Send + Sync + 'static {
    const SCOPE: Scope;
}

/// The route families, one marker type per grantable scope.
pub mod family {
    use super::Family;
    use crate::domain::access::Scope;

    macro_rules! families {
        ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
            $(
                $(#[$doc])*
                pub struct $name;
                impl Family for $name {
                    const SCOPE: Scope = Scope::$name;
                }
            )*
        };
    }

    families!(
        /// `audit:read`: the trail, its verification, the follow-up report.
        AuditRead,
        /// `stats:read`: queue figures and settlement.
        StatsRead,
        /// `routing:read`: routing settings and a case's routing trace.
        RoutingRead,
        /// `routing:write`: changing routing settings (the policies decide whose).
        RoutingWrite,
        /// `cases:write`: an administrator's transfer of a case.
        CasesWrite,
        /// `caseworkers:read`: the municipality's caseworkers.
        CaseworkersRead,
        /// `caseworkers:write`: creating, changing, deactivating caseworkers.
        CaseworkersWrite,
        /// `config:read`: municipalities, agreements, categories.
        ConfigRead,
        /// `policies:read`: policy versions and simulation.
        PoliciesRead,
        /// `events:read`: the administrators' event stream.
        EventsRead,
    );
}

/// The logged-in caller of a route of family `F`, if any: a person, or an integration token
/// that holds `F`'s scope (one that does not is 403, audited on its chain, before the body is
/// read).
pub struct CallerIn<F: Family> {
    pub caller: Option<Caller>,
    family: PhantomData<F>,
}

impl<S, F> FromRequestParts<S> for CallerIn<F>
where
    S: Send + Sync,
    AppState: FromRef<S>,
    F: Family,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let caller = match any_caller(parts, &app).await? {
            Some((caller, Some(token))) if !token.scopes.contains(&F::SCOPE) => {
                return Err(token.refuse(&caller.principal, Some(F::SCOPE)).await);
            }
            found => found.map(|(caller, _)| caller),
        };
        Ok(CallerIn {
            caller,
            family: PhantomData,
        })
    }
}

/// The logged-in principal, if any (see [`MaybeCaller`]).
pub struct MaybePrincipal(pub Option<Principal>);

impl<S> FromRequestParts<S> for MaybePrincipal
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let MaybeCaller(caller) = MaybeCaller::from_request_parts(parts, state).await?;
        Ok(MaybePrincipal(caller.map(|c| c.principal)))
    }
}

/// The login of a browser session, if it is still within its idle and absolute time; a login
/// that ran out ends the session (and its tokens, and its streams) and is 401.
pub async fn browser_login(
    app: &AppState,
    session: &Session,
) -> Result<Option<WebLogin>, ApiError> {
    let internal = |e: tower_sessions::session::Error| ApiError::Internal(e.to_string());
    let Some(mut login) = session
        .get::<WebLogin>(sessions::LOGIN)
        .await
        .map_err(internal)?
    else {
        return Ok(None);
    };
    let now = app.ctx.clock.now();
    if !login.is_live(now, app.ctx.session_absolute(), app.ctx.session_idle()) {
        app.ctx.end_browser_login(&login, "expired").await?;
        session.flush().await.map_err(internal)?;
        return Err(ApiError::Unauthenticated);
    }
    // Seen again: written at most once a minute, not on every request.
    if now - login.last_seen > chrono::Duration::seconds(60) {
        login.last_seen = now;
        session
            .insert(sessions::LOGIN, &login)
            .await
            .map_err(internal)?;
    }
    Ok(Some(login))
}

/// A logged-in citizen.
pub struct CitizenAuth(pub Citizen);

impl<S> FromRequestParts<S> for CitizenAuth
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match MaybePrincipal::from_request_parts(parts, state).await?.0 {
            Some(Principal::Citizen(c)) => Ok(CitizenAuth(c)),
            Some(_) => Err(ApiError::Forbidden),
            None => Err(ApiError::Unauthenticated),
        }
    }
}

/// Whoever may act on a citizen's request: the logged-in citizen or the anonymous visitor's
/// access code (`Authorization: AccessCode …`, never in a URL).
pub struct CitizenSide(pub CitizenKey);

impl<S> FromRequestParts<S> for CitizenSide
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(code) = access_code(parts) {
            let client = client(parts);
            return Ok(CitizenSide(CitizenKey::AccessCode { code, client }));
        }
        let CitizenAuth(citizen) = CitizenAuth::from_request_parts(parts, state).await?;
        Ok(CitizenSide(CitizenKey::Citizen(citizen)))
    }
}

/// A logged-in caseworker, read fresh from the store.
pub struct CaseworkerAuth(pub Caseworker);

impl<S> FromRequestParts<S> for CaseworkerAuth
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match MaybePrincipal::from_request_parts(parts, state).await?.0 {
            Some(Principal::Caseworker { caseworker_id, .. }) => {
                let app = AppState::from_ref(state);
                match app.ctx.caseworker(&caseworker_id).await {
                    Ok(record) => Ok(CaseworkerAuth(record)),
                    // The caseworker was removed after logging in: the login no longer holds.
                    Err(crate::workflow::Error::NotFound) => Err(ApiError::Unauthenticated),
                    Err(e) => Err(e.into()),
                }
            }
            Some(_) => Err(ApiError::Forbidden),
            None => Err(ApiError::Unauthenticated),
        }
    }
}

/// A logged-in administrator in person (a browser login or its session token). An
/// integration token is refused (403, audited): routes that a token may use take
/// [`AdminIn`] (or [`AdminCaller`]) instead and name their family's scope.
pub struct AdminAuth(pub crate::domain::Administrator);

impl<S> FromRequestParts<S> for AdminAuth
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match MaybeCaller::from_request_parts(parts, state).await?.0 {
            Some(Caller {
                principal: Principal::Admin(admin),
                ..
            }) => Ok(AdminAuth(admin)),
            Some(_) => Err(ApiError::Forbidden),
            None => Err(ApiError::Unauthenticated),
        }
    }
}

/// A logged-in administrator, in person or as an integration token. Who it is comes only
/// through [`AdminCaller::require`], which names the route's family:
///
/// ```ignore
/// async fn list(caller: AdminCaller, ..) -> Result<.., ApiError> {
///     let admin = caller.require(Scope::CaseworkersRead).await?;
/// ```
///
/// [`AdminIn`] does the same in the handler's signature, before a body is read.
pub struct AdminCaller {
    admin: crate::domain::Administrator,
    token: Option<TokenUse>,
}

impl AdminCaller {
    /// The administrator, if the route's family `scope` lets them in: a person always (the
    /// policies decide), an integration token only if it holds `scope` — else 403, audited on
    /// the token's chain. What the administrator may then do is still the policies' to decide.
    pub async fn require(self, scope: Scope) -> Result<crate::domain::Administrator, ApiError> {
        match self.token {
            Some(token) if !token.scopes.contains(&scope) => Err(token
                .refuse(&Principal::Admin(self.admin), Some(scope))
                .await),
            _ => Ok(self.admin),
        }
    }

    /// Whether the administrator is an integration token.
    pub fn integration(&self) -> bool {
        self.token.is_some()
    }
}

impl<S> FromRequestParts<S> for AdminCaller
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        match any_caller(parts, &app).await? {
            Some((
                Caller {
                    principal: Principal::Admin(admin),
                    ..
                },
                token,
            )) => Ok(AdminCaller { admin, token }),
            Some(_) => Err(ApiError::Forbidden),
            None => Err(ApiError::Unauthenticated),
        }
    }
}

/// A logged-in administrator on a route of family `F`: a person, or an integration token that
/// holds `F`'s scope (see [`AdminCaller::require`]).
pub struct AdminIn<F: Family> {
    pub admin: crate::domain::Administrator,
    family: PhantomData<F>,
}

impl<S, F> FromRequestParts<S> for AdminIn<F>
where
    S: Send + Sync,
    AppState: FromRef<S>,
    F: Family,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = AdminCaller::from_request_parts(parts, state).await?;
        Ok(AdminIn {
            admin: caller.require(F::SCOPE).await?,
            family: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        text: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        flag: bool,
    }

    fn field(bytes: &[u8]) -> Option<String> {
        match parse_json::<Body>(bytes) {
            Err(ApiError::InvalidField { field }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn json_errors_are_classified() {
        assert!(matches!(
            parse_json::<Body>(b"{"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_json::<Body>(b"\xff\xfe"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_json::<Body>(b""),
            Err(ApiError::MalformedJson(_))
        ));
        assert_eq!(field(b"{}").as_deref(), Some("text"));
        assert_eq!(field(br#"{"text": 3}"#).as_deref(), Some("text"));
        assert_eq!(
            field(br#"{"text": "a", "inner": {"flag": "x"}}"#).as_deref(),
            Some("inner.flag")
        );
        assert!(parse_json::<Body>(br#"{"text": "a"}"#).is_ok());
    }
}
