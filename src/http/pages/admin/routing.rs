//! `/admin/routing`: how cases of each category reach caseworkers (issue 22, point 5) — offered
//! to one caseworker at a time (push) or taken from a shared queue (pull), how long a request
//! waits in each ring before more municipalities may see it, how long an offer stands, and how
//! many cases from other municipalities a member takes per day (the fair-share cap).
//!
//! The settings are shared by every member, so the workflow lets federation administrators
//! change them; a municipality administrator reads them (a table, no form) and is told why.
//! Each category has its own form, posting to `/admin/routing` with the API's field names
//! (`mode`, `ring0_timeout` and `ring1_timeout` for the API's `ring_timeouts`, `offer_timeout`,
//! `fair_share_per_10k`) and units: seconds,
//! shown besides in words ("30 minuter"), and inhabitants per 10 000.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::super::work::{Refusal, refusal, see, with_status};
use super::{Admin, AdminFrame, Done, Section, admin_page, category_name, error_title};
use crate::domain::Administrator;
use crate::http::AppState;
use crate::http::pages::{Frame, Page, PageError, PageForm, Who, render};
use crate::routing::settings::{CategoryRouting, MAX_TIMEOUT_SECS, Mode, RoutingSettings};
use crate::workflow;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/routing", get(show).post(save))
}

/// One number of a category's form: its label, its unit and current value in words, what was
/// entered and what is wrong with it.
struct NumberField {
    /// Unique on the page: `<category>-<what>`.
    id: String,
    name: &'static str,
    label: &'static str,
    /// The explanation of the setting at the top of the page (`aria-describedby`).
    help: &'static str,
    hint: String,
    value: String,
    decimal: bool,
    error: Option<String>,
}

/// A category's settings as the page shows them: a form for those who may change them, a row
/// of the table for the others.
struct CategoryRow {
    id: String,
    name: String,
    mode: &'static str,
    mode_text: &'static str,
    mode_error: Option<String>,
    fields: Vec<NumberField>,
    /// "Spara Ekonomi": each form's button says which category it saves.
    save_label: String,
    /// The settings in words, for the table.
    ring0: String,
    ring1: String,
    offer: String,
    fair: String,
}

#[derive(Template)]
#[template(path = "admin_routing.html")]
struct RoutingPage {
    page: Page,
    admin: AdminFrame,
    /// The error summary (`work_errors.html`): links to the fields of the posted category.
    errors: Vec<FieldLink>,
    refusal: Option<Refusal>,
    can_change: bool,
    rows: Vec<CategoryRow>,
}

/// An error summary line whose target is built at run time (`#ekonomi-offer`).
struct FieldLink {
    href: String,
    text: String,
}

/// What was posted for one category, as text, and what is wrong with each part.
#[derive(Default)]
struct Entered {
    category: String,
    mode: String,
    ring0: String,
    ring1: String,
    offer: String,
    fair: String,
    mode_error: Option<String>,
    ring0_error: Option<String>,
    ring1_error: Option<String>,
    offer_error: Option<String>,
    fair_error: Option<String>,
}

impl Entered {
    fn has_errors(&self) -> bool {
        self.mode_error.is_some()
            || self.ring0_error.is_some()
            || self.ring1_error.is_some()
            || self.offer_error.is_some()
            || self.fair_error.is_some()
    }
}

/// A span of seconds in words: "1 timme 30 minuter", "2 minuter", "45 sekunder".
fn duration_words(page: &Page, seconds: i64) -> String {
    let units = [
        (86_400, "day", "days"),
        (3_600, "hour", "hours"),
        (60, "minute", "minutes"),
        (1, "second", "seconds"),
    ];
    let mut left = seconds.max(0);
    let mut parts = Vec::new();
    for (size, one, many) in units {
        let n = left / size;
        left %= size;
        if n > 0 {
            let key = if n == 1 { one } else { many };
            parts.push(page.fill(
                &format!("admin_routing.unit.{key}"),
                &[("n", &n.to_string())],
            ));
        }
    }
    if parts.is_empty() {
        page.fill("admin_routing.unit.seconds", &[("n", "0")])
    } else {
        parts.join(" ")
    }
}

/// A fair-share figure as people write it: a decimal comma in Swedish, no needless decimals.
fn per_10k_text(page: &Page, value: f64) -> String {
    let text = format!("{value}");
    if page.code() == "sv" {
        text.replace('.', ",")
    } else {
        text
    }
}

fn fair_words(page: &Page, value: Option<f64>) -> String {
    match value {
        Some(v) => page.fill("admin_routing.fair_value", &[("n", &per_10k_text(page, v))]),
        None => page.t("admin_routing.no_cap").to_owned(),
    }
}

fn timeout_hint(page: &Page, seconds: Option<i64>) -> String {
    match seconds {
        Some(s) => page.fill(
            "admin_routing.seconds_now",
            &[("words", &duration_words(page, s))],
        ),
        None => page.t("admin_routing.seconds").to_owned(),
    }
}

fn row(page: &Page, id: &str, name: String, current: &CategoryRouting, e: &Entered) -> CategoryRow {
    let mine = e.category == id;
    let text = |entered: &str, stored: String| {
        if mine { entered.to_owned() } else { stored }
    };
    let error = |error: &Option<String>| if mine { error.clone() } else { None };
    let ring = |r: i64| current.ring_timeout(r);
    // What was chosen stays chosen; nothing chosen (or something unknown) shows no choice.
    let mode = if mine {
        Mode::parse(&e.mode).map_or("", Mode::as_str)
    } else {
        current.mode.as_str()
    };
    let fields = vec![
        NumberField {
            id: format!("{id}-ring0"),
            name: "ring0_timeout",
            label: page.t("admin_routing.ring0_label"),
            help: "help-ring0",
            hint: timeout_hint(page, ring(0)),
            value: text(&e.ring0, ring(0).map(|s| s.to_string()).unwrap_or_default()),
            decimal: false,
            error: error(&e.ring0_error),
        },
        NumberField {
            id: format!("{id}-ring1"),
            name: "ring1_timeout",
            label: page.t("admin_routing.ring1_label"),
            help: "help-ring1",
            hint: timeout_hint(page, ring(1)),
            value: text(&e.ring1, ring(1).map(|s| s.to_string()).unwrap_or_default()),
            decimal: false,
            error: error(&e.ring1_error),
        },
        NumberField {
            id: format!("{id}-offer"),
            name: "offer_timeout",
            label: page.t("admin_routing.offer_label"),
            help: "help-offer",
            hint: timeout_hint(page, Some(current.offer_timeout)),
            value: text(&e.offer, current.offer_timeout.to_string()),
            decimal: false,
            error: error(&e.offer_error),
        },
        NumberField {
            id: format!("{id}-fair"),
            name: "fair_share_per_10k",
            label: page.t("admin_routing.fair_label"),
            help: "help-fair",
            hint: page.fill(
                "admin_routing.fair_now",
                &[("words", &fair_words(page, current.fair_share_per_10k))],
            ),
            value: text(
                &e.fair,
                current
                    .fair_share_per_10k
                    .map(|v| per_10k_text(page, v))
                    .unwrap_or_default(),
            ),
            decimal: true,
            error: error(&e.fair_error),
        },
    ];
    let words = |s: Option<i64>| s.map_or_else(String::new, |s| duration_words(page, s));
    CategoryRow {
        id: id.to_owned(),
        save_label: page.fill("admin_routing.save", &[("category", &name)]),
        name,
        mode,
        mode_text: page.t(&format!("admin_routing.mode.{}", current.mode.as_str())),
        mode_error: error(&e.mode_error),
        fields,
        ring0: words(ring(0)),
        ring1: words(ring(1)),
        offer: duration_words(page, current.offer_timeout),
        fair: fair_words(page, current.fair_share_per_10k),
    }
}

/// The page: every category of the federation in its order, with the posted category's
/// entries (and what is wrong with them) in place of its stored settings.
fn routing_page(
    app: &AppState,
    frame: &Frame,
    admin: &Administrator,
    settings: &RoutingSettings,
    entered: Entered,
    refused: Option<Refusal>,
    done: Option<&str>,
) -> RoutingPage {
    let (mut page, nav) = admin_page(frame, app, admin, Section::Routing, "admin_routing.title");
    let can_change = admin.is_federation();
    let errors: Vec<FieldLink> = if can_change {
        let id = &entered.category;
        [
            (&entered.mode_error, "mode"),
            (&entered.ring0_error, "ring0"),
            (&entered.ring1_error, "ring1"),
            (&entered.offer_error, "offer"),
            (&entered.fair_error, "fair"),
        ]
        .into_iter()
        .filter_map(|(error, what)| {
            error.as_ref().map(|text| FieldLink {
                href: format!("#{id}-{what}"),
                text: text.clone(),
            })
        })
        .collect()
    } else {
        Vec::new()
    };
    if !errors.is_empty() {
        error_title(&mut page);
    }
    let rows = app
        .ctx
        .federation()
        .categories
        .iter()
        .map(|c| {
            let id = c.id.as_str();
            let name = category_name(app, &page, id);
            row(&page, id, name, &settings.get(id), &entered)
        })
        .collect();
    let admin = nav.confirm(&page, done);
    RoutingPage {
        page,
        admin,
        errors,
        refusal: refused,
        can_change,
        rows,
    }
}

async fn show(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let settings = app.ctx.routing_settings_for(&admin).await?;
    render(&routing_page(
        &app,
        &frame,
        &admin,
        &settings,
        Entered::default(),
        None,
        done.done.as_deref(),
    ))
}

#[derive(Deserialize)]
struct RoutingFields {
    #[serde(default)]
    category: String,
    #[serde(default)]
    mode: String,
    /// Ring 0's and ring 1's: the API's `ring_timeouts`, one field each (a form's fields each
    /// have their own name).
    #[serde(default)]
    ring0_timeout: String,
    #[serde(default)]
    ring1_timeout: String,
    #[serde(default)]
    offer_timeout: String,
    #[serde(default)]
    fair_share_per_10k: String,
}

/// Seconds as typed: a whole number from one second to a week (what the settings allow).
fn seconds(lang: crate::i18n::Lang, text: &str) -> Result<i64, String> {
    let t = |key: &str| crate::i18n::text(lang, key).to_owned();
    let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if cleaned.is_empty() {
        return Err(t("admin_routing.error.seconds_missing"));
    }
    match cleaned.parse::<i64>() {
        Ok(s) if (1..=MAX_TIMEOUT_SECS).contains(&s) => Ok(s),
        Ok(_) => Err(t("admin_routing.error.seconds_range")),
        Err(_) => Err(t("admin_routing.error.seconds_number")),
    }
}

/// The fair-share figure as typed: empty for no cap, else 0 to 10 000 (a comma or a point).
fn per_10k(lang: crate::i18n::Lang, text: &str) -> Result<Option<f64>, String> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if c == ',' { '.' } else { c })
        .collect();
    if cleaned.is_empty() {
        return Ok(None);
    }
    match cleaned.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=10_000.0).contains(&v) => Ok(Some(v)),
        _ => Err(crate::i18n::text(lang, "admin_routing.error.fair").to_owned()),
    }
}

async fn save(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    PageForm(form): PageForm<RoutingFields>,
) -> Result<Response, PageError> {
    let lang = frame.lang;
    let mut e = Entered {
        category: form.category.trim().to_owned(),
        mode: form.mode.trim().to_owned(),
        ring0: form.ring0_timeout,
        ring1: form.ring1_timeout,
        offer: form.offer_timeout,
        fair: form.fair_share_per_10k,
        ..Entered::default()
    };
    let mode = Mode::parse(&e.mode);
    if mode.is_none() {
        e.mode_error = Some(crate::i18n::text(lang, "admin_routing.error.mode").to_owned());
    }
    let ring0 = seconds(lang, &e.ring0)
        .map_err(|m| e.ring0_error = Some(m))
        .ok();
    let ring1 = seconds(lang, &e.ring1)
        .map_err(|m| e.ring1_error = Some(m))
        .ok();
    let offer = seconds(lang, &e.offer)
        .map_err(|m| e.offer_error = Some(m))
        .ok();
    let fair = per_10k(lang, &e.fair)
        .map_err(|m| e.fair_error = Some(m))
        .ok();
    let settings = app.ctx.routing_settings_for(&admin).await?;
    if e.has_errors() {
        return Ok(mistakes(&app, &frame, &admin, &settings, e));
    }
    let (Some(mode), Some(r0), Some(r1), Some(offer), Some(fair)) =
        (mode, ring0, ring1, offer, fair)
    else {
        return Ok(mistakes(&app, &frame, &admin, &settings, e));
    };
    let entry = CategoryRouting {
        category: e.category.clone(),
        mode,
        ring_timeouts: vec![r0, r1],
        offer_timeout: offer,
        fair_share_per_10k: fair,
    };
    let error = match app.ctx.set_routing_settings(&admin, &[entry]).await {
        Ok(()) => return Ok(see("/admin/routing?done=routing_saved")),
        Err(error) => error,
    };
    // What the settings' own check found (the same limits as above, should they move).
    let text = |key: &str| Some(crate::i18n::text(lang, key).to_owned());
    match &error {
        workflow::Error::InvalidField("ring_timeouts") => {
            e.ring0_error = text("admin_routing.error.seconds_range");
            e.ring1_error = text("admin_routing.error.seconds_range");
        }
        workflow::Error::InvalidField("offer_timeout") => {
            e.offer_error = text("admin_routing.error.seconds_range");
        }
        workflow::Error::InvalidField("fair_share_per_10k") => {
            e.fair_error = text("admin_routing.error.fair");
        }
        _ => {}
    }
    if e.has_errors() {
        return Ok(mistakes(&app, &frame, &admin, &settings, e));
    }
    let (page, _) = admin_page(
        &frame,
        &app,
        &admin,
        Section::Routing,
        "admin_routing.title",
    );
    let Some((refused, status)) = refusal(&page, &error) else {
        return Err(error.into());
    };
    // A refusal shows the stored settings, not what was refused.
    let shown = routing_page(
        &app,
        &frame,
        &admin,
        &settings,
        Entered::default(),
        Some(refused),
        None,
    );
    Ok(with_status(render(&shown)?, status))
}

/// The page again with what was entered and what to correct (422). Someone who may not change
/// the settings has no form to correct: they are told why instead (403).
fn mistakes(
    app: &AppState,
    frame: &Frame,
    admin: &Administrator,
    settings: &RoutingSettings,
    entered: Entered,
) -> Response {
    let (page, _) = admin_page(frame, app, admin, Section::Routing, "admin_routing.title");
    if !admin.is_federation() {
        let refused = Refusal {
            message: page.t("admin_routing.read_only").to_owned(),
            rules: Vec::new(),
        };
        let shown = routing_page(
            app,
            frame,
            admin,
            settings,
            Entered::default(),
            Some(refused),
            None,
        );
        return answer(&shown, StatusCode::FORBIDDEN);
    }
    let shown = routing_page(app, frame, admin, settings, entered, None, None);
    answer(&shown, StatusCode::UNPROCESSABLE_ENTITY)
}

fn answer(page: &RoutingPage, status: StatusCode) -> Response {
    match render(page) {
        Ok(response) => with_status(response, status),
        Err(e) => axum::response::IntoResponse::into_response(e),
    }
}
