//! `brygga demo`: pick a demo person and be logged in as them, with a real browser session —
//! a citizen of each member municipality, people whose identity is protected, a young person,
//! an eIDAS login, every caseworker, and the administrators.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use tower_sessions::Session;

use super::{Frame, Page, PageError, PageForm, Who, render};
use crate::domain::Principal;
use crate::domain::personnummer::Personnummer;
use crate::http::AppState;
use crate::http::extract::MaybePrincipal;

pub fn router() -> Router<AppState> {
    Router::new().route("/demo", get(choose).post(log_in))
}

/// One form on the page: the button's text and the login's fields.
pub struct Person {
    pub label: String,
    pub detail: String,
    pub fields: Vec<(&'static str, String)>,
}

pub struct Group {
    pub name: String,
    pub people: Vec<Person>,
}

#[derive(Template)]
#[template(path = "demo.html")]
struct Choose {
    page: Page,
    citizens: Vec<Person>,
    special: Vec<Person>,
    caseworkers: Vec<Group>,
    admins: Vec<Person>,
}

/// A valid personnummer for a demo person: born on `birth`, with a serial of their own.
fn number(birth: NaiveDate, serial: u16) -> String {
    Personnummer::from_parts(birth, serial, false)
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default()
}

fn citizen(label: String, detail: String, fields: Vec<(&'static str, String)>) -> Person {
    let mut all = vec![("role", "citizen".to_owned())];
    all.extend(fields);
    Person {
        label,
        detail,
        fields: all,
    }
}

async fn choose(
    State(app): State<AppState>,
    frame: Frame,
    MaybePrincipal(principal): MaybePrincipal,
) -> Result<Response, PageError> {
    let page = Page::new(&frame, &app, Who::of(principal.as_ref()), "demo.title");
    let lang = frame.lang;
    let t = |key: &str| crate::i18n::text(lang, key);
    let fill = |key: &str, name: &str| crate::i18n::fill(lang, key, &[("municipality", name)]);
    let federation = &app.ctx.federation();
    let today = app.ctx.clock.today();
    let adult = |k: usize| {
        NaiveDate::from_ymd_opt(
            1960 + (k as i32 * 3) % 40,
            1 + (k as u32 % 12),
            1 + (k as u32 * 7) % 28,
        )
        .unwrap_or(NaiveDate::MIN)
    };
    let citizens = federation
        .municipalities
        .iter()
        .enumerate()
        .map(|(k, m)| {
            citizen(
                fill("demo.citizen_of", &m.name),
                m.code.as_str().to_owned(),
                vec![
                    ("personnummer", number(adult(k), 101 + k as u16)),
                    ("municipality", m.code.as_str().to_owned()),
                ],
            )
        })
        .collect();
    let name_of = |code: &str| {
        federation
            .municipalities
            .iter()
            .find(|m| m.code.as_str() == code)
            .map_or_else(|| code.to_owned(), |m| m.name.clone())
    };
    let young = NaiveDate::from_ymd_opt(today.year() - 16, 3, 14).unwrap_or(NaiveDate::MIN);
    let special = vec![
        citizen(
            t("demo.protected").to_owned(),
            name_of("1283"),
            vec![
                ("personnummer", number(adult(20), 402)),
                ("municipality", "1283".to_owned()),
                ("protection", "skyddad_folkbokforing".to_owned()),
            ],
        ),
        citizen(
            t("demo.marked").to_owned(),
            name_of("1275"),
            vec![
                ("personnummer", number(adult(21), 403)),
                ("municipality", "1275".to_owned()),
                ("protection", "sekretessmarkering".to_owned()),
            ],
        ),
        citizen(
            t("demo.young").to_owned(),
            name_of("1282"),
            vec![
                ("personnummer", number(young, 404)),
                ("municipality", "1282".to_owned()),
            ],
        ),
        citizen(
            t("demo.eidas").to_owned(),
            name_of("1283"),
            vec![
                ("loa", "eidas-high".to_owned()),
                ("municipality", "1283".to_owned()),
                ("eidas_id", "DE/SE/demo-0001".to_owned()),
            ],
        ),
    ];
    let staff = app.ctx.demo_caseworkers().await?;
    let caseworkers = federation
        .municipalities
        .iter()
        .map(|m| Group {
            name: m.name.clone(),
            people: staff
                .iter()
                .filter(|c| c.municipality == m.code)
                .map(|c| Person {
                    label: c.name.clone(),
                    detail: format!(
                        "{}{}",
                        c.id,
                        if c.supervisor {
                            format!(" – {}", t("demo.supervisor"))
                        } else {
                            String::new()
                        }
                    ),
                    fields: vec![
                        ("role", "caseworker".to_owned()),
                        ("caseworker_id", c.id.as_str().to_owned()),
                    ],
                })
                .collect(),
        })
        .collect();
    let admins: Vec<Person> = crate::demo::administrators(federation)
        .into_iter()
        .map(|a| Person {
            label: a.name.clone(),
            detail: match &a.municipality {
                Some(code) => fill("demo.admin_of", &name_of(code.as_str())),
                None => t("demo.federation_admin").to_owned(),
            },
            fields: vec![("role", "admin".to_owned()), ("admin_id", a.id.clone())],
        })
        .collect();
    render(&Choose {
        page,
        citizens,
        special,
        caseworkers,
        admins,
    })
}

/// The fields a demo person's form posts (see `POST /demo/login` in API.md).
#[derive(Deserialize)]
struct Chosen {
    role: String,
    #[serde(default)]
    personnummer: Option<String>,
    #[serde(default)]
    municipality: Option<String>,
    #[serde(default)]
    protection: Option<String>,
    #[serde(default)]
    loa: Option<String>,
    #[serde(default)]
    eidas_id: Option<String>,
    #[serde(default)]
    caseworker_id: Option<String>,
    #[serde(default)]
    admin_id: Option<String>,
}

async fn log_in(
    State(app): State<AppState>,
    session: Session,
    PageForm(chosen): PageForm<Chosen>,
) -> Result<Response, PageError> {
    let mut body = serde_json::Map::new();
    body.insert("role".into(), chosen.role.into());
    for (name, value) in [
        ("personnummer", chosen.personnummer),
        ("municipality", chosen.municipality),
        ("protection", chosen.protection),
        ("loa", chosen.loa),
        ("eidas_id", chosen.eidas_id),
        ("caseworker_id", chosen.caseworker_id),
        ("admin_id", chosen.admin_id),
    ] {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            body.insert(name.into(), value.into());
        }
    }
    let principal = crate::http::demo::principal_of(&app, serde_json::Value::Object(body)).await?;
    let next = match principal {
        Principal::Citizen(_) => "/my/requests",
        Principal::Caseworker { .. } => "/work",
        Principal::Admin(_) => "/admin",
    };
    crate::http::login::establish(&app, &session, principal, None, None).await?;
    let mut response = Redirect::to(next).into_response();
    super::forget_visitor(&mut response, app.ctx.config.secure_cookies);
    Ok(response)
}
