//! Every administrator's route × every role (issue 21, point 7): nobody logged in (401), a
//! citizen and a caseworker (403), a municipality's administrator on their own municipality and
//! on another's, a federation administrator, and integration tokens (a municipality's and the
//! federation's) holding `config:read`. "Allowed" means the route let the caller through: a 2xx, or the route's own
//! answer about the body or the resource (404, 409, 422) — anything but 401/403 and never a
//! 5xx. The bodies are harmless: reads, writes that fail their own validation after the
//! decision, or writes on resources this test made. One application per backend; on failure
//! the whole table is printed.

use std::fmt::Write as _;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::ANNA;
use crate::harness::{Backend, TestApp, spawn};

/// What a role should get from a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Let through: anything but 401/403 and 5xx.
    Allowed,
    /// 401 `unauthorized`: no login.
    Unauthenticated,
    /// 403.
    Forbidden,
    /// 404: the resource is not the caller's to know of.
    Hidden,
    /// Not asked (the route takes no municipality to be another's).
    NotAsked,
}

use Expect::{Allowed as A, Forbidden as F, Hidden as H, NotAsked as N};

/// The callers, in the order the table asks them (another municipality's administrator before
/// the own one: some rows deactivate or revoke what they act on).
const ROLES: [&str; 8] = [
    "none",
    "citizen",
    "caseworker",
    "other admin",
    "own admin",
    "federation",
    "token",
    "fed token",
];

struct Row {
    method: Method,
    path: String,
    body: Option<Value>,
    /// The role given for the other administrators' column acts on the own municipality's
    /// resource; where the route names the municipality in the body or query, the row says so.
    expect: [Expect; 4],
}

/// `expect`: other admin, own admin, federation, tokens. None, citizen and caseworker are
/// always 401, 403, 403; the federation's token is held to the municipality's token's column.
fn row(method: Method, path: impl Into<String>, body: Option<Value>, expect: [Expect; 4]) -> Row {
    Row {
        method,
        path: path.into(),
        body,
        expect,
    }
}

fn matches(expect: Expect, status: StatusCode) -> bool {
    if status.is_server_error() {
        return false;
    }
    match expect {
        Expect::Allowed => status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
        Expect::Unauthenticated => status == StatusCode::UNAUTHORIZED,
        Expect::Forbidden => status == StatusCode::FORBIDDEN,
        Expect::Hidden => status == StatusCode::NOT_FOUND,
        Expect::NotAsked => true,
    }
}

fn short(expect: Expect) -> &'static str {
    match expect {
        Expect::Allowed => "ok",
        Expect::Unauthenticated => "401",
        Expect::Forbidden => "403",
        Expect::Hidden => "404",
        Expect::NotAsked => "-",
    }
}

async fn created(app: &TestApp, path: &str, auth: &str, body: Value) -> Value {
    let answer = app.post(path, Some(auth), body).await;
    assert_eq!(
        answer.status,
        StatusCode::CREATED,
        "{path}: {}",
        answer.body
    );
    answer.body
}

async fn every_admin_route_for_every_role(backend: Backend) {
    let app = spawn(backend).await;
    let own = "1275";
    let other = "1283";
    let federation = app
        .login(json!({"role": "admin", "admin_id": "demo-admin-federation-1"}))
        .await;
    let own_admin = app
        .login(json!({"role": "admin", "municipality": own}))
        .await;
    let other_admin = app
        .login(json!({"role": "admin", "municipality": other}))
        .await;
    let citizen = app.citizen(ANNA, own).await;
    let caseworker = app.caseworker("1275-02").await;

    // What the rows act on: a case of Perstorp's, a caseworker and a token made here, and the
    // current settings written back unchanged.
    let case = app.submit(&citizen, "ekonomi", "sv").await;
    let made = created(
        &app,
        "/api/v1/admin/caseworkers",
        &federation,
        json!({"name": "Matris Matrisson", "municipality": own, "skills": ["ekonomi"],
               "languages": ["sv"], "capacity": 2, "id": "1275-matrix"}),
    )
    .await;
    let made = made["id"].as_str().expect("id").to_owned();
    let issued = created(
        &app,
        "/api/v1/admin/tokens",
        &own_admin,
        json!({"name": "matrix reader", "scopes": ["config:read"]}),
    )
    .await;
    let token = issued["token"].as_str().expect("token").to_owned();
    let federation_issued = created(
        &app,
        "/api/v1/admin/tokens",
        &federation,
        json!({"name": "federation matrix reader", "scopes": ["config:read"]}),
    )
    .await;
    assert!(
        federation_issued.get("municipality").is_none(),
        "{federation_issued}"
    );
    let federation_token = federation_issued["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let revocable = created(
        &app,
        "/api/v1/admin/tokens",
        &own_admin,
        json!({"name": "to revoke", "scopes": ["audit:read"]}),
    )
    .await;
    let revocable = revocable["id"].as_str().expect("id").to_owned();
    let settings = app.get("/api/v1/admin/routing", Some(&federation)).await;
    let ekonomi_routing = settings.body["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .find(|c| c["category"] == "ekonomi")
        .expect("ekonomi")
        .clone();
    let perstorp = json!({"name": "Perstorp", "population": 7500});
    let ekonomi = json!({"kind": "service", "sv": "Budget- och skuldrådgivning",
                         "en": "Budget and debt advice"});
    let too_few = json!({"id": "matrix", "members": [own], "categories": ["ekonomi"],
                         "valid_from": "2027-01-01", "valid_to": "2027-12-31"});

    use Method as M;
    let rows = vec![
        // Routing settings and traces.
        row(M::GET, "/api/v1/admin/routing", None, [A, A, A, F]),
        row(
            M::PUT,
            "/api/v1/admin/routing",
            Some(json!([ekonomi_routing])),
            [N, F, A, F],
        ),
        row(
            M::GET,
            format!("/api/v1/admin/cases/{case}/routing"),
            None,
            [H, A, A, F],
        ),
        // The audit trail and retention.
        row(M::GET, "/api/v1/admin/audit", None, [N, A, A, F]),
        row(
            M::GET,
            format!("/api/v1/admin/audit?municipality={own}"),
            None,
            [F, A, A, F],
        ),
        row(M::GET, "/api/v1/admin/audit/verify", None, [N, A, A, F]),
        row(M::GET, "/api/v1/admin/audit/follow-up", None, [N, A, A, F]),
        row(
            M::POST,
            "/api/v1/admin/retention",
            Some(json!({"dry_run": true})),
            [N, F, A, F],
        ),
        // Policies.
        row(M::GET, "/api/v1/admin/policies", None, [N, A, A, F]),
        row(
            M::POST,
            "/api/v1/admin/policies",
            Some(json!({"text": "not cedar"})),
            [N, F, A, F],
        ),
        row(
            M::POST,
            "/api/v1/admin/policies/999/activate",
            Some(json!({})),
            [N, F, A, F],
        ),
        row(
            M::POST,
            "/api/v1/admin/policies/999/impact",
            Some(json!({})),
            [N, F, A, F],
        ),
        row(
            M::POST,
            "/api/v1/admin/policies/simulate",
            Some(
                json!({"request": {"category": "ekonomi", "language": "sv", "home": own,
                                    "consent": {"cross_municipality": true}},
                        "principal": {"role": "caseworker", "municipality": other},
                        "action": "route"}),
            ),
            [N, A, A, F],
        ),
        // Caseworkers.
        row(M::GET, "/api/v1/admin/caseworkers", None, [N, A, A, F]),
        row(
            M::GET,
            format!("/api/v1/admin/caseworkers?municipality={own}"),
            None,
            [F, A, A, F],
        ),
        row(
            M::POST,
            "/api/v1/admin/caseworkers",
            Some(
                json!({"name": "Ny Handläggare", "municipality": own, "skills": [],
                        "languages": ["sv"], "capacity": 1}),
            ),
            [F, A, A, F],
        ),
        row(
            M::GET,
            format!("/api/v1/admin/caseworkers/{made}"),
            None,
            [F, A, A, F],
        ),
        row(
            M::PUT,
            format!("/api/v1/admin/caseworkers/{made}"),
            Some(json!({"languages": ["sv", "en"]})),
            [F, A, A, F],
        ),
        row(
            M::DELETE,
            format!("/api/v1/admin/caseworkers/{made}"),
            None,
            [F, A, A, F],
        ),
        // Integration tokens: another municipality's token is not found (logins.rs looks
        // only among the caller's own), like another municipality's case.
        row(M::GET, "/api/v1/admin/tokens", None, [N, A, A, F]),
        row(
            M::POST,
            "/api/v1/admin/tokens",
            Some(json!({"name": "", "scopes": ["nonsense"]})),
            [N, A, A, F],
        ),
        row(
            M::DELETE,
            format!("/api/v1/admin/tokens/{revocable}"),
            None,
            [H, A, A, F],
        ),
        // Members.
        row(M::GET, "/api/v1/admin/municipalities", None, [N, A, A, A]),
        row(
            M::GET,
            format!("/api/v1/admin/municipalities/{own}"),
            None,
            [A, A, A, A],
        ),
        row(
            M::POST,
            "/api/v1/admin/municipalities",
            Some(json!({"code": own, "name": "Perstorp", "population": 7500})),
            [N, F, A, F],
        ),
        row(
            M::PUT,
            format!("/api/v1/admin/municipalities/{own}"),
            Some(perstorp),
            [F, A, A, F],
        ),
        row(
            M::DELETE,
            format!("/api/v1/admin/municipalities/{own}"),
            None,
            [F, F, A, F],
        ),
        // Categories.
        row(M::GET, "/api/v1/admin/categories", None, [N, A, A, A]),
        row(
            M::GET,
            "/api/v1/admin/categories/ekonomi",
            None,
            [N, A, A, A],
        ),
        row(
            M::POST,
            "/api/v1/admin/categories",
            Some(json!({"id": "ekonomi", "kind": "service", "sv": "x", "en": "x"})),
            [N, F, A, F],
        ),
        row(
            M::PUT,
            "/api/v1/admin/categories/ekonomi",
            Some(ekonomi),
            [N, F, A, F],
        ),
        row(
            M::DELETE,
            "/api/v1/admin/categories/ekonomi",
            None,
            [N, F, A, F],
        ),
        // Agreements.
        row(M::GET, "/api/v1/admin/agreements", None, [N, A, A, A]),
        row(
            M::GET,
            "/api/v1/admin/agreements/fh-rad-och-stod-2026",
            None,
            [N, A, A, A],
        ),
        row(
            M::POST,
            "/api/v1/admin/agreements",
            Some(too_few.clone()),
            [N, F, A, F],
        ),
        row(
            M::PUT,
            "/api/v1/admin/agreements/fh-rad-och-stod-2026",
            Some(too_few),
            [N, F, A, F],
        ),
        row(
            M::POST,
            "/api/v1/admin/agreements/fh-rad-och-stod-2026/versions/1/sign",
            Some(json!({})),
            [N, F, A, F],
        ),
        row(
            M::DELETE,
            "/api/v1/admin/agreements/no-such-agreement",
            None,
            [N, F, A, F],
        ),
        // An administrator's transfer of a case of their municipality.
        row(
            M::POST,
            format!("/api/v1/cases/{case}/transfer"),
            Some(json!({"municipality": own, "reason": "Fördelning"})),
            [H, A, A, F],
        ),
    ];

    let callers: [Option<&str>; 8] = [
        None,
        Some(&citizen),
        Some(&caseworker),
        Some(&other_admin),
        Some(&own_admin),
        Some(&federation),
        Some(&token),
        Some(&federation_token),
    ];
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<62} {}",
        "route",
        ROLES.map(|r| format!("{r:>12}")).join("")
    );
    let mut failures = 0;
    for r in &rows {
        let wanted = [
            Expect::Unauthenticated,
            F,
            F,
            r.expect[0],
            r.expect[1],
            r.expect[2],
            r.expect[3],
            r.expect[3],
        ];
        let mut line = format!("{:<62} ", format!("{} {}", r.method, r.path));
        for (caller, want) in callers.iter().zip(wanted) {
            if want == N {
                let _ = write!(line, "{:>12}", "-");
                continue;
            }
            let answer = app
                .raw(
                    r.method.clone(),
                    &r.path,
                    *caller,
                    r.body.as_ref().map(|b| b.to_string().into_bytes()),
                )
                .await;
            let ok = matches(want, answer.status);
            if !ok {
                failures += 1;
            }
            let cell = format!(
                "{}{}{}",
                answer.status.as_u16(),
                if ok { " " } else { "!" },
                if ok {
                    String::new()
                } else {
                    format!("({})", short(want))
                }
            );
            let _ = write!(line, "{cell:>12}");
        }
        let _ = writeln!(table, "{line}");
    }
    assert_eq!(
        failures, 0,
        "{failures} cells differ (marked `!`, the expectation in parentheses):\n{table}"
    );
}

on_both_backends!(every_admin_route_for_every_role);
