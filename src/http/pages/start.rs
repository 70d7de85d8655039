//! The start page, the accessibility statement, and the exit.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use tower_sessions::Session;

use super::{Frame, Page, PageError, Who, render};
use crate::auth::sessions::{self, WebLogin};
use crate::http::AppState;
use crate::http::extract::MaybePrincipal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(start))
        .route("/accessibility", get(accessibility))
        .route("/exit", get(exit))
}

#[derive(Template)]
#[template(path = "start.html")]
struct Start {
    page: Page,
}

async fn start(
    State(app): State<AppState>,
    frame: Frame,
    MaybePrincipal(principal): MaybePrincipal,
) -> Result<Response, PageError> {
    let page = Page::new(&frame, &app, Who::of(principal.as_ref()), "start.title");
    render(&Start { page })
}

#[derive(Template)]
#[template(path = "accessibility.html")]
struct Accessibility {
    page: Page,
}

async fn accessibility(
    State(app): State<AppState>,
    frame: Frame,
    MaybePrincipal(principal): MaybePrincipal,
) -> Result<Response, PageError> {
    let page = Page::new(
        &frame,
        &app,
        Who::of(principal.as_ref()),
        "accessibility.title",
    );
    render(&Accessibility { page })
}

/// "Leave this page quickly": the browser login ends, the anonymous visitor's code is
/// forgotten, and the neutral site takes the page's place (the script replaces the history
/// entry where the browser allows).
async fn exit(State(app): State<AppState>, session: Session) -> Response {
    if let Ok(Some(login)) = session.get::<WebLogin>(sessions::LOGIN).await
        && let Err(e) = app.ctx.end_browser_login(&login, "exit").await
    {
        tracing::warn!(error = %e, "ending the login at exit");
    }
    if let Err(e) = session.flush().await {
        tracing::warn!(error = %e, "flushing the session at exit");
    }
    let mut response = Redirect::to(&app.ctx.config.exit_url).into_response();
    super::forget_visitor(&mut response, app.ctx.config.secure_cookies);
    response
}
