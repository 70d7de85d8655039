//! The administrators' pages for caseworkers (issue 22 point 4): `/admin/caseworkers`, the
//! staff an administrator manages with a form to add one, and `/admin/caseworkers/{id}`, one
//! caseworker's settings with the forms to change them and to close (or reopen) their account,
//! over the workflows of `/api/v1/admin/caseworkers`.
//!
//! A municipality's administrator manages their own staff, the federation's everyone's; the
//! workflows decide, and what they refuse (another municipality's caseworker) is said on the
//! page with the municipality's name.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::super::work::{Choice, ErrorLink, Refusal, language_name, see, with_status};
use super::super::{Frame, Page, PageError, PageForm, Who, render};
use super::federation::{
    Confirmed, Mistakes, Shown, category_choices, municipality_choices, ticked, told,
};
use super::{Admin, AdminFrame, Section, admin_page, category_name, municipality_name};
use crate::domain::Administrator;
use crate::domain::federation::Federation;
use crate::domain::people::{Availability, StaffMember};
use crate::http::AppState;
use crate::i18n::Lang;
use crate::workflow::{self, CaseworkerChange, MAX_CAPACITY, NewCaseworker};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/caseworkers", get(list).post(add))
        .route("/admin/caseworkers/{id}", get(one).post(change))
        .route("/admin/caseworkers/{id}/deactivate", post(deactivate))
        .route("/admin/caseworkers/{id}/reactivate", post(reactivate))
}

// ---------------------------------------------------------------------------------------------
// What both pages show
// ---------------------------------------------------------------------------------------------

/// A caseworker as the list and the facts of their page say it.
struct StaffRow {
    id: String,
    name: String,
    municipality: String,
    skills: String,
    languages: String,
    capacity: String,
    clearance: bool,
    supervisor: bool,
    /// `available`, `away` or `deactivated`.
    state: &'static str,
    state_text: &'static str,
    last_assigned: Option<String>,
}

fn row(app: &AppState, page: &Page, member: &StaffMember) -> StaffRow {
    let c = &member.caseworker;
    let state = match (member.active, c.status) {
        (false, _) => "deactivated",
        (true, Availability::Available) => "available",
        (true, Availability::Away) => "away",
    };
    // The maximum is the administrator's; the caseworker may work with fewer for a while.
    let capacity = if c.capacity == c.max_capacity {
        c.max_capacity.to_string()
    } else {
        page.fill(
            "admin_federation.caseworkers.capacity_lowered",
            &[
                ("max", &c.max_capacity.to_string()),
                ("capacity", &c.capacity.to_string()),
            ],
        )
    };
    StaffRow {
        id: c.id.as_str().to_owned(),
        name: c.name.clone(),
        municipality: municipality_name(app, c.municipality.as_str()),
        skills: c
            .skills
            .iter()
            .map(|s| category_name(app, page, s.as_str()))
            .collect::<Vec<_>>()
            .join(", "),
        languages: c
            .languages
            .iter()
            .map(|l| language_name(page, l.as_str()))
            .collect::<Vec<_>>()
            .join(", "),
        capacity,
        clearance: c.protected_identity_clearance,
        supervisor: c.supervisor,
        state,
        state_text: page.t(&format!("admin_federation.caseworkers.state_{state}")),
        last_assigned: c.last_assigned_at.as_ref().map(|at| page.when(at)),
    }
}

/// The caseworker form as shown: what was entered (or stands) and what was wrong.
struct StaffForm {
    name: String,
    municipalities: Vec<Choice>,
    skills: Vec<Choice>,
    languages: Vec<Choice>,
    capacity: String,
    capacity_hint: String,
    clearance: bool,
    supervisor: bool,
    mistakes: Mistakes,
}

fn capacity_hint(page: &Page) -> String {
    page.fill(
        "admin_federation.caseworker.capacity_hint",
        &[("max", &MAX_CAPACITY.to_string())],
    )
}

fn language_choices(page: &Page, federation: &Federation, selected: &[String]) -> Vec<Choice> {
    federation
        .languages
        .iter()
        .map(|l| Choice {
            value: l.as_str().to_owned(),
            text: language_name(page, l.as_str()),
            selected: selected.iter().any(|s| s == l.as_str()),
        })
        .collect()
}

impl StaffForm {
    /// A new caseworker's form: Swedish ticked (everyone speaks it, API.md), the usual
    /// capacity, and the administrator's own municipality where they have one.
    fn empty(app: &AppState, page: &Page, federation: &Federation, admin: &Administrator) -> Self {
        let own: Vec<String> = admin
            .municipality
            .iter()
            .map(|m| m.as_str().to_owned())
            .collect();
        StaffForm {
            name: String::new(),
            municipalities: municipality_choices(federation, &own),
            skills: category_choices(app, page, federation, &[]),
            languages: language_choices(page, federation, &["sv".to_owned()]),
            capacity: String::new(),
            capacity_hint: capacity_hint(page),
            clearance: false,
            supervisor: false,
            mistakes: Mistakes::default(),
        }
    }

    fn of(app: &AppState, page: &Page, federation: &Federation, member: &StaffMember) -> Self {
        let c = &member.caseworker;
        let skills: Vec<String> = c.skills.iter().map(|s| s.as_str().to_owned()).collect();
        let languages: Vec<String> = c.languages.iter().map(|l| l.as_str().to_owned()).collect();
        StaffForm {
            name: c.name.clone(),
            municipalities: municipality_choices(federation, &[c.municipality.as_str().to_owned()]),
            skills: category_choices(app, page, federation, &skills),
            languages: language_choices(page, federation, &languages),
            capacity: c.max_capacity.to_string(),
            capacity_hint: capacity_hint(page),
            clearance: c.protected_identity_clearance,
            supervisor: c.supervisor,
            mistakes: Mistakes::default(),
        }
    }
}

/// The form as sent (the edit form has no municipality: a caseworker does not move).
#[derive(Deserialize)]
struct StaffFields {
    #[serde(default)]
    name: String,
    #[serde(default)]
    municipality: String,
    #[serde(default)]
    skills: Vec<String>,
    #[serde(default)]
    languages: Vec<String>,
    #[serde(default)]
    capacity: String,
    #[serde(default)]
    protected_identity_clearance: Option<String>,
    #[serde(default)]
    supervisor: Option<String>,
}

/// What the handler checked before asking the workflow.
struct Checked {
    name: String,
    capacity: u32,
}

impl StaffFields {
    fn again(
        &self,
        app: &AppState,
        page: &Page,
        federation: &Federation,
        mistakes: Mistakes,
    ) -> StaffForm {
        StaffForm {
            name: self.name.clone(),
            municipalities: municipality_choices(
                federation,
                std::slice::from_ref(&self.municipality),
            ),
            skills: category_choices(app, page, federation, &self.skills),
            languages: language_choices(page, federation, &self.languages),
            capacity: self.capacity.clone(),
            capacity_hint: capacity_hint(page),
            clearance: ticked(self.protected_identity_clearance.as_deref()),
            supervisor: ticked(self.supervisor.as_deref()),
            mistakes,
        }
    }

    /// The name and the capacity, or what is wrong with them (in the form's order).
    fn check(&self, lang: Lang, new: bool, mistakes: &mut Mistakes) -> Option<Checked> {
        let name = self.name.trim();
        if name.is_empty() {
            mistakes.say(lang, "#name", "admin_federation.caseworker.name_missing");
        }
        if new && self.municipality.trim().is_empty() {
            mistakes.say(
                lang,
                "#municipality",
                "admin_federation.caseworker.municipality_missing",
            );
        }
        let capacity = self
            .capacity
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|c| (1..=MAX_CAPACITY).contains(c));
        if capacity.is_none() {
            mistakes.say(
                lang,
                "#capacity",
                "admin_federation.caseworker.capacity_invalid",
            );
        }
        Some(Checked {
            name: name.to_owned(),
            capacity: capacity?,
        })
        .filter(|_| mistakes.is_empty())
    }
}

/// The field a caseworker's refused input points at.
fn staff_mistake(e: &workflow::Error) -> Option<(&'static str, &'static str)> {
    Some(match e {
        workflow::Error::InvalidField("name") => {
            ("#name", "admin_federation.caseworker.name_invalid")
        }
        workflow::Error::InvalidField("capacity") => {
            ("#capacity", "admin_federation.caseworker.capacity_invalid")
        }
        workflow::Error::Unprocessable("unknown_category") => {
            ("#skills", "admin_federation.caseworker.skills_unknown")
        }
        workflow::Error::Unprocessable("unknown_language") => (
            "#languages",
            "admin_federation.caseworker.languages_unknown",
        ),
        workflow::Error::Unprocessable("unknown_municipality") => (
            "#municipality",
            "admin_federation.caseworker.municipality_missing",
        ),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// GET/POST /admin/caseworkers
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin_caseworkers.html")]
struct ListPage {
    page: Page,
    admin: AdminFrame,
    errors: Vec<ErrorLink>,
    refusal: Option<Refusal>,
    rows: Vec<StaffRow>,
    /// The federation's administrators choose whose staff to list, and where to add.
    federation: bool,
    filter: Vec<Choice>,
    filtered: bool,
    /// A municipality administrator's municipality, where the new caseworker will work.
    own: Option<Choice>,
    form: StaffForm,
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    municipality: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// The list, with a refusal or the add form's mistakes when a form (or an address) was
/// refused. A list the workflow refuses (another municipality's staff) is shown empty, with
/// the refusal saying why.
async fn list_page(
    app: &AppState,
    frame: &Frame,
    admin: &Administrator,
    filter: Option<&str>,
    shown: Shown<StaffFields>,
) -> Result<Response, PageError> {
    let Shown {
        entered,
        mistakes,
        failed,
        done,
    } = shown;
    let federation = app.ctx.federation_config(admin).await?;
    let (staff, failed) = match (failed, app.ctx.staff_list(admin, filter).await) {
        (failed, Ok(staff)) => (staff, failed),
        (None, Err(e)) => (Vec::new(), Some(e)),
        (Some(first), Err(_)) => (Vec::new(), Some(first)),
    };
    let (mut page, frame_) = admin_page(
        frame,
        app,
        admin,
        Section::Caseworkers,
        "admin_federation.caseworkers.title",
    );
    let told = told(app, &mut page, admin, failed, Some(&mistakes))?;
    let rows = staff.iter().map(|m| row(app, &page, m)).collect();
    let form = match entered {
        Some(fields) => fields.again(app, &page, &federation, mistakes),
        None => StaffForm::empty(app, &page, &federation, admin),
    };
    let filter = municipality_choices(
        &federation,
        &filter.map(str::to_owned).into_iter().collect::<Vec<_>>(),
    );
    let html = render(&ListPage {
        admin: frame_.confirm(&page, done.as_deref()),
        errors: told.errors,
        refusal: told.refusal,
        rows,
        federation: admin.is_federation(),
        filtered: filter.iter().any(|c| c.selected),
        filter,
        own: admin.municipality.as_ref().map(|m| Choice {
            value: m.as_str().to_owned(),
            text: municipality_name(app, m.as_str()),
            selected: true,
        }),
        form,
        page,
    })?;
    Ok(with_status(html, told.status))
}

async fn list(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    // "All" in the filter form sends an empty value.
    let filter = query.municipality.as_deref().filter(|m| !m.is_empty());
    list_page(&app, &frame, &admin, filter, Shown::plain(query.done)).await
}

async fn add(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    PageForm(fields): PageForm<StaffFields>,
) -> Result<Response, PageError> {
    let lang = frame.lang;
    let mut mistakes = Mistakes::default();
    let mut failed = None;
    if let Some(checked) = fields.check(lang, true, &mut mistakes) {
        let input = NewCaseworker {
            name: checked.name,
            municipality: fields.municipality.trim().to_owned(),
            skills: fields.skills.clone(),
            languages: fields.languages.clone(),
            capacity: checked.capacity,
            protected_identity_clearance: ticked(fields.protected_identity_clearance.as_deref()),
            supervisor: ticked(fields.supervisor.as_deref()),
            // The admin API always creates active caseworkers, numbered by the workflow.
            active: true,
            ..NewCaseworker::default()
        };
        match app.ctx.create_caseworker(&admin, input).await {
            Ok(added) => {
                return Ok(see(&format!(
                    "/admin/caseworkers/{}?done=caseworker_added",
                    added.caseworker.id
                )));
            }
            Err(e) => match staff_mistake(&e) {
                Some((href, key)) => mistakes.say(lang, href, key),
                None => failed = Some(e),
            },
        }
    }
    let shown = Shown::again(fields, mistakes, failed);
    list_page(&app, &frame, &admin, None, shown).await
}

// ---------------------------------------------------------------------------------------------
// GET/POST /admin/caseworkers/{id} and its forms
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin_caseworkers_one.html")]
struct OnePage {
    page: Page,
    admin: AdminFrame,
    errors: Vec<ErrorLink>,
    refusal: Option<Refusal>,
    member: StaffRow,
    active: bool,
    subject: Option<String>,
    deactivate_text: String,
    form: StaffForm,
}

/// One caseworker's page. One the workflow will not show this administrator (another
/// municipality's) answers the list of their own staff with the refusal in words.
async fn one_page(
    app: &AppState,
    frame: &Frame,
    admin: &Administrator,
    id: &str,
    shown: Shown<StaffFields>,
) -> Result<Response, PageError> {
    let Shown {
        entered,
        mistakes,
        failed,
        done,
    } = shown;
    let member = match app.ctx.staff_member(admin, id).await {
        Ok(member) => member,
        Err(workflow::Error::NotFound) => return Err(PageError::NotFound),
        Err(e) => {
            let shown = Shown::refused(failed.unwrap_or(e));
            return list_page(app, frame, admin, None, shown).await;
        }
    };
    let federation = app.ctx.federation_config(admin).await?;
    let (mut page, frame_) = admin_page(
        frame,
        app,
        admin,
        Section::Caseworkers,
        "admin_federation.caseworker.title",
    );
    page.title = format!("{}: {}", page.title, member.caseworker.name);
    let told = told(app, &mut page, admin, failed, Some(&mistakes))?;
    let form = match entered {
        Some(fields) => fields.again(app, &page, &federation, mistakes),
        None => StaffForm::of(app, &page, &federation, &member),
    };
    let html = render(&OnePage {
        admin: frame_.confirm(&page, done.as_deref()),
        errors: told.errors,
        refusal: told.refusal,
        active: member.active,
        subject: member.subject.clone(),
        deactivate_text: page.fill(
            "admin_federation.caseworker.deactivate_text",
            &[("name", &member.caseworker.name)],
        ),
        member: row(app, &page, &member),
        form,
        page,
    })?;
    Ok(with_status(html, told.status))
}

async fn one(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    one_page(&app, &frame, &admin, &id, Shown::plain(query.done)).await
}

async fn change(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Path(id): Path<String>,
    PageForm(fields): PageForm<StaffFields>,
) -> Result<Response, PageError> {
    let lang = frame.lang;
    let mut mistakes = Mistakes::default();
    let mut failed = None;
    if let Some(checked) = fields.check(lang, false, &mut mistakes) {
        // The form shows every setting, so every one is sent: unticked boxes are `false`.
        let change = CaseworkerChange {
            name: Some(checked.name),
            skills: Some(fields.skills.clone()),
            languages: Some(fields.languages.clone()),
            capacity: Some(checked.capacity),
            protected_identity_clearance: Some(ticked(
                fields.protected_identity_clearance.as_deref(),
            )),
            supervisor: Some(ticked(fields.supervisor.as_deref())),
            ..CaseworkerChange::default()
        };
        match app.ctx.change_caseworker(&admin, &id, change).await {
            Ok(_) => {
                return Ok(see(&format!(
                    "/admin/caseworkers/{id}?done=caseworker_changed"
                )));
            }
            Err(e) => match staff_mistake(&e) {
                Some((href, key)) => mistakes.say(lang, href, key),
                None => failed = Some(e),
            },
        }
    }
    let shown = Shown::again(fields, mistakes, failed);
    one_page(&app, &frame, &admin, &id, shown).await
}

async fn deactivate(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Path(id): Path<String>,
    PageForm(Confirmed {}): PageForm<Confirmed>,
) -> Result<Response, PageError> {
    match app.ctx.deactivate_caseworker(&admin, &id).await {
        Ok(_) => Ok(see(&format!(
            "/admin/caseworkers/{id}?done=caseworker_deactivated"
        ))),
        Err(e) => one_page(&app, &frame, &admin, &id, Shown::refused(e)).await,
    }
}

async fn reactivate(
    State(app): State<AppState>,
    frame: Frame,
    Admin(admin): Admin,
    Path(id): Path<String>,
    PageForm(Confirmed {}): PageForm<Confirmed>,
) -> Result<Response, PageError> {
    let change = CaseworkerChange {
        active: Some(true),
        ..CaseworkerChange::default()
    };
    match app.ctx.change_caseworker(&admin, &id, change).await {
        Ok(_) => Ok(see(&format!(
            "/admin/caseworkers/{id}?done=caseworker_reactivated"
        ))),
        Err(e) => one_page(&app, &frame, &admin, &id, Shown::refused(e)).await,
    }
}
