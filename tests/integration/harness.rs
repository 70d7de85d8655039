//! Starts the real application per test, on a fresh database of the chosen backend, on a
//! loopback port, and talks HTTP to it like any client.
//!
//! PostgreSQL: `scripts/test` starts a throwaway cluster and exports
//! `BRYGGA_TEST_POSTGRES_URL`; each test creates its own database there. Without that
//! variable a PostgreSQL test fails with a message saying how to run it: never a silent skip.

use std::sync::Arc;

use brygga::app::{Application, Options};
use brygga::clock::ManualClock;
use brygga::config::Config;
use brygga::store::Store;
use brygga::workflow::Context;
use chrono::{DurationRound, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::sync::oneshot;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    /// The application's context: tests run the scheduler's tick with it.
    pub ctx: Context,
    /// The application's clock, moved by tests (no sleeping for timeouts).
    pub clock: Arc<ManualClock>,
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn postgres_database() -> String {
    let admin = std::env::var("BRYGGA_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "PostgreSQL tests need BRYGGA_TEST_POSTGRES_URL (a superuser URL of a throwaway \
             cluster). Run the suite with ./scripts/test, which starts one."
        )
    });
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL at {admin}: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let (base, _) = admin.rsplit_once('/').expect("URL with a database path");
    format!("{base}/{name}")
}

/// A fresh, migrated store of `backend` without the application around it (the store
/// conformance suite), with its database URL (to reach it directly) and the directory that
/// holds a SQLite file (removed when dropped).
pub async fn open_store(backend: Backend) -> (Arc<dyn Store>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = match backend {
        Backend::Sqlite => format!("sqlite:{}", dir.path().join("brygga.db").display()),
        Backend::Postgres => postgres_database().await,
    };
    let key = brygga::audit::AuditKey::new(brygga::app::DEMO_AUDIT_KEY).expect("demo key");
    let store = brygga::store::open(&database_url, 8, Some(key))
        .await
        .expect("store opens");
    (store, database_url, dir)
}

pub async fn spawn(backend: Backend) -> TestApp {
    let (listener, _) = bind();
    spawn_on(backend, listener, true, |_| {}).await
}

/// A loopback listener for an application, and the URL it will answer at (known before the
/// application is configured: OpenID Connect clients are registered with it).
pub fn bind() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("loopback port");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    (listener, url)
}

/// The demo application with a probe the gate calls before every decided write: a test holds
/// one request between its decision and its write while another commits.
pub async fn spawn_probed(
    backend: Backend,
    probe: Arc<dyn brygga::workflow::WriteProbe>,
) -> TestApp {
    let (listener, _) = bind();
    spawn_with(backend, listener, true, |_| {}, Some(probe)).await
}

/// The application on `listener`: `demo` as `brygga demo` (demo logins) or as `serve`, with
/// `configure` changing the test configuration.
pub async fn spawn_on(
    backend: Backend,
    listener: std::net::TcpListener,
    demo: bool,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    spawn_with(backend, listener, demo, configure, None).await
}

async fn spawn_with(
    backend: Backend,
    listener: std::net::TcpListener,
    demo: bool,
    configure: impl FnOnce(&mut Config),
    probe: Option<Arc<dyn brygga::workflow::WriteProbe>>,
) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = match backend {
        Backend::Sqlite => format!("sqlite:{}", dir.path().join("brygga.db").display()),
        Backend::Postgres => postgres_database().await,
    };
    let addr = listener.local_addr().expect("bound");
    let mut config = Config {
        listen: addr,
        database_url: database_url.clone(),
        max_connections: 8,
        log: "warn".into(),
        secure_cookies: false,
        public_url: Some(format!("http://{addr}")),
        audit_key: Some(brygga::app::DEMO_AUDIT_KEY.to_owned()),
        ..Config::default()
    };
    configure(&mut config);
    let start = Utc::now()
        .duration_trunc(chrono::Duration::seconds(1))
        .expect("truncate");
    let clock = Arc::new(ManualClock::new(start));
    let app = Application::build_on(
        config,
        Options {
            demo,
            clock: Some(clock.clone()),
            probe,
            ..Options::default()
        },
        listener,
    )
    .await
    .expect("application starts");
    // The tests' own handle on the same database, to look at what was stored (and to tamper
    // with it): never the application's.
    let key = brygga::audit::AuditKey::new(brygga::app::DEMO_AUDIT_KEY).expect("demo key");
    let store = brygga::store::open(&database_url, 4, Some(key))
        .await
        .expect("test store");
    let ctx = app.state().ctx.clone();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        store,
        ctx,
        clock,
        database_url,
        shutdown: Some(tx),
        _dir: dir,
    }
}

/// A case id from an answer.
pub fn case_id(id: &str) -> brygga::domain::ids::CaseId {
    brygga::domain::ids::CaseId::parse(id).expect("a case id")
}

/// The case as stored now.
pub async fn stored(app: &TestApp, id: &str) -> brygga::domain::case::Case {
    app.store
        .case(&case_id(id))
        .await
        .expect("read")
        .expect("case")
}

/// A caseworker id.
pub fn caseworker_id(id: &str) -> brygga::domain::ids::CaseworkerId {
    brygga::domain::ids::CaseworkerId::parse(id).expect("a caseworker id")
}

/// Runs one SQL statement on a test database directly, behind the application's back: what
/// someone with database access (or a change not yet built) could do.
pub async fn execute_sql(database_url: &str, sql: &str) {
    let statement = sqlx::AssertSqlSafe(sql.to_owned());
    if database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(database_url)
            .await
            .expect("SQLite opens");
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    } else {
        let mut conn = sqlx::PgConnection::connect(database_url)
            .await
            .expect("PostgreSQL connects");
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// Noon on 2028-01-01: the demo agreements end 2027-12-31 (inclusive, Stockholm).
pub fn after_the_demo_agreements() -> chrono::DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(2028, 1, 1)
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .expect("date")
        .and_utc()
}

/// The demo login in a browser: the session cookie it sets (HttpOnly, SameSite=Lax) stays in
/// `client`; answers the bearer token issued to that login.
pub async fn browser_login(app: &TestApp, client: &reqwest::Client, body: Value) -> String {
    let answer = client
        .post(format!("{}/demo/login", app.base))
        .json(&body)
        .send()
        .await
        .expect("login");
    assert_eq!(answer.status(), StatusCode::OK);
    let set_cookie = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("brygga_session="))
        .expect("a session cookie")
        .to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    let body: Value = answer.json().await.expect("json");
    body["token"].as_str().expect("token").to_owned()
}

/// A browser: keeps cookies, and does not follow redirects (tests look at each one).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    /// The machine code of an error answer.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    /// Asserts an error answer: its status and machine code (the body in the message).
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!((self.status, self.error()), (status, code), "{}", self.body);
    }
}

impl TestApp {
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(auth) = auth {
            let header = if auth.starts_with("AccessCode ") {
                auth.to_owned()
            } else {
                format!("Bearer {auth}")
            };
            request = request.header("authorization", header);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let bytes = response.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!(
                    "{path}: answer is not JSON: {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Answer { status, body }
    }

    pub async fn get(&self, path: &str, auth: Option<&str>) -> Answer {
        self.raw(Method::GET, path, auth, None).await
    }

    pub async fn post(&self, path: &str, auth: Option<&str>, body: Value) -> Answer {
        self.raw(
            Method::POST,
            path,
            auth,
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// Another gateway on the same database and clock (a replica, or this one restarted),
    /// built from nothing but the configuration: whatever it knows comes from the database.
    pub async fn replica(&self) -> Context {
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            database_url: self.database_url.clone(),
            max_connections: 4,
            log: "warn".into(),
            audit_key: Some(brygga::app::DEMO_AUDIT_KEY.to_owned()),
            ..Config::default()
        };
        let app = Application::build(
            config,
            Options {
                demo: true,
                clock: Some(self.clock.clone()),
                ..Options::default()
            },
        )
        .await
        .expect("replica starts");
        app.state().ctx.clone()
    }

    /// Moves the clock and runs one scheduler tick, as the background scheduler would.
    pub async fn advance(&self, seconds: i64) -> brygga::workflow::TickReport {
        self.clock.advance(chrono::Duration::seconds(seconds));
        self.ctx.tick().await.expect("tick")
    }

    pub async fn put(&self, path: &str, auth: Option<&str>, body: Value) -> Answer {
        self.raw(Method::PUT, path, auth, Some(body.to_string().into_bytes()))
            .await
    }

    pub async fn delete(&self, path: &str, auth: Option<&str>) -> Answer {
        self.raw(Method::DELETE, path, auth, None).await
    }

    pub async fn login(&self, body: Value) -> String {
        let answer = self.post("/demo/login", None, body.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "login {body}: {}",
            answer.body
        );
        answer.body["token"].as_str().expect("token").to_owned()
    }

    pub async fn citizen(&self, personnummer: &str, municipality: &str) -> String {
        self.login(
            json!({"role": "citizen", "personnummer": personnummer, "municipality": municipality}),
        )
        .await
    }

    pub async fn caseworker(&self, id: &str) -> String {
        self.login(json!({"role": "caseworker", "caseworker_id": id}))
            .await
    }

    /// Submits an identified request and returns its id.
    pub async fn submit(&self, token: &str, category: &str, language: &str) -> String {
        let answer = self
            .post(
                "/api/v1/requests",
                Some(token),
                json!({"category": category, "language": language, "text": "Jag behöver hjälp.",
                       "consent": {"cross_municipality": false}}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.body["id"].as_str().expect("id").to_owned()
    }
}

/// A page as a browser gets it: status, headers and HTML (the page tests).
pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub html: String,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Where a redirect goes.
    pub fn location(&self) -> &str {
        self.header("location")
    }

    /// The CSRF token the page's forms carry.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.html.find(marker).expect("a form with a CSRF token") + marker.len();
        self.html[start..]
            .split('"')
            .next()
            .expect("token")
            .to_owned()
    }

    /// The page's `<title>`.
    pub fn title(&self) -> &str {
        let start = self.html.find("<title>").expect("title") + "<title>".len();
        let end = self.html.find("</title>").expect("end of title");
        &self.html[start..end]
    }

    /// The error summary, if any.
    pub fn error_summary(&self) -> Option<&str> {
        let start = self.html.find("class=\"error-summary\"")?;
        let end = self.html[start..].find("</div>")? + start;
        Some(&self.html[start..end])
    }
}

/// `GET path` as a browser asks for a page.
pub async fn page_get(client: &reqwest::Client, app: &TestApp, path: &str) -> Page {
    let answer = client
        .get(format!("{}{path}", app.base))
        .header("accept", "text/html")
        .send()
        .await
        .expect("page");
    Page {
        status: answer.status(),
        headers: answer.headers().clone(),
        html: answer.text().await.expect("body"),
    }
}

/// A page's form posted as a browser posts it.
pub async fn page_post(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> Page {
    let answer = client
        .post(format!("{}{path}", app.base))
        .form(form)
        .send()
        .await
        .expect("post");
    Page {
        status: answer.status(),
        headers: answer.headers().clone(),
        html: answer.text().await.expect("body"),
    }
}
