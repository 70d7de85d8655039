//! The administrators' pages for the federation's members, categories and agreements (issue 22
//! point 4): `/admin/municipalities`, `/admin/categories`, `/admin/agreements` and one of each,
//! over the workflows of `/api/v1/admin/{municipalities,categories,agreements}`.
//!
//! Any administrator reads them (the configuration holds no personal data). What each may
//! change is the workflows' to decide: the federation's administrators everything, a
//! municipality's own administrators its emergency number and home rule. The pages show only
//! the forms that the reader's role is meant to use, but a forged form is refused by the same
//! workflow and said in words, like any other refusal.
//!
//! An agreement is a legal document: a draft binds nobody until a second federation
//! administrator signs it (four eyes), and its page shows every version with who wrote it, who
//! signed it and what it changed.
//!
//! The helpers at the top (form mistakes, refusals, choices) are shared with `staff.rs`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::NaiveDate;
use serde::Deserialize;

use super::super::work::{Choice, ErrorLink, Refusal, refusal, see, with_status};
use super::super::{Frame, Page, PageError, PageForm, Who, render};
use super::municipality_name as member_name;
use super::{Admin, AdminFrame, Done, Section, admin_page, category_name, error_title};
use crate::domain::Administrator;
use crate::domain::federation::{
    Agreement, AgreementState, AgreementVersion, Category, CategoryKind, Federation, Municipality,
};
use crate::http::AppState;
use crate::i18n::{self, Lang};
use crate::workflow::{self, AgreementInput, AgreementRecord, CategoryInput, MunicipalityInput};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/municipalities",
            get(municipalities).post(add_municipality),
        )
        .route(
            "/admin/municipalities/{code}",
            get(municipality).post(change_municipality),
        )
        .route(
            "/admin/municipalities/{code}/remove",
            post(remove_municipality),
        )
        .route("/admin/categories", get(categories).post(add_category))
        .route(
            "/admin/categories/{id}",
            get(category).post(change_category),
        )
        .route("/admin/categories/{id}/remove", post(remove_category))
        .route("/admin/agreements", get(agreements).post(draft_agreement))
        .route(
            "/admin/agreements/{id}",
            get(agreement).post(redraft_agreement),
        )
        .route(
            "/admin/agreements/{id}/versions/{version}/sign",
            post(sign_agreement),
        )
        .route("/admin/agreements/{id}/end", post(end_agreement))
}

// ---------------------------------------------------------------------------------------------
// What the administration's forms share (also used by staff.rs)
// ---------------------------------------------------------------------------------------------

/// What was wrong with a form, field by field, each a link to its field (`#<field id>`), in
/// the order they were found (the form's order: fields are checked top to bottom).
#[derive(Default)]
pub(super) struct Mistakes(Vec<ErrorLink>);

impl Mistakes {
    /// Notes what is wrong with the field `href` (`#name`); the first word on a field stands.
    pub(super) fn add(&mut self, href: &'static str, text: String) {
        if !self.has(href.trim_start_matches('#')) {
            self.0.push(ErrorLink { href, text });
        }
    }

    /// Notes the text of `key` (with `{max}` filled where it has one).
    pub(super) fn say(&mut self, lang: Lang, href: &'static str, key: &str) {
        let max = workflow::MAX_CAPACITY.to_string();
        self.add(href, i18n::fill(lang, key, &[("max", &max)]));
    }

    /// What is wrong with the field `field` (its id, without `#`).
    pub(super) fn of(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|e| e.href.strip_prefix('#') == Some(field))
            .map(|e| e.text.as_str())
    }

    pub(super) fn has(&self, field: &str) -> bool {
        self.of(field).is_some()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The error summary's lines.
    pub(super) fn links(&self) -> Vec<ErrorLink> {
        self.0
            .iter()
            .map(|e| ErrorLink {
                href: e.href,
                text: e.text.clone(),
            })
            .collect()
    }
}

/// What a page says besides its content: the workflow's refusal, the form's mistakes, and the
/// status it answers with (the API's for a refusal, 422 for mistakes, else 200).
pub(super) struct Told {
    pub(super) refusal: Option<Refusal>,
    pub(super) errors: Vec<ErrorLink>,
    pub(super) status: StatusCode,
}

/// What a page is shown with besides its subject: the form as it was sent with what was wrong
/// with it, what the workflow refused, and the confirmation of what the last form did.
pub(super) struct Shown<F> {
    pub(super) entered: Option<F>,
    pub(super) mistakes: Mistakes,
    pub(super) failed: Option<workflow::Error>,
    pub(super) done: Option<String>,
}

impl<F> Shown<F> {
    /// The page as asked for with `GET`, confirming `done` if given.
    pub(super) fn plain(done: Option<String>) -> Self {
        Shown {
            entered: None,
            mistakes: Mistakes::default(),
            failed: None,
            done,
        }
    }

    /// The page saying what the workflow refused.
    pub(super) fn refused(e: workflow::Error) -> Self {
        Shown {
            failed: Some(e),
            ..Shown::plain(None)
        }
    }

    /// The page again after its form: what was sent, what was wrong, what was refused.
    pub(super) fn again(entered: F, mistakes: Mistakes, failed: Option<workflow::Error>) -> Self {
        Shown {
            entered: Some(entered),
            mistakes,
            failed,
            done: None,
        }
    }
}

/// Turns what went wrong into what the page says; a failure that is no refusal (a database
/// error, an unknown thing) is the error page instead. Mistakes mark the title.
pub(super) fn told(
    app: &AppState,
    page: &mut Page,
    admin: &Administrator,
    failed: Option<workflow::Error>,
    mistakes: Option<&Mistakes>,
) -> Result<Told, PageError> {
    let errors = mistakes.map(Mistakes::links).unwrap_or_default();
    if !errors.is_empty() {
        error_title(page);
    }
    let (refusal, status) = match failed {
        None if errors.is_empty() => (None, StatusCode::OK),
        None => (None, StatusCode::UNPROCESSABLE_ENTITY),
        Some(e) => match refused(app, page, admin, &e) {
            Some((r, status)) => (Some(r), status),
            None => return Err(e.into()),
        },
    };
    Ok(Told {
        refusal,
        errors,
        status,
    })
}

/// A workflow's refusal in words, as the caseworkers' pages say it, and what only the
/// administration meets: the four-eyes rule, a name already taken, and a municipality's
/// administrator reaching beyond their municipality (said with the municipality's name).
pub(super) fn refused(
    app: &AppState,
    page: &Page,
    admin: &Administrator,
    e: &workflow::Error,
) -> Option<(Refusal, StatusCode)> {
    let plain = |key: &str, status| {
        Some((
            Refusal {
                message: page.t(key).to_owned(),
                rules: Vec::new(),
            },
            status,
        ))
    };
    match (e, &admin.municipality) {
        (workflow::Error::FourEyesRequired, _) => plain(
            "admin_federation.agreement.four_eyes_refused",
            StatusCode::FORBIDDEN,
        ),
        (workflow::Error::Duplicate(_), _) => plain("error.already_exists", StatusCode::CONFLICT),
        (workflow::Error::Denied(_) | workflow::Error::Forbidden, Some(own)) => {
            let (mut said, status) = refusal(page, e)?;
            said.message = page.fill(
                "admin_federation.refused_scope",
                &[("municipality", &member_name(app, own.as_str()))],
            );
            Some((said, status))
        }
        _ => refusal(page, e),
    }
}

/// A ticked checkbox (an unticked one is not sent at all).
pub(super) fn ticked(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.trim().is_empty() && v != "false")
}

/// Every category of the federation as checkboxes, `selected` ticked.
pub(super) fn category_choices(
    app: &AppState,
    page: &Page,
    federation: &Federation,
    selected: &[String],
) -> Vec<Choice> {
    federation
        .categories
        .iter()
        .map(|c| Choice {
            value: c.id.as_str().to_owned(),
            text: category_name(app, page, c.id.as_str()),
            selected: selected.iter().any(|s| s == c.id.as_str()),
        })
        .collect()
}

/// Every member of the federation as choices, `selected` chosen.
pub(super) fn municipality_choices(federation: &Federation, selected: &[String]) -> Vec<Choice> {
    federation
        .municipalities
        .iter()
        .map(|m| Choice {
            value: m.code.as_str().to_owned(),
            text: m.name.clone(),
            selected: selected.iter().any(|s| s == m.code.as_str()),
        })
        .collect()
}

/// Names joined for a table cell, in the order given.
fn joined(names: impl IntoIterator<Item = String>) -> String {
    names.into_iter().collect::<Vec<_>>().join(", ")
}

fn yes_no(page: &Page, value: bool) -> &'static str {
    page.t(if value {
        "admin_federation.yes"
    } else {
        "admin_federation.no"
    })
}

// ---------------------------------------------------------------------------------------------
// Municipalities
// ---------------------------------------------------------------------------------------------

struct MunicipalityRow {
    code: String,
    name: String,
    population: String,
    phone: Option<String>,
    keeps_home: String,
}

/// The municipality form as shown: what was entered (or stands) and what was wrong.
struct MunicipalityForm {
    code: String,
    name: String,
    population: String,
    phone: String,
    keeps_home: Vec<Choice>,
    /// Name and population too: the federation's administrators' form.
    full: bool,
    mistakes: Mistakes,
}

impl MunicipalityForm {
    fn of(app: &AppState, page: &Page, federation: &Federation, m: &Municipality) -> Self {
        let keeps: Vec<String> = m.keeps_home.iter().map(|c| c.as_str().to_owned()).collect();
        MunicipalityForm {
            code: m.code.as_str().to_owned(),
            name: m.name.clone(),
            population: m.population.to_string(),
            phone: m.socialjour_phone.clone().unwrap_or_default(),
            keeps_home: category_choices(app, page, federation, &keeps),
            full: true,
            mistakes: Mistakes::default(),
        }
    }

    fn empty(app: &AppState, page: &Page, federation: &Federation) -> Self {
        MunicipalityForm {
            code: String::new(),
            name: String::new(),
            population: String::new(),
            phone: String::new(),
            keeps_home: category_choices(app, page, federation, &[]),
            full: true,
            mistakes: Mistakes::default(),
        }
    }
}

/// The form as sent. Name and population are absent from a municipality administrator's form
/// (they are the federation's to change), and then stay as they are.
#[derive(Deserialize)]
struct MunicipalityFields {
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    population: Option<String>,
    #[serde(default)]
    socialjour_phone: String,
    #[serde(default)]
    keeps_home: Vec<String>,
}

impl MunicipalityFields {
    /// The form again with what was sent, for the page that says what to fix.
    fn again(
        &self,
        app: &AppState,
        page: &Page,
        federation: &Federation,
        current: Option<&Municipality>,
        mistakes: Mistakes,
    ) -> MunicipalityForm {
        MunicipalityForm {
            code: self.code.trim().to_owned(),
            name: self
                .name
                .clone()
                .or_else(|| current.map(|m| m.name.clone()))
                .unwrap_or_default(),
            population: self
                .population
                .clone()
                .or_else(|| current.map(|m| m.population.to_string()))
                .unwrap_or_default(),
            phone: self.socialjour_phone.clone(),
            keeps_home: category_choices(app, page, federation, &self.keeps_home),
            full: true,
            mistakes,
        }
    }

    /// The input for the workflow, with what the form lacks taken from `current`; `None`
    /// with `mistakes` noted when something is missing or not a number.
    fn input(
        &self,
        lang: Lang,
        current: Option<&Municipality>,
        mistakes: &mut Mistakes,
    ) -> Option<MunicipalityInput> {
        let name = match (&self.name, current) {
            (Some(name), _) => name.trim().to_owned(),
            (None, Some(m)) => m.name.clone(),
            (None, None) => String::new(),
        };
        if name.is_empty() {
            mistakes.say(lang, "#name", "admin_federation.municipality.name_missing");
        }
        let population = match (&self.population, current) {
            (Some(text), _) => text.trim().replace([' ', '\u{a0}'], "").parse::<u32>().ok(),
            (None, Some(m)) => Some(m.population),
            (None, None) => None,
        }
        .filter(|p| (1..=10_000_000).contains(p));
        if population.is_none() {
            mistakes.say(
                lang,
                "#population",
                "admin_federation.municipality.population_invalid",
            );
        }
        let phone = self.socialjour_phone.trim();
        Some(MunicipalityInput {
            code: current.map(|m| m.code.as_str().to_owned()),
            name,
            population: population?,
            socialjour_phone: (!phone.is_empty()).then(|| phone.to_owned()),
            keeps_home: self.keeps_home.clone(),
        })
        .filter(|_| mistakes.is_empty())
    }
}

/// The field a municipality's refused input points at.
fn municipality_mistake(e: &workflow::Error) -> Option<(&'static str, &'static str)> {
    Some(match e {
        workflow::Error::InvalidField("code") => {
            ("#code", "admin_federation.municipality.code_invalid")
        }
        workflow::Error::InvalidField("name") => {
            ("#name", "admin_federation.municipality.name_missing")
        }
        workflow::Error::InvalidField("population") => (
            "#population",
            "admin_federation.municipality.population_invalid",
        ),
        workflow::Error::InvalidField("socialjour_phone") => (
            "#socialjour_phone",
            "admin_federation.municipality.phone_invalid",
        ),
        workflow::Error::Unprocessable("unknown_category") => (
            "#keeps_home",
            "admin_federation.municipality.keeps_home_unknown",
        ),
        _ => return None,
    })
}

#[derive(Template)]
#[template(path = "admin_municipalities.html")]
struct MunicipalitiesPage {
    page: Page,
    admin: AdminFrame,
    errors: Vec<ErrorLink>,
    refusal: Option<Refusal>,
    rows: Vec<MunicipalityRow>,
    can_add: bool,
    form: MunicipalityForm,
}

#[derive(Template)]
#[template(path = "admin_municipality.html")]
struct MunicipalityPage {
    page: Page,
    admin: AdminFrame,
    errors: Vec<ErrorLink>,
    refusal: Option<Refusal>,
    code: String,
    name: String,
    population: String,
    phone: Option<String>,
    keeps_home: String,
    /// Its own administrators and the federation's change it.
    can_edit: bool,
    /// The federation's administrators change the name and population and remove members.
    federation: bool,
    form: MunicipalityForm,
}

async fn municipalities_page(
    app: &AppState,
    frame: &Frame,
    admin: &Administrator,
    shown: Shown<MunicipalityFields>,
) -> Result<Response, PageError> {
    let federation = app.ctx.federation_config(admin).await?;
    let (mut page, frame_) = admin_page(
        frame,
        app,
        admin,
        Section::Municipalities,
        "admin_federation.municipalities.title",
    );
    let Shown {
        entered,
        mistakes,
        failed,
        done,
    } = shown;
    let told = told(app, &mut page, admin, failed, Some(&mistakes))?;
    let rows = federation
        .municipalities
        .iter()
        .map(|m| MunicipalityRow {
            code: m.code.as_str().to_owned(),
            name: m.name.clone(),
            population: m.population.to_string(),
            phone: m.socialjour_phone.clone(),
            keeps_home: joined(
                m.keeps_home
                    .iter()
                    .map(|c| category_name(app, &page, c.as_str())),
            ),
        })
        .collect();
    let form = match entered {
        Some(fields) => fields.again(app, &page, &federation, None, mistakes),
        None => MunicipalityForm::empty(app, &page, &federation),
    };
    let html = render(&MunicipalitiesPage {
        admin: frame_.confirm(&page, done.as_deref()),
        errors: told.errors,
        refusal: told.refusal,
        rows,
        can_add: admin.is_federation(),
        form,
        page,
    })?;
    Ok(with_status(html, told.status))
}

async fn municipality_page(
    app: &AppState,
    frame: &Frame,
    admin: &Administrator,
    code: &str,
    shown: Shown<MunicipalityFields>,
) -> Result<Response, PageError> {
    let federation = app.ctx.federation_config(admin).await?;
    let m = federation
        .municipalities
        .iter()
        .find(|m| m.code.as_str() == code)
        .ok_or(PageError::NotFound)?;
    let (mut page, frame_) = admin_page(
        frame,
        app,
        admin,
        Section::Municipalities,
        "admin_federation.municipality.title",
    );
    page.title = format!("{}: {}", page.title, m.name);
    let Shown {
        entered,
        mistakes,
        failed,
        done,
    } = shown;
    let told = told(app, &mut page, admin, failed, Some(&mistakes))?;
    let mut form = match entered {
        Some(fields) => fields.again(app, &page, &federation, Some(m), mistakes),
        None => MunicipalityForm::of(app, &page, &federation, m),
    };
    // A municipality's own administrators see the name and population, not change them.
    form.full = admin.is_federation();
    let html = render(&MunicipalityPage {
        admin: frame_.confirm(&page, done.as_deref()),
        errors: told.errors,
        refusal: told.refusal,
        code: m.code.as_str().to_owned(),
        name: m.name.clone(),
        population: m.population.to_string(),
        phone: m.socialjour_phone.clone(),
        keeps_home: joined(
            m.keeps_home
                .iter()
                .map(|c| category_name(app, &page, c.as_str())),
        ),
        can_edit: admin.municipality.as_ref().is_none_or(|own| *own == m.code),
        federation: admin.is_federation(),
        form,
        page,
    })?;
    Ok(with_status(html, told.status))
}

async fn municipalities(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    municipalities_page(&app, &frame, &admin, Shown::plain(done.done)).await
}

async fn add_municipality(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    PageForm(fields): PageForm<MunicipalityFields>,
) -> Result<Response, PageError> {
    let lang = frame.lang;
    let mut mistakes = Mistakes::default();
    let code = fields.code.trim().to_owned();
    if code.len() != 4 || !code.bytes().all(|b| b.is_ascii_digit()) {
        mistakes.say(lang, "#code", "admin_federation.municipality.code_invalid");
    }
    let mut failed = None;
    if let Some(mut input) = fields.input(lang, None, &mut mistakes) {
        input.code = Some(code);
        match app.ctx.add_municipality(&admin, input).await {
            Ok(added) => {
                return Ok(see(&format!(
                    "/admin/municipalities/{}?done=municipality_added",
                    added.code
                )));
            }
            Err(workflow::Error::Duplicate(_)) => {
                mistakes.say(lang, "#code", "admin_federation.municipality.code_taken");
            }
            Err(e) => match municipality_mistake(&e) {
                Some((href, key)) => mistakes.say(lang, href, key),
                None => failed = Some(e),
            },
        }
    }
    municipalities_page(&app, &frame, &admin, Shown::again(fields, mistakes, failed)).await
}

async fn municipality(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Path(code): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    municipality_page(&app, &frame, &admin, &code, Shown::plain(done.done)).await
}

async fn change_municipality(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Path(code): Path<String>,
    PageForm(fields): PageForm<MunicipalityFields>,
) -> Result<Response, PageError> {
    let lang = frame.lang;
    let federation = app.ctx.federation_config(&admin).await?;
    let current = federation
        .municipalities
        .iter()
        .find(|m| m.code.as_str() == code)
        .ok_or(PageError::NotFound)?;
    let mut mistakes = Mistakes::default();
    let mut failed = None;
    if let Some(input) = fields.input(lang, Some(current), &mut mistakes) {
        match app.ctx.change_municipality(&admin, &code, input).await {
            Ok(_) => {
                return Ok(see(&format!(
                    "/admin/municipalities/{code}?done=municipality_changed"
                )));
            }
            Err(e) => match municipality_mistake(&e) {
                Some((href, key)) => mistakes.say(lang, href, key),
                None => failed = Some(e),
            },
        }
    }
    let shown = Shown::again(fields, mistakes, failed);
    municipality_page(&app, &frame, &admin, &code, shown).await
}

/// Nothing but the CSRF token.
#[derive(Deserialize)]
pub(super) struct Confirmed {}

async fn remove_municipality(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Path(code): Path<String>,
    PageForm(Confirmed {}): PageForm<Confirmed>,
) -> Result<Response, PageError> {
    match app.ctx.remove_municipality(&admin, &code).await {
        Ok(()) => Ok(see("/admin/municipalities?done=municipality_removed")),
        Err(e) => municipality_page(&app, &frame, &admin, &code, Shown::refused(e)).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Categories
// ---------------------------------------------------------------------------------------------

struct CategoryRow {
    id: String,
    name: String,
    kind: &'static str,
    /// What sets it apart, in words ("urgent", "always at home", …).
    marks: String,
}

/// The category form as shown.
struct CategoryForm {
    id: String,
    kinds: Vec<Choice>,
    sv: String,
    en: String,
    urgent: bool,
    must_stay_home: bool,
    family_counselling: bool,
    record_identity: bool,
    mistakes: Mistakes,
}

fn kinds(page: &Page, chosen: &str) -> Vec<Choice> {
    [
        CategoryKind::Service,
        CategoryKind::Authority,
        CategoryKind::Volunteer,
    ]
    .iter()
    .map(|k| Choice {
        value: k.as_str().to_owned(),
        text: page
            .t(&format!("admin_federation.kind.{}", k.as_str()))
            .to_owned(),
        selected: k.as_str() == chosen,
    })
    .collect()
}

impl CategoryForm {
    fn of(page: &Page, c: &Category) -> Self {
        CategoryForm {
            id: c.id.as_str().to_owned(),
            kinds: kinds(page, c.kind.as_str()),
            sv: c.sv.clone(),
            en: c.en.clone(),
            urgent: c.urgent,
            must_stay_home: c.must_stay_home,
            family_counselling: c.family_counselling,
            record_identity: c.record_identity,
            mistakes: Mistakes::default(),
        }
    }

    fn empty(page: &Page) -> Self {
        CategoryForm {
            id: String::new(),
            kinds: kinds(page, ""),
            sv: String::new(),
            en: String::new(),
            urgent: false,
            must_stay_home: false,
            family_counselling: false,
            // R16: identity is recorded unless the nämnd decided otherwise.
            record_identity: true,
            mistakes: Mistakes::default(),
        }
    }
}

#[derive(Deserialize)]
struct CategoryFields {
    #[serde(default)]
    id: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    sv: String,
    #[serde(default)]
    en: String,
    #[serde(default)]
    urgent: Option<String>,
    #[serde(default)]
    must_stay_home: Option<String>,
    #[serde(default)]
    family_counselling: Option<String>,
    #[serde(default)]
    record_identity: Option<String>,
}

impl CategoryFields {
    fn again(&self, page: &Page, id: Option<&str>, mistakes: Mistakes) -> CategoryForm {
        CategoryForm {
            id: id.map_or_else(|| self.id.trim().to_owned(), str::to_owned),
            kinds: kinds(page, self.kind.trim()),
            sv: self.sv.clone(),
            en: self.en.clone(),
            urgent: ticked(self.urgent.as_deref()),
            must_stay_home: ticked(self.must_stay_home.as_deref()),
            family_counselling: ticked(self.family_counselling.as_deref()),
            record_identity: ticked(self.record_identity.as_deref()),
            mistakes,
        }
    }

    fn input(
        &self,
        lang: Lang,
        id: Option<&str>,
        mistakes: &mut Mistakes,
    ) -> Option<CategoryInput> {
        let new_id = self.id.trim();
        if id.is_none() && new_id.is_empty() {
            mistakes.say(lang, "#id", "admin_federation.category.id_invalid");
        }
        if CategoryKind::parse(self.kind.trim()).is_none() {
            mistakes.say(lang, "#kind", "admin_federation.category.kind_missing");
        }
        if self.sv.trim().is_empty() {
            mistakes.say(lang, "#sv", "admin_federation.category.sv_missing");
        }
        if self.en.trim().is_empty() {
            mistakes.say(lang, "#en", "admin_federation.category.en_missing");
        }
        mistakes.is_empty().then(|| CategoryInput {
            id: Some(id.unwrap_or(new_id).to_owned()),
            kind: self.kind.trim().to_owned(),
            urgent: ticked(self.urgent.as_deref()),
            must_stay_home: ticked(self.must_stay_home.as_deref()),
            family_counselling: ticked(self.family_counselling.as_deref()),
            record_identity: ticked(self.record_identity.as_deref()),
            sv: self.sv.trim().to_owned(),
            en: self.en.trim().to_owned(),
        })
    }
}

fn category_mistake(e: &workflow::Error) -> Option<(&'static str, &'static str)> {
    Some(match e {
        workflow::Error::InvalidField("id") => ("#id", "admin_federation.category.id_invalid"),
        workflow::Error::InvalidField("kind") => {
            ("#kind", "admin_federation.category.kind_missing")
        }
        workflow::Error::InvalidField("sv") => ("#sv", "admin_federation.category.sv_missing"),
        workflow::Error::InvalidField("en") => ("#en", "admin_federation.category.en_missing"),
        // R10: a concern about a child is urgent and stays home, whatever is ticked.
        workflow::Error::InvalidField("must_stay_home") => (
            "#must_stay_home",
            "admin_federation.category.child_concern_fixed",
        ),
        _ => return None,
    })
}

fn category_marks(page: &Page, c: &Category) -> String {
    let mut marks = Vec::new();
    if c.is_urgent() {
        marks.push(page.t("admin_federation.category.mark_urgent").to_owned());
    }
    if c.must_stay_home {
        marks.push(page.t("admin_federation.category.mark_home").to_owned());
    }
    if c.family_counselling {
        marks.push(page.t("admin_federation.category.mark_family").to_owned());
    }
    if !c.record_identity {
        marks.push(
            page.t("admin_federation.category.mark_no_identity")
                .to_owned(),
        );
    }
    joined(marks)
}

#[derive(Template)]
#[template(path = "admin_categories.html")]
struct CategoriesPage {
    page: Page,
    admin: AdminFrame,
    errors: Vec<ErrorLink>,
    refusal: Option<Refusal>,
    rows: Vec<CategoryRow>,
    can_change: bool,
    form: CategoryForm,
}

#[derive(Template)]
#[template(path = "admin_category.html")]
struct CategoryPage {
    page: Page,
    admin: AdminFrame,
    errors: Vec<ErrorLink>,
    refusal: Option<Refusal>,
    row: CategoryRow,
    child_concern: bool,
    can_change: bool,
    form: CategoryForm,
}

async fn categories_page(
    app: &AppState,
    frame: &Frame,
    admin: &Administrator,
    shown: Shown<CategoryFields>,
) -> Result<Response, PageError> {
    let federation = app.ctx.federation_config(admin).await?;
    let (mut page, frame_) = admin_page(
        frame,
        app,
        admin,
        Section::Categories,
        "admin_federation.categories.title",
    );
    let Shown {
        entered,
        mistakes,
        failed,
        done,
    } = shown;
    let told = told(app, &mut page, admin, failed, Some(&mistakes))?;
    let rows = federation
        .categories
        .iter()
        .map(|c| category_row(&page, c))
        .collect();
    let form = match entered {
        Some(fields) => fields.again(&page, None, mistakes),
        None => CategoryForm::empty(&page),
    };
    let html = render(&CategoriesPage {
        admin: frame_.confirm(&page, done.as_deref()),
        errors: told.errors,
        refusal: told.refusal,
        rows,
        can_change: admin.is_federation(),
        form,
        page,
    })?;
    Ok(with_status(html, told.status))
}

fn category_row(page: &Page, c: &Category) -> CategoryRow {
    CategoryRow {
        id: c.id.as_str().to_owned(),
        name: c.name(page.code()).to_owned(),
        kind: page.t(&format!("admin_federation.kind.{}", c.kind.as_str())),
        marks: category_marks(page, c),
    }
}

async fn category_page(
    app: &AppState,
    frame: &Frame,
    admin: &Administrator,
    id: &str,
    shown: Shown<CategoryFields>,
) -> Result<Response, PageError> {
    let federation = app.ctx.federation_config(admin).await?;
    let c = federation.category(id).ok_or(PageError::NotFound)?;
    let (mut page, frame_) = admin_page(
        frame,
        app,
        admin,
        Section::Categories,
        "admin_federation.category.title",
    );
    page.title = format!("{}: {}", page.title, c.name(page.code()));
    let Shown {
        entered,
        mistakes,
        failed,
        done,
    } = shown;
    let told = told(app, &mut page, admin, failed, Some(&mistakes))?;
    let form = match entered {
        Some(fields) => fields.again(&page, Some(id), mistakes),
        None => CategoryForm::of(&page, c),
    };
    let html = render(&CategoryPage {
        admin: frame_.confirm(&page, done.as_deref()),
        errors: told.errors,
        refusal: told.refusal,
        row: category_row(&page, c),
        child_concern: c.is_child_concern(),
        can_change: admin.is_federation(),
        form,
        page,
    })?;
    Ok(with_status(html, told.status))
}

async fn categories(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    categories_page(&app, &frame, &admin, Shown::plain(done.done)).await
}

async fn add_category(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    PageForm(fields): PageForm<CategoryFields>,
) -> Result<Response, PageError> {
    let lang = frame.lang;
    let mut mistakes = Mistakes::default();
    let mut failed = None;
    if let Some(input) = fields.input(lang, None, &mut mistakes) {
        match app.ctx.add_category(&admin, input).await {
            Ok(added) => {
                return Ok(see(&format!(
                    "/admin/categories/{}?done=category_added",
                    added.id
                )));
            }
            Err(workflow::Error::Duplicate(_)) => {
                mistakes.say(lang, "#id", "admin_federation.category.id_taken");
            }
            Err(e) => match category_mistake(&e) {
                Some((href, key)) => mistakes.say(lang, href, key),
                None => failed = Some(e),
            },
        }
    }
    categories_page(&app, &frame, &admin, Shown::again(fields, mistakes, failed)).await
}

async fn category(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    category_page(&app, &frame, &admin, &id, Shown::plain(done.done)).await
}

async fn change_category(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Path(id): Path<String>,
    PageForm(fields): PageForm<CategoryFields>,
) -> Result<Response, PageError> {
    let lang = frame.lang;
    let mut mistakes = Mistakes::default();
    let mut failed = None;
    if let Some(input) = fields.input(lang, Some(&id), &mut mistakes) {
        match app.ctx.change_category(&admin, &id, input).await {
            Ok(_) => {
                return Ok(see(&format!(
                    "/admin/categories/{id}?done=category_changed"
                )));
            }
            Err(e) => match category_mistake(&e) {
                Some((href, key)) => mistakes.say(lang, href, key),
                None => failed = Some(e),
            },
        }
    }
    let shown = Shown::again(fields, mistakes, failed);
    category_page(&app, &frame, &admin, &id, shown).await
}

async fn remove_category(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Path(id): Path<String>,
    PageForm(Confirmed {}): PageForm<Confirmed>,
) -> Result<Response, PageError> {
    match app.ctx.remove_category(&admin, &id).await {
        Ok(()) => Ok(see("/admin/categories?done=category_removed")),
        Err(e) => category_page(&app, &frame, &admin, &id, Shown::refused(e)).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Agreements
// ---------------------------------------------------------------------------------------------

/// Where an agreement stands today, as its list and its page say it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Written, never signed: binds nobody.
    Draft,
    /// Signed, its first day still to come.
    Signed,
    InForce,
    Ended,
}

impl Standing {
    fn of(record: &AgreementRecord, today: NaiveDate) -> Standing {
        match &record.in_force {
            Some(a) if a.valid_to < today => Standing::Ended,
            Some(a) if a.valid_from > today => Standing::Signed,
            Some(_) => Standing::InForce,
            // Signed once and no longer in the federation: ended before it started.
            None if record.signed_version.is_some() => Standing::Ended,
            None => Standing::Draft,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Standing::Draft => "draft",
            Standing::Signed => "signed",
            Standing::InForce => "in_force",
            Standing::Ended => "ended",
        }
    }
}

/// An agreement's terms, in words.
struct Terms {
    members: String,
    categories: String,
    valid_from: String,
    valid_to: String,
    delegates_authority: &'static str,
    covers_minors: &'static str,
    names_family_counselling: &'static str,
}

impl Terms {
    fn of(app: &AppState, page: &Page, a: &Agreement) -> Terms {
        Terms {
            members: joined(a.members.iter().map(|m| member_name(app, m.as_str()))),
            categories: joined(
                a.categories
                    .iter()
                    .map(|c| category_name(app, page, c.as_str())),
            ),
            valid_from: a.valid_from.to_string(),
            valid_to: a.valid_to.to_string(),
            delegates_authority: yes_no(page, a.delegates_authority),
            covers_minors: yes_no(page, a.covers_minors),
            names_family_counselling: yes_no(page, a.names_family_counselling),
        }
    }
}

struct AgreementRow {
    id: String,
    standing: &'static str,
    standing_text: &'static str,
    /// A newer version waits for a second administrator's signature.
    pending: bool,
    terms: Terms,
}

/// The terms as they stand: the version in force, else the newest written.
fn current_terms(record: &AgreementRecord) -> Option<&Agreement> {
    record.in_force.as_ref().or_else(|| {
        record
            .versions
            .iter()
            .max_by_key(|v| v.version)
            .map(|v| &v.agreement)
    })
}

/// The newest version, when it is a draft waiting for a signature.
fn waiting_draft(record: &AgreementRecord) -> Option<&AgreementVersion> {
    record
        .versions
        .iter()
        .max_by_key(|v| v.version)
        .filter(|v| v.state == AgreementState::Draft)
}

/// The agreement form as shown.
struct AgreementForm {
    id: String,
    members: Vec<Choice>,
    categories: Vec<Choice>,
    valid_from: String,
    valid_to: String,
    delegates_authority: bool,
    covers_minors: bool,
    names_family_counselling: bool,
    note: String,
    mistakes: Mistakes,
}

impl AgreementForm {
    fn of(
        app: &AppState,
        page: &Page,
        federation: &Federation,
        a: Option<&Agreement>,
    ) -> AgreementForm {
        let members: Vec<String> = a
            .map(|a| a.members.iter().map(|m| m.as_str().to_owned()).collect())
            .unwrap_or_default();
        let categories: Vec<String> = a
            .map(|a| a.categories.iter().map(|c| c.as_str().to_owned()).collect())
            .unwrap_or_default();
        AgreementForm {
            id: a.map(|a| a.id.clone()).unwrap_or_default(),
            members: municipality_choices(federation, &members),
            categories: category_choices(app, page, federation, &categories),
            valid_from: a.map(|a| a.valid_from.to_string()).unwrap_or_default(),
            valid_to: a.map(|a| a.valid_to.to_string()).unwrap_or_default(),
            delegates_authority: a.is_some_and(|a| a.delegates_authority),
            covers_minors: a.is_some_and(|a| a.covers_minors),
            names_family_counselling: a.is_some_and(|a| a.names_family_counselling),
            note: String::new(),
            mistakes: Mistakes::default(),
        }
    }
}

#[derive(Deserialize)]
struct AgreementFields {
    #[serde(default)]
    id: String,
    #[serde(default)]
    members: Vec<String>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    valid_from: String,
    #[serde(default)]
    valid_to: String,
    #[serde(default)]
    delegates_authority: Option<String>,
    #[serde(default)]
    covers_minors: Option<String>,
    #[serde(default)]
    names_family_counselling: Option<String>,
    #[serde(default)]
    note: String,
}

fn date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

impl AgreementFields {
    fn again(
        &self,
        app: &AppState,
        page: &Page,
        federation: &Federation,
        id: Option<&str>,
        mistakes: Mistakes,
    ) -> AgreementForm {
        AgreementForm {
            id: id.map_or_else(|| self.id.trim().to_owned(), str::to_owned),
            members: municipality_choices(federation, &self.members),
            categories: category_choices(app, page, federation, &self.categories),
            valid_from: self.valid_from.clone(),
            valid_to: self.valid_to.clone(),
            delegates_authority: ticked(self.delegates_authority.as_deref()),
            covers_minors: ticked(self.covers_minors.as_deref()),
            names_family_counselling: ticked(self.names_family_counselling.as_deref()),
            note: self.note.clone(),
            mistakes,
        }
    }

    fn input(
        &self,
        lang: Lang,
        existing: Option<&str>,
        mistakes: &mut Mistakes,
    ) -> Option<AgreementInput> {
        let id = self.id.trim();
        if existing.is_none() && id.is_empty() {
            mistakes.say(lang, "#id", "admin_federation.agreement.id_invalid");
        }
        if self.members.len() < 2 {
            mistakes.say(
                lang,
                "#members",
                "admin_federation.agreement.members_too_few",
            );
        }
        if self.categories.is_empty() {
            mistakes.say(
                lang,
                "#categories",
                "admin_federation.agreement.categories_missing",
            );
        }
        let from = date(&self.valid_from);
        if from.is_none() {
            mistakes.say(
                lang,
                "#valid_from",
                "admin_federation.agreement.date_invalid",
            );
        }
        let to = date(&self.valid_to);
        match (from, to) {
            (_, None) => mistakes.say(lang, "#valid_to", "admin_federation.agreement.date_invalid"),
            (Some(from), Some(to)) if to < from => {
                mistakes.say(
                    lang,
                    "#valid_to",
                    "admin_federation.agreement.ends_too_early",
                );
            }
            _ => {}
        }
        let (Some(valid_from), Some(valid_to)) = (from, to) else {
            return None;
        };
        let note = self.note.trim();
        mistakes.is_empty().then(|| AgreementInput {
            id: existing.map_or_else(|| Some(id.to_owned()), |e| Some(e.to_owned())),
            members: self.members.clone(),
            categories: self.categories.clone(),
            valid_from,
            valid_to,
            delegates_authority: ticked(self.delegates_authority.as_deref()),
            covers_minors: ticked(self.covers_minors.as_deref()),
            names_family_counselling: ticked(self.names_family_counselling.as_deref()),
            note: (!note.is_empty()).then(|| note.to_owned()),
        })
    }
}

fn agreement_mistake(e: &workflow::Error) -> Option<(&'static str, &'static str)> {
    Some(match e {
        workflow::Error::InvalidField("id") => ("#id", "admin_federation.agreement.id_invalid"),
        workflow::Error::Duplicate(_) => ("#id", "admin_federation.agreement.id_taken"),
        workflow::Error::InvalidField("members")
        | workflow::Error::Unprocessable("unknown_municipality") => {
            ("#members", "admin_federation.agreement.members_too_few")
        }
        workflow::Error::InvalidField("categories")
        | workflow::Error::Unprocessable("unknown_category") => (
            "#categories",
            "admin_federation.agreement.categories_missing",
        ),
        workflow::Error::InvalidField("valid_to") => {
            ("#valid_to", "admin_federation.agreement.ends_too_early")
        }
        workflow::Error::InvalidField("note") => {
            ("#note", "admin_federation.agreement.note_too_long")
        }
        _ => return None,
    })
}

/// One version in the history.
struct VersionRow {
    version: i64,
    state: &'static str,
    state_text: &'static str,
    drafted: String,
    signed: Option<String>,
    note: Option<String>,
    changes: Vec<String>,
}

/// The draft that waits for its second pair of eyes.
struct ToSign {
    version: i64,
    drafted: String,
    /// The reader wrote it: they cannot sign it (the workflow refuses them, so the page says
    /// so instead of offering a button that can only be refused).
    by_reader: bool,
}

#[derive(Template)]
#[template(path = "admin_agreements.html")]
struct AgreementsPage {
    page: Page,
    admin: AdminFrame,
    errors: Vec<ErrorLink>,
    refusal: Option<Refusal>,
    rows: Vec<AgreementRow>,
    can_change: bool,
    form: AgreementForm,
}

#[derive(Template)]
#[template(path = "admin_agreement.html")]
struct AgreementPage {
    page: Page,
    admin: AdminFrame,
    errors: Vec<ErrorLink>,
    refusal: Option<Refusal>,
    id: String,
    standing: &'static str,
    standing_text: &'static str,
    terms: Option<Terms>,
    versions: Vec<VersionRow>,
    to_sign: Option<ToSign>,
    can_change: bool,
    can_end: bool,
    form: AgreementForm,
}

/// Who wrote or signed a version, as people read it.
fn person(page: &Page, name: Option<&String>, actor: &str) -> String {
    match name.filter(|n| !n.is_empty()) {
        Some(name) => name.clone(),
        None if actor.starts_with("system:") => page
            .t("admin_federation.agreement.federation_file")
            .to_owned(),
        None => actor.strip_prefix("admin:").unwrap_or(actor).to_owned(),
    }
}

/// Who did it, and when.
fn by_when(page: &Page, who: String, at: &chrono::DateTime<chrono::Utc>) -> String {
    page.fill(
        "admin_federation.agreement.by_when",
        &[("who", &who), ("when", &page.when(at))],
    )
}

/// What a version changed from the one before it, one sentence a change.
fn changes(
    app: &AppState,
    page: &Page,
    before: Option<&Agreement>,
    after: &Agreement,
) -> Vec<String> {
    let Some(before) = before else {
        return vec![page.t("admin_federation.change.first").to_owned()];
    };
    let mut out = Vec::new();
    let mut listed = |key: &str, names: Vec<String>| {
        if !names.is_empty() {
            out.push(page.fill(key, &[("names", &joined(names))]));
        }
    };
    listed(
        "admin_federation.change.members_added",
        after
            .members
            .iter()
            .filter(|m| !before.members.contains(m))
            .map(|m| member_name(app, m.as_str()))
            .collect(),
    );
    listed(
        "admin_federation.change.members_removed",
        before
            .members
            .iter()
            .filter(|m| !after.members.contains(m))
            .map(|m| member_name(app, m.as_str()))
            .collect(),
    );
    listed(
        "admin_federation.change.categories_added",
        after
            .categories
            .iter()
            .filter(|c| !before.categories.contains(c))
            .map(|c| category_name(app, page, c.as_str()))
            .collect(),
    );
    listed(
        "admin_federation.change.categories_removed",
        before
            .categories
            .iter()
            .filter(|c| !after.categories.contains(c))
            .map(|c| category_name(app, page, c.as_str()))
            .collect(),
    );
    let dates = [
        (
            "admin_federation.change.valid_from",
            before.valid_from,
            after.valid_from,
        ),
        (
            "admin_federation.change.valid_to",
            before.valid_to,
            after.valid_to,
        ),
    ];
    for (key, was, is) in dates {
        if was != is {
            out.push(page.fill(key, &[("was", &was.to_string()), ("is", &is.to_string())]));
        }
    }
    let flags = [
        (
            "admin_federation.change.delegates_authority",
            before.delegates_authority,
            after.delegates_authority,
        ),
        (
            "admin_federation.change.covers_minors",
            before.covers_minors,
            after.covers_minors,
        ),
        (
            "admin_federation.change.names_family_counselling",
            before.names_family_counselling,
            after.names_family_counselling,
        ),
    ];
    for (key, was, is) in flags {
        if was != is {
            out.push(page.fill(key, &[("is", yes_no(page, is))]));
        }
    }
    if out.is_empty() {
        out.push(page.t("admin_federation.change.none").to_owned());
    }
    out
}

/// A version's note as the reader reads it. The versions Brygga writes itself (the federation
/// file's, an ending: signed by their own author) carry notes in the workflow's words, said
/// here in the page's language; the federation file's says no more than its author's name.
fn note_in_words(page: &Page, v: &AgreementVersion, note: &str) -> Option<String> {
    if v.signed_by.as_deref() != Some(v.author.as_str()) {
        return Some(note.to_owned());
    }
    if v.author.starts_with("system:") {
        return None;
    }
    if note == "ended before it started" {
        return Some(
            page.t("admin_federation.agreement.note_ended_unstarted")
                .to_owned(),
        );
    }
    match note.strip_prefix("ended: last day ") {
        Some(day) => Some(page.fill("admin_federation.agreement.note_ended", &[("day", day)])),
        None => Some(note.to_owned()),
    }
}

fn version_rows(app: &AppState, page: &Page, record: &AgreementRecord) -> Vec<VersionRow> {
    let mut versions: Vec<&AgreementVersion> = record.versions.iter().collect();
    versions.sort_by_key(|v| v.version);
    let mut rows: Vec<VersionRow> = versions
        .iter()
        .enumerate()
        .map(|(k, v)| {
            let before = k.checked_sub(1).map(|p| &versions[p].agreement);
            VersionRow {
                version: v.version,
                state: v.state.as_str(),
                state_text: page.t(&format!(
                    "admin_federation.version_state.{}",
                    v.state.as_str()
                )),
                drafted: by_when(
                    page,
                    person(page, v.author_name.as_ref(), &v.author),
                    &v.created_at,
                ),
                signed: match (&v.signed_by, &v.signed_at) {
                    (Some(by), Some(at)) => Some(by_when(
                        page,
                        person(page, v.signed_by_name.as_ref(), by),
                        at,
                    )),
                    _ => None,
                },
                note: v.note.as_deref().and_then(|n| note_in_words(page, v, n)),
                changes: changes(app, page, before, &v.agreement),
            }
        })
        .collect();
    // The newest first: what an administrator comes to see.
    rows.reverse();
    rows
}

async fn agreements_page(
    app: &AppState,
    frame: &Frame,
    admin: &Administrator,
    shown: Shown<AgreementFields>,
) -> Result<Response, PageError> {
    let records = app.ctx.agreements(admin).await?;
    let federation = app.ctx.federation();
    let today = app.ctx.clock.today();
    let (mut page, frame_) = admin_page(
        frame,
        app,
        admin,
        Section::Agreements,
        "admin_federation.agreements.title",
    );
    let Shown {
        entered,
        mistakes,
        failed,
        done,
    } = shown;
    let told = told(app, &mut page, admin, failed, Some(&mistakes))?;
    let rows = records
        .iter()
        .filter_map(|r| {
            let terms = current_terms(r)?;
            let standing = Standing::of(r, today);
            Some(AgreementRow {
                id: r.id.clone(),
                standing: standing.key(),
                standing_text: page.t(&format!("admin_federation.standing.{}", standing.key())),
                pending: standing != Standing::Draft && waiting_draft(r).is_some(),
                terms: Terms::of(app, &page, terms),
            })
        })
        .collect();
    let form = match entered {
        Some(fields) => fields.again(app, &page, &federation, None, mistakes),
        None => AgreementForm::of(app, &page, &federation, None),
    };
    let html = render(&AgreementsPage {
        admin: frame_.confirm(&page, done.as_deref()),
        errors: told.errors,
        refusal: told.refusal,
        rows,
        can_change: admin.is_federation(),
        form,
        page,
    })?;
    Ok(with_status(html, told.status))
}

async fn agreement_page(
    app: &AppState,
    frame: &Frame,
    admin: &Administrator,
    id: &str,
    shown: Shown<AgreementFields>,
) -> Result<Response, PageError> {
    let record = app.ctx.agreement(admin, id).await?;
    let federation = app.ctx.federation();
    let today = app.ctx.clock.today();
    let (mut page, frame_) = admin_page(
        frame,
        app,
        admin,
        Section::Agreements,
        "admin_federation.agreement.title",
    );
    page.title = format!("{} {}", page.title, record.id);
    let Shown {
        entered,
        mistakes,
        failed,
        done,
    } = shown;
    let told = told(app, &mut page, admin, failed, Some(&mistakes))?;
    let standing = Standing::of(&record, today);
    let reader = admin.actor().to_string();
    let to_sign = waiting_draft(&record).map(|v| ToSign {
        version: v.version,
        drafted: by_when(
            &page,
            person(&page, v.author_name.as_ref(), &v.author),
            &v.created_at,
        ),
        by_reader: v.author == reader,
    });
    let form = match entered {
        Some(fields) => fields.again(app, &page, &federation, Some(id), mistakes),
        None => AgreementForm::of(app, &page, &federation, current_terms(&record)),
    };
    let html = render(&AgreementPage {
        admin: frame_.confirm(&page, done.as_deref()),
        errors: told.errors,
        refusal: told.refusal,
        id: record.id.clone(),
        standing: standing.key(),
        standing_text: page.t(&format!("admin_federation.standing.{}", standing.key())),
        terms: current_terms(&record).map(|a| Terms::of(app, &page, a)),
        versions: version_rows(app, &page, &record),
        to_sign,
        can_change: admin.is_federation(),
        can_end: admin.is_federation()
            && record
                .in_force
                .as_ref()
                .is_some_and(|a| a.valid_to >= today),
        form,
        page,
    })?;
    Ok(with_status(html, told.status))
}

async fn agreements(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    agreements_page(&app, &frame, &admin, Shown::plain(done.done)).await
}

async fn draft_agreement(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    PageForm(fields): PageForm<AgreementFields>,
) -> Result<Response, PageError> {
    let lang = frame.lang;
    let mut mistakes = Mistakes::default();
    let mut failed = None;
    if let Some(input) = fields.input(lang, None, &mut mistakes) {
        match app.ctx.draft_agreement(&admin, input, None).await {
            Ok(draft) => {
                return Ok(see(&format!(
                    "/admin/agreements/{}?done=agreement_drafted",
                    draft.agreement_id
                )));
            }
            Err(e) => match agreement_mistake(&e) {
                Some((href, key)) => mistakes.say(lang, href, key),
                None => failed = Some(e),
            },
        }
    }
    agreements_page(&app, &frame, &admin, Shown::again(fields, mistakes, failed)).await
}

async fn agreement(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    agreement_page(&app, &frame, &admin, &id, Shown::plain(done.done)).await
}

async fn redraft_agreement(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Path(id): Path<String>,
    PageForm(fields): PageForm<AgreementFields>,
) -> Result<Response, PageError> {
    let lang = frame.lang;
    let mut mistakes = Mistakes::default();
    let mut failed = None;
    if let Some(input) = fields.input(lang, Some(&id), &mut mistakes) {
        match app.ctx.draft_agreement(&admin, input, Some(&id)).await {
            Ok(_) => {
                return Ok(see(&format!(
                    "/admin/agreements/{id}?done=agreement_drafted"
                )));
            }
            Err(e) => match agreement_mistake(&e) {
                Some((href, key)) => mistakes.say(lang, href, key),
                None => failed = Some(e),
            },
        }
    }
    let shown = Shown::again(fields, mistakes, failed);
    agreement_page(&app, &frame, &admin, &id, shown).await
}

async fn sign_agreement(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Path((id, version)): Path<(String, String)>,
    PageForm(Confirmed {}): PageForm<Confirmed>,
) -> Result<Response, PageError> {
    let version: i64 = version.parse().map_err(|_| PageError::NotFound)?;
    match app.ctx.sign_agreement(&admin, &id, version).await {
        Ok(_) => Ok(see(&format!(
            "/admin/agreements/{id}?done=agreement_signed"
        ))),
        Err(e) => agreement_page(&app, &frame, &admin, &id, Shown::refused(e)).await,
    }
}

async fn end_agreement(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Path(id): Path<String>,
    PageForm(Confirmed {}): PageForm<Confirmed>,
) -> Result<Response, PageError> {
    match app.ctx.end_agreement(&admin, &id).await {
        Ok(_) => Ok(see(&format!("/admin/agreements/{id}?done=agreement_ended"))),
        Err(e) => agreement_page(&app, &frame, &admin, &id, Shown::refused(e)).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_keeps_its_first_mistake_and_links_to_itself() {
        let mut m = Mistakes::default();
        m.add("#capacity", "first".into());
        m.add("#capacity", "second".into());
        m.add("#name", "name".into());
        assert_eq!(m.of("capacity"), Some("first"));
        assert!(m.has("name"));
        assert!(!m.has("skills"));
        let links = m.links();
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].href, "#capacity");
    }

    #[test]
    fn only_a_ticked_box_counts() {
        assert!(ticked(Some("true")));
        assert!(!ticked(Some("")));
        assert!(!ticked(Some("false")));
        assert!(!ticked(None));
    }

    /// Every text these pages ask for, in the templates and by a computed key, exists.
    #[test]
    fn every_text_the_pages_ask_for_exists() {
        let templates = [
            include_str!("../../../../templates/admin_caseworkers.html"),
            include_str!("../../../../templates/admin_caseworkers_one.html"),
            include_str!("../../../../templates/admin_caseworkers_name.html"),
            include_str!("../../../../templates/admin_caseworkers_fields.html"),
            include_str!("../../../../templates/admin_municipalities.html"),
            include_str!("../../../../templates/admin_municipality.html"),
            include_str!("../../../../templates/admin_municipality_fields.html"),
            include_str!("../../../../templates/admin_categories.html"),
            include_str!("../../../../templates/admin_category.html"),
            include_str!("../../../../templates/admin_category_fields.html"),
            include_str!("../../../../templates/admin_agreements.html"),
            include_str!("../../../../templates/admin_agreement.html"),
            include_str!("../../../../templates/admin_agreement_fields.html"),
        ];
        let asked = templates.iter().flat_map(|text| {
            text.split("page.t(\"")
                .skip(1)
                .filter_map(|rest| rest.split('"').next())
                .map(str::to_owned)
        });
        let computed = ["service", "authority", "volunteer"]
            .iter()
            .map(|k| format!("admin_federation.kind.{k}"))
            .chain(
                ["draft", "signed", "in_force", "ended"]
                    .iter()
                    .map(|s| format!("admin_federation.standing.{s}")),
            )
            .chain(
                ["draft", "signed", "superseded", "discarded"]
                    .iter()
                    .map(|s| format!("admin_federation.version_state.{s}")),
            )
            .chain(
                ["available", "away", "deactivated"]
                    .iter()
                    .map(|s| format!("admin_federation.caseworkers.state_{s}")),
            )
            .chain(
                [
                    "caseworker_added",
                    "caseworker_changed",
                    "caseworker_deactivated",
                    "caseworker_reactivated",
                    "municipality_added",
                    "municipality_changed",
                    "municipality_removed",
                    "category_added",
                    "category_changed",
                    "category_removed",
                    "agreement_drafted",
                    "agreement_signed",
                    "agreement_ended",
                ]
                .iter()
                .map(|d| format!("admin.done.{d}")),
            );
        let keys: Vec<String> = asked.chain(computed).collect();
        assert!(keys.len() > 100, "the templates were read");
        for lang in Lang::offered() {
            for key in &keys {
                assert!(!i18n::text(lang, key).is_empty(), "{}: {key}", lang.code());
            }
        }
    }

    #[test]
    fn dates_are_read_as_written_in_forms() {
        assert_eq!(date(" 2026-01-31 "), NaiveDate::from_ymd_opt(2026, 1, 31));
        assert_eq!(date("31/1/2026"), None);
    }
}
