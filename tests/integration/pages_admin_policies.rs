//! The administrators' pages for routing settings and policies (issue 22, points 5 and 6),
//! through a browser's eyes, on both databases: the routing form (and who has none), the
//! policy editor with its errors at their lines, storing a version and its activation by a
//! second administrator, the impact report, the simulation form, and who gets no page.

use reqwest::StatusCode;
use serde_json::json;

use crate::ANNA;
use crate::harness::{
    Backend, TestApp, browser, browser_login, page_get as get, page_post as post, spawn,
};

const FEDERATION_ADMIN: &str = "demo-admin-federation-1";
const SECOND_FEDERATION_ADMIN: &str = "demo-admin-federation-2";
const PERSTORP_ADMIN: &str = "demo-admin-1275";

async fn admin(app: &TestApp, id: &str) -> reqwest::Client {
    let client = browser();
    browser_login(app, &client, json!({"role": "admin", "admin_id": id})).await;
    client
}

/// A category's settings as the API answers them.
async fn api_routing(app: &TestApp, category: &str) -> serde_json::Value {
    let token = app.login(json!({"role": "admin"})).await;
    let answer = app.get("/api/v1/admin/routing", Some(&token)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .find(|c| c["category"] == category)
        .expect("the category")
        .clone()
}

async fn active_version(app: &TestApp) -> i64 {
    let token = app.login(json!({"role": "admin"})).await;
    let listing = app.get("/api/v1/admin/policies", Some(&token)).await;
    assert_eq!(listing.status, StatusCode::OK, "{}", listing.body);
    listing.body["active"].as_i64().expect("active")
}

/// The shipped policies with a harmless change: valid, passing every test.
fn reviewed_policies() -> String {
    format!(
        "{}\n// Reviewed on the pages.\n",
        brygga::policy::engine::default_text()
    )
}

/// A federation administrator changes a category's routing with its form; the API sees the
/// change. Wrong values come back with the error summary linking the fields, and the form
/// keeps what was typed.
async fn the_routing_form_changes_a_setting(backend: Backend) {
    let app = spawn(backend).await;
    let client = admin(&app, FEDERATION_ADMIN).await;
    let page = get(&client, &app, "/admin/routing").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("action=\"/admin/routing\""));
    assert!(page.html.contains("id=\"ekonomi-ring0\""));
    assert!(
        page.html.contains("id=\"help-ring0\""),
        "the settings explained"
    );
    assert!(page.html.contains("aria-current=\"page\""));
    assert!(page.html.contains("30 minuter"), "seconds in words");
    let csrf = page.csrf();

    let saved = post(
        &client,
        &app,
        "/admin/routing",
        &[
            ("csrf", &csrf),
            ("category", "ekonomi"),
            ("mode", "push"),
            ("ring0_timeout", "900"),
            ("ring1_timeout", "2700"),
            ("offer_timeout", "90"),
            ("fair_share_per_10k", "1,5"),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    assert_eq!(saved.location(), "/admin/routing?done=routing_saved");
    let stored = api_routing(&app, "ekonomi").await;
    assert_eq!(stored["mode"], "push");
    assert_eq!(stored["ring_timeouts"], json!([900, 2700]));
    assert_eq!(stored["offer_timeout"], 90);
    assert_eq!(stored["fair_share_per_10k"], 1.5);
    let confirmed = get(&client, &app, "/admin/routing?done=routing_saved").await;
    assert!(confirmed.html.contains("id=\"done\""), "{}", confirmed.html);
    assert!(confirmed.html.contains("15 minuter"));

    let wrong = post(
        &client,
        &app,
        "/admin/routing",
        &[
            ("csrf", &csrf),
            ("category", "ekonomi"),
            ("ring0_timeout", "en halvtimme"),
            ("ring1_timeout", "3600"),
            ("offer_timeout", "0"),
            ("fair_share_per_10k", ""),
        ],
    )
    .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.html
    );
    assert!(wrong.title().starts_with("Fel: "), "{}", wrong.title());
    let summary = wrong.error_summary().expect("an error summary");
    for field in ["#ekonomi-mode", "#ekonomi-ring0", "#ekonomi-offer"] {
        assert!(summary.contains(&format!("href=\"{field}\"")), "{summary}");
    }
    assert!(!summary.contains("#ekonomi-ring1"), "{summary}");
    assert!(
        wrong.html.contains("value=\"en halvtimme\""),
        "kept as typed"
    );
    assert!(wrong.html.contains("aria-invalid=\"true\""));
    assert_eq!(
        api_routing(&app, "ekonomi").await["offer_timeout"],
        90,
        "nothing stored"
    );

    let forged = post(
        &client,
        &app,
        "/admin/routing",
        &[
            ("category", "ekonomi"),
            ("mode", "pull"),
            ("ring0_timeout", "900"),
            ("ring1_timeout", "2700"),
            ("offer_timeout", "90"),
        ],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.html.contains("data-code=\"csrf\""));
    assert_eq!(api_routing(&app, "ekonomi").await["mode"], "push");

    // The same page in English.
    let switched = get(&client, &app, "/admin/routing?lang=en").await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    let english = get(&client, &app, "/admin/routing").await;
    assert!(english.html.contains("<html lang=\"en\""));
    assert!(english.html.contains("How cases are routed"));
    assert!(
        english.html.contains("Now: 15 minutes."),
        "{}",
        english.html
    );
}

/// A municipality administrator reads the settings (a table, no form, told why); a post is
/// refused by the workflow, in words, and changes nothing.
async fn a_municipality_administrator_reads_routing_only(backend: Backend) {
    let app = spawn(backend).await;
    let client = admin(&app, PERSTORP_ADMIN).await;
    let page = get(&client, &app, "/admin/routing").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(!page.html.contains("action=\"/admin/routing\""), "no form");
    assert!(page.html.contains("id=\"read-only\""));
    assert!(
        page.html.contains("<th scope=\"row\">"),
        "the settings in a table"
    );
    let csrf = page.csrf();
    let refused = post(
        &client,
        &app,
        "/admin/routing",
        &[
            ("csrf", &csrf),
            ("category", "ekonomi"),
            ("mode", "push"),
            ("ring0_timeout", "900"),
            ("ring1_timeout", "2700"),
            ("offer_timeout", "90"),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    assert!(refused.html.contains("id=\"refusal\""), "{}", refused.html);
    assert_eq!(api_routing(&app, "ekonomi").await["mode"], "pull");
    // Even nonsense is refused as such, not corrected on a form they do not have.
    let nonsense = post(
        &client,
        &app,
        "/admin/routing",
        &[("csrf", &csrf), ("category", "ekonomi")],
    )
    .await;
    assert_eq!(nonsense.status, StatusCode::FORBIDDEN);
    assert!(nonsense.error_summary().is_none());
}

/// The editor: a syntax error comes back (422) with its line in the summary, linking to the
/// marked line of the numbered listing, and the text as typed; so does a broken test file;
/// an empty text is asked for.
async fn the_policy_editor_shows_errors_at_their_line(backend: Backend) {
    let app = spawn(backend).await;
    let client = admin(&app, FEDERATION_ADMIN).await;
    let overview = get(&client, &app, "/admin/policies").await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.html);
    assert!(overview.html.contains("href=\"/admin/policies/new\""));
    assert!(
        overview.html.contains("href=\"/work/rules#R5\""),
        "policy ids linked to their rule"
    );
    assert!(overview.html.contains("id=\"version-1\""));

    let editor = get(&client, &app, "/admin/policies/new").await;
    assert_eq!(editor.status, StatusCode::OK, "{}", editor.html);
    assert!(editor.html.contains("<textarea id=\"text\" name=\"text\""));
    assert!(
        editor.html.contains("R5-agreement-service"),
        "prefilled with the active text"
    );
    let csrf = editor.csrf();

    let broken = "@id(\"a\")\nforbid (principal, action, resource);\n\n@id(\"b\")\npermit (principal, action resource);\n";
    let refused = post(
        &client,
        &app,
        "/admin/policies",
        &[("csrf", &csrf), ("text", broken), ("tests", "")],
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.html
    );
    let summary = refused.error_summary().expect("an error summary");
    assert!(summary.contains("href=\"#line-5\""), "{summary}");
    assert!(summary.contains("Rad 5, tecken"), "{summary}");
    assert!(
        refused.html.contains("id=\"line-5\" class=\"problem\""),
        "the line is marked in the listing"
    );
    assert!(refused.html.contains("Fel på rad 5:"));
    assert!(
        refused
            .html
            .contains("permit (principal, action resource);\n</textarea>"),
        "the text kept as typed"
    );

    // The API says the same, with the places beside its sentences.
    let token = app.login(json!({"role": "admin"})).await;
    let api = app
        .post(
            "/api/v1/admin/policies",
            Some(&token),
            json!({"text": broken}),
        )
        .await;
    api.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "policy_invalid");
    assert!(
        api.body["errors"][0]
            .as_str()
            .expect("a sentence")
            .starts_with("parse: ")
    );
    assert_eq!(api.body["at"][0]["in"], "policies", "{}", api.body);
    assert_eq!(api.body["at"][0]["line"], 5, "{}", api.body);

    let bad_tests = post(
        &client,
        &app,
        "/admin/policies",
        &[
            ("csrf", &csrf),
            ("text", &reviewed_policies()),
            ("tests", "# mine\n[[test]]\nrule = 5\n"),
        ],
    )
    .await;
    assert_eq!(bad_tests.status, StatusCode::UNPROCESSABLE_ENTITY);
    let summary = bad_tests.error_summary().expect("an error summary");
    assert!(summary.contains("href=\"#tests-line-3\""), "{summary}");
    assert!(bad_tests.html.contains("id=\"tests-line-3\""));

    let empty = post(
        &client,
        &app,
        "/admin/policies",
        &[("csrf", &csrf), ("text", "  \r\n")],
    )
    .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        empty
            .error_summary()
            .expect("summary")
            .contains("href=\"#text\"")
    );
    assert_eq!(active_version(&app).await, 1, "nothing stored");
}

/// A valid version is stored by one federation administrator, who may not activate it (four
/// eyes, said in words); its impact report is shown; a second administrator activates it.
async fn a_second_administrator_activates_a_new_version(backend: Backend) {
    let app = spawn(backend).await;
    let author = admin(&app, FEDERATION_ADMIN).await;
    let csrf = get(&author, &app, "/admin/policies/new").await.csrf();
    let stored = post(
        &author,
        &app,
        "/admin/policies",
        &[
            ("csrf", &csrf),
            ("text", &reviewed_policies()),
            ("tests", ""),
        ],
    )
    .await;
    assert_eq!(stored.status, StatusCode::SEE_OTHER, "{}", stored.html);
    assert_eq!(stored.location(), "/admin/policies?done=policy_stored");
    let listed = get(&author, &app, "/admin/policies?done=policy_stored").await;
    assert!(listed.html.contains("id=\"done\""));
    assert!(listed.html.contains("id=\"version-2\""));
    assert!(
        listed
            .html
            .contains("En annan förbundsadministratör behöver aktivera den"),
        "the author is told a second administrator activates"
    );

    let own = post(
        &author,
        &app,
        "/admin/policies/2/activate",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "{}", own.html);
    assert!(own.html.contains("id=\"refusal\""));
    assert!(
        own.html
            .contains("En annan förbundsadministratör behöver aktivera den"),
        "{}",
        own.html
    );
    assert_eq!(active_version(&app).await, 1);

    let second = admin(&app, SECOND_FEDERATION_ADMIN).await;
    let intro = get(&second, &app, "/admin/policies/2/impact").await;
    assert_eq!(intro.status, StatusCode::OK, "{}", intro.html);
    assert!(intro.html.contains("action=\"/admin/policies/2/impact\""));
    assert!(
        !intro.html.contains("id=\"report\""),
        "a GET replays nothing"
    );
    let csrf = intro.csrf();
    let report = post(
        &second,
        &app,
        "/admin/policies/2/impact",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.html);
    assert!(report.html.contains("id=\"report\""));
    assert!(
        report.html.contains("id=\"no-change\""),
        "a comment changes nothing"
    );
    assert!(
        report
            .html
            .contains("action=\"/admin/policies/2/activate\"")
    );
    let missing = get(&second, &app, "/admin/policies/99/impact").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let activated = post(
        &second,
        &app,
        "/admin/policies/2/activate",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(
        activated.status,
        StatusCode::SEE_OTHER,
        "{}",
        activated.html
    );
    assert_eq!(
        activated.location(),
        "/admin/policies?done=policy_activated"
    );
    assert_eq!(active_version(&app).await, 2);
    let now = get(&second, &app, "/admin/policies").await;
    assert!(now.html.contains("Version 2 gäller nu"), "{}", now.html);

    // A municipality's administrator reads but has no editor.
    let local = admin(&app, PERSTORP_ADMIN).await;
    let editor = get(&local, &app, "/admin/policies/new").await;
    assert_eq!(editor.status, StatusCode::OK);
    assert!(!editor.html.contains("<textarea"));
    assert!(editor.html.contains("id=\"read-only\""));
    let refused = post(
        &local,
        &app,
        "/admin/policies",
        &[("csrf", &editor.csrf()), ("text", &reviewed_policies())],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    assert!(refused.html.contains("id=\"refusal\""));
}

/// The impact report names what would change, in words, with the rules behind it: a version
/// (stored as it stands, for the replay only) without the home staff's R4 permit would take
/// a Perstorp request out of Perstorp's caseworkers' sight.
async fn the_impact_report_shows_changed_decisions(backend: Backend) {
    let app = spawn(backend).await;
    let citizen = app.citizen(ANNA, "1275").await;
    let asked = app
        .post(
            "/api/v1/requests",
            Some(&citizen),
            json!({"category": "ekonomi", "language": "sv", "text": "Jag behöver råd.",
                   "consent": {"cross_municipality": false}}),
        )
        .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
    let shipped = brygga::policy::engine::default_text();
    let home_staff = "when { principal.municipality == resource.home };";
    let at = shipped
        .find("@id(\"R4-home-staff\")")
        .expect("R4-home-staff");
    let end = at + shipped[at..].find(home_staff).expect("its condition") + home_staff.len();
    let without = format!(
        "{}when {{ principal.municipality == resource.home && false }};{}",
        &shipped[..end - home_staff.len()],
        &shipped[end..]
    );
    let version = app
        .store
        .insert_policy_version(
            &without,
            &brygga::policy::testing::default_text(),
            "admin:demo-admin-federation-2",
            chrono::Utc::now(),
            false,
            None,
        )
        .await
        .expect("stored");

    let client = admin(&app, FEDERATION_ADMIN).await;
    let path = format!("/admin/policies/{version}/impact");
    let csrf = get(&client, &app, &path).await.csrf();
    let report = post(&client, &app, &path, &[("csrf", &csrf)]).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.html);
    assert!(!report.html.contains("id=\"no-change\""), "{}", report.html);
    assert!(report.html.contains("R4-home-staff"), "the rule behind it");
    assert!(
        report
            .html
            .contains("Får en handläggare i hemkommunen i Perstorp se ärendets uppgifter"),
        "{}",
        report.html
    );
    assert!(report.html.contains("<td>Tillåts"), "{}", report.html);
    assert!(report.html.contains("<td>Nekas"), "{}", report.html);
    // Not the author: this administrator may activate it from here.
    assert!(
        report
            .html
            .contains(&format!("action=\"/admin/policies/{version}/activate\""))
    );
}

/// The simulation form: a Perstorp caseworker viewing a Perstorp request is allowed, by rules
/// linked to their explanations, and the ring plan starts at home; mistakes are pointed at.
async fn the_simulation_form_answers_with_the_ring_plan(backend: Backend) {
    let app = spawn(backend).await;
    let client = admin(&app, PERSTORP_ADMIN).await;
    let form = get(&client, &app, "/admin/policies/simulate").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    assert!(form.html.contains("action=\"/admin/policies/simulate\""));
    assert!(form.html.contains("<legend>"));
    let csrf = form.csrf();
    let request = |role: &'static str, municipality: &'static str, age: &'static str| {
        vec![
            ("category", "ekonomi"),
            ("language", "sv"),
            ("home", "1275"),
            ("protection", "none"),
            ("loa", "loa3"),
            ("age", age),
            ("role", role),
            ("municipality", municipality),
            ("action", "view"),
            ("version", ""),
        ]
    };
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend(request("caseworker", "1275", "34"));
    let answered = post(&client, &app, "/admin/policies/simulate", &fields).await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.html);
    assert!(
        answered.html.contains("data-decision=\"allow\""),
        "{}",
        answered.html
    );
    assert!(
        answered.html.contains("href=\"/work/rules#R"),
        "deciding rules linked"
    );
    assert!(
        answered.html.contains("Ring 0: Perstorp"),
        "{}",
        answered.html
    );
    assert!(
        answered.html.contains("value=\"34\""),
        "the form keeps its values"
    );

    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend(request("caseworker", "", "trettio"));
    let wrong = post(&client, &app, "/admin/policies/simulate", &fields).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong
            .error_summary()
            .expect("summary")
            .contains("href=\"#age\"")
    );
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend(request("caseworker", "", ""));
    let nobody = post(&client, &app, "/admin/policies/simulate", &fields).await;
    assert_eq!(
        nobody.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        nobody.html
    );
    assert!(
        nobody
            .error_summary()
            .expect("summary")
            .contains("href=\"#municipality\"")
    );
}

/// Caseworkers and citizens get the 403 page, visitors the login page (401), a form without
/// its CSRF token 403.
async fn others_get_no_routing_or_policy_pages(backend: Backend) {
    let app = spawn(backend).await;
    let paths = [
        "/admin/routing",
        "/admin/policies",
        "/admin/policies/new",
        "/admin/policies/simulate",
        "/admin/policies/1/impact",
    ];
    let caseworker = browser();
    browser_login(
        &app,
        &caseworker,
        json!({"role": "caseworker", "caseworker_id": "1275-01"}),
    )
    .await;
    let citizen = browser();
    browser_login(
        &app,
        &citizen,
        json!({"role": "citizen", "personnummer": ANNA, "municipality": "1275"}),
    )
    .await;
    let visitor = browser();
    for path in paths {
        for (who, status) in [
            (&caseworker, StatusCode::FORBIDDEN),
            (&citizen, StatusCode::FORBIDDEN),
            (&visitor, StatusCode::UNAUTHORIZED),
        ] {
            let page = get(who, &app, path).await;
            assert_eq!(page.status, status, "{path}");
            assert!(page.html.contains("<html"), "an error page for {path}");
        }
    }
    let client = admin(&app, FEDERATION_ADMIN).await;
    get(&client, &app, "/admin/policies").await;
    for path in [
        "/admin/policies/simulate",
        "/admin/policies/1/activate",
        "/admin/policies/1/impact",
        "/admin/policies",
    ] {
        let forged = post(&client, &app, path, &[("text", "x")]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{path}");
        assert!(forged.html.contains("data-code=\"csrf\""), "{path}");
    }
}

on_both_backends!(
    the_routing_form_changes_a_setting,
    a_municipality_administrator_reads_routing_only,
    the_policy_editor_shows_errors_at_their_line,
    a_second_administrator_activates_a_new_version,
    the_impact_report_shows_changed_decisions,
    the_simulation_form_answers_with_the_ring_plan,
    others_get_no_routing_or_policy_pages,
);
