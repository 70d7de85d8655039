//! Browser sessions and bearer tokens on both backends: the demo login's cookie session,
//! tokens issued to it, idle and absolute timeouts on the application's clock, logout,
//! integration tokens (scoped, revocable, audited), and `serve` without demo routes.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, bind, browser, browser_login, spawn, spawn_on};

async fn status(b: &reqwest::Client, url: String) -> StatusCode {
    b.get(url).send().await.expect("get").status()
}

/// The demo login makes a cookie session and a bearer token bound to it; logout ends both.
pub async fn browser_sessions_and_their_tokens(backend: Backend) {
    let app = spawn(backend).await;
    let b = browser();
    let token = browser_login(
        &app,
        &b,
        json!({"role": "citizen", "personnummer": "198112189876", "municipality": "1275"}),
    )
    .await;
    let mine = format!("{}/api/v1/me/requests", app.base);
    assert_eq!(
        status(&b, mine.clone()).await,
        StatusCode::OK,
        "the cookie alone"
    );
    assert_eq!(
        app.get("/api/v1/me/requests", Some(&token)).await.status,
        StatusCode::OK
    );
    let issued = b
        .post(format!("{}/api/v1/me/tokens", app.base))
        .send()
        .await
        .expect("token");
    assert_eq!(issued.status(), StatusCode::CREATED);
    let second: Value = issued.json().await.expect("json");
    let second = second["token"].as_str().expect("token").to_owned();
    // Tokens do not beget tokens.
    let again = app
        .post("/api/v1/me/tokens", Some(&second), json!({}))
        .await;
    assert_eq!(again.status, StatusCode::FORBIDDEN);

    let out = b
        .post(format!("{}/logout", app.base))
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(status(&b, mine).await, StatusCode::UNAUTHORIZED);
    for t in [&token, &second] {
        assert_eq!(
            app.get("/api/v1/me/requests", Some(t)).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // An unknown token is 401, never anonymous.
    let forged = app
        .post(
            "/api/v1/requests",
            Some("0000"),
            json!({"category": "ekonomi", "language": "sv", "text": "x",
                   "consent": {"cross_municipality": false}, "municipality": "1275"}),
        )
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);

    // A bearer token logs out only itself.
    let c = browser();
    let token = browser_login(
        &app,
        &c,
        json!({"role": "caseworker", "caseworker_id": "1275-01"}),
    )
    .await;
    let out = app.post("/logout", Some(&token), json!({})).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/queue", Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&c, format!("{}/api/v1/queue", app.base)).await,
        StatusCode::OK
    );
}

/// Idle and absolute timeouts, on the application's clock.
pub async fn sessions_end_when_idle_or_too_old(backend: Backend) {
    let (listener, _) = bind();
    let app = spawn_on(backend, listener, true, |config| {
        config.session_hours = 1;
        config.session_idle_minutes = 30;
    })
    .await;
    let queue = format!("{}/api/v1/queue", app.base);
    let b = browser();
    browser_login(
        &app,
        &b,
        json!({"role": "caseworker", "caseworker_id": "1275-01"}),
    )
    .await;
    app.clock.advance(chrono::Duration::minutes(31));
    assert_eq!(
        status(&b, queue.clone()).await,
        StatusCode::UNAUTHORIZED,
        "idle"
    );
    assert_eq!(
        status(&b, queue.clone()).await,
        StatusCode::UNAUTHORIZED,
        "and gone"
    );

    let b = browser();
    let token = browser_login(
        &app,
        &b,
        json!({"role": "caseworker", "caseworker_id": "1275-01"}),
    )
    .await;
    for _ in 0..3 {
        app.clock.advance(chrono::Duration::minutes(20));
        assert_eq!(status(&b, queue.clone()).await, StatusCode::OK, "active");
    }
    app.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(
        status(&b, queue.clone()).await,
        StatusCode::UNAUTHORIZED,
        "absolute"
    );
    assert_eq!(
        app.get("/api/v1/queue", Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// Integration tokens: created by administrators, shown once, scoped, revocable, audited.
pub async fn integration_tokens_are_scoped_and_revocable(backend: Backend) {
    let app = spawn(backend).await;
    let perstorp = app
        .login(json!({"role": "admin", "municipality": "1275"}))
        .await;
    let helsingborg = app
        .login(json!({"role": "admin", "municipality": "1283"}))
        .await;
    let caseworker = app.caseworker("1275-01").await;

    for bad in [
        json!({"name": "", "scopes": ["routing:read"]}),
        json!({"name": "x", "scopes": ["admin"]}),
        json!({"name": "x", "scopes": ["routing:read"], "days": 10000}),
    ] {
        let answer = app
            .post("/api/v1/admin/tokens", Some(&perstorp), bad.clone())
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let answer = app
        .post(
            "/api/v1/admin/tokens",
            Some(&caseworker),
            json!({"name": "x", "scopes": ["routing:read"]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);

    let created = app
        .post(
            "/api/v1/admin/tokens",
            Some(&perstorp),
            json!({"name": "Statistik till Perstorps BI", "scopes": ["routing:read"], "days": 30}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let read_token = created.body["token"].as_str().expect("token").to_owned();
    let id = created.body["id"].as_str().expect("id").to_owned();
    assert_eq!(created.body["municipality"], "1275");

    let read = app.get("/api/v1/admin/routing", Some(&read_token)).await;
    assert_eq!(read.status, StatusCode::OK);
    let write = app
        .post(
            "/api/v1/admin/policies/simulate",
            Some(&read_token),
            json!({}),
        )
        .await;
    assert_eq!(
        write.status,
        StatusCode::FORBIDDEN,
        "routing:read does not open policies:read"
    );
    let beget = app
        .post(
            "/api/v1/admin/tokens",
            Some(&read_token),
            json!({"name": "y", "scopes": ["routing:read"]}),
        )
        .await;
    assert_eq!(beget.status, StatusCode::FORBIDDEN);

    let listed = app.get("/api/v1/admin/tokens", Some(&perstorp)).await;
    let listed = listed.body.as_array().expect("list").clone();
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].get("token").is_none(),
        "the secret is never shown again"
    );
    let others = app.get("/api/v1/admin/tokens", Some(&helsingborg)).await;
    assert_eq!(others.body, json!([]));
    let not_theirs = app
        .raw(
            reqwest::Method::DELETE,
            &format!("/api/v1/admin/tokens/{id}"),
            Some(&helsingborg),
            None,
        )
        .await;
    assert_eq!(not_theirs.status, StatusCode::NOT_FOUND);
    let revoked = app
        .raw(
            reqwest::Method::DELETE,
            &format!("/api/v1/admin/tokens/{id}"),
            Some(&perstorp),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/admin/routing", Some(&read_token))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let again = app
        .raw(
            reqwest::Method::DELETE,
            &format!("/api/v1/admin/tokens/{id}"),
            Some(&perstorp),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    let audit = app.store.audit_events(None, 500).await.expect("audit");
    for action in ["integration_token_created", "integration_token_revoked"] {
        let event = audit.iter().find(|e| e.action == action).expect(action);
        assert_eq!(event.municipality, "1275", "{action}");
        assert!(
            !event.detail.to_string().contains(&read_token),
            "no secret in the audit"
        );
    }
}

/// `serve` has no demo routes, and without configured providers no login routes.
pub async fn serve_has_no_demo_routes(backend: Backend) {
    let (listener, _) = bind();
    let app = spawn_on(backend, listener, false, |_| {}).await;
    let login = app
        .post("/demo/login", None, json!({"role": "admin"}))
        .await;
    assert_eq!(login.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/demo/caseworkers", None).await.status,
        StatusCode::NOT_FOUND
    );
    let b = browser();
    for path in ["/login/citizen", "/login/staff/1275"] {
        assert_eq!(
            status(&b, format!("{}{path}", app.base)).await,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
}
