//! The caseworkers' pages (issue 22, points 1–3) through a browser's eyes, on both databases:
//! the queue with metadata only before claiming, claim, reply, release, close and transfer by
//! forms that answer 303, the availability form, the live fragment, and who gets no page.

use reqwest::StatusCode;
use serde_json::json;

use crate::ANNA;
use crate::harness::{
    Backend, TestApp, browser, browser_login, case_id, page_get as get, page_post as post, spawn,
};

/// Perstorp's reception generalist (every skill), a Perstorp colleague, and a Helsingborg
/// caseworker.
const PERSTORP_STAFF: &str = "1275-01";
const PERSTORP_COLLEAGUE: &str = "1275-02";
const HELSINGBORG_STAFF: &str = "1283-01";

/// What the citizen writes: it must not show before the case is taken (R8).
const QUESTION: &str = "Jag behöver råd om min budget.";

async fn staff(app: &TestApp, id: &str) -> reqwest::Client {
    let client = browser();
    browser_login(
        app,
        &client,
        json!({"role": "caseworker", "caseworker_id": id}),
    )
    .await;
    client
}

/// A Perstorp citizen's request (only for Perstorp: no consent to others).
async fn ask(app: &TestApp) -> String {
    let token = app.citizen(ANNA, "1275").await;
    let answer = app
        .post(
            "/api/v1/requests",
            Some(&token),
            json!({"category": "ekonomi", "language": "sv", "text": QUESTION,
                   "consent": {"cross_municipality": false}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.body["id"].as_str().expect("id").to_owned()
}

async fn stored_state(app: &TestApp, id: &str) -> String {
    app.store
        .case(&case_id(id))
        .await
        .expect("read")
        .expect("case")
        .state
        .as_str()
        .to_owned()
}

/// Claims `id` with the form on `/work` and answers the case page's CSRF token.
async fn claim(client: &reqwest::Client, app: &TestApp, id: &str) -> String {
    let csrf = get(client, app, "/work").await.csrf();
    let claimed = post(
        client,
        app,
        &format!("/work/cases/{id}/claim"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(claimed.status, StatusCode::SEE_OTHER, "{}", claimed.html);
    assert_eq!(claimed.location(), format!("/work/cases/{id}"));
    csrf
}

/// The queue shows the request's metadata only; claimed, the case page shows the thread; a
/// reply and a release by forms, each answering 303.
async fn the_queue_is_metadata_until_claimed_then_reply_and_release(backend: Backend) {
    let app = spawn(backend).await;
    let id = ask(&app).await;
    let client = staff(&app, PERSTORP_STAFF).await;

    let work = get(&client, &app, "/work").await;
    assert_eq!(work.status, StatusCode::OK, "{}", work.html);
    assert!(work.html.contains(&format!("href=\"/work/cases/{id}\"")));
    assert!(
        work.html
            .contains(&format!("action=\"/work/cases/{id}/claim\""))
    );
    assert!(work.html.contains("src=\"/static/work.js\""));
    assert!(work.html.contains("id=\"availability\""));
    assert!(
        !work.html.contains("budget"),
        "no citizen text in the queue"
    );
    let digits: String = ANNA.chars().filter(char::is_ascii_digit).collect();
    assert!(
        !work.html.contains(ANNA) && !work.html.contains(&digits[2..]),
        "no personnummer in the queue"
    );

    let before = get(&client, &app, &format!("/work/cases/{id}")).await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.html);
    // Home staff with the skill may read an open case before taking it (R15); the queue
    // itself never shows its text.
    assert!(
        before.html.contains("href=\"/work/rules#R"),
        "{}",
        before.html
    );

    let fragment = get(&client, &app, "/work?fragment=live").await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(!fragment.html.contains("<html"), "a fragment, not a page");
    assert!(fragment.html.contains(&format!("data-id=\"{id}\"")));

    let csrf = claim(&client, &app, &id).await;
    let case = get(&client, &app, &format!("/work/cases/{id}")).await;
    assert!(case.html.contains("id=\"thread\""), "{}", case.html);
    assert!(case.html.contains("budget"));
    assert!(
        case.html
            .contains(&format!("action=\"/work/cases/{id}/messages\""))
    );
    let mine = get(&client, &app, "/work").await;
    assert!(mine.html.contains("data-state=\"assigned\""), "my cases");

    let empty = post(
        &client,
        &app,
        &format!("/work/cases/{id}/messages"),
        &[("csrf", &csrf), ("text", "  ")],
    )
    .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.html.contains("class=\"error-summary\""));
    let replied = post(
        &client,
        &app,
        &format!("/work/cases/{id}/messages"),
        &[("csrf", &csrf), ("text", "Välkommen att ringa oss.")],
    )
    .await;
    assert_eq!(replied.status, StatusCode::SEE_OTHER, "{}", replied.html);
    assert_eq!(replied.location(), format!("/work/cases/{id}"));
    let case = get(&client, &app, &format!("/work/cases/{id}")).await;
    assert!(case.html.contains("Välkommen att ringa oss."));
    assert_eq!(stored_state(&app, &id).await, "waiting_citizen");

    // Claiming again is a lost race said in words on the page, not a JSON error.
    let again = post(
        &client,
        &app,
        &format!("/work/cases/{id}/claim"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.html.contains("id=\"refusal\""), "{}", again.html);
    assert!(!again.html.contains("\"error\":"));

    let released = post(
        &client,
        &app,
        &format!("/work/cases/{id}/release"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(released.status, StatusCode::SEE_OTHER, "{}", released.html);
    assert_eq!(stored_state(&app, &id).await, "queued");
}

/// Close with an outcome; transfer with a reason (none given: the form again).
async fn close_and_transfer_by_forms(backend: Backend) {
    let app = spawn(backend).await;
    let first = ask(&app).await;
    let client = staff(&app, PERSTORP_STAFF).await;
    let csrf = claim(&client, &app, &first).await;
    let missing = post(
        &client,
        &app,
        &format!("/work/cases/{first}/close"),
        &[("csrf", &csrf), ("outcome", "")],
    )
    .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(missing.html.contains("href=\"#outcome\""));
    let closed = post(
        &client,
        &app,
        &format!("/work/cases/{first}/close"),
        &[("csrf", &csrf), ("outcome", "advice_given")],
    )
    .await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER, "{}", closed.html);
    assert_eq!(closed.location(), format!("/work/cases/{first}"));
    assert_eq!(stored_state(&app, &first).await, "closed");
    let page = get(&client, &app, &format!("/work/cases/{first}")).await;
    assert!(page.html.contains("id=\"read-only\""));

    let second = ask(&app).await;
    claim(&client, &app, &second).await;
    let no_reason = post(
        &client,
        &app,
        &format!("/work/cases/{second}/transfer"),
        &[
            ("csrf", &csrf),
            ("caseworker_id", PERSTORP_COLLEAGUE),
            ("reason", ""),
        ],
    )
    .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_reason.html.contains("href=\"#reason\""));
    assert!(no_reason.html.contains(PERSTORP_COLLEAGUE), "kept");
    // The colleague lacks the skill: the page says so, with the deciding rule linked.
    let refused = post(
        &client,
        &app,
        &format!("/work/cases/{second}/transfer"),
        &[
            ("csrf", &csrf),
            ("caseworker_id", PERSTORP_COLLEAGUE),
            ("reason", "Min kollega kan ekonomi bättre."),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    assert!(refused.html.contains("id=\"refusal\""));
    assert!(
        refused
            .html
            .contains("href=\"/work/rules#eligibility-skill\"")
    );
    let moved = post(
        &client,
        &app,
        &format!("/work/cases/{second}/transfer"),
        &[
            ("csrf", &csrf),
            ("municipality", "1275"),
            ("reason", "Min kollega kan ekonomi bättre."),
        ],
    )
    .await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.html);
    let stored = app
        .store
        .case(&case_id(&second))
        .await
        .expect("read")
        .expect("case");
    assert_ne!(
        stored.owner.as_ref().map(|o| o.as_str().to_owned()),
        Some(PERSTORP_STAFF.to_owned())
    );
    assert_eq!(
        stored.transfer_reason.as_deref(),
        Some("Min kollega kan ekonomi bättre.")
    );
}

/// A wrong CSRF token changes nothing; another municipality's caseworker gets the 404 page;
/// a citizen and a visitor get no work page.
async fn others_get_no_work_pages(backend: Backend) {
    let app = spawn(backend).await;
    let id = ask(&app).await;
    let client = staff(&app, PERSTORP_STAFF).await;
    get(&client, &app, "/work").await;
    let wrong = post(
        &client,
        &app,
        &format!("/work/cases/{id}/claim"),
        &[("csrf", &"0".repeat(64))],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.html.contains("data-code=\"csrf\""));
    assert_eq!(stored_state(&app, &id).await, "queued");

    let partner = staff(&app, HELSINGBORG_STAFF).await;
    let hidden = get(&partner, &app, &format!("/work/cases/{id}")).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.html);
    assert!(hidden.html.contains("data-code=\"not_found\""));
    assert!(!hidden.html.contains("budget"));
    let queue = get(&partner, &app, "/work").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(!queue.html.contains(&id));

    let citizen = browser();
    browser_login(
        &app,
        &citizen,
        json!({"role": "citizen", "personnummer": ANNA, "municipality": "1275"}),
    )
    .await;
    let refused = get(&citizen, &app, "/work").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.html.contains("data-code=\"forbidden\""));
    assert_eq!(
        get(&citizen, &app, &format!("/work/cases/{id}"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let stranger = browser();
    let login = get(&stranger, &app, "/work").await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    assert!(login.html.contains("data-code=\"login_needed\""));

    let rules = get(&stranger, &app, "/work/rules").await;
    assert_eq!(rules.status, StatusCode::OK);
    assert!(rules.html.contains("id=\"R8\""));
}

/// The availability form sets status and capacity; a capacity above the maximum is said.
async fn the_availability_form(backend: Backend) {
    let app = spawn(backend).await;
    let client = staff(&app, PERSTORP_STAFF).await;
    let csrf = get(&client, &app, "/work").await.csrf();
    let wrong = post(
        &client,
        &app,
        "/work/availability",
        &[("csrf", &csrf), ("status", "away"), ("capacity", "999")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.html.contains("href=\"#capacity\""), "{}", wrong.html);
    let saved = post(
        &client,
        &app,
        "/work/availability",
        &[("csrf", &csrf), ("status", "away"), ("capacity", "2")],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    assert_eq!(saved.location(), "/work");
    let token = app.caseworker(PERSTORP_STAFF).await;
    let me = app.get("/api/v1/me/availability", Some(&token)).await;
    assert_eq!(me.body["status"], "away");
    assert_eq!(me.body["capacity"], 2);
}

/// The demo page's form logs a caseworker in and lands them on `/work`.
async fn the_demo_login_lands_caseworkers_on_work(backend: Backend) {
    let app = spawn(backend).await;
    let client = browser();
    let csrf = get(&client, &app, "/demo").await.csrf();
    let landed = post(
        &client,
        &app,
        "/demo",
        &[
            ("csrf", &csrf),
            ("role", "caseworker"),
            ("caseworker_id", PERSTORP_STAFF),
        ],
    )
    .await;
    assert_eq!(landed.status, StatusCode::SEE_OTHER, "{}", landed.html);
    assert_eq!(landed.location(), "/work");
    let work = get(&client, &app, "/work").await;
    assert_eq!(work.status, StatusCode::OK);
    assert!(work.html.contains("href=\"/work\""), "the menu knows");
}

on_both_backends!(
    the_queue_is_metadata_until_claimed_then_reply_and_release,
    close_and_transfer_by_forms,
    others_get_no_work_pages,
    the_availability_form,
    the_demo_login_lands_caseworkers_on_work,
);
