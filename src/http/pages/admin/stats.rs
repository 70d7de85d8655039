//! The live queue figures (`/admin/stats`, issue 22): per municipality the administrator
//! administers, how many cases wait (urgent, child concerns), the longest wait, how many are
//! with a caseworker, and the caseworkers' availability and room — from the workflow the
//! `GET /api/v1/admin/stats` route calls. Counts only: nothing on the page names a case or a
//! person. Settlement between municipalities is a later issue's.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};

use super::audit::iso;
use super::{Admin, AdminFrame, Section, admin_page};
use crate::http::AppState;
use crate::http::pages::{Frame, Page, PageError, Who, render};
use crate::workflow::QueueFigures;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/stats", get(stats))
}

/// One row of the table: a municipality's figures, or the totals.
struct Row {
    name: String,
    waiting: u32,
    /// "(2 offered)" when some of the waiting are offered to a caseworker now.
    offered: Option<String>,
    urgent: u32,
    child_concerns: u32,
    /// How long the longest-waiting case has waited, in words; empty when none waits.
    oldest: String,
    oldest_since: Option<(String, String)>,
    with_caseworker: u32,
    /// "(1 in another municipality)" when some are handled elsewhere.
    elsewhere: Option<String>,
    available: u32,
    away: u32,
    free: u32,
    /// "(3 of 10 taken)": what the free places are counted from, when anything is taken.
    room: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_stats.html")]
struct StatsPage {
    page: Page,
    admin: AdminFrame,
    caption: String,
    rows: Vec<Row>,
    /// Shown when the table has more than one municipality.
    totals: Option<Row>,
}

/// A wait in words: minutes under an hour, hours and minutes under a day, else days and
/// hours.
fn waited(page: &Page, seconds: i64) -> String {
    let minutes = seconds.max(0) / 60;
    let (days, hours, rest) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
    let n = |v: i64| v.to_string();
    if days > 0 {
        page.fill(
            "admin_stats.days",
            &[("days", &n(days)), ("hours", &n(hours))],
        )
    } else if hours > 0 {
        page.fill(
            "admin_stats.hours",
            &[("hours", &n(hours)), ("minutes", &n(rest))],
        )
    } else {
        page.fill("admin_stats.minutes", &[("minutes", &n(rest))])
    }
}

fn row(page: &Page, name: String, f: &QueueFigures) -> Row {
    let since = |at: &DateTime<Utc>| (page.when(at), iso(at));
    let count = |key: &str, n: u32| (n > 0).then(|| page.fill(key, &[("count", &n.to_string())]));
    Row {
        name,
        waiting: f.waiting,
        offered: count("admin_stats.offered", f.offered),
        urgent: f.urgent,
        child_concerns: f.child_concerns,
        oldest: f
            .oldest_waiting_seconds
            .map(|s| waited(page, s))
            .unwrap_or_default(),
        oldest_since: f.oldest_waiting_since.as_ref().map(since),
        with_caseworker: f.with_caseworker,
        elsewhere: count("admin_stats.elsewhere", f.handled_elsewhere),
        available: f.caseworkers_available,
        away: f.caseworkers_away,
        free: f.free_capacity,
        room: (f.held > 0).then(|| {
            page.fill(
                "admin_stats.of_capacity",
                &[
                    ("held", &f.held.to_string()),
                    ("capacity", &f.capacity.to_string()),
                ],
            )
        }),
    }
}

/// `GET /admin/stats`: the figures now, a row per municipality and their totals.
async fn stats(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
) -> Result<Response, PageError> {
    let figures = app.ctx.live_figures(&admin).await?;
    let (page, admin_frame) = admin_page(&frame, &app, &admin, Section::Stats, "admin_stats.title");
    let rows: Vec<Row> = figures
        .municipalities
        .iter()
        .map(|m| row(&page, m.name.clone(), &m.figures))
        .collect();
    let totals = (rows.len() > 1).then(|| {
        row(
            &page,
            page.t("admin_stats.totals").to_owned(),
            &figures.totals,
        )
    });
    render(&StatsPage {
        caption: page.fill("admin_stats.caption", &[("time", &page.when(&figures.at))]),
        rows,
        totals,
        admin: admin_frame,
        page,
    })
}
