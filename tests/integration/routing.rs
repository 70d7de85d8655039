//! The router over HTTP: rings, offers, timeouts, transfers and the administrators' settings.
//! Time moves only through `TestApp::advance`, which also runs one scheduler tick.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, case_id, spawn};
use crate::{ANNA, person};

pub async fn submit_with(
    app: &TestApp,
    token: &str,
    category: &str,
    language: &str,
    consent: bool,
) -> Value {
    submit_consenting(
        app,
        token,
        category,
        language,
        json!({"cross_municipality": consent}),
    )
    .await
}

/// Submits a request with `consent` as written (`cross_municipality`, `municipalities`);
/// answers the created request.
pub async fn submit_consenting(
    app: &TestApp,
    token: &str,
    category: &str,
    language: &str,
    consent: Value,
) -> Value {
    let answer = app
        .post(
            "/api/v1/requests",
            Some(token),
            json!({"category": category, "language": language, "text": "Jag behöver råd.",
                   "consent": consent}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.body
}

/// The caseworker logs in and sets their own availability (`available` or `away`).
async fn set_availability(app: &TestApp, caseworker: &str, status: &str) {
    let token = app.caseworker(caseworker).await;
    let answer = app
        .put(
            "/api/v1/me/availability",
            Some(&token),
            json!({"status": status}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

pub async fn away(app: &TestApp, caseworker: &str) {
    set_availability(app, caseworker, "away").await;
}

pub async fn available(app: &TestApp, caseworker: &str) {
    set_availability(app, caseworker, "available").await;
}

/// Nobody at home in Perstorp: both its caseworkers away.
pub async fn perstorp_away(app: &TestApp) {
    away(app, "1275-01").await;
    away(app, "1275-02").await;
}

pub async fn federation_admin(app: &TestApp) -> String {
    app.login(json!({"role": "admin"})).await
}

pub async fn set_mode(app: &TestApp, category: &str, mode: &str, offer_timeout: i64) {
    let admin = federation_admin(app).await;
    let current = app.get("/api/v1/admin/routing", Some(&admin)).await;
    let mut entry = current.body["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .find(|c| c["category"] == category)
        .expect("category")
        .clone();
    entry["mode"] = json!(mode);
    entry["offer_timeout"] = json!(offer_timeout);
    let answer = app
        .put("/api/v1/admin/routing", Some(&admin), json!([entry]))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

async fn offers(app: &TestApp, token: &str) -> Vec<Value> {
    let answer = app.get("/api/v1/offers", Some(token)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body.as_array().expect("offers").clone()
}

pub async fn in_queue(app: &TestApp, token: &str, id: &str) -> Option<Value> {
    let queue = app.get("/api/v1/queue", Some(token)).await;
    queue
        .body
        .as_array()
        .expect("queue")
        .iter()
        .find(|i| i["id"] == id)
        .cloned()
}

/// Perstorp's staff are away: with consent, the request widens at once to the agreement
/// partners, who see metadata only until one of them takes it.
pub async fn widens_at_once_when_home_has_nobody(backend: Backend) {
    let app = spawn(backend).await;
    away(&app, "1275-01").await;
    away(&app, "1275-02").await;
    let citizen = app.citizen(ANNA, "1275").await;
    let submitted = submit_with(&app, &citizen, "ekonomi", "sv", true).await;
    assert_eq!(submitted["ring"], 1, "{submitted}");
    let id = submitted["id"].as_str().expect("id");

    let partner = app.caseworker("1283-01").await;
    let item = in_queue(&app, &partner, id)
        .await
        .expect("in Helsingborg's queue");
    assert_eq!(
        (item["ring"].as_i64(), item["home"].as_str()),
        (Some(1), Some("1275"))
    );
    let peek = app
        .get(&format!("/api/v1/cases/{id}"), Some(&partner))
        .await;
    assert_eq!(peek.status, StatusCode::OK);
    assert!(
        peek.body.get("messages").is_none(),
        "R8: no content before they have it: {}",
        peek.body
    );
    assert!(peek.body.get("citizen").is_none());

    let claimed = app
        .post(
            &format!("/api/v1/cases/{id}/claim"),
            Some(&partner),
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    assert_eq!(claimed.body["municipality"], "1283");
    let full = app
        .get(&format!("/api/v1/cases/{id}"), Some(&partner))
        .await;
    assert_eq!(full.body["citizen"]["personnummer"], ANNA);
    assert_eq!(full.body["messages"][0]["from"], "citizen");
    let seen = app
        .get(&format!("/api/v1/requests/{id}"), Some(&citizen))
        .await;
    assert_eq!(seen.body["municipality"], "1283");
    let audit = app
        .store
        .audit_events(Some(&case_id(id)), 50)
        .await
        .expect("audit");
    let claim = audit.iter().find(|e| e.action == "claim").expect("claim");
    assert!(
        claim.policies.contains(&"R5-agreement-service".to_owned()),
        "{:?}",
        claim.policies
    );
    // R8: a partner takes it as metadata first, on the citizen's consent.
    assert!(claim.policies.contains(&"R8-partner-metadata".to_owned()));
    // Another partner can no longer see it at all.
    let other = app.caseworker("1282-01").await;
    assert_eq!(
        app.get(&format!("/api/v1/cases/{id}"), Some(&other))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Without consent nothing crosses the border, whoever is away.
    let other_citizen = app.citizen(&person(11), "1275").await;
    let kept = submit_with(&app, &other_citizen, "ekonomi", "sv", false).await;
    assert_eq!(kept["ring"], 0);
    let kept_id = kept["id"].as_str().expect("id");
    assert!(in_queue(&app, &partner, kept_id).await.is_none());
    assert_eq!(
        app.get(&format!("/api/v1/cases/{kept_id}"), Some(&partner))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// A request nobody at home takes widens when its ring's time is up; the trace says why.
pub async fn ring_timeout_widens_and_traces_explain(backend: Backend) {
    let app = spawn(backend).await;
    let citizen = app.citizen(ANNA, "1275").await;
    let submitted = submit_with(&app, &citizen, "ekonomi", "sv", true).await;
    assert_eq!(submitted["ring"], 0, "Perstorp has someone available");
    let id = submitted["id"].as_str().expect("id");
    let partner = app.caseworker("1283-01").await;
    assert!(in_queue(&app, &partner, id).await.is_none());

    let early = app.advance(1700).await;
    assert_eq!(early.widened, 0);
    let report = app.advance(200).await;
    assert_eq!(report.widened, 1, "{report:?}");
    assert_eq!(
        in_queue(&app, &partner, id)
            .await
            .map(|i| i["ring"].clone()),
        Some(json!(1))
    );

    let home_admin = app
        .login(json!({"role": "admin", "municipality": "1275"}))
        .await;
    let traces = app
        .get(
            &format!("/api/v1/admin/cases/{id}/routing"),
            Some(&home_admin),
        )
        .await;
    assert_eq!(traces.status, StatusCode::OK, "{}", traces.body);
    let events: Vec<&str> = traces
        .body
        .as_array()
        .expect("traces")
        .iter()
        .filter_map(|t| t["trace"]["event"].as_str())
        .collect();
    assert_eq!(events, vec!["submitted", "ring_timeout"]);
    let first = &traces.body[0]["trace"];
    assert_eq!(first["home_reason"], "registered_home");
    assert_eq!(first["rings"][0]["municipalities"], json!(["1275"]));
    assert!(
        first["rings"][0]["filtered"]
            .as_array()
            .expect("filtered")
            .iter()
            .any(|f| f["caseworker"] == "1275-02" && f["reason"] == "no_skill")
    );
    let other_admin = app
        .login(json!({"role": "admin", "municipality": "1283"}))
        .await;
    assert_eq!(
        app.get(
            &format!("/api/v1/admin/cases/{id}/routing"),
            Some(&other_admin)
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let caseworker = app.caseworker("1275-01").await;
    assert_eq!(
        app.get(
            &format!("/api/v1/admin/cases/{id}/routing"),
            Some(&caseworker)
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );

    // A child concern never widens, however long it waits (R10).
    let concern = app
        .post("/api/v1/requests", Some(&citizen), json!({"category": "oro_barn", "language": "sv", "text": "Oro", "consent": {"cross_municipality": true}}))
        .await;
    let concern_id = concern.body["id"].as_str().expect("id");
    app.advance(24 * 3600).await;
    let stored = app
        .store
        .case(&case_id(concern_id))
        .await
        .expect("case")
        .expect("exists");
    assert_eq!(stored.ring, 0);
}

pub async fn routing_settings_are_for_federation_admins(backend: Backend) {
    let app = spawn(backend).await;
    let admin = federation_admin(&app).await;
    let settings = app.get("/api/v1/admin/routing", Some(&admin)).await;
    assert_eq!(settings.status, StatusCode::OK);
    let categories = settings.body["categories"].as_array().expect("categories");
    assert!(
        categories.iter().all(|c| c["mode"] == "pull"),
        "pull by default (API.md)"
    );
    let mut entry = categories
        .iter()
        .find(|c| c["category"] == "ekonomi")
        .expect("ekonomi")
        .clone();
    entry["mode"] = json!("push");
    entry["fair_share_per_10k"] = json!(2.5);
    let stored = app
        .put(
            "/api/v1/admin/routing",
            Some(&admin),
            json!([entry.clone()]),
        )
        .await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    let ekonomi = stored.body["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .find(|c| c["category"] == "ekonomi")
        .cloned();
    assert_eq!(ekonomi, Some(entry.clone()));

    let municipal = app
        .login(json!({"role": "admin", "municipality": "1283"}))
        .await;
    let denied = app
        .put(
            "/api/v1/admin/routing",
            Some(&municipal),
            json!([entry.clone()]),
        )
        .await;
    assert_eq!(
        (denied.status, denied.error()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert_eq!(
        app.get("/api/v1/admin/routing", Some(&municipal))
            .await
            .status,
        StatusCode::OK
    );
    let caseworker = app.caseworker("1283-01").await;
    assert_eq!(
        app.get("/api/v1/admin/routing", Some(&caseworker))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/admin/routing", None).await.status,
        StatusCode::UNAUTHORIZED
    );

    let mut bad = entry.clone();
    bad["ring_timeouts"] = json!([0, 10]);
    let answer = app
        .put("/api/v1/admin/routing", Some(&admin), json!([bad]))
        .await;
    assert_eq!(
        (answer.status, answer.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("ring_timeouts"))
    );
    let mut unknown = entry.clone();
    unknown["category"] = json!("astrologi");
    let answer = app
        .put("/api/v1/admin/routing", Some(&admin), json!([unknown]))
        .await;
    assert_eq!(answer.error(), "unknown_category");
    let mut mode = entry.clone();
    mode["mode"] = json!("shove");
    let answer = app
        .put("/api/v1/admin/routing", Some(&admin), json!([mode]))
        .await;
    assert_eq!(
        (answer.status, answer.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("[0].mode"))
    );
}

/// Push mode: an offer to the best candidate; reject, expiry and `away` move it on; accept
/// after expiry is 409 `offer_expired`.
pub async fn offers_are_accepted_rejected_or_expire(backend: Backend) {
    let app = spawn(backend).await;
    set_mode(&app, "ekonomi", "push", 60).await;
    let generalist = app.caseworker("1275-01").await;
    let colleague = app.caseworker("1275-02").await;

    // Accepted in time.
    let citizen = app.citizen(ANNA, "1275").await;
    let first = submit_with(&app, &citizen, "ekonomi", "sv", false).await;
    assert_eq!(first["state"], "offered", "{first}");
    let mine = offers(&app, &generalist).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["id"], first["id"]);
    assert!(mine[0].get("citizen").is_none());
    let offer_id = mine[0]["offer_id"].as_str().expect("offer id").to_owned();
    assert!(offers(&app, &colleague).await.is_empty());
    let stolen = app
        .post(
            &format!("/api/v1/offers/{offer_id}/accept"),
            Some(&colleague),
            json!({}),
        )
        .await;
    assert_eq!(stolen.status, StatusCode::NOT_FOUND);
    crate::add_caseworker(&app, "1275-skilled", "1275", &["ekonomi"], 3).await;
    let skilled = app.caseworker("1275-skilled").await;
    let claim = app
        .post(
            &format!("/api/v1/cases/{}/claim", first["id"].as_str().expect("id")),
            Some(&skilled),
            json!({}),
        )
        .await;
    assert_eq!(
        (claim.status, claim.error()),
        (StatusCode::CONFLICT, "already_offered")
    );
    let partner = app.caseworker("1283-01").await;
    let foreign = app
        .post(
            &format!("/api/v1/cases/{}/claim", first["id"].as_str().expect("id")),
            Some(&partner),
            json!({}),
        )
        .await;
    assert_eq!(
        foreign.status,
        StatusCode::NOT_FOUND,
        "no consent: invisible outside home"
    );
    away(&app, "1275-skilled").await;
    let accepted = app
        .post(
            &format!("/api/v1/offers/{offer_id}/accept"),
            Some(&generalist),
            json!({}),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["state"], "assigned");
    let twice = app
        .post(
            &format!("/api/v1/offers/{offer_id}/accept"),
            Some(&generalist),
            json!({}),
        )
        .await;
    assert_eq!(
        (twice.status, twice.error()),
        (StatusCode::CONFLICT, "offer_expired")
    );

    // Rejected: nobody else at home has the skill and there is no consent: it waits.
    let second_citizen = app.citizen(&person(21), "1275").await;
    let second = submit_with(&app, &second_citizen, "ekonomi", "sv", false).await;
    let offer_id = offers(&app, &generalist).await[0]["offer_id"]
        .as_str()
        .expect("offer")
        .to_owned();
    let rejected = app
        .post(
            &format!("/api/v1/offers/{offer_id}/reject"),
            Some(&generalist),
            json!({}),
        )
        .await;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.body);
    let stored = app
        .store
        .case(&case_id(second["id"].as_str().expect("id")))
        .await
        .expect("case")
        .expect("exists");
    assert_eq!((stored.state.as_str(), stored.owner), ("queued", None));
    let again = app
        .post(
            &format!("/api/v1/offers/{offer_id}/reject"),
            Some(&generalist),
            json!({}),
        )
        .await;
    assert_eq!(again.error(), "offer_expired");

    // Expired: the scheduler ends it; a late accept is 409.
    let third_citizen = app.citizen(&person(22), "1275").await;
    let third = submit_with(&app, &third_citizen, "ekonomi", "sv", true).await;
    let offer = offers(&app, &generalist).await;
    let offer_id = offer
        .iter()
        .find(|o| o["id"] == third["id"])
        .expect("offered")["offer_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let report = app.advance(61).await;
    assert!(report.offers_expired >= 1, "{report:?}");
    let late = app
        .post(
            &format!("/api/v1/offers/{offer_id}/accept"),
            Some(&generalist),
            json!({}),
        )
        .await;
    assert_eq!(
        (late.status, late.error()),
        (StatusCode::CONFLICT, "offer_expired")
    );
    // With consent it went on to the next candidate: a partner municipality.
    let moved = app
        .store
        .case(&case_id(third["id"].as_str().expect("id")))
        .await
        .expect("case")
        .expect("exists");
    assert_eq!(
        moved.state.as_str(),
        "offered",
        "re-offered after the timeout"
    );
    assert_ne!(moved.owner.as_ref().map(|o| o.as_str()), Some("1275-01"));
    assert_eq!(moved.ring, 1);
    let counts = app.store.offer_counts().await.expect("counts");
    for outcome in ["accepted", "rejected", "timed_out"] {
        assert!(
            counts.iter().any(|(o, n)| o == outcome && *n >= 1),
            "{counts:?}"
        );
    }
}

pub async fn away_rescinds_and_freed_capacity_is_matched_at_once(backend: Backend) {
    let app = spawn(backend).await;
    set_mode(&app, "ekonomi", "push", 300).await;
    let generalist = app.caseworker("1275-01").await;
    let lowered = app
        .put(
            "/api/v1/me/availability",
            Some(&generalist),
            json!({"status": "available", "capacity": 1}),
        )
        .await;
    assert_eq!(lowered.status, StatusCode::OK);

    let a = app.citizen(&person(31), "1275").await;
    let first = submit_with(&app, &a, "ekonomi", "sv", false).await;
    assert_eq!(first["state"], "offered");
    let offer_id = offers(&app, &generalist).await[0]["offer_id"]
        .as_str()
        .expect("offer")
        .to_owned();
    let accepted = app
        .post(
            &format!("/api/v1/offers/{offer_id}/accept"),
            Some(&generalist),
            json!({}),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK);

    // Full: the next request waits…
    let b = app.citizen(&person(32), "1275").await;
    let second = submit_with(&app, &b, "ekonomi", "sv", false).await;
    assert_eq!(second["state"], "queued");
    // …and is offered the moment the first closes.
    let first_id = first["id"].as_str().expect("id");
    let closed = app
        .post(
            &format!("/api/v1/cases/{first_id}/close"),
            Some(&generalist),
            json!({"outcome": "advice_given"}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK);
    let now_offered = offers(&app, &generalist).await;
    assert_eq!(now_offered.len(), 1, "matched at once when capacity freed");
    assert_eq!(now_offered[0]["id"], second["id"]);

    // Going away rescinds it; coming back offers it again.
    let gone = app
        .put(
            "/api/v1/me/availability",
            Some(&generalist),
            json!({"status": "away"}),
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK);
    assert!(offers(&app, &generalist).await.is_empty());
    let stored = app
        .store
        .case(&case_id(second["id"].as_str().expect("id")))
        .await
        .expect("case")
        .expect("exists");
    assert_eq!(stored.state.as_str(), "queued");
    let back = app
        .put(
            "/api/v1/me/availability",
            Some(&generalist),
            json!({"status": "available"}),
        )
        .await;
    assert_eq!(back.status, StatusCode::OK);
    let after = app
        .store
        .case(&case_id(second["id"].as_str().expect("id")))
        .await
        .expect("case")
        .expect("exists");
    // A rescinded offer is not a decline: back at work, it is theirs to take again.
    assert!(
        app.store
            .declined(&after.id, chrono::DateTime::<chrono::Utc>::UNIX_EPOCH)
            .await
            .expect("declined")
            .is_empty()
    );
    assert_eq!(
        (
            after.state.as_str(),
            after.owner.as_ref().map(|o| o.as_str())
        ),
        ("offered", Some("1275-01"))
    );
}

/// Transfers re-enter routing with their target; the reason is kept; targets the policies
/// close are refused with the rules that close them.
pub async fn transfers_keep_their_target_and_reason(backend: Backend) {
    let app = spawn(backend).await;
    let citizen = app.citizen(ANNA, "1275").await;
    let owner = app.caseworker("1275-01").await;
    let submitted = submit_with(&app, &citizen, "ekonomi", "sv", true).await;
    let id = submitted["id"].as_str().expect("id").to_owned();
    assert_eq!(
        app.post(
            &format!("/api/v1/cases/{id}/claim"),
            Some(&owner),
            json!({})
        )
        .await
        .status,
        StatusCode::OK
    );

    let no_reason = app
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            Some(&owner),
            json!({"municipality": "1283", "reason": " "}),
        )
        .await;
    assert_eq!(
        (no_reason.status, no_reason.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
    );
    let colleague = app.caseworker("1275-02").await;
    let not_owner = app
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            Some(&colleague),
            json!({"municipality": "1283", "reason": "x"}),
        )
        .await;
    assert_eq!(not_owner.status, StatusCode::FORBIDDEN);

    let moved = app
        .post(&format!("/api/v1/cases/{id}/transfer"), Some(&owner), json!({"municipality": "1283", "reason": "Arabisktalande budgetrådgivare finns i Helsingborg"}))
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["state"], "queued");
    let partner = app.caseworker("1283-01").await;
    assert!(
        in_queue(&app, &partner, &id).await.is_some(),
        "in the target's queue"
    );
    assert!(
        in_queue(&app, &owner, &id).await.is_none(),
        "not back in home's queue"
    );
    let stored = app
        .store
        .case(&case_id(&id))
        .await
        .expect("case")
        .expect("exists");
    assert_eq!(
        stored.transfer_reason.as_deref(),
        Some("Arabisktalande budgetrådgivare finns i Helsingborg")
    );
    let audit = app
        .store
        .audit_events(Some(&case_id(&id)), 50)
        .await
        .expect("audit");
    let transfer = audit
        .iter()
        .find(|e| e.action == "transfer")
        .expect("transfer event");
    assert_eq!(transfer.detail["municipality"], "1283");

    // Straight to a named caseworker: offered to them.
    let home_admin = app
        .login(json!({"role": "admin", "municipality": "1275"}))
        .await;
    let named = app
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            Some(&home_admin),
            json!({"caseworker_id": "1282-01", "reason": "Kontinuitet"}),
        )
        .await;
    assert_eq!(named.status, StatusCode::OK, "{}", named.body);
    let landskrona = app.caseworker("1282-01").await;
    let offered = offers(&app, &landskrona).await;
    assert_eq!(offered.len(), 1, "offered to the named caseworker");
    let other_admin = app
        .login(json!({"role": "admin", "municipality": "1283"}))
        .await;
    let foreign = app
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            Some(&other_admin),
            json!({"municipality": "1283", "reason": "x"}),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);

    // Without consent a transfer across the border is refused, naming the rule.
    let other = app.citizen(&person(41), "1275").await;
    let kept = submit_with(&app, &other, "ekonomi", "sv", false).await;
    let kept_id = kept["id"].as_str().expect("id");
    assert_eq!(
        app.post(
            &format!("/api/v1/cases/{kept_id}/claim"),
            Some(&owner),
            json!({})
        )
        .await
        .status,
        StatusCode::OK
    );
    let refused = app
        .post(
            &format!("/api/v1/cases/{kept_id}/transfer"),
            Some(&owner),
            json!({"municipality": "1283", "reason": "x"}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.error()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert!(
        refused.body["policies"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "{}",
        refused.body
    );
    let unknown = app
        .post(
            &format!("/api/v1/cases/{kept_id}/transfer"),
            Some(&owner),
            json!({"caseworker_id": "nobody", "reason": "x"}),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_caseworker")
    );
}

/// Nobody permitted speaks Somali: after the last ring's time the request is flagged for an
/// interpreter and anyone with the skill may take it.
pub async fn interpreter_needed_after_the_last_ring(backend: Backend) {
    let app = spawn(backend).await;
    let citizen = app.citizen(ANNA, "1275").await;
    let submitted = submit_with(&app, &citizen, "ekonomi", "so", false).await;
    let id = submitted["id"].as_str().expect("id");
    let home = app.caseworker("1275-01").await;
    assert!(
        in_queue(&app, &home, id).await.is_none(),
        "nobody in Perstorp speaks Somali"
    );
    let report = app.advance(1801).await;
    assert_eq!(report.interpreter_flagged, 1, "{report:?}");
    let item = in_queue(&app, &home, id).await.expect("now in the queue");
    assert_eq!(item["interpreter_needed"], true);
    let claimed = app
        .post(&format!("/api/v1/cases/{id}/claim"), Some(&home), json!({}))
        .await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    assert_eq!(claimed.body["interpreter_needed"], true);
}

/// A case that can go nowhere else needs an interpreter at once when nobody there speaks the
/// language: an Arabic request sent back to Perstorp (nobody speaks Arabic there) is in
/// Perstorp's queue flagged at once, not stranded until a ring timeout, and Perstorp reads why
/// it came back. A child concern in Somali (it never leaves home, R10) is flagged at
/// submission.
pub async fn a_case_with_nowhere_else_to_go_gets_an_interpreter_at_once(backend: Backend) {
    let app = spawn(backend).await;
    let citizen = app.citizen(ANNA, "1275").await;
    let submitted = submit_with(&app, &citizen, "ekonomi", "ar", true).await;
    let id = submitted["id"].as_str().expect("id").to_owned();
    let helsingborg = app.caseworker("1283-01").await;
    assert!(in_queue(&app, &helsingborg, &id).await.is_some());
    let claimed = app
        .post(
            &format!("/api/v1/cases/{id}/claim"),
            Some(&helsingborg),
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    let reason = "Invånaren vill hellre ha hjälp i sin egen kommun, med tolk.";
    let back = app
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            Some(&helsingborg),
            json!({"municipality": "1275", "reason": reason}),
        )
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    let perstorp = app.caseworker("1275-01").await;
    let item = in_queue(&app, &perstorp, &id)
        .await
        .expect("in Perstorp's queue at once");
    assert_eq!(item["interpreter_needed"], true);
    let taken = app
        .post(
            &format!("/api/v1/cases/{id}/claim"),
            Some(&perstorp),
            json!({}),
        )
        .await;
    assert_eq!(taken.status, StatusCode::OK, "{}", taken.body);
    let case = app
        .get(&format!("/api/v1/cases/{id}"), Some(&perstorp))
        .await;
    assert_eq!(case.body["transfer_reason"], reason, "{}", case.body);
    // Someone who may not read the content does not read the reason either.
    let colleague = app.caseworker("1275-02").await;
    let outside = app
        .get(&format!("/api/v1/cases/{id}"), Some(&colleague))
        .await;
    assert_eq!(outside.status, StatusCode::OK);
    assert!(
        outside.body.get("transfer_reason").is_none(),
        "{}",
        outside.body
    );
    let audit = app
        .store
        .audit_events(Some(&case_id(&id)), 50)
        .await
        .expect("audit");
    assert!(
        audit.iter().any(|e| e.action == "interpreter_needed"),
        "{:?}",
        audit.iter().map(|e| &e.action).collect::<Vec<_>>()
    );

    let child = app
        .post(
            "/api/v1/requests",
            Some(&citizen),
            json!({"category": "oro_barn", "language": "so", "text": "Jag är orolig för ett barn.",
                   "child_municipality": "1275", "consent": {"cross_municipality": false}}),
        )
        .await;
    assert_eq!(child.status, StatusCode::CREATED, "{}", child.body);
    let child_id = child.body["id"].as_str().expect("id");
    let item = in_queue(&app, &perstorp, child_id)
        .await
        .expect("a child concern in Somali is in Perstorp's queue at once");
    assert_eq!(item["interpreter_needed"], true);
}

/// The fair-share cap: a municipality that has taken its share of cross-border cases today
/// neither sees nor may claim more; its own citizens' requests are not affected.
pub async fn fair_share_caps_cross_border_work(backend: Backend) {
    let app = spawn(backend).await;
    let admin = federation_admin(&app).await;
    let current = app.get("/api/v1/admin/routing", Some(&admin)).await;
    let mut entry = current.body["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .find(|c| c["category"] == "ekonomi")
        .expect("ekonomi")
        .clone();
    // 0.01 per 10 000 inhabitants rounds down to the floor of one case a day for everyone.
    entry["fair_share_per_10k"] = json!(0.01);
    assert_eq!(
        app.put("/api/v1/admin/routing", Some(&admin), json!([entry]))
            .await
            .status,
        StatusCode::OK
    );
    away(&app, "1275-01").await;
    away(&app, "1275-02").await;
    let helsingborg = app.caseworker("1283-01").await;

    let first = submit_with(
        &app,
        &app.citizen(&person(51), "1275").await,
        "ekonomi",
        "sv",
        true,
    )
    .await;
    let second = submit_with(
        &app,
        &app.citizen(&person(52), "1275").await,
        "ekonomi",
        "sv",
        true,
    )
    .await;
    let (first, second) = (
        first["id"].as_str().expect("id"),
        second["id"].as_str().expect("id"),
    );
    assert!(in_queue(&app, &helsingborg, second).await.is_some());
    let took = app
        .post(
            &format!("/api/v1/cases/{first}/claim"),
            Some(&helsingborg),
            json!({}),
        )
        .await;
    assert_eq!(took.status, StatusCode::OK, "{}", took.body);

    assert!(
        in_queue(&app, &helsingborg, second).await.is_none(),
        "capped for today"
    );
    let refused = app
        .post(
            &format!("/api/v1/cases/{second}/claim"),
            Some(&helsingborg),
            json!({}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.error()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert_eq!(refused.body["policies"], json!(["fair-share-cap"]));
    // Another partner still may; and Helsingborg's own citizens are unaffected.
    let landskrona = app.caseworker("1282-01").await;
    assert!(in_queue(&app, &landskrona, second).await.is_some());
    let own = submit_with(
        &app,
        &app.citizen(&person(53), "1283").await,
        "ekonomi",
        "sv",
        false,
    )
    .await;
    let own_id = own["id"].as_str().expect("id");
    assert_eq!(
        app.post(
            &format!("/api/v1/cases/{own_id}/claim"),
            Some(&helsingborg),
            json!({})
        )
        .await
        .status,
        StatusCode::OK
    );
    // A new day, a new share (and, 24 hours on, a new login: sessions last 12 hours).
    app.advance(24 * 3600).await;
    assert_eq!(
        app.get("/api/v1/queue", Some(&helsingborg)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let helsingborg = app.caseworker("1283-01").await;
    assert!(in_queue(&app, &helsingborg, second).await.is_some());
}

/// Everything the scheduler needs is in the database: a gateway started afresh on it (after a
/// crash, or another replica) expires the offer another one made, and re-routes the request.
pub async fn scheduler_state_survives_a_restart(backend: Backend) {
    let app = spawn(backend).await;
    set_mode(&app, "ekonomi", "push", 60).await;
    let citizen = app.citizen(ANNA, "1275").await;
    let submitted = submit_with(&app, &citizen, "ekonomi", "sv", true).await;
    assert_eq!(submitted["state"], "offered");
    let id = submitted["id"].as_str().expect("id");

    let restarted = app.replica().await;
    app.clock.advance(chrono::Duration::seconds(61));
    let report = restarted.tick().await.expect("tick");
    assert_eq!(report.offers_expired, 1, "{report:?}");
    let case = app
        .store
        .case(&case_id(id))
        .await
        .expect("case")
        .expect("exists");
    assert_eq!(
        case.state.as_str(),
        "offered",
        "re-offered to the next candidate"
    );
    assert_ne!(case.owner.as_ref().map(|o| o.as_str()), Some("1275-01"));
    // The first gateway's tick finds nothing left to do for that offer.
    let again = app.ctx.tick().await.expect("tick");
    assert_eq!(again.offers_expired, 0);
}

/// R11 in push mode: a protected-identity request is offered only to cleared home staff, and
/// when they go away it waits rather than go to anyone else.
pub async fn protected_identity_is_offered_only_to_cleared_staff(backend: Backend) {
    let app = spawn(backend).await;
    set_mode(&app, "ekonomi", "push", 60).await;
    let protected = app
        .login(json!({"role": "citizen", "personnummer": person(61), "municipality": "1283", "protection": "skyddad_folkbokforing"}))
        .await;
    let submitted = submit_with(&app, &protected, "ekonomi", "sv", true).await;
    let id = submitted["id"].as_str().expect("id");
    let case = app
        .store
        .case(&case_id(id))
        .await
        .expect("case")
        .expect("exists");
    assert_eq!(
        (case.state.as_str(), case.owner.as_ref().map(|o| o.as_str())),
        ("offered", Some("1283-01")),
        "the cleared generalist"
    );
    away(&app, "1283-01").await;
    let case = app
        .store
        .case(&case_id(id))
        .await
        .expect("case")
        .expect("exists");
    assert_eq!(
        (case.state.as_str(), case.owner),
        ("queued", None),
        "nobody else is cleared"
    );
    app.advance(7200).await;
    let case = app
        .store
        .case(&case_id(id))
        .await
        .expect("case")
        .expect("exists");
    assert_eq!(
        (case.state.as_str(), case.ring),
        ("queued", 0),
        "never offered to uncleared staff, never widened"
    );
}
