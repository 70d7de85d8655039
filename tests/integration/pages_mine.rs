//! The citizen's own pages (issue 20, points 3 and 4) through a browser's eyes, on both
//! databases: the list of requests with their status in plain words and unread answers, one
//! request with its history, thread, reply, consent and cancel, an anonymous visitor's way back
//! with the access code, and the citizen's data with its download.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{
    Backend, Page, TestApp, browser, browser_login, case_id, page_get as get, page_post as post,
    spawn,
};
use crate::{ANNA, person};

/// Perstorp's reception generalist (every skill).
const PERSTORP_STAFF: &str = "1275-01";

impl Page {
    /// The list item of request `id` on `/my/requests`.
    fn item(&self, id: &str) -> &str {
        let start = self
            .html
            .find(&format!("<li data-id=\"{id}\""))
            .unwrap_or_else(|| panic!("{id} is listed: {}", self.html));
        let end = self.html[start..].find("</li>").expect("end of item") + start;
        &self.html[start..end]
    }
}

/// A browser logged in as a citizen of `municipality`, and the bearer token of the same login.
async fn citizen(
    app: &TestApp,
    personnummer: &str,
    municipality: &str,
) -> (reqwest::Client, String) {
    let client = browser();
    let token = browser_login(
        app,
        &client,
        json!({"role": "citizen", "personnummer": personnummer, "municipality": municipality}),
    )
    .await;
    (client, token)
}

async fn submit(app: &TestApp, token: Option<&str>, body: Value) -> Value {
    let answer = app.post("/api/v1/requests", token, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.body
}

async fn ask(app: &TestApp, token: &str, category: &str, cross: bool) -> String {
    let body = submit(
        app,
        Some(token),
        json!({"category": category, "language": "sv", "text": "Jag behöver råd om min budget.",
               "consent": {"cross_municipality": cross}}),
    )
    .await;
    body["id"].as_str().expect("id").to_owned()
}

/// A Perstorp caseworker takes the request and answers it.
async fn claim_and_answer(app: &TestApp, id: &str) {
    let caseworker = app.caseworker(PERSTORP_STAFF).await;
    let claimed = app
        .post(
            &format!("/api/v1/cases/{id}/claim"),
            Some(&caseworker),
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    answer(app, id).await;
}

async fn answer(app: &TestApp, id: &str) {
    let caseworker = app.caseworker(PERSTORP_STAFF).await;
    let answered = app
        .post(
            &format!("/api/v1/cases/{id}/messages"),
            Some(&caseworker),
            json!({"text": "Hej! Vi kan göra en budget tillsammans."}),
        )
        .await;
    assert_eq!(answered.status, StatusCode::CREATED, "{}", answered.body);
}

async fn state_of(app: &TestApp, id: &str) -> String {
    app.store
        .case(&case_id(id))
        .await
        .expect("read")
        .expect("case")
        .state
        .as_str()
        .to_owned()
}

/// The list says where each request stands in plain words, newest first; an answer is marked
/// unread until the citizen opens the request; in English too.
async fn the_list_shows_statuses_and_unread_answers(backend: Backend) {
    let app = spawn(backend).await;
    let (client, token) = citizen(&app, ANNA, "1275").await;

    let empty = get(&client, &app, "/my/requests").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.html.contains("id=\"no-requests\""), "{}", empty.html);
    assert!(empty.html.contains("href=\"/requests/new\""));

    let first = ask(&app, &token, "ekonomi", false).await;
    app.clock.advance(chrono::Duration::seconds(60));
    let second = ask(&app, &token, "ekonomi", false).await;

    let list = get(&client, &app, "/my/requests").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.html.find(&format!("data-id=\"{second}\""))
            < list.html.find(&format!("data-id=\"{first}\"")),
        "newest first"
    );
    for id in [&first, &second] {
        let item = list.item(id);
        assert!(item.contains(&format!("href=\"/requests/{id}\"")), "{item}");
        assert!(item.contains(">Skickad<"), "{item}");
        assert!(item.contains("Budget- och skuldrådgivning"), "{item}");
        assert!(item.contains("Perstorp"), "{item}");
        assert!(!item.contains("badge"), "{item}");
    }
    assert!(!list.title().contains(&first), "no ids in the title");

    // Received, then answered: the answer is new until the citizen opens the request.
    let caseworker = app.caseworker(PERSTORP_STAFF).await;
    let claimed = app
        .post(
            &format!("/api/v1/cases/{first}/claim"),
            Some(&caseworker),
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    let list = get(&client, &app, "/my/requests").await;
    assert!(
        list.item(&first).contains(">Mottagen<"),
        "{}",
        list.item(&first)
    );
    assert!(list.item(&first).contains("Hanteras av Perstorp"));

    app.clock.advance(chrono::Duration::seconds(60));
    answer(&app, &first).await;
    let list = get(&client, &app, "/my/requests").await;
    let item = list.item(&first);
    assert!(
        item.contains(">Besvarad<") && item.contains("status answered"),
        "{item}"
    );
    assert!(item.contains("class=\"badge unread\">Nytt svar<"), "{item}");
    assert!(!list.item(&second).contains("badge"));

    app.clock.advance(chrono::Duration::seconds(60));
    let opened = get(&client, &app, &format!("/requests/{first}")).await;
    assert_eq!(opened.status, StatusCode::OK);
    assert!(
        opened.html.contains("data-state=\"waiting_citizen\""),
        "{}",
        opened.html
    );
    let list = get(&client, &app, "/my/requests").await;
    assert!(
        !list.item(&first).contains("badge"),
        "read: {}",
        list.item(&first)
    );

    // A second answer is new again.
    app.clock.advance(chrono::Duration::seconds(60));
    answer(&app, &first).await;
    let list = get(&client, &app, "/my/requests").await;
    assert!(list.item(&first).contains("Nytt svar"));

    // The same list in English.
    let switched = client
        .get(format!("{}/my/requests?lang=en", app.base))
        .send()
        .await
        .expect("switch");
    assert_eq!(switched.status(), StatusCode::SEE_OTHER);
    let english = get(&client, &app, "/my/requests").await;
    assert!(english.html.contains("<html lang=\"en\""));
    assert!(
        english.item(&first).contains(">Answered<"),
        "{}",
        english.item(&first)
    );
    assert!(english.item(&first).contains(">New answer<"));
    assert!(english.item(&second).contains(">Sent<"));
}

/// The request page: status, municipality, history and thread; a reply through the form
/// (empty or too long: shown again with the text kept and the error linked); consent shown in
/// words, changed and withdrawn.
async fn the_request_page_replies_and_changes_consent(backend: Backend) {
    let app = spawn(backend).await;
    let (client, token) = citizen(&app, ANNA, "1275").await;
    let id = ask(&app, &token, "ekonomi", true).await;
    claim_and_answer(&app, &id).await;
    let path = format!("/requests/{id}");

    let page = get(&client, &app, &path).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = &page.html;
    assert!(
        html.contains("<p class=\"status answered\" id=\"status\" data-state=\"waiting_citizen\""),
        "{html}"
    );
    assert!(html.contains(">Besvarad<"));
    assert!(html.contains("socialtjänsten i Perstorp"), "{html}");
    assert!(html.contains("<ol class=\"history\""));
    for step in [
        "Du skickade din fråga.",
        "En socialsekreterare i Perstorp tog emot din fråga.",
        "Du fick svar.",
    ] {
        assert!(html.contains(step), "{step}: {html}");
    }
    assert!(!html.contains(PERSTORP_STAFF), "no caseworker ids");
    assert!(html.contains("<li class=\"message citizen\">"));
    assert!(html.contains("<li class=\"message staff\">"));
    assert!(html.contains("Vi kan göra en budget tillsammans."));
    assert_eq!(page.title(), "Din fråga – Brygga");
    // Consent to every partner is fixed on the day it is given (R8): named.
    assert!(html.contains("id=\"consent-now\""));
    assert!(!html.contains("bara din kommun (Perstorp)"), "{html}");
    let csrf = page.csrf();

    // An empty reply: the error is summarised, linked, and the form comes back.
    let empty = post(
        &client,
        &app,
        &format!("{path}/messages"),
        &[("csrf", &csrf), ("text", "  ")],
    )
    .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.title().starts_with("Fel: "), "{}", empty.title());
    let summary = empty.error_summary().expect("an error summary");
    assert!(
        summary.contains("href=\"#text\"") && summary.contains("Skriv ditt meddelande"),
        "{summary}"
    );
    assert!(empty.html.contains("aria-invalid=\"true\""));
    assert!(
        empty
            .html
            .contains("aria-describedby=\"text-hint text-error\"")
    );
    let long = format!("Början {}", "x".repeat(20_001));
    let too_long = post(
        &client,
        &app,
        &format!("{path}/messages"),
        &[("csrf", &csrf), ("text", &long)],
    )
    .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_long.html.contains(&long), "the text is kept");
    assert!(too_long.html.contains("högst 20 000 tecken"));

    let sent = post(
        &client,
        &app,
        &format!("{path}/messages"),
        &[("csrf", &csrf), ("text", "Tack! Kan vi ses på tisdag?")],
    )
    .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.html);
    assert_eq!(sent.header("location"), path);
    let page = get(&client, &app, &path).await;
    assert!(page.html.contains("Tack! Kan vi ses på tisdag?"));
    assert!(page.html.contains("Du skrev ett meddelande."));
    assert!(page.html.contains(">Pågår<"), "{}", page.html);
    let list = get(&client, &app, "/my/requests").await;
    assert!(list.item(&id).contains(">Pågår<"));

    // Consent: a choice is needed; then only some partners; then withdrawn.
    let unchosen = post(
        &client,
        &app,
        &format!("{path}/consent"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(unchosen.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unchosen
            .error_summary()
            .expect("summary")
            .contains("href=\"#cross_municipality\"")
    );
    assert!(
        unchosen
            .html
            .contains("id=\"cross_municipality\" name=\"cross_municipality\"")
    );
    let unknown = post(
        &client,
        &app,
        &format!("{path}/consent"),
        &[
            ("csrf", &csrf),
            ("cross_municipality", "true"),
            ("municipalities", "9999"),
        ],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unknown
            .error_summary()
            .expect("summary")
            .contains("href=\"#municipalities\"")
    );

    let narrowed = post(
        &client,
        &app,
        &format!("{path}/consent"),
        &[
            ("csrf", &csrf),
            ("cross_municipality", "true"),
            ("municipalities", "1283"),
        ],
    )
    .await;
    assert_eq!(narrowed.status, StatusCode::SEE_OTHER, "{}", narrowed.html);
    let page = get(&client, &app, &path).await;
    assert!(page.html.contains("ses av: Helsingborg."), "{}", page.html);
    assert!(page.html.contains("id=\"withdraw\""));

    let withdrawn = post(
        &client,
        &app,
        &format!("{path}/consent"),
        &[("csrf", &csrf), ("cross_municipality", "false")],
    )
    .await;
    assert_eq!(
        withdrawn.status,
        StatusCode::SEE_OTHER,
        "{}",
        withdrawn.html
    );
    let stored = app
        .store
        .case(&case_id(&id))
        .await
        .expect("read")
        .expect("case");
    assert!(!stored.consent.cross_municipality, "R9: withdrawn");
    let page = get(&client, &app, &path).await;
    assert!(
        page.html.contains("bara din kommun (Perstorp)"),
        "{}",
        page.html
    );
    assert!(
        page.html
            .contains("Du ändrade vilka kommuner som får se din fråga.")
    );
    assert!(!page.html.contains("id=\"withdraw\""));
}

/// Cancel asks first; after it the request is read-only and its history says so.
async fn a_request_is_cancelled_after_a_confirmation(backend: Backend) {
    let app = spawn(backend).await;
    let (client, token) = citizen(&app, ANNA, "1275").await;
    let id = ask(&app, &token, "ekonomi", false).await;
    let path = format!("/requests/{id}");

    let page = get(&client, &app, &path).await;
    assert!(
        page.html.contains(&format!("href=\"{path}/cancel\"")),
        "{}",
        page.html
    );
    let confirm = get(&client, &app, &format!("{path}/cancel")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.html.contains("Vill du ta tillbaka din fråga?"));
    assert!(confirm.html.contains(&format!("action=\"{path}/cancel\"")));
    assert_eq!(
        state_of(&app, &id).await,
        "queued",
        "asking changes nothing"
    );

    let cancelled = post(
        &client,
        &app,
        &format!("{path}/cancel"),
        &[("csrf", &confirm.csrf())],
    )
    .await;
    assert_eq!(
        cancelled.status,
        StatusCode::SEE_OTHER,
        "{}",
        cancelled.html
    );
    assert_eq!(cancelled.header("location"), path);
    assert_eq!(state_of(&app, &id).await, "cancelled");
    let page = get(&client, &app, &path).await;
    assert!(page.html.contains("data-state=\"cancelled\""));
    assert!(page.html.contains(">Avslutad<"));
    assert!(page.html.contains("Du tog tillbaka din fråga."));
    assert!(page.html.contains("id=\"read-only\""));
    assert!(
        !page.html.contains("/messages\""),
        "no reply form when closed"
    );
    assert!(!page.html.contains("/cancel\""));

    // Once a caseworker has a request, it is not cancelled here: the page says what to do.
    let taken = ask(&app, &token, "ekonomi", false).await;
    claim_and_answer(&app, &taken).await;
    let page = get(&client, &app, &format!("/requests/{taken}")).await;
    assert!(!page.html.contains(&format!("/requests/{taken}/cancel\"")));
    let refused = post(
        &client,
        &app,
        &format!("/requests/{taken}/cancel"),
        &[("csrf", &page.csrf())],
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.html.contains("id=\"notice\""), "{}", refused.html);
    assert_eq!(state_of(&app, &taken).await, "waiting_citizen");
}

/// R10: a concern about a child has no cancel control; the page says why; a cancel sent anyway
/// is refused by the policy and answered with the same sentence, not an error page.
async fn a_child_concern_cannot_be_withdrawn(backend: Backend) {
    let app = spawn(backend).await;
    let (client, token) = citizen(&app, ANNA, "1275").await;
    let body = submit(
        &app,
        Some(&token),
        json!({"category": "oro_barn", "language": "sv",
               "text": "Jag är orolig för barnet i lägenheten bredvid.",
               "consent": {"cross_municipality": false}}),
    )
    .await;
    let id = body["id"].as_str().expect("id").to_owned();
    let path = format!("/requests/{id}");
    let why = "En orosanmälan om ett barn går inte att ta tillbaka.";

    let page = get(&client, &app, &path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.html.contains("/cancel\""), "no cancel control");
    assert!(page.html.contains(why), "{}", page.html);
    assert!(
        page.html
            .contains("Socialtjänsten måste alltid ta ställning")
    );
    assert!(
        page.html.contains("class=\"help urgent\""),
        "the emergency box first"
    );
    let confirm = get(&client, &app, &format!("{path}/cancel")).await;
    assert!(confirm.html.contains(why), "{}", confirm.html);
    assert!(!confirm.html.contains(&format!("action=\"{path}/cancel\"")));

    let refused = post(
        &client,
        &app,
        &format!("{path}/cancel"),
        &[("csrf", &page.csrf())],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        !refused.html.contains("data-code=\"forbidden\""),
        "not an error page"
    );
    assert!(refused.html.contains("id=\"notice\""));
    assert!(refused.html.contains(why));
    assert_eq!(state_of(&app, &id).await, "queued");
}

/// Someone else's request, a staff member on a citizen's page and a visitor without a login
/// get the pages for that, never the request.
async fn others_get_not_found_login_or_forbidden(backend: Backend) {
    let app = spawn(backend).await;
    let (_, token) = citizen(&app, ANNA, "1275").await;
    let id = ask(&app, &token, "ekonomi", false).await;
    let path = format!("/requests/{id}");

    let (other, _) = citizen(&app, &person(7), "1275").await;
    let page = get(&other, &app, &path).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(
        page.html.contains("data-code=\"not_found\""),
        "{}",
        page.html
    );
    assert!(!page.html.contains("budget"));
    let csrf = get(&other, &app, "/my/requests").await.csrf();
    let write = post(
        &other,
        &app,
        &format!("{path}/messages"),
        &[("csrf", &csrf), ("text", "hej")],
    )
    .await;
    assert_eq!(write.status, StatusCode::NOT_FOUND);
    let stranger = browser();
    assert_eq!(
        get(&stranger, &app, &path).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&stranger, &app, "/requests/nonexistent").await.status,
        StatusCode::NOT_FOUND
    );

    let login = get(&stranger, &app, "/my/requests").await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    assert!(login.html.contains("data-code=\"login_needed\""));
    assert_eq!(
        get(&stranger, &app, "/my/data").await.status,
        StatusCode::UNAUTHORIZED
    );

    let staff = browser();
    browser_login(
        &app,
        &staff,
        json!({"role": "caseworker", "caseworker_id": PERSTORP_STAFF}),
    )
    .await;
    let refused = get(&staff, &app, "/my/requests").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.html.contains("data-code=\"forbidden\""));
    assert_eq!(get(&staff, &app, &path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        get(&staff, &app, "/my/data/export.json").await.status,
        StatusCode::FORBIDDEN
    );
}

/// `/anonymous`: the right id and code open the request (remembered in this browser, not in
/// the URL); a wrong code and an unknown id are told the same, with the id kept and the code
/// not.
async fn anonymous_visitors_come_back_with_their_code(backend: Backend) {
    let app = spawn(backend).await;
    let body = submit(
        &app,
        None,
        json!({"category": "beroende", "language": "sv", "text": "Jag oroar mig för mitt spelande.",
               "municipality": "1282", "consent": {"cross_municipality": false}}),
    )
    .await;
    let id = body["id"].as_str().expect("id").to_owned();
    let code = body["access_code"].as_str().expect("code").to_owned();

    let client = browser();
    let form = get(&client, &app, "/anonymous").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.html.contains("for=\"id\"") && form.html.contains("for=\"access_code\""));
    let csrf = form.csrf();

    let missing = post(&client, &app, "/anonymous", &[("csrf", &csrf), ("id", &id)]).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        missing
            .error_summary()
            .expect("summary")
            .contains("href=\"#access_code\"")
    );

    let wrong = post(
        &client,
        &app,
        "/anonymous",
        &[
            ("csrf", &csrf),
            ("id", &id),
            ("access_code", "0000-0000-0000-0000-0000-0000"),
        ],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong.html.contains(&format!("value=\"{id}\"")),
        "the id is kept"
    );
    assert!(
        wrong.html.contains("name=\"access_code\" value=\"\""),
        "the code is not"
    );
    assert!(wrong.title().starts_with("Fel: "));
    let unknown = post(
        &client,
        &app,
        "/anonymous",
        &[
            ("csrf", &csrf),
            ("id", "0123456789abcdef0123456789abcdef"),
            ("access_code", &code),
        ],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        wrong.error_summary(),
        unknown.error_summary(),
        "told the same"
    );
    assert!(wrong.html.contains("hör inte ihop med någon fråga"));
    assert!(
        wrong
            .headers
            .get("set-cookie")
            .is_none_or(|c| !c.to_str().unwrap_or("").contains("brygga_visitor"))
    );

    // Typed sloppily: capitals and spaces.
    let sloppy = code.to_uppercase().replace('-', " ");
    let opened = post(
        &client,
        &app,
        "/anonymous",
        &[("csrf", &csrf), ("id", &id), ("access_code", &sloppy)],
    )
    .await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.html);
    let location = opened.header("location").to_owned();
    assert_eq!(location, format!("/requests/{id}"));
    assert!(!location.contains(&code));
    let page = get(&client, &app, &location).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("Jag oroar mig för mitt spelande."));
    assert!(page.html.contains("data-state=\"queued\""));

    let sent = post(
        &client,
        &app,
        &format!("{location}/messages"),
        &[
            ("csrf", &page.csrf()),
            ("text", "Jag vill gärna ha svar på kvällen."),
        ],
    )
    .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    let page = get(&client, &app, &location).await;
    assert!(page.html.contains("Jag vill gärna ha svar på kvällen."));

    // Another browser, without the code, sees nothing.
    assert_eq!(
        get(&browser(), &app, &location).await.status,
        StatusCode::NOT_FOUND
    );
}

/// `/my/data`: what is stored and who opened each request (municipality, role, what, when);
/// the download is the API's export, as a file.
async fn my_data_shows_who_opened_and_downloads_the_export(backend: Backend) {
    let app = spawn(backend).await;
    let (client, token) = citizen(&app, ANNA, "1275").await;
    let id = ask(&app, &token, "ekonomi", false).await;
    claim_and_answer(&app, &id).await;

    let page = get(&client, &app, "/my/data").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = &page.html;
    assert!(html.contains("href=\"/my/data/export.json\""));
    assert!(html.contains("<table class=\"opened\">"), "{html}");
    let table = &html[html.find("<table class=\"opened\">").expect("table")..];
    for cell in [
        "<td>Perstorp</td>",
        "<td>Socialsekreterare</td>",
        "<td>Tog emot frågan</td>",
        "<td>Skrev ett svar</td>",
    ] {
        assert!(table.contains(cell), "{cell}: {table}");
    }
    assert!(!html.contains(PERSTORP_STAFF), "no caseworker ids");
    assert!(!page.title().contains(ANNA));

    let download = client
        .get(format!("{}/my/data/export.json", app.base))
        .send()
        .await
        .expect("download");
    assert_eq!(download.status(), StatusCode::OK);
    let disposition = download
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        download
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json"))
    );
    let mut file: Value = download.json().await.expect("JSON");
    assert_eq!(file["requests"][0]["id"], id.as_str());
    assert_eq!(file["person"]["personnummer"], ANNA);
    let mut api = app.get("/api/v1/me/export", Some(&token)).await.body;
    file["generated_at"] = Value::Null;
    api["generated_at"] = Value::Null;
    assert_eq!(file, api, "the same export as the API's");
}

/// A form without its CSRF token is refused (403) and changes nothing.
async fn forms_without_the_csrf_token_change_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let (client, token) = citizen(&app, ANNA, "1275").await;
    let id = ask(&app, &token, "ekonomi", true).await;
    let path = format!("/requests/{id}");
    let page = get(&client, &app, &path).await;
    assert_eq!(page.status, StatusCode::OK);

    let write = post(
        &client,
        &app,
        &format!("{path}/messages"),
        &[("text", "Utan token")],
    )
    .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    assert!(write.html.contains("data-code=\"csrf\""));
    let wrong = post(
        &client,
        &app,
        &format!("{path}/messages"),
        &[("csrf", &"0".repeat(64)), ("text", "Fel token")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let consent = post(
        &client,
        &app,
        &format!("{path}/consent"),
        &[("cross_municipality", "false")],
    )
    .await;
    assert_eq!(consent.status, StatusCode::FORBIDDEN);
    let cancel = post(&client, &app, &format!("{path}/cancel"), &[]).await;
    assert_eq!(cancel.status, StatusCode::FORBIDDEN);
    let anonymous = post(
        &client,
        &app,
        "/anonymous",
        &[("id", &id), ("access_code", "x")],
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::FORBIDDEN);

    let stored = app
        .store
        .case(&case_id(&id))
        .await
        .expect("read")
        .expect("case");
    assert_eq!(stored.state.as_str(), "queued");
    assert!(stored.consent.cross_municipality);
    let messages = app.store.messages(&case_id(&id)).await.expect("messages");
    assert_eq!(messages.len(), 1, "only the question");
}

on_both_backends!(
    the_list_shows_statuses_and_unread_answers,
    the_request_page_replies_and_changes_consent,
    a_request_is_cancelled_after_a_confirmation,
    a_child_concern_cannot_be_withdrawn,
    others_get_not_found_login_or_forbidden,
    anonymous_visitors_come_back_with_their_code,
    my_data_shows_who_opened_and_downloads_the_export,
    forms_without_the_csrf_token_change_nothing,
);
