//! Asking: the question pages, check answers, and the confirmation (API.md "Pages":
//! `/requests/new`, `POST /requests`).
//!
//! The answers travel with the form: every step posts to `POST /requests/new` with the step it
//! showed (`step`), the button pressed (`go`: `next`, `back`, or the step to change from the
//! check-answers page) and every other answer as hidden fields. The server keeps nothing
//! between steps, and nothing personal goes in a URL. The fields carry the JSON API's names.
//!
//! 1. `category` and `urgent`;
//! 2. `text`, `language`, `municipality` (an anonymous visitor, or a citizen with skyddad
//!    folkbokföring, R3) and `child_municipality` (a concern about a child, R10);
//! 3. `cross_municipality` and `municipalities`: only for a logged-in citizen whose request
//!    could cross a border with their consent (R8) — not a concern about a child (it stays in
//!    the child's municipality) nor a category that records no identity (R16);
//!
//! then check answers, which posts everything to `POST /requests`; then the confirmation.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Frame, Page, PageError, PageForm, Who, citizen_key, remember_visitor, render};
use crate::domain::Principal;
use crate::domain::federation::{Category, CategoryKind, Municipality};
use crate::domain::ids::{Language, MunicipalityCode};
use crate::domain::people::{Citizen, Protection};
use crate::http::AppState;
use crate::http::extract::{MaybePrincipal, client};
use crate::workflow::{self, CitizenKey, ConsentInput, MAX_TEXT_CHARS, SubmitInput};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/requests/new", get(start).post(step))
        .route("/requests", post(submit))
        .route("/requests/{id}/sent", get(sent))
}

// ---------------------------------------------------------------------------------------------
// Who asks, and what they answered so far
// ---------------------------------------------------------------------------------------------

/// Who is asking: staff cannot ask as citizens.
enum Asker {
    Visitor,
    Citizen(Citizen),
}

impl Asker {
    fn of(principal: Option<Principal>) -> Result<Asker, PageError> {
        match principal {
            None => Ok(Asker::Visitor),
            Some(Principal::Citizen(citizen)) => Ok(Asker::Citizen(citizen)),
            Some(_) => Err(PageError::Forbidden),
        }
    }

    fn citizen(&self) -> Option<&Citizen> {
        match self {
            Asker::Visitor => None,
            Asker::Citizen(citizen) => Some(citizen),
        }
    }

    fn who(&self) -> Who {
        match self {
            Asker::Visitor => Who::Nobody,
            Asker::Citizen(_) => Who::Citizen,
        }
    }
}

/// Every answer as the form carries it: text, checked when a step is left.
#[derive(Clone, Debug, Default, Deserialize)]
struct Answers {
    #[serde(default)]
    step: String,
    #[serde(default)]
    go: String,
    #[serde(default)]
    from_check: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    urgent: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    municipality: String,
    #[serde(default)]
    child_municipality: String,
    #[serde(default)]
    cross_municipality: String,
    #[serde(default)]
    municipalities: Vec<String>,
}

impl Answers {
    fn urgent(&self) -> bool {
        self.urgent == "true"
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Category,
    Details,
    Consent,
    Check,
}

impl Step {
    fn parse(s: &str) -> Option<Step> {
        match s {
            "1" => Some(Step::Category),
            "2" => Some(Step::Details),
            "3" => Some(Step::Consent),
            "check" => Some(Step::Check),
            _ => None,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Step::Category => "1",
            Step::Details => "2",
            Step::Consent => "3",
            Step::Check => "check",
        }
    }
}

/// A field that needs another answer: the field's name is also the id its error links to.
struct FieldError {
    field: &'static str,
    message: String,
}

/// One form's state: which step, the answers it carries hidden, and what was wrong.
struct Form {
    step: &'static str,
    from_check: bool,
    hidden: Vec<(&'static str, String)>,
    errors: Vec<FieldError>,
    /// "Steg 1 av 3".
    progress: String,
}

impl Form {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    fn invalid(&self, field: &str) -> bool {
        self.error(field).is_some()
    }

    /// The `aria-describedby` of a field: its hint, and its error when it has one.
    fn described(&self, field: &str) -> String {
        if self.invalid(field) {
            format!("{field}-hint {field}-error")
        } else {
            format!("{field}-hint")
        }
    }
}

/// An option of a select.
struct Choice {
    value: String,
    name: String,
    selected: bool,
}

/// A radio button or checkbox: the first of a group has the group's name as its id (the
/// error summary links there).
struct Option_ {
    value: String,
    input_id: String,
    name: String,
    hint: &'static str,
    checked: bool,
}

/// A select of municipalities (where the visitor lives, where the child lives).
struct MunicipalitySelect {
    label: String,
    hint: String,
    /// The text of the empty first option.
    empty: &'static str,
    choices: Vec<Choice>,
}

/// A row of check answers.
struct Row {
    label: &'static str,
    value: String,
    /// The step whose "Ändra" changes it.
    step: &'static str,
    multiline: bool,
}

/// The answers of one request being asked, checked against the federation.
struct Asking<'a> {
    app: &'a AppState,
    /// The federation as it stands while this page is answered.
    federation: std::sync::Arc<crate::domain::federation::Federation>,
    frame: &'a Frame,
    asker: Asker,
    answers: Answers,
}

impl<'a> Asking<'a> {
    fn new(
        app: &'a AppState,
        frame: &'a Frame,
        principal: Option<Principal>,
        mut answers: Answers,
    ) -> Result<Asking<'a>, PageError> {
        // The checkboxes send one field per municipality; the hidden field that carries them
        // on to the next step holds them all, separated by commas (one field of that name).
        answers.municipalities = answers
            .municipalities
            .iter()
            .flat_map(|m| m.split(','))
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(Asking {
            federation: app.ctx.federation(),
            app,
            frame,
            asker: Asker::of(principal)?,
            answers,
        })
    }

    fn t(&self, key: &str) -> &'static str {
        crate::i18n::text(self.frame.lang, key)
    }

    fn fill(&self, key: &str, values: &[(&str, &str)]) -> String {
        crate::i18n::fill(self.frame.lang, key, values)
    }

    /// The categories a citizen may ask about: all but the volunteers' (they have pages of
    /// their own to come).
    fn categories(&self) -> impl Iterator<Item = &Category> {
        self.federation
            .categories
            .iter()
            .filter(|c| c.kind != CategoryKind::Volunteer)
    }

    fn category(&self) -> Option<&Category> {
        self.categories()
            .find(|c| c.id.as_str() == self.answers.category)
    }

    fn child_concern(&self) -> bool {
        self.category().is_some_and(Category::is_child_concern)
    }

    fn member(&self, code: &str) -> Option<&Municipality> {
        let code = MunicipalityCode::parse(code).ok()?;
        self.federation.municipality(&code)
    }

    fn members(&self) -> Vec<&Municipality> {
        let mut members: Vec<&Municipality> = self.federation.municipalities.iter().collect();
        members.sort_by_key(|m| swedish_order(&m.name));
        members
    }

    /// Where the asker says they live: an anonymous visitor always (R1), a citizen under
    /// skyddad folkbokföring may (their registered municipality may be wrong, R3).
    fn asks_municipality(&self) -> bool {
        match &self.asker {
            Asker::Visitor => true,
            Asker::Citizen(c) => c.protection == Protection::SkyddadFolkbokforing,
        }
    }

    /// Consent means something only for a citizen whose identity is stored, and not for a
    /// concern about a child, which stays in the child's municipality (R8, R10, R16).
    fn asks_consent(&self) -> bool {
        self.asker.citizen().is_some()
            && self
                .category()
                .is_none_or(|c| c.record_identity && !c.is_child_concern())
    }

    fn steps(&self) -> Vec<Step> {
        let mut steps = vec![Step::Category, Step::Details];
        if self.asks_consent() {
            steps.push(Step::Consent);
        }
        steps
    }

    fn after(&self, step: Step) -> Step {
        let steps = self.steps();
        steps
            .iter()
            .position(|s| *s == step)
            .and_then(|i| steps.get(i + 1).copied())
            .unwrap_or(Step::Check)
    }

    fn before(&self, step: Step) -> Option<Step> {
        let steps = self.steps();
        match step {
            Step::Check => steps.last().copied(),
            _ => steps
                .iter()
                .position(|s| *s == step)
                .and_then(|i| i.checked_sub(1))
                .map(|i| steps[i]),
        }
    }

    /// The municipality that will receive the request, as far as the answers tell.
    fn receiver(&self) -> Option<&Municipality> {
        let a = &self.answers;
        if self.child_concern()
            && let Some(m) = self.member(&a.child_municipality)
        {
            return Some(m);
        }
        if self.asks_municipality()
            && let Some(m) = self.member(&a.municipality)
        {
            return Some(m);
        }
        let citizen = self.asker.citizen()?;
        self.federation.municipality(&citizen.home)
    }

    fn errors(&self, step: Step) -> Vec<FieldError> {
        let a = &self.answers;
        let visitor = self.asker.citizen().is_none();
        let mut errors = Vec::new();
        let mut fail = |field: &'static str, message: String| {
            errors.push(FieldError { field, message });
        };
        match step {
            Step::Category => {
                if self.category().is_none() {
                    fail("category", self.t("ask.error.category").to_owned());
                }
            }
            Step::Details => {
                let count = a.text.trim().chars().count();
                if count == 0 {
                    fail("text", self.t("ask.error.text_empty").to_owned());
                } else if count > MAX_TEXT_CHARS {
                    let max = self.number(MAX_TEXT_CHARS);
                    let count = self.number(count);
                    fail(
                        "text",
                        self.fill("ask.error.text_long", &[("max", &max), ("count", &count)]),
                    );
                }
                let offered =
                    Language::parse(&a.language).is_ok_and(|l| self.federation.offers_language(&l));
                if !offered {
                    fail("language", self.t("ask.error.language").to_owned());
                }
                if self.asks_municipality() {
                    if a.municipality.is_empty() {
                        if visitor {
                            fail("municipality", self.t("ask.error.municipality").to_owned());
                        }
                    } else if self.member(&a.municipality).is_none() {
                        fail("municipality", self.t("ask.error.not_listed").to_owned());
                    }
                }
                if self.child_concern() {
                    if a.child_municipality.is_empty() {
                        if visitor {
                            fail(
                                "child_municipality",
                                self.t("ask.error.child_municipality").to_owned(),
                            );
                        }
                    } else if self.member(&a.child_municipality).is_none() {
                        fail(
                            "child_municipality",
                            self.t("ask.error.not_listed").to_owned(),
                        );
                    }
                }
            }
            Step::Consent => {
                match a.cross_municipality.as_str() {
                    "true" | "false" => {}
                    _ => fail(
                        "cross_municipality",
                        self.t("ask.error.cross_municipality").to_owned(),
                    ),
                }
                if a.cross_municipality == "true"
                    && a.municipalities.iter().any(|m| self.member(m).is_none())
                {
                    fail("municipalities", self.t("ask.error.not_listed").to_owned());
                }
            }
            Step::Check => {}
        }
        errors
    }

    /// The first step that needs another answer, with what is wrong.
    fn first_invalid(&self) -> Option<(Step, Vec<FieldError>)> {
        self.steps().into_iter().find_map(|step| {
            let errors = self.errors(step);
            (!errors.is_empty()).then_some((step, errors))
        })
    }

    /// A number as the reader writes it (20 000, 20,000).
    fn number(&self, n: usize) -> String {
        let digits = n.to_string();
        let separator = self.t("ask.thousands_separator");
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push_str(separator);
            }
            out.push(c);
        }
        out
    }

    fn language_name(&self, code: &str) -> String {
        match self.t(&format!("ask.language_name.{code}")) {
            "" => code.to_owned(),
            name => name.to_owned(),
        }
    }

    fn municipality_name(&self, code: &str) -> String {
        self.member(code)
            .map_or_else(|| code.to_owned(), |m| m.name.clone())
    }

    fn page(&self, title_key: &str, invalid: bool) -> Page {
        let mut page = Page::new(self.frame, self.app, self.asker.who(), title_key);
        if invalid {
            page.title = format!("{}{}", page.t("ask.error_prefix"), page.title);
        }
        page.urgent_help = self.category().is_some_and(Category::shows_emergency);
        page.socialjour_phone = self.receiver().and_then(|m| m.socialjour_phone.clone());
        page
    }

    /// Every answer but those the step shows, as hidden fields.
    fn hidden(&self, except: Step) -> Vec<(&'static str, String)> {
        let a = &self.answers;
        let mut out: Vec<(&'static str, String)> = Vec::new();
        let mut keep = |name: &'static str, value: &str| {
            if !value.is_empty() {
                out.push((name, value.to_owned()));
            }
        };
        if except != Step::Category {
            keep("category", &a.category);
            if a.urgent() {
                keep("urgent", "true");
            }
        }
        if except != Step::Details {
            keep("text", &a.text);
            keep("language", &a.language);
            keep("municipality", &a.municipality);
            keep("child_municipality", &a.child_municipality);
        }
        if except != Step::Consent {
            keep("cross_municipality", &a.cross_municipality);
            keep("municipalities", &a.municipalities.join(","));
        }
        out
    }

    fn form(&self, step: Step, errors: Vec<FieldError>, from_check: bool) -> Form {
        let steps = self.steps();
        let progress = steps
            .iter()
            .position(|s| *s == step)
            .map(|i| {
                self.fill(
                    "ask.progress",
                    &[
                        ("step", &(i + 1).to_string()),
                        ("steps", &steps.len().to_string()),
                    ],
                )
            })
            .unwrap_or_default();
        Form {
            step: step.code(),
            from_check,
            hidden: self.hidden(step),
            errors,
            progress,
        }
    }

    /// A step of the form, with what was wrong (422) or without.
    fn show(
        &self,
        step: Step,
        errors: Vec<FieldError>,
        from_check: bool,
    ) -> Result<Response, PageError> {
        let invalid = !errors.is_empty();
        let form = self.form(step, errors, from_check);
        let response = match step {
            Step::Category => render(&self.category_step(form, invalid))?,
            Step::Details => render(&self.details_step(form, invalid))?,
            Step::Consent => render(&self.consent_step(form, invalid))?,
            Step::Check => return self.check(None),
        };
        Ok(if invalid {
            (StatusCode::UNPROCESSABLE_ENTITY, response).into_response()
        } else {
            response
        })
    }

    fn category_step(&self, form: Form, invalid: bool) -> CategoryStep {
        let options = self
            .categories()
            .enumerate()
            .map(|(i, c)| Option_ {
                value: c.id.as_str().to_owned(),
                input_id: if i == 0 {
                    "category".to_owned()
                } else {
                    format!("category-{}", c.id.as_str())
                },
                name: c.name(self.frame.lang.code()).to_owned(),
                hint: self.t(&format!("ask.category_hint.{}", c.id.as_str())),
                checked: c.id.as_str() == self.answers.category,
            })
            .collect();
        CategoryStep {
            page: self.page("ask.category.title", invalid),
            form,
            options,
            urgent: self.answers.urgent(),
        }
    }

    fn details_step(&self, form: Form, invalid: bool) -> DetailsStep {
        let a = &self.answers;
        let chosen_language = if a.language.is_empty() {
            let own = self.frame.lang.code();
            let offered = Language::parse(own).is_ok_and(|l| self.federation.offers_language(&l));
            if offered { own } else { "sv" }.to_owned()
        } else {
            a.language.clone()
        };
        let languages = self
            .app
            .ctx
            .federation()
            .languages
            .iter()
            .map(|l| Choice {
                value: l.as_str().to_owned(),
                name: self.language_name(l.as_str()),
                selected: l.as_str() == chosen_language,
            })
            .collect();
        let choices = |selected: &str| -> Vec<Choice> {
            self.members()
                .into_iter()
                .map(|m| Choice {
                    value: m.code.as_str().to_owned(),
                    name: m.name.clone(),
                    selected: m.code.as_str() == selected,
                })
                .collect()
        };
        let citizen = self.asker.citizen();
        let home = citizen.map(|c| self.municipality_name(c.home.as_str()));
        let municipality = self.asks_municipality().then(|| match &home {
            None => MunicipalitySelect {
                label: self.t("ask.details.municipality_label").to_owned(),
                hint: self.t("ask.details.municipality_hint").to_owned(),
                empty: self.t("ask.details.choose_municipality"),
                choices: choices(&a.municipality),
            },
            Some(home) => MunicipalitySelect {
                label: self.t("ask.details.protected_label").to_owned(),
                hint: self.fill("ask.details.protected_hint", &[("home", home)]),
                empty: self.t("ask.details.registered_home"),
                choices: choices(&a.municipality),
            },
        });
        let child = self.child_concern().then(|| match &home {
            None => MunicipalitySelect {
                label: self.t("ask.details.child_label").to_owned(),
                hint: self.t("ask.details.child_hint").to_owned(),
                empty: self.t("ask.details.choose_municipality"),
                choices: choices(&a.child_municipality),
            },
            Some(home) => MunicipalitySelect {
                label: self.t("ask.details.child_label_optional").to_owned(),
                hint: self.fill("ask.details.child_hint_citizen", &[("home", home)]),
                empty: self.t("ask.details.same_as_mine"),
                choices: choices(&a.child_municipality),
            },
        });
        DetailsStep {
            page: self.page("ask.details.title", invalid),
            text_hint: self.fill(
                "ask.details.text_hint",
                &[("max", &self.number(MAX_TEXT_CHARS))],
            ),
            form,
            text: a.text.clone(),
            languages,
            municipality,
            child,
            child_concern: self.child_concern(),
            visitor: citizen.is_none(),
        }
    }

    fn consent_step(&self, form: Form, invalid: bool) -> ConsentStep {
        let a = &self.answers;
        let home = self.receiver();
        let partners = self
            .members()
            .into_iter()
            .filter(|m| home.is_none_or(|h| h.code != m.code))
            .enumerate()
            .map(|(i, m)| Option_ {
                value: m.code.as_str().to_owned(),
                input_id: if i == 0 {
                    "municipalities".to_owned()
                } else {
                    format!("municipalities-{}", m.code.as_str())
                },
                name: m.name.clone(),
                hint: "",
                checked: a.municipalities.iter().any(|c| *c == m.code.as_str()),
            })
            .collect();
        let home = home.map(|m| m.name.clone()).unwrap_or_default();
        let federation = self.federation.name.clone();
        ConsentStep {
            page: self.page("ask.consent.title", invalid),
            form,
            cross: match a.cross_municipality.as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            only_home: self.fill("ask.consent.only_home", &[("home", &home)]),
            only_home_hint: self.fill("ask.consent.only_home_hint", &[("home", &home)]),
            others_hint: self.fill(
                "ask.consent.others_hint",
                &[("home", &home), ("federation", &federation)],
            ),
            which_hint: self.fill("ask.consent.which_hint", &[("home", &home)]),
            partners,
        }
    }

    fn rows(&self) -> Vec<Row> {
        let a = &self.answers;
        let mut rows = vec![
            Row {
                label: self.t("ask.check.category"),
                value: self
                    .category()
                    .map(|c| c.name(self.frame.lang.code()).to_owned())
                    .unwrap_or_default(),
                step: "1",
                multiline: false,
            },
            Row {
                label: self.t("ask.check.urgent"),
                value: self
                    .t(if a.urgent() {
                        "ask.check.yes"
                    } else {
                        "ask.check.no"
                    })
                    .to_owned(),
                step: "1",
                multiline: false,
            },
            Row {
                label: self.t("ask.check.text"),
                value: a.text.trim().to_owned(),
                step: "2",
                multiline: true,
            },
            Row {
                label: self.t("ask.check.language"),
                value: self.language_name(&a.language),
                step: "2",
                multiline: false,
            },
        ];
        if self.asks_municipality() {
            rows.push(Row {
                label: self.t("ask.check.municipality"),
                value: if a.municipality.is_empty() {
                    self.t("ask.details.registered_home").to_owned()
                } else {
                    self.municipality_name(&a.municipality)
                },
                step: "2",
                multiline: false,
            });
        }
        if self.child_concern() {
            rows.push(Row {
                label: self.t("ask.check.child_municipality"),
                value: if a.child_municipality.is_empty() {
                    self.t("ask.details.same_as_mine").to_owned()
                } else {
                    self.municipality_name(&a.child_municipality)
                },
                step: "2",
                multiline: false,
            });
        }
        if self.asks_consent() {
            let home = self.receiver().map(|m| m.name.clone()).unwrap_or_default();
            let value = if a.cross_municipality != "true" {
                self.fill("ask.check.only_home", &[("home", &home)])
            } else if a.municipalities.is_empty() {
                self.fill("ask.check.every_partner", &[("home", &home)])
            } else {
                let names: Vec<String> = a
                    .municipalities
                    .iter()
                    .map(|m| self.municipality_name(m))
                    .collect();
                self.fill("ask.check.these", &[("names", &names.join(", "))])
            };
            rows.push(Row {
                label: self.t("ask.check.consent"),
                value,
                step: "3",
                multiline: false,
            });
        }
        rows
    }

    /// Check answers, with why the last try failed (422) or without.
    fn check(&self, message: Option<String>) -> Result<Response, PageError> {
        let failed = message.is_some();
        let receiver = self.receiver().map(|m| m.name.clone()).unwrap_or_default();
        let form = Form {
            step: Step::Check.code(),
            from_check: false,
            hidden: self.hidden(Step::Check),
            errors: Vec::new(),
            progress: String::new(),
        };
        let template = CheckStep {
            page: self.page("ask.check.title", failed),
            form,
            rows: self.rows(),
            receiver: self.fill("ask.check.receiver", &[("home", &receiver)]),
            message,
            child_concern: self.child_concern(),
            visitor: self.asker.citizen().is_none(),
        };
        let response = render(&template)?;
        Ok(if failed {
            (StatusCode::UNPROCESSABLE_ENTITY, response).into_response()
        } else {
            response
        })
    }

    fn input(&self) -> SubmitInput {
        let a = &self.answers;
        let consent = if self.asks_consent() && a.cross_municipality == "true" {
            ConsentInput {
                cross_municipality: true,
                municipalities: (!a.municipalities.is_empty()).then(|| a.municipalities.clone()),
            }
        } else {
            ConsentInput {
                cross_municipality: false,
                municipalities: None,
            }
        };
        SubmitInput {
            category: a.category.clone(),
            language: a.language.clone(),
            text: a.text.clone(),
            consent,
            municipality: (self.asks_municipality() && !a.municipality.is_empty())
                .then(|| a.municipality.clone()),
            child_municipality: (self.child_concern() && !a.child_municipality.is_empty())
                .then(|| a.child_municipality.clone()),
            urgent: a.urgent(),
        }
    }

    /// What to tell the asker when the workflow refused the request; `None` for what is not
    /// theirs to fix (answered with an error page).
    fn refusal(&self, error: &workflow::Error) -> Option<String> {
        let key = match error {
            workflow::Error::Unprocessable(code) => format!("error.{code}"),
            workflow::Error::InvalidField("text") => "ask.error.text_empty".to_owned(),
            workflow::Error::InvalidField(_) => "ask.error.invalid".to_owned(),
            workflow::Error::LoaTooLow => "error.loa_too_low".to_owned(),
            _ => return None,
        };
        match self.t(&key) {
            "" => Some(self.t("ask.error.invalid").to_owned()),
            text => Some(text.to_owned()),
        }
    }
}

/// Municipality names in Swedish alphabetical order (å, ä, ö after z).
fn swedish_order(name: &str) -> Vec<u32> {
    name.to_lowercase()
        .chars()
        .map(|c| match c {
            'å' => u32::from('z') + 1,
            'ä' => u32::from('z') + 2,
            'ö' => u32::from('z') + 3,
            other => u32::from(other),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "ask_category.html")]
struct CategoryStep {
    page: Page,
    form: Form,
    options: Vec<Option_>,
    urgent: bool,
}

#[derive(Template)]
#[template(path = "ask_details.html")]
struct DetailsStep {
    page: Page,
    form: Form,
    text: String,
    text_hint: String,
    languages: Vec<Choice>,
    municipality: Option<MunicipalitySelect>,
    child: Option<MunicipalitySelect>,
    child_concern: bool,
    visitor: bool,
}

#[derive(Template)]
#[template(path = "ask_consent.html")]
struct ConsentStep {
    page: Page,
    form: Form,
    cross: Option<bool>,
    only_home: String,
    only_home_hint: String,
    others_hint: String,
    which_hint: String,
    partners: Vec<Option_>,
}

#[derive(Template)]
#[template(path = "ask_check.html")]
struct CheckStep {
    page: Page,
    form: Form,
    rows: Vec<Row>,
    receiver: String,
    message: Option<String>,
    child_concern: bool,
    visitor: bool,
}

#[derive(Template)]
#[template(path = "ask_sent.html")]
struct Sent {
    page: Page,
    id: String,
    handled_by: String,
    code: Option<String>,
    citizen: bool,
    child_concern: bool,
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// `GET /requests/new`: the first question.
async fn start(
    State(app): State<AppState>,
    frame: Frame,
    MaybePrincipal(principal): MaybePrincipal,
) -> Result<Response, PageError> {
    let asking = Asking::new(&app, &frame, principal, Answers::default())?;
    asking.show(Step::Category, Vec::new(), false)
}

/// `POST /requests/new`: leaves one step for another. Going on checks the step left (422 with
/// what is wrong); going back or to a step to change keeps every answer as it is.
async fn step(
    State(app): State<AppState>,
    frame: Frame,
    MaybePrincipal(principal): MaybePrincipal,
    PageForm(answers): PageForm<Answers>,
) -> Result<Response, PageError> {
    let asking = Asking::new(&app, &frame, principal, answers)?;
    let current = Step::parse(&asking.answers.step).ok_or(PageError::BadForm)?;
    let from_check = asking.answers.from_check == "true";
    match asking.answers.go.as_str() {
        "back" => match (current, from_check) {
            (Step::Check, _) => {
                let to = asking.before(Step::Check).unwrap_or(Step::Details);
                asking.show(to, Vec::new(), false)
            }
            (_, true) => asking.check(None),
            (step, false) => {
                let to = asking.before(step).unwrap_or(Step::Category);
                asking.show(to, Vec::new(), false)
            }
        },
        change @ ("1" | "2" | "3") => {
            let to = Step::parse(change).ok_or(PageError::BadForm)?;
            if !asking.steps().contains(&to) {
                return Err(PageError::BadForm);
            }
            asking.show(to, Vec::new(), true)
        }
        _ => {
            if current == Step::Check {
                return asking.check(None);
            }
            let errors = asking.errors(current);
            if !errors.is_empty() {
                return asking.show(current, errors, from_check);
            }
            // Changing one answer from check answers returns there, unless the change needs
            // another answer (a concern about a child needs the child's municipality).
            let to = if from_check {
                asking
                    .steps()
                    .into_iter()
                    .skip_while(|s| *s != current)
                    .skip(1)
                    .find(|s| !asking.errors(*s).is_empty())
                    .unwrap_or(Step::Check)
            } else {
                asking.after(current)
            };
            if to == Step::Check
                && let Some((step, errors)) = asking.first_invalid()
            {
                return asking.show(step, errors, true);
            }
            asking.show(to, Vec::new(), from_check)
        }
    }
}

/// `POST /requests`: sends the checked answers. What the workflow refuses comes back on the
/// check-answers page with every answer kept; success is 303 to the confirmation, and an
/// anonymous visitor's browser remembers the request and its access code (never in a URL).
async fn submit(
    State(app): State<AppState>,
    frame: Frame,
    MaybePrincipal(principal): MaybePrincipal,
    PageForm(answers): PageForm<Answers>,
) -> Result<Response, PageError> {
    let asking = Asking::new(&app, &frame, principal, answers)?;
    if let Some((step, errors)) = asking.first_invalid() {
        return asking.show(step, errors, true);
    }
    match app.ctx.submit(asking.asker.citizen(), asking.input()).await {
        Ok(submitted) => {
            let id = submitted.case.id.as_str().to_owned();
            let mut response = Redirect::to(&format!("/requests/{id}/sent")).into_response();
            if let Some(code) = &submitted.access_code {
                remember_visitor(&mut response, &id, code, app.ctx.config.secure_cookies);
            }
            Ok(response)
        }
        Err(error) => match asking.refusal(&error) {
            Some(message) => asking.check(Some(message)),
            None => Err(error.into()),
        },
    }
}

/// `GET /requests/{id}/sent`: the confirmation, for whoever the request is theirs (their
/// login, or the code this browser remembers); anyone else gets the 404 page.
async fn sent(
    State(app): State<AppState>,
    frame: Frame,
    MaybePrincipal(principal): MaybePrincipal,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<Response, PageError> {
    let client = client(&parts);
    let key =
        citizen_key(principal.as_ref(), &parts.headers, client, &id).ok_or(PageError::NotFound)?;
    // The code shown on the confirmation: the one this browser remembers for this request.
    let remembered = match &key {
        CitizenKey::AccessCode { code, .. } => Some(code.clone()),
        CitizenKey::Citizen(_) => None,
    };
    let view = app.ctx.view_request(&key, &id).await?;
    let case = &view.case;
    let federation = &app.ctx.federation();
    let home = federation.municipality(&case.home);
    let category = federation.category(case.category.as_str());
    let mut page = Page::new(&frame, &app, Who::of(principal.as_ref()), "ask.sent.title");
    page.urgent_help = category.is_some_and(Category::shows_emergency);
    page.socialjour_phone = home.and_then(|m| m.socialjour_phone.clone());
    let handled_by = page.fill(
        "ask.sent.handled_by",
        &[("home", home.map_or(case.home.as_str(), |m| m.name.as_str()))],
    );
    render(&Sent {
        page,
        id: case.id.as_str().to_owned(),
        handled_by,
        code: remembered.filter(|_| case.is_anonymous()),
        citizen: matches!(principal, Some(Principal::Citizen(_))) && !case.is_anonymous(),
        child_concern: category.is_some_and(Category::is_child_concern),
    })
}

#[cfg(test)]
mod tests {
    use super::swedish_order;

    #[test]
    fn municipalities_sort_as_in_swedish() {
        let mut names = vec!["Örkelljunga", "Åstorp", "Ängelholm", "Bjuv", "Helsingborg"];
        names.sort_by_key(|n| swedish_order(n));
        assert_eq!(
            names,
            vec!["Bjuv", "Helsingborg", "Åstorp", "Ängelholm", "Örkelljunga"]
        );
    }
}
