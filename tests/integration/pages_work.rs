//! The caseworkers' pages (issue 22, points 1–3) through a browser's eyes, on both databases:
//! the queue with metadata only before claiming, claim, reply, release, close and transfer by
//! forms that answer 303 with a confirmation, offers accepted and declined by form, the harm
//! assessment, the queue's waiting times and filter, the rules in words, the availability
//! form, the live fragment, and who gets no page.

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

/// Claims `id` with the form on `/work` and answers the case page's CSRF token; the case page
/// the form returns to confirms it.
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
    assert_eq!(claimed.location(), format!("/work/cases/{id}?done=claimed"));
    let back = get(client, app, claimed.location()).await;
    assert_eq!(
        done(&back.html),
        Some("Du har tagit ärendet."),
        "{}",
        back.html
    );
    csrf
}

/// The confirmation a page shows (`?done=`), if any.
fn done(html: &str) -> Option<&str> {
    let start =
        html.find("id=\"done\" role=\"status\"><p>")? + "id=\"done\" role=\"status\"><p>".len();
    let end = html[start..].find("</p>")? + start;
    Some(&html[start..end])
}

/// The part of `/work` between two section ids (`mine` up to `queue`, …).
fn section<'a>(html: &'a str, id: &str, next: Option<&str>) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("section {id}: {html}"));
    let end = next
        .and_then(|n| html[start..].find(&format!("id=\"{n}\"")))
        .map_or(html.len(), |e| e + start);
    &html[start..end]
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
    assert_eq!(replied.location(), format!("/work/cases/{id}?done=replied"));
    let case = get(&client, &app, replied.location()).await;
    assert!(case.html.contains("Välkommen att ringa oss."));
    assert_eq!(
        done(&case.html),
        Some("Ditt svar är skickat till invånaren.")
    );
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
    assert_eq!(released.location(), "/work?done=released");
    assert_eq!(stored_state(&app, &id).await, "queued");
    let work = get(&client, &app, released.location()).await;
    assert_eq!(done(&work.html), Some("Ärendet är tillbaka i kön."));
    // Only a known confirmation is shown; a made-up one shows nothing.
    for made_up in ["bogus", "<script>", "", "CLAIMED"] {
        let page = get(&client, &app, &format!("/work?done={made_up}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(done(&page.html), None, "{made_up}");
    }
    let unknown = get(
        &client,
        &app,
        &format!("/work/cases/{id}?done=nothing_here"),
    )
    .await;
    assert_eq!(done(&unknown.html), None);
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
    assert_eq!(
        closed.location(),
        format!("/work/cases/{first}?done=closed")
    );
    assert_eq!(stored_state(&app, &first).await, "closed");
    let page = get(&client, &app, closed.location()).await;
    assert!(page.html.contains("id=\"read-only\""));
    assert_eq!(done(&page.html), Some("Ärendet är avslutat."));

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
    // The rule in words, not only its id.
    assert!(
        refused.html.contains("Kompetens för ärendets område"),
        "{}",
        refused.html
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
    assert_eq!(moved.location(), "/work?done=transferred");
    let work = get(&client, &app, moved.location()).await;
    assert_eq!(done(&work.html), Some("Ärendet är flyttat."));
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
    assert!(
        !queue.html.contains("id=\"queue-filter\""),
        "nothing to filter in an empty queue"
    );

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
    assert_eq!(saved.location(), "/work?done=availability_saved");
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

/// The offer id of the offer of case `case` on `/work`.
fn offer_for(html: &str, case: &str) -> String {
    let at = html
        .find(&format!("data-id=\"{case}\""))
        .unwrap_or_else(|| panic!("{case} on the page: {html}"));
    let marker = "data-offer=\"";
    let start = html[..at].rfind(marker).expect("an offer") + marker.len();
    html[start..]
        .split('"')
        .next()
        .expect("offer id")
        .to_owned()
}

/// In push mode a request is offered: the offer shows on `/work` with its expiry and time
/// left; accepted by form it is the caseworker's case, declined it is gone from the page; an
/// offer that is no longer open is said in words (409), an unknown one is the 404 page.
async fn offers_are_accepted_and_declined_by_form(backend: Backend) {
    let app = spawn(backend).await;
    crate::routing::set_mode(&app, "ekonomi", "push", 300).await;
    let client = staff(&app, PERSTORP_STAFF).await;

    let first = ask(&app).await;
    assert_eq!(stored_state(&app, &first).await, "offered");
    let work = get(&client, &app, "/work").await;
    assert_eq!(work.status, StatusCode::OK, "{}", work.html);
    let offers = section(&work.html, "offers", Some("mine"));
    let offer = offer_for(offers, &first);
    assert!(offers.contains(&format!("action=\"/work/offers/{offer}/accept\"")));
    assert!(offers.contains(&format!("action=\"/work/offers/{offer}/reject\"")));
    // The expiry as a clock time, and the time left (static/work.js counts it down).
    assert!(
        offers.contains("class=\"countdown\" data-expires=\""),
        "{offers}"
    );
    assert!(offers.contains("(Tid kvar: 5 min)"), "{offers}");
    assert!(
        !offers.contains("budget"),
        "metadata only before it is taken"
    );
    let csrf = work.csrf();

    let accepted = post(
        &client,
        &app,
        &format!("/work/offers/{offer}/accept"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER, "{}", accepted.html);
    assert_eq!(
        accepted.location(),
        format!("/work/cases/{first}?done=accepted")
    );
    let stored = app
        .store
        .case(&case_id(&first))
        .await
        .expect("read")
        .expect("case");
    assert_eq!(stored.state.as_str(), "assigned");
    assert_eq!(
        stored.owner.as_ref().map(|o| o.as_str().to_owned()),
        Some(PERSTORP_STAFF.to_owned())
    );
    let case = get(&client, &app, accepted.location()).await;
    assert_eq!(done(&case.html), Some("Du har tagit emot ärendet."));
    assert!(case.html.contains("budget"), "the case is theirs to read");
    let work = get(&client, &app, "/work").await;
    assert!(section(&work.html, "mine", Some("queue")).contains(&format!("data-id=\"{first}\"")));

    // Declined: gone from the page, back in the queue for others.
    let second = ask(&app).await;
    let work = get(&client, &app, "/work").await;
    let offer = offer_for(&work.html, &second);
    let rejected = post(
        &client,
        &app,
        &format!("/work/offers/{offer}/reject"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(rejected.status, StatusCode::SEE_OTHER, "{}", rejected.html);
    assert_eq!(rejected.location(), "/work?done=rejected");
    assert_eq!(stored_state(&app, &second).await, "queued");
    let work = get(&client, &app, rejected.location()).await;
    assert_eq!(done(&work.html), Some("Du har avböjt erbjudandet."));
    assert!(!work.html.contains(&format!("data-offer=\"{offer}\"")));
    // Answering it again: the page says the offer no longer holds, not a JSON error.
    let late = post(
        &client,
        &app,
        &format!("/work/offers/{offer}/accept"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.html);
    assert!(late.html.contains("id=\"refusal\""), "{}", late.html);
    assert!(late.html.contains("Erbjudandet gäller inte längre."));
    assert!(late.html.contains("id=\"offers\""), "the work page");
    assert!(!late.html.contains("\"error\":"));

    // Expired: the scheduler ended it; accepting it late is said in words.
    let third = ask(&app).await;
    let work = get(&client, &app, "/work").await;
    let offer = offer_for(&work.html, &third);
    let report = app.advance(301).await;
    assert!(report.offers_expired >= 1, "{report:?}");
    let expired = post(
        &client,
        &app,
        &format!("/work/offers/{offer}/accept"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(expired.status, StatusCode::CONFLICT, "{}", expired.html);
    assert!(expired.html.contains("id=\"refusal\""));
    assert!(expired.html.contains("Erbjudandet gäller inte längre."));

    let unknown = post(
        &client,
        &app,
        "/work/offers/no-such-offer/reject",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.html);
    assert!(unknown.html.contains("data-code=\"not_found\""));
    assert!(!unknown.html.contains("\"error\":"));

    // Another caseworker cannot answer someone else's offer.
    let fourth = ask(&app).await;
    let offer = offer_for(&get(&client, &app, "/work").await.html, &fourth);
    let colleague = staff(&app, PERSTORP_COLLEAGUE).await;
    let theirs = get(&colleague, &app, "/work").await;
    assert!(!theirs.html.contains(&offer));
    let stolen = post(
        &colleague,
        &app,
        &format!("/work/offers/{offer}/accept"),
        &[("csrf", &theirs.csrf())],
    )
    .await;
    assert_eq!(stolen.status, StatusCode::NOT_FOUND, "{}", stolen.html);
    assert_eq!(stored_state(&app, &fourth).await, "offered");
}

/// R12 by form: the home supervisor records a harm assessment that lets the request cross the
/// border (the partner then sees it in their queue); a partner's attempt is refused in words
/// with the deciding rule, never naming R12 to them.
async fn the_harm_assessment_by_form(backend: Backend) {
    let app = spawn(backend).await;
    crate::routing::perstorp_away(&app).await;
    let citizen = app
        .login(
            json!({"role": "citizen", "personnummer": ANNA, "municipality": "1275",
                      "protection": "sekretessmarkering"}),
        )
        .await;
    let submitted = crate::routing::submit_with(&app, &citizen, "ekonomi", "sv", true).await;
    let id = submitted["id"].as_str().expect("id").to_owned();
    let home = staff(&app, PERSTORP_STAFF).await;
    let partner = staff(&app, HELSINGBORG_STAFF).await;
    let before = get(&partner, &app, "/work").await;
    assert!(!before.html.contains(&id), "R12: home only");

    let path = format!("/work/cases/{id}");
    let case = get(&home, &app, &path).await;
    assert_eq!(case.status, StatusCode::OK, "{}", case.html);
    assert!(
        case.html
            .contains(&format!("action=\"/work/cases/{id}/harm-assessment\""))
    );
    assert!(case.html.contains("Ingen gjord"), "{}", case.html);
    let csrf = case.csrf();
    let form = format!("{path}/harm-assessment");

    let unchosen = post(
        &home,
        &app,
        &form,
        &[("csrf", &csrf), ("reason", "Ingen risk.")],
    )
    .await;
    assert_eq!(unchosen.status, StatusCode::UNPROCESSABLE_ENTITY);
    let summary = unchosen.error_summary().expect("error summary");
    assert!(summary.contains("href=\"#cross_border_ok\""), "{summary}");
    assert!(unchosen.html.contains("Ingen risk."), "kept");
    let no_reason = post(
        &home,
        &app,
        &form,
        &[
            ("csrf", &csrf),
            ("cross_border_ok", "true"),
            ("reason", " "),
        ],
    )
    .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_reason.html.contains("href=\"#harm_reason\""));

    let assessed = post(
        &home,
        &app,
        &form,
        &[
            ("csrf", &csrf),
            ("cross_border_ok", "true"),
            ("reason", "Ingen risk att uppgifterna röjs."),
        ],
    )
    .await;
    assert_eq!(assessed.status, StatusCode::SEE_OTHER, "{}", assessed.html);
    assert_eq!(assessed.location(), format!("{path}?done=harm_saved"));
    let shown = get(&home, &app, assessed.location()).await;
    assert_eq!(done(&shown.html), Some("Skadebedömningen är sparad."));
    assert!(
        shown
            .html
            .contains("Ärendet får hanteras av en annan kommun")
    );
    // The effect: home has nobody available, so it reached the partner at once.
    let after = get(&partner, &app, "/work").await;
    assert!(
        section(&after.html, "queue", None).contains(&format!("data-id=\"{id}\"")),
        "{}",
        after.html
    );

    // A partner may not assess: refused in words, with the deciding rule linked, and R12
    // (the home municipality's own rule) not named to them.
    let refused = post(
        &partner,
        &app,
        &form,
        &[
            ("csrf", &after.csrf()),
            ("cross_border_ok", "false"),
            ("reason", "Jag tycker inte det."),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    let notice = refused.html[refused.html.find("id=\"refusal\"").expect("refusal")..]
        .split("</div>")
        .next()
        .expect("notice");
    assert!(notice.contains("href=\"/work/rules#"), "{notice}");
    assert!(!refused.html.contains("R12"), "{}", refused.html);
    assert!(!refused.html.contains("\"error\":"));
    let assessments = app
        .store
        .harm_assessments(&case_id(&id))
        .await
        .expect("history");
    assert_eq!(assessments.len(), 1, "the refused one is not recorded");
}

/// The queue says how long each request has waited, in words beside the clock time; the
/// filter narrows it by category and language (a concern about a child always shows), and
/// the live fragment keeps the filter.
async fn the_queue_waits_in_words_and_filters(backend: Backend) {
    let app = spawn(backend).await;
    let swedish = ask(&app).await;
    let token = app.citizen(&crate::person(31), "1275").await;
    let english = crate::routing::submit_with(&app, &token, "ekonomi", "en", false).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let concern = crate::routing::submit_with(&app, &token, "oro_barn", "sv", false).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.clock
        .advance(chrono::Duration::seconds(2 * 3600 + 5 * 60 + 10));
    let client = staff(&app, PERSTORP_STAFF).await;

    let work = get(&client, &app, "/work").await;
    assert_eq!(work.status, StatusCode::OK, "{}", work.html);
    let queue = section(&work.html, "queue", None);
    for id in [&swedish, &english, &concern] {
        assert!(queue.contains(&format!("data-id=\"{id}\"")), "{id}");
    }
    assert!(queue.contains("<time datetime=\""), "{queue}");
    assert!(queue.contains("(väntat 2 tim 5 min)"), "{queue}");
    assert!(queue.contains("id=\"queue-filter\""));
    assert!(queue.contains("<label for=\"filter-category\">"));
    assert!(queue.contains("<label for=\"filter-language\">"));
    assert!(!queue.contains("id=\"filter-showing\""), "no filter yet");
    assert!(
        work.html.contains("data-fragment=\"/work?fragment=live\""),
        "{}",
        work.html
    );

    let filtered = get(&client, &app, "/work?category=ekonomi&language=en").await;
    assert_eq!(filtered.status, StatusCode::OK);
    let queue = section(&filtered.html, "queue", None);
    assert!(queue.contains(&format!("data-id=\"{english}\"")));
    assert!(!queue.contains(&format!("data-id=\"{swedish}\"")));
    assert!(
        queue.contains(&format!("data-id=\"{concern}\"")),
        "a child concern is never filtered away"
    );
    assert!(queue.contains("Visar 2 av 3 ärenden i kön."), "{queue}");
    assert!(queue.contains("<option value=\"ekonomi\" selected>"));
    assert!(queue.contains("<option value=\"en\" selected>"));
    assert!(
        filtered
            .html
            .replace("&#38;", "&")
            .contains("data-fragment=\"/work?fragment=live&category=ekonomi&language=en\""),
        "the live refresh keeps the filter: {}",
        filtered.html
    );
    // The overview still counts the whole queue.
    assert!(
        section(&filtered.html, "overview-heading", Some("offers")).contains("<strong>3</strong>")
    );

    let fragment = get(
        &client,
        &app,
        "/work?fragment=live&category=ekonomi&language=en",
    )
    .await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(!fragment.html.contains("<html"));
    assert!(fragment.html.contains(&format!("data-id=\"{english}\"")));
    assert!(!fragment.html.contains(&format!("data-id=\"{swedish}\"")));

    // A value the form does not offer is no filter; a repeated one is no error either.
    for query in [
        "category=nonsense",
        "language=xx",
        "category=ekonomi&category=familj",
    ] {
        let page = get(&client, &app, &format!("/work?{query}")).await;
        assert_eq!(page.status, StatusCode::OK, "{query}");
        assert!(page.html.contains("<html"), "{query}");
    }
    let ignored = get(&client, &app, "/work?category=nonsense").await;
    assert!(section(&ignored.html, "queue", None).contains(&format!("data-id=\"{swedish}\"")));
    assert!(!ignored.html.contains("id=\"filter-showing\""));
    let none = get(&client, &app, "/work?language=fi").await;
    let queue = section(&none.html, "queue", None);
    assert!(queue.contains(&format!("data-id=\"{concern}\"")));
    assert!(!queue.contains(&format!("data-id=\"{swedish}\"")));

    // In English.
    assert_eq!(
        get(&client, &app, "/work?lang=en").await.status,
        StatusCode::SEE_OTHER
    );
    let english_page = get(&client, &app, "/work").await;
    assert!(
        english_page.html.contains("(waiting 2 h 5 min)"),
        "{}",
        english_page.html
    );
    assert!(english_page.html.contains("Filter the queue"));
}

/// The rules that ground access are shown in words with their ids linked; a request flagged
/// for an interpreter keeps its flag in "my cases".
async fn rules_in_words_and_the_interpreter_in_my_cases(backend: Backend) {
    let app = spawn(backend).await;
    let citizen = app.citizen(ANNA, "1275").await;
    let id = crate::routing::submit_with(&app, &citizen, "ekonomi", "so", false).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let report = app.advance(1801).await;
    assert_eq!(report.interpreter_flagged, 1, "{report:?}");
    let client = staff(&app, PERSTORP_STAFF).await;
    let work = get(&client, &app, "/work").await;
    assert!(
        section(&work.html, "queue", None).contains("Tolk behövs"),
        "{}",
        work.html
    );
    claim(&client, &app, &id).await;
    let work = get(&client, &app, "/work").await;
    let mine = section(&work.html, "mine", Some("queue"));
    assert!(mine.contains(&format!("data-id=\"{id}\"")), "{mine}");
    assert!(mine.contains("Tolk behövs"), "{mine}");

    let case = get(&client, &app, &format!("/work/cases/{id}")).await;
    let ground = section(&case.html, "ground", None);
    assert!(ground.contains("data-rule=\"R15-case-owner\""), "{ground}");
    assert!(
        ground.contains("<a href=\"/work/rules#R15\">R15 – den som har ärendet</a>"),
        "{ground}"
    );
    assert!(
        case.html.contains("id=\"interpreter\">Ja<"),
        "{}",
        case.html
    );
}

on_both_backends!(
    the_queue_is_metadata_until_claimed_then_reply_and_release,
    close_and_transfer_by_forms,
    others_get_no_work_pages,
    the_availability_form,
    the_demo_login_lands_caseworkers_on_work,
    offers_are_accepted_and_declined_by_form,
    the_harm_assessment_by_form,
    the_queue_waits_in_words_and_filters,
    rules_in_words_and_the_interpreter_in_my_cases,
);
