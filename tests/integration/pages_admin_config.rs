//! The administrators' pages for caseworkers, municipalities, categories and agreements (issue
//! 22 point 4) through a browser's eyes, on both databases: forms that answer 303 and change
//! what the administration API then shows, mistakes said with an error summary (422), the
//! workflows' refusals said in words with the API's status (a municipality's administrator
//! reaching another municipality, four eyes on an agreement, something still in use), and who
//! gets no page at all.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{
    Backend, TestApp, browser, browser_login, page_get as get, page_post as post, spawn,
};

const PERSTORP: &str = "1275";
const HELSINGBORG: &str = "1283";
/// Helsingborg's reception generalist.
const HELSINGBORG_STAFF: &str = "1283-01";

/// A browser logged in as the demo administrator `admin_id`, and the bearer token of the same
/// login (to read what the API then shows).
async fn admin(app: &TestApp, admin_id: &str) -> (reqwest::Client, String) {
    let client = browser();
    let token = browser_login(app, &client, json!({"role": "admin", "admin_id": admin_id})).await;
    (client, token)
}

async fn federation_admin(app: &TestApp, n: u8) -> (reqwest::Client, String) {
    admin(app, &format!("demo-admin-federation-{n}")).await
}

/// A caseworker as the administration API shows them.
async fn api_caseworker(app: &TestApp, token: &str, id: &str) -> Value {
    let answer = app
        .get(&format!("/api/v1/admin/caseworkers/{id}"), Some(token))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body
}

/// A federation administrator adds a caseworker by form (a capacity of 0 first: the form again
/// with the field linked), changes their skills, languages, capacity and clearance, lists
/// them by municipality, and closes their account; the API shows each step.
async fn caseworkers_are_added_changed_and_deactivated_by_forms(backend: Backend) {
    let app = spawn(backend).await;
    let (client, token) = federation_admin(&app, 1).await;

    let list = get(&client, &app, "/admin/caseworkers").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.html);
    assert!(list.html.contains("id=\"staff\""));
    assert!(
        list.html
            .contains(&format!("href=\"/admin/caseworkers/{HELSINGBORG_STAFF}\""))
    );
    assert!(
        list.html.contains("id=\"filter-municipality\""),
        "a federation admin filters"
    );
    assert!(
        list.html.contains("aria-current=\"page\""),
        "the navigation knows"
    );
    let csrf = list.csrf();

    let form = |capacity: &'static str| {
        vec![
            ("name", "Greta Testsson"),
            ("municipality", PERSTORP),
            ("skills", "ekonomi"),
            ("languages", "sv"),
            ("languages", "ar"),
            ("capacity", capacity),
            ("protected_identity_clearance", "true"),
        ]
    };
    let mut bad = vec![("csrf", csrf.as_str())];
    bad.extend(form("0"));
    let wrong = post(&client, &app, "/admin/caseworkers", &bad).await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.html
    );
    let summary = wrong.error_summary().expect("an error summary");
    assert!(summary.contains("href=\"#capacity\""), "{summary}");
    assert!(wrong.title().starts_with("Fel: "), "{}", wrong.title());
    assert!(
        wrong.html.contains("value=\"Greta Testsson\""),
        "what was entered is kept"
    );
    assert!(wrong.html.contains("aria-invalid=\"true\""));

    let mut good = vec![("csrf", csrf.as_str())];
    good.extend(form("4"));
    let added = post(&client, &app, "/admin/caseworkers", &good).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    let location = added.location().to_owned();
    let id = location
        .strip_prefix("/admin/caseworkers/")
        .and_then(|rest| rest.strip_suffix("?done=caseworker_added"))
        .expect("the new caseworker's page")
        .to_owned();
    assert!(id.starts_with("1275-"), "{id}");
    let stored = api_caseworker(&app, &token, &id).await;
    assert_eq!(stored["name"], "Greta Testsson");
    assert_eq!(stored["municipality"], PERSTORP);
    assert_eq!(stored["skills"], json!(["ekonomi"]));
    assert_eq!(stored["languages"], json!(["sv", "ar"]));
    assert_eq!(stored["max_capacity"], 4);
    assert_eq!(stored["protected_identity_clearance"], true);
    assert_eq!(stored["active"], true);

    let page = get(&client, &app, &location).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("id=\"done\""), "the confirmation");
    assert!(page.html.contains("Arabiska"), "languages by name");
    assert!(
        page.html.contains("Budget- och skuldrådgivning"),
        "skills by name"
    );
    assert!(
        page.html
            .contains(&format!("action=\"/admin/caseworkers/{id}/deactivate\""))
    );

    let changed = post(
        &client,
        &app,
        &format!("/admin/caseworkers/{id}"),
        &[
            ("csrf", &csrf),
            ("name", "Greta Testsson"),
            ("skills", "ekonomi"),
            ("skills", "familj"),
            ("languages", "sv"),
            ("capacity", "6"),
        ],
    )
    .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.html);
    assert_eq!(
        changed.location(),
        format!("/admin/caseworkers/{id}?done=caseworker_changed")
    );
    let stored = api_caseworker(&app, &token, &id).await;
    assert_eq!(stored["skills"], json!(["ekonomi", "familj"]));
    assert_eq!(stored["languages"], json!(["sv"]));
    assert_eq!(stored["max_capacity"], 6);
    assert_eq!(stored["protected_identity_clearance"], false, "unticked");

    let perstorp = get(&client, &app, "/admin/caseworkers?municipality=1275").await;
    assert_eq!(perstorp.status, StatusCode::OK);
    assert!(perstorp.html.contains(&format!("data-id=\"{id}\"")));
    assert!(
        !perstorp
            .html
            .contains(&format!("data-id=\"{HELSINGBORG_STAFF}\""))
    );

    let closed = post(
        &client,
        &app,
        &format!("/admin/caseworkers/{id}/deactivate"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER, "{}", closed.html);
    assert_eq!(api_caseworker(&app, &token, &id).await["active"], false);
    let page = get(&client, &app, &format!("/admin/caseworkers/{id}")).await;
    assert!(page.html.contains("id=\"deactivated\""));
    assert!(
        page.html
            .contains(&format!("action=\"/admin/caseworkers/{id}/reactivate\""))
    );
}

/// A municipality's administrator sees and changes their own municipality's staff and
/// settings; reaching another municipality is refused in words, with the API's 403, and
/// changes nothing. The federation's forms are not offered to them.
async fn a_municipality_admin_keeps_to_their_own(backend: Backend) {
    let app = spawn(backend).await;
    let (client, _) = admin(&app, "demo-admin-1275").await;
    let (_, federation_token) = federation_admin(&app, 1).await;

    let list = get(&client, &app, "/admin/caseworkers").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.html);
    assert!(list.html.contains("data-id=\"1275-01\""));
    assert!(
        !list
            .html
            .contains(&format!("data-id=\"{HELSINGBORG_STAFF}\""))
    );
    assert!(!list.html.contains("id=\"filter-municipality\""));
    assert!(
        list.html
            .contains("type=\"hidden\" name=\"municipality\" value=\"1275\""),
        "their own municipality, fixed"
    );
    let csrf = list.csrf();

    let before = app
        .get(
            &format!("/api/v1/admin/caseworkers?municipality={HELSINGBORG}"),
            Some(&federation_token),
        )
        .await;
    let refused = post(
        &client,
        &app,
        "/admin/caseworkers",
        &[
            ("csrf", &csrf),
            ("name", "Nils Annanstans"),
            ("municipality", HELSINGBORG),
            ("languages", "sv"),
            ("capacity", "3"),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    assert!(refused.html.contains("id=\"refusal\""), "{}", refused.html);
    assert!(
        refused.html.contains("administratör för Perstorp"),
        "said with their municipality"
    );
    assert!(!refused.html.contains("\"error\":"), "no JSON error");
    let after = app
        .get(
            &format!("/api/v1/admin/caseworkers?municipality={HELSINGBORG}"),
            Some(&federation_token),
        )
        .await;
    assert_eq!(before.body, after.body, "nobody was added");

    let other = get(
        &client,
        &app,
        &format!("/admin/caseworkers/{HELSINGBORG_STAFF}"),
    )
    .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    assert!(other.html.contains("id=\"refusal\""));
    let closed = post(
        &client,
        &app,
        &format!("/admin/caseworkers/{HELSINGBORG_STAFF}/deactivate"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(closed.status, StatusCode::FORBIDDEN);
    assert_eq!(
        api_caseworker(&app, &federation_token, HELSINGBORG_STAFF).await["active"],
        true
    );

    // Their own municipality: the emergency number, not the name (the federation's).
    let own = get(&client, &app, "/admin/municipalities/1275").await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.html);
    assert!(own.html.contains("id=\"socialjour_phone\""));
    assert!(!own.html.contains("id=\"population\""));
    assert!(!own.html.contains("/remove\""));
    let saved = post(
        &client,
        &app,
        "/admin/municipalities/1275",
        &[("csrf", &csrf), ("socialjour_phone", "0435-123 45")],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let stored = app
        .get("/api/v1/admin/municipalities/1275", Some(&federation_token))
        .await;
    assert_eq!(stored.body["socialjour_phone"], "0435-123 45");
    assert_eq!(stored.body["name"], "Perstorp", "kept");
    let elsewhere = post(
        &client,
        &app,
        "/admin/municipalities/1283",
        &[("csrf", &csrf), ("socialjour_phone", "042-10 00 00")],
    )
    .await;
    assert_eq!(
        elsewhere.status,
        StatusCode::FORBIDDEN,
        "{}",
        elsewhere.html
    );
    assert!(elsewhere.html.contains("id=\"refusal\""));

    let agreements = get(&client, &app, "/admin/agreements").await;
    assert_eq!(agreements.status, StatusCode::OK);
    assert!(agreements.html.contains("id=\"federation-only\""));
    assert!(!agreements.html.contains("action=\"/admin/agreements\""));
}

/// An agreement drafted by one federation administrator cannot be signed by them (four eyes,
/// said in words, nothing in force); the second signs it into force. A new version shows what
/// it changed; ending takes one administrator.
async fn agreements_need_a_second_pair_of_eyes(backend: Backend) {
    let app = spawn(backend).await;
    let (first, token) = federation_admin(&app, 1).await;
    let (second, _) = federation_admin(&app, 2).await;
    let today = app.ctx.clock.today();
    let from = (today - chrono::Days::new(2)).to_string();
    let to = (today + chrono::Days::new(365)).to_string();

    let list = get(&first, &app, "/admin/agreements").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.html);
    assert!(
        list.html
            .contains("href=\"/admin/agreements/fh-rad-och-stod-2026\"")
    );
    let csrf = list.csrf();

    let lonely = post(
        &first,
        &app,
        "/admin/agreements",
        &[
            ("csrf", &csrf),
            ("id", "test-avtal"),
            ("members", PERSTORP),
            ("categories", "ekonomi"),
            ("valid_from", &from),
            ("valid_to", &to),
        ],
    )
    .await;
    assert_eq!(lonely.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        lonely
            .error_summary()
            .expect("an error summary")
            .contains("href=\"#members\"")
    );

    let drafted = post(
        &first,
        &app,
        "/admin/agreements",
        &[
            ("csrf", &csrf),
            ("id", "test-avtal"),
            ("members", PERSTORP),
            ("members", HELSINGBORG),
            ("categories", "ekonomi"),
            ("valid_from", &from),
            ("valid_to", &to),
            ("note", "Prov av sidorna."),
        ],
    )
    .await;
    assert_eq!(drafted.status, StatusCode::SEE_OTHER, "{}", drafted.html);
    assert_eq!(
        drafted.location(),
        "/admin/agreements/test-avtal?done=agreement_drafted"
    );
    let page = get(&first, &app, "/admin/agreements/test-avtal").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("data-standing=\"draft\""));
    assert!(
        page.html.contains("id=\"own-draft\""),
        "the author is told why not"
    );
    assert!(!page.html.contains("id=\"sign-button\""));

    let own = post(
        &first,
        &app,
        "/admin/agreements/test-avtal/versions/1/sign",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "{}", own.html);
    assert!(own.html.contains("id=\"refusal\""));
    assert!(own.html.contains("fyra ögon"), "{}", own.html);
    let record = app
        .get("/api/v1/admin/agreements/test-avtal", Some(&token))
        .await;
    assert!(record.body["in_force"].is_null(), "{}", record.body);

    let page = get(&second, &app, "/admin/agreements/test-avtal").await;
    assert!(
        page.html
            .contains("action=\"/admin/agreements/test-avtal/versions/1/sign\"")
    );
    let csrf2 = page.csrf();
    let signed = post(
        &second,
        &app,
        "/admin/agreements/test-avtal/versions/1/sign",
        &[("csrf", &csrf2)],
    )
    .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.html);
    let record = app
        .get("/api/v1/admin/agreements/test-avtal", Some(&token))
        .await;
    assert_eq!(
        record.body["in_force"]["id"], "test-avtal",
        "{}",
        record.body
    );
    assert_eq!(
        record.body["versions"][0]["signed_by"],
        "admin:demo-admin-federation-2"
    );
    let page = get(&second, &app, "/admin/agreements/test-avtal").await;
    assert!(
        page.html.contains("data-standing=\"in_force\""),
        "{}",
        page.html
    );
    assert!(page.html.contains("Prov av sidorna."), "the note");

    // A new version: the one in force holds until it is signed; the history says what changed.
    let redrafted = post(
        &second,
        &app,
        "/admin/agreements/test-avtal",
        &[
            ("csrf", &csrf2),
            ("members", PERSTORP),
            ("members", HELSINGBORG),
            ("categories", "ekonomi"),
            ("categories", "familj"),
            ("valid_from", &from),
            ("valid_to", &to),
        ],
    )
    .await;
    assert_eq!(
        redrafted.status,
        StatusCode::SEE_OTHER,
        "{}",
        redrafted.html
    );
    let page = get(&first, &app, "/admin/agreements/test-avtal").await;
    assert!(page.html.contains("data-version=\"2\""));
    assert!(
        page.html.contains("Nya områden: Familj och relationer."),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("data-standing=\"in_force\""),
        "version 1 holds"
    );
    assert!(
        page.html
            .contains("action=\"/admin/agreements/test-avtal/versions/2/sign\""),
        "the other administrator may sign version 2"
    );

    let ended = post(
        &first,
        &app,
        "/admin/agreements/test-avtal/end",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER, "{}", ended.html);
    let page = get(&first, &app, "/admin/agreements/test-avtal").await;
    assert!(
        page.html.contains("data-standing=\"ended\""),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("Avtalet avslutades."),
        "the ending, in words"
    );
}

/// Municipalities and categories: what is still in use cannot be removed (409 in words); a
/// category without its Swedish name is the form again. Nobody logged in gets the login page,
/// a caseworker the 403 page, a form without its CSRF token 403; the pages speak English too.
async fn config_pages_refuse_in_words_and_keep_strangers_out(backend: Backend) {
    let app = spawn(backend).await;
    let (client, token) = federation_admin(&app, 1).await;

    let municipalities = get(&client, &app, "/admin/municipalities").await;
    assert_eq!(
        municipalities.status,
        StatusCode::OK,
        "{}",
        municipalities.html
    );
    assert!(
        municipalities
            .html
            .contains("href=\"/admin/municipalities/1275\"")
    );
    let csrf = municipalities.csrf();
    let in_use = post(
        &client,
        &app,
        "/admin/municipalities/1275/remove",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(in_use.status, StatusCode::CONFLICT, "{}", in_use.html);
    assert!(in_use.html.contains("id=\"refusal\""));

    let categories = get(&client, &app, "/admin/categories").await;
    assert_eq!(categories.status, StatusCode::OK, "{}", categories.html);
    assert!(
        categories
            .html
            .contains("href=\"/admin/categories/oro_barn\"")
    );
    let unnamed = post(
        &client,
        &app,
        "/admin/categories",
        &[
            ("csrf", &csrf),
            ("id", "boende"),
            ("kind", "service"),
            ("sv", " "),
            ("en", "Housing"),
            ("record_identity", "true"),
        ],
    )
    .await;
    assert_eq!(unnamed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unnamed
            .error_summary()
            .expect("summary")
            .contains("href=\"#sv\"")
    );
    let added = post(
        &client,
        &app,
        "/admin/categories",
        &[
            ("csrf", &csrf),
            ("id", "boende"),
            ("kind", "service"),
            ("sv", "Boende"),
            ("en", "Housing"),
            ("record_identity", "true"),
        ],
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    assert_eq!(
        added.location(),
        "/admin/categories/boende?done=category_added"
    );
    let stored = app
        .get("/api/v1/admin/categories/boende", Some(&token))
        .await;
    assert_eq!(stored.body["sv"], "Boende");
    let still_used = post(
        &client,
        &app,
        "/admin/categories/ekonomi/remove",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(
        still_used.status,
        StatusCode::CONFLICT,
        "{}",
        still_used.html
    );
    assert!(still_used.html.contains("id=\"refusal\""));
    let removed = post(
        &client,
        &app,
        "/admin/categories/boende/remove",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.html);

    // No token: refused before anything is read or changed.
    let forged = post(
        &client,
        &app,
        "/admin/caseworkers",
        &[
            ("name", "Utan Token"),
            ("municipality", PERSTORP),
            ("capacity", "2"),
        ],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.html.contains("data-code=\"csrf\""));

    let english = get(&client, &app, "/admin/agreements?lang=en").await;
    assert_eq!(english.status, StatusCode::SEE_OTHER);
    let english = get(&client, &app, "/admin/agreements").await;
    assert!(english.html.contains("lang=\"en\""));
    assert!(
        english.html.contains("Write a new agreement"),
        "{}",
        english.html
    );

    let stranger = browser();
    let login = get(&stranger, &app, "/admin/caseworkers").await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    assert!(login.html.contains("data-code=\"login_needed\""));

    let caseworker = browser();
    browser_login(
        &app,
        &caseworker,
        json!({"role": "caseworker", "caseworker_id": HELSINGBORG_STAFF}),
    )
    .await;
    for path in [
        "/admin/caseworkers",
        "/admin/agreements/fh-rad-och-stod-2026",
    ] {
        let refused = get(&caseworker, &app, path).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        assert!(refused.html.contains("data-code=\"forbidden\""), "{path}");
    }
}

on_both_backends!(
    caseworkers_are_added_changed_and_deactivated_by_forms,
    a_municipality_admin_keeps_to_their_own,
    agreements_need_a_second_pair_of_eyes,
    config_pages_refuse_in_words_and_keep_strangers_out,
);
