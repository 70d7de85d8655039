//! The caseworkers' pages (API.md "Pages": `/work`, `/work/cases/{id}`): the queue they may
//! take now, offers with their expiry, their own cases and their availability; one case as
//! they may see it, with each action its own form; and `/work/rules`, the plain-language
//! explanations of the rule ids that ground their access.
//!
//! As on the citizens' pages, each handler reads the form, calls the workflow the JSON API
//! calls and renders what it answered; success is a 303 back to the page. What a workflow
//! refuses (a lost race, a policy's denial) is said on the page in words, with the deciding
//! rules, never as a JSON error. `GET /work?fragment=live` answers the live part of `/work`
//! alone, for static/work.js to swap in when the event stream says something changed; it takes
//! the same queue filter (`?category=&language=`) as the page, so a refresh keeps the filter.
//! A form that succeeded says so on the page it returns to (`?done=<key>` → `work.done.<key>`).

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::mine::{category_name, municipality_name};
use super::{Frame, Page, PageError, PageForm, Who, render};
use crate::domain::Principal;
use crate::domain::case::{Case, CaseState, Outcome, Sender};
use crate::domain::federation::CategoryKind;
use crate::domain::people::{Availability, Caseworker, Protection};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::MaybePrincipal;
use crate::workflow::{self, CaseView, MAX_TEXT_CHARS, TransferInput, Transferrer};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/work", get(overview))
        .route("/work/rules", get(rules))
        .route("/work/availability", post(availability))
        .route("/work/offers/{offer_id}/accept", post(accept))
        .route("/work/offers/{offer_id}/reject", post(reject))
        .route("/work/cases/{id}", get(case))
        .route("/work/cases/{id}/claim", post(claim))
        .route("/work/cases/{id}/messages", post(reply))
        .route("/work/cases/{id}/release", post(release))
        .route("/work/cases/{id}/transfer", post(transfer))
        .route("/work/cases/{id}/close", post(close))
        .route("/work/cases/{id}/harm-assessment", post(harm_assessment))
}

// ---------------------------------------------------------------------------------------------
// Who asks
// ---------------------------------------------------------------------------------------------

/// The logged-in caseworker, fresh from the store. Without a login the login page (401); a
/// citizen or an administrator is refused (403).
struct Staff(Caseworker);

impl FromRequestParts<AppState> for Staff {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let MaybePrincipal(principal) = MaybePrincipal::from_request_parts(parts, state)
            .await
            .map_err(PageError::from)?;
        match principal {
            Some(Principal::Caseworker { caseworker_id, .. }) => {
                match state.ctx.caseworker(&caseworker_id).await {
                    Ok(me) => Ok(Staff(me)),
                    // Removed after logging in: the login no longer holds.
                    Err(workflow::Error::NotFound) => Err(PageError::LoginNeeded),
                    Err(e) => Err(e.into()),
                }
            }
            Some(_) => Err(PageError::Forbidden),
            None => Err(PageError::LoginNeeded),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What the templates share
// ---------------------------------------------------------------------------------------------

/// One line of the error summary: a link to the field that needs correcting.
pub(super) struct ErrorLink {
    pub(super) href: &'static str,
    pub(super) text: String,
}

/// A rule id of a legal ground or a refusal, linked to its explanation where there is one.
pub(super) struct RuleLink {
    pub(super) id: String,
    pub(super) href: Option<String>,
}

/// A workflow's refusal in words: its message and the rules that decided it.
pub(super) struct Refusal {
    pub(super) message: String,
    pub(super) rules: Vec<RuleLink>,
}

pub(super) struct Choice {
    pub(super) value: String,
    pub(super) text: String,
    pub(super) selected: bool,
}

/// The rule ids explained in `locales/*/rules.toml`, in the order `/work/rules` lists them.
const RULES: [&str; 27] = [
    "R1",
    "R2",
    "R3",
    "R4",
    "R5",
    "R6",
    "R7",
    "R8",
    "R9",
    "R10",
    "R11",
    "R12",
    "R13",
    "R14",
    "R15",
    "R16",
    "R17",
    "R18",
    "R19",
    "fair-share-cap",
    "routing-settings",
    "eligibility-skill",
    "eligibility-language",
    "default-deny",
    "municipality-keeps-home",
    "category-must-stay-home",
    "volunteer-channel-not-open",
];

/// Where rule `id` is explained: a policy `R8-partner-metadata` under its rule `R8`, the
/// workflows' own ids under themselves.
pub(super) fn rule_anchor(id: &str) -> Option<&'static str> {
    let digits = id
        .strip_prefix('R')
        .map(|rest| rest.chars().take_while(char::is_ascii_digit).count())
        .unwrap_or(0);
    let key = if digits > 0 { &id[..=digits] } else { id };
    RULES.iter().copied().find(|r| *r == key)
}

impl RuleLink {
    /// The rule as a caseworker reads it: the rule's number and what the policy says in a few
    /// words ("R15 – den som har ärendet"), or the words alone for the workflows' own ids
    /// ("Kompetens för ärendets område"). The policy's own id is for the audit log (and stays
    /// in the page as `data-rule`); here the words matter.
    /// A policy without words of its own (a newer version's) borrows its rule's, else shows its
    /// id as it is.
    pub(super) fn label(&self, page: &Page) -> String {
        let anchor = rule_anchor(&self.id);
        let own = page.t(&format!("rules.short.{}", self.id));
        let short = match (own.is_empty(), anchor) {
            (false, _) => own,
            (true, Some(a)) => page.t(&format!("rules.short.{a}")),
            (true, None) => "",
        };
        let numbered = anchor.filter(|a| {
            a.strip_prefix('R')
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        });
        match (short.is_empty(), numbered) {
            (true, _) => self.id.clone(),
            (false, Some(rule)) => format!("{rule} – {short}"),
            (false, None) => short.to_owned(),
        }
    }
}

pub(super) fn rule_links(ids: &[String]) -> Vec<RuleLink> {
    ids.iter()
        .map(|id| RuleLink {
            id: id.clone(),
            href: rule_anchor(id).map(|a| format!("/work/rules#{a}")),
        })
        .collect()
}

pub(super) fn language_name(page: &Page, code: &str) -> String {
    let name = page.t(&format!("ask.language_name.{code}"));
    if name.is_empty() {
        code.to_owned()
    } else {
        name.to_owned()
    }
}

pub(super) fn iso(at: &DateTime<Utc>) -> String {
    at.to_rfc3339()
}

pub(super) fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

pub(super) fn see(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// Back to the case page, saying what was done (`work.done.<done>`).
fn see_case(id: &str, done: &str) -> Response {
    see(&format!("/work/cases/{id}?done={done}"))
}

/// Back to `/work`, saying what was done (`work.done.<done>`).
fn see_work(done: &str) -> Response {
    see(&format!("/work?done={done}"))
}

/// The confirmation a page shows for `?done=<key>`: only a key with a message
/// (`work.done.<key>`) shows anything, so a made-up or mistyped value shows nothing.
fn confirmation(page: &Page, done: Option<&str>) -> Option<&'static str> {
    done.filter(|key| !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .map(|key| page.t(&format!("work.done.{key}")))
        .filter(|text| !text.is_empty())
}

/// How long something has waited or has left, in words coarse enough to read at a glance
/// ("2 tim 5 min"; "3 dygn 4 tim" once it is days): beside a clock time, it answers "how
/// long?" without arithmetic.
fn duration_words(page: &Page, seconds: i64) -> String {
    let minutes = seconds.max(0) / 60;
    let (days, hours, rest) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    if minutes == 0 {
        page.t("work.duration.under_minute").to_owned()
    } else if minutes < 60 {
        page.fill("work.duration.minutes", &[("m", &rest.to_string())])
    } else if days == 0 {
        page.fill(
            "work.duration.hours",
            &[("h", &hours.to_string()), ("m", &rest.to_string())],
        )
    } else {
        page.fill(
            "work.duration.days",
            &[("d", &days.to_string()), ("h", &hours.to_string())],
        )
    }
}

fn page_for(frame: &Frame, app: &AppState, title_key: &str, errors: bool) -> Page {
    let mut page = Page::new(frame, app, Who::Staff, title_key);
    if errors {
        page.title = format!("{}{}", page.t("work.error_prefix"), page.title);
    }
    page
}

/// A refusal the page says in words (`None`: an error page is the answer), with the status.
pub(super) fn refusal(page: &Page, e: &workflow::Error) -> Option<(Refusal, StatusCode)> {
    let policies = match e {
        workflow::Error::Denied(d) | workflow::Error::NotEligible(d) => d.policies.clone(),
        workflow::Error::Conflict(_)
        | workflow::Error::StateConflict(_)
        | workflow::Error::Forbidden
        | workflow::Error::InvalidField(_)
        | workflow::Error::Unprocessable(_) => Vec::new(),
        _ => return None,
    };
    let api = ApiError::from(clone_error(e));
    let mut message = page.t(&format!("error.{}", api.code())).to_owned();
    if message.is_empty() || message.contains('{') {
        message = page.t("work.case.refused").to_owned();
    }
    Some((
        Refusal {
            message,
            rules: rule_links(&policies),
        },
        api.status(),
    ))
}

/// The workflow errors a page says in words, copied to learn their API code.
fn clone_error(e: &workflow::Error) -> workflow::Error {
    match e {
        workflow::Error::Denied(d) => workflow::Error::Denied(d.clone()),
        workflow::Error::NotEligible(d) => workflow::Error::NotEligible(d.clone()),
        workflow::Error::Conflict(t) => workflow::Error::Conflict(t.clone()),
        workflow::Error::StateConflict(c) => workflow::Error::StateConflict(c),
        workflow::Error::InvalidField(f) => workflow::Error::InvalidField(f),
        workflow::Error::Unprocessable(c) => workflow::Error::Unprocessable(c),
        _ => workflow::Error::Forbidden,
    }
}

// ---------------------------------------------------------------------------------------------
// GET /work
// ---------------------------------------------------------------------------------------------

struct QueueRow {
    id: String,
    category: String,
    language: String,
    urgent: bool,
    child_concern: bool,
    home: String,
    waiting: String,
    waiting_iso: String,
    /// How long it has waited, in words ("väntat 2 tim 5 min"), beside the clock time.
    waited: String,
    /// Where the case comes from when not from the caller's own municipality (ring 1 or 2).
    ring: Option<&'static str>,
    interpreter: bool,
    claim_label: String,
}

struct OfferRow {
    offer_id: String,
    id: String,
    category: String,
    language: String,
    urgent: bool,
    child_concern: bool,
    home: String,
    expires: String,
    expires_iso: String,
    /// The time left in words as the page was made ("Tid kvar: 4 min"); static/work.js
    /// counts it down to the second.
    left: String,
    interpreter: bool,
    accept_label: String,
    reject_label: String,
}

struct CaseRow {
    id: String,
    category: String,
    language: String,
    urgent: bool,
    child_concern: bool,
    interpreter: bool,
    state: &'static str,
    state_text: &'static str,
    last: String,
    last_iso: String,
    last_at: DateTime<Utc>,
    awaiting_reply: bool,
}

/// What `/work` is asked: the live fragment alone, the queue filter, a confirmation.
#[derive(Deserialize, Default)]
struct OverviewQuery {
    #[serde(default)]
    fragment: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

impl OverviewQuery {
    /// The query as given; one that cannot be read (a repeated field) is taken as none, as a
    /// page that is only looked at has nothing to correct.
    fn read(raw: Option<&str>) -> OverviewQuery {
        serde_html_form::from_str(raw.unwrap_or_default()).unwrap_or_default()
    }
}

/// The queue filter of `/work` (`?category=&language=`): empty is "all". Values are checked
/// against the choices the form offers before they are used or written into a link.
#[derive(Default)]
struct QueueFilter {
    category: Option<String>,
    language: Option<String>,
}

impl QueueFilter {
    fn of(query: &OverviewQuery) -> QueueFilter {
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        QueueFilter {
            category: given(&query.category),
            language: given(&query.language),
        }
    }

    fn active(&self) -> bool {
        self.category.is_some() || self.language.is_some()
    }

    /// Whether the queue shows `case`. A concern about a child is always shown (R10: it is
    /// dealt with at once), whatever the filter: a filter must never hide one.
    fn keeps(&self, case: &Case) -> bool {
        case.is_child_concern()
            || (self
                .category
                .as_deref()
                .is_none_or(|c| c == case.category.as_str())
                && self
                    .language
                    .as_deref()
                    .is_none_or(|l| l == case.language.as_str()))
    }

    /// The filter as query parameters after others (`&category=…&language=…`). Only checked
    /// values get here: category ids and language codes, which need no escaping.
    fn query(&self) -> String {
        let mut out = String::new();
        for (name, value) in [("category", &self.category), ("language", &self.language)] {
            if let Some(value) = value {
                out.push_str(&format!("&{name}={value}"));
            }
        }
        out
    }
}

/// The queue filter's form: its choices, and what it hides.
struct FilterForm {
    categories: Vec<Choice>,
    languages: Vec<Choice>,
    active: bool,
    /// "Showing 2 of 7 cases in the queue." while a filter is on.
    showing: String,
    /// The checked filter as query parameters, for the live fragment's address.
    query: String,
}

/// The part of `/work` that the event stream refreshes, with the counts its overview shows
/// first (so that forty cases in the queue do not hide the two child concerns among them).
/// The counts are of the whole queue, filtered or not.
struct Live {
    queue: Vec<QueueRow>,
    offers: Vec<OfferRow>,
    cases: Vec<CaseRow>,
    queue_total: usize,
    queue_urgent: usize,
    queue_child: usize,
    awaiting: usize,
    filter: FilterForm,
}

/// What the availability form shows, and what was wrong with it.
struct AvailabilityForm {
    available: bool,
    capacity: String,
    now: String,
    status_error: Option<String>,
    capacity_error: Option<String>,
    capacity_hint: String,
}

#[derive(Template)]
#[template(path = "work.html")]
struct WorkPage {
    page: Page,
    errors: Vec<ErrorLink>,
    refusal: Option<Refusal>,
    done: Option<&'static str>,
    /// Where static/work.js fetches the live part again: with the page's filter.
    fragment: String,
    live: Live,
    form: AvailabilityForm,
}

#[derive(Template)]
#[template(path = "work_live.html")]
struct LiveFragment {
    page: Page,
    live: Live,
}

/// The filter's choices: the staff categories the caseworker has the skill for or that are in
/// their queue now (a request may reach them through an interpreter or a wider ring), and
/// the federation's languages. A value not among them is dropped from the filter.
fn filter_form(
    app: &AppState,
    page: &Page,
    me: &Caseworker,
    all: &[workflow::Shown],
    filter: &mut QueueFilter,
) -> FilterForm {
    let federation = app.ctx.federation();
    let categories: Vec<Choice> = federation
        .categories
        .iter()
        .filter(|c| c.kind != CategoryKind::Volunteer)
        .filter(|c| me.skills.contains(&c.id) || all.iter().any(|s| s.case.category == c.id))
        .map(|c| Choice {
            value: c.id.as_str().to_owned(),
            text: c.name(page.code()).to_owned(),
            selected: filter.category.as_deref() == Some(c.id.as_str()),
        })
        .collect();
    let languages: Vec<Choice> = federation
        .languages
        .iter()
        .map(|l| Choice {
            value: l.as_str().to_owned(),
            text: language_name(page, l.as_str()),
            selected: filter.language.as_deref() == Some(l.as_str()),
        })
        .collect();
    if !categories.iter().any(|c| c.selected) {
        filter.category = None;
    }
    if !languages.iter().any(|l| l.selected) {
        filter.language = None;
    }
    FilterForm {
        categories,
        languages,
        active: filter.active(),
        showing: String::new(),
        query: filter.query(),
    }
}

async fn live(
    app: &AppState,
    page: &Page,
    me: &Caseworker,
    mut filter: QueueFilter,
) -> Result<Live, PageError> {
    let now = app.ctx.clock.now();
    let all = app.ctx.queue(me).await?;
    let mut filter_form = filter_form(app, page, me, &all, &mut filter);
    let queue_total = all.len();
    let queue_urgent = all.iter().filter(|s| s.case.urgent).count();
    let queue_child = all.iter().filter(|s| s.case.is_child_concern()).count();
    let mut queue: Vec<QueueRow> = all
        .iter()
        .filter(|s| filter.keeps(&s.case))
        .map(|s| {
            let c = &s.case;
            let category = category_name(app, page, c.category.as_str());
            let waiting = page.when(&c.queued_since);
            let waited = duration_words(page, (now - c.queued_since).num_seconds());
            QueueRow {
                id: c.id.as_str().to_owned(),
                claim_label: page.fill(
                    "work.queue.claim_label",
                    &[("category", &category), ("when", &waiting)],
                ),
                category,
                language: language_name(page, c.language.as_str()),
                urgent: c.urgent,
                child_concern: c.is_child_concern(),
                home: municipality_name(app, c.home.as_str()),
                waiting,
                waiting_iso: iso(&c.queued_since),
                waited: page.fill("work.queue.waited", &[("duration", &waited)]),
                ring: match c.ring {
                    0 => None,
                    1 => Some(page.t("work.queue.ring_1")),
                    _ => Some(page.t("work.queue.ring_2")),
                },
                interpreter: c.interpreter_needed,
            }
        })
        .collect();
    if filter_form.active {
        filter_form.showing = page.fill(
            "work.filter.showing",
            &[
                ("shown", &queue.len().to_string()),
                ("total", &queue_total.to_string()),
            ],
        );
    }
    let offers = app
        .ctx
        .offers(me)
        .await?
        .into_iter()
        .map(|(offer, s)| {
            let c = &s.case;
            let category = category_name(app, page, c.category.as_str());
            let seconds = (offer.expires_at - now).num_seconds();
            OfferRow {
                offer_id: offer.id.as_str().to_owned(),
                id: c.id.as_str().to_owned(),
                accept_label: page.fill("work.offers.accept_label", &[("category", &category)]),
                reject_label: page.fill("work.offers.reject_label", &[("category", &category)]),
                category,
                language: language_name(page, c.language.as_str()),
                urgent: c.urgent,
                child_concern: c.is_child_concern(),
                home: municipality_name(app, c.home.as_str()),
                expires: page.when(&offer.expires_at),
                expires_iso: iso(&offer.expires_at),
                left: if seconds > 0 {
                    format!(
                        "({} {})",
                        page.t("work.offers.left"),
                        duration_words(page, seconds)
                    )
                } else {
                    page.t("work.offers.expired").to_owned()
                },
                interpreter: c.interpreter_needed,
            }
        })
        .collect();
    let mine = app.ctx.my_cases(me).await?;
    let marks = app.ctx.awaiting_reply(me, &mine).await?;
    let mut cases: Vec<CaseRow> = mine
        .iter()
        .zip(marks)
        .filter(|(s, _)| s.case.state != CaseState::Offered)
        .map(|(s, awaiting_reply)| {
            let c = &s.case;
            CaseRow {
                id: c.id.as_str().to_owned(),
                category: category_name(app, page, c.category.as_str()),
                language: language_name(page, c.language.as_str()),
                urgent: c.urgent,
                child_concern: c.is_child_concern(),
                interpreter: c.interpreter_needed,
                state: c.state.as_str(),
                state_text: page.t(&format!("work.state.{}", c.state.as_str())),
                last: page.when(&c.updated_at),
                last_iso: iso(&c.updated_at),
                last_at: c.updated_at,
                awaiting_reply,
            }
        })
        .collect();
    // The queue comes most urgent and oldest first; a child concern (R10: at once) goes before
    // everything else on the page, the order otherwise kept.
    queue.sort_by_key(|q| !q.child_concern);
    // What needs the caseworker first: child concerns, then what the citizen wrote and waits
    // for, then the urgent; within each, the longest untouched first.
    cases.sort_by(|a, b| {
        (!a.child_concern, !a.awaiting_reply, !a.urgent, a.last_at).cmp(&(
            !b.child_concern,
            !b.awaiting_reply,
            !b.urgent,
            b.last_at,
        ))
    });
    Ok(Live {
        queue_total,
        queue_urgent,
        queue_child,
        awaiting: cases.iter().filter(|c| c.awaiting_reply).count(),
        queue,
        offers,
        cases,
        filter: filter_form,
    })
}

fn availability_form(page: &Page, me: &Caseworker, open: usize) -> AvailabilityForm {
    let max = me.max_capacity.to_string();
    let status = page.t(&format!("work.availability.{}", me.status.as_str()));
    let free = (me.capacity as usize).saturating_sub(open).to_string();
    AvailabilityForm {
        available: me.status == Availability::Available,
        capacity: me.capacity.to_string(),
        now: page.fill(
            "work.availability.now",
            &[
                ("status", status),
                ("capacity", &me.capacity.to_string()),
                ("free", &free),
                ("open", &open.to_string()),
                ("max", &max),
            ],
        ),
        status_error: None,
        capacity_error: None,
        capacity_hint: page.fill("work.availability.capacity_hint", &[("max", &max)]),
    }
}

/// What `/work` shows besides its lists: a refusal, the availability form's mistakes, the
/// queue filter, a confirmation.
#[derive(Default)]
struct Shows {
    notice: Option<Refusal>,
    entered: Option<AvailabilityForm>,
    filter: QueueFilter,
    done: Option<String>,
}

/// `/work`, with a refusal or the availability form's mistakes when a form was refused.
async fn work_page(
    app: &AppState,
    frame: &Frame,
    me: &Caseworker,
    shows: Shows,
    status: StatusCode,
) -> Result<Response, PageError> {
    let Shows {
        notice,
        entered,
        filter,
        done,
    } = shows;
    let mut errors = Vec::new();
    if let Some(form) = &entered {
        if let Some(text) = &form.status_error {
            errors.push(ErrorLink {
                href: "#status",
                text: text.clone(),
            });
        }
        if let Some(text) = &form.capacity_error {
            errors.push(ErrorLink {
                href: "#capacity",
                text: text.clone(),
            });
        }
    }
    let page = page_for(frame, app, "work.title", !errors.is_empty());
    let live = live(app, &page, me, filter).await?;
    let open = live.cases.len() + live.offers.len();
    let mut form = availability_form(&page, me, open);
    if let Some(entered) = entered {
        form.available = entered.available;
        form.capacity = entered.capacity;
        form.status_error = entered.status_error;
        form.capacity_error = entered.capacity_error;
    }
    let fragment = format!("/work?fragment=live{}", live.filter.query);
    let html = render(&WorkPage {
        done: confirmation(&page, done.as_deref()),
        page,
        errors,
        refusal: notice,
        fragment,
        live,
        form,
    })?;
    Ok(with_status(html, status))
}

async fn overview(
    State(app): State<AppState>,
    frame: Frame,
    Staff(me): Staff,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let query = OverviewQuery::read(raw.as_deref());
    let filter = QueueFilter::of(&query);
    if query.fragment.as_deref() == Some("live") {
        let page = page_for(&frame, &app, "work.title", false);
        let live = live(&app, &page, &me, filter).await?;
        return render(&LiveFragment { page, live });
    }
    let shows = Shows {
        filter,
        done: query.done,
        ..Shows::default()
    };
    work_page(&app, &frame, &me, shows, StatusCode::OK).await
}

#[derive(Deserialize)]
struct AvailabilityFields {
    #[serde(default)]
    status: String,
    #[serde(default)]
    capacity: String,
}

async fn availability(
    State(app): State<AppState>,
    frame: Frame,
    Staff(me): Staff,
    PageForm(form): PageForm<AvailabilityFields>,
) -> Result<Response, PageError> {
    let lang = frame.lang;
    let max = me.max_capacity.to_string();
    let status = Availability::parse(form.status.trim());
    let capacity = match form.capacity.trim() {
        "" => Ok(None),
        text => text
            .parse::<u32>()
            .ok()
            .filter(|c| *c <= me.max_capacity)
            .map(Some)
            .ok_or(()),
    };
    let mut status_error = status
        .is_none()
        .then(|| crate::i18n::text(lang, "work.availability.status_missing").to_owned());
    let mut capacity_error = capacity
        .is_err()
        .then(|| crate::i18n::fill(lang, "work.availability.capacity_invalid", &[("max", &max)]));
    if let (Some(status), Ok(capacity)) = (status, capacity) {
        match app.ctx.set_availability(&me, status, capacity).await {
            Ok(_) => return Ok(see_work("availability_saved")),
            Err(workflow::Error::InvalidField("capacity")) => {
                capacity_error = Some(crate::i18n::fill(
                    lang,
                    "work.availability.capacity_invalid",
                    &[("max", &max)],
                ));
            }
            Err(workflow::Error::InvalidField(_)) => {
                status_error =
                    Some(crate::i18n::text(lang, "work.availability.status_missing").to_owned());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let entered = AvailabilityForm {
        available: status != Some(Availability::Away),
        capacity: form.capacity,
        now: String::new(),
        status_error,
        capacity_error,
        capacity_hint: String::new(),
    };
    let shows = Shows {
        entered: Some(entered),
        ..Shows::default()
    };
    work_page(&app, &frame, &me, shows, StatusCode::UNPROCESSABLE_ENTITY).await
}

/// Nothing but the CSRF token.
#[derive(Deserialize)]
struct Confirmed {}

async fn accept(
    State(app): State<AppState>,
    frame: Frame,
    Staff(me): Staff,
    Path(offer_id): Path<String>,
    PageForm(Confirmed {}): PageForm<Confirmed>,
) -> Result<Response, PageError> {
    match app.ctx.accept_offer(&me, &offer_id).await {
        Ok(shown) => Ok(see_case(shown.case.id.as_str(), "accepted")),
        Err(e) => offer_refused(&app, &frame, &me, e).await,
    }
}

async fn reject(
    State(app): State<AppState>,
    frame: Frame,
    Staff(me): Staff,
    Path(offer_id): Path<String>,
    PageForm(Confirmed {}): PageForm<Confirmed>,
) -> Result<Response, PageError> {
    match app.ctx.reject_offer(&me, &offer_id).await {
        Ok(()) => Ok(see_work("rejected")),
        Err(e) => offer_refused(&app, &frame, &me, e).await,
    }
}

/// An offer that could not be answered (it expired, or went elsewhere): `/work` saying so.
async fn offer_refused(
    app: &AppState,
    frame: &Frame,
    me: &Caseworker,
    e: workflow::Error,
) -> Result<Response, PageError> {
    let page = page_for(frame, app, "work.title", false);
    match refusal(&page, &e) {
        Some((notice, status)) => {
            let shows = Shows {
                notice: Some(notice),
                ..Shows::default()
            };
            work_page(app, frame, me, shows, status).await
        }
        None => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------------------------
// GET /work/cases/{id} and its forms
// ---------------------------------------------------------------------------------------------

struct MessageLine {
    staff: bool,
    who: &'static str,
    at: String,
    at_iso: String,
    body: String,
}

/// What the caseworker entered, kept when the page is shown again, and what was wrong.
#[derive(Default)]
struct Entered {
    reply: String,
    reply_error: Option<String>,
    municipality: String,
    colleague: String,
    colleague_error: Option<String>,
    reason: String,
    reason_error: Option<String>,
    target_error: Option<String>,
    outcome: String,
    outcome_error: Option<String>,
    harm: String,
    harm_error: Option<String>,
    harm_reason: String,
    harm_reason_error: Option<String>,
    refusal: Option<Refusal>,
    /// `?done=` of the page a form returned to.
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "work_case.html")]
struct CasePage {
    page: Page,
    errors: Vec<ErrorLink>,
    refusal: Option<Refusal>,
    done: Option<&'static str>,
    e: Entered,
    id: String,
    category: String,
    language: String,
    interpreter: bool,
    urgent: bool,
    child_concern: bool,
    home: String,
    handler: Option<String>,
    state: &'static str,
    state_text: &'static str,
    waiting: String,
    waiting_iso: String,
    outcome: Option<&'static str>,
    identity: bool,
    citizen: Option<String>,
    protection: &'static str,
    /// The harm assessment's answer, for a citizen with sekretessmarkering (R12).
    harm_assessment: Option<&'static str>,
    /// Why the case was last transferred, for whoever may read the content (R8, R17).
    transfer_reason: Option<String>,
    ground: Vec<RuleLink>,
    messages: Vec<MessageLine>,
    final_state: bool,
    can_claim: bool,
    offered_to_me: bool,
    mine: bool,
    can_assess: bool,
    municipalities: Vec<Choice>,
    outcomes: Vec<Choice>,
}

fn case_page(
    app: &AppState,
    frame: &Frame,
    me: &Caseworker,
    view: CaseView,
    mut e: Entered,
) -> CasePage {
    let mut errors = Vec::new();
    for (error, href) in [
        (&e.reply_error, "#text"),
        (&e.target_error, "#municipality"),
        (&e.colleague_error, "#caseworker_id"),
        (&e.reason_error, "#reason"),
        (&e.outcome_error, "#outcome"),
        (&e.harm_error, "#cross_border_ok"),
        (&e.harm_reason_error, "#harm_reason"),
    ] {
        if let Some(text) = error {
            errors.push(ErrorLink {
                href,
                text: text.clone(),
            });
        }
    }
    let page = page_for(frame, app, "work.case.title", !errors.is_empty());
    let case = &view.case;
    let mine = case.is_owned_by(&me.id) && case.state.is_owned();
    let citizen = view.identity.then(|| {
        case.personnummer().map_or_else(
            || page.t("work.case.anonymous").to_owned(),
            // Written as people write it: YYYYMMDD-NNNN.
            |p| {
                let digits = p.as_str();
                format!("{}-{}", &digits[..8], &digits[8..])
            },
        )
    });
    let messages = view
        .messages
        .iter()
        .map(|m| {
            let staff = m.sender == Sender::Caseworker;
            MessageLine {
                staff,
                who: page.t(if staff {
                    "work.case.from_staff"
                } else {
                    "work.case.from_citizen"
                }),
                at: page.when(&m.at),
                at_iso: iso(&m.at),
                body: m.body.clone(),
            }
        })
        .collect();
    let municipalities = app
        .ctx
        .federation()
        .municipalities
        .iter()
        .map(|m| Choice {
            value: m.code.as_str().to_owned(),
            text: m.name.clone(),
            selected: e.municipality == m.code.as_str(),
        })
        .collect();
    let outcomes = Outcome::ALL
        .iter()
        .map(|o| Choice {
            value: o.as_str().to_owned(),
            text: page.t(&format!("work.outcome.{}", o.as_str())).to_owned(),
            selected: e.outcome == o.as_str(),
        })
        .collect();
    CasePage {
        errors,
        id: case.id.as_str().to_owned(),
        category: category_name(app, &page, case.category.as_str()),
        language: language_name(&page, case.language.as_str()),
        interpreter: case.interpreter_needed,
        urgent: case.urgent,
        child_concern: case.is_child_concern(),
        home: municipality_name(app, case.home.as_str()),
        handler: case
            .handler
            .as_ref()
            .filter(|_| case.state.is_owned())
            .map(|h| municipality_name(app, h.as_str())),
        state: case.state.as_str(),
        state_text: page.t(&format!("work.state.{}", case.state.as_str())),
        waiting: page.when(&case.queued_since),
        waiting_iso: iso(&case.queued_since),
        outcome: case
            .outcome
            .map(|o| page.t(&format!("work.outcome.{}", o.as_str()))),
        identity: view.identity,
        citizen,
        protection: page.t(&format!("work.protection.{}", case.protection.as_str())),
        // Shown to whoever may see the protection (the citizen's identity) and to the home
        // staff, who are the ones to assess (R12); never to a partner looking at metadata.
        harm_assessment: (case.protection == Protection::Sekretessmarkering
            && (view.identity || case.home == me.municipality))
            .then(|| {
                page.t(&format!(
                    "work.case.harm_now.{}",
                    case.harm_assessment.map_or("none", |h| h.as_str())
                ))
            }),
        transfer_reason: case.transfer_reason.clone().filter(|_| view.identity),
        ground: rule_links(&view.legal_ground),
        messages,
        final_state: case.state.is_final(),
        can_claim: case.state == CaseState::Queued,
        offered_to_me: case.state == CaseState::Offered && case.is_owned_by(&me.id),
        mine,
        // R12: a home caseworker assesses harm for a citizen with sekretessmarkering; the
        // workflow decides who exactly may, and says so if not.
        can_assess: !case.state.is_final()
            && case.home == me.municipality
            && case.protection == Protection::Sekretessmarkering,
        municipalities,
        outcomes,
        refusal: e.refusal.take(),
        done: confirmation(&page, e.done.as_deref()),
        e,
        page,
    }
}

/// The case page again, with what was entered and what to fix (422).
async fn again(
    app: &AppState,
    frame: &Frame,
    me: &Caseworker,
    id: &str,
    entered: Entered,
) -> Result<Response, PageError> {
    show(
        app,
        frame,
        me,
        id,
        entered,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

async fn show(
    app: &AppState,
    frame: &Frame,
    me: &Caseworker,
    id: &str,
    entered: Entered,
    status: StatusCode,
) -> Result<Response, PageError> {
    let view = app.ctx.view_case(me, id).await?;
    let page = case_page(app, frame, me, view, entered);
    Ok(with_status(render(&page)?, status))
}

/// `?done=` on the case page.
#[derive(Deserialize, Default)]
struct CaseQuery {
    #[serde(default)]
    done: Option<String>,
}

async fn case(
    State(app): State<AppState>,
    frame: Frame,
    Staff(me): Staff,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let query: CaseQuery =
        serde_html_form::from_str(raw.as_deref().unwrap_or_default()).unwrap_or_default();
    let entered = Entered {
        done: query.done,
        ..Entered::default()
    };
    show(&app, &frame, &me, &id, entered, StatusCode::OK).await
}

/// After an action: 303 back to the case page saying `done_key` was done, or the page saying
/// what was refused.
async fn done<T>(
    app: &AppState,
    frame: &Frame,
    me: &Caseworker,
    id: &str,
    result: Result<T, workflow::Error>,
    done_key: &str,
    mut entered: Entered,
) -> Result<Response, PageError> {
    let e = match result {
        Ok(_) => return Ok(see_case(id, done_key)),
        Err(e) => e,
    };
    let page = page_for(frame, app, "work.case.title", false);
    let Some((refused, status)) = refusal(&page, &e) else {
        return Err(e.into());
    };
    entered.refusal = Some(refused);
    show(app, frame, me, id, entered, status).await
}

async fn claim(
    State(app): State<AppState>,
    frame: Frame,
    Staff(me): Staff,
    Path(id): Path<String>,
    PageForm(Confirmed {}): PageForm<Confirmed>,
) -> Result<Response, PageError> {
    let result = app.ctx.claim(&me, &id).await;
    done(
        &app,
        &frame,
        &me,
        &id,
        result,
        "claimed",
        Entered::default(),
    )
    .await
}

async fn release(
    State(app): State<AppState>,
    frame: Frame,
    Staff(me): Staff,
    Path(id): Path<String>,
    PageForm(Confirmed {}): PageForm<Confirmed>,
) -> Result<Response, PageError> {
    match app.ctx.release(&me, &id).await {
        // Released, the case may be out of sight (metadata of another municipality's queue):
        // back to the work page.
        Ok(_) => Ok(see_work("released")),
        Err(e) => done::<()>(&app, &frame, &me, &id, Err(e), "", Entered::default()).await,
    }
}

#[derive(Deserialize)]
struct ReplyFields {
    #[serde(default)]
    text: String,
}

async fn reply(
    State(app): State<AppState>,
    frame: Frame,
    Staff(me): Staff,
    Path(id): Path<String>,
    PageForm(form): PageForm<ReplyFields>,
) -> Result<Response, PageError> {
    let lang = frame.lang;
    let trimmed = form.text.trim();
    let problem = if trimmed.is_empty() {
        Some("work.case.reply_empty")
    } else if trimmed.chars().count() > MAX_TEXT_CHARS {
        Some("mine.request.reply_too_long")
    } else {
        None
    };
    let mut entered = Entered {
        reply_error: problem.map(|k| crate::i18n::text(lang, k).to_owned()),
        ..Entered::default()
    };
    if problem.is_none() {
        match app.ctx.caseworker_writes(&me, &id, &form.text).await {
            Ok(_) => return Ok(see_case(&id, "replied")),
            Err(workflow::Error::InvalidField("text")) => {
                entered.reply_error = Some(crate::i18n::text(lang, "work.case.reply_empty").into());
            }
            Err(e) => {
                entered.reply = form.text;
                return done::<()>(&app, &frame, &me, &id, Err(e), "", entered).await;
            }
        }
    }
    entered.reply = form.text;
    again(&app, &frame, &me, &id, entered).await
}

#[derive(Deserialize)]
struct TransferFields {
    #[serde(default)]
    municipality: String,
    #[serde(default)]
    caseworker_id: String,
    #[serde(default)]
    reason: String,
}

async fn transfer(
    State(app): State<AppState>,
    frame: Frame,
    Staff(me): Staff,
    Path(id): Path<String>,
    PageForm(form): PageForm<TransferFields>,
) -> Result<Response, PageError> {
    let lang = frame.lang;
    let text = |key: &str| Some(crate::i18n::text(lang, key).to_owned());
    let municipality = form.municipality.trim().to_owned();
    let colleague = form.caseworker_id.trim().to_owned();
    let mut entered = Entered {
        municipality: municipality.clone(),
        colleague: colleague.clone(),
        reason: form.reason.clone(),
        ..Entered::default()
    };
    if municipality.is_empty() && colleague.is_empty() {
        entered.target_error = text("work.case.transfer_target_missing");
    }
    if form.reason.trim().is_empty() {
        entered.reason_error = text("work.case.transfer_reason_empty");
    }
    if entered.target_error.is_none() && entered.reason_error.is_none() {
        let input = TransferInput {
            municipality: (!municipality.is_empty()).then_some(municipality),
            caseworker_id: (!colleague.is_empty()).then_some(colleague),
            reason: form.reason,
        };
        match app
            .ctx
            .transfer(Transferrer::Caseworker(&me), &id, input)
            .await
        {
            // The case has left the caseworker: back to the work page.
            Ok(_) => return Ok(see_work("transferred")),
            Err(workflow::Error::InvalidField("reason")) => {
                entered.reason_error = text("work.case.transfer_reason_empty");
            }
            Err(
                workflow::Error::Unprocessable("unknown_caseworker")
                | workflow::Error::InvalidField("caseworker_id"),
            ) => {
                entered.colleague_error = text("work.case.transfer_unknown_caseworker");
            }
            Err(e) => return done::<()>(&app, &frame, &me, &id, Err(e), "", entered).await,
        }
    }
    again(&app, &frame, &me, &id, entered).await
}

#[derive(Deserialize)]
struct CloseFields {
    #[serde(default)]
    outcome: String,
}

async fn close(
    State(app): State<AppState>,
    frame: Frame,
    Staff(me): Staff,
    Path(id): Path<String>,
    PageForm(form): PageForm<CloseFields>,
) -> Result<Response, PageError> {
    let Some(outcome) = Outcome::parse(form.outcome.trim()) else {
        let entered = Entered {
            outcome_error: Some(crate::i18n::text(frame.lang, "work.case.close_missing").into()),
            ..Entered::default()
        };
        return again(&app, &frame, &me, &id, entered).await;
    };
    let result = app.ctx.close(&me, &id, outcome).await;
    done(&app, &frame, &me, &id, result, "closed", Entered::default()).await
}

#[derive(Deserialize)]
struct HarmFields {
    #[serde(default)]
    cross_border_ok: String,
    #[serde(default)]
    reason: String,
}

async fn harm_assessment(
    State(app): State<AppState>,
    frame: Frame,
    Staff(me): Staff,
    Path(id): Path<String>,
    PageForm(form): PageForm<HarmFields>,
) -> Result<Response, PageError> {
    let lang = frame.lang;
    let ok = match form.cross_border_ok.as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    let mut entered = Entered {
        harm: form.cross_border_ok.clone(),
        harm_reason: form.reason.clone(),
        ..Entered::default()
    };
    if ok.is_none() {
        entered.harm_error = Some(crate::i18n::text(lang, "work.case.harm_choose").into());
    }
    if form.reason.trim().is_empty() {
        entered.harm_reason_error =
            Some(crate::i18n::text(lang, "work.case.harm_reason_empty").into());
    }
    if let (Some(ok), None) = (ok, &entered.harm_reason_error) {
        match app
            .ctx
            .record_harm_assessment(&me, &id, ok, &form.reason)
            .await
        {
            Ok(_) => return Ok(see_case(&id, "harm_saved")),
            Err(workflow::Error::InvalidField("reason")) => {
                entered.harm_reason_error =
                    Some(crate::i18n::text(lang, "work.case.harm_reason_empty").into());
            }
            Err(e) => return done::<()>(&app, &frame, &me, &id, Err(e), "", entered).await,
        }
    }
    again(&app, &frame, &me, &id, entered).await
}

// ---------------------------------------------------------------------------------------------
// GET /work/rules
// ---------------------------------------------------------------------------------------------

struct RuleText {
    id: &'static str,
    text: &'static str,
}

#[derive(Template)]
#[template(path = "work_rules.html")]
struct RulesPage {
    page: Page,
    rules: Vec<RuleText>,
}

/// The explanations are public: anyone may read what the rules say.
async fn rules(
    State(app): State<AppState>,
    frame: Frame,
    MaybePrincipal(principal): MaybePrincipal,
) -> Result<Response, PageError> {
    let page = Page::new(&frame, &app, Who::of(principal.as_ref()), "rules.title");
    let rules = RULES
        .iter()
        .map(|id| RuleText {
            id,
            text: page.t(&format!("rules.text.{id}")),
        })
        .collect();
    render(&RulesPage { page, rules })
}
