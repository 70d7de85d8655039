//! `/admin/policies`: the rules that decide who may see and do what (issue 22, point 6) — the
//! active version and its policy ids, every stored version, an editor that stores a new one
//! after the server validated it and ran its tests (with each error at its line), the impact
//! report of a version before it is activated, activation by a second administrator, and a
//! simulation form (a request and who asks → the decision, the deciding rules, the ring plan).
//!
//! The handlers call the workflows the policy API calls (`policy_versions`,
//! `create_policy_version`, `policy_impact`, `activate_policy_version`, `simulate_policies`),
//! which decide who may: federation administrators store, replay and activate, and never
//! their own version; every administrator reads and simulates.
//!
//! The impact report is asked for with a POST form, not a link: the workflow records the
//! replay on the audit trail (as the API's `POST …/impact` does), and a GET must not leave
//! traces when a browser prefetches it or someone reloads. `GET /admin/policies/{v}/impact`
//! says what the report is and carries the form.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::super::work::{
    Choice, Refusal, RuleLink, language_name, refusal, rule_links, see, with_status,
};
use super::{
    Admin, AdminFrame, Done, Section, admin_page, category_name, error_title, municipality_name,
};
use crate::domain::Administrator;
use crate::domain::governance::PolicyVersion;
use crate::domain::people::{Loa, Protection};
use crate::http::AppState;
use crate::http::pages::{Frame, Page, PageError, PageForm, Who, render};
use crate::policy::Action;
use crate::policy::engine::{PolicyProblem, ProblemText};
use crate::workflow::{
    self, ImpactDecision, ImpactKind, ImpactReport, PolicyListing, SimulatedConsent,
    SimulatedPrincipal, SimulatedRequest, SimulationInput, SimulationResult,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/policies", get(overview).post(create))
        .route("/admin/policies/new", get(editor))
        .route(
            "/admin/policies/simulate",
            get(simulate_form).post(simulate),
        )
        .route(
            "/admin/policies/{version}/impact",
            get(impact_intro).post(impact),
        )
        .route("/admin/policies/{version}/activate", post(activate))
}

// ---------------------------------------------------------------------------------------------
// What the pages share
// ---------------------------------------------------------------------------------------------

/// An error summary line whose target is built at run time (`#line-12`).
struct FieldLink {
    href: String,
    text: String,
}

/// A form that carries nothing but its CSRF token.
#[derive(Deserialize)]
struct Confirmed {}

fn answer<T: Template>(page: &T, status: StatusCode) -> Result<Response, PageError> {
    Ok(with_status(render(page)?, status))
}

/// `None` for a path that is not a version number: there is no such page (404).
fn version_number(text: &str) -> Result<i64, PageError> {
    text.parse().map_err(|_| PageError::NotFound)
}

/// Who wrote a version, as the page says it: the release, the reader themselves, or the
/// administrator's id.
fn author_text(page: &Page, me: &Administrator, author: &str) -> String {
    if author == workflow::SHIPPED_BY {
        page.t("admin_policies.shipped").to_owned()
    } else if author == me.actor().to_string() {
        page.fill("admin_policies.author_you", &[("name", &me.name)])
    } else {
        author.strip_prefix("admin:").unwrap_or(author).to_owned()
    }
}

/// The workflows' refusals in words, four eyes included: "a second administrator must
/// activate it" is not an error page but something to tell the author.
fn refused(page: &Page, e: &workflow::Error) -> Option<(Refusal, StatusCode)> {
    match e {
        workflow::Error::FourEyesRequired => Some((
            Refusal {
                message: page.t("admin_policies.four_eyes").to_owned(),
                rules: Vec::new(),
            },
            StatusCode::FORBIDDEN,
        )),
        workflow::Error::PolicyInvalid(problems) => Some((
            Refusal {
                message: problems.iter().fold(
                    page.t("admin_policies.stored_invalid").to_owned(),
                    |text, p| format!("{text} {p}"),
                ),
                rules: Vec::new(),
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
        _ => refusal(page, e),
    }
}

// ---------------------------------------------------------------------------------------------
// GET /admin/policies, POST /admin/policies/{v}/activate
// ---------------------------------------------------------------------------------------------

struct VersionRow {
    version: i64,
    author: String,
    created: String,
    created_iso: String,
    active: bool,
    /// When and by whom it was last made the active one, if ever.
    activated: Option<String>,
    /// Written by the reader: a second administrator must activate it.
    own: bool,
    activate_label: String,
    impact_label: String,
    copy_label: String,
    proofs_label: String,
}

#[derive(Template)]
#[template(path = "admin_policies.html")]
struct PoliciesPage {
    page: Page,
    admin: AdminFrame,
    refusal: Option<Refusal>,
    can_change: bool,
    active: i64,
    policies: Vec<RuleLink>,
    versions: Vec<VersionRow>,
    /// The legal invariants every version is proven against (issue 23).
    invariants: Vec<super::proofs::InvariantRow>,
}

fn version_rows(page: &Page, me: &Administrator, versions: &[PolicyVersion]) -> Vec<VersionRow> {
    let mut rows: Vec<VersionRow> = versions
        .iter()
        .map(|v| {
            let n = v.version.to_string();
            VersionRow {
                version: v.version,
                author: author_text(page, me, &v.author),
                created: page.when(&v.created_at),
                created_iso: v.created_at.to_rfc3339(),
                active: v.active,
                activated: v.activated_at.as_ref().map(|at| {
                    page.fill(
                        "admin_policies.activated_by",
                        &[
                            ("when", &page.when(at)),
                            (
                                "who",
                                &author_text(page, me, v.activated_by.as_deref().unwrap_or("")),
                            ),
                        ],
                    )
                }),
                own: v.author == me.actor().to_string(),
                activate_label: page.fill("admin_policies.activate", &[("version", &n)]),
                impact_label: page.fill("admin_policies.see_impact", &[("version", &n)]),
                copy_label: page.fill("admin_policies.copy", &[("version", &n)]),
                proofs_label: page.fill("admin_policies.proofs.link", &[("version", &n)]),
            }
        })
        .collect();
    // The newest first: the one waiting for a second administrator is at the top.
    rows.sort_by_key(|r| std::cmp::Reverse(r.version));
    rows
}

fn policies_page(
    app: &AppState,
    frame: &Frame,
    me: &Administrator,
    listing: &PolicyListing,
    refusal: Option<Refusal>,
    done: Option<&str>,
) -> PoliciesPage {
    let (page, nav) = admin_page(frame, app, me, Section::Policies, "admin_policies.title");
    let admin = nav.confirm(&page, done);
    PoliciesPage {
        refusal,
        can_change: me.is_federation(),
        active: listing.active,
        policies: rule_links(&listing.policies),
        versions: version_rows(&page, me, &listing.versions),
        invariants: super::proofs::invariant_rows(&page),
        admin,
        page,
    }
}

async fn overview(
    State(app): State<AppState>,
    frame: Frame,
    Admin(me): Admin,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let listing = app.ctx.policy_versions(&me).await?;
    render(&policies_page(
        &app,
        &frame,
        &me,
        &listing,
        None,
        done.done.as_deref(),
    ))
}

async fn activate(
    State(app): State<AppState>,
    frame: Frame,
    Admin(me): Admin,
    Path(version): Path<String>,
    PageForm(Confirmed {}): PageForm<Confirmed>,
) -> Result<Response, PageError> {
    let version = version_number(&version)?;
    let e = match app.ctx.activate_policy_version(&me, version).await {
        Ok(()) => return Ok(see("/admin/policies?done=policy_activated")),
        Err(e) => e,
    };
    let (page, _) = admin_page(&frame, &app, &me, Section::Policies, "admin_policies.title");
    let Some((words, status)) = refused(&page, &e) else {
        return Err(e.into());
    };
    let listing = app.ctx.policy_versions(&me).await?;
    answer(
        &policies_page(&app, &frame, &me, &listing, Some(words), None),
        status,
    )
}

// ---------------------------------------------------------------------------------------------
// GET /admin/policies/new, POST /admin/policies
// ---------------------------------------------------------------------------------------------

/// One line of a text shown back with its problems.
struct Line {
    number: u32,
    text: String,
    problems: Vec<String>,
}

/// A text shown as numbered lines, the lines with problems marked (`#line-12`,
/// `#tests-line-3`), so that the error summary can link to them.
struct Listing {
    id: &'static str,
    prefix: &'static str,
    heading: &'static str,
    lines: Vec<Line>,
}

#[derive(Template)]
#[template(path = "admin_policy_editor.html")]
struct EditorPage {
    page: Page,
    admin: AdminFrame,
    errors: Vec<FieldLink>,
    refusal: Option<Refusal>,
    can_change: bool,
    /// The version the text started from.
    base: i64,
    text: String,
    tests: String,
    text_error: bool,
    tests_error: bool,
    listings: Vec<Listing>,
}

/// `?from=<version>`: the version whose texts the editor starts from.
#[derive(Deserialize, Default)]
struct Start {
    #[serde(default)]
    from: Option<String>,
}

fn listing(
    page: &Page,
    which: ProblemText,
    text: &str,
    problems: &[PolicyProblem],
) -> Option<Listing> {
    let here: Vec<(u32, &PolicyProblem)> = problems
        .iter()
        .filter_map(|p| p.at.filter(|at| at.text == which).map(|at| (at.line, p)))
        .collect();
    if here.is_empty() {
        return None;
    }
    let (id, prefix, heading) = match which {
        ProblemText::Policies => ("listing", "line", page.t("admin_policies.listing_text")),
        ProblemText::Tests => (
            "tests-listing",
            "tests-line",
            page.t("admin_policies.listing_tests"),
        ),
    };
    let lines = text
        .split('\n')
        .enumerate()
        .map(|(i, line)| {
            let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
            Line {
                number,
                text: line.trim_end_matches('\r').to_owned(),
                problems: here
                    .iter()
                    .filter(|(l, _)| *l == number)
                    .map(|(_, p)| p.message.clone())
                    .collect(),
            }
        })
        .collect();
    Some(Listing {
        id,
        prefix,
        heading,
        lines,
    })
}

/// The summary's line for a problem: where it is, in words, linking to the marked line; a
/// problem of the version as a whole links to the text.
fn problem_link(page: &Page, p: &PolicyProblem) -> FieldLink {
    match p.at {
        Some(at) => {
            let (key, prefix) = match at.text {
                ProblemText::Policies => ("admin_policies.problem_at", "line"),
                ProblemText::Tests => ("admin_policies.problem_at_tests", "tests-line"),
            };
            FieldLink {
                href: format!("#{prefix}-{}", at.line),
                text: page.fill(
                    key,
                    &[
                        ("line", &at.line.to_string()),
                        ("column", &at.column.to_string()),
                        ("message", &p.message),
                    ],
                ),
            }
        }
        None => FieldLink {
            href: "#text".to_owned(),
            text: p.message.clone(),
        },
    }
}

/// What the editor shows: the texts as typed, and what the server found in them.
struct Typed {
    base: i64,
    text: String,
    tests: String,
    problems: Vec<PolicyProblem>,
    /// An empty text: nothing to check.
    empty: bool,
    refusal: Option<Refusal>,
}

fn editor_page(app: &AppState, frame: &Frame, me: &Administrator, typed: Typed) -> EditorPage {
    let (mut page, admin) = admin_page(
        frame,
        app,
        me,
        Section::Policies,
        "admin_policies.editor_title",
    );
    let mut errors: Vec<FieldLink> = typed
        .problems
        .iter()
        .map(|p| problem_link(&page, p))
        .collect();
    if typed.empty {
        errors.push(FieldLink {
            href: "#text".to_owned(),
            text: page.t("admin_policies.text_empty").to_owned(),
        });
    }
    if !errors.is_empty() {
        error_title(&mut page);
    }
    let listings = [ProblemText::Policies, ProblemText::Tests]
        .into_iter()
        .filter_map(|which| {
            let text = match which {
                ProblemText::Policies => &typed.text,
                ProblemText::Tests => &typed.tests,
            };
            listing(&page, which, text, &typed.problems)
        })
        .collect();
    let in_tests = |p: &PolicyProblem| p.at.is_some_and(|at| at.text == ProblemText::Tests);
    EditorPage {
        errors,
        refusal: typed.refusal,
        can_change: me.is_federation(),
        base: typed.base,
        text_error: typed.empty || typed.problems.iter().any(|p| !in_tests(p)),
        tests_error: typed.problems.iter().any(in_tests),
        text: typed.text,
        tests: typed.tests,
        listings,
        admin,
        page,
    }
}

/// `GET /admin/policies/new[?from=<version>]`: the editor, with the active version's texts
/// (or the named version's) to change.
async fn editor(
    State(app): State<AppState>,
    frame: Frame,
    Admin(me): Admin,
    Query(from): Query<Start>,
) -> Result<Response, PageError> {
    let listing = app.ctx.policy_versions(&me).await?;
    let wanted = match from.from.as_deref().filter(|f| !f.is_empty()) {
        Some(v) => version_number(v)?,
        None => listing.active,
    };
    let base = listing
        .versions
        .iter()
        .find(|v| v.version == wanted)
        .ok_or(PageError::NotFound)?;
    render(&editor_page(
        &app,
        &frame,
        &me,
        Typed {
            base: base.version,
            text: base.text.clone(),
            tests: base.tests.clone(),
            problems: Vec::new(),
            empty: false,
            refusal: None,
        },
    ))
}

#[derive(Deserialize)]
struct NewVersionFields {
    #[serde(default)]
    text: String,
    #[serde(default)]
    tests: String,
    #[serde(default)]
    base: String,
}

/// A textarea sends its line breaks as CR LF (HTML's form encoding); the texts are stored, and
/// their lines counted, with LF alone, as in `policies/`.
fn unix_lines(text: &str) -> String {
    text.replace("\r\n", "\n")
}

async fn create(
    State(app): State<AppState>,
    frame: Frame,
    Admin(me): Admin,
    PageForm(form): PageForm<NewVersionFields>,
) -> Result<Response, PageError> {
    let text = unix_lines(&form.text);
    let tests = unix_lines(&form.tests);
    let mut typed = Typed {
        base: form.base.trim().parse().unwrap_or_default(),
        empty: text.trim().is_empty(),
        text,
        tests,
        problems: Vec::new(),
        refusal: None,
    };
    if typed.empty {
        return answer(
            &editor_page(&app, &frame, &me, typed),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    // Empty tests: the active version's tests, as the API does without `tests`.
    let tests = Some(typed.tests.as_str()).filter(|t| !t.trim().is_empty());
    let e = match app.ctx.create_policy_version(&me, &typed.text, tests).await {
        Ok(_) => return Ok(see("/admin/policies?done=policy_stored")),
        Err(e) => e,
    };
    let status = match e {
        workflow::Error::PolicyInvalid(problems) => {
            typed.problems = problems;
            StatusCode::UNPROCESSABLE_ENTITY
        }
        other => {
            let (page, _) =
                admin_page(&frame, &app, &me, Section::Policies, "admin_policies.title");
            let Some((words, status)) = refused(&page, &other) else {
                return Err(other.into());
            };
            typed.refusal = Some(words);
            status
        }
    };
    answer(&editor_page(&app, &frame, &me, typed), status)
}

// ---------------------------------------------------------------------------------------------
// GET and POST /admin/policies/{v}/impact
// ---------------------------------------------------------------------------------------------

/// A decision as the report shows it: allowed or refused (in which ring), and by which rules.
struct DecisionView {
    text: String,
    rules: Vec<RuleLink>,
}

struct ExampleRow {
    category: String,
    home: String,
    what: String,
    before: DecisionView,
    after: DecisionView,
}

struct RuleCount {
    rule: RuleLink,
    count: u64,
}

struct ReportView {
    compared_with: i64,
    since: String,
    cases: String,
    routing: u64,
    access: u64,
    changed: u64,
    grounds: u64,
    nothing: bool,
    by_rule: Vec<RuleCount>,
    examples: Vec<ExampleRow>,
    /// From the solver: kinds of request the versions decide differently, with an example
    /// each (technical words); `None` without a solver.
    differently: Option<Vec<(String, String)>>,
}

#[derive(Template)]
#[template(path = "admin_policy_impact.html")]
struct ImpactPage {
    page: Page,
    admin: AdminFrame,
    refusal: Option<Refusal>,
    can_change: bool,
    version: i64,
    is_active: bool,
    own: bool,
    author: String,
    created: String,
    activate_label: String,
    report: Option<ReportView>,
}

fn decision_view(page: &Page, d: &ImpactDecision) -> DecisionView {
    let text = match (d.allowed, d.ring) {
        (true, Some(ring)) => page.fill(
            "admin_policies.allowed_ring",
            &[("ring", &ring.to_string())],
        ),
        (true, None) => page.t("admin_policies.allowed").to_owned(),
        (false, _) => page.t("admin_policies.denied").to_owned(),
    };
    DecisionView {
        text,
        rules: rule_links(&d.policies),
    }
}

fn report_view(app: &AppState, page: &Page, r: &ImpactReport) -> ReportView {
    let examples = r
        .examples
        .iter()
        .map(|x| {
            let municipality = x
                .municipality
                .as_deref()
                .map(|m| municipality_name(app, m))
                .unwrap_or_default();
            let what = match x.kind {
                ImpactKind::Routing => page.fill(
                    "admin_policies.example_routing",
                    &[("municipality", &municipality)],
                ),
                ImpactKind::Access => page.fill(
                    "admin_policies.example_access",
                    &[
                        (
                            "who",
                            page.t(&format!(
                                "admin_policies.whose.{}",
                                x.caseworker.unwrap_or("home_caseworker")
                            )),
                        ),
                        ("municipality", &municipality),
                        (
                            "action",
                            page.t(&format!(
                                "admin_policies.action.{}",
                                x.action.unwrap_or("view")
                            )),
                        ),
                    ],
                ),
            };
            ExampleRow {
                category: category_name(app, page, &x.case_category),
                home: municipality_name(app, &x.home),
                what,
                before: decision_view(page, &x.before),
                after: decision_view(page, &x.after),
            }
        })
        .collect();
    let c = &r.changes;
    ReportView {
        compared_with: r.compared_with,
        since: page.when(&r.since),
        cases: r.cases.to_string(),
        routing: c.routing,
        access: c.access,
        changed: c.cases,
        grounds: c.grounds,
        nothing: c.routing == 0 && c.access == 0 && c.grounds == 0,
        by_rule: r
            .by_rule
            .iter()
            .map(|(id, count)| RuleCount {
                rule: rule_links(std::slice::from_ref(id))
                    .pop()
                    .unwrap_or(RuleLink {
                        id: id.clone(),
                        href: None,
                    }),
                count: *count,
            })
            .collect(),
        examples,
        differently: r.decided_differently.as_ref().map(|ds| {
            ds.iter()
                .map(|d| (d.request_type.clone(), d.example.clone()))
                .collect()
        }),
    }
}

/// The impact page of `version`, with the report when it was run.
async fn impact_page(
    app: &AppState,
    frame: &Frame,
    me: &Administrator,
    version: i64,
    report: Option<&ImpactReport>,
    refusal: Option<Refusal>,
) -> Result<ImpactPage, PageError> {
    let listing = app.ctx.policy_versions(me).await?;
    let record = listing
        .versions
        .iter()
        .find(|v| v.version == version)
        .ok_or(PageError::NotFound)?;
    let (mut page, admin) = admin_page(
        frame,
        app,
        me,
        Section::Policies,
        "admin_policies.impact_title",
    );
    page.title = page.fill(
        "admin_policies.impact_title",
        &[("version", &version.to_string())],
    );
    Ok(ImpactPage {
        refusal,
        can_change: me.is_federation(),
        version,
        is_active: listing.active == version,
        own: record.author == me.actor().to_string(),
        author: author_text(&page, me, &record.author),
        created: page.when(&record.created_at),
        activate_label: page.fill(
            "admin_policies.activate",
            &[("version", &version.to_string())],
        ),
        report: report.map(|r| report_view(app, &page, r)),
        admin,
        page,
    })
}

async fn impact_intro(
    State(app): State<AppState>,
    frame: Frame,
    Admin(me): Admin,
    Path(version): Path<String>,
) -> Result<Response, PageError> {
    let version = version_number(&version)?;
    render(&impact_page(&app, &frame, &me, version, None, None).await?)
}

async fn impact(
    State(app): State<AppState>,
    frame: Frame,
    Admin(me): Admin,
    Path(version): Path<String>,
    PageForm(Confirmed {}): PageForm<Confirmed>,
) -> Result<Response, PageError> {
    let version = version_number(&version)?;
    match app.ctx.policy_impact(&me, version).await {
        Ok(report) => render(&impact_page(&app, &frame, &me, version, Some(&report), None).await?),
        Err(e) => {
            let (page, _) =
                admin_page(&frame, &app, &me, Section::Policies, "admin_policies.title");
            let Some((words, status)) = refused(&page, &e) else {
                return Err(e.into());
            };
            let shown = impact_page(&app, &frame, &me, version, None, Some(words)).await?;
            answer(&shown, status)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GET and POST /admin/policies/simulate
// ---------------------------------------------------------------------------------------------

/// The simulation form as filled in (the API's field names, flattened), and what is wrong.
#[derive(Deserialize)]
struct SimulateFields {
    #[serde(default)]
    category: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    home: String,
    #[serde(default)]
    cross_municipality: Option<String>,
    #[serde(default)]
    protection: String,
    #[serde(default)]
    loa: String,
    #[serde(default)]
    age: String,
    #[serde(default)]
    anonymous: Option<String>,
    #[serde(default)]
    role: String,
    #[serde(default)]
    municipality: String,
    #[serde(default)]
    protected_identity_clearance: Option<String>,
    #[serde(default)]
    supervisor: Option<String>,
    #[serde(default)]
    action: String,
    #[serde(default)]
    version: String,
}

/// What the form shows, and the error of each field (by its id).
struct Simulation {
    f: SimulateFields,
    errors: Vec<(&'static str, String)>,
}

impl Simulation {
    fn error(&self, field: &str) -> Option<String> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, text)| text.clone())
    }
}

struct RingRow {
    ring: i64,
    name: String,
    rules: Vec<RuleLink>,
}

struct RefusedRow {
    name: String,
    rules: Vec<RuleLink>,
}

struct SimulationView {
    version: i64,
    allowed: bool,
    decision: String,
    rules: Vec<RuleLink>,
    rings: Vec<RingRow>,
    refused: Vec<RefusedRow>,
}

/// A select of the form, with its field's error.
struct Select {
    id: &'static str,
    label: &'static str,
    hint: Option<&'static str>,
    choices: Vec<Choice>,
    error: Option<String>,
}

struct Check {
    id: &'static str,
    label: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "admin_policy_simulate.html")]
struct SimulatePage {
    page: Page,
    admin: AdminFrame,
    errors: Vec<FieldLink>,
    refusal: Option<Refusal>,
    request: Vec<Select>,
    request_checks: Vec<Check>,
    age: String,
    age_error: Option<String>,
    principal: Vec<Select>,
    principal_checks: Vec<Check>,
    asked: Vec<Select>,
    result: Option<SimulationView>,
}

fn choices(options: impl IntoIterator<Item = (String, String)>, selected: &str) -> Vec<Choice> {
    options
        .into_iter()
        .map(|(value, text)| Choice {
            selected: value == selected,
            value,
            text,
        })
        .collect()
}

/// The form's defaults: what a caseworker of the administrator's municipality (or the first
/// member) may do with an ordinary request from there.
fn defaults(app: &AppState, me: &Administrator) -> SimulateFields {
    let federation = app.ctx.federation();
    let home = me
        .municipality
        .as_ref()
        .map(|m| m.as_str().to_owned())
        .or_else(|| {
            federation
                .municipalities
                .first()
                .map(|m| m.code.as_str().to_owned())
        })
        .unwrap_or_default();
    SimulateFields {
        category: federation
            .categories
            .first()
            .map(|c| c.id.as_str().to_owned())
            .unwrap_or_default(),
        language: "sv".to_owned(),
        municipality: home.clone(),
        home,
        cross_municipality: None,
        protection: Protection::None.as_str().to_owned(),
        loa: Loa::Loa3.as_str().to_owned(),
        age: String::new(),
        anonymous: None,
        role: "caseworker".to_owned(),
        protected_identity_clearance: None,
        supervisor: None,
        action: Action::View.as_str().to_owned(),
        version: String::new(),
    }
}

fn simulate_page(
    app: &AppState,
    frame: &Frame,
    me: &Administrator,
    versions: &[PolicyVersion],
    s: &Simulation,
    result: Option<SimulationView>,
    refusal: Option<Refusal>,
) -> SimulatePage {
    let (mut page, admin) = admin_page(
        frame,
        app,
        me,
        Section::Policies,
        "admin_policies.simulate_title",
    );
    let errors: Vec<FieldLink> = s
        .errors
        .iter()
        .map(|(field, text)| FieldLink {
            href: format!("#{field}"),
            text: text.clone(),
        })
        .collect();
    if !errors.is_empty() {
        error_title(&mut page);
    }
    let federation = app.ctx.federation();
    let f = &s.f;
    let t = |key: &str| page.t(key).to_owned();
    let members = || {
        federation
            .municipalities
            .iter()
            .map(|m| (m.code.as_str().to_owned(), m.name.clone()))
            .collect::<Vec<_>>()
    };
    let select = |id: &'static str, hint: Option<&'static str>, choices: Vec<Choice>| Select {
        id,
        label: page.t(&format!("admin_policies.field.{id}")),
        hint: hint.map(|h| page.t(h)),
        choices,
        error: s.error(id),
    };
    let request = vec![
        select(
            "category",
            None,
            choices(
                federation
                    .categories
                    .iter()
                    .map(|c| (c.id.as_str().to_owned(), c.name(page.code()).to_owned())),
                &f.category,
            ),
        ),
        select(
            "language",
            None,
            choices(
                federation
                    .languages
                    .iter()
                    .map(|l| (l.as_str().to_owned(), language_name(&page, l.as_str()))),
                &f.language,
            ),
        ),
        select(
            "home",
            Some("admin_policies.hint.home"),
            choices(members(), &f.home),
        ),
        select(
            "protection",
            None,
            choices(
                Protection::ALL.iter().map(|p| {
                    (
                        p.as_str().to_owned(),
                        t(&format!("work.protection.{}", p.as_str())),
                    )
                }),
                &f.protection,
            ),
        ),
        select(
            "loa",
            Some("admin_policies.hint.loa"),
            choices(
                Loa::ALL.iter().map(|l| {
                    (
                        l.as_str().to_owned(),
                        t(&format!("admin_policies.loa.{}", l.as_str())),
                    )
                }),
                &f.loa,
            ),
        ),
    ];
    let request_checks = vec![
        Check {
            id: "cross_municipality",
            label: page.t("admin_policies.field.cross_municipality"),
            checked: f.cross_municipality.is_some(),
        },
        Check {
            id: "anonymous",
            label: page.t("admin_policies.field.anonymous"),
            checked: f.anonymous.is_some(),
        },
    ];
    let mut principal_places = vec![(String::new(), t("admin_policies.no_municipality"))];
    principal_places.extend(members());
    let principal = vec![
        select(
            "role",
            None,
            choices(
                ["caseworker", "municipality", "admin", "citizen"]
                    .into_iter()
                    .map(|r| (r.to_owned(), t(&format!("admin_policies.role.{r}")))),
                &f.role,
            ),
        ),
        select(
            "municipality",
            Some("admin_policies.hint.municipality"),
            choices(principal_places, &f.municipality),
        ),
    ];
    let principal_checks = vec![
        Check {
            id: "protected_identity_clearance",
            label: page.t("admin_policies.field.protected_identity_clearance"),
            checked: f.protected_identity_clearance.is_some(),
        },
        Check {
            id: "supervisor",
            label: page.t("admin_policies.field.supervisor"),
            checked: f.supervisor.is_some(),
        },
    ];
    let mut version_choices = vec![(String::new(), t("admin_policies.active_version"))];
    let mut numbers: Vec<i64> = versions.iter().map(|v| v.version).collect();
    numbers.sort_unstable_by_key(|n| std::cmp::Reverse(*n));
    version_choices.extend(numbers.into_iter().map(|n| {
        (
            n.to_string(),
            page.fill("admin_policies.version_n", &[("version", &n.to_string())]),
        )
    }));
    let asked = vec![
        select(
            "action",
            Some("admin_policies.hint.action"),
            choices(
                Action::ALL.iter().map(|a| {
                    (
                        a.as_str().to_owned(),
                        t(&format!("admin_policies.action.{}", a.as_str())),
                    )
                }),
                &f.action,
            ),
        ),
        select("version", None, choices(version_choices, &f.version)),
    ];
    SimulatePage {
        errors,
        refusal,
        request,
        request_checks,
        age: f.age.clone(),
        age_error: s.error("age"),
        principal,
        principal_checks,
        asked,
        result,
        admin,
        page,
    }
}

fn simulation_view(app: &AppState, page: &Page, r: &SimulationResult) -> SimulationView {
    let allowed = r.decision == "allow";
    SimulationView {
        version: r.version,
        allowed,
        decision: page
            .t(if allowed {
                "admin_policies.decision_allow"
            } else {
                "admin_policies.decision_deny"
            })
            .to_owned(),
        rules: rule_links(&r.policies),
        rings: r
            .rings
            .iter()
            .map(|p| RingRow {
                ring: p.ring,
                name: municipality_name(app, &p.municipality),
                rules: rule_links(&p.policies),
            })
            .collect(),
        refused: r
            .refused
            .iter()
            .map(|p| RefusedRow {
                name: municipality_name(app, p.municipality.as_str()),
                rules: rule_links(&p.policies),
            })
            .collect(),
    }
}

async fn simulate_form(
    State(app): State<AppState>,
    frame: Frame,
    Admin(me): Admin,
) -> Result<Response, PageError> {
    let listing = app.ctx.policy_versions(&me).await?;
    let s = Simulation {
        f: defaults(&app, &me),
        errors: Vec::new(),
    };
    render(&simulate_page(
        &app,
        &frame,
        &me,
        &listing.versions,
        &s,
        None,
        None,
    ))
}

/// Which form field a workflow's complaint is about.
fn field_of(
    app: &AppState,
    f: &SimulateFields,
    e: &workflow::Error,
) -> Option<(&'static str, &'static str)> {
    let home_is_member = crate::domain::ids::MunicipalityCode::parse(f.home.trim())
        .ok()
        .is_some_and(|c| app.ctx.federation().municipality(&c).is_some());
    Some(match e {
        workflow::Error::InvalidField("version") | workflow::Error::PolicyInvalid(_) => {
            ("version", "admin_policies.error.version")
        }
        workflow::Error::InvalidField("action") => ("action", "admin_policies.error.action"),
        workflow::Error::InvalidField("request.protection") => {
            ("protection", "admin_policies.error.choose")
        }
        workflow::Error::InvalidField("request.loa") => ("loa", "admin_policies.error.choose"),
        workflow::Error::InvalidField("principal.municipality") => {
            ("municipality", "admin_policies.error.municipality")
        }
        workflow::Error::InvalidField("principal.role") => ("role", "admin_policies.error.role"),
        workflow::Error::Unprocessable("unknown_category") => {
            ("category", "admin_policies.error.choose")
        }
        workflow::Error::Unprocessable("unknown_municipality") if !home_is_member => {
            ("home", "admin_policies.error.choose")
        }
        workflow::Error::Unprocessable("unknown_municipality") => {
            ("municipality", "admin_policies.error.choose")
        }
        _ => return None,
    })
}

async fn simulate(
    State(app): State<AppState>,
    frame: Frame,
    Admin(me): Admin,
    PageForm(form): PageForm<SimulateFields>,
) -> Result<Response, PageError> {
    let lang = frame.lang;
    let text = |key: &str| crate::i18n::text(lang, key).to_owned();
    let mut s = Simulation {
        f: form,
        errors: Vec::new(),
    };
    let age = match s.f.age.trim() {
        "" => None,
        given => match given.parse::<u32>() {
            Ok(a) if a <= 130 => Some(a),
            _ => {
                s.errors.push(("age", text("admin_policies.error.age")));
                None
            }
        },
    };
    let version = match s.f.version.trim() {
        "" => None,
        given => match given.parse::<i64>() {
            Ok(v) => Some(v),
            Err(_) => {
                s.errors
                    .push(("version", text("admin_policies.error.version")));
                None
            }
        },
    };
    let listing = app.ctx.policy_versions(&me).await?;
    if !s.errors.is_empty() {
        let shown = simulate_page(&app, &frame, &me, &listing.versions, &s, None, None);
        return answer(&shown, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let f = &s.f;
    let given = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let input = SimulationInput {
        request: SimulatedRequest {
            category: f.category.trim().to_owned(),
            language: f.language.trim().to_owned(),
            home: f.home.trim().to_owned(),
            consent: SimulatedConsent {
                cross_municipality: f.cross_municipality.is_some(),
                municipalities: None,
            },
            protection: given(&f.protection),
            loa: given(&f.loa),
            age,
            anonymous: f.anonymous.is_some(),
            harm_assessment: None,
        },
        principal: SimulatedPrincipal {
            role: f.role.trim().to_owned(),
            municipality: given(&f.municipality),
            protected_identity_clearance: f.protected_identity_clearance.is_some(),
            supervisor: f.supervisor.is_some(),
        },
        action: f.action.trim().to_owned(),
        version,
    };
    match app.ctx.simulate_policies(&me, &input).await {
        Ok(result) => {
            let (page, _) =
                admin_page(&frame, &app, &me, Section::Policies, "admin_policies.title");
            let view = simulation_view(&app, &page, &result);
            render(&simulate_page(
                &app,
                &frame,
                &me,
                &listing.versions,
                &s,
                Some(view),
                None,
            ))
        }
        Err(e) => {
            if let Some((field, key)) = field_of(&app, &s.f, &e) {
                s.errors.push((field, text(key)));
                let shown = simulate_page(&app, &frame, &me, &listing.versions, &s, None, None);
                return answer(&shown, StatusCode::UNPROCESSABLE_ENTITY);
            }
            let (page, _) =
                admin_page(&frame, &app, &me, Section::Policies, "admin_policies.title");
            let Some((words, status)) = refused(&page, &e) else {
                return Err(e.into());
            };
            let shown = simulate_page(&app, &frame, &me, &listing.versions, &s, None, Some(words));
            answer(&shown, status)
        }
    }
}
