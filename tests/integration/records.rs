//! Records (issue 19) on both backends: free text about the citizen kept with the case and
//! thinned with it, never copied into the append-only audit trail (R17); expired browser
//! sessions deleted (R17); the citizen's export with the reasons and routing decisions about
//! them (R19); refusals and administration in the audit trail (R15, #11); and wrong access
//! codes limited per client address, answering like unknown ids (R1).

use reqwest::StatusCode;
use serde_json::{Value, json};

use brygga::audit::AuditEntry;
use brygga::clock::Clock;
use brygga::workflow::{ACCESS_CODE_TRIES, ACCESS_CODE_WINDOW};

use crate::harness::{Backend, TestApp, case_id, spawn};
use crate::routing::federation_admin;
use crate::{ANNA, person};

/// Free text a home supervisor writes about the citizen when assessing harm (R12).
const HARM_REASON: &str = "Ingen risk att uppgifterna röjs: hotbilden gäller bara hemorten.";
/// Free text the owner writes about the citizen when moving the case.
const TRANSFER_REASON: &str = "Klienten pendlar till Helsingborg och vill träffas där.";

/// Anna, with sekretessmarkering, registered in Perstorp (1275).
async fn marked_citizen(app: &TestApp) -> String {
    app.login(
        json!({"role": "citizen", "personnummer": ANNA, "municipality": "1275",
                     "protection": "sekretessmarkering"}),
    )
    .await
}

/// A request the citizen submits consenting to other municipalities; answers its id.
async fn submit_consenting(app: &TestApp, citizen: &str) -> String {
    let answer = app
        .post(
            "/api/v1/requests",
            Some(citizen),
            json!({"category": "ekonomi", "language": "sv", "text": "Jag behöver budgetråd.",
                   "consent": {"cross_municipality": true}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert_eq!(answer.body["ring"], 0, "R12: home until assessed");
    answer.body["id"].as_str().expect("id").to_owned()
}

async fn ok(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let answer = app.post(path, Some(token), body).await;
    assert!(answer.status.is_success(), "{path}: {}", answer.body);
    answer.body
}

/// Anna's request with sekretessmarkering: Perstorp's supervisor assesses the harm (crossing is
/// fine), takes it, and moves it to Helsingborg with a reason. Answers the citizen's token and
/// the case id.
async fn assessed_and_transferred(app: &TestApp) -> (String, String) {
    let citizen = marked_citizen(app).await;
    let id = submit_consenting(app, &citizen).await;
    let supervisor = app.caseworker("1275-01").await;
    let assessed = ok(
        app,
        &supervisor,
        &format!("/api/v1/cases/{id}/harm-assessment"),
        json!({"cross_border_ok": true, "reason": HARM_REASON}),
    )
    .await;
    assert_eq!(assessed["harm_assessment"], "cross_border_ok");
    ok(
        app,
        &supervisor,
        &format!("/api/v1/cases/{id}/claim"),
        json!({}),
    )
    .await;
    let moved = ok(
        app,
        &supervisor,
        &format!("/api/v1/cases/{id}/transfer"),
        json!({"municipality": "1283", "reason": TRANSFER_REASON}),
    )
    .await;
    assert_eq!(moved["state"], "queued", "{moved}");
    (citizen, id)
}

async fn trail(app: &TestApp, id: &str) -> Vec<AuditEntry> {
    app.store
        .audit_events(Some(&case_id(id)), 1_000)
        .await
        .expect("audit")
}

/// The refusals recorded about a case by `actor`, with the action each one refused.
fn refusals<'a>(events: &'a [AuditEntry], actor: &str) -> Vec<&'a AuditEntry> {
    events
        .iter()
        .filter(|e| e.action == "access_denied" && e.actor == actor)
        .collect()
}

/// R17: transfer and harm-assessment reasons are free text about the citizen. They live with
/// the case — the audit event of a transfer names its note, never its text — and go when the
/// case is thinned five years after its last entry, together with the routing traces; the
/// protection level stays, so R11/R12 still govern what remains.
async fn r17_transfer_reasons_live_with_the_case_not_in_the_audit(backend: Backend) {
    let app = spawn(backend).await;
    let (_citizen, id) = assessed_and_transferred(&app).await;
    let partner = app.caseworker("1283-01").await;
    ok(
        &app,
        &partner,
        &format!("/api/v1/cases/{id}/claim"),
        json!({}),
    )
    .await;
    let closed = ok(
        &app,
        &partner,
        &format!("/api/v1/cases/{id}/close"),
        json!({"outcome": "advice_given"}),
    )
    .await;
    assert_eq!(closed["state"], "closed");

    // The texts are kept with the case …
    let notes = app.store.notes(&case_id(&id)).await.expect("notes");
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].body, TRANSFER_REASON);
    let assessments = app
        .store
        .harm_assessments(&case_id(&id))
        .await
        .expect("assessments");
    assert_eq!(assessments.len(), 1);
    assert_eq!(assessments[0].reason, HARM_REASON);
    // … and the append-only trail names the note by its number, never its text.
    let events = trail(&app, &id).await;
    let transfer = events
        .iter()
        .find(|e| e.action == "transfer")
        .expect("a transfer event");
    assert_eq!(
        transfer.detail["municipality"], "1283",
        "{}",
        transfer.detail
    );
    assert_eq!(
        transfer.detail["note"],
        json!(notes[0].id),
        "{}",
        transfer.detail
    );
    let assessed = events
        .iter()
        .find(|e| e.action == "harm_assessment")
        .expect("a harm-assessment event");
    assert!(
        assessed.detail["assessment"].is_i64(),
        "the event names the stored assessment: {}",
        assessed.detail
    );
    for event in &events {
        let detail = event.detail.to_string();
        assert!(
            !detail.contains("pendlar") && !detail.contains("hotbilden"),
            "{}: {detail}",
            event.action
        );
    }
    assert!(
        !app.store
            .traces(&case_id(&id))
            .await
            .expect("traces")
            .is_empty()
    );

    // Five years (and then some) after the last entry, the daily run thins it.
    app.clock.advance(chrono::Duration::days(5 * 366));
    let report = app.advance(1).await;
    assert_eq!(report.thinned, 1, "{report:?}");
    assert!(
        app.store
            .notes(&case_id(&id))
            .await
            .expect("notes")
            .is_empty()
    );
    assert!(
        app.store
            .harm_assessments(&case_id(&id))
            .await
            .expect("assessments")
            .is_empty()
    );
    assert!(
        app.store
            .traces(&case_id(&id))
            .await
            .expect("traces")
            .is_empty(),
        "routing traces are thinned with their case"
    );
    let case = app
        .store
        .case(&case_id(&id))
        .await
        .expect("read")
        .expect("the row stays");
    assert!(case.thinned_at.is_some());
    assert_eq!(case.personnummer(), None);
    assert_eq!(case.transfer_reason, None);
    assert_eq!(
        case.protection.as_str(),
        "sekretessmarkering",
        "R11/R12 still govern what remains"
    );
    let events = trail(&app, &id).await;
    assert!(events.iter().any(|e| e.action == "thinned"));
    assert!(
        events.iter().any(|e| e.action == "transfer"),
        "the trail stays"
    );
}

/// R17: documents about a child are kept 30 years from birth (every run from 2026-01-15): a
/// 16-year-old's own closed request outlives an adult's closed the same day, which goes after
/// five years, and goes itself once the child has turned 30.
async fn r17_a_childs_records_are_kept_thirty_years_from_birth(backend: Backend) {
    let app = spawn(backend).await;
    let generalist = app.caseworker("1275-01").await;
    let mut ids = Vec::new();
    // Born 5 May 2010: under 18 until 2028.
    for number in ["201005057896", ANNA] {
        let citizen = app.citizen(number, "1275").await;
        let id = app.submit(&citizen, "ekonomi", "sv").await;
        ok(
            &app,
            &generalist,
            &format!("/api/v1/cases/{id}/claim"),
            json!({}),
        )
        .await;
        ok(
            &app,
            &generalist,
            &format!("/api/v1/cases/{id}/close"),
            json!({"outcome": "advice_given"}),
        )
        .await;
        ids.push(id);
    }
    let (child, adult) = (&ids[0], &ids[1]);
    let read = |id: String| {
        let store = app.store.clone();
        async move {
            store
                .case(&case_id(&id))
                .await
                .expect("read")
                .expect("case")
        }
    };

    app.clock.advance(chrono::Duration::days(5 * 366));
    let report = app.advance(1).await;
    assert_eq!(report.thinned, 1, "{report:?}");
    assert!(read(adult.clone()).await.thinned_at.is_some());
    let kept = read(child.clone()).await;
    assert!(kept.thinned_at.is_none(), "R17: 30 years from birth");
    assert!(kept.personnummer().is_some());

    // 5 May 2040 and after: the child has turned 30.
    app.clock.advance(chrono::Duration::days(9 * 366));
    let report = app.advance(1).await;
    assert_eq!(report.thinned, 1, "{report:?}");
    assert!(read(child.clone()).await.thinned_at.is_some());
}

/// The value of the session cookie a demo login sets.
async fn session_cookie(app: &TestApp, body: Value) -> String {
    let answer = app
        .client
        .post(format!("{}/demo/login", app.base))
        .json(&body)
        .send()
        .await
        .expect("login");
    assert_eq!(answer.status(), StatusCode::OK);
    answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("brygga_session="))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

/// R17: a browser session holds who logged in (the personnummer) and their ID token; once it
/// has expired the scheduler deletes it rather than keeping it.
async fn r17_expired_browser_sessions_are_deleted(backend: Backend) {
    let app = spawn(backend).await;
    let started = app.clock.now();
    let cookie = session_cookie(
        &app,
        json!({"role": "citizen", "personnummer": ANNA, "municipality": "1275"}),
    )
    .await;
    let key = brygga::auth::token_hash(&cookie);
    let (data, _) = app
        .store
        .load_web_session(&key, started)
        .await
        .expect("load")
        .expect("the session is stored");
    assert!(data.to_string().contains(ANNA), "it holds who logged in");

    // Not expired yet: the sweep leaves it.
    let report = app.advance(1).await;
    assert_eq!(report.sessions_deleted, 0, "{report:?}");
    assert!(
        app.store
            .load_web_session(&key, started)
            .await
            .expect("load")
            .is_some()
    );

    // Past its idle time (30 minutes), and past the sweep's five minutes: deleted.
    let report = app.advance(3600).await;
    assert!(report.sessions_deleted >= 1, "{report:?}");
    assert!(
        app.store
            .load_web_session(&key, started)
            .await
            .expect("load")
            .is_none(),
        "the row is gone, not only expired"
    );
}

/// R19: the citizen's export holds the harm-assessment and transfer reasons written about
/// them, and the routing decisions about their request; another citizen's export holds none
/// of it.
async fn r19_the_export_holds_reasons_and_routing_decisions(backend: Backend) {
    let app = spawn(backend).await;
    let (citizen, id) = assessed_and_transferred(&app).await;

    let export = app.get("/api/v1/me/export", Some(&citizen)).await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.body);
    assert_eq!(export.body["person"]["protection"], "sekretessmarkering");
    let requests = export.body["requests"].as_array().expect("requests");
    assert_eq!(requests.len(), 1, "{}", export.body);
    let request = &requests[0];
    assert_eq!(request["id"], id.as_str());

    let assessments = request["harm_assessments"]
        .as_array()
        .expect("harm assessments");
    assert_eq!(assessments.len(), 1, "{request}");
    assert_eq!(assessments[0]["reason"], HARM_REASON);
    assert_eq!(assessments[0]["cross_border_ok"], true);
    let reasons = request["transfer_reasons"]
        .as_array()
        .expect("transfer reasons");
    assert_eq!(reasons.len(), 1, "{request}");
    assert_eq!(reasons[0]["reason"], TRANSFER_REASON);

    let routing = request["routing"].as_array().expect("routing decisions");
    let events: Vec<&str> = routing.iter().filter_map(|r| r["event"].as_str()).collect();
    assert!(events.contains(&"submitted"), "{events:?}");
    assert!(events.contains(&"harm_assessment"), "{events:?}");
    let submitted = routing
        .iter()
        .find(|r| r["event"] == "submitted")
        .expect("submitted");
    assert_eq!(
        submitted["rings"][0]["municipalities"],
        json!(["1275"]),
        "{submitted}"
    );
    assert!(
        !submitted["refused"].is_null(),
        "why not elsewhere: {submitted}"
    );
    // The caseworkers the router weighed are staff data, not the citizen's.
    let text = request.to_string();
    assert!(
        !text.contains("1275-02") && !text.contains("filtered"),
        "{text}"
    );

    // Someone else's export holds none of it.
    let other = app.citizen(&person(3), "1275").await;
    let own = app.submit(&other, "ekonomi", "sv").await;
    let theirs = app.get("/api/v1/me/export", Some(&other)).await;
    assert_eq!(theirs.status, StatusCode::OK, "{}", theirs.body);
    let theirs_requests = theirs.body["requests"].as_array().expect("requests");
    assert_eq!(theirs_requests.len(), 1);
    assert_eq!(theirs_requests[0]["id"], own.as_str());
    let text = theirs.body.to_string();
    for secret in [HARM_REASON, TRANSFER_REASON, id.as_str(), ANNA] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

/// #11 (R15: every access is logged, refused ones included): a refused harm assessment, an
/// administrator of another municipality refused a case's routing trace and its transfer, a
/// citizen refused someone else's request, the verification of the trail, a retention dry run,
/// and staff logging in and out are all audit events naming who did it.
async fn audit_refusals_and_administration_are_recorded(backend: Backend) {
    let app = spawn(backend).await;
    let citizen = marked_citizen(&app).await;
    let id = submit_consenting(&app, &citizen).await;

    // R12: a home caseworker who neither has the case nor is the supervisor may see it, but
    // not assess the harm.
    let colleague = app.caseworker("1275-02").await;
    let refused = app
        .post(
            &format!("/api/v1/cases/{id}/harm-assessment"),
            Some(&colleague),
            json!({"cross_border_ok": true, "reason": "Jag tycker att det går bra."}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(
        app.store
            .harm_assessments(&case_id(&id))
            .await
            .expect("assessments")
            .is_empty()
    );
    let events = trail(&app, &id).await;
    let denied = refusals(&events, "caseworker:1275-02");
    assert!(
        denied.iter().any(|e| e.detail["action"] == "assess_harm"),
        "{denied:?}"
    );
    assert!(denied.iter().all(|e| e.municipality == "1275"));

    // Another municipality's administrator: no routing trace, no transfer, and both refusals
    // are on the case's home chain.
    let helsingborg = app
        .login(json!({"role": "admin", "municipality": "1283"}))
        .await;
    let traces = app
        .get(
            &format!("/api/v1/admin/cases/{id}/routing"),
            Some(&helsingborg),
        )
        .await;
    assert_eq!(traces.status, StatusCode::NOT_FOUND, "{}", traces.body);
    let transfer = app
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            Some(&helsingborg),
            json!({"municipality": "1283", "reason": "Vi tar den."}),
        )
        .await;
    assert_eq!(transfer.status, StatusCode::NOT_FOUND, "{}", transfer.body);
    assert!(transfer.body.get("policies").is_none());
    let events = trail(&app, &id).await;
    let denied = refusals(&events, "admin:demo-admin-1283");
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert!(denied.iter().all(|e| e.municipality == "1275"));
    // The home municipality's administrator reads it (R16), and that reading is recorded too.
    let perstorp = app
        .login(json!({"role": "admin", "municipality": "1275"}))
        .await;
    let traces = app
        .get(
            &format!("/api/v1/admin/cases/{id}/routing"),
            Some(&perstorp),
        )
        .await;
    assert_eq!(traces.status, StatusCode::OK, "{}", traces.body);
    let events = trail(&app, &id).await;
    assert!(
        events
            .iter()
            .any(|e| e.action == "read_routing_trace" && e.actor == "admin:demo-admin-1275"),
        "{events:?}"
    );
    assert!(refusals(&events, "admin:demo-admin-1275").is_empty());

    // Another citizen asking for Anna's request: 404, and recorded.
    let stranger = app.citizen(&person(21), "1275").await;
    let before = refusals(&events, "citizen").len();
    let read = app
        .get(&format!("/api/v1/requests/{id}"), Some(&stranger))
        .await;
    assert_eq!(read.status, StatusCode::NOT_FOUND, "{}", read.body);
    let events = trail(&app, &id).await;
    assert_eq!(refusals(&events, "citizen").len(), before + 1);

    // Verifying the trail and a retention dry run are recorded on the administrator's chain.
    let verified = app.get("/api/v1/admin/audit/verify", Some(&perstorp)).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    assert_eq!(verified.body["ok"], true);
    let federation = federation_admin(&app).await;
    let dry = app
        .post(
            "/api/v1/admin/retention",
            Some(&federation),
            json!({"dry_run": true}),
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);

    // A caseworker's login and logout: by bearer token, and of the browser login.
    let token = app.caseworker("1275-02").await;
    let out = app.post("/logout", Some(&token), json!({})).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let browser = crate::harness::browser();
    crate::harness::browser_login(
        &app,
        &browser,
        json!({"role": "caseworker", "caseworker_id": "1275-01"}),
    )
    .await;
    let out = browser
        .post(format!("{}/logout", app.base))
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), StatusCode::SEE_OTHER);

    let all = app.store.audit_events(None, 10_000).await.expect("audit");
    let has = |action: &str, actor: &str, municipality: &str| {
        all.iter()
            .any(|e| e.action == action && e.actor == actor && e.municipality == municipality)
    };
    assert!(
        has("verify_audit", "admin:demo-admin-1275", "1275"),
        "verification"
    );
    let federation_chain = all
        .iter()
        .find(|e| e.action == "retention_dry_run")
        .expect("the dry run is recorded");
    assert_eq!(federation_chain.actor, "admin:demo-admin-federation-1");
    assert!(has("login", "caseworker:1275-02", "1275"));
    assert!(has("login", "caseworker:1275-01", "1275"));
    let logouts: Vec<&str> = all
        .iter()
        .filter(|e| e.action == "logout" && e.municipality == "1275")
        .map(|e| e.actor.as_str())
        .collect();
    assert!(logouts.contains(&"caseworker:1275-02"), "{logouts:?}");
    assert!(logouts.contains(&"caseworker:1275-01"), "{logouts:?}");
    assert!(
        has("login", "admin:demo-admin-1283", "1283"),
        "administrators too"
    );
    // A citizen's own login is theirs: not on any chain.
    assert!(
        all.iter()
            .all(|e| !(e.action == "login" && e.actor == "citizen"))
    );
    // And the refusals are in the follow-up of unusual access.
    let report = app
        .get("/api/v1/admin/audit/follow-up", Some(&perstorp))
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let findings = report.body.as_array().expect("findings");
    for actor in ["caseworker:1275-02", "admin:demo-admin-1283", "citizen"] {
        assert!(
            findings
                .iter()
                .any(|f| f["reason"] == "access_denied" && f["event"]["actor"] == actor),
            "{actor}: {findings:?}"
        );
    }
}

/// A GET of a request with an access code, with the status, the `Retry-After` header and the
/// body.
async fn with_code(app: &TestApp, id: &str, code: &str) -> (StatusCode, Option<String>, Value) {
    let answer = app
        .client
        .get(format!("{}/api/v1/requests/{id}", app.base))
        .header("authorization", format!("AccessCode {code}"))
        .send()
        .await
        .expect("get");
    let status = answer.status();
    let retry_after = answer
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = answer.json().await.expect("json");
    (status, retry_after, body)
}

async fn anonymous_request(app: &TestApp) -> (String, String) {
    let created = app
        .post(
            "/api/v1/requests",
            None,
            json!({"category": "beroende", "language": "sv", "text": "Anonym fråga.",
                   "consent": {"cross_municipality": false}, "municipality": "1282"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    (
        created.body["id"].as_str().expect("id").to_owned(),
        created.body["access_code"]
            .as_str()
            .expect("code")
            .to_owned(),
    )
}

/// R1 (#11): a wrong access code on an existing anonymous request answers exactly like any code
/// on an id that does not exist, so a code says nothing about existence; wrong codes are
/// limited per client address — after the allowed tries even the right code, on any request,
/// is 429 with `Retry-After` — until the window has passed.
async fn r1_wrong_access_codes_answer_like_unknown_ids_and_are_limited_per_address(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let (id, code) = anonymous_request(&app).await;
    let (other_id, other_code) = anonymous_request(&app).await;
    let unknown = "0123456789abcdef0123456789abcdef";
    assert!(
        app.store
            .case(&case_id(unknown))
            .await
            .expect("read")
            .is_none()
    );

    let (status, _, wrong) = with_code(&app, &id, "aaaa-bbbb-cccc").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(wrong["error"], "not_found");
    let (status, _, missing) = with_code(&app, unknown, &code).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(wrong, missing, "the same answer: existence does not leak");

    // Two failures so far; the rest of the allowed tries, on both ids.
    for n in 2..ACCESS_CODE_TRIES {
        let target = if n % 2 == 0 { id.as_str() } else { unknown };
        let (status, _, body) = with_code(&app, target, "aaaa-bbbb-cccc").await;
        assert_eq!((status, &body), (StatusCode::NOT_FOUND, &wrong), "try {n}");
    }
    // Limited now: the right code, and another request's right code, are refused alike.
    let window = ACCESS_CODE_WINDOW.num_seconds().to_string();
    for (target, right) in [(&id, &code), (&other_id, &other_code)] {
        let (status, retry_after, body) = with_code(&app, target, right).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["error"], "rate_limited");
        assert_eq!(retry_after.as_deref(), Some(window.as_str()));
    }
    // A wrong code on the existing request is a refused access on its chain (#11).
    let refused = app
        .store
        .audit_events(Some(&case_id(&id)), 100)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "access_denied" && e.detail["access_code"] == "wrong")
        .count();
    assert!(refused >= 2, "{refused} refusals recorded");
    // The limit is about this client's address, in memory: nothing about it is stored.
    let events = app.store.audit_events(None, 1_000).await.expect("audit");
    assert!(
        events
            .iter()
            .all(|e| !e.detail.to_string().contains("127.0.0.1")),
        "R1: no address stored"
    );

    // Once the window has passed, the right codes work again.
    app.clock
        .advance(ACCESS_CODE_WINDOW + chrono::Duration::seconds(1));
    for (target, right) in [(&id, &code), (&other_id, &other_code)] {
        let (status, _, body) = with_code(&app, target, right).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["id"], target.as_str());
    }
}

on_both_backends!(
    r17_transfer_reasons_live_with_the_case_not_in_the_audit,
    r17_a_childs_records_are_kept_thirty_years_from_birth,
    r17_expired_browser_sessions_are_deleted,
    r19_the_export_holds_reasons_and_routing_decisions,
    audit_refusals_and_administration_are_recorded,
    r1_wrong_access_codes_answer_like_unknown_ids_and_are_limited_per_address,
);
