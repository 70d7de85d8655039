//! Sign-in with OpenID Connect against a real provider (oidc-provider, started by
//! `scripts/test`; see tests/oidc) and against a forge that issues deliberately broken ID
//! tokens. Each test registers its own clients with the provider (dynamic registration) for
//! the redirect URI of its own application, then drives logins like a browser.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, bind, browser, case_id, spawn_on};
use brygga::auth::oidc::{CitizenLogin, StaffLogin};
use brygga::clock::Clock;
use brygga::domain::people::Citizen;

const LOA2: &str = "http://id.elegnamnden.se/loa/1.0/loa2";
pub(crate) const LOA3: &str = "http://id.elegnamnden.se/loa/1.0/loa3";
const EIDAS: &str = "http://id.elegnamnden.se/loa/1.0/eidas-sub";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the OpenID Connect tests need the test provider that \
             ./scripts/test starts (Node and tests/oidc)."
        )
    })
}

pub(crate) fn issuer() -> String {
    env("BRYGGA_TEST_OIDC_ISSUER")
}

fn forge() -> String {
    env("BRYGGA_TEST_OIDC_FORGE")
}

/// A client of the real provider for an application at `app_url`.
async fn register(app_url: &str) -> (String, String) {
    let answer = reqwest::Client::new()
        .post(format!("{}/reg", issuer()))
        .json(&json!({
            "redirect_uris": [format!("{app_url}/auth/callback")],
            "post_logout_redirect_uris": [format!("{app_url}/")],
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
        }))
        .send()
        .await
        .expect("registration");
    assert_eq!(answer.status(), StatusCode::CREATED);
    let body: Value = answer.json().await.expect("json");
    (
        body["client_id"].as_str().expect("client_id").to_owned(),
        body["client_secret"]
            .as_str()
            .expect("client_secret")
            .to_owned(),
    )
}

const REGISTER: &str = r#"
[[person]]
personnummer = "198112189876"
municipality = "1275"

[[person]]
personnummer = "197001011233"
municipality = "1283"
protection = "skyddad_folkbokforing"

[[person]]
personnummer = "201005057896"
municipality = "1275"

[[person]]
personnummer = "198102782342"
municipality = "1282"

[[person]]
personnummer = "199207073454"
municipality = "0180"

[[person]]
personnummer = "199004721230"
municipality = "1282"

[[person]]
personnummer = "198503034566"
municipality = "0180"
protection = "skyddad_folkbokforing"
"#;

/// An application whose citizens log in at `citizen_issuer` (the real provider or the
/// forge) and whose Perstorp staff log in at the real provider (also the browser tests').
pub(crate) async fn app_with_login(citizen_issuer: &str) -> (TestApp, tempfile::TempDir) {
    app_with_staff_login(citizen_issuer, Backend::Sqlite, false).await
}

/// As [`app_with_login`], on `backend`, with Perstorp's staff login provisioning caseworkers
/// just in time when `jit` (staff.rs).
pub(crate) async fn app_with_staff_login(
    citizen_issuer: &str,
    backend: Backend,
    jit: bool,
) -> (TestApp, tempfile::TempDir) {
    let (listener, url) = bind();
    let (citizen_id, citizen_secret) = if citizen_issuer == issuer() {
        register(&url).await
    } else {
        ("forge-client".to_owned(), "forge-secret".to_owned())
    };
    let (staff_id, staff_secret) = register(&url).await;
    let dir = tempfile::tempdir().expect("dir");
    let register_path = dir.path().join("register.toml");
    std::fs::write(&register_path, REGISTER).expect("register file");
    let citizen_issuer = citizen_issuer.to_owned();
    let staff_issuer = issuer();
    let federation_issuer = staff_issuer.clone();
    let app = spawn_on(backend, listener, true, move |config| {
        config.population_register_file = Some(register_path);
        config.citizen_login = Some(CitizenLogin {
            issuer: citizen_issuer,
            client_id: citizen_id,
            client_secret: citizen_secret,
            scopes: vec![
                "openid".into(),
                "https://id.oidc.se/scope/naturalPersonNumber".into(),
            ],
            identity_claims: vec![
                "https://id.oidc.se/claim/personalIdentityNumber".into(),
                "https://id.oidc.se/claim/coordinationNumber".into(),
            ],
            coordination_level_claim: "https://id.oidc.se/claim/coordinationNumberLevel".into(),
            eidas_identity_claim: "https://id.oidc.se/claim/eidasPersonIdentifier".into(),
            acr_values: vec![LOA3.into()],
            acr_levels: brygga::auth::oidc::DEFAULT_ACR_LEVELS
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect(),
        });
        // Perstorp's provider is the one the federation's administrators come from.
        config.federation_admin_issuer = Some(federation_issuer);
        config.staff_login = vec![StaffLogin {
            municipality: "1275".into(),
            issuer: staff_issuer,
            client_id: staff_id,
            client_secret: staff_secret,
            scopes: vec!["openid".into(), "brygga_staff".into()],
            role_claim: "roles".into(),
            caseworker_role: "Brygga.Caseworker".into(),
            admin_role: "Brygga.MunicipalityAdmin".into(),
            federation_admin_role: "Brygga.FederationAdmin".into(),
            caseworker_id_claim: "brygga_caseworker_id".into(),
            jit_caseworkers: jit,
            default_capacity: 5,
        }];
    })
    .await;
    (app, dir)
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Location in a {} answer", response.status()))
        .to_owned()
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("brygga_session="))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
}

/// What one login walk saw.
pub(crate) struct Walk {
    /// The provider's authorization URL the application sent the browser to.
    authorize: String,
    /// The application's callback URL the provider sent the browser back to.
    pub(crate) callback: String,
    /// The session cookie set when the login began.
    cookie_before: Option<String>,
}

/// Starts a login at `path` and goes through the provider as `account` at `acr`, up to the
/// callback URL (not yet visited). `tamper` may change the authorization URL first.
pub(crate) async fn walk_login(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    account: &str,
    acr: &str,
    tamper: impl FnOnce(String) -> String,
) -> Walk {
    let start = browser
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .expect("login starts");
    assert_eq!(start.status(), StatusCode::SEE_OTHER, "{path}");
    let cookie_before = session_cookie(&start);
    let authorize = tamper(location(&start));
    let mut answer = browser.get(&authorize).send().await.expect("authorize");
    // The real provider asks who logs in; the forge answers at once.
    if answer.status() == StatusCode::SEE_OTHER && location(&answer).starts_with("/interaction/") {
        let interaction = format!("{}{}", issuer(), location(&answer));
        answer = browser
            .post(format!("{interaction}/login"))
            .form(&[("account", account), ("acr", acr)])
            .send()
            .await
            .expect("login form");
        while answer.status().is_redirection() && !location(&answer).starts_with(&app.base) {
            let next = location(&answer);
            let next = if next.starts_with('/') {
                format!("{}{next}", issuer())
            } else {
                next
            };
            answer = browser.get(next).send().await.expect("provider redirect");
        }
    }
    assert!(
        answer.status().is_redirection(),
        "{}: {}",
        answer.status(),
        answer.text().await.unwrap_or_default()
    );
    let callback = location(&answer);
    assert!(
        callback.starts_with(&format!("{}/auth/callback", app.base)),
        "{callback}"
    );
    Walk {
        authorize,
        callback,
        cookie_before,
    }
}

pub(crate) async fn finish(browser: &reqwest::Client, callback: &str) -> reqwest::Response {
    browser.get(callback).send().await.expect("callback")
}

/// The refusal code on a refused login's page.
pub(crate) async fn refusal(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let page = response.text().await.expect("page");
    let code = page
        .split("data-code=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("not a refusal page: {page}"))
        .to_owned();
    (status, code)
}

pub(crate) async fn get_json(browser: &reqwest::Client, url: String) -> (StatusCode, Value) {
    let answer = browser.get(url).send().await.expect("get");
    let status = answer.status();
    (status, answer.json().await.unwrap_or(Value::Null))
}

pub(crate) fn no_change(url: String) -> String {
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_logs_in_uses_the_api_and_logs_out() {
    let (app, _dir) = app_with_login(&issuer()).await;
    let anna = browser();
    let walk = walk_login(
        &app,
        &anna,
        "/login/citizen?return_to=/mina-arenden",
        "citizen-anna",
        LOA3,
        no_change,
    )
    .await;
    assert!(
        walk.authorize.contains("code_challenge_method=S256"),
        "{}",
        walk.authorize
    );
    assert!(walk.authorize.contains("nonce="));
    let done = finish(&anna, &walk.callback).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), "/mina-arenden");
    let cookie_after = session_cookie(&done);
    assert!(cookie_after.is_some());
    assert_ne!(
        walk.cookie_before, cookie_after,
        "the session id is rotated at login"
    );

    let (status, mine) = get_json(&anna, format!("{}/api/v1/me/requests", app.base)).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    let submitted = anna
        .post(format!("{}/api/v1/requests", app.base))
        .json(
            &json!({"category": "ekonomi", "language": "sv", "text": "Hjälp med budget.",
                      "consent": {"cross_municipality": false}}),
        )
        .send()
        .await
        .expect("submit");
    assert_eq!(submitted.status(), StatusCode::CREATED);
    let submitted: Value = submitted.json().await.expect("json");
    assert!(
        submitted.get("access_code").is_none(),
        "identified, not anonymous"
    );
    let case = app
        .store
        .case(&case_id(submitted["id"].as_str().expect("id")))
        .await
        .expect("read")
        .expect("case");
    assert_eq!(
        case.home.as_str(),
        "1275",
        "home from the population register"
    );
    assert_eq!(
        case.personnummer().map(|p| p.as_str()),
        Some("198112189876")
    );
    assert_eq!(case.loa.map(|l| l.as_str()), Some("loa3"));

    // A bearer token for API use, bound to this login.
    let issued = anna
        .post(format!("{}/api/v1/me/tokens", app.base))
        .send()
        .await
        .expect("token");
    assert_eq!(issued.status(), StatusCode::CREATED);
    let token = issued.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let with_token = app.get("/api/v1/me/requests", Some(&token)).await;
    assert_eq!(with_token.status, StatusCode::OK);

    // Logout: the session and its tokens end, and the provider's session too (RP-initiated).
    let out = anna
        .post(format!("{}/logout", app.base))
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let end_session = location(&out);
    assert!(end_session.starts_with(&issuer()), "{end_session}");
    assert!(end_session.contains("id_token_hint="));
    let back = anna.get(&end_session).send().await.expect("end session");
    assert!(back.status().is_redirection());
    assert!(
        location(&back).starts_with(&format!("{}/", app.base)),
        "{}",
        location(&back)
    );
    let (status, _) = get_json(&anna, format!("{}/api/v1/me/requests", app.base)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let with_token = app.get("/api/v1/me/requests", Some(&token)).await;
    assert_eq!(with_token.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_the_register_and_the_eid_say_decides_the_login() {
    let (app, _dir) = app_with_login(&issuer()).await;
    let cases = [
        ("citizen-anna", LOA2, "", Some("loa_too_low")),
        (
            "citizen-stockholm",
            LOA3,
            "",
            Some("home_outside_federation"),
        ),
        ("citizen-unregistered", LOA3, "", Some("not_in_register")),
        ("citizen-eidas", EIDAS, "", Some("municipality_required")),
        ("citizen-eidas", EIDAS, "?municipality=1260", None),
        ("citizen-eidas-other", EIDAS, "?municipality=1260", None),
        ("citizen-coordination", LOA3, "", None),
        ("citizen-coordination-uncertain", LOA3, "", None),
        ("citizen-protected", LOA3, "", None),
        (
            "citizen-protected-abroad",
            LOA3,
            "",
            Some("municipality_required"),
        ),
        ("citizen-protected-abroad", LOA3, "?municipality=1283", None),
    ];
    for (account, acr, query, expected) in cases {
        let b = browser();
        let walk = walk_login(
            &app,
            &b,
            &format!("/login/citizen{query}"),
            account,
            acr,
            no_change,
        )
        .await;
        let done = finish(&b, &walk.callback).await;
        match expected {
            Some(code) => {
                let (status, got) = refusal(done).await;
                assert_eq!(got, code, "{account}");
                assert_eq!(status, StatusCode::FORBIDDEN, "{account}");
            }
            None => {
                assert_eq!(done.status(), StatusCode::SEE_OTHER, "{account}");
                let submitted = b
                    .post(format!("{}/api/v1/requests", app.base))
                    .json(
                        &json!({"category": "ekonomi", "language": "sv", "text": "Fråga.",
                                  "consent": {"cross_municipality": false}}),
                    )
                    .send()
                    .await
                    .expect("submit");
                assert_eq!(submitted.status(), StatusCode::CREATED, "{account}");
                let body: Value = submitted.json().await.expect("json");
                let case = app
                    .store
                    .case(&case_id(body["id"].as_str().expect("id")))
                    .await
                    .expect("read")
                    .expect("case");
                match account {
                    "citizen-eidas" | "citizen-eidas-other" => {
                        assert_eq!(case.home.as_str(), "1260", "R2: the stated municipality");
                        assert_eq!(case.personnummer(), None);
                        // R2, R19: a subject of its own, from the eIDAS person identifier.
                        let identifier = if account == "citizen-eidas" {
                            "FR/SE/4f1c2b9a77"
                        } else {
                            "DE/SE/81d0aa4c13"
                        };
                        let citizen = case.citizen.as_ref().expect("citizen");
                        assert_eq!(
                            citizen.eidas.as_deref(),
                            Some(Citizen::eidas_subject(identifier).as_str())
                        );
                        let mine = b
                            .get(format!("{}/api/v1/me/requests", app.base))
                            .send()
                            .await
                            .expect("list");
                        let mine: Value = mine.json().await.expect("json");
                        assert_eq!(
                            mine.as_array().map(Vec::len),
                            Some(1),
                            "{account} lists only their own: {mine}"
                        );
                    }
                    "citizen-coordination" | "citizen-coordination-uncertain" => {
                        assert_eq!(case.home.as_str(), "1282");
                        let citizen = case.citizen.as_ref().expect("citizen");
                        assert_eq!(
                            citizen.id_confirmed,
                            account == "citizen-coordination",
                            "R2: the broker's coordinationNumberLevel"
                        );
                    }
                    _ => {
                        assert_eq!(case.home.as_str(), "1283");
                        assert_eq!(
                            case.protection.as_str(),
                            "skyddad_folkbokforing",
                            "protection from the register"
                        );
                    }
                }
            }
        }
    }
    // The LoA refusal offers the anonymous channel.
    let b = browser();
    let walk = walk_login(&app, &b, "/login/citizen", "citizen-anna", LOA2, no_change).await;
    let page = finish(&b, &walk.callback).await.text().await.expect("page");
    assert!(page.contains("anonymt"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_log_in_through_their_municipality() {
    let (app, _dir) = app_with_login(&issuer()).await;
    let cases = [
        ("staff-1275-01", "", None, "/api/v1/queue"),
        ("staff-1275-admin", "", None, "/api/v1/admin/policies"),
        (
            "staff-federation-admin",
            "?as=admin",
            None,
            "/api/v1/admin/routing",
        ),
        ("staff-unknown", "", Some("unknown_staff"), ""),
        ("staff-norole", "", Some("no_role"), ""),
    ];
    for (account, query, refused, probe) in cases {
        let b = browser();
        let walk = walk_login(
            &app,
            &b,
            &format!("/login/staff/1275{query}"),
            account,
            LOA3,
            no_change,
        )
        .await;
        let done = finish(&b, &walk.callback).await;
        match refused {
            Some(code) => {
                let (status, got) = refusal(done).await;
                assert_eq!(
                    (status, got.as_str()),
                    (StatusCode::FORBIDDEN, code),
                    "{account}"
                );
            }
            None => {
                assert_eq!(done.status(), StatusCode::SEE_OTHER, "{account}");
                let (status, body) = get_json(&b, format!("{}{probe}", app.base)).await;
                assert_eq!(status, StatusCode::OK, "{account}: {body}");
            }
        }
    }
    // A federation administrator may change federation-wide routing; a municipality's may not.
    let b = browser();
    let walk = walk_login(
        &app,
        &b,
        "/login/staff/1275",
        "staff-1275-admin",
        LOA3,
        no_change,
    )
    .await;
    finish(&b, &walk.callback).await;
    let put = b
        .put(format!("{}/api/v1/admin/routing", app.base))
        .json(&json!([]))
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), StatusCode::FORBIDDEN);
    let unknown = browser()
        .get(format!("{}/login/staff/9999", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_flows_are_refused() {
    let (app, _dir) = app_with_login(&issuer()).await;

    // Open redirects: only local paths are return addresses.
    for target in [
        "https://evil.example/",
        "//evil.example",
        "/%5Cevil.example",
        "javascript:alert(1)",
    ] {
        let answer = browser()
            .get(format!("{}/login/citizen?return_to={target}", app.base))
            .send()
            .await
            .expect("get");
        let (status, code) = refusal(answer).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "bad_return_address"),
            "{target}"
        );
    }

    // A state that is not this browser's login's.
    let b = browser();
    let walk = walk_login(&app, &b, "/login/citizen", "citizen-anna", LOA3, no_change).await;
    let forged = walk.callback.replace("state=", "state=x");
    let (status, code) = refusal(finish(&b, &forged).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "state_mismatch")
    );
    // The login was used up by that attempt: the genuine callback finds none.
    let (_, code) = refusal(finish(&b, &walk.callback).await).await;
    assert_eq!(code, "no_login_in_progress");

    // A replayed code: the first callback logs in, the second finds no login in progress.
    let b = browser();
    let walk = walk_login(&app, &b, "/login/citizen", "citizen-anna", LOA3, no_change).await;
    assert_eq!(
        finish(&b, &walk.callback).await.status(),
        StatusCode::SEE_OTHER
    );
    let (status, code) = refusal(finish(&b, &walk.callback).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "no_login_in_progress")
    );
    // … and a callback carried to another browser finds nothing either.
    let (_, code) = refusal(finish(&browser(), &walk.callback).await).await;
    assert_eq!(code, "no_login_in_progress");

    // A nonce changed on the way to the provider: the ID token carries the wrong one.
    let b = browser();
    let walk = walk_login(&app, &b, "/login/citizen", "citizen-anna", LOA3, |url| {
        let (head, tail) = url.split_once("nonce=").expect("nonce");
        let rest = tail.split_once('&').map_or("", |(_, r)| r);
        format!("{head}nonce=somebody-elses-nonce&{rest}")
    })
    .await;
    let (status, code) = refusal(finish(&b, &walk.callback).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_token")
    );

    // An ID token that expired before it reached us (Brygga's clock two hours on).
    let b = browser();
    let walk = walk_login(&app, &b, "/login/citizen", "citizen-anna", LOA3, no_change).await;
    app.clock.advance(chrono::Duration::hours(2));
    let (status, code) = refusal(finish(&b, &walk.callback).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_token")
    );
    let _ = app.clock.now();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_id_tokens_are_refused() {
    let (app, _dir) = app_with_login(&forge()).await;
    let scenarios = [
        ("ok", None),
        (
            "wrong-nonce",
            Some((StatusCode::BAD_REQUEST, "invalid_token")),
        ),
        (
            "wrong-aud",
            Some((StatusCode::BAD_REQUEST, "invalid_token")),
        ),
        (
            "wrong-iss",
            Some((StatusCode::BAD_REQUEST, "invalid_token")),
        ),
        ("expired", Some((StatusCode::BAD_REQUEST, "invalid_token"))),
        (
            "bad-signature",
            Some((StatusCode::BAD_REQUEST, "invalid_token")),
        ),
        ("alg-none", Some((StatusCode::BAD_REQUEST, "invalid_token"))),
        ("hs256", Some((StatusCode::BAD_REQUEST, "invalid_token"))),
        ("low-loa", Some((StatusCode::FORBIDDEN, "loa_too_low"))),
        (
            "no-number",
            Some((StatusCode::FORBIDDEN, "no_identity_number")),
        ),
    ];
    for (scenario, expected) in scenarios {
        let b = browser();
        let walk = walk_login(&app, &b, "/login/citizen", "", LOA3, |url| {
            format!("{url}&scenario={scenario}")
        })
        .await;
        let done = finish(&b, &walk.callback).await;
        match expected {
            None => {
                assert_eq!(done.status(), StatusCode::SEE_OTHER, "{scenario}");
                let (status, _) = get_json(&b, format!("{}/api/v1/me/requests", app.base)).await;
                assert_eq!(status, StatusCode::OK, "{scenario}");
            }
            Some((status, code)) => {
                let got = refusal(done).await;
                assert_eq!(got, (status, code.to_owned()), "{scenario}");
                let (status, _) = get_json(&b, format!("{}/api/v1/me/requests", app.base)).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{scenario}: no session");
            }
        }
    }
}
