//! The Cedar policies at work over HTTP: consent given, narrowed and withdrawn (R8, R9), an
//! agreement ending under a cross-border case, harm assessments (R12), and the administrators'
//! policy versions, activation and simulation.

use reqwest::StatusCode;
use serde_json::{Value, json};

use brygga::clock::Clock;

use crate::ANNA;
use crate::harness::{Backend, TestApp, after_the_demo_agreements, case_id, spawn};
use crate::routing::{away, federation_admin, in_queue, perstorp_away, submit_with};

pub async fn claim(app: &TestApp, token: &str, id: &str) -> Value {
    let answer = app
        .post(&format!("/api/v1/cases/{id}/claim"), Some(token), json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body
}

/// Perstorp's staff away, Anna consents: her request goes to Helsingborg, who takes it.
/// Returns the citizen's and the partner's tokens and the case id.
pub async fn held_in_helsingborg(app: &TestApp) -> (String, String, String) {
    held_in_helsingborg_about(app, "ekonomi").await
}

/// [`held_in_helsingborg`] with a request about `category`: it widens at once (nobody at
/// home), and the case is Helsingborg's once claimed.
pub async fn held_in_helsingborg_about(app: &TestApp, category: &str) -> (String, String, String) {
    perstorp_away(app).await;
    let citizen = app.citizen(ANNA, "1275").await;
    let submitted = submit_with(app, &citizen, category, "sv", true).await;
    assert_eq!(submitted["ring"], 1, "widened at once: {submitted}");
    let id = submitted["id"].as_str().expect("id").to_owned();
    let partner = app.caseworker("1283-01").await;
    let claimed = claim(app, &partner, &id).await;
    assert_eq!(claimed["municipality"], "1283", "{claimed}");
    (citizen, partner, id)
}

/// R9: withdrawn consent ends the partner's access at once; the case goes home, and the whole
/// consent history is kept.
pub async fn withdrawn_consent_sends_the_case_home(backend: Backend) {
    let app = spawn(backend).await;
    let (citizen, partner, id) = held_in_helsingborg(&app).await;

    let withdrawn = app
        .put(
            &format!("/api/v1/requests/{id}/consent"),
            Some(&citizen),
            json!({"cross_municipality": false}),
        )
        .await;
    assert_eq!(withdrawn.status, StatusCode::OK, "{}", withdrawn.body);
    assert_eq!(withdrawn.body["cross_municipality"], false);
    let history = withdrawn.body["history"].as_array().expect("history");
    assert_eq!(history.len(), 2, "{}", withdrawn.body);
    assert_eq!(history[0]["cross_municipality"], true);
    assert_eq!(history[1]["by"], "citizen");

    for path in [
        format!("/api/v1/cases/{id}"),
        format!("/api/v1/cases/{id}/messages"),
    ] {
        let answer = if path.ends_with("messages") {
            app.post(&path, Some(&partner), json!({"text": "Hej"}))
                .await
        } else {
            app.get(&path, Some(&partner)).await
        };
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            answer.body
        );
        assert!(answer.body.get("policies").is_none());
    }
    let mine = app.get("/api/v1/cases", Some(&partner)).await;
    assert_eq!(mine.body, json!([]), "the case left Helsingborg");

    let seen = app
        .get(&format!("/api/v1/requests/{id}"), Some(&citizen))
        .await;
    assert_eq!(seen.body["state"], "queued");
    assert_eq!(seen.body["ring"], 0);
    assert_eq!(seen.body["consent"]["cross_municipality"], false);

    // Home picks it up.
    let home = app.caseworker("1275-01").await;
    let back = app
        .put(
            "/api/v1/me/availability",
            Some(&home),
            json!({"status": "available"}),
        )
        .await;
    assert_eq!(back.status, StatusCode::OK);
    assert!(in_queue(&app, &home, &id).await.is_some());
    assert!(in_queue(&app, &partner, &id).await.is_none());

    let audit = app
        .store
        .audit_events(Some(&case_id(&id)), 100)
        .await
        .expect("audit");
    let revoked = audit
        .iter()
        .find(|e| e.action == "consent")
        .expect("consent event");
    assert_eq!(revoked.policies, vec!["R19-own-data".to_owned()]);
    assert_eq!(revoked.actor, "citizen");
    let consents = app.store.consents(&case_id(&id)).await.expect("consents");
    assert_eq!(consents.len(), 2);

    // Someone else's request: 404, not 403.
    let stranger = app.citizen(&crate::person(77), "1275").await;
    let answer = app
        .put(
            &format!("/api/v1/requests/{id}/consent"),
            Some(&stranger),
            json!({"cross_municipality": true}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let answer = app
        .put(
            &format!("/api/v1/requests/{id}/consent"),
            Some(&citizen),
            json!({"cross_municipality": true, "municipalities": ["9999"]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.error(), "unknown_municipality");
}

/// A consent naming municipalities lets only those see the request.
pub async fn consent_scope_decides_who_sees_the_request(backend: Backend) {
    let app = spawn(backend).await;
    away(&app, "1275-01").await;
    away(&app, "1275-02").await;
    let citizen = app.citizen(ANNA, "1275").await;
    let submitted = submit_with(&app, &citizen, "ekonomi", "sv", false).await;
    assert_eq!(submitted["ring"], 0, "no consent: home only");
    let id = submitted["id"].as_str().expect("id");
    let helsingborg = app.caseworker("1283-01").await;
    let landskrona = app.caseworker("1282-01").await;
    assert!(in_queue(&app, &helsingborg, id).await.is_none());

    let given = app
        .put(
            &format!("/api/v1/requests/{id}/consent"),
            Some(&citizen),
            json!({"cross_municipality": true, "municipalities": ["1282"]}),
        )
        .await;
    assert_eq!(given.status, StatusCode::OK, "{}", given.body);
    assert_eq!(given.body["municipalities"], json!(["1282"]));
    // Home has nobody: the request widened at once, to Landskrona only.
    assert!(in_queue(&app, &landskrona, id).await.is_some());
    assert!(in_queue(&app, &helsingborg, id).await.is_none());
    let peek = app
        .get(&format!("/api/v1/cases/{id}"), Some(&helsingborg))
        .await;
    assert_eq!(peek.status, StatusCode::NOT_FOUND);
    let claim = app
        .post(
            &format!("/api/v1/cases/{id}/claim"),
            Some(&helsingborg),
            json!({}),
        )
        .await;
    assert_eq!(claim.status, StatusCode::NOT_FOUND);
}

/// An agreement's last day passes while Helsingborg has Perstorp's case: the scheduler sends it
/// home, and Helsingborg's access ends with it.
pub async fn an_ended_agreement_ends_cross_border_access(backend: Backend) {
    let app = spawn(backend).await;
    let (_, partner, id) = held_in_helsingborg(&app).await;
    let answer = app
        .get(&format!("/api/v1/cases/{id}"), Some(&partner))
        .await;
    assert_eq!(answer.status, StatusCode::OK);

    // The demo agreements end 2027-12-31 (inclusive, Stockholm).
    let after = after_the_demo_agreements();
    let seconds = (after - app.clock.now()).num_seconds();
    let report = app.advance(seconds).await;
    assert_eq!(report.access_revoked, 1, "{report:?}");
    // A year later the old sessions have expired: both log in again.
    let partner = app.caseworker("1283-01").await;
    let citizen = app.citizen(ANNA, "1275").await;

    let answer = app
        .get(&format!("/api/v1/cases/{id}"), Some(&partner))
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let seen = app
        .get(&format!("/api/v1/requests/{id}"), Some(&citizen))
        .await;
    assert_eq!(seen.body["state"], "queued");
    assert_eq!(seen.body["ring"], 0);
    let audit = app
        .store
        .audit_events(Some(&case_id(&id)), 100)
        .await
        .expect("audit");
    let revoked = audit
        .iter()
        .find(|e| e.action == "access_revoked")
        .expect("revocation audited");
    assert!(
        revoked
            .policies
            .contains(&"R4-agreement-not-valid-today".to_owned()),
        "{:?}",
        revoked.policies
    );
    // Nothing more to revoke on the next tick.
    assert_eq!(app.advance(1).await.access_revoked, 0);
}

/// R12: sekretessmarkering stays home until a home caseworker records a harm assessment that
/// allows crossing; partners cannot record one, and never learn the R12 rule's name.
pub async fn harm_assessment_opens_the_border(backend: Backend) {
    let app = spawn(backend).await;
    away(&app, "1275-01").await;
    away(&app, "1275-02").await;
    let citizen = app
        .login(
            json!({"role": "citizen", "personnummer": ANNA, "municipality": "1275",
                      "protection": "sekretessmarkering"}),
        )
        .await;
    let submitted = submit_with(&app, &citizen, "ekonomi", "sv", true).await;
    assert_eq!(submitted["ring"], 0, "R12: home only");
    let id = submitted["id"].as_str().expect("id");
    let partner = app.caseworker("1283-01").await;
    assert!(in_queue(&app, &partner, id).await.is_none());

    let home = app.caseworker("1275-01").await;
    let path = format!("/api/v1/cases/{id}/harm-assessment");
    let empty = app
        .post(
            &path,
            Some(&home),
            json!({"cross_border_ok": true, "reason": " "}),
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    let stranger = app
        .post(
            &path,
            Some(&partner),
            json!({"cross_border_ok": true, "reason": "x"}),
        )
        .await;
    assert_eq!(
        stranger.status,
        StatusCode::NOT_FOUND,
        "partner cannot see it yet"
    );

    let assessed = app
        .post(
            &path,
            Some(&home),
            json!({"cross_border_ok": true, "reason": "Ingen risk att uppgifterna röjs."}),
        )
        .await;
    assert_eq!(assessed.status, StatusCode::CREATED, "{}", assessed.body);
    assert_eq!(assessed.body["harm_assessment"], "cross_border_ok");
    // Home has nobody available: it widened at once.
    assert!(in_queue(&app, &partner, id).await.is_some());
    let refused = app
        .post(
            &path,
            Some(&partner),
            json!({"cross_border_ok": false, "reason": "x"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let named = refused.body["policies"].to_string();
    assert!(!named.contains("R12"), "{named}");

    // Home takes it back: the partner loses sight of it at once.
    let stay = app
        .post(
            &path,
            Some(&home),
            json!({"cross_border_ok": false, "reason": "Ny uppgift om hot."}),
        )
        .await;
    assert_eq!(stay.status, StatusCode::CREATED, "{}", stay.body);
    assert!(in_queue(&app, &partner, id).await.is_none());
    let assessments = app
        .store
        .harm_assessments(&case_id(id))
        .await
        .expect("history");
    assert_eq!(assessments.len(), 2);
}

fn shipped_policies() -> String {
    brygga::policy::engine::default_text()
}

/// Versions are validated and tested before they are stored, activated by federation
/// administrators only (audited), followed by other replicas, and simulated without storing.
pub async fn policy_versions_are_checked_activated_and_simulated(backend: Backend) {
    let app = spawn(backend).await;
    let admin = federation_admin(&app).await;
    let local_admin = app
        .login(json!({"role": "admin", "municipality": "1275"}))
        .await;
    let caseworker = app.caseworker("1275-01").await;

    let listing = app.get("/api/v1/admin/policies", Some(&admin)).await;
    assert_eq!(listing.status, StatusCode::OK, "{}", listing.body);
    assert_eq!(listing.body["active"], 1);
    assert!(
        listing.body["policies"]
            .as_array()
            .expect("ids")
            .contains(&json!("R5-agreement-service"))
    );
    let forbidden = app.get("/api/v1/admin/policies", Some(&caseworker)).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);

    // No @id: refused with the reason.
    let invalid = app
        .post(
            "/api/v1/admin/policies",
            Some(&admin),
            json!({"text": "permit (principal, action, resource);"}),
        )
        .await;
    assert_eq!(
        invalid.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        invalid.body
    );
    assert_eq!(invalid.error(), "policy_invalid");
    assert!(
        invalid.body["errors"].to_string().contains("@id"),
        "{}",
        invalid.body
    );
    // Schema errors are named too.
    let typo = app
        .post(
            "/api/v1/admin/policies",
            Some(&admin),
            json!({"text": "@id(\"x\") @ring(\"1\") permit (principal, action == Action::\"route\", resource) when { resource.colour == \"red\" };"}),
        )
        .await;
    assert_eq!(
        typo.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        typo.body
    );
    // Valid, but the tests catch a rule that went missing.
    let without_r11 = shipped_policies().replace(
        "@id(\"R11-protected-identity-stays-home\")",
        "@id(\"R11-gone\")\n@ring(\"1\")",
    );
    let without_r11 = without_r11.replacen(
        "forbid (principal, action == Action::\"route\", resource)\nwhen {\n  principal != resource.home &&\n  [\"skyddad_folkbokforing\"",
        "permit (principal, action == Action::\"route\", resource)\nwhen {\n  principal != resource.home &&\n  [\"skyddad_folkbokforing\"",
        1,
    );
    assert_ne!(without_r11, shipped_policies());
    let failing = app
        .post(
            "/api/v1/admin/policies",
            Some(&admin),
            json!({"text": without_r11}),
        )
        .await;
    assert_eq!(
        failing.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        failing.body
    );
    assert!(
        failing.body["errors"].to_string().contains("test failed"),
        "{}",
        failing.body
    );

    // A municipality's administrator may not store or activate.
    let text = format!("{}\n// Reviewed 2026-11-23.\n", shipped_policies());
    let local = app
        .post(
            "/api/v1/admin/policies",
            Some(&local_admin),
            json!({"text": text}),
        )
        .await;
    assert_eq!(local.status, StatusCode::FORBIDDEN);
    let created = app
        .post(
            "/api/v1/admin/policies",
            Some(&admin),
            json!({"text": text}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["version"], 2);
    let listing = app.get("/api/v1/admin/policies", Some(&admin)).await;
    assert_eq!(listing.body["active"], 1, "stored, not active");

    let local = app
        .post(
            "/api/v1/admin/policies/2/activate",
            Some(&local_admin),
            json!({}),
        )
        .await;
    assert_eq!(local.status, StatusCode::FORBIDDEN);
    let missing = app
        .post(
            "/api/v1/admin/policies/99/activate",
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let replica = app.replica().await;
    // Four eyes: the author may not activate their own version; a second federation
    // administrator does, and the refusal is on the trail.
    let own = app
        .post("/api/v1/admin/policies/2/activate", Some(&admin), json!({}))
        .await;
    assert_eq!(
        (own.status, own.error()),
        (StatusCode::FORBIDDEN, "four_eyes_required")
    );
    let second = app
        .login(json!({"role": "admin", "admin_id": "demo-admin-federation-2"}))
        .await;
    let activated = app
        .post(
            "/api/v1/admin/policies/2/activate",
            Some(&second),
            json!({}),
        )
        .await;
    assert_eq!(activated.status, StatusCode::OK, "{}", activated.body);
    let listing = app.get("/api/v1/admin/policies", Some(&admin)).await;
    assert_eq!(listing.body["active"], 2);
    let audit = app.store.audit_events(None, 500).await.expect("audit");
    let event = audit
        .iter()
        .find(|e| e.action == "policy_version_activated")
        .expect("activation audited");
    assert_eq!(event.actor, "admin:demo-admin-federation-2");
    assert_eq!(event.actor_name.as_deref(), Some("Omar Haddad"));
    assert_eq!(event.detail["previous"], 1);
    assert!(
        audit.iter().any(|e| e.action == "policy_activation_refused"
            && e.actor == "admin:demo-admin-federation-1")
    );
    // Another replica follows at its next tick.
    assert_eq!(replica.policy.active().number, 1);
    replica.tick().await.expect("tick");
    assert_eq!(replica.policy.active().number, 2);

    // Simulation: the decision, the deciding policies and the ring plan; nothing stored.
    let before = app
        .store
        .audit_events(None, 1000)
        .await
        .expect("audit")
        .len();
    let simulate = |consent: bool, version: Option<i64>| {
        let mut body = json!({
            "request": {"category": "ekonomi", "language": "sv", "home": "1275",
                        "consent": {"cross_municipality": consent}},
            "principal": {"role": "municipality", "municipality": "1283"},
            "action": "route",
        });
        if let Some(v) = version {
            body["version"] = json!(v);
        }
        body
    };
    let allowed = app
        .post(
            "/api/v1/admin/policies/simulate",
            Some(&local_admin),
            simulate(true, None),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
    assert_eq!(allowed.body["decision"], "allow");
    assert_eq!(allowed.body["policies"], json!(["R5-agreement-service"]));
    let rings = allowed.body["rings"].as_array().expect("rings");
    assert_eq!(rings[0]["municipality"], "1275");
    assert_eq!(rings[0]["ring"], 0);
    assert!(
        rings
            .iter()
            .any(|r| r["municipality"] == "1283" && r["ring"] == 1)
    );
    let denied = app
        .post(
            "/api/v1/admin/policies/simulate",
            Some(&admin),
            simulate(false, Some(1)),
        )
        .await;
    assert_eq!(denied.status, StatusCode::OK, "{}", denied.body);
    assert_eq!(denied.body["decision"], "deny");
    assert_eq!(denied.body["policies"], json!(["R8-no-consent"]));
    assert_eq!(denied.body["version"], 1);
    assert_eq!(denied.body["rings"].as_array().map(Vec::len), Some(1));
    // A caseworker of the partner: sees it once the ring reaches them, may claim it.
    let claim = app
        .post(
            "/api/v1/admin/policies/simulate",
            Some(&admin),
            json!({
                "request": {"category": "ekonomi", "language": "ar", "home": "1275",
                            "consent": {"cross_municipality": true}, "age": 16},
                "principal": {"role": "caseworker", "municipality": "1283"},
                "action": "claim",
            }),
        )
        .await;
    assert_eq!(claim.status, StatusCode::OK, "{}", claim.body);
    assert_eq!(claim.body["decision"], "deny", "R14: a minor stays home");
    let bad = app
        .post(
            "/api/v1/admin/policies/simulate",
            Some(&admin),
            json!({
                "request": {"category": "ekonomi", "language": "sv", "home": "1275",
                            "consent": {"cross_municipality": true}},
                "principal": {"role": "municipality", "municipality": "1283"},
                "action": "teleport",
            }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let after = app
        .store
        .audit_events(None, 1000)
        .await
        .expect("audit")
        .len();
    assert_eq!(before, after, "simulation stores nothing");
}
