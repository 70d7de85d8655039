//! The administrators' pages (API.md "Pages": `/admin` and `/admin/{caseworkers,
//! municipalities,categories,agreements,routing,policies,audit,stats}`), over the same
//! workflows as the administration API: what a municipality administrator may see and change
//! is their own municipality, a federation administrator's is the whole federation, and the
//! gate decides as it does for the API.
//!
//! As on the caseworkers' pages, each handler reads its form, calls one workflow and renders
//! what it answered; success is a 303 back to the page it came from, with a confirmation.
//! What a workflow refuses is said on the page in words with the deciding rules.

mod audit;
mod federation;
mod policies;
mod proofs;
mod routing;
mod staff;
mod stats;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;

pub(super) use super::mine::{category_name, municipality_name};
use super::{Frame, Page, PageError, Who, render};
use crate::domain::Administrator;
use crate::http::AppState;
use crate::http::extract::AdminAuth;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(overview))
        .merge(federation::router())
        .merge(staff::router())
        .merge(policies::router())
        .merge(proofs::router())
        .merge(routing::router())
        .merge(audit::router())
        .merge(stats::router())
}

// ---------------------------------------------------------------------------------------------
// Who asks
// ---------------------------------------------------------------------------------------------

/// The logged-in administrator, in person (an integration token has the API, not the pages).
/// Without a login the login page (401); a citizen or a caseworker is refused (403).
pub(super) struct Admin(pub(super) Administrator);

impl FromRequestParts<AppState> for Admin {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        AdminAuth::from_request_parts(parts, state)
            .await
            .map(|AdminAuth(admin)| Admin(admin))
            .map_err(PageError::from)
    }
}

// ---------------------------------------------------------------------------------------------
// What the templates share
// ---------------------------------------------------------------------------------------------

/// The sections of the administration, in the order the navigation lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Section {
    Overview,
    Caseworkers,
    Municipalities,
    Categories,
    Agreements,
    Routing,
    Policies,
    Audit,
    Stats,
}

impl Section {
    const ALL: [Section; 9] = [
        Section::Overview,
        Section::Caseworkers,
        Section::Municipalities,
        Section::Categories,
        Section::Agreements,
        Section::Routing,
        Section::Policies,
        Section::Audit,
        Section::Stats,
    ];

    /// The section's name in message keys (`admin.section.<key>`, `admin.lead.<key>`).
    pub(super) fn key(self) -> &'static str {
        match self {
            Section::Overview => "overview",
            Section::Caseworkers => "caseworkers",
            Section::Municipalities => "municipalities",
            Section::Categories => "categories",
            Section::Agreements => "agreements",
            Section::Routing => "routing",
            Section::Policies => "policies",
            Section::Audit => "audit",
            Section::Stats => "stats",
        }
    }

    pub(super) fn path(self) -> String {
        match self {
            Section::Overview => "/admin".to_owned(),
            other => format!("/admin/{}", other.key()),
        }
    }
}

/// A link of the administration's navigation.
pub(super) struct NavItem {
    pub(super) href: String,
    pub(super) text: &'static str,
    pub(super) current: bool,
}

/// What every administration page shows above its own content, beside the layout's [`Page`]:
/// the section navigation and who is administering what. Templates have both, as `page` and
/// `admin`, and include `admin_nav.html`.
pub(super) struct AdminFrame {
    pub(super) nav: Vec<NavItem>,
    pub(super) nav_label: &'static str,
    /// "Municipality administrator, Perstorp" or "Federation administrator".
    pub(super) scope: String,
    pub(super) name: String,
    /// The confirmation of what the last form did (`?done=<key>` → `admin.done.<key>`).
    pub(super) done: Option<&'static str>,
}

/// The layout and the frame of a page of `section`, titled by `title_key`.
pub(super) fn admin_page(
    frame: &Frame,
    app: &AppState,
    admin: &Administrator,
    section: Section,
    title_key: &str,
) -> (Page, AdminFrame) {
    let page = Page::new(frame, app, Who::Admin, title_key);
    let nav = Section::ALL
        .iter()
        .map(|s| NavItem {
            href: s.path(),
            text: page.t(&format!("admin.section.{}", s.key())),
            current: *s == section,
        })
        .collect();
    let scope = match &admin.municipality {
        Some(code) => page.fill(
            "admin.scope_municipality",
            &[("municipality", &municipality_name(app, code.as_str()))],
        ),
        None => page.t("admin.scope_federation").to_owned(),
    };
    let admin = AdminFrame {
        nav,
        nav_label: page.t("admin.nav_label"),
        scope,
        name: admin.name.clone(),
        done: None,
    };
    (page, admin)
}

/// Marks the page as showing a form's mistakes: the title says so first.
pub(super) fn error_title(page: &mut Page) {
    page.title = format!("{}{}", page.t("work.error_prefix"), page.title);
}

impl AdminFrame {
    /// The confirmation to show, from a `done` query value: only keys with a message
    /// (`admin.done.<key>`) are shown, so a made-up value shows nothing.
    pub(super) fn confirm(mut self, page: &Page, done: Option<&str>) -> AdminFrame {
        self.done = done
            .filter(|key| key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
            .and_then(|key| {
                let text = page.t(&format!("admin.done.{key}"));
                (!text.is_empty()).then_some(text)
            });
        self
    }
}

/// `?done=` on the page a form returns to.
#[derive(serde::Deserialize, Default)]
pub(super) struct Done {
    #[serde(default)]
    pub(super) done: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// GET /admin
// ---------------------------------------------------------------------------------------------

/// A section on the overview: its link and what is done there.
struct SectionCard {
    href: String,
    name: &'static str,
    lead: &'static str,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct OverviewPage {
    page: Page,
    admin: AdminFrame,
    sections: Vec<SectionCard>,
}

async fn overview(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
) -> Result<Response, PageError> {
    let (page, admin) = admin_page(&frame, &app, &admin, Section::Overview, "admin.title");
    let sections = Section::ALL
        .iter()
        .skip(1)
        .map(|s| SectionCard {
            href: s.path(),
            name: page.t(&format!("admin.section.{}", s.key())),
            lead: page.t(&format!("admin.lead.{}", s.key())),
        })
        .collect();
    render(&OverviewPage {
        page,
        admin,
        sections,
    })
}
