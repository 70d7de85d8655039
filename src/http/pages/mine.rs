//! The citizen's own pages: their requests, one request (status history, thread, reply,
//! consent, cancel), an anonymous visitor's way back to their request, and their data
//! (API.md "Pages": `/my/requests`, `/requests/{id}`, `/anonymous`, `/my/data`).
//!
//! Each handler reads the form, calls one workflow and renders what it answered. A request is
//! opened with the caller's proof that it is theirs: their citizen login, or the access code
//! this browser remembers for that very request.

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{Frame, Page, PageError, PageForm, Who, citizen_key, remember_visitor, render};
use crate::domain::Principal;
use crate::domain::case::{CaseState, Consent};
use crate::domain::ids::MunicipalityCode;
use crate::domain::people::Citizen;
use crate::http::AppState;
use crate::http::extract::{MaybePrincipal, client};
use crate::workflow::limits::Client;
use crate::workflow::{
    self, CitizenKey, ConsentInput, FollowedRequest, HistoryKind, MAX_TEXT_CHARS, Stage,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/my/requests", get(my_requests))
        .route("/requests/{id}", get(request))
        .route("/requests/{id}/messages", axum::routing::post(reply))
        .route("/requests/{id}/consent", axum::routing::post(consent))
        .route("/requests/{id}/cancel", get(confirm_cancel).post(cancel))
        .route("/anonymous", get(anonymous).post(open_anonymous))
        .route("/my/data", get(my_data))
        .route("/my/data/export.json", get(export_json))
}

/// The policy that keeps a concern about a child from being withdrawn (R10).
const CHILD_CONCERN_NOT_WITHDRAWN: &str = "R10-child-concern-not-withdrawn";

// ---------------------------------------------------------------------------------------------
// Who asks
// ---------------------------------------------------------------------------------------------

/// Who is asking, and what proving a request theirs needs: the login, the visitor's cookie
/// and the client address (wrong access codes are limited per address).
struct Asker {
    principal: Option<Principal>,
    headers: HeaderMap,
    client: Client,
}

impl FromRequestParts<AppState> for Asker {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        // An expired login is the login page, not a JSON answer.
        let MaybePrincipal(principal) = MaybePrincipal::from_request_parts(parts, state)
            .await
            .map_err(PageError::from)?;
        Ok(Asker {
            principal,
            headers: parts.headers.clone(),
            client: client(parts),
        })
    }
}

impl Asker {
    fn who(&self) -> Who {
        Who::of(self.principal.as_ref())
    }

    /// The logged-in citizen: without a login the login page (401), staff are refused (403).
    fn citizen(&self) -> Result<&Citizen, PageError> {
        match &self.principal {
            Some(Principal::Citizen(citizen)) => Ok(citizen),
            Some(_) => Err(PageError::Forbidden),
            None => Err(PageError::LoginNeeded),
        }
    }

    /// How the caller proves request `id` is theirs (`citizen_key`); anything else is 404
    /// like a request that does not exist.
    fn key(&self, id: &str) -> Result<CitizenKey, PageError> {
        citizen_key(self.principal.as_ref(), &self.headers, self.client, id)
            .ok_or(PageError::NotFound)
    }
}

// ---------------------------------------------------------------------------------------------
// What the templates share
// ---------------------------------------------------------------------------------------------

/// One line of the error summary: a link to the field that needs correcting.
struct ErrorLink {
    href: &'static str,
    text: &'static str,
}

/// The page frame, with "Error: " before the title when the form has errors.
fn page_for(frame: &Frame, app: &AppState, who: Who, title_key: &str, errors: bool) -> Page {
    let mut page = Page::new(frame, app, who, title_key);
    if errors {
        page.title = format!("{}{}", page.t("mine.error_prefix"), page.title);
    }
    page
}

/// The emergency box first for violence and a concern about a child, with the home
/// municipality's socialjour.
fn with_help(mut page: Page, app: &AppState, category: &str, home: &MunicipalityCode) -> Page {
    page.urgent_help = app
        .ctx
        .federation()
        .category(category)
        .is_some_and(|c| c.shows_emergency());
    page.socialjour_phone = app
        .ctx
        .federation()
        .municipality(home)
        .and_then(|m| m.socialjour_phone.clone());
    page
}

/// A category's name in the page's language (its id if the federation no longer has it).
pub(super) fn category_name(app: &AppState, page: &Page, id: &str) -> String {
    app.ctx
        .federation()
        .category(id)
        .map_or_else(|| id.to_owned(), |c| c.name(page.code()).to_owned())
}

/// A member's name (its code if the federation no longer has it).
pub(super) fn municipality_name(app: &AppState, code: &str) -> String {
    MunicipalityCode::parse(code)
        .ok()
        .and_then(|c| {
            app.ctx
                .federation()
                .municipality(&c)
                .map(|m| m.name.clone())
        })
        .unwrap_or_else(|| code.to_owned())
}

/// The names of `codes`, in the federation's order (as the consent form lists them).
fn names_in_order<'a>(app: &AppState, codes: impl IntoIterator<Item = &'a str>) -> String {
    let codes: Vec<&str> = codes.into_iter().collect();
    let mut names: Vec<String> = app
        .ctx
        .federation()
        .municipalities
        .iter()
        .filter(|m| codes.contains(&m.code.as_str()))
        .map(|m| m.name.clone())
        .collect();
    // A code the federation no longer has is still shown, as it was stored.
    names.extend(
        codes
            .iter()
            .filter(|c| {
                !app.ctx
                    .federation()
                    .municipalities
                    .iter()
                    .any(|m| m.code.as_str() == **c)
            })
            .map(|c| (*c).to_owned()),
    );
    names.join(", ")
}

fn iso(at: &DateTime<Utc>) -> String {
    at.to_rfc3339()
}

fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

fn see_request(id: &str) -> Response {
    Redirect::to(&format!("/requests/{id}")).into_response()
}

// ---------------------------------------------------------------------------------------------
// GET /my/requests
// ---------------------------------------------------------------------------------------------

struct ListItem {
    id: String,
    category: String,
    sent: String,
    sent_iso: String,
    stage: &'static str,
    stage_text: &'static str,
    answered: bool,
    unread: bool,
    where_text: String,
}

#[derive(Template)]
#[template(path = "mine_requests.html")]
struct RequestsPage {
    page: Page,
    items: Vec<ListItem>,
}

async fn my_requests(
    State(app): State<AppState>,
    frame: Frame,
    asker: Asker,
) -> Result<Response, PageError> {
    let citizen = asker.citizen()?;
    let own = app.ctx.my_requests_overview(citizen).await?;
    let page = page_for(&frame, &app, asker.who(), "mine.list.title", false);
    let items = own
        .iter()
        .map(|r| {
            let case = &r.case;
            let where_text = match case.handler.as_ref().filter(|_| case.state.is_owned()) {
                Some(handler) => page.fill(
                    "mine.list.handled_in",
                    &[("municipality", &municipality_name(&app, handler.as_str()))],
                ),
                None => page.fill(
                    "mine.list.sent_to",
                    &[("municipality", &municipality_name(&app, case.home.as_str()))],
                ),
            };
            ListItem {
                id: case.id.as_str().to_owned(),
                category: category_name(&app, &page, case.category.as_str()),
                sent: page.fill(
                    "mine.list.sent_on",
                    &[("when", &page.when(&case.created_at))],
                ),
                sent_iso: iso(&case.created_at),
                stage: r.stage.as_str(),
                stage_text: page.t(&format!("mine.stage.{}", r.stage.as_str())),
                answered: r.stage == Stage::Answered,
                unread: r.unread,
                where_text,
            }
        })
        .collect();
    render(&RequestsPage { page, items })
}

// ---------------------------------------------------------------------------------------------
// GET /requests/{id} and its forms
// ---------------------------------------------------------------------------------------------

struct Line {
    text: String,
    at: String,
    at_iso: String,
}

struct MessageLine {
    staff: bool,
    who: &'static str,
    at: String,
    at_iso: String,
    body: String,
}

struct Choice {
    /// The checkbox's id: the first is the field's own (the error summary links to it).
    input_id: String,
    code: String,
    name: String,
    checked: bool,
}

/// What the reader entered, kept when a form is shown again, and what was wrong with it.
#[derive(Default)]
struct Entered {
    reply: String,
    reply_error: Option<&'static str>,
    /// The consent form as sent (`None`: show the consent as it stands).
    consent: Option<(Option<bool>, Vec<String>)>,
    consent_error: Option<&'static str>,
    municipalities_error: Option<&'static str>,
    /// A calm sentence at the top instead of an error page (a refused cancel).
    notice: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "mine_request.html")]
struct RequestPage {
    page: Page,
    errors: Vec<ErrorLink>,
    notice: Option<&'static str>,
    id: String,
    state: &'static str,
    stage: &'static str,
    stage_text: &'static str,
    stage_help: &'static str,
    answered: bool,
    about: String,
    where_text: String,
    anonymous: bool,
    citizen: bool,
    history: Vec<Line>,
    messages: Vec<MessageLine>,
    open: bool,
    reply: String,
    reply_error: Option<&'static str>,
    consent_now: String,
    consent_given: bool,
    home_checked: bool,
    cross_checked: bool,
    choices: Vec<Choice>,
    consent_error: Option<&'static str>,
    municipalities_error: Option<&'static str>,
    child_concern: bool,
    can_cancel: bool,
}

/// What the consent covers now, in words.
fn consent_words(app: &AppState, page: &Page, consent: &Consent, home: &str) -> String {
    let home_only = || {
        page.fill(
            "mine.request.consent_now_home",
            &[("municipality", &municipality_name(app, home))],
        )
    };
    if !consent.cross_municipality {
        return home_only();
    }
    match &consent.municipalities {
        None => page.fill(
            "mine.request.consent_now",
            &[("who", page.t("mine.every_partner"))],
        ),
        Some(list) if list.is_empty() => home_only(),
        Some(list) => {
            let names = names_in_order(app, list.iter().map(MunicipalityCode::as_str));
            page.fill("mine.request.consent_now", &[("who", &names)])
        }
    }
}

fn history_line(app: &AppState, page: &Page, step: &workflow::HistoryStep) -> Line {
    let text = match (step.kind, &step.municipality) {
        (HistoryKind::Received, Some(m)) => page.fill(
            "mine.history.received",
            &[("municipality", &municipality_name(app, m.as_str()))],
        ),
        (HistoryKind::Received, None) => page.t("mine.history.received_somewhere").to_owned(),
        (kind, _) => page
            .t(&format!("mine.history.{}", kind.as_str()))
            .to_owned(),
    };
    Line {
        text,
        at: page.when(&step.at),
        at_iso: iso(&step.at),
    }
}

fn request_page(
    app: &AppState,
    frame: &Frame,
    asker: &Asker,
    followed: FollowedRequest,
    entered: Entered,
) -> RequestPage {
    let mut errors = Vec::new();
    if let Some(text) = entered.reply_error {
        errors.push(ErrorLink {
            href: "#text",
            text,
        });
    }
    if let Some(text) = entered.consent_error {
        errors.push(ErrorLink {
            href: "#cross_municipality",
            text,
        });
    }
    if let Some(text) = entered.municipalities_error {
        errors.push(ErrorLink {
            href: "#municipalities",
            text,
        });
    }
    let case = &followed.view.case;
    let page = page_for(
        frame,
        app,
        asker.who(),
        "mine.request.title",
        !errors.is_empty(),
    );
    let page = with_help(page, app, case.category.as_str(), &case.home);
    let where_text = match case.handler.as_ref().filter(|_| case.state.is_owned()) {
        Some(handler) => page.fill(
            "mine.request.handled_in",
            &[("municipality", &municipality_name(app, handler.as_str()))],
        ),
        None => page.fill(
            "mine.request.sent_to",
            &[("municipality", &municipality_name(app, case.home.as_str()))],
        ),
    };
    let (cross, chosen): (Option<bool>, Vec<String>) = match entered.consent {
        Some(sent) => sent,
        None => (
            Some(case.consent.cross_municipality),
            case.consent
                .municipalities
                .iter()
                .flatten()
                .map(|m| m.as_str().to_owned())
                .collect(),
        ),
    };
    let choices = app
        .ctx
        .federation()
        .municipalities
        .iter()
        .filter(|m| m.code != case.home)
        .enumerate()
        .map(|(i, m)| Choice {
            input_id: if i == 0 {
                "municipalities".to_owned()
            } else {
                format!("municipalities-{}", m.code.as_str())
            },
            code: m.code.as_str().to_owned(),
            name: m.name.clone(),
            checked: chosen.iter().any(|c| c == m.code.as_str()),
        })
        .collect();
    let messages = followed
        .view
        .messages
        .iter()
        .map(|m| {
            let staff = m.sender == crate::domain::case::Sender::Caseworker;
            MessageLine {
                staff,
                who: page.t(if staff {
                    "mine.request.from_staff"
                } else {
                    "mine.request.from_you"
                }),
                at: page.when(&m.at),
                at_iso: iso(&m.at),
                body: m.body.clone(),
            }
        })
        .collect();
    let history = followed
        .history
        .iter()
        .map(|s| history_line(app, &page, s))
        .collect();
    RequestPage {
        errors,
        notice: entered.notice.map(|key| page.t(key)),
        id: case.id.as_str().to_owned(),
        state: case.state.as_str(),
        stage: followed.stage.as_str(),
        stage_text: page.t(&format!("mine.stage.{}", followed.stage.as_str())),
        stage_help: page.t(&format!("mine.stage_help.{}", followed.stage.as_str())),
        answered: followed.stage == Stage::Answered,
        about: page.fill(
            "mine.request.about",
            &[(
                "category",
                &category_name(app, &page, case.category.as_str()),
            )],
        ),
        where_text,
        anonymous: case.is_anonymous(),
        citizen: asker.who() == Who::Citizen,
        history,
        messages,
        open: !case.state.is_final(),
        reply: entered.reply,
        reply_error: entered.reply_error,
        consent_now: consent_words(app, &page, &case.consent, case.home.as_str()),
        consent_given: case.consent.cross_municipality
            && case
                .consent
                .municipalities
                .as_ref()
                .is_none_or(|l| !l.is_empty()),
        home_checked: cross == Some(false),
        cross_checked: cross == Some(true),
        choices,
        consent_error: entered.consent_error,
        municipalities_error: entered.municipalities_error,
        child_concern: case.is_child_concern(),
        can_cancel: matches!(case.state, CaseState::Queued | CaseState::Offered),
        page,
    }
}

/// The request page, with what the reader entered and the status to answer with.
async fn show(
    app: &AppState,
    frame: &Frame,
    asker: &Asker,
    id: &str,
    entered: Entered,
    status: StatusCode,
) -> Result<Response, PageError> {
    let key = asker.key(id)?;
    let followed = app.ctx.follow_request(&key, id).await?;
    let page = request_page(app, frame, asker, followed, entered);
    Ok(with_status(render(&page)?, status))
}

async fn request(
    State(app): State<AppState>,
    frame: Frame,
    asker: Asker,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    show(
        &app,
        &frame,
        &asker,
        &id,
        Entered::default(),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
struct ReplyForm {
    #[serde(default)]
    text: String,
}

async fn reply(
    State(app): State<AppState>,
    frame: Frame,
    asker: Asker,
    Path(id): Path<String>,
    PageForm(form): PageForm<ReplyForm>,
) -> Result<Response, PageError> {
    let key = asker.key(&id)?;
    let trimmed = form.text.trim();
    let mut problem = if trimmed.is_empty() {
        Some("mine.request.reply_empty")
    } else if trimmed.chars().count() > MAX_TEXT_CHARS {
        Some("mine.request.reply_too_long")
    } else {
        None
    };
    if problem.is_none() {
        match app.ctx.citizen_writes(&key, &id, &form.text).await {
            Ok(_) => return Ok(see_request(&id)),
            Err(workflow::Error::InvalidField("text")) => {
                problem = Some("mine.request.reply_empty")
            }
            Err(e) => return Err(e.into()),
        }
    }
    let entered = Entered {
        reply: form.text,
        reply_error: problem.map(|key| i18n_text(&frame, key)),
        ..Entered::default()
    };
    show(
        &app,
        &frame,
        &asker,
        &id,
        entered,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

fn i18n_text(frame: &Frame, key: &str) -> &'static str {
    crate::i18n::text(frame.lang, key)
}

#[derive(Deserialize)]
struct ConsentForm {
    #[serde(default)]
    cross_municipality: Option<String>,
    #[serde(default)]
    municipalities: Vec<String>,
}

async fn consent(
    State(app): State<AppState>,
    frame: Frame,
    asker: Asker,
    Path(id): Path<String>,
    PageForm(form): PageForm<ConsentForm>,
) -> Result<Response, PageError> {
    let key = asker.key(&id)?;
    let cross = match form.cross_municipality.as_deref() {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    let mut entered = Entered {
        consent: Some((cross, form.municipalities.clone())),
        ..Entered::default()
    };
    match cross {
        None => {
            entered.consent_error = Some(i18n_text(&frame, "mine.request.consent_choose"));
        }
        Some(cross) => {
            // No municipality chosen: every partner (R8: resolved to those of today).
            let municipalities =
                (cross && !form.municipalities.is_empty()).then_some(form.municipalities);
            let input = ConsentInput {
                cross_municipality: cross,
                municipalities,
            };
            match app.ctx.set_consent(&key, &id, input).await {
                Ok(_) => return Ok(see_request(&id)),
                Err(workflow::Error::Unprocessable("unknown_municipality")) => {
                    entered.municipalities_error =
                        Some(i18n_text(&frame, "mine.request.municipalities_unknown"));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    show(
        &app,
        &frame,
        &asker,
        &id,
        entered,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

#[derive(Template)]
#[template(path = "mine_cancel.html")]
struct CancelPage {
    page: Page,
    id: String,
    child_concern: bool,
    can_cancel: bool,
}

/// "Do you want to take back your question?" before anything is cancelled.
async fn confirm_cancel(
    State(app): State<AppState>,
    frame: Frame,
    asker: Asker,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let key = asker.key(&id)?;
    let view = app.ctx.view_request(&key, &id).await?;
    let case = &view.case;
    let page = page_for(&frame, &app, asker.who(), "mine.cancel.title", false);
    let page = with_help(page, &app, case.category.as_str(), &case.home);
    render(&CancelPage {
        page,
        id: case.id.as_str().to_owned(),
        child_concern: case.is_child_concern(),
        can_cancel: matches!(case.state, CaseState::Queued | CaseState::Offered),
    })
}

/// Nothing but the CSRF token.
#[derive(Deserialize)]
struct Confirmed {}

async fn cancel(
    State(app): State<AppState>,
    frame: Frame,
    asker: Asker,
    Path(id): Path<String>,
    PageForm(Confirmed {}): PageForm<Confirmed>,
) -> Result<Response, PageError> {
    let key = asker.key(&id)?;
    let (notice, status) = match app.ctx.cancel(&key, &id).await {
        Ok(_) => return Ok(see_request(&id)),
        // R10: said in plain words on the request's page, not as an error.
        Err(workflow::Error::Denied(decision))
            if decision
                .policies
                .iter()
                .any(|p| p == CHILD_CONCERN_NOT_WITHDRAWN) =>
        {
            ("mine.request.child_concern", StatusCode::FORBIDDEN)
        }
        // A caseworker has it already (or it ended): only a message can say it now.
        Err(workflow::Error::Conflict(_)) => ("mine.request.cancel_taken", StatusCode::CONFLICT),
        Err(e) => return Err(e.into()),
    };
    let entered = Entered {
        notice: Some(notice),
        ..Entered::default()
    };
    show(&app, &frame, &asker, &id, entered, status).await
}

// ---------------------------------------------------------------------------------------------
// GET and POST /anonymous
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "mine_anonymous.html")]
struct AnonymousPage {
    page: Page,
    errors: Vec<ErrorLink>,
    id: String,
    id_error: Option<&'static str>,
    code_error: Option<&'static str>,
}

async fn anonymous(
    State(app): State<AppState>,
    frame: Frame,
    asker: Asker,
) -> Result<Response, PageError> {
    render(&AnonymousPage {
        page: page_for(&frame, &app, asker.who(), "mine.anonymous.title", false),
        errors: Vec::new(),
        id: String::new(),
        id_error: None,
        code_error: None,
    })
}

#[derive(Deserialize)]
struct AnonymousForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    access_code: String,
}

/// Opens an anonymous request with its id and access code, and remembers them in this
/// browser (never in a URL). A wrong code and an unknown id are told the same (R1).
async fn open_anonymous(
    State(app): State<AppState>,
    frame: Frame,
    asker: Asker,
    PageForm(form): PageForm<AnonymousForm>,
) -> Result<Response, PageError> {
    let id = form.id.trim();
    // Compared without case, spaces or dashes (as the workflow does), so that it fits a cookie.
    let code: String = form
        .access_code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let id_error = id
        .is_empty()
        .then(|| i18n_text(&frame, "mine.anonymous.id_missing"));
    let mut code_error = code
        .is_empty()
        .then(|| i18n_text(&frame, "mine.anonymous.code_missing"));
    if id_error.is_none() && code_error.is_none() {
        let key = CitizenKey::AccessCode {
            code: code.clone(),
            client: asker.client,
        };
        match app.ctx.view_request(&key, id).await {
            Ok(view) => {
                let id = view.case.id.as_str();
                let mut response = see_request(id);
                remember_visitor(&mut response, id, &code, app.ctx.config.secure_cookies);
                return Ok(response);
            }
            Err(workflow::Error::NotFound) => {
                code_error = Some(i18n_text(&frame, "mine.anonymous.no_match"));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut errors = Vec::new();
    if let Some(text) = id_error {
        errors.push(ErrorLink { href: "#id", text });
    }
    if let Some(text) = code_error {
        errors.push(ErrorLink {
            href: "#access_code",
            text,
        });
    }
    let page = AnonymousPage {
        page: page_for(&frame, &app, asker.who(), "mine.anonymous.title", true),
        errors,
        id: id.to_owned(),
        id_error,
        code_error,
    };
    Ok(with_status(
        render(&page)?,
        StatusCode::UNPROCESSABLE_ENTITY,
    ))
}

// ---------------------------------------------------------------------------------------------
// GET /my/data and the download
// ---------------------------------------------------------------------------------------------

struct OpenedRow {
    municipality: String,
    role: &'static str,
    action: &'static str,
    at: String,
    at_iso: String,
}

struct DataRequest {
    heading: String,
    status: &'static str,
    responsible: String,
    messages: usize,
    consents: Vec<String>,
    opened: Vec<OpenedRow>,
}

#[derive(Template)]
#[template(path = "mine_data.html")]
struct DataPage {
    page: Page,
    home: String,
    requests: Vec<DataRequest>,
}

/// A known word for `value` under `prefix`, or the prefix's `other`.
fn known(page: &Page, prefix: &str, value: &str) -> &'static str {
    let text = page.t(&format!("{prefix}.{value}"));
    if text.is_empty() {
        page.t(&format!("{prefix}.other"))
    } else {
        text
    }
}

async fn my_data(
    State(app): State<AppState>,
    frame: Frame,
    asker: Asker,
) -> Result<Response, PageError> {
    let citizen = asker.citizen()?;
    let export = app.ctx.export(citizen).await?;
    let page = page_for(&frame, &app, asker.who(), "mine.data.title", false);
    let requests = export
        .requests
        .iter()
        .map(|r| {
            let stage = match CaseState::parse(&r.state) {
                Some(CaseState::Queued | CaseState::Offered) => "sent",
                Some(CaseState::Assigned) => "received",
                Some(CaseState::WaitingCitizen) => "answered",
                _ => "ended",
            };
            let consents = r
                .consents
                .iter()
                .map(|c| {
                    let who = match (&c.municipalities, c.cross_municipality) {
                        (_, false) => page.t("mine.only_home").to_owned(),
                        (None, true) => page.t("mine.every_partner").to_owned(),
                        (Some(list), true) if list.is_empty() => {
                            page.t("mine.only_home").to_owned()
                        }
                        (Some(list), true) => names_in_order(&app, list.iter().map(String::as_str)),
                    };
                    page.fill(
                        "mine.data.consent_line",
                        &[("when", &page.when(&c.at)), ("who", &who)],
                    )
                })
                .collect();
            let opened = r
                .opened_by
                .iter()
                .map(|o| OpenedRow {
                    municipality: municipality_name(&app, &o.municipality),
                    role: known(&page, "mine.data.role", &o.role),
                    action: known(&page, "mine.data.action", &o.action),
                    at: page.when(&o.at),
                    at_iso: iso(&o.at),
                })
                .collect();
            DataRequest {
                heading: page.fill(
                    "mine.data.request_heading",
                    &[
                        ("category", &category_name(&app, &page, &r.category)),
                        ("when", &page.when(&r.created_at)),
                    ],
                ),
                status: page.t(&format!("mine.stage.{stage}")),
                responsible: municipality_name(&app, &r.home),
                messages: r.messages.len(),
                consents,
                opened,
            }
        })
        .collect();
    render(&DataPage {
        home: municipality_name(&app, &export.person.registered_home),
        page,
        requests,
    })
}

/// Everything stored about the citizen, as `GET /api/v1/me/export` answers it, as a file.
async fn export_json(State(app): State<AppState>, asker: Asker) -> Result<Response, PageError> {
    let citizen = asker.citizen()?;
    let export = app.ctx.export(citizen).await?;
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"brygga-mina-uppgifter.json\"",
        )],
        axum::Json(export),
    )
        .into_response())
}
