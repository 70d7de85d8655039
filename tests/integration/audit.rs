//! The audit trail (R15, R17, R19) on both backends: the chain found broken when the database
//! is tampered with directly, the append-only table, the follow-up report, retention on a
//! simulated clock, the citizen's export, and wrong access codes rate limited.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::harness::{Backend, TestApp, case_id, caseworker_id, spawn};
use crate::policies::held_in_helsingborg;
use crate::routing::{federation_admin, submit_with};
use crate::{ANNA, person};

/// Runs SQL on the application's database directly, as someone with database access could.
async fn raw(app: &TestApp, sql: &str) -> Result<u64, sqlx::Error> {
    if app.database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&app.database_url).await?;
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await?
            .rows_affected())
    } else {
        let mut conn = sqlx::PgConnection::connect(&app.database_url).await?;
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await?
            .rows_affected())
    }
}

/// Lifts the append-only triggers, as an attacker with the database owner's rights could.
async fn drop_triggers(app: &TestApp) {
    let statements: &[&str] = if app.database_url.starts_with("sqlite:") {
        &[
            "DROP TRIGGER audit_events_no_update",
            "DROP TRIGGER audit_events_no_delete",
        ]
    } else {
        &[
            "DROP TRIGGER audit_events_append_only ON audit_events",
            "DROP TRIGGER audit_events_no_truncate ON audit_events",
        ]
    };
    for sql in statements {
        raw(app, sql).await.expect("drop trigger");
    }
}

async fn verify(app: &TestApp, admin: &str) -> Value {
    let answer = app.get("/api/v1/admin/audit/verify", Some(admin)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body
}

/// A citizen's request claimed, read, answered and closed in Perstorp: a chain of events.
async fn some_casework(app: &TestApp) -> String {
    let citizen = app.citizen(ANNA, "1275").await;
    let submitted = submit_with(app, &citizen, "ekonomi", "sv", false).await;
    let id = submitted["id"].as_str().expect("id").to_owned();
    let caseworker = app.caseworker("1275-01").await;
    for (path, body) in [
        (format!("/api/v1/cases/{id}/claim"), json!({})),
        (
            format!("/api/v1/cases/{id}/messages"),
            json!({"text": "Hej!"}),
        ),
        (
            format!("/api/v1/cases/{id}/close"),
            json!({"outcome": "advice_given"}),
        ),
    ] {
        let answer = app.post(&path, Some(&caseworker), body).await;
        assert!(answer.status.is_success(), "{path}: {}", answer.body);
    }
    let read = app
        .get(&format!("/api/v1/cases/{id}"), Some(&caseworker))
        .await;
    assert_eq!(read.status, StatusCode::OK);
    id
}

/// Verification finds a changed, a deleted, an inserted and a cut-off event, naming the
/// first broken position; the table refuses updates and deletes while its triggers stand.
pub async fn the_audit_chain_finds_tampering(backend: Backend) {
    let app = spawn(backend).await;
    let admin = federation_admin(&app).await;
    some_casework(&app).await;
    let clean = verify(&app, &admin).await;
    assert_eq!(clean["ok"], true, "{clean}");
    assert!(clean["events"].as_u64().unwrap_or(0) >= 5, "{clean}");
    assert_eq!(clean["first_broken"], Value::Null);

    // Append-only in the database itself.
    assert!(
        raw(
            &app,
            "UPDATE audit_events SET action = 'nothing' WHERE seq = 2"
        )
        .await
        .is_err()
    );
    assert!(raw(&app, "DELETE FROM audit_events").await.is_err());
    assert_eq!(verify(&app, &admin).await["ok"], true);

    // A checkpoint of the heads (the scheduler writes one every ten minutes).
    app.advance(601).await;
    let head: i64 = app
        .store
        .audit_head("1275")
        .await
        .expect("head")
        .expect("1275 has a chain")
        .0;
    assert!(head >= 5);

    drop_triggers(&app).await;
    raw(
        &app,
        "UPDATE audit_events SET actor = 'caseworker:someone-else' WHERE municipality = '1275' AND seq = 3",
    )
    .await
    .expect("tamper");
    let broken = verify(&app, &admin).await;
    assert_eq!(broken["ok"], false);
    assert_eq!(
        broken["first_broken"],
        json!({"municipality": "1275", "seq": 3, "why": "content_changed"})
    );
}

pub async fn deleted_inserted_and_cut_events_are_found(backend: Backend) {
    for tamper in ["delete", "insert", "cut"] {
        let app = spawn(backend).await;
        let admin = federation_admin(&app).await;
        some_casework(&app).await;
        app.advance(601).await; // a checkpoint
        drop_triggers(&app).await;
        let last = app
            .store
            .audit_head("1275")
            .await
            .expect("head")
            .expect("chain")
            .0;
        let expected = match tamper {
            "delete" => {
                raw(
                    &app,
                    "DELETE FROM audit_events WHERE municipality = '1275' AND seq = 2",
                )
                .await
                .expect("delete");
                json!({"municipality": "1275", "seq": 2, "why": "missing_or_inserted"})
            }
            "insert" => {
                raw(
                    &app,
                    "INSERT INTO audit_events (at, actor, municipality, action, policies, detail) \
                     VALUES ('2026-01-01T00:00:00Z', 'caseworker:x', '1275', 'view', '[]', '{}')",
                )
                .await
                .expect("insert");
                json!({"municipality": "1275", "seq": last + 1, "why": "missing_or_inserted"})
            }
            _ => {
                // The newest event and the head rolled back with it: the checkpoint knows.
                let sql = format!(
                    "DELETE FROM audit_events WHERE municipality = '1275' AND seq = {last}"
                );
                raw(&app, &sql).await.expect("cut");
                let sql = format!(
                    "UPDATE audit_heads SET seq = {}, mac = (SELECT mac FROM audit_events \
                     WHERE municipality = '1275' AND seq = {}) WHERE municipality = '1275'",
                    last - 1,
                    last - 1
                );
                raw(&app, &sql).await.expect("roll back head");
                json!({"municipality": "1275", "seq": last, "why": "checkpoint_mismatch"})
            }
        };
        let broken = verify(&app, &admin).await;
        assert_eq!(broken["first_broken"], expected, "{tamper}: {broken}");
    }
}

/// The follow-up report: refused attempts, cases opened by someone who never had them, and
/// every access to a protected-identity case; each administrator sees their own chain.
pub async fn follow_up_lists_unusual_access(backend: Backend) {
    let app = spawn(backend).await;
    let citizen = app.citizen(ANNA, "1275").await;
    let submitted = submit_with(&app, &citizen, "ekonomi", "sv", false).await;
    let id = submitted["id"].as_str().expect("id").to_owned();
    // Helsingborg tries to read Perstorp's case: refused, and recorded.
    let partner = app.caseworker("1283-01").await;
    let refused = app
        .get(&format!("/api/v1/cases/{id}"), Some(&partner))
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    // A Perstorp colleague opens it without having it.
    let colleague = app.caseworker("1275-02").await;
    let opened = app
        .get(&format!("/api/v1/cases/{id}"), Some(&colleague))
        .await;
    assert_eq!(opened.status, StatusCode::OK);
    // A protected-identity request in Helsingborg.
    let protected = app
        .login(
            json!({"role": "citizen", "personnummer": person(5), "municipality": "1283",
                      "protection": "skyddad_folkbokforing"}),
        )
        .await;
    let protected_id = submit_with(&app, &protected, "ekonomi", "sv", false).await["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let perstorp = app
        .login(json!({"role": "admin", "municipality": "1275"}))
        .await;
    let report = app
        .get("/api/v1/admin/audit/follow-up", Some(&perstorp))
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let findings = report.body.as_array().expect("findings").clone();
    let has = |reason: &str, actor: &str| {
        findings
            .iter()
            .any(|f| f["reason"] == reason && f["event"]["actor"] == actor)
    };
    assert!(has("access_denied", "caseworker:1283-01"), "{findings:?}");
    assert!(has("opened_without_having_it", "caseworker:1275-02"));
    let denied = findings
        .iter()
        .find(|f| f["reason"] == "access_denied")
        .expect("denied");
    assert!(
        denied["event"]["policies"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    );
    assert!(
        denied["event"]["request_id"].is_string(),
        "request id recorded"
    );
    assert_eq!(denied["event"]["role"], "caseworker");
    assert!(
        findings
            .iter()
            .all(|f| f["event"]["case_id"] != protected_id.as_str()),
        "another municipality's protected case is not Perstorp's to follow up"
    );

    let helsingborg = app
        .login(json!({"role": "admin", "municipality": "1283"}))
        .await;
    let theirs = app
        .get("/api/v1/admin/audit/follow-up", Some(&helsingborg))
        .await;
    let theirs = theirs.body.as_array().expect("findings").clone();
    assert!(
        theirs.iter().any(|f| f["reason"] == "protected_identity"
            && f["event"]["case_id"] == protected_id.as_str())
    );
    assert!(theirs.iter().all(|f| f["event"]["municipality"] == "1283"));

    // CSV for the follow-up meeting.
    let csv = app
        .client
        .get(format!(
            "{}/api/v1/admin/audit/follow-up?format=csv",
            app.base
        ))
        .bearer_auth(&perstorp)
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/csv"))
    );
    let text = csv.text().await.expect("text");
    assert!(
        text.starts_with("reason,at,municipality,seq,actor"),
        "{text}"
    );
    assert!(text.contains("access_denied"));

    // The trail itself: a municipality's administrator reads only their own chain.
    let trail = app
        .get(&format!("/api/v1/admin/audit?case={id}"), Some(&perstorp))
        .await;
    assert_eq!(trail.status, StatusCode::OK);
    assert!(trail.body.as_array().is_some_and(|e| !e.is_empty()));
    let other = app
        .get("/api/v1/admin/audit?municipality=1283", Some(&perstorp))
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let caseworker = app.get("/api/v1/admin/audit", Some(&colleague)).await;
    assert_eq!(caseworker.status, StatusCode::FORBIDDEN);
}

/// Retention on a simulated clock: five years after its last entry a closed case loses its
/// personal data; a concern about a child stays 30 years; the audit trail stays and verifies.
pub async fn retention_thins_closed_cases(backend: Backend) {
    let app = spawn(backend).await;
    let id = some_casework(&app).await;
    // A child concern, handled and closed at home.
    let citizen = app.citizen(&person(9), "1275").await;
    let concern = submit_with(&app, &citizen, "oro_barn", "sv", false).await;
    let concern_id = concern["id"].as_str().expect("id").to_owned();
    let home = app.caseworker("1275-01").await;
    for (path, body) in [
        (format!("/api/v1/cases/{concern_id}/claim"), json!({})),
        (
            format!("/api/v1/cases/{concern_id}/close"),
            json!({"outcome": "referred_home"}),
        ),
    ] {
        let answer = app.post(&path, Some(&home), body).await;
        assert!(answer.status.is_success(), "{path}: {}", answer.body);
    }
    let admin = federation_admin(&app).await;
    let dry = app
        .post(
            "/api/v1/admin/retention",
            Some(&admin),
            json!({"dry_run": true}),
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    assert_eq!(dry.body, json!([]), "nothing is due yet");
    let local = app
        .login(json!({"role": "admin", "municipality": "1275"}))
        .await;
    let forbidden = app
        .post(
            "/api/v1/admin/retention",
            Some(&local),
            json!({"dry_run": true}),
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);

    app.clock.advance(chrono::Duration::days(5 * 366));
    let admin = federation_admin(&app).await;
    let dry = app
        .post(
            "/api/v1/admin/retention",
            Some(&admin),
            json!({"dry_run": true}),
        )
        .await;
    let due: Vec<&str> = dry
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|i| i["case_id"].as_str())
        .collect();
    assert_eq!(due, vec![id.as_str()], "the child concern stays 30 years");
    assert!(
        !app.store
            .messages(&case_id(&id))
            .await
            .expect("messages")
            .is_empty(),
        "dry run"
    );

    let report = app.advance(1).await;
    assert_eq!(report.thinned, 1, "the daily run");
    assert!(
        app.store
            .messages(&case_id(&id))
            .await
            .expect("messages")
            .is_empty()
    );
    let case = app
        .store
        .case(&case_id(&id))
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(case.personnummer(), None);
    assert!(case.thinned_at.is_some());
    assert_eq!(
        case.category.as_str(),
        "ekonomi",
        "statistics keep the category"
    );
    assert!(
        !app.store
            .messages(&case_id(&concern_id))
            .await
            .expect("m")
            .is_empty()
    );
    let trail = app
        .store
        .audit_events(Some(&case_id(&id)), 100)
        .await
        .expect("audit");
    assert!(trail.iter().any(|e| e.action == "thinned"));
    assert!(trail.iter().any(|e| e.action == "claim"), "the trail stays");
    assert_eq!(verify(&app, &admin).await["ok"], true);
    let again = app
        .post(
            "/api/v1/admin/retention",
            Some(&admin),
            json!({"dry_run": false}),
        )
        .await;
    assert_eq!(again.body, json!([]), "thinned once");
}

/// The citizen's export: every request with messages, consent history and which
/// municipalities opened it when.
pub async fn citizens_export_everything_about_them(backend: Backend) {
    let app = spawn(backend).await;
    let (citizen, partner, id) = held_in_helsingborg(&app).await;
    let read = app
        .get(&format!("/api/v1/cases/{id}"), Some(&partner))
        .await;
    assert_eq!(read.status, StatusCode::OK);
    let narrowed = app
        .put(
            &format!("/api/v1/requests/{id}/consent"),
            Some(&citizen),
            json!({"cross_municipality": true, "municipalities": ["1283"]}),
        )
        .await;
    assert_eq!(narrowed.status, StatusCode::OK);

    let export = app.get("/api/v1/me/export", Some(&citizen)).await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.body);
    assert_eq!(export.body["person"]["personnummer"], ANNA);
    let requests = export.body["requests"].as_array().expect("requests");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request["messages"][0]["from"], "citizen");
    assert_eq!(request["consents"].as_array().map(Vec::len), Some(2));
    let opened = request["opened_by"].as_array().expect("opened_by");
    assert!(
        opened
            .iter()
            .any(|o| o["municipality"] == "1283" && o["action"] == "view"),
        "{opened:?}"
    );
    assert!(opened.iter().any(|o| o["action"] == "claim"));
    let audit = app
        .store
        .audit_events(Some(&case_id(&id)), 100)
        .await
        .expect("audit");
    assert!(audit.iter().any(|e| e.action == "export"));
    // Staff have no export of their own here.
    let staff = app.get("/api/v1/me/export", Some(&partner)).await;
    assert_eq!(staff.status, StatusCode::FORBIDDEN);
}

/// `ACCESS_CODE_TRIES` wrong access codes from this client's address, then 429 — the right
/// code included — until the window has passed (R1; the limit is per client address, not per
/// request, so it says nothing about whether a request exists: see `records.rs`).
pub async fn wrong_access_codes_are_rate_limited(backend: Backend) {
    let app = spawn(backend).await;
    let created = app
        .post(
            "/api/v1/requests",
            None,
            json!({"category": "beroende", "language": "sv", "text": "Anonym fråga.",
                   "consent": {"cross_municipality": false}, "municipality": "1282"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let code = format!(
        "AccessCode {}",
        created.body["access_code"].as_str().expect("code")
    );
    // Nothing identifies the visitor: no number, no home of their own, no address; only the
    // hash of the code.
    let case = app
        .store
        .case(&case_id(&id))
        .await
        .expect("read")
        .expect("case");
    assert_eq!(
        (case.citizen.as_ref(), case.protection.as_str(), case.loa),
        (None, "none", None)
    );
    let stored_code = case.access_code_hash.clone().expect("hash");
    assert!(!code.contains(&stored_code) && stored_code.len() == 64);
    let path = format!("/api/v1/requests/{id}");
    for _ in 0..brygga::workflow::ACCESS_CODE_TRIES {
        let wrong = app.get(&path, Some("AccessCode aaaa-bbbb-cccc")).await;
        assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    }
    let limited = app
        .client
        .request(Method::GET, format!("{}{path}", app.base))
        .header("authorization", &code)
        .send()
        .await
        .expect("get");
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        limited
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("900")
    );
    let body: Value = limited.json().await.expect("json");
    assert_eq!(body["error"], "rate_limited");
    app.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(app.get(&path, Some(&code)).await.status, StatusCode::OK);
}

/// Open cases nobody has touched for 90 days are closed as `no_contact`, freeing the
/// caseworker; a concern about a child is never closed this way (R10).
pub async fn inactive_cases_close_as_no_contact(backend: Backend) {
    let app = spawn(backend).await;
    let citizen = app.citizen(ANNA, "1275").await;
    let id = submit_with(&app, &citizen, "ekonomi", "sv", false).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let caseworker = app.caseworker("1275-01").await;
    let claimed = app
        .post(
            &format!("/api/v1/cases/{id}/claim"),
            Some(&caseworker),
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, StatusCode::OK);
    let reporter = app.citizen(&person(11), "1275").await;
    let concern = submit_with(&app, &reporter, "oro_barn", "sv", false).await["id"]
        .as_str()
        .expect("id")
        .to_owned();

    assert_eq!(app.advance(89 * 86_400).await.closed_inactive, 0);
    let report = app.advance(2 * 86_400).await;
    assert_eq!(report.closed_inactive, 1, "{report:?}");
    let case = app
        .store
        .case(&case_id(&id))
        .await
        .expect("read")
        .expect("case");
    assert_eq!(case.state.as_str(), "closed");
    assert_eq!(case.outcome.map(|o| o.as_str()), Some("no_contact"));
    assert_eq!(
        app.store
            .load_of(&caseworker_id("1275-01"))
            .await
            .expect("load"),
        0
    );
    let concern = app
        .store
        .case(&case_id(&concern))
        .await
        .expect("read")
        .expect("case");
    assert_eq!(concern.state.as_str(), "queued", "R10: never dropped");
    let trail = app
        .store
        .audit_events(Some(&case_id(&id)), 50)
        .await
        .expect("audit");
    let closing = trail
        .iter()
        .find(|e| e.action == "close_inactive")
        .expect("audited");
    assert_eq!(closing.policies, vec!["inactivity-no-contact".to_owned()]);
}
