//! The authorization gate over HTTP, on both backends: every listing decided per item by the
//! policies now, a claim that races a consent withdrawal, a policy that fails while it is
//! evaluated (Cedar fails closed), and administration whose legal ground is the policies'
//! answer rather than a constant.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::join;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Notify;

use brygga::clock::Clock;

use crate::harness::{
    Backend, TestApp, after_the_demo_agreements, case_id, execute_sql, spawn, spawn_probed,
};
use crate::policies::held_in_helsingborg;
use crate::routing::{away, submit_with};
use crate::{ANNA, person};

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .filter_map(|item| item["id"].as_str())
        .collect()
}

/// The latest audit event with `action` by `actor`, on any chain.
async fn latest(app: &TestApp, action: &str, actor: &str) -> brygga::audit::AuditEntry {
    app.store
        .audit_query(&brygga::store::AuditFilter {
            actor: Some(actor.to_owned()),
            limit: 500,
            ..Default::default()
        })
        .await
        .expect("audit")
        .into_iter()
        .find(|e| e.action == action)
        .unwrap_or_else(|| panic!("no {action} by {actor}"))
}

/// A partner's own cases, offers and queue follow the agreement as it stands at the moment of
/// listing, not at the last daily sweep: once the agreement has ended the case leaves the
/// list — with the citizen's personnummer — even though no sweep has sent it home yet. Each
/// listed item's ground is the policies that allowed it.
pub async fn own_cases_are_listed_as_the_policies_allow_now(backend: Backend) {
    let app = spawn(backend).await;
    let (_, partner, id) = held_in_helsingborg(&app).await;
    let mine = app.get("/api/v1/cases", Some(&partner)).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert_eq!(ids(&mine.body), vec![id.as_str()]);
    assert_eq!(mine.body[0]["citizen"]["personnummer"], ANNA);
    let listing = latest(&app, "list_own_cases", "caseworker:1283-01").await;
    let ground: Vec<&str> = listing.detail["grounds"][&id]
        .as_array()
        .expect("the item's ground")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        ground.contains(&"R15-case-owner") && ground.contains(&"R5-agreement-service"),
        "{ground:?}"
    );
    assert_eq!(listing.policies, {
        let mut g: Vec<String> = ground.iter().map(|s| (*s).to_owned()).collect();
        g.sort();
        g
    });

    // The demo agreements end 2027-12-31; the clock moves past it with no scheduler tick.
    let after = after_the_demo_agreements();
    app.clock.advance(after - app.clock.now());
    let partner = app.caseworker("1283-01").await;
    let mine = app.get("/api/v1/cases", Some(&partner)).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(ids(&mine.body).is_empty(), "{}", mine.body);
    assert!(
        !mine.body.to_string().contains(ANNA),
        "no personnummer after the agreement ended"
    );
    let listing = latest(&app, "list_own_cases", "caseworker:1283-01").await;
    assert_eq!(listing.detail["ids"], json!([]));
    let case = app
        .get(&format!("/api/v1/cases/{id}"), Some(&partner))
        .await;
    assert_eq!(case.status, StatusCode::NOT_FOUND);
}

/// A home caseworker whose protected-identity clearance is taken away no longer finds the
/// protected case among their own, nor its citizen's number (R11), at once.
pub async fn own_cases_follow_a_removed_clearance(backend: Backend) {
    let app = spawn(backend).await;
    let citizen = app
        .login(
            json!({"role": "citizen", "personnummer": ANNA, "municipality": "1275",
                      "protection": "skyddad_folkbokforing"}),
        )
        .await;
    let submitted = submit_with(&app, &citizen, "ekonomi", "sv", false).await;
    let id = submitted["id"].as_str().expect("id").to_owned();
    // 1275-01 is the demo's cleared generalist of Perstorp.
    let cleared = app.caseworker("1275-01").await;
    let claimed = app
        .post(
            &format!("/api/v1/cases/{id}/claim"),
            Some(&cleared),
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    assert_eq!(claimed.body["citizen"]["personnummer"], ANNA);
    let mine = app.get("/api/v1/cases", Some(&cleared)).await;
    assert_eq!(ids(&mine.body), vec![id.as_str()]);

    // What an administrator's change of the caseworker, not yet built, would do.
    execute_sql(
        &app.database_url,
        "UPDATE caseworkers SET protected_identity_clearance = FALSE WHERE id = '1275-01'",
    )
    .await;
    let mine = app.get("/api/v1/cases", Some(&cleared)).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(ids(&mine.body).is_empty(), "{}", mine.body);
    assert!(!mine.body.to_string().contains(ANNA));
    let case = app
        .get(&format!("/api/v1/cases/{id}"), Some(&cleared))
        .await;
    assert_eq!(case.status, StatusCode::NOT_FOUND);
    // The refused attempt is on the home chain, with the rule that refused it.
    let refused = latest(&app, "access_denied", "caseworker:1275-01").await;
    assert!(
        refused
            .policies
            .contains(&"R11-protected-identity".to_owned()),
        "{:?}",
        refused.policies
    );
}

/// An offer to a partner leaves their offers list when the agreement behind it has ended,
/// before any sweep.
pub async fn offers_are_listed_as_the_policies_allow_now(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.login(json!({"role": "admin"})).await;
    let routing = app.get("/api/v1/admin/routing", Some(&admin)).await;
    let mut ekonomi = routing.body["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .find(|c| c["category"] == "ekonomi")
        .expect("ekonomi")
        .clone();
    ekonomi["mode"] = json!("push");
    ekonomi["offer_timeout"] = json!(600_000);
    let put = app
        .put("/api/v1/admin/routing", Some(&admin), json!([ekonomi]))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    away(&app, "1275-01").await;
    away(&app, "1275-02").await;
    let citizen = app.citizen(ANNA, "1275").await;
    let submitted = submit_with(&app, &citizen, "ekonomi", "sv", true).await;
    let id = submitted["id"].as_str().expect("id").to_owned();
    assert_eq!(submitted["state"], "offered", "{submitted}");
    let case = app
        .store
        .case(&case_id(&id))
        .await
        .expect("read")
        .expect("case");
    let offeree = case.owner.expect("offered to someone").as_str().to_owned();
    let token = app.caseworker(&offeree).await;
    let offers = app.get("/api/v1/offers", Some(&token)).await;
    assert_eq!(ids(&offers.body), vec![id.as_str()]);

    let after = after_the_demo_agreements();
    app.clock.advance(after - app.clock.now());
    let token = app.caseworker(&offeree).await;
    let offers = app.get("/api/v1/offers", Some(&token)).await;
    assert_eq!(offers.status, StatusCode::OK);
    assert!(ids(&offers.body).is_empty(), "{}", offers.body);
}

/// Holds the first decided write of one action between its decision and its write until the
/// test lets it go, and says when it is held.
struct Hold {
    action: &'static str,
    armed: AtomicBool,
    held: Notify,
    go: Notify,
}

impl Hold {
    fn new(action: &'static str) -> Arc<Hold> {
        Arc::new(Hold {
            action,
            armed: AtomicBool::new(true),
            held: Notify::new(),
            go: Notify::new(),
        })
    }

    async fn wait_until_held(&self) {
        tokio::time::timeout(Duration::from_secs(10), self.held.notified())
            .await
            .expect("the write was held");
    }
}

#[async_trait::async_trait]
impl brygga::workflow::WriteProbe for Hold {
    async fn before_write(&self, action: &str, _case: &brygga::domain::ids::CaseId) {
        if action == self.action && self.armed.swap(false, Ordering::SeqCst) {
            self.held.notify_one();
            self.go.notified().await;
        }
    }
}

/// A consented request of Perstorp's, at Helsingborg's door (ring 1): the citizen's and a
/// Helsingborg caseworker's tokens and the id.
async fn at_the_partners_door(app: &TestApp) -> (String, String, String) {
    away(app, "1275-01").await;
    away(app, "1275-02").await;
    let citizen = app.citizen(ANNA, "1275").await;
    let submitted = submit_with(app, &citizen, "ekonomi", "sv", true).await;
    assert_eq!(submitted["ring"], 1, "{submitted}");
    let partner = app.caseworker("1283-01").await;
    (
        citizen,
        partner,
        submitted["id"].as_str().expect("id").to_owned(),
    )
}

/// A partner's claim is decided while the citizen's consent stands, and held before its write
/// while the citizen withdraws it. The claim must not win: decided again under the case's
/// lock it no longer holds (409 `access_changed`), nothing of it is written, and the partner
/// never sees the citizen's number.
pub async fn a_claim_decided_before_a_withdrawal_fails_after_it(backend: Backend) {
    let hold = Hold::new("claim");
    let app = spawn_probed(backend, hold.clone()).await;
    let (citizen, partner, id) = at_the_partners_door(&app).await;
    let (claim, ()) = join(
        app.post(
            &format!("/api/v1/cases/{id}/claim"),
            Some(&partner),
            json!({}),
        ),
        async {
            hold.wait_until_held().await;
            let withdrawn = app
                .put(
                    &format!("/api/v1/requests/{id}/consent"),
                    Some(&citizen),
                    json!({"cross_municipality": false}),
                )
                .await;
            assert_eq!(withdrawn.status, StatusCode::OK, "{}", withdrawn.body);
            hold.go.notify_one();
        },
    )
    .await;
    assert_eq!(claim.status, StatusCode::CONFLICT, "{}", claim.body);
    assert_eq!(claim.error(), "access_changed");
    assert!(!claim.body.to_string().contains(ANNA));
    let case = app
        .store
        .case(&case_id(&id))
        .await
        .expect("read")
        .expect("case");
    assert_eq!((case.state.as_str(), case.owner), ("queued", None));
    let trail = app
        .store
        .audit_events(Some(&case_id(&id)), 100)
        .await
        .expect("audit");
    assert!(trail.iter().all(|e| e.action != "claim"), "nothing written");
    let seen = app
        .get(&format!("/api/v1/cases/{id}"), Some(&partner))
        .await;
    assert_eq!(seen.status, StatusCode::NOT_FOUND);
}

/// The other order: the withdrawal is decided first and held before its write while the
/// partner claims. The claim was legitimate when it was written; the withdrawal, written after
/// it, finds the case taken, starts over and takes it from the partner at once (R9).
pub async fn a_withdrawal_decided_before_a_claim_still_takes_the_case_home(backend: Backend) {
    let hold = Hold::new("consent");
    let app = spawn_probed(backend, hold.clone()).await;
    let (citizen, partner, id) = at_the_partners_door(&app).await;
    let (withdrawn, ()) = join(
        app.put(
            &format!("/api/v1/requests/{id}/consent"),
            Some(&citizen),
            json!({"cross_municipality": false}),
        ),
        async {
            hold.wait_until_held().await;
            let claim = app
                .post(
                    &format!("/api/v1/cases/{id}/claim"),
                    Some(&partner),
                    json!({}),
                )
                .await;
            assert_eq!(claim.status, StatusCode::OK, "{}", claim.body);
            hold.go.notify_one();
        },
    )
    .await;
    assert_eq!(withdrawn.status, StatusCode::OK, "{}", withdrawn.body);
    let case = app
        .store
        .case(&case_id(&id))
        .await
        .expect("read")
        .expect("case");
    assert_eq!(
        (case.state.as_str(), case.ring, case.handler),
        ("queued", 0, None),
        "sent home"
    );
    let trail = app
        .store
        .audit_events(Some(&case_id(&id)), 100)
        .await
        .expect("audit");
    assert!(
        trail
            .iter()
            .any(|e| e.action == "access_revoked" || e.action == "consent")
    );
    let seen = app
        .get(&format!("/api/v1/cases/{id}"), Some(&partner))
        .await;
    assert_eq!(seen.status, StatusCode::NOT_FOUND);
}

/// A partner's claim races the citizen's withdrawal of consent. Whichever commits first, the
/// partner never holds the case after the withdrawal: a claim decided before the withdrawal
/// but written after it fails (409 `access_changed`, or 404 once they may not even see it),
/// and a claim that won was written before the withdrawal, which then sent the case home.
pub async fn a_claim_racing_a_consent_withdrawal_never_wins_after_it(backend: Backend) {
    let app = spawn(backend).await;
    away(&app, "1275-01").await;
    away(&app, "1275-02").await;
    let partner = app.caseworker("1283-01").await;
    let mut claims_won = 0;
    let mut claims_lost = 0;
    for n in 0..6u16 {
        let citizen = app.citizen(&person(300 + n), "1275").await;
        let submitted = submit_with(&app, &citizen, "ekonomi", "sv", true).await;
        assert_eq!(submitted["ring"], 1, "{submitted}");
        let id = submitted["id"].as_str().expect("id").to_owned();
        let claim_path = format!("/api/v1/cases/{id}/claim");
        let consent_path = format!("/api/v1/requests/{id}/consent");
        let (claim, withdrawal) = join(
            app.post(&claim_path, Some(&partner), json!({})),
            app.put(
                &consent_path,
                Some(&citizen),
                json!({"cross_municipality": false}),
            ),
        )
        .await;
        assert_eq!(withdrawal.status, StatusCode::OK, "{}", withdrawal.body);
        let case = app
            .store
            .case(&case_id(&id))
            .await
            .expect("read")
            .expect("case");
        assert!(
            case.handler.as_ref().is_none_or(|h| h.as_str() != "1283"),
            "round {n}: Helsingborg holds the case after the withdrawal: {case:?}"
        );
        let trail = app
            .store
            .audit_events(Some(&case_id(&id)), 100)
            .await
            .expect("audit");
        let seq = |action: &str| {
            trail
                .iter()
                .find(|e| e.action == action)
                .and_then(|e| e.seq)
        };
        match claim.status {
            StatusCode::OK => {
                claims_won += 1;
                let (claimed, consented) = (seq("claim"), seq("consent"));
                assert!(
                    claimed.is_some() && claimed < consented,
                    "round {n}: a claim that won was written before the withdrawal"
                );
                assert_eq!(case.state.as_str(), "queued", "round {n}: sent home");
                assert_eq!(case.ring, 0);
            }
            StatusCode::CONFLICT => {
                claims_lost += 1;
                assert_eq!(claim.error(), "access_changed", "round {n}: {}", claim.body);
                assert!(seq("claim").is_none(), "round {n}: nothing written");
            }
            StatusCode::NOT_FOUND => {
                claims_lost += 1;
                assert!(seq("claim").is_none(), "round {n}: nothing written");
            }
            other => panic!("round {n}: claim answered {other}: {}", claim.body),
        }
    }
    assert_eq!(claims_won + claims_lost, 6);
}

/// Cedar skips a policy that fails while it is evaluated; a skipped `forbid` would mean allow.
/// Brygga fails closed: a version whose forbid overflows for Polish requests is stored (its
/// tests pass), and once active every claim of a Polish request is refused, naming the policy
/// that failed — to the caller and in the audit trail — while other requests are unaffected.
pub async fn a_policy_that_fails_at_run_time_denies(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.login(json!({"role": "admin"})).await;
    let broken = "\n@id(\"broken-claim-check\")\n\
        forbid (principal is Caseworker, action == Action::\"claim\", resource)\n\
        when { resource.language == \"pl\" && resource.ring - 9223372036854775807 - 2 < 0 };\n";
    let text = format!("{}{broken}", brygga::policy::engine::default_text());
    let tests = format!(
        "{}\n[[test]]\nrule = \"eligibility\"\n\
         name = \"A policy that fails while it is evaluated denies, naming itself\"\n\
         action = \"claim\"\n\
         principal = {{ type = \"caseworker\", id = \"1275-01\", municipality = \"1275\", skills = [\"ekonomi\"], languages = [\"sv\", \"pl\"] }}\n\
         resource = {{ type = \"case\", home = \"1275\", language = \"pl\" }}\n\
         decision = \"deny\"\n\
         policies = [\"policy-error:broken-claim-check\"]\n",
        brygga::policy::testing::default_text()
    );
    // Its tests pass, but the proofs find the overflow (issue 23): no administrator can store
    // it any more. Stored directly, as a version from before the proofs could be.
    let refused = app
        .post(
            "/api/v1/admin/policies",
            Some(&admin),
            json!({"text": text, "tests": tests}),
        )
        .await;
    refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "policy_invalid");
    assert!(
        refused.body["errors"]
            .to_string()
            .contains("policy broken-claim-check can fail to evaluate"),
        "{}",
        refused.body
    );
    let version = app
        .store
        .insert_policy_version(
            &text,
            &tests,
            "admin:demo-admin-federation-1",
            chrono::Utc::now(),
            false,
            None,
        )
        .await
        .expect("stored");
    // A second federation administrator activates it (four eyes).
    let second = app
        .login(json!({"role": "admin", "admin_id": "demo-admin-federation-2"}))
        .await;
    let activated = app
        .post(
            &format!("/api/v1/admin/policies/{version}/activate"),
            Some(&second),
            json!({}),
        )
        .await;
    assert_eq!(activated.status, StatusCode::OK, "{}", activated.body);

    let citizen = app.citizen(ANNA, "1275").await;
    let polish = submit_with(&app, &citizen, "ekonomi", "pl", false).await;
    let polish = polish["id"].as_str().expect("id").to_owned();
    let swedish = submit_with(&app, &citizen, "ekonomi", "sv", false).await;
    let swedish = swedish["id"].as_str().expect("id").to_owned();
    let home = app.caseworker("1275-01").await;
    let queue = app.get("/api/v1/queue", Some(&home)).await;
    assert_eq!(ids(&queue.body), vec![swedish.as_str()], "{}", queue.body);
    let refused = app
        .post(
            &format!("/api/v1/cases/{polish}/claim"),
            Some(&home),
            json!({}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(
        refused.body["policies"],
        json!(["policy-error:broken-claim-check"])
    );
    let denied = latest(&app, "access_denied", "caseworker:1275-01").await;
    assert_eq!(denied.case_id.as_deref(), Some(polish.as_str()));
    assert_eq!(denied.policies, vec!["policy-error:broken-claim-check"]);
    let claimed = app
        .post(
            &format!("/api/v1/cases/{swedish}/claim"),
            Some(&home),
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
}

/// Administration is decided by the policies, and its legal ground is their answer: a
/// municipality's administrator creates tokens under `municipality-administrator`, the
/// federation's under `federation-administrator`; reading another municipality's trail is
/// refused by the policies (403) and the refusal is on the asker's own chain.
pub async fn administration_is_grounded_on_the_policies(backend: Backend) {
    let app = spawn(backend).await;
    let perstorp = app
        .login(json!({"role": "admin", "municipality": "1275"}))
        .await;
    let federation = app.login(json!({"role": "admin"})).await;
    for (token, actor, chain, ground) in [
        (
            &perstorp,
            "admin:demo-admin-1275",
            "1275",
            "municipality-administrator",
        ),
        (
            &federation,
            "admin:demo-admin-federation-1",
            "familjen-helsingborg",
            "federation-administrator",
        ),
    ] {
        let created = app
            .post(
                "/api/v1/admin/tokens",
                Some(token),
                json!({"name": "Statistik", "scopes": ["stats:read"]}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let event = latest(&app, "integration_token_created", actor).await;
        assert_eq!(event.policies, vec![ground.to_owned()], "{actor}");
        assert_eq!(event.municipality, chain);
        let read = app.get("/api/v1/admin/audit", Some(token)).await;
        assert_eq!(read.status, StatusCode::OK);
        let event = latest(&app, "read_audit", actor).await;
        assert_eq!(event.policies, vec![ground.to_owned()], "{actor}");
    }
    let other = app
        .get("/api/v1/admin/audit?municipality=1283", Some(&perstorp))
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let refused = latest(&app, "access_denied", "admin:demo-admin-1275").await;
    assert_eq!(refused.municipality, "1275");
    assert_eq!(refused.detail["action"], "read_audit");
    assert_eq!(refused.detail["on"], "1283");
    let follow_up = app
        .get("/api/v1/admin/audit/follow-up", Some(&perstorp))
        .await;
    assert_eq!(follow_up.status, StatusCode::OK);
    // A caseworker is not an administrator at all.
    let caseworker = app.caseworker("1275-01").await;
    let answer = app.get("/api/v1/admin/audit", Some(&caseworker)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
}

on_both_backends!(
    own_cases_are_listed_as_the_policies_allow_now,
    own_cases_follow_a_removed_clearance,
    offers_are_listed_as_the_policies_allow_now,
    a_claim_racing_a_consent_withdrawal_never_wins_after_it,
    a_claim_decided_before_a_withdrawal_fails_after_it,
    a_withdrawal_decided_before_a_claim_still_takes_the_case_home,
    a_policy_that_fails_at_run_time_denies,
    administration_is_grounded_on_the_policies,
);
