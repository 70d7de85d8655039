//! The audit pages of the administration (issue 22, point 7): searching the trail by case,
//! actor, chain and time; verifying every chain; the follow-up report of unusual access with
//! its CSV download; and one case's routing decisions told as sentences beside its events.
//!
//! Each handler calls the workflow the audit API calls (`audit_trail`, `verify_audit`,
//! `follow_up`, `routing_traces`), so what an administrator may read here is what the policies
//! let them read there — a municipality's administrators their own chain, the federation's
//! every chain — and each reading is audited by the workflow as on the API. A refusal is said
//! on the page in words with the API's status.
//!
//! The routing traces are the router's own record (`src/routing/select.rs`: the rings with
//! their municipalities, the caseworkers weighed and why each was passed over, the
//! municipalities the policies kept away and by which rules). They are told here from message
//! templates in the reader's language; what a trace does not record — the agreement behind a
//! partner's permit, the request's category, whether it was anonymous — is taken from the
//! federation's agreements valid on the trace's day and from the case's submission event.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::super::work::{Choice, ErrorLink, Refusal, RuleLink, refusal, rule_links, with_status};
use super::{Admin, AdminFrame, Section, admin_page, error_title, municipality_name};
use crate::audit::{AuditEntry, role_of};
use crate::clock::{local_date, start_of_local_day};
use crate::domain::Administrator;
use crate::domain::case::RoutingTrace;
use crate::domain::federation::{CategoryKind, Federation};
use crate::domain::ids::CaseId;
use crate::http::AppState;
use crate::http::pages::{Frame, Page, PageError, PageForm, Who, render};
use crate::i18n::{self, Lang};
use crate::workflow::{self, AuditSearch, Finding, Verification};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/audit", get(search))
        .route("/admin/audit/verify", post(verify))
        .route("/admin/audit/cases/{id}", get(case))
        .route("/admin/audit/follow-up", get(follow_up))
        .route("/admin/audit/follow-up.csv", get(follow_up_csv))
}

/// How many events a search shows unless asked otherwise, and the most it may ask for (the
/// API's own ceiling).
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 5000;
/// The most events of one case its page shows.
const CASE_EVENTS: u32 = 1000;
/// The follow-up report's period when none was asked for: the last 30 days.
const FOLLOW_UP_DAYS: u64 = 30;
/// A detail longer than this is cut (the API has it whole).
const DETAIL_CHARS: usize = 300;

// ---------------------------------------------------------------------------------------------
// What the pages share
// ---------------------------------------------------------------------------------------------

/// An instant for `<time datetime>`: whole seconds (HTML allows at most three decimals).
pub(super) fn iso(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One audit event as a table row.
struct EventRow {
    at: String,
    at_iso: String,
    /// Whose chain: a municipality's name, or the federation's.
    chain: String,
    seq: Option<i64>,
    actor: String,
    actor_name: Option<String>,
    role: String,
    /// The action in words where there is a message for it, else its code.
    action: String,
    case_id: Option<String>,
    rules: Vec<RuleLink>,
    detail: String,
}

fn event_row(app: &AppState, page: &Page, e: &AuditEntry) -> EventRow {
    let role = e
        .role
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| role_of(&e.actor).to_owned());
    EventRow {
        at: page.when(&e.at),
        at_iso: iso(&e.at),
        chain: chain_name(app, page, &e.municipality),
        seq: e.seq,
        actor: e.actor.clone(),
        actor_name: e.actor_name.clone().filter(|n| !n.is_empty()),
        role: words(page, "admin_audit.role", &role),
        action: words(page, "admin_audit.action", &e.action),
        case_id: e.case_id.clone(),
        rules: rule_links(&e.policies),
        detail: detail_summary(&e.detail),
    }
}

/// The message `<prefix>.<code>`, or the code itself where there is none.
fn words(page: &Page, prefix: &str, code: &str) -> String {
    let text = page.t(&format!("{prefix}.{code}"));
    if text.is_empty() {
        code.to_owned()
    } else {
        text.to_owned()
    }
}

/// A chain's name: a member's, or "the federation" for the federation's own chain.
fn chain_name(app: &AppState, page: &Page, chain: &str) -> String {
    if chain == app.ctx.federation().id {
        page.t("admin_audit.federation_chain").to_owned()
    } else {
        municipality_name(app, chain)
    }
}

/// An event's detail on one line: `key: value; …`, lists joined, cut at [`DETAIL_CHARS`].
fn detail_summary(detail: &Value) -> String {
    fn scalar(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(", "),
            Value::Null => "–".to_owned(),
            other => other.to_string(),
        }
    }
    let text = match detail {
        Value::Null => String::new(),
        Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{k}: {}", scalar(v)))
            .collect::<Vec<_>>()
            .join("; "),
        other => scalar(other),
    };
    if text.chars().count() > DETAIL_CHARS {
        let cut: String = text.chars().take(DETAIL_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// A count with the reader's thousands separator (`1 234`, `1,234`).
fn grouped(lang: Lang, n: u64) -> String {
    let digits = n.to_string();
    let separator = i18n::text(lang, "admin_audit.thousands");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(separator);
        }
        out.push(c);
    }
    out
}

/// A date field: empty is none; else a Stockholm calendar date written `YYYY-MM-DD` (what a
/// date input sends).
fn date_field(value: &str) -> Result<Option<NaiveDate>, ()> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| ())
}

/// A period of Stockholm calendar days, both ends included, as the trail's instants: from the
/// first day's local midnight up to (not including) the midnight after the last day.
fn instants(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    (
        from.map(start_of_local_day),
        to.and_then(|d| d.checked_add_days(Days::new(1)))
            .map(start_of_local_day),
    )
}

/// The period fields of a form: what was entered, and what is wrong with it.
#[derive(Default)]
struct PeriodForm {
    from: String,
    to: String,
    from_error: Option<String>,
    to_error: Option<String>,
}

impl PeriodForm {
    /// Checks the entered dates; the period when they are right.
    fn check(&mut self, lang: Lang) -> Option<(Option<NaiveDate>, Option<NaiveDate>)> {
        let text = |key: &str| Some(i18n::text(lang, key).to_owned());
        let from = date_field(&self.from);
        let to = date_field(&self.to);
        if from.is_err() {
            self.from_error = text("admin_audit.period.date_invalid");
        }
        if to.is_err() {
            self.to_error = text("admin_audit.period.date_invalid");
        }
        let (Ok(from), Ok(to)) = (from, to) else {
            return None;
        };
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            self.to_error = text("admin_audit.period.to_before_from");
            return None;
        }
        Some((from, to))
    }

    fn errors(&self) -> Vec<ErrorLink> {
        [(&self.from_error, "#from"), (&self.to_error, "#to")]
            .into_iter()
            .filter_map(|(error, href)| {
                error.as_ref().map(|text| ErrorLink {
                    href,
                    text: text.clone(),
                })
            })
            .collect()
    }
}

/// A query string as a struct of text fields; one that cannot be read (a field repeated) is a
/// bad request.
fn read_query<T: serde::de::DeserializeOwned + Default>(raw: Option<&str>) -> Result<T, PageError> {
    match raw {
        None => Ok(T::default()),
        Some(q) => serde_html_form::from_str(q).map_err(|_| PageError::BadForm),
    }
}

/// Whether a query asks anything (a form was sent, even with every field empty).
fn asked(raw: Option<&str>) -> bool {
    raw.is_some_and(|q| !q.trim().is_empty())
}

// ---------------------------------------------------------------------------------------------
// GET /admin/audit, POST /admin/audit/verify
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct SearchQuery {
    #[serde(default)]
    case: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    municipality: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

/// What the search form shows: what was entered, and what is wrong with it.
#[derive(Default)]
struct SearchForm {
    case: String,
    actor: String,
    municipality: String,
    period: PeriodForm,
    limit: String,
    case_error: Option<String>,
    actor_error: Option<String>,
    municipality_error: Option<String>,
    limit_error: Option<String>,
}

/// What was found.
struct Results {
    rows: Vec<EventRow>,
    count: String,
    /// As many as the limit: there may be more.
    more: bool,
}

/// The chain verification's result in words.
struct VerificationView {
    ok: bool,
    text: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    page: Page,
    admin: AdminFrame,
    errors: Vec<ErrorLink>,
    refusal: Option<Refusal>,
    form: SearchForm,
    /// The chains a federation administrator may choose among (none for a municipality's
    /// administrator, who reads their own).
    chains: Vec<Choice>,
    scope_note: Option<String>,
    results: Option<Results>,
    verification: Option<VerificationView>,
}

impl SearchForm {
    fn of(query: SearchQuery) -> SearchForm {
        SearchForm {
            case: query.case.unwrap_or_default().trim().to_owned(),
            actor: query.actor.unwrap_or_default().trim().to_owned(),
            municipality: query.municipality.unwrap_or_default().trim().to_owned(),
            period: PeriodForm {
                from: query.from.unwrap_or_default().trim().to_owned(),
                to: query.to.unwrap_or_default().trim().to_owned(),
                ..PeriodForm::default()
            },
            limit: query.limit.unwrap_or_default().trim().to_owned(),
            ..SearchForm::default()
        }
    }

    /// Checks what was entered; the search when it is right. A chain is checked against the
    /// choices only where the form offers them (a federation administrator's); anything else
    /// given goes to the workflow, which refuses another municipality's chain in words.
    fn check(&mut self, lang: Lang, chains: &[String]) -> Option<AuditSearch> {
        let text = |key: &str| Some(i18n::text(lang, key).to_owned());
        if !self.case.is_empty() && CaseId::parse(&self.case).is_err() {
            self.case_error = text("admin_audit.search.case_invalid");
        }
        if self.actor.chars().count() > 200 || self.actor.chars().any(char::is_control) {
            self.actor_error = text("admin_audit.search.actor_invalid");
        }
        if !self.municipality.is_empty()
            && !chains.is_empty()
            && !chains.contains(&self.municipality)
        {
            self.municipality_error = text("admin_audit.search.municipality_invalid");
        }
        let limit = if self.limit.is_empty() {
            Some(DEFAULT_LIMIT)
        } else {
            self.limit
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
        };
        if limit.is_none() {
            self.limit_error = Some(i18n::fill(
                lang,
                "admin_audit.search.limit_invalid",
                &[("max", &MAX_LIMIT.to_string())],
            ));
        }
        let period = self.period.check(lang);
        let wrong = self.case_error.is_some()
            || self.actor_error.is_some()
            || self.municipality_error.is_some();
        let (Some(limit), Some((from, to)), false) = (limit, period, wrong) else {
            return None;
        };
        let (from, to) = instants(from, to);
        let given = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Some(AuditSearch {
            case: given(&self.case),
            actor: given(&self.actor),
            municipality: given(&self.municipality),
            from,
            to,
            limit,
        })
    }

    /// The error summary's links, in the form's order.
    fn errors(&self) -> Vec<ErrorLink> {
        let mut errors: Vec<ErrorLink> = [
            (&self.case_error, "#case"),
            (&self.actor_error, "#actor"),
            (&self.municipality_error, "#municipality"),
        ]
        .into_iter()
        .filter_map(|(error, href)| {
            error.as_ref().map(|text| ErrorLink {
                href,
                text: text.clone(),
            })
        })
        .collect();
        errors.extend(self.period.errors());
        if let Some(text) = &self.limit_error {
            errors.push(ErrorLink {
                href: "#limit",
                text: text.clone(),
            });
        }
        errors
    }
}

/// The chains a federation administrator may search (their values): the federation's own and
/// each member's; none for a municipality's administrator, who reads their own.
fn chain_values(app: &AppState, admin: &Administrator) -> Vec<String> {
    if admin.municipality.is_some() {
        return Vec::new();
    }
    let federation = app.ctx.federation();
    std::iter::once(federation.id.clone())
        .chain(
            federation
                .municipalities
                .iter()
                .map(|m| m.code.as_str().to_owned()),
        )
        .collect()
}

/// The chain choices of the form: all, then the federation's own, then each member.
fn chains(app: &AppState, page: &Page, admin: &Administrator, chosen: &str) -> Vec<Choice> {
    let values = chain_values(app, admin);
    if values.is_empty() {
        return Vec::new();
    }
    std::iter::once(Choice {
        value: String::new(),
        text: page.t("admin_audit.search.every_chain").to_owned(),
        selected: chosen.is_empty(),
    })
    .chain(values.into_iter().map(|value| Choice {
        text: chain_name(app, page, &value),
        selected: chosen == value,
        value,
    }))
    .collect()
}

/// The audit page around the search form as entered (its mistakes in the error summary).
fn audit_page(
    app: &AppState,
    frame: &Frame,
    admin: &Administrator,
    mut form: SearchForm,
) -> AuditPage {
    let (mut page, admin_frame) =
        admin_page(frame, app, admin, Section::Audit, "admin_audit.title");
    let chains = chains(app, &page, admin, &form.municipality);
    let errors = form.errors();
    if !errors.is_empty() {
        error_title(&mut page);
    }
    let scope_note = admin.municipality.as_ref().map(|m| {
        page.fill(
            "admin_audit.search.own_chain",
            &[("municipality", &municipality_name(app, m.as_str()))],
        )
    });
    if form.limit.is_empty() {
        form.limit = DEFAULT_LIMIT.to_string();
    }
    AuditPage {
        page,
        admin: admin_frame,
        errors,
        refusal: None,
        form,
        chains,
        scope_note,
        results: None,
        verification: None,
    }
}

/// `GET /admin/audit`: the search form; with a query, the events found (newest first).
async fn search(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let query: SearchQuery = read_query(raw.as_deref())?;
    let mut form = SearchForm::of(query);
    if !asked(raw.as_deref()) {
        return render(&audit_page(&app, &frame, &admin, form));
    }
    let Some(search) = form.check(frame.lang, &chain_values(&app, &admin)) else {
        let shown = audit_page(&app, &frame, &admin, form);
        return Ok(with_status(
            render(&shown)?,
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    };
    let limit = search.limit;
    let mut shown = audit_page(&app, &frame, &admin, form);
    match app.ctx.audit_trail(&admin, search).await {
        Ok(events) => {
            let page = &shown.page;
            let count = u64::try_from(events.len()).unwrap_or(u64::MAX);
            shown.results = Some(Results {
                count: page.fill(
                    "admin_audit.search.count",
                    &[("count", &grouped(page.lang, count))],
                ),
                more: count >= u64::from(limit),
                rows: events.iter().map(|e| event_row(&app, page, e)).collect(),
            });
            render(&shown)
        }
        Err(e) => refused(shown, e),
    }
}

/// The page again, saying what the workflow refused, with the API's status; anything else is
/// the error page.
fn refused(mut shown: AuditPage, e: workflow::Error) -> Result<Response, PageError> {
    let Some((notice, status)) = refusal(&shown.page, &e) else {
        return Err(e.into());
    };
    shown.refusal = Some(notice);
    Ok(with_status(render(&shown)?, status))
}

#[derive(Deserialize)]
struct Confirmed {}

/// `POST /admin/audit/verify`: every chain checked now; the audit page says the result.
async fn verify(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    PageForm(Confirmed {}): PageForm<Confirmed>,
) -> Result<Response, PageError> {
    let mut shown = audit_page(&app, &frame, &admin, SearchForm::default());
    match app.ctx.verify_audit(&admin).await {
        Ok(v) => {
            shown.verification = Some(verification_view(&app, &shown.page, &v));
            render(&shown)
        }
        Err(e) => refused(shown, e),
    }
}

fn verification_view(app: &AppState, page: &Page, v: &Verification) -> VerificationView {
    let events = grouped(page.lang, v.events);
    let text = match &v.first_broken {
        None => page.fill("admin_audit.verify.ok", &[("events", &events)]),
        Some(broken) => page.fill(
            "admin_audit.verify.broken",
            &[
                ("municipality", &chain_name(app, page, &broken.municipality)),
                ("seq", &broken.seq.to_string()),
                ("why", &words(page, "admin_audit.verify.why", broken.why)),
                ("events", &events),
            ],
        ),
    };
    VerificationView {
        ok: v.ok && v.first_broken.is_none(),
        text,
    }
}

// ---------------------------------------------------------------------------------------------
// GET /admin/audit/cases/{id}
// ---------------------------------------------------------------------------------------------

/// One sentence of a routing explanation, with the rules it rests on.
struct Line {
    text: String,
    rules: Vec<RuleLink>,
}

/// One routing decision told.
struct TraceView {
    at: String,
    at_iso: String,
    heading: String,
    lines: Vec<Line>,
}

#[derive(Template)]
#[template(path = "admin_audit_case.html")]
struct CasePage {
    page: Page,
    admin: AdminFrame,
    id: String,
    lead: String,
    traces: Vec<TraceView>,
    events: Vec<EventRow>,
    events_caption: String,
}

/// `GET /admin/audit/cases/{id}`: how the case was routed, oldest first, and its events. The
/// traces' workflow decides who may read them (the home's administrators, the federation's);
/// anyone else gets the 404 page, as on the API.
async fn case(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let traces = app.ctx.routing_traces(&admin, &id).await?;
    let mut events = app
        .ctx
        .audit_trail(
            &admin,
            AuditSearch {
                case: Some(id.clone()),
                limit: CASE_EVENTS,
                ..AuditSearch::default()
            },
        )
        .await?;
    // The trail answers newest first; a case's story reads oldest first.
    events.reverse();
    let (page, admin_frame) = admin_page(
        &frame,
        &app,
        &admin,
        Section::Audit,
        "admin_audit.case.title",
    );
    let federation = app.ctx.federation();
    let facts = CaseFacts::of(&traces, &events);
    let explainer = Explainer {
        lang: page.lang,
        federation: &federation,
        facts: &facts,
    };
    let traces = explainer.explain_all(&traces);
    let events = events.iter().map(|e| event_row(&app, &page, e)).collect();
    render(&CasePage {
        lead: page.fill("admin_audit.case.lead", &[("id", &id)]),
        events_caption: page.t("admin_audit.case.events_caption").to_owned(),
        id,
        traces,
        events,
        admin: admin_frame,
        page,
    })
}

/// What telling a case's routing needs besides its traces: the home (the traces name it at
/// submission; the submission's chain is the home's), the category and whether the request
/// was anonymous (from its submission event). Unknown is said without.
#[derive(Default)]
struct CaseFacts {
    home: Option<String>,
    category: Option<String>,
    /// The citizen's language (a language code), from traces that record it.
    language: Option<String>,
    anonymous: Option<bool>,
}

impl CaseFacts {
    fn of(traces: &[RoutingTrace], events: &[AuditEntry]) -> CaseFacts {
        let submit = events.iter().find(|e| e.action == "submit");
        CaseFacts {
            home: traces
                .iter()
                .find_map(|t| t.trace["home"].as_str().map(str::to_owned))
                .or_else(|| submit.map(|e| e.municipality.clone())),
            category: submit.and_then(|e| e.detail["category"].as_str().map(str::to_owned)),
            language: traces
                .iter()
                .find_map(|t| t.trace["language"].as_str().map(str::to_owned)),
            anonymous: submit.and_then(|e| {
                let role = e.role.as_deref().unwrap_or_else(|| role_of(&e.actor));
                match role {
                    "anonymous" => Some(true),
                    "citizen" => Some(false),
                    _ => None,
                }
            }),
        }
    }
}

/// Why the router passed a caseworker over (`select::Filtered`), in the order it asks: the
/// later a caseworker was stopped, the closer they came, so the furthest reason in a
/// municipality is what kept the case from it.
const FILTERS: [&str; 7] = [
    "away",
    "no_skill",
    "no_clearance",
    "no_language",
    "declined",
    "full",
    "fair_share_cap",
];

/// The rule a filter applies, where `/work/rules` explains one.
fn filter_rule(reason: &str) -> Option<&'static str> {
    match reason {
        "no_skill" => Some("eligibility-skill"),
        "no_language" => Some("eligibility-language"),
        "no_clearance" => Some("R11"),
        "fair_share_cap" => Some("fair-share-cap"),
        _ => None,
    }
}

/// The caseworkers of one municipality the router weighed in a ring.
struct Tally {
    /// Empty: caseworkers whose municipality the trace does not tell.
    code: String,
    eligible: usize,
    reasons: Vec<String>,
}

/// Tells routing traces in one language.
struct Explainer<'a> {
    lang: Lang,
    federation: &'a Federation,
    facts: &'a CaseFacts,
}

/// The text with its first letter a capital.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Explainer<'_> {
    /// The citizen's language as the sentence says it ("arabiska"), or "the citizen's
    /// language" where the trace did not record it (traces from before it did).
    fn language_words(&self) -> String {
        let named = self
            .facts
            .language
            .as_deref()
            .map(|code| self.t(&format!("ask.language_name.{code}")))
            .filter(|name| !name.is_empty());
        match named {
            // Swedish writes language names in lower case within a sentence.
            Some(name) if self.t("admin_audit.trace.language_lowercase") == "true" => {
                name.to_lowercase()
            }
            Some(name) => name.to_owned(),
            None => self.t("admin_audit.trace.citizens_language").to_owned(),
        }
    }

    fn t(&self, key: &str) -> &'static str {
        i18n::text(self.lang, key)
    }

    fn fill(&self, key: &str, values: &[(&str, &str)]) -> String {
        i18n::fill(self.lang, key, values)
    }

    fn name(&self, code: &str) -> String {
        if code.is_empty() {
            return self.t("admin_audit.trace.elsewhere").to_owned();
        }
        self.federation
            .municipalities
            .iter()
            .find(|m| m.code.as_str() == code)
            .map_or_else(|| code.to_owned(), |m| m.name.clone())
    }

    /// Names as a sentence lists them: "A, B och C".
    fn list(&self, items: &[String]) -> String {
        match items {
            [] => String::new(),
            [one] => one.clone(),
            [rest @ .., last] => format!(
                "{} {} {last}",
                rest.join(", "),
                self.t("admin_audit.trace.and")
            ),
        }
    }

    fn names(&self, codes: &[String]) -> String {
        let names: Vec<String> = codes.iter().map(|c| self.name(c)).collect();
        self.list(&names)
    }

    /// Every trace of a case, oldest first. A list of refused municipalities that is the same
    /// as the one before is said once.
    fn explain_all(&self, traces: &[RoutingTrace]) -> Vec<TraceView> {
        let mut before: Option<&Value> = None;
        traces
            .iter()
            .map(|t| {
                let view = self.explain(t.at, &t.trace, before);
                if t.trace.get("refused").is_some() {
                    before = t.trace.get("refused");
                }
                view
            })
            .collect()
    }

    fn explain(&self, at: DateTime<Utc>, t: &Value, refused_before: Option<&Value>) -> TraceView {
        let event = t["event"].as_str().unwrap_or_default();
        let heading = match self.t(&format!("admin_audit.trace.event.{event}")) {
            "" => self.fill("admin_audit.trace.event_other", &[("event", event)]),
            text => text.to_owned(),
        };
        let mut lines = Vec::new();
        let plain = |text: String| Line {
            text,
            rules: Vec::new(),
        };
        if let Some(home) = t["home"].as_str() {
            let why = t["home_reason"]
                .as_str()
                .map(|r| self.t(&format!("admin_audit.trace.home_reason.{r}")))
                .unwrap_or_default();
            let name = self.name(home);
            lines.push(plain(if why.is_empty() {
                self.fill("admin_audit.trace.home", &[("municipality", &name)])
            } else {
                self.fill(
                    "admin_audit.trace.home_because",
                    &[("municipality", &name), ("reason", why)],
                )
            }));
        }
        if let Some(target) = t["target_municipality"].as_str() {
            lines.push(plain(self.fill(
                "admin_audit.trace.target",
                &[("municipality", &self.name(target))],
            )));
        }
        if let Some(rings) = t["rings"].as_array() {
            self.rings(at, t, rings, &mut lines);
        }
        if let Some(chosen) = t["chosen"].as_str() {
            lines.push(plain(
                self.fill("admin_audit.trace.offered", &[("caseworker", chosen)]),
            ));
        }
        if let Some(permitted) = t["permitted"].as_array() {
            self.permitted(at, permitted, &mut lines);
        }
        if let Some(refused) = t.get("refused").filter(|r| r.is_array()) {
            let none = refused.as_array().is_some_and(Vec::is_empty);
            if none {
                // Nobody kept away: nothing to say.
            } else if refused_before == Some(refused) {
                lines.push(plain(self.t("admin_audit.trace.refused_same").to_owned()));
            } else {
                self.refused(refused, &mut lines);
            }
        }
        // A sentence may begin with a name list that reads in lower case mid-sentence.
        for line in &mut lines {
            line.text = capitalized(&line.text);
        }
        TraceView {
            at: at
                .with_timezone(&crate::clock::TIME_ZONE)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
            at_iso: iso(&at),
            heading,
            lines,
        }
    }

    /// The rings the request had reached, each with who may take it there and who could; the
    /// next ring, if it waits for one.
    fn rings(&self, at: DateTime<Utc>, t: &Value, rings: &[Value], lines: &mut Vec<Line>) {
        let reached = t["ring"].as_i64().unwrap_or(0);
        // The router names the municipality of the best-ranked; the rest by their ids.
        let placed: HashMap<String, String> = t["ranked"]
            .as_array()
            .map(|ranked| {
                ranked
                    .iter()
                    .filter_map(|r| {
                        Some((
                            r["caseworker"].as_str()?.to_owned(),
                            r["municipality"].as_str()?.to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        for ring in rings {
            let number = ring["ring"].as_i64().unwrap_or(0);
            let codes = strings(&ring["municipalities"]);
            if codes.is_empty() {
                continue;
            }
            if number > reached {
                if number == reached + 1 {
                    lines.push(Line {
                        text: self.fill(
                            "admin_audit.trace.next_ring",
                            &[("municipalities", &self.names(&codes))],
                        ),
                        rules: Vec::new(),
                    });
                }
                continue;
            }
            if number > 0 {
                self.permission(at, number, &codes, None, lines);
            }
            self.staff(ring, &codes, &placed, lines);
        }
        if t["widened_at_once"].as_bool() == Some(true) {
            lines.push(Line {
                text: self.t("admin_audit.trace.widened").to_owned(),
                rules: Vec::new(),
            });
        }
        if t["interpreter_needed"].as_bool() == Some(true) {
            lines.push(Line {
                text: self.t("admin_audit.trace.interpreter").to_owned(),
                rules: Vec::new(),
            });
        }
    }

    /// Who could take the case in a ring's municipalities, and why nobody could where nobody
    /// could (the municipalities alike grouped in one sentence).
    fn staff(
        &self,
        ring: &Value,
        codes: &[String],
        placed: &HashMap<String, String>,
        lines: &mut Vec<Line>,
    ) {
        let mut tally: Vec<Tally> = codes
            .iter()
            .map(|c| Tally {
                code: c.clone(),
                eligible: 0,
                reasons: Vec::new(),
            })
            .collect();
        let mut unplaced = Tally {
            code: String::new(),
            eligible: 0,
            reasons: Vec::new(),
        };
        // A caseworker's municipality: the only one of the ring, the router's ranking, or the
        // kommunkod their id begins with (`<kommunkod>-NN`, as ids are given by default).
        let whose = |id: &str| -> Option<usize> {
            if codes.len() == 1 {
                return Some(0);
            }
            let code = placed.get(id).cloned().or_else(|| {
                codes
                    .iter()
                    .find(|c| id.starts_with(&format!("{c}-")))
                    .cloned()
            })?;
            codes.iter().position(|c| *c == code)
        };
        for id in strings(&ring["eligible"]) {
            match whose(&id) {
                Some(i) => tally[i].eligible += 1,
                None => unplaced.eligible += 1,
            }
        }
        for f in ring["filtered"].as_array().into_iter().flatten() {
            let id = f["caseworker"].as_str().unwrap_or_default();
            let reason = f["reason"].as_str().unwrap_or_default().to_owned();
            match whose(id) {
                Some(i) => tally[i].reasons.push(reason),
                None => unplaced.reasons.push(reason),
            }
        }
        if unplaced.eligible > 0 || !unplaced.reasons.is_empty() {
            tally.push(unplaced);
        }
        let able: Vec<String> = tally
            .iter()
            .filter(|t| t.eligible > 0)
            .map(|t| {
                self.fill(
                    "admin_audit.trace.able_in",
                    &[
                        ("municipality", &self.name(&t.code)),
                        ("count", &t.eligible.to_string()),
                    ],
                )
            })
            .collect();
        if !able.is_empty() {
            lines.push(Line {
                text: self.fill(
                    "admin_audit.trace.could_take",
                    &[("list", &able.join(", "))],
                ),
                rules: Vec::new(),
            });
        }
        // (why, municipalities, every reason of their caseworkers)
        let mut nobody: Vec<(&str, Vec<String>, Vec<&str>)> = Vec::new();
        for t in tally.iter().filter(|t| t.eligible == 0) {
            let why = t
                .reasons
                .iter()
                .map(String::as_str)
                .max_by_key(|r| FILTERS.iter().position(|f| f == r).unwrap_or(0))
                .map_or("nobody", |r| if FILTERS.contains(&r) { r } else { "other" });
            let reasons = t.reasons.iter().map(String::as_str);
            match nobody.iter_mut().find(|(w, _, _)| *w == why) {
                Some((_, names, all)) => {
                    names.push(self.name(&t.code));
                    all.extend(reasons);
                }
                None => nobody.push((why, vec![self.name(&t.code)], reasons.collect())),
            }
        }
        for (why, names, reasons) in nobody {
            let mut text = self.fill(
                &format!("admin_audit.trace.none.{why}"),
                &[
                    ("municipalities", &self.list(&names)),
                    ("language", &self.language_words()),
                ],
            );
            let counts: Vec<String> = FILTERS
                .iter()
                .copied()
                .chain(std::iter::once("other"))
                .filter_map(|f| {
                    let n = reasons
                        .iter()
                        .copied()
                        .filter(|r| *r == f || (f == "other" && !FILTERS.contains(r)))
                        .count();
                    (n > 0).then(|| {
                        self.fill(
                            &format!("admin_audit.trace.count.{f}"),
                            &[("count", &n.to_string())],
                        )
                    })
                })
                .collect();
            if !counts.is_empty() {
                text.push(' ');
                text.push_str(
                    &self.fill("admin_audit.trace.tried", &[("counts", &counts.join(", "))]),
                );
            }
            let rules: Vec<String> = filter_rule(why).map(str::to_owned).into_iter().collect();
            lines.push(Line {
                text,
                rules: rule_links(&rules),
            });
        }
    }

    /// Why the case may go to a ring's partners: an agreement (with consent, or anonymously)
    /// in ring 1, the anonymous service rule (R1) beyond. `policies` are the permits' own
    /// rules where the trace has them; else the rule the ring stands for.
    fn permission(
        &self,
        at: DateTime<Utc>,
        ring: i64,
        codes: &[String],
        policies: Option<Vec<String>>,
        lines: &mut Vec<Line>,
    ) {
        if ring >= 2 {
            let rules = policies.unwrap_or_else(|| vec!["R1-anonymous-service".to_owned()]);
            lines.push(Line {
                text: self.fill(
                    "admin_audit.trace.anonymous_ring",
                    &[("municipalities", &self.names(codes))],
                ),
                rules: rule_links(&rules),
            });
            return;
        }
        let consent = match self.anonymous() {
            Some(true) => self.t("admin_audit.trace.consent_anonymous"),
            Some(false) => self.t("admin_audit.trace.consent_given"),
            None => self.t("admin_audit.trace.consent_unknown"),
        };
        let rules = policies.unwrap_or_else(|| self.agreement_rules());
        // Partners under the same agreement(s) in one sentence.
        let mut by_agreement: Vec<(String, Vec<String>)> = Vec::new();
        for code in codes {
            let agreements = self.agreements(code, at);
            match by_agreement.iter_mut().find(|(a, _)| *a == agreements) {
                Some((_, members)) => members.push(code.clone()),
                None => by_agreement.push((agreements, vec![code.clone()])),
            }
        }
        for (agreements, members) in by_agreement {
            let municipalities = self.names(&members);
            let text = if agreements.is_empty() {
                self.fill(
                    "admin_audit.trace.agreement_unnamed",
                    &[("municipalities", &municipalities), ("consent", consent)],
                )
            } else {
                self.fill(
                    "admin_audit.trace.agreement",
                    &[
                        ("municipalities", &municipalities),
                        ("agreement", &agreements),
                        ("consent", consent),
                    ],
                )
            };
            lines.push(Line {
                text,
                rules: rule_links(&rules),
            });
        }
    }

    /// Whether the request was anonymous: as it was submitted, or for a category that records
    /// no identity (R16), whoever submitted it.
    fn anonymous(&self) -> Option<bool> {
        let unrecorded = self
            .facts
            .category
            .as_deref()
            .and_then(|c| self.federation.category(c))
            .is_some_and(|c| !c.record_identity);
        if unrecorded {
            Some(true)
        } else {
            self.facts.anonymous
        }
    }

    /// The agreement the partner's permit most likely rests on: the first of the federation's
    /// agreements (the order the policies ask them in, the first that permits winning)
    /// between the home and `partner` that lists the case's category, was valid on the
    /// trace's day (Stockholm), and delegates authority or names family counselling where
    /// the category needs it. Empty when the home is unknown or none fits. The trace does not
    /// record the agreement; this reads today's configuration of the federation.
    fn agreements(&self, partner: &str, at: DateTime<Utc>) -> String {
        let Some(home) = self.facts.home.as_deref() else {
            return String::new();
        };
        let day = local_date(at);
        let category = self
            .facts
            .category
            .as_deref()
            .and_then(|c| self.federation.category(c));
        self.federation
            .agreements
            .iter()
            .find(|a| {
                a.is_valid_on(day)
                    && a.members.iter().any(|m| m.as_str() == home)
                    && a.members.iter().any(|m| m.as_str() == partner)
                    && category.is_none_or(|c| {
                        a.categories.contains(&c.id)
                            && (c.kind != CategoryKind::Authority || a.delegates_authority)
                            && (!c.family_counselling || a.names_family_counselling)
                    })
            })
            .map(|a| a.id.clone())
            .unwrap_or_default()
    }

    /// The rules a partner's permit rests on when the trace does not name them: R5 for a
    /// service, R6 for delegated authority (by the category's kind), with consent (R8) or
    /// anonymity (R1).
    fn agreement_rules(&self) -> Vec<String> {
        let kind = self
            .facts
            .category
            .as_deref()
            .and_then(|c| self.federation.category(c))
            .map(|c| c.kind);
        let mut rules: Vec<String> = match kind {
            Some(CategoryKind::Service) => vec!["R5-agreement-service".to_owned()],
            Some(CategoryKind::Authority) => vec!["R6-delegated-authority".to_owned()],
            _ => Vec::new(),
        };
        match self.anonymous() {
            Some(true) => rules.push("R1".to_owned()),
            Some(false) => rules.push("R8".to_owned()),
            None => {}
        }
        rules
    }

    /// Where the case may go after a change of consent or of a harm assessment, by ring.
    fn permitted(&self, at: DateTime<Utc>, permitted: &[Value], lines: &mut Vec<Line>) {
        let mut rings: Vec<(i64, Vec<String>, Vec<String>)> = Vec::new();
        for p in permitted {
            let Some(code) = p["municipality"].as_str() else {
                continue;
            };
            let ring = p["ring"].as_i64().unwrap_or(0);
            let policies = strings(&p["policies"]);
            match rings.iter_mut().find(|(r, _, _)| *r == ring) {
                Some((_, codes, all)) => {
                    codes.push(code.to_owned());
                    all.extend(policies);
                }
                None => rings.push((ring, vec![code.to_owned()], policies)),
            }
        }
        rings.sort_by_key(|(r, _, _)| *r);
        for (ring, codes, mut policies) in rings {
            policies.sort();
            policies.dedup();
            if ring == 0 {
                lines.push(Line {
                    text: self.fill(
                        "admin_audit.trace.permitted_home",
                        &[("municipalities", &self.names(&codes))],
                    ),
                    rules: rule_links(&policies),
                });
            } else {
                self.permission(at, ring, &codes, Some(policies), lines);
            }
        }
    }

    /// The municipalities the policies kept the case from, grouped by the rules that did.
    fn refused(&self, refused: &Value, lines: &mut Vec<Line>) {
        let mut groups: Vec<(Vec<String>, Vec<String>)> = Vec::new();
        for r in refused.as_array().into_iter().flatten() {
            let Some(code) = r["municipality"].as_str() else {
                continue;
            };
            let mut policies = strings(&r["policies"]);
            policies.sort();
            match groups.iter_mut().find(|(p, _)| *p == policies) {
                Some((_, codes)) => codes.push(code.to_owned()),
                None => groups.push((policies, vec![code.to_owned()])),
            }
        }
        for (policies, codes) in groups {
            let reasons: Vec<String> = policies
                .iter()
                .map(|p| match self.t(&format!("admin_audit.rule.{p}")) {
                    "" => self.fill("admin_audit.rule_other", &[("id", p)]),
                    text => text.to_owned(),
                })
                .collect();
            let reasons = if reasons.is_empty() {
                self.t("admin_audit.rule.default-deny").to_owned()
            } else {
                reasons.join("; ")
            };
            lines.push(Line {
                text: self.fill(
                    "admin_audit.trace.refused",
                    &[
                        ("municipalities", &self.names(&codes)),
                        ("reasons", &reasons),
                    ],
                ),
                rules: rule_links(&policies),
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GET /admin/audit/follow-up and /admin/audit/follow-up.csv
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct PeriodQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

/// The report's reasons, in the order the page shows them.
const FINDINGS: [&str; 3] = [
    "access_denied",
    "opened_without_having_it",
    "protected_identity",
];

/// One section of the report: the events found for one reason.
struct FindingSection {
    id: &'static str,
    heading: &'static str,
    lead: &'static str,
    /// The table's caption (another name than the section's: each is a landmark).
    caption: String,
    count: String,
    rows: Vec<EventRow>,
}

#[derive(Template)]
#[template(path = "admin_audit_follow_up.html")]
struct FollowUpPage {
    page: Page,
    admin: AdminFrame,
    errors: Vec<ErrorLink>,
    refusal: Option<Refusal>,
    form: PeriodForm,
    /// The report, once read.
    sections: Vec<FindingSection>,
    total: Option<String>,
    /// The same period as CSV.
    csv_href: Option<String>,
}

/// The period asked for: the last [`FOLLOW_UP_DAYS`] days when nothing was (the first visit),
/// else what was entered, an empty field leaving that end open.
fn period_form(app: &AppState, raw: Option<&str>) -> Result<PeriodForm, PageError> {
    if !asked(raw) {
        let today = local_date(app.ctx.clock.now());
        let from = today
            .checked_sub_days(Days::new(FOLLOW_UP_DAYS))
            .unwrap_or(today);
        return Ok(PeriodForm {
            from: from.format("%Y-%m-%d").to_string(),
            to: today.format("%Y-%m-%d").to_string(),
            ..PeriodForm::default()
        });
    }
    let query: PeriodQuery = read_query(raw)?;
    Ok(PeriodForm {
        from: query.from.unwrap_or_default().trim().to_owned(),
        to: query.to.unwrap_or_default().trim().to_owned(),
        ..PeriodForm::default()
    })
}

fn follow_up_page(
    app: &AppState,
    frame: &Frame,
    admin: &Administrator,
    form: PeriodForm,
) -> FollowUpPage {
    let (mut page, admin_frame) = admin_page(
        frame,
        app,
        admin,
        Section::Audit,
        "admin_audit.follow_up.title",
    );
    let errors = form.errors();
    if !errors.is_empty() {
        error_title(&mut page);
    }
    FollowUpPage {
        page,
        admin: admin_frame,
        errors,
        refusal: None,
        form,
        sections: Vec::new(),
        total: None,
        csv_href: None,
    }
}

/// `GET /admin/audit/follow-up`: the report of a period, a section per reason.
async fn follow_up(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let mut form = period_form(&app, raw.as_deref())?;
    let Some((from, to)) = form.check(frame.lang) else {
        let shown = follow_up_page(&app, &frame, &admin, form);
        return Ok(with_status(
            render(&shown)?,
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    };
    let csv_href = format!(
        "/admin/audit/follow-up.csv?from={}&to={}",
        from.map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        to.map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    );
    let (from, to) = instants(from, to);
    let mut shown = follow_up_page(&app, &frame, &admin, form);
    let findings = match app.ctx.follow_up(&admin, from, to).await {
        Ok(findings) => findings,
        Err(e) => {
            let Some((notice, status)) = refusal(&shown.page, &e) else {
                return Err(e.into());
            };
            shown.refusal = Some(notice);
            return Ok(with_status(render(&shown)?, status));
        }
    };
    let page = &shown.page;
    shown.sections = FINDINGS
        .iter()
        .map(|reason| {
            let rows: Vec<EventRow> = findings
                .iter()
                .filter(|f| f.reason == *reason)
                .map(|f| event_row(&app, page, &f.event))
                .collect();
            let count = u64::try_from(rows.len()).unwrap_or(u64::MAX);
            FindingSection {
                id: reason,
                heading: page.t(&format!("admin_audit.follow_up.reason.{reason}")),
                caption: page.fill(
                    "admin_audit.follow_up.caption",
                    &[(
                        "reason",
                        page.t(&format!("admin_audit.follow_up.reason.{reason}")),
                    )],
                ),
                lead: page.t(&format!("admin_audit.follow_up.explain.{reason}")),
                count: page.fill(
                    "admin_audit.follow_up.count",
                    &[("count", &grouped(page.lang, count))],
                ),
                rows,
            }
        })
        .collect();
    let total = u64::try_from(findings.len()).unwrap_or(u64::MAX);
    shown.total = Some(page.fill(
        "admin_audit.follow_up.total",
        &[("count", &grouped(page.lang, total))],
    ));
    shown.csv_href = Some(csv_href);
    render(&shown)
}

/// `GET /admin/audit/follow-up.csv`: the same report as a CSV file (the API's columns), to
/// save; a wrong period shows the report's form with what to correct.
async fn follow_up_csv(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let mut form = period_form(&app, raw.as_deref())?;
    let Some((from_day, to_day)) = form.check(frame.lang) else {
        let shown = follow_up_page(&app, &frame, &admin, form);
        return Ok(with_status(
            render(&shown)?,
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    };
    let (from, to) = instants(from_day, to_day);
    let findings: Vec<Finding> = match app.ctx.follow_up(&admin, from, to).await {
        Ok(findings) => findings,
        Err(e) => {
            let mut shown = follow_up_page(&app, &frame, &admin, form);
            let Some((notice, status)) = refusal(&shown.page, &e) else {
                return Err(e.into());
            };
            shown.refusal = Some(notice);
            return Ok(with_status(render(&shown)?, status));
        }
    };
    let mut response = crate::http::audit::follow_up_csv(findings).map_err(PageError::from)?;
    // Dates only (checked above): the name is plain ASCII.
    let day = |d: Option<NaiveDate>| d.map(|d| format!("-{}", d.format("%Y%m%d")));
    let name = format!(
        "attachment; filename=\"brygga-follow-up{}{}.csv\"",
        day(from_day).unwrap_or_default(),
        day(to_day).unwrap_or_default()
    );
    if let Ok(value) = HeaderValue::from_str(&name) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::federation::familjen_helsingborg;
    use serde_json::json;

    fn sv() -> Lang {
        Lang::default()
    }

    fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        start_of_local_day(NaiveDate::from_ymd_opt(y, m, d).expect("date"))
            + chrono::Duration::hours(12)
    }

    fn told(facts: &CaseFacts, lang: Lang, traces: &[RoutingTrace]) -> Vec<Vec<String>> {
        let federation = familjen_helsingborg();
        let explainer = Explainer {
            lang,
            federation: &federation,
            facts,
        };
        explainer
            .explain_all(traces)
            .into_iter()
            .map(|t| {
                std::iter::once(t.heading)
                    .chain(t.lines.into_iter().map(|l| l.text))
                    .collect()
            })
            .collect()
    }

    fn arabic_in_perstorp() -> serde_json::Value {
        json!({
            "router": "rings", "event": "submitted", "home": "1275",
            "home_reason": "registered_home", "waiting_ring": 0, "ring": 1,
            "widened_at_once": true, "target_municipality": null, "interpreter_needed": false,
            "rings": [
                {"ring": 0, "municipalities": ["1275"], "eligible": [],
                 "filtered": [{"caseworker": "1275-01", "reason": "no_language"},
                              {"caseworker": "1275-02", "reason": "no_skill"}]},
                {"ring": 1, "municipalities": ["1283", "1282", "1292"], "eligible": ["1283-01"],
                 "filtered": [{"caseworker": "1282-01", "reason": "no_language"},
                              {"caseworker": "1292-01", "reason": "no_language"},
                              {"caseworker": "1292-02", "reason": "away"},
                              {"caseworker": "x-7", "reason": "full"}]},
                {"ring": 2, "municipalities": [], "eligible": [], "filtered": []}
            ],
            "ranked": [{"caseworker": "1283-01", "municipality": "1283", "ring": 1}],
            "refused": [
                {"municipality": "1278", "policies": ["R4-no-covering-agreement"]},
                {"municipality": "1214", "policies": ["R8-no-consent"]},
                {"municipality": "1257", "policies": ["R8-no-consent"]}
            ]
        })
    }

    #[test]
    fn a_trace_is_told_in_sentences() {
        let facts = CaseFacts {
            home: Some("1275".into()),
            category: Some("ekonomi".into()),
            language: None,
            anonymous: Some(false),
        };
        let traces = [RoutingTrace {
            at: day(2026, 3, 2),
            trace: arabic_in_perstorp(),
        }];
        let lines = &told(&facts, sv(), &traces)[0];
        let all = lines.join("\n");
        assert_eq!(lines[0], "Förfrågan kom in och fördelades");
        assert!(
            all.contains("Hemkommun: Perstorp, där invånaren är folkbokförd."),
            "{all}"
        );
        assert!(
            all.contains(
                "Perstorp hade ingen ledig handläggare som talar invånarens språk. \
                 (Prövade handläggare: 1 arbetar inte med sådana ärenden, 1 talar inte språket.)"
            ),
            "{all}"
        );
        assert!(
            all.contains(
                "Helsingborg, Landskrona och Ängelholm fick ta emot ärendet enligt avtalet \
                 fh-rad-och-stod-2026; invånaren hade samtyckt."
            ),
            "{all}"
        );
        assert!(
            all.contains("Handläggare som kunde ta ärendet: Helsingborg (1)."),
            "{all}"
        );
        // The furthest a caseworker came is what kept the case: Ängelholm's available one
        // lacked the language.
        assert!(
            all.contains("Landskrona och Ängelholm hade ingen ledig handläggare som talar"),
            "{all}"
        );
        assert!(
            all.contains(
                "I andra kommuner i samma steg hade alla som kunde ta ärendet redan fullt."
            ),
            "{all}"
        );
        assert!(
            all.contains("Ingen kunde ta ärendet i de närmaste kommunerna"),
            "{all}"
        );
        assert!(
            all.contains(
                "Båstad fick inte ta ärendet: inget avtal med hemkommunen gäller den här \
                 sortens ärenden."
            ),
            "{all}"
        );
        assert!(
            all.contains(
                "Svalöv och Örkelljunga fick inte ta ärendet: invånaren hade inte samtyckt"
            ),
            "{all}"
        );
        let en = told(&facts, Lang::parse("en").expect("en"), &traces);
        assert!(
            en[0]
                .iter()
                .any(|l| l.starts_with("Perstorp had no caseworker free who speaks")),
            "{:?}",
            en[0]
        );
    }

    #[test]
    fn the_next_ring_and_a_repeated_refusal_are_said_once() {
        let mut first = arabic_in_perstorp();
        first["ring"] = json!(0);
        first["widened_at_once"] = json!(false);
        first["rings"][0]["eligible"] = json!(["1275-01"]);
        first["rings"][0]["filtered"] = json!([]);
        let mut second = first.clone();
        second["event"] = json!("ring_timeout");
        second["ring"] = json!(1);
        let traces = [
            RoutingTrace {
                at: day(2026, 3, 2),
                trace: first,
            },
            RoutingTrace {
                at: day(2026, 3, 2),
                trace: second,
            },
        ];
        // Anonymous: no consent is asked of an anonymous request (R1).
        let facts = CaseFacts {
            home: Some("1275".into()),
            category: Some("ekonomi".into()),
            language: None,
            anonymous: Some(true),
        };
        let told = told(&facts, sv(), &traces);
        let first = told[0].join("\n");
        assert!(
            first.contains("Handläggare som kunde ta ärendet: Perstorp (1)."),
            "{first}"
        );
        assert!(
            first.contains(
                "Om ingen tar ärendet i tid går det vidare till Helsingborg, Landskrona och Ängelholm."
            ),
            "{first}"
        );
        let second = told[1].join("\n");
        assert!(second.starts_with("Väntetiden gick ut"), "{second}");
        assert!(second.contains("förfrågan var anonym"), "{second}");
        assert!(
            second.contains("Samma kommuner som i steget före fick inte ta ärendet."),
            "{second}"
        );
    }

    #[test]
    fn a_consent_change_says_where_the_case_may_go() {
        let trace = json!({
            "event": "consent_changed",
            "permitted": [
                {"municipality": "1275", "ring": 0, "policies": ["R4-home-municipality"]},
                {"municipality": "1283", "ring": 1, "policies": ["R5-agreement-service"]}
            ],
            "refused": [{"municipality": "1282", "policies": ["R8-no-consent"]}]
        });
        let facts = CaseFacts {
            home: Some("1275".into()),
            category: Some("ekonomi".into()),
            language: None,
            anonymous: Some(false),
        };
        let told = told(
            &facts,
            sv(),
            &[RoutingTrace {
                at: day(2026, 9, 1),
                trace,
            }],
        );
        let all = told[0].join("\n");
        assert!(all.starts_with("Invånaren ändrade sitt samtycke"), "{all}");
        assert!(
            all.contains("Perstorp får ta ärendet som hemkommun."),
            "{all}"
        );
        // Two agreements cover the pair by September; the first is the one asked first.
        assert!(
            all.contains("Helsingborg fick ta emot ärendet enligt avtalet fh-rad-och-stod-2026;"),
            "{all}"
        );
        assert!(all.contains("Landskrona fick inte ta ärendet"), "{all}");
    }

    #[test]
    fn an_unknown_trace_is_still_told() {
        let facts = CaseFacts::default();
        let told = told(
            &facts,
            sv(),
            &[RoutingTrace {
                at: day(2026, 3, 2),
                trace: json!({"event": "something_new", "refused": [
                    {"municipality": "1283", "policies": ["a-new-rule"]}]}),
            }],
        );
        assert_eq!(told[0][0], "Fördelningsbeslut (something_new)");
        assert_eq!(
            told[0][1],
            "Helsingborg fick inte ta ärendet: regeln a-new-rule."
        );
    }

    #[test]
    fn details_counts_and_dates_read_well() {
        assert_eq!(
            detail_summary(
                &json!({"category": "ekonomi", "ring": 0, "ids": ["a", "b"], "x": null})
            ),
            "category: ekonomi; ring: 0; ids: a, b"
        );
        assert_eq!(detail_summary(&Value::Null), "");
        assert_eq!(
            detail_summary(&json!("x".repeat(400))).chars().count(),
            DETAIL_CHARS
        );
        assert_eq!(grouped(sv(), 1234567), "1\u{a0}234\u{a0}567");
        assert_eq!(grouped(Lang::parse("en").expect("en"), 1234), "1,234");
        assert_eq!(grouped(sv(), 999), "999");
        assert_eq!(
            date_field(" 2026-03-01 "),
            Ok(NaiveDate::from_ymd_opt(2026, 3, 1))
        );
        assert_eq!(date_field(""), Ok(None));
        assert!(date_field("1 mars").is_err());
        let (from, to) = instants(
            NaiveDate::from_ymd_opt(2026, 3, 1),
            NaiveDate::from_ymd_opt(2026, 3, 1),
        );
        // One Stockholm day in winter: 23:00 UTC the day before, for 24 hours.
        assert_eq!(
            from.map(|f| f.to_rfc3339()).as_deref(),
            Some("2026-02-28T23:00:00+00:00")
        );
        assert_eq!(to.zip(from).map(|(t, f)| (t - f).num_hours()), Some(24));
    }

    #[test]
    fn every_text_the_templates_ask_for_exists() {
        let templates = [
            include_str!("../../../../templates/admin_audit.html"),
            include_str!("../../../../templates/admin_audit_case.html"),
            include_str!("../../../../templates/admin_audit_follow_up.html"),
            include_str!("../../../../templates/admin_audit_macros.html"),
            include_str!("../../../../templates/admin_stats.html"),
            include_str!("../../../../templates/admin_stats_row.html"),
        ];
        for lang in Lang::offered() {
            for text in templates {
                for key in text
                    .split("page.t(\"")
                    .skip(1)
                    .filter_map(|s| s.split('"').next())
                {
                    assert!(!i18n::text(lang, key).is_empty(), "{}: {key}", lang.code());
                }
            }
            for reason in FINDINGS {
                for prefix in ["reason", "explain"] {
                    let key = format!("admin_audit.follow_up.{prefix}.{reason}");
                    assert!(!i18n::text(lang, &key).is_empty(), "{key}");
                }
            }
            for reason in FILTERS.iter().chain(&["other"]) {
                let key = format!("admin_audit.trace.count.{reason}");
                assert!(!i18n::text(lang, &key).is_empty(), "{key}");
                let key = format!("admin_audit.trace.none.{reason}");
                assert!(!i18n::text(lang, &key).is_empty(), "{key}");
            }
        }
    }
}
