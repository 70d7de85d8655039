//! End-to-end tests over HTTP against the real application, each run on SQLite and on
//! PostgreSQL (see `harness`).

/// Runs each named `async fn name(backend: Backend)` of the calling module as two tests, one
/// per backend, in the modules `sqlite` and `postgres` beneath it.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(crate::harness::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(crate::harness::Backend::Postgres).await;
                }
            )*
        }
    };
}

mod architecture;
mod audit;
mod browser;
mod calendar;
mod cli;
mod events;
mod federation_admin;
mod gate;
mod governance;
mod harness;
mod legal;
mod oidc;
mod pages;
mod pages_admin_audit;
mod pages_admin_config;
mod pages_admin_policies;
mod pages_ask;
mod pages_mine;
mod pages_work;
mod policies;
mod proofs;
mod records;
mod role_matrix;
mod routing;
mod scim;
mod sessions;
mod staff;
mod store;
mod token_scopes;

use audit::*;
use events::*;
use policies::*;
use proofs::{
    a_version_that_breaks_an_invariant_is_refused,
    the_impact_report_compares_every_possible_request, the_proofs_page_shows_every_invariant,
};
use routing::*;
use sessions::*;

use brygga::domain::ids::{CategoryId, Language, MunicipalityCode};
use brygga::domain::people::{Availability, Caseworker};
use brygga::domain::personnummer::Personnummer;
use chrono::{NaiveDate, Utc};
use futures_util::future::join_all;
use harness::{Backend, TestApp, case_id, caseworker_id, spawn};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// The Skatteverket example number.
const ANNA: &str = "198112189876";

/// A valid personnummer, different for each `n`.
fn person(n: u16) -> String {
    let birth = NaiveDate::from_ymd_opt(
        1970 + i32::from(n % 40),
        1 + u32::from(n % 12),
        1 + u32::from(n % 28),
    )
    .expect("date");
    // Serial 000 is never issued (R2).
    Personnummer::from_parts(birth, 1 + n % 999, false)
        .expect("valid")
        .as_str()
        .to_owned()
}

async fn add_caseworker(
    app: &TestApp,
    id: &str,
    municipality: &str,
    skills: &[&str],
    capacity: u32,
) {
    app.store
        .insert_caseworker(&Caseworker {
            id: caseworker_id(id),
            municipality: MunicipalityCode::parse(municipality).expect("code"),
            name: format!("Test {id}"),
            skills: skills
                .iter()
                .map(|s| CategoryId::parse(s).expect("category"))
                .collect(),
            languages: vec![Language::parse("sv").expect("language")],
            max_capacity: capacity,
            capacity,
            status: Availability::Available,
            protected_identity_clearance: false,
            supervisor: false,
            status_since: Utc::now(),
            last_assigned_at: None,
        })
        .await
        .expect("insert caseworker");
}

/// README's walkthrough: a citizen of Perstorp asks for budget advice; a Perstorp caseworker
/// claims and answers it; they write back and forth; the caseworker closes it.
async fn perstorp_budget_advice(backend: Backend) {
    let app = spawn(backend).await;
    let citizen = app.citizen(ANNA, "1275").await;
    let id = app.submit(&citizen, "ekonomi", "sv").await;

    let request = app
        .get(&format!("/api/v1/requests/{id}"), Some(&citizen))
        .await;
    assert_eq!(request.status, StatusCode::OK);
    assert_eq!(request.body["state"], "queued");
    assert_eq!(request.body["ring"], 0);
    assert_eq!(request.body["messages"][0]["from"], "citizen");
    assert_eq!(request.body["consent"]["cross_municipality"], false);

    let caseworker = app.caseworker("1275-01").await;
    let queue = app.get("/api/v1/queue", Some(&caseworker)).await;
    assert_eq!(queue.status, StatusCode::OK);
    let items = queue.body.as_array().expect("array");
    assert!(
        items.iter().any(|i| i["id"] == id.as_str()),
        "{}",
        queue.body
    );
    let item = items.iter().find(|i| i["id"] == id.as_str()).expect("item");
    assert_eq!(item["home"], "1275");
    assert!(
        item.get("citizen").is_none() && item.get("text").is_none(),
        "R8: metadata only"
    );

    // Before claiming, a home caseworker with the category's skill may read it (R15: they may
    // be the one to take it), and the policy that let them is the legal ground.
    let before = app
        .get(&format!("/api/v1/cases/{id}"), Some(&caseworker))
        .await;
    assert_eq!(before.status, StatusCode::OK);
    assert!(before.body.get("citizen").is_some(), "{}", before.body);

    let claimed = app
        .post(
            &format!("/api/v1/cases/{id}/claim"),
            Some(&caseworker),
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    assert_eq!(claimed.body["state"], "assigned");
    assert_eq!(claimed.body["owner"], "1275-01");
    assert_eq!(claimed.body["municipality"], "1275");

    let case = app
        .get(&format!("/api/v1/cases/{id}"), Some(&caseworker))
        .await;
    assert_eq!(case.body["citizen"]["personnummer"], ANNA);
    // The owner, who is also skilled home staff and the municipality's supervisor: every
    // ground for seeing the case (R4) and reading it (R15) is named.
    assert_eq!(
        case.body["legal_ground"],
        json!([
            "R15-case-owner",
            "R15-home-staff-with-skill",
            "R15-home-supervisor",
            "R4-home-staff"
        ])
    );

    let answer = app
        .post(
            &format!("/api/v1/cases/{id}/messages"),
            Some(&caseworker),
            json!({"text": "Hej! Vi kan göra en budget tillsammans."}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert_eq!(answer.body["state"], "waiting_citizen");

    let seen = app
        .get(&format!("/api/v1/requests/{id}"), Some(&citizen))
        .await;
    assert_eq!(seen.body["state"], "waiting_citizen");
    assert_eq!(seen.body["municipality"], "1275");
    assert_eq!(seen.body["messages"][1]["from"], "caseworker");

    let reply = app
        .post(
            &format!("/api/v1/requests/{id}/messages"),
            Some(&citizen),
            json!({"text": "Tack!"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["state"], "assigned");

    let mine = app.get("/api/v1/cases", Some(&caseworker)).await;
    assert_eq!(mine.body.as_array().map(Vec::len), Some(1));

    let closed = app
        .post(
            &format!("/api/v1/cases/{id}/close"),
            Some(&caseworker),
            json!({"outcome": "advice_given"}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    assert_eq!(closed.body["state"], "closed");
    assert_eq!(closed.body["outcome"], "advice_given");

    let again = app
        .post(
            &format!("/api/v1/cases/{id}/close"),
            Some(&caseworker),
            json!({"outcome": "advice_given"}),
        )
        .await;
    assert_eq!(
        (again.status, again.error()),
        (StatusCode::CONFLICT, "invalid_transition")
    );
    let late = app
        .post(
            &format!("/api/v1/requests/{id}/messages"),
            Some(&citizen),
            json!({"text": "En sak till"}),
        )
        .await;
    assert_eq!(
        (late.status, late.error()),
        (StatusCode::CONFLICT, "invalid_transition")
    );

    let mine = app.get("/api/v1/me/requests", Some(&citizen)).await;
    assert_eq!(mine.body[0]["id"], id.as_str());
    assert_eq!(mine.body[0]["state"], "closed");

    // Every step is in the audit log with the rule that allowed it (R15).
    let audit = app
        .store
        .audit_events(Some(&case_id(&id)), 100)
        .await
        .expect("audit");
    let actions: Vec<&str> = audit.iter().rev().map(|e| e.action.as_str()).collect();
    for expected in [
        "submit",
        "claim",
        "caseworker_message",
        "citizen_message",
        "close",
    ] {
        assert!(actions.contains(&expected), "{actions:?} lacks {expected}");
    }
    let claim = audit
        .iter()
        .find(|e| e.action == "claim")
        .expect("claim event");
    assert_eq!(claim.policies, vec!["R4-home-staff".to_owned()]);
    assert_eq!(claim.municipality, "1275");
    let submit = audit
        .iter()
        .find(|e| e.action == "submit")
        .expect("submit event");
    assert_eq!(submit.policies, vec!["R4-home-municipality".to_owned()]);
    assert!(audit.iter().all(|e| !e.policies.is_empty()));
}

/// ≥ 20 concurrent claims on one case: exactly one wins, the rest get `already_claimed`.
async fn concurrent_claims_have_one_winner(backend: Backend) {
    let app = spawn(backend).await;
    let citizen = app.citizen(ANNA, "1283").await;
    let id = app.submit(&citizen, "ekonomi", "sv").await;
    let mut tokens = Vec::new();
    for i in 0..24 {
        let cw = format!("1283-claim-{i}");
        add_caseworker(&app, &cw, "1283", &["ekonomi"], 3).await;
        tokens.push(app.caseworker(&cw).await);
    }
    // The same caseworker racing with itself counts too.
    tokens.push(tokens[0].clone());
    let path = format!("/api/v1/cases/{id}/claim");
    let answers = join_all(tokens.iter().map(|t| app.post(&path, Some(t), json!({})))).await;
    let winners = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    assert_eq!(winners, 1, "exactly one claim wins");
    for loser in answers.iter().filter(|a| a.status != StatusCode::OK) {
        assert_eq!(
            (loser.status, loser.error()),
            (StatusCode::CONFLICT, "already_claimed")
        );
    }
    let owner = app
        .store
        .case(&case_id(&id))
        .await
        .expect("case")
        .expect("exists")
        .owner;
    assert!(owner.is_some_and(|o| o.as_str().starts_with("1283-claim-")));
}

/// A caseworker never exceeds capacity, even when claiming many cases at once.
async fn capacity_is_never_exceeded(backend: Backend) {
    let app = spawn(backend).await;
    add_caseworker(&app, "1283-small", "1283", &["ekonomi"], 2).await;
    let cw = app.caseworker("1283-small").await;
    let mut ids = Vec::new();
    for n in 0..8 {
        let citizen = app.citizen(&person(n), "1283").await;
        ids.push(app.submit(&citizen, "ekonomi", "sv").await);
    }
    let paths: Vec<String> = ids
        .iter()
        .map(|id| format!("/api/v1/cases/{id}/claim"))
        .collect();
    let answers = join_all(paths.iter().map(|p| app.post(p, Some(&cw), json!({})))).await;
    let won = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    assert_eq!(won, 2);
    for a in answers.iter().filter(|a| a.status != StatusCode::OK) {
        assert_eq!(
            (a.status, a.error()),
            (StatusCode::CONFLICT, "capacity_full")
        );
    }
    assert_eq!(
        app.store
            .load_of(&caseworker_id("1283-small"))
            .await
            .expect("load"),
        2
    );

    // Releasing one frees a slot; the released case is back in the queue.
    let mine = app.get("/api/v1/cases", Some(&cw)).await;
    let held = mine.body[0]["id"].as_str().expect("id").to_owned();
    let released = app
        .post(
            &format!("/api/v1/cases/{held}/release"),
            Some(&cw),
            json!({}),
        )
        .await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);
    assert_eq!(released.body["state"], "queued");
    let queue = app.get("/api/v1/queue", Some(&cw)).await;
    assert!(
        queue
            .body
            .as_array()
            .expect("queue")
            .iter()
            .any(|i| i["id"] == held.as_str())
    );
    let free = ids
        .iter()
        .find(|id| **id != held && answers.iter().all(|a| a.body["id"] != id.as_str()));
    let free = free.expect("an unclaimed case");
    let claim = app
        .post(&format!("/api/v1/cases/{free}/claim"), Some(&cw), json!({}))
        .await;
    assert_eq!(claim.status, StatusCode::OK, "{}", claim.body);
}

async fn bad_input_gets_clear_errors(backend: Backend) {
    let app = spawn(backend).await;
    let citizen = app.citizen(ANNA, "1275").await;

    let broken = app
        .raw(
            Method::POST,
            "/api/v1/requests",
            Some(&citizen),
            Some(b"{\"category\":".to_vec()),
        )
        .await;
    assert_eq!(
        (broken.status, broken.error()),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );
    assert!(!broken.body["message"].as_str().unwrap_or("").is_empty());
    let not_utf8 = app
        .raw(
            Method::POST,
            "/api/v1/requests",
            Some(&citizen),
            Some(vec![0xff, 0xfe, 0x7b]),
        )
        .await;
    assert_eq!(
        (not_utf8.status, not_utf8.error()),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );

    let unknown = app
        .post("/api/v1/requests", Some(&citizen), json!({"category": "astrologi", "language": "sv", "text": "?", "consent": {"cross_municipality": false}}))
        .await;
    assert_eq!(
        (unknown.status, unknown.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_category")
    );
    let language = app
        .post("/api/v1/requests", Some(&citizen), json!({"category": "ekonomi", "language": "xx", "text": "?", "consent": {"cross_municipality": false}}))
        .await;
    assert_eq!(
        (language.status, language.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_language")
    );
    let missing = app
        .post("/api/v1/requests", Some(&citizen), json!({"category": "ekonomi", "language": "sv", "consent": {"cross_municipality": false}}))
        .await;
    assert_eq!(
        (missing.status, missing.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
    );
    assert_eq!(missing.body["field"], "text");
    let mistyped = app
        .post("/api/v1/requests", Some(&citizen), json!({"category": "ekonomi", "language": "sv", "text": "x", "consent": {"cross_municipality": "ja"}}))
        .await;
    assert_eq!(mistyped.body["field"], "consent.cross_municipality");
    let empty = app
        .post("/api/v1/requests", Some(&citizen), json!({"category": "ekonomi", "language": "sv", "text": "   ", "consent": {"cross_municipality": false}}))
        .await;
    assert_eq!(
        (empty.status, empty.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("text"))
    );

    let pnr = app
        .post(
            "/demo/login",
            None,
            json!({"role": "citizen", "personnummer": "198112189877"}),
        )
        .await;
    assert_eq!(
        (pnr.status, pnr.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_personnummer")
    );
    let date = app
        .post(
            "/demo/login",
            None,
            json!({"role": "citizen", "personnummer": "19811318-9876"}),
        )
        .await;
    assert_eq!(date.error(), "invalid_personnummer");
    let outside = app
        .post(
            "/demo/login",
            None,
            json!({"role": "citizen", "personnummer": ANNA, "municipality": "0180"}),
        )
        .await;
    assert_eq!(
        (outside.status, outside.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "home_outside_federation")
    );
    let loa = app
        .post(
            "/demo/login",
            None,
            json!({"role": "citizen", "personnummer": ANNA, "loa": "loa2"}),
        )
        .await;
    assert_eq!(
        (loa.status, loa.error()),
        (StatusCode::FORBIDDEN, "loa_too_low")
    );
    let nobody = app
        .post(
            "/demo/login",
            None,
            json!({"role": "caseworker", "caseworker_id": "nobody"}),
        )
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    let role = app.post("/demo/login", None, json!({"role": "king"})).await;
    assert_eq!(
        (role.status, role.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("role"))
    );

    // Over 1 MiB → 413, whatever the content.
    let huge = vec![b' '; 1024 * 1024 + 16];
    let big = app
        .raw(Method::POST, "/api/v1/requests", Some(&citizen), Some(huge))
        .await;
    assert_eq!(
        (big.status, big.error()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let long_text = "a".repeat(1024 * 1024);
    let big = app
        .post("/api/v1/requests", Some(&citizen), json!({"category": "ekonomi", "language": "sv", "text": long_text, "consent": {"cross_municipality": false}}))
        .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Unknown routes and methods answer in the same shape.
    let route = app.get("/api/v1/nothing", None).await;
    assert_eq!(
        (route.status, route.error()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let method = app.raw(Method::DELETE, "/api/v1/queue", None, None).await;
    assert_eq!(
        (method.status, method.error()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );

    // Messages follow Accept-Language, Swedish by default.
    let sv = app.get("/api/v1/queue", None).await;
    let en = app
        .client
        .get(format!("{}/api/v1/queue", app.base))
        .header("accept-language", "en-GB,en;q=0.8")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        en.headers()
            .get("content-language")
            .and_then(|v| v.to_str().ok()),
        Some("en")
    );
    let en: serde_json::Value = en.json().await.expect("json");
    assert_eq!(en["error"], "unauthenticated");
    assert_ne!(en["message"], sv.body["message"]);
    // Nothing was stored by any of this.
    assert!(
        app.store
            .cases_of_citizen(brygga::domain::people::CitizenRef::Personnummer(
                &Personnummer::parse_stored(ANNA).expect("number"),
            ))
            .await
            .expect("cases")
            .is_empty()
    );
}

async fn every_private_route_needs_a_token(backend: Backend) {
    let app = spawn(backend).await;
    let routes: &[(Method, &str)] = &[
        (Method::GET, "/api/v1/requests/x"),
        (Method::POST, "/api/v1/requests/x/messages"),
        (Method::POST, "/api/v1/requests/x/cancel"),
        (Method::GET, "/api/v1/me/requests"),
        (Method::GET, "/api/v1/queue"),
        (Method::GET, "/api/v1/cases"),
        (Method::GET, "/api/v1/cases/x"),
        (Method::POST, "/api/v1/cases/x/claim"),
        (Method::POST, "/api/v1/cases/x/messages"),
        (Method::POST, "/api/v1/cases/x/release"),
        (Method::POST, "/api/v1/cases/x/close"),
        (Method::PUT, "/api/v1/me/availability"),
        (Method::GET, "/api/v1/me/availability"),
    ];
    for (method, path) in routes {
        let body = (*method != Method::GET).then(|| b"{\"text\":\"x\"}".to_vec());
        let answer = app.raw(method.clone(), path, None, body.clone()).await;
        assert_eq!(
            (answer.status, answer.error()),
            (StatusCode::UNAUTHORIZED, "unauthenticated"),
            "{method} {path}"
        );
        let forged = app
            .raw(method.clone(), path, Some("not-a-real-token"), body)
            .await;
        assert_eq!(
            forged.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a forged token"
        );
    }
    // Public: health, readiness, anonymous submission, demo routes.
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["federation"], "familjen-helsingborg");
    assert_eq!(ready.body["policy_version"], 1, "the shipped policies");
    let staff = app.get("/demo/caseworkers", None).await;
    let staff = staff.body.as_array().expect("caseworkers");
    assert!(staff.len() > 60);
    assert!(staff.iter().all(|c| {
        c["languages"]
            .as_array()
            .is_some_and(|l| l.contains(&json!("sv")))
    }));
}

async fn roles_and_municipalities_are_kept_apart(backend: Backend) {
    let app = spawn(backend).await;
    let citizen = app.citizen(ANNA, "1275").await;
    let id = app.submit(&citizen, "ekonomi", "sv").await;
    let perstorp = app.caseworker("1275-01").await;
    let helsingborg = app.caseworker("1283-01").await;

    // Another municipality's caseworker cannot tell the case exists.
    for (method, path) in [
        (Method::GET, format!("/api/v1/cases/{id}")),
        (Method::POST, format!("/api/v1/cases/{id}/claim")),
        (Method::POST, format!("/api/v1/cases/{id}/messages")),
        (Method::POST, format!("/api/v1/cases/{id}/release")),
    ] {
        let answer = app
            .raw(
                method.clone(),
                &path,
                Some(&helsingborg),
                Some(b"{\"text\":\"x\"}".to_vec()),
            )
            .await;
        assert_eq!(
            (answer.status, answer.error()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{method} {path}"
        );
        assert!(answer.body.get("policies").is_none());
    }
    let queue = app.get("/api/v1/queue", Some(&helsingborg)).await;
    assert!(
        queue
            .body
            .as_array()
            .expect("queue")
            .iter()
            .all(|i| i["id"] != id.as_str())
    );

    // Wrong role → 403 forbidden.
    let q = app.get("/api/v1/queue", Some(&citizen)).await;
    assert_eq!((q.status, q.error()), (StatusCode::FORBIDDEN, "forbidden"));
    let r = app.get("/api/v1/me/requests", Some(&perstorp)).await;
    assert_eq!((r.status, r.error()), (StatusCode::FORBIDDEN, "forbidden"));
    let s = app
        .post("/api/v1/requests", Some(&perstorp), json!({"category": "ekonomi", "language": "sv", "text": "x", "consent": {"cross_municipality": false}}))
        .await;
    assert_eq!(s.status, StatusCode::FORBIDDEN);
    let c = app
        .get(&format!("/api/v1/requests/{id}"), Some(&perstorp))
        .await;
    assert_eq!(c.status, StatusCode::FORBIDDEN);

    // Another citizen cannot see it.
    let other = app.citizen(&person(7), "1275").await;
    let o = app
        .get(&format!("/api/v1/requests/{id}"), Some(&other))
        .await;
    assert_eq!(o.status, StatusCode::NOT_FOUND);
    let o = app
        .post(
            &format!("/api/v1/requests/{id}/cancel"),
            Some(&other),
            json!({}),
        )
        .await;
    assert_eq!(o.status, StatusCode::NOT_FOUND);

    // A home caseworker without the skill: may see, may not take (403 with the reasons).
    add_caseworker(&app, "1275-narrow", "1275", &["aldre"], 3).await;
    let narrow = app.caseworker("1275-narrow").await;
    let seen = app.get(&format!("/api/v1/cases/{id}"), Some(&narrow)).await;
    assert_eq!(seen.status, StatusCode::OK);
    let take = app
        .post(
            &format!("/api/v1/cases/{id}/claim"),
            Some(&narrow),
            json!({}),
        )
        .await;
    assert_eq!(
        (take.status, take.error()),
        (StatusCode::FORBIDDEN, "not_eligible")
    );
    assert_eq!(take.body["policies"], json!(["eligibility-skill"]));
    let narrow_queue = app.get("/api/v1/queue", Some(&narrow)).await;
    assert!(narrow_queue.body.as_array().expect("queue").is_empty());

    // Owner-only actions by a colleague who does not have the case.
    let claimed = app
        .post(
            &format!("/api/v1/cases/{id}/claim"),
            Some(&perstorp),
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, StatusCode::OK);
    let again = app
        .post(
            &format!("/api/v1/cases/{id}/claim"),
            Some(&perstorp),
            json!({}),
        )
        .await;
    assert_eq!(
        (again.status, again.error()),
        (StatusCode::CONFLICT, "already_claimed")
    );
    let colleague = app.caseworker("1275-02").await;
    let write = app
        .post(
            &format!("/api/v1/cases/{id}/messages"),
            Some(&colleague),
            json!({"text": "hej"}),
        )
        .await;
    assert_eq!(
        (write.status, write.error()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let release = app
        .post(
            &format!("/api/v1/cases/{id}/release"),
            Some(&colleague),
            json!({}),
        )
        .await;
    assert_eq!(release.status, StatusCode::FORBIDDEN);
    let peek = app
        .get(&format!("/api/v1/cases/{id}"), Some(&colleague))
        .await;
    assert!(
        peek.body.get("citizen").is_none(),
        "identity only for the owner"
    );

    // The citizen cannot cancel once a caseworker has it.
    let cancel = app
        .post(
            &format!("/api/v1/requests/{id}/cancel"),
            Some(&citizen),
            json!({}),
        )
        .await;
    assert_eq!(
        (cancel.status, cancel.error()),
        (StatusCode::CONFLICT, "invalid_transition")
    );
}

async fn anonymous_visitors_use_an_access_code(backend: Backend) {
    let app = spawn(backend).await;
    let body = json!({"category": "beroende", "language": "sv", "text": "Jag oroar mig för mitt spelande.", "consent": {"cross_municipality": false}});
    let missing = app.post("/api/v1/requests", None, body.clone()).await;
    assert_eq!(
        (missing.status, missing.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "municipality_required")
    );
    let mut with_home = body.clone();
    with_home["municipality"] = json!("9999");
    let unknown = app.post("/api/v1/requests", None, with_home.clone()).await;
    assert_eq!(unknown.error(), "unknown_municipality");
    with_home["municipality"] = json!("1282");
    let created = app.post("/api/v1/requests", None, with_home).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let code = created.body["access_code"]
        .as_str()
        .expect("access code shown once")
        .to_owned();
    assert_eq!(created.body["state"], "queued");

    let auth = format!("AccessCode {code}");
    let seen = app
        .get(&format!("/api/v1/requests/{id}"), Some(&auth))
        .await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(seen.body.get("access_code").is_none());
    let sloppy = format!("AccessCode {}", code.to_uppercase().replace('-', ""));
    assert_eq!(
        app.get(&format!("/api/v1/requests/{id}"), Some(&sloppy))
            .await
            .status,
        StatusCode::OK
    );
    let wrong = app
        .get(
            &format!("/api/v1/requests/{id}"),
            Some("AccessCode 0000-0000-0000"),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.error()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let write = app
        .post(
            &format!("/api/v1/requests/{id}/messages"),
            Some(&auth),
            json!({"text": "Är ni där?"}),
        )
        .await;
    assert_eq!(write.status, StatusCode::CREATED);

    // A Landskrona caseworker with the skill takes it and sees no identity: there is none.
    let cw = app.caseworker("1282-01").await;
    let claimed = app
        .post(&format!("/api/v1/cases/{id}/claim"), Some(&cw), json!({}))
        .await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    assert_eq!(claimed.body["citizen"]["anonymous"], true);
    assert!(claimed.body["citizen"].get("personnummer").is_none());
    let stored = app
        .store
        .case(&case_id(&id))
        .await
        .expect("case")
        .expect("exists");
    assert!(stored.citizen.is_none());
    assert_ne!(
        stored.access_code_hash.as_deref(),
        Some(code.as_str()),
        "only the hash is stored"
    );

    // Urgent categories carry where to turn at once.
    let urgent = app
        .post("/api/v1/requests", None, json!({"category": "vald", "language": "sv", "text": "Hjälp", "municipality": "1283", "consent": {"cross_municipality": false}}))
        .await;
    assert_eq!(urgent.status, StatusCode::CREATED);
    assert_eq!(urgent.body["emergency"]["call"], "112");
    // Cancelling before anyone has it works.
    let urgent_id = urgent.body["id"].as_str().expect("id");
    let urgent_auth = format!(
        "AccessCode {}",
        urgent.body["access_code"].as_str().expect("code")
    );
    let cancelled = app
        .post(
            &format!("/api/v1/requests/{urgent_id}/cancel"),
            Some(&urgent_auth),
            json!({}),
        )
        .await;
    assert_eq!(
        (cancelled.status, cancelled.body["state"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
}

async fn routing_homes_and_queue_order(backend: Backend) {
    let app = spawn(backend).await;
    // Protected identity: the stated municipality, and only cleared staff see it (R3, R11).
    let protected = app
        .login(json!({"role": "citizen", "personnummer": person(3), "municipality": "1275", "protection": "skyddad_folkbokforing"}))
        .await;
    let answer = app
        .post("/api/v1/requests", Some(&protected), json!({"category": "ekonomi", "language": "sv", "text": "x", "municipality": "1292", "consent": {"cross_municipality": false}}))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let hidden = answer.body["id"].as_str().expect("id").to_owned();
    let stored = app
        .store
        .case(&case_id(&hidden))
        .await
        .expect("case")
        .expect("exists");
    assert_eq!(stored.home.as_str(), "1292");
    let uncleared = app.caseworker("1292-02").await;
    assert_eq!(
        app.get(&format!("/api/v1/cases/{hidden}"), Some(&uncleared))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let cleared = app.caseworker("1292-01").await;
    assert_eq!(
        app.get(&format!("/api/v1/cases/{hidden}"), Some(&cleared))
            .await
            .status,
        StatusCode::OK
    );

    // Child concern goes to the child's municipality, urgent, first in the queue (R10).
    let citizen = app.citizen(ANNA, "1275").await;
    let plain = app.submit(&citizen, "ekonomi", "sv").await;
    let child = app
        .post("/api/v1/requests", Some(&citizen), json!({"category": "oro_barn", "language": "sv", "text": "Jag är orolig för grannens barn.", "child_municipality": "1275", "consent": {"cross_municipality": false}}))
        .await;
    assert_eq!(child.status, StatusCode::CREATED);
    assert_eq!(child.body["emergency"]["call"], "112");
    let child_id = child.body["id"].as_str().expect("id");
    let queue = app
        .get("/api/v1/queue", Some(&app.caseworker("1275-01").await))
        .await;
    let ids: Vec<&str> = queue
        .body
        .as_array()
        .expect("queue")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        vec![child_id, plain.as_str()],
        "urgent first, then oldest"
    );
    assert_eq!(queue.body[0]["urgent"], true);
}

async fn availability_and_capacity_settings(backend: Backend) {
    let app = spawn(backend).await;
    let cw = app.caseworker("1283-01").await;
    let away = app
        .put(
            "/api/v1/me/availability",
            Some(&cw),
            json!({"status": "away"}),
        )
        .await;
    assert_eq!(away.status, StatusCode::OK, "{}", away.body);
    assert_eq!(away.body["status"], "away");
    let lower = app
        .put(
            "/api/v1/me/availability",
            Some(&cw),
            json!({"status": "available", "capacity": 2}),
        )
        .await;
    assert_eq!(
        (
            lower.body["status"].as_str(),
            lower.body["capacity"].as_i64()
        ),
        (Some("available"), Some(2))
    );
    let max = lower.body["max_capacity"].as_i64().expect("max");
    let over = app
        .put(
            "/api/v1/me/availability",
            Some(&cw),
            json!({"status": "available", "capacity": max + 1}),
        )
        .await;
    assert_eq!(
        (over.status, over.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("capacity"))
    );
    let bad = app
        .put(
            "/api/v1/me/availability",
            Some(&cw),
            json!({"status": "asleep"}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("status"))
    );
    let negative = app
        .put(
            "/api/v1/me/availability",
            Some(&cw),
            json!({"status": "away", "capacity": -1}),
        )
        .await;
    assert_eq!(negative.status, StatusCode::UNPROCESSABLE_ENTITY);
    let me = app.get("/api/v1/me/availability", Some(&cw)).await;
    assert_eq!(me.body["capacity"], 2);
}

on_both_backends!(
    the_audit_chain_finds_tampering,
    deleted_inserted_and_cut_events_are_found,
    follow_up_lists_unusual_access,
    retention_thins_closed_cases,
    inactive_cases_close_as_no_contact,
    citizens_export_everything_about_them,
    wrong_access_codes_are_rate_limited,
    browser_sessions_and_their_tokens,
    sessions_end_when_idle_or_too_old,
    integration_tokens_are_scoped_and_revocable,
    serve_has_no_demo_routes,
    withdrawn_consent_sends_the_case_home,
    consent_scope_decides_who_sees_the_request,
    an_ended_agreement_ends_cross_border_access,
    harm_assessment_opens_the_border,
    policy_versions_are_checked_activated_and_simulated,
    a_version_that_breaks_an_invariant_is_refused,
    the_proofs_page_shows_every_invariant,
    the_impact_report_compares_every_possible_request,
    perstorp_budget_advice,
    concurrent_claims_have_one_winner,
    capacity_is_never_exceeded,
    bad_input_gets_clear_errors,
    every_private_route_needs_a_token,
    roles_and_municipalities_are_kept_apart,
    anonymous_visitors_use_an_access_code,
    routing_homes_and_queue_order,
    availability_and_capacity_settings,
    widens_at_once_when_home_has_nobody,
    ring_timeout_widens_and_traces_explain,
    routing_settings_are_for_federation_admins,
    offers_are_accepted_rejected_or_expire,
    away_rescinds_and_freed_capacity_is_matched_at_once,
    transfers_keep_their_target_and_reason,
    interpreter_needed_after_the_last_ring,
    a_case_with_nowhere_else_to_go_gets_an_interpreter_at_once,
    fair_share_caps_cross_border_work,
    scheduler_state_survives_a_restart,
    protected_identity_is_offered_only_to_cleared_staff,
    events_queue_changes_reach_only_that_municipality,
    events_child_concern_alerts_home_staff_and_admins,
    events_offers_reach_only_the_offered_caseworker,
    events_case_messages_reach_the_owner_only,
    events_need_a_caseworker_or_an_admin,
    events_end_when_the_server_shuts_down,
    events_end_when_a_token_logs_out,
    events_end_when_the_browser_logs_out,
    events_end_when_an_integration_token_is_revoked,
    events_end_when_the_browser_login_runs_out,
    events_protected_queue_changes_reach_only_cleared_staff,
);
