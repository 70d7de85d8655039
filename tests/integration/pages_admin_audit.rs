//! The administrators' audit pages and live figures (issue 22, point 7), on both databases:
//! the search by case, actor and time; chain verification; the follow-up report and its CSV;
//! a case's routing told in words; `/admin/stats` and `GET /api/v1/admin/stats`; and who gets
//! none of them.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{
    Backend, TestApp, browser, browser_login, page_get as get, page_post as post, spawn,
};
use crate::{ANNA, submit_with};

const FEDERATION_ADMIN: &str = "demo-admin-federation-1";
const PERSTORP_ADMIN: &str = "demo-admin-1275";
const HELSINGBORG_ADMIN: &str = "demo-admin-1283";
/// Speaks Arabic and handles every kind of case (the demo's Helsingborg generalist).
const HELSINGBORG_STAFF: &str = "1283-01";

async fn admin(app: &TestApp, id: &str) -> reqwest::Client {
    let client = browser();
    browser_login(app, &client, json!({"role": "admin", "admin_id": id})).await;
    client
}

/// A Perstorp citizen's request for budget advice in Arabic, consenting to the partners:
/// nobody in Perstorp speaks Arabic, so it opens to the agreement partners at once.
async fn arabic_request(app: &TestApp) -> String {
    let citizen = app.citizen(ANNA, "1275").await;
    let submitted = submit_with(app, &citizen, "ekonomi", "ar", true).await;
    assert_eq!(submitted["ring"], 1, "{submitted}");
    submitted["id"].as_str().expect("id").to_owned()
}

/// A Perstorp request for Perstorp only, which a Helsingborg caseworker then tries to read:
/// refused, and recorded on Perstorp's chain.
async fn refused_attempt(app: &TestApp) -> String {
    let citizen = app.citizen(&crate::person(3), "1275").await;
    let id = submit_with(app, &citizen, "ekonomi", "sv", false).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let partner = app.caseworker(HELSINGBORG_STAFF).await;
    let refused = app
        .get(&format!("/api/v1/cases/{id}"), Some(&partner))
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    id
}

fn today() -> String {
    brygga::clock::local_date(chrono::Utc::now())
        .format("%Y-%m-%d")
        .to_string()
}

/// After a submission, a claim and a refused attempt, the search finds them by case and by
/// actor; a period ending before them finds nothing; wrong fields are said (422); another
/// municipality's chain is refused in words (403); the chains verify unbroken.
async fn the_trail_is_searched_and_verified(backend: Backend) {
    let app = spawn(backend).await;
    let id = arabic_request(&app).await;
    let staff = app.caseworker(HELSINGBORG_STAFF).await;
    let claimed = app
        .post(
            &format!("/api/v1/cases/{id}/claim"),
            Some(&staff),
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    let other = refused_attempt(&app).await;
    let client = admin(&app, FEDERATION_ADMIN).await;

    let form = get(&client, &app, "/admin/audit").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    assert!(form.html.contains("aria-current=\"page\""));
    assert!(
        form.html.contains("id=\"municipality\""),
        "chains to choose"
    );
    assert!(!form.html.contains("id=\"results\""), "no search yet");

    let by_case = get(
        &client,
        &app,
        &format!("/admin/audit?case={id}&actor=&municipality=&from=&to=&limit="),
    )
    .await;
    assert_eq!(by_case.status, StatusCode::OK, "{}", by_case.html);
    assert!(
        by_case.html.contains("Skickade in en förfrågan"),
        "{}",
        by_case.html
    );
    assert!(by_case.html.contains("Tog ärendet"));
    assert!(
        by_case
            .html
            .contains(&format!("href=\"/admin/audit/cases/{id}\""))
    );
    assert!(!by_case.html.contains(&other), "only the case asked for");

    let by_actor = get(
        &client,
        &app,
        &format!(
            "/admin/audit?actor=caseworker:{HELSINGBORG_STAFF}&from={}&to={}",
            today(),
            today()
        ),
    )
    .await;
    assert_eq!(by_actor.status, StatusCode::OK, "{}", by_actor.html);
    assert!(by_actor.html.contains("Tog ärendet"), "{}", by_actor.html);
    assert!(by_actor.html.contains("Nekades"), "the refused attempt");
    assert!(by_actor.html.contains(&other));
    assert!(
        !by_actor.html.contains("Skickade in en förfrågan"),
        "the citizen's"
    );

    let before = get(&client, &app, "/admin/audit?to=2020-01-01").await;
    assert_eq!(before.status, StatusCode::OK);
    assert!(
        before
            .html
            .contains("Inga händelser stämmer med sökningen.")
    );

    let bad = get(&client, &app, "/admin/audit?case=&from=2026-13-45&limit=0").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let summary = bad.error_summary().expect("an error summary");
    assert!(summary.contains("href=\"#from\""), "{summary}");
    assert!(summary.contains("href=\"#limit\""), "{summary}");
    assert!(bad.title().starts_with("Fel: "));
    assert!(bad.html.contains("aria-invalid=\"true\""));
    let backwards = get(&client, &app, "/admin/audit?from=2026-03-02&to=2026-03-01").await;
    assert_eq!(backwards.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        backwards
            .error_summary()
            .is_some_and(|s| s.contains("href=\"#to\""))
    );
    let malformed = get(&client, &app, "/admin/audit?case=a%2Fb").await;
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);

    let csrf = form.csrf();
    let verified = post(&client, &app, "/admin/audit/verify", &[("csrf", &csrf)]).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.html);
    assert!(
        verified.html.contains("Loggen är obruten:"),
        "{}",
        verified.html
    );
    let forged = post(&client, &app, "/admin/audit/verify", &[("csrf", "x")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.html.contains("data-code=\"csrf\""));

    // A municipality's administrator searches their own chain; another's is refused in words.
    let perstorp = admin(&app, PERSTORP_ADMIN).await;
    let own = get(&perstorp, &app, &format!("/admin/audit?case={other}")).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.html);
    assert!(own.html.contains("Du söker i loggen för Perstorp."));
    assert!(
        !own.html.contains("id=\"municipality\""),
        "no chains to choose"
    );
    assert!(own.html.contains("Nekades"), "{}", own.html);
    let theirs = get(&perstorp, &app, "/admin/audit?municipality=1283").await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN, "{}", theirs.html);
    assert!(theirs.html.contains("id=\"refusal\""), "{}", theirs.html);
    assert!(
        theirs
            .html
            .contains("<form method=\"get\" action=\"/admin/audit\"")
    );
}

/// The case page tells how the Arabic request was routed, in Swedish and in English, beside
/// its events; another municipality's administrator gets the 404 page.
async fn the_case_page_tells_the_routing(backend: Backend) {
    let app = spawn(backend).await;
    let id = arabic_request(&app).await;
    let path = format!("/admin/audit/cases/{id}");
    let client = admin(&app, FEDERATION_ADMIN).await;
    let case = get(&client, &app, &path).await;
    assert_eq!(case.status, StatusCode::OK, "{}", case.html);
    for said in [
        "Förfrågan kom in och fördelades",
        "Hemkommun: Perstorp, där invånaren är folkbokförd.",
        "Perstorp hade ingen ledig handläggare som talar arabiska.",
        "enligt avtalet fh-rad-och-stod-2026; invånaren hade samtyckt.",
        "Handläggare som kunde ta ärendet: Helsingborg",
        "Ingen kunde ta ärendet i de närmaste kommunerna",
    ] {
        assert!(case.html.contains(said), "{said}: {}", case.html);
    }
    assert!(
        case.html.contains("href=\"/work/rules#R5\""),
        "rules linked"
    );
    assert!(case.html.contains("Skickade in en förfrågan"), "the events");

    let home = admin(&app, PERSTORP_ADMIN).await;
    assert_eq!(get(&home, &app, &path).await.status, StatusCode::OK);
    let english = get(&home, &app, &format!("{path}?lang=en")).await;
    assert_eq!(english.status, StatusCode::SEE_OTHER);
    let english = get(&home, &app, &path).await;
    assert!(
        english
            .html
            .contains("Perstorp had no caseworker free who speaks Arabic."),
        "{}",
        english.html
    );
    assert!(
        english
            .html
            .contains("under the agreement fh-rad-och-stod-2026")
    );

    let stranger = admin(&app, HELSINGBORG_ADMIN).await;
    let hidden = get(&stranger, &app, &path).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.html);
    assert!(!hidden.html.contains("Perstorp hade"));
    let unknown = get(&client, &app, "/admin/audit/cases/no-such-case").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

/// The follow-up report shows its sections with the refused attempt and the case opened by
/// someone who never had it; its CSV downloads as an attachment with the API's columns.
async fn the_follow_up_report_and_its_csv(backend: Backend) {
    let app = spawn(backend).await;
    let id = refused_attempt(&app).await;
    let colleague = app.caseworker("1275-02").await;
    let opened = app
        .get(&format!("/api/v1/cases/{id}"), Some(&colleague))
        .await;
    assert_eq!(opened.status, StatusCode::OK);
    let client = admin(&app, PERSTORP_ADMIN).await;

    let report = get(&client, &app, "/admin/audit/follow-up").await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.html);
    for section in [
        "id=\"access_denied\"",
        "id=\"opened_without_having_it\"",
        "id=\"protected_identity\"",
    ] {
        assert!(report.html.contains(section), "{section}");
    }
    let denied = report
        .html
        .split("id=\"access_denied\"")
        .nth(1)
        .and_then(|s| s.split("id=\"opened_without_having_it\"").next())
        .expect("the refused attempts");
    assert!(denied.contains("caseworker:1283-01"), "{denied}");
    assert!(report.html.contains("caseworker:1275-02"));
    let today = today();
    assert!(
        report
            .html
            .contains("href=\"/admin/audit/follow-up.csv?from="),
        "{}",
        report.html
    );
    assert!(report.html.contains("Ladda ned som CSV"));

    let csv = client
        .get(format!(
            "{}/admin/audit/follow-up.csv?from={today}&to={today}",
            app.base
        ))
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), StatusCode::OK);
    let header = |name: &str| {
        csv.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header("content-type").starts_with("text/csv"));
    assert!(
        header("content-disposition").starts_with("attachment; filename=\"brygga-follow-up-"),
        "{}",
        header("content-disposition")
    );
    let text = csv.text().await.expect("text");
    assert!(
        text.starts_with(
            "reason,at,municipality,seq,actor,actor_name,role,actor_municipality,action,case_id,policies"
        ),
        "{text}"
    );
    assert!(text.contains("access_denied"));
    assert!(text.contains(&id));

    let bad = get(&client, &app, "/admin/audit/follow-up.csv?from=igår").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.error_summary()
            .is_some_and(|s| s.contains("href=\"#from\""))
    );
    let later = get(
        &client,
        &app,
        "/admin/audit/follow-up?from=2020-01-01&to=2020-01-31",
    )
    .await;
    assert_eq!(later.status, StatusCode::OK);
    assert!(!later.html.contains("caseworker:1283-01"), "another period");
}

fn figures<'a>(body: &'a Value, code: &str) -> Option<&'a Value> {
    body["municipalities"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["municipality"] == code))
}

/// The waiting request shows in the federation's figures and in Perstorp's, not in
/// Helsingborg's; the page shows the same, with totals for the federation; a caseworker is
/// refused, a token needs `stats:read`.
async fn live_figures_on_the_page_and_the_api(backend: Backend) {
    let app = spawn(backend).await;
    let citizen = app.citizen(ANNA, "1275").await;
    submit_with(&app, &citizen, "ekonomi", "sv", false).await;
    let federation = app
        .login(json!({"role": "admin", "admin_id": FEDERATION_ADMIN}))
        .await;
    let all = app.get("/api/v1/admin/stats", Some(&federation)).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(
        all.body["municipalities"].as_array().map(Vec::len),
        Some(11)
    );
    let perstorp = figures(&all.body, "1275").expect("Perstorp");
    assert_eq!(perstorp["name"], "Perstorp");
    assert_eq!(perstorp["waiting"], 1);
    assert_eq!(perstorp["urgent"], 0);
    assert!(perstorp["oldest_waiting_since"].is_string());
    assert!(
        perstorp["caseworkers_available"]
            .as_u64()
            .is_some_and(|n| n >= 2)
    );
    assert_eq!(all.body["totals"]["waiting"], 1);

    let own = app
        .login(json!({"role": "admin", "admin_id": PERSTORP_ADMIN}))
        .await;
    let mine = app.get("/api/v1/admin/stats", Some(&own)).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert_eq!(
        mine.body["municipalities"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        figures(&mine.body, "1275").map(|f| &f["waiting"]),
        Some(&json!(1))
    );
    let helsingborg = app
        .login(json!({"role": "admin", "admin_id": HELSINGBORG_ADMIN}))
        .await;
    let theirs = app.get("/api/v1/admin/stats", Some(&helsingborg)).await;
    assert!(figures(&theirs.body, "1275").is_none());
    assert_eq!(
        figures(&theirs.body, "1283").map(|f| &f["waiting"]),
        Some(&json!(0))
    );

    let caseworker = app.caseworker("1275-01").await;
    assert_eq!(
        app.get("/api/v1/admin/stats", Some(&caseworker))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/admin/stats", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    for (scopes, status) in [
        (json!(["stats:read"]), StatusCode::OK),
        (json!(["audit:read"]), StatusCode::FORBIDDEN),
    ] {
        let created = app
            .post(
                "/api/v1/admin/tokens",
                Some(&own),
                json!({"name": "Perstorps BI", "scopes": scopes}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let token = created.body["token"].as_str().expect("token");
        let read = app.get("/api/v1/admin/stats", Some(token)).await;
        assert_eq!(read.status, status, "{scopes}: {}", read.body);
        if status == StatusCode::OK {
            assert_eq!(
                read.body["municipalities"].as_array().map(Vec::len),
                Some(1)
            );
        }
    }

    let client = admin(&app, FEDERATION_ADMIN).await;
    let page = get(&client, &app, "/admin/stats").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("<th scope=\"row\">Perstorp</th>"),
        "{}",
        page.html
    );
    assert!(page.html.contains("<th scope=\"row\">Helsingborg</th>"));
    assert!(page.html.contains("<tfoot>"), "totals");
    assert!(
        page.html
            .contains("<caption id=\"stats-caption\">Köerna just nu")
    );
    let home = admin(&app, PERSTORP_ADMIN).await;
    let own_page = get(&home, &app, "/admin/stats").await;
    assert_eq!(own_page.status, StatusCode::OK);
    assert!(own_page.html.contains("<th scope=\"row\">Perstorp</th>"));
    assert!(!own_page.html.contains("<th scope=\"row\">Helsingborg</th>"));
    assert!(
        !own_page.html.contains("<tfoot>"),
        "one row needs no totals"
    );
}

/// Caseworkers and citizens get the 403 page, visitors the login page (401), everywhere.
async fn others_get_no_audit_pages(backend: Backend) {
    let app = spawn(backend).await;
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
    let stranger = browser();
    for path in [
        "/admin/audit",
        "/admin/audit?case=x",
        "/admin/audit/cases/x",
        "/admin/audit/follow-up",
        "/admin/audit/follow-up.csv",
        "/admin/stats",
    ] {
        for (client, status, code) in [
            (&caseworker, StatusCode::FORBIDDEN, "forbidden"),
            (&citizen, StatusCode::FORBIDDEN, "forbidden"),
            (&stranger, StatusCode::UNAUTHORIZED, "login_needed"),
        ] {
            let answer = get(client, &app, path).await;
            assert_eq!(answer.status, status, "{path}");
            assert!(
                answer.html.contains(&format!("data-code=\"{code}\"")),
                "{path}: {}",
                answer.html
            );
        }
    }
    let csrf = get(&caseworker, &app, "/work").await.csrf();
    let verify = post(&caseworker, &app, "/admin/audit/verify", &[("csrf", &csrf)]).await;
    assert_eq!(verify.status, StatusCode::FORBIDDEN);
}

on_both_backends!(
    the_trail_is_searched_and_verified,
    the_case_page_tells_the_routing,
    the_follow_up_report_and_its_csv,
    live_figures_on_the_page_and_the_api,
    others_get_no_audit_pages,
);
