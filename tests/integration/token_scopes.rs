//! Integration tokens' scopes over HTTP (issue 21, point 4): tokens are created with route
//! families (`audit:read`, `cases:write`, …), 90 days unless asked otherwise and at most 365;
//! a route opens to a token only if its family is among them, and a refusal is audited on the
//! token's chain; changing policies, retention and managing tokens have no scope at all, and a
//! token never administers the federation. Tokens from before the families keep what their
//! `read`/`write` mapped to.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use brygga::audit::AuditEntry;
use brygga::auth::TokenRequest;
use brygga::clock::Clock;
use brygga::domain::Administrator;
use brygga::domain::access::{Principal, Scope, TokenKind};
use brygga::domain::ids::MunicipalityCode;

use crate::ANNA;
use crate::harness::{Answer, Backend, TestApp, spawn};
use crate::routing::submit_with;

const TOKENS: &str = "/api/v1/admin/tokens";

/// Every scope an administrator may grant.
const ALL: [&str; 10] = [
    "audit:read",
    "stats:read",
    "routing:read",
    "routing:write",
    "cases:write",
    "caseworkers:read",
    "caseworkers:write",
    "config:read",
    "policies:read",
    "events:read",
];

async fn perstorp_admin(app: &TestApp) -> String {
    app.login(json!({"role": "admin", "municipality": "1275"}))
        .await
}

/// A new token's answer, which must be 201.
async fn create(app: &TestApp, admin: &str, body: Value) -> Value {
    let answer = app.post(TOKENS, Some(admin), body.clone()).await;
    assert_eq!(
        answer.status,
        StatusCode::CREATED,
        "{body}: {}",
        answer.body
    );
    answer.body
}

/// The secret of a new token with `scopes`, and its id.
async fn token(app: &TestApp, admin: &str, name: &str, scopes: &[&str]) -> (String, String) {
    let body = create(app, admin, json!({"name": name, "scopes": scopes})).await;
    (
        body["token"].as_str().expect("token").to_owned(),
        body["id"].as_str().expect("id").to_owned(),
    )
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("a time: {v}"))
}

/// The latest `access_denied` event of a token.
async fn latest_refusal(app: &TestApp, token_id: &str) -> AuditEntry {
    let actor = format!("admin:token:{token_id}");
    app.store
        .audit_events(None, 1000)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "access_denied" && e.actor == actor)
        .max_by_key(|e| e.id)
        .unwrap_or_else(|| panic!("a refusal of {actor} on the trail"))
}

async fn refusals(app: &TestApp, token_id: &str) -> usize {
    let actor = format!("admin:token:{token_id}");
    app.store
        .audit_events(None, 1000)
        .await
        .expect("audit")
        .iter()
        .filter(|e| e.action == "access_denied" && e.actor == actor)
        .count()
}

/// A Perstorp case, for the routes that take one.
async fn perstorp_case(app: &TestApp) -> String {
    let citizen = app.citizen(ANNA, "1275").await;
    submit_with(app, &citizen, "ekonomi", "sv", true).await["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// `GET /api/v1/events`: the status, and whether it is an event stream (the stream itself is
/// dropped at once).
async fn open_events(app: &TestApp, token: &str) -> (StatusCode, bool) {
    let response = app
        .client
        .get(format!("{}/api/v1/events", app.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent");
    let stream = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/event-stream"));
    (response.status(), stream)
}

/// Creating: 90 days unless asked, at most 365; family scopes only, at least one.
async fn tokens_are_created_with_families_and_an_expiry(backend: Backend) {
    let app = spawn(backend).await;
    let admin = perstorp_admin(&app).await;

    let body = create(
        &app,
        &admin,
        json!({"name": "Perstorps BI", "scopes": ["audit:read", "stats:read", "audit:read"]}),
    )
    .await;
    assert_eq!(body["scopes"], json!(["audit:read", "stats:read"]));
    assert_eq!(body["municipality"], "1275");
    assert_eq!(body["created_by"], "admin:demo-admin-1275");
    let created = time(&body["created_at"]);
    assert_eq!(created, app.clock.now());
    assert_eq!(time(&body["expires_at"]) - created, Duration::days(90));

    let year = create(
        &app,
        &admin,
        json!({"name": "Årlig export", "scopes": ["audit:read"], "days": 365}),
    )
    .await;
    assert_eq!(
        time(&year["expires_at"]) - time(&year["created_at"]),
        Duration::days(365)
    );
    let week = create(
        &app,
        &admin,
        json!({"name": "Prov", "scopes": ["config:read"], "days": 7}),
    )
    .await;
    assert_eq!(
        time(&week["expires_at"]) - time(&week["created_at"]),
        Duration::days(7)
    );

    for (body, field) in [
        (
            json!({"name": "x", "scopes": ["audit:read"], "days": 366}),
            "days",
        ),
        (
            json!({"name": "x", "scopes": ["audit:read"], "days": 0}),
            "days",
        ),
        (
            json!({"name": "x", "scopes": ["audit:read"], "days": -1}),
            "days",
        ),
        (json!({"name": "x", "scopes": ["read"]}), "scopes"),
        (json!({"name": "x", "scopes": ["write"]}), "scopes"),
        (json!({"name": "x", "scopes": ["read", "write"]}), "scopes"),
        (
            json!({"name": "x", "scopes": ["audit:read", "admin"]}),
            "scopes",
        ),
        (json!({"name": "x", "scopes": ["policies:write"]}), "scopes"),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": "x"}), "scopes"),
        (json!({"name": " ", "scopes": ["audit:read"]}), "name"),
    ] {
        let answer = app.post(TOKENS, Some(&admin), body.clone()).await;
        assert_eq!(
            (answer.status, answer.error(), answer.body["field"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                Some(field)
            ),
            "{body}: {}",
            answer.body
        );
    }
    let listed = app.get(TOKENS, Some(&admin)).await;
    assert_eq!(
        listed.body.as_array().map(Vec::len),
        Some(3),
        "{}",
        listed.body
    );
}

/// A token opens only its families; a refusal is 403, audited on its chain with the family it
/// needed.
async fn a_token_opens_only_its_families(backend: Backend) {
    let app = spawn(backend).await;
    let admin = perstorp_admin(&app).await;
    let id = perstorp_case(&app).await;
    let (audit, audit_id) = token(&app, &admin, "Revisionsexport", &["audit:read"]).await;

    for path in [
        "/api/v1/admin/audit",
        "/api/v1/admin/audit/verify",
        "/api/v1/admin/audit/follow-up",
    ] {
        let answer = app.get(path, Some(&audit)).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
    }
    // The trail names the token as its administrator named it.
    let read = app
        .store
        .audit_events(None, 1000)
        .await
        .expect("audit")
        .into_iter()
        .find(|e| e.action == "read_audit" && e.actor == format!("admin:token:{audit_id}"))
        .expect("the read is on the trail");
    assert_eq!(read.actor_name.as_deref(), Some("Revisionsexport"));
    assert_eq!(read.municipality, "1275");

    let routing = app.get("/api/v1/admin/routing", Some(&audit)).await;
    routing.assert_error(StatusCode::FORBIDDEN, "forbidden");
    let refused = latest_refusal(&app, &audit_id).await;
    assert_eq!(refused.policies, vec!["integration-token-scope".to_owned()]);
    assert_eq!(refused.detail["needs"], "routing:read");
    assert_eq!(refused.detail["route"], "GET /api/v1/admin/routing");
    assert_eq!(refused.municipality, "1275");
    assert_eq!(refused.actor_name.as_deref(), Some("Revisionsexport"));

    let transfer = app
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            Some(&audit),
            json!({"municipality": "1283", "reason": "Språk"}),
        )
        .await;
    transfer.assert_error(StatusCode::FORBIDDEN, "forbidden");
    let refused = latest_refusal(&app, &audit_id).await;
    assert_eq!(refused.detail["needs"], "cases:write");
    assert_eq!(
        refused.detail["route"],
        format!("POST /api/v1/cases/{id}/transfer")
    );
    // Refused before the body is read: a broken body is still 403.
    let broken = app
        .raw(
            Method::POST,
            &format!("/api/v1/cases/{id}/transfer"),
            Some(&audit),
            Some(b"{".to_vec()),
        )
        .await;
    assert_eq!(broken.status, StatusCode::FORBIDDEN);
    assert_eq!(
        open_events(&app, &audit).await,
        (StatusCode::FORBIDDEN, false)
    );
    assert_eq!(
        latest_refusal(&app, &audit_id).await.detail["needs"],
        "events:read"
    );
    // Routes for people only: refused with no family named.
    for (method, path) in [
        (Method::GET, "/api/v1/queue".to_owned()),
        (Method::GET, format!("/api/v1/cases/{id}")),
        (Method::GET, "/api/v1/me/requests".to_owned()),
    ] {
        let answer = app.raw(method.clone(), &path, Some(&audit), None).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(
            latest_refusal(&app, &audit_id).await.detail["needs"],
            Value::Null
        );
    }

    // routing:read opens the settings and a case's trace, not their change.
    let (routing, routing_id) = token(&app, &admin, "Routningsinsyn", &["routing:read"]).await;
    let settings = app.get("/api/v1/admin/routing", Some(&routing)).await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.body);
    let traces = app
        .get(&format!("/api/v1/admin/cases/{id}/routing"), Some(&routing))
        .await;
    assert_eq!(traces.status, StatusCode::OK, "{}", traces.body);
    let change = app
        .put("/api/v1/admin/routing", Some(&routing), json!([]))
        .await;
    assert_eq!(change.status, StatusCode::FORBIDDEN);
    assert_eq!(
        latest_refusal(&app, &routing_id).await.detail["needs"],
        "routing:write"
    );
    assert_eq!(
        app.get("/api/v1/admin/audit", Some(&routing)).await.status,
        StatusCode::FORBIDDEN
    );

    // events:read opens the administrators' stream.
    let (events, _) = token(&app, &admin, "Larmtavla", &["events:read"]).await;
    assert_eq!(open_events(&app, &events).await, (StatusCode::OK, true));

    // cases:write lets the home's token move the case, as its administrator could.
    let (cases, _) = token(&app, &admin, "Ärendeflytt", &["cases:write"]).await;
    let moved = app
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            Some(&cases),
            json!({"municipality": "1283", "reason": "Arabisktalande rådgivare i Helsingborg"}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    // … but a Helsingborg token with the scope may not move Perstorp's case: the policies
    // still decide after the scope.
    let helsingborg = app
        .login(json!({"role": "admin", "municipality": "1283"}))
        .await;
    let (other, other_id) = token(&app, &helsingborg, "Helsingborgs flytt", &["cases:write"]).await;
    let before = refusals(&app, &other_id).await;
    let foreign = app
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            Some(&other),
            json!({"municipality": "1282", "reason": "x"}),
        )
        .await;
    assert!(
        [StatusCode::FORBIDDEN, StatusCode::NOT_FOUND].contains(&foreign.status),
        "{}",
        foreign.body
    );
    assert!(
        app.store
            .audit_events(None, 1000)
            .await
            .expect("audit")
            .iter()
            .filter(|e| e.actor == format!("admin:token:{other_id}"))
            .all(|e| !e.policies.contains(&"integration-token-scope".to_owned())),
        "the scope let it through: {before}"
    );
}

/// What no scope opens: changing policies, their impact and activation, retention, and the
/// tokens themselves — not even for a token holding every scope; and a token never
/// administers the federation, whoever created it.
async fn no_scope_opens_policies_retention_or_tokens(backend: Backend) {
    let app = spawn(backend).await;
    let admin = perstorp_admin(&app).await;
    let federation = app.login(json!({"role": "admin"})).await;
    let (_, victim) = token(&app, &admin, "Att återkalla", &["audit:read"]).await;

    let (local_all, local_id) = token(&app, &admin, "Allt i Perstorp", &ALL).await;
    let body = create(
        &app,
        &federation,
        json!({"name": "Federationens export", "scopes": ALL}),
    )
    .await;
    // A federation administrator may create one: it acts for the federation (no municipality),
    // with the same limits.
    assert!(body.get("municipality").is_none(), "{body}");
    assert_eq!(body["created_by"], "admin:demo-admin-federation-1");
    let federation_all = body["token"].as_str().expect("token").to_owned();
    let federation_id = body["id"].as_str().expect("id").to_owned();

    let shipped = brygga::policy::engine::default_text();
    let closed: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            "/api/v1/admin/policies".into(),
            Some(json!({"text": shipped})),
        ),
        (
            Method::POST,
            "/api/v1/admin/policies/1/activate".into(),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/api/v1/admin/policies/1/impact".into(),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/api/v1/admin/retention".into(),
            Some(json!({"dry_run": true})),
        ),
        (Method::GET, TOKENS.into(), None),
        (
            Method::POST,
            TOKENS.into(),
            Some(json!({"name": "Barnbarn", "scopes": ["audit:read"]})),
        ),
        (Method::DELETE, format!("{TOKENS}/{victim}"), None),
    ];
    for (secret, id) in [(&local_all, &local_id), (&federation_all, &federation_id)] {
        for (method, path, body) in &closed {
            let before = refusals(&app, id).await;
            let answer: Answer = app
                .raw(
                    method.clone(),
                    path,
                    Some(secret),
                    body.as_ref().map(|b| b.to_string().into_bytes()),
                )
                .await;
            assert_eq!(
                (answer.status, answer.error()),
                (StatusCode::FORBIDDEN, "forbidden"),
                "{method} {path}: {}",
                answer.body
            );
            assert_eq!(refusals(&app, id).await, before + 1, "{method} {path}");
            let refused = latest_refusal(&app, id).await;
            assert_eq!(refused.policies, vec!["integration-token-scope".to_owned()]);
            assert_eq!(refused.detail["needs"], Value::Null, "{method} {path}");
        }
    }
    let refused = latest_refusal(&app, &federation_id).await;
    assert_eq!(
        refused.municipality, "familjen-helsingborg",
        "the federation's chain"
    );
    // Nothing happened: one version, the victim alive, no token created by a token.
    let listing = app.get("/api/v1/admin/policies", Some(&federation)).await;
    assert_eq!(listing.body["versions"].as_array().map(Vec::len), Some(1));
    let tokens = app.get(TOKENS, Some(&federation)).await;
    let tokens = tokens.body.as_array().expect("tokens");
    assert_eq!(tokens.len(), 3, "{tokens:?}");
    assert!(tokens.iter().all(|t| t["revoked_at"].is_null()));

    // routing:write gets a token past its scope; the federation's shared settings are then
    // refused by the gate, whoever created the token.
    let current = app
        .get("/api/v1/admin/routing", Some(&federation_all))
        .await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.body);
    let entry = current.body["categories"][0].clone();
    // A federation token reads what its scopes open; reading is not administering.
    let versions = app
        .get("/api/v1/admin/policies", Some(&federation_all))
        .await;
    assert_eq!(versions.status, StatusCode::OK, "{}", versions.body);
    for (secret, id, ground) in [
        (
            &federation_all,
            &federation_id,
            "integration-token-not-federation",
        ),
        (&local_all, &local_id, ""),
    ] {
        let answer = app
            .put(
                "/api/v1/admin/routing",
                Some(secret),
                json!([entry.clone()]),
            )
            .await;
        answer.assert_error(StatusCode::FORBIDDEN, "forbidden");
        let refused = latest_refusal(&app, id).await;
        assert_ne!(refused.policies, vec!["integration-token-scope".to_owned()]);
        assert_eq!(refused.detail["action"], "administer");
        assert_eq!(refused.detail["on"], "federation");
        if !ground.is_empty() {
            assert_eq!(refused.policies, vec![ground.to_owned()]);
        }
    }
    // The person who made the federation's token may change them.
    let by_person = app
        .put("/api/v1/admin/routing", Some(&federation), json!([entry]))
        .await;
    assert_eq!(by_person.status, StatusCode::OK, "{}", by_person.body);
}

/// A token from before the families, holding `read` and `write`: `read` opens every reading
/// family, `write` the writing ones; what no scope opens stays closed.
async fn old_tokens_keep_their_mapped_families(backend: Backend) {
    let app = spawn(backend).await;
    let id = perstorp_case(&app).await;
    let principal = Principal::Admin(Administrator {
        id: String::new(),
        name: "Gammal integration".to_owned(),
        municipality: Some(MunicipalityCode::parse("1275").expect("code")),
    });
    let now = app.clock.now();
    let (row, issued) = TokenRequest {
        principal: &principal,
        kind: TokenKind::Integration,
        name: Some("Gammal integration".to_owned()),
        scopes: vec![Scope::Read, Scope::Write],
        login_id: None,
        created_by: "admin:1275".to_owned(),
        now,
        expires_at: now + Duration::days(30),
    }
    .mint();
    app.store
        .insert_api_token(&row, None)
        .await
        .expect("an old token stored");
    let old = issued.token;

    for path in [
        "/api/v1/admin/audit",
        "/api/v1/admin/routing",
        "/api/v1/admin/policies",
    ] {
        let answer = app.get(path, Some(&old)).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
    }
    assert_eq!(open_events(&app, &old).await, (StatusCode::OK, true));
    let moved = app
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            Some(&old),
            json!({"municipality": "1283", "reason": "Språk"}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let event = app
        .store
        .audit_events(Some(&crate::harness::case_id(&id)), 100)
        .await
        .expect("audit")
        .into_iter()
        .find(|e| e.action == "transfer")
        .expect("transfer audited");
    assert_eq!(event.actor, format!("admin:token:{}", issued.id));

    // Still nothing that no scope opens.
    let policies = app
        .post(
            "/api/v1/admin/policies",
            Some(&old),
            json!({"text": brygga::policy::engine::default_text()}),
        )
        .await;
    assert_eq!(policies.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get(TOKENS, Some(&old)).await.status,
        StatusCode::FORBIDDEN
    );
    // Listed as stored, with the municipality it acts for.
    let admin = perstorp_admin(&app).await;
    let listed = app.get(TOKENS, Some(&admin)).await;
    let listed = listed.body.as_array().expect("tokens");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["scopes"], json!(["read", "write"]));
    assert_eq!(listed[0]["municipality"], "1275");
}

on_both_backends!(
    tokens_are_created_with_families_and_an_expiry,
    a_token_opens_only_its_families,
    no_scope_opens_policies_retention_or_tokens,
    old_tokens_keep_their_mapped_families,
);
