//! The web pages (API.md "Pages"): server-rendered HTML (askama templates in `templates/`)
//! over the same workflows as the JSON API. A page handler is as thin as an API handler: it
//! reads the form, calls one workflow and renders what it answered.
//!
//! Every page works without JavaScript. What every page shares — the language, the CSRF token,
//! the security headers — is set by [`frame`], a middleware in front of every route; the
//! layout (`templates/base.html`) reads it from [`Page`].

mod admin;
mod ask;
mod demo;
mod mine;
mod start;
mod work;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::de::DeserializeOwned;
use tower_sessions::cookie::{Cookie, SameSite};

use super::AppState;
use super::error::ApiError;
use super::extract::MaybePrincipal;
use crate::domain::Principal;
use crate::i18n::{self, Lang};

/// The cookie that remembers the language chosen with `?lang=`.
pub const LANG_COOKIE: &str = "brygga_lang";
/// The CSRF token's cookie (double submit: each state-changing form carries the same value).
pub const CSRF_COOKIE: &str = "brygga_csrf";
/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// The page routes; `/demo` only in `brygga demo`.
pub fn router(demo: bool) -> Router<AppState> {
    let pages = Router::new()
        .merge(start::router())
        .merge(ask::router())
        .merge(mine::router())
        .merge(work::router())
        .merge(admin::router());
    let pages = if demo {
        pages.merge(demo::router())
    } else {
        pages
    };
    pages
        .route("/static/brygga.css", get(stylesheet))
        .route("/static/brygga.js", get(script))
        .route("/static/work.js", get(work_script))
}

// ---------------------------------------------------------------------------------------------
// What every page shares
// ---------------------------------------------------------------------------------------------

/// The language and the CSRF token of this request, set by [`frame`].
#[derive(Clone, Debug)]
pub struct Frame {
    pub lang: Lang,
    pub csrf: String,
    /// The path asked for (no query: nothing personal goes in a URL), for the language switch.
    pub path: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Frame {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Frame>()
            .cloned()
            .ok_or(PageError::Internal)
    }
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn set_cookie(response: &mut Response, cookie: Cookie<'_>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// A cookie of the pages: HTTP only, same site, for the whole site, secure when the
/// deployment is.
fn page_cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    let mut cookie = Cookie::new(name, value);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_secure(secure);
    cookie
}

/// The headers every answer carries: no referrer, no framing, no sniffing, a
/// Content-Security-Policy without inline scripts or styles, and nothing cached but the static
/// files (pages and API answers hold personal data, and computers are shared).
fn secure(response: &mut Response, cacheable: bool) {
    let headers = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !cacheable && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// In front of every route: the language (`?lang=` sets it and redirects to the same page
/// without it; else the cookie; else `Accept-Language`), the CSRF token (a new one in a
/// cookie when there is none), and the security headers on whatever is answered.
pub async fn frame(
    axum::extract::State(app): axum::extract::State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let secure_cookies = app.ctx.config.secure_cookies;
    let path = request.uri().path().to_owned();
    let cacheable = path.starts_with("/static/");
    let asked = request.uri().query().and_then(|q| {
        serde_html_form::from_str::<LangQuery>(q)
            .ok()
            .and_then(|l| l.lang)
    });
    if let Some(code) = asked
        && request.method() == axum::http::Method::GET
        && !path.starts_with("/api/")
    {
        // Remember the choice and show the same page without the parameter.
        let mut response = Redirect::to(&path).into_response();
        if let Some(lang) = Lang::parse(&code).filter(|l| servable(*l, app.demo)) {
            set_cookie(
                &mut response,
                page_cookie(LANG_COOKIE, lang.code().to_owned(), secure_cookies),
            );
        }
        secure(&mut response, false);
        return response;
    }
    let headers = request.headers();
    let lang = cookie_value(headers, LANG_COOKIE)
        .and_then(Lang::parse)
        .filter(|l| servable(*l, app.demo))
        .unwrap_or_else(|| {
            Lang::negotiate(
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            )
        });
    let existing = cookie_value(headers, CSRF_COOKIE)
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned);
    let csrf = existing.clone().unwrap_or_else(crate::auth::new_token);
    request.extensions_mut().insert(Frame {
        lang,
        csrf: csrf.clone(),
        path,
    });
    let mut response = next.run(request).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if existing.is_none() && html {
        // Pages only: the forms on them carry the same token.
        set_cookie(
            &mut response,
            page_cookie(CSRF_COOKIE, csrf, secure_cookies),
        );
    }
    secure(&mut response, cacheable);
    response
}

/// A language is served when it is offered; one still being translated (its texts fall back to
/// Swedish) only in the demo, for review.
fn servable(lang: Lang, demo: bool) -> bool {
    demo || Lang::offered().contains(&lang)
}

#[derive(serde::Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

/// An anonymous visitor's way back to their request: `{id}.{access code}` in a cookie that
/// lasts as long as the browser is open (never in a URL), cleared by "Leave this page
/// quickly" and by logging in.
pub const VISITOR_COOKIE: &str = "brygga_visitor";

/// Remembers the anonymous request the visitor just made or opened.
pub fn remember_visitor(response: &mut Response, id: &str, code: &str, secure: bool) {
    let value = format!("{id}.{}", code.trim());
    if value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        let mut cookie = page_cookie(VISITOR_COOKIE, value, secure);
        cookie.set_same_site(SameSite::Strict);
        set_cookie(response, cookie);
    }
}

/// Forgets the anonymous visitor's request.
pub fn forget_visitor(response: &mut Response, secure: bool) {
    let mut cookie = page_cookie(VISITOR_COOKIE, String::new(), secure);
    cookie.set_max_age(time::Duration::ZERO);
    set_cookie(response, cookie);
}

/// The anonymous request this browser follows, and its access code.
pub fn visitor(headers: &HeaderMap) -> Option<(String, String)> {
    let value = cookie_value(headers, VISITOR_COOKIE)?;
    let (id, code) = value.split_once('.')?;
    (!id.is_empty() && !code.is_empty()).then(|| (id.to_owned(), code.to_owned()))
}

/// How the caller proves a request is theirs on the pages: the access code this browser
/// remembers for this very request (an anonymous visitor's, or a logged-in citizen's for a
/// category that records no identity, R16), else their citizen login. Staff have none.
pub fn citizen_key(
    principal: Option<&Principal>,
    headers: &HeaderMap,
    client: crate::workflow::limits::Client,
    id: &str,
) -> Option<crate::workflow::CitizenKey> {
    if !matches!(principal, None | Some(Principal::Citizen(_))) {
        return None;
    }
    if let Some((_, code)) = visitor(headers).filter(|(remembered, _)| remembered == id) {
        return Some(crate::workflow::CitizenKey::AccessCode { code, client });
    }
    match principal {
        Some(Principal::Citizen(citizen)) => {
            Some(crate::workflow::CitizenKey::Citizen(citizen.clone()))
        }
        _ => None,
    }
}

/// Who is looking, as far as the layout cares (the navigation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Nobody,
    Citizen,
    /// A caseworker.
    Staff,
    /// An administrator (of a municipality or of the federation).
    Admin,
}

impl Who {
    pub fn of(principal: Option<&Principal>) -> Who {
        match principal {
            None => Who::Nobody,
            Some(Principal::Citizen(_)) => Who::Citizen,
            Some(Principal::Admin(_)) => Who::Admin,
            Some(_) => Who::Staff,
        }
    }
}

/// A link in the language switch: the same page in another language.
pub struct LangLink {
    pub code: &'static str,
    pub name: &'static str,
    pub href: String,
}

/// The layout's context: every page template has one, as `page`.
pub struct Page {
    pub lang: Lang,
    pub title: String,
    pub csrf: String,
    pub who: Who,
    pub demo: bool,
    /// Show the emergency box first and prominently (violence, a concern about a child).
    pub urgent_help: bool,
    pub languages: Vec<LangLink>,
    /// The socialjour's number where the visitor's municipality is known.
    pub socialjour_phone: Option<String>,
}

impl Page {
    /// Staff at work: the citizens' quick exit and help box are not for them.
    pub fn staff(&self) -> bool {
        matches!(self.who, Who::Staff | Who::Admin)
    }

    pub fn new(frame: &Frame, app: &AppState, who: Who, title_key: &str) -> Page {
        let languages = Lang::offered()
            .into_iter()
            .filter(|l| *l != frame.lang)
            .map(|l| LangLink {
                code: l.code(),
                name: l.name(),
                href: format!("{}?lang={}", frame.path, l.code()),
            })
            .collect();
        Page {
            lang: frame.lang,
            title: i18n::text(frame.lang, title_key).to_owned(),
            csrf: frame.csrf.clone(),
            who,
            demo: app.demo,
            urgent_help: false,
            languages,
            socialjour_phone: None,
        }
    }

    /// The text for `key` in the page's language.
    pub fn t(&self, key: &str) -> &'static str {
        i18n::text(self.lang, key)
    }

    /// The text for `key` with `{name}` placeholders filled.
    pub fn fill(&self, key: &str, values: &[(&str, &str)]) -> String {
        i18n::fill(self.lang, key, values)
    }

    pub fn code(&self) -> &'static str {
        self.lang.code()
    }

    pub fn dir(&self) -> &'static str {
        self.lang.dir().as_str()
    }

    /// A time as the page's reader reads it: Stockholm date and time.
    pub fn when(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        at.with_timezone(&crate::clock::TIME_ZONE)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }
}

/// A rendered template as an HTML answer.
pub fn render<T: Template>(template: &T) -> Result<Response, PageError> {
    let html = template.render().map_err(|e| {
        tracing::error!(error = %e, "a page template failed to render");
        PageError::Internal
    })?;
    Ok(Html(html).into_response())
}

// ---------------------------------------------------------------------------------------------
// Forms
// ---------------------------------------------------------------------------------------------

#[derive(serde::Deserialize)]
struct CsrfOnly {
    csrf: Option<String>,
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A page form's fields, after the CSRF token it carries was checked against the cookie's
/// (403 otherwise). Unknown fields are ignored; fields are read as text and checked by the
/// handler, which re-renders the form with what was wrong.
pub struct PageForm<T>(pub T);

impl<S, T> FromRequest<S> for PageForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let expected = req
            .extensions()
            .get::<Frame>()
            .map(|f| f.csrf.clone())
            .ok_or(PageError::Internal)?;
        let had_cookie = cookie_value(req.headers(), CSRF_COOKIE).is_some();
        let bytes = bytes::Bytes::from_request(req, state)
            .await
            .map_err(|_| PageError::BadForm)?;
        let given = serde_html_form::from_bytes::<CsrfOnly>(&bytes)
            .map_err(|_| PageError::BadForm)?
            .csrf
            .unwrap_or_default();
        if !had_cookie || !same(given.as_bytes(), expected.as_bytes()) {
            return Err(PageError::Csrf);
        }
        serde_html_form::from_bytes::<T>(&bytes)
            .map(PageForm)
            .map_err(|_| PageError::BadForm)
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// What a page answers when it cannot show what was asked: an error page in the reader's
/// language, with the right status. Form mistakes are not errors: the form is shown again.
#[derive(Debug)]
pub enum PageError {
    NotFound,
    /// Logged in as someone else (staff on a citizen page) or refused by the policies.
    Forbidden,
    /// The page needs a citizen login.
    LoginNeeded,
    /// The form's CSRF token is missing or wrong.
    Csrf,
    BadForm,
    Conflict,
    RateLimited(u64),
    Unavailable,
    Internal,
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::NotFound => PageError::NotFound,
            ApiError::Unauthenticated => PageError::LoginNeeded,
            ApiError::Forbidden
            | ApiError::Denied { .. }
            | ApiError::NotEligible { .. }
            | ApiError::FourEyesRequired
            | ApiError::LoaTooLow => PageError::Forbidden,
            ApiError::Conflict(_) | ApiError::AlreadyExists => PageError::Conflict,
            ApiError::RateLimited { retry_after } => PageError::RateLimited(retry_after),
            ApiError::Unavailable(_) | ApiError::SolverUnavailable(_) => PageError::Unavailable,
            ApiError::InvalidField { .. }
            | ApiError::Unprocessable(_)
            | ApiError::MalformedJson(_)
            | ApiError::PayloadTooLarge => PageError::BadForm,
            _ => PageError::Internal,
        }
    }
}

impl From<crate::workflow::Error> for PageError {
    fn from(e: crate::workflow::Error) -> Self {
        PageError::from(ApiError::from(e))
    }
}

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::Forbidden | PageError::Csrf => StatusCode::FORBIDDEN,
            PageError::LoginNeeded => StatusCode::UNAUTHORIZED,
            PageError::BadForm => StatusCode::BAD_REQUEST,
            PageError::Conflict => StatusCode::CONFLICT,
            PageError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            PageError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn key(&self) -> &'static str {
        match self {
            PageError::NotFound => "not_found",
            PageError::Forbidden => "forbidden",
            PageError::LoginNeeded => "login_needed",
            PageError::Csrf => "csrf",
            PageError::BadForm => "bad_form",
            PageError::Conflict => "conflict",
            PageError::RateLimited(_) => "rate_limited",
            PageError::Unavailable => "unavailable",
            PageError::Internal => "internal",
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    page: Page,
    code: &'static str,
    message: &'static str,
    login: bool,
}

/// The error page; the request's frame is gone by the time an error is answered, so it is
/// rendered by [`error_pages`] from the marker this leaves.
impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        if let PageError::RateLimited(secs) = self
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
            .extensions_mut()
            .insert(PageErrorMarker(self.key()));
        response
    }
}

#[derive(Clone, Copy)]
struct PageErrorMarker(&'static str);

/// Renders the error page for a [`PageError`] (which knows neither the language nor who is
/// logged in), keeping its status and headers.
pub async fn error_pages(
    axum::extract::State(app): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // What finding out who is logged in needs, kept for the (rare) error answer.
    let frame = request.extensions().get::<Frame>().cloned();
    let headers = request.headers().clone();
    let extensions = request.extensions().clone();
    let response = next.run(request).await;
    let Some(PageErrorMarker(key)) = response.extensions().get::<PageErrorMarker>().copied() else {
        return response;
    };
    let Some(frame) = frame else {
        return response;
    };
    let (mut parts, _) = Request::new(()).into_parts();
    parts.headers = headers;
    parts.extensions = extensions;
    let who = MaybePrincipal::from_request_parts(&mut parts, &app)
        .await
        .map_or(Who::Nobody, |p| Who::of(p.0.as_ref()));
    let page = ErrorPage {
        page: Page::new(&frame, &app, who, &format!("page_error.{key}.title")),
        code: key,
        message: i18n::text(frame.lang, &format!("page_error.{key}.message")),
        login: key == "login_needed",
    };
    let (mut response_parts, _) = response.into_parts();
    match page.render() {
        Ok(html) => {
            response_parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response_parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(response_parts, axum::body::Body::from(html))
        }
        Err(e) => {
            tracing::error!(error = %e, "the error page failed to render");
            Response::from_parts(response_parts, axum::body::Body::empty())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Static files
// ---------------------------------------------------------------------------------------------

const STYLESHEET: &str = include_str!("../../../static/brygga.css");
const SCRIPT: &str = include_str!("../../../static/brygga.js");
const WORK_SCRIPT: &str = include_str!("../../../static/work.js");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    asset(STYLESHEET, "text/css; charset=utf-8")
}

async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

/// The caseworkers' live updates and offer countdowns, loaded only on `/work`.
async fn work_script() -> Response {
    asset(WORK_SCRIPT, "text/javascript; charset=utf-8")
}
