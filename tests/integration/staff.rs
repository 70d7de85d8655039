//! Caseworkers managed by administrators (issue 21): create, read, change and deactivate per
//! role and municipality, validation, deactivation sending open cases back to routing and
//! ending the caseworker's login, and audit events naming the administrator.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::ANNA;
use crate::harness::{Backend, TestApp, spawn, stored};
use crate::policies::claim;
use crate::routing::in_queue;

pub async fn admin_of(app: &TestApp, municipality: &str) -> String {
    app.login(json!({"role": "admin", "municipality": municipality}))
        .await
}

pub fn new_caseworker(municipality: &str) -> Value {
    json!({
        "name": "Karin Lindqvist",
        "municipality": municipality,
        "skills": ["ekonomi"],
        "languages": ["sv"],
        "capacity": 4,
    })
}

pub async fn administrators_manage_their_own_municipalitys_staff(backend: Backend) {
    let app = spawn(backend).await;
    let perstorp = admin_of(&app, "1275").await;
    let helsingborg = admin_of(&app, "1283").await;

    let created = app
        .post(
            "/api/v1/admin/caseworkers",
            Some(&perstorp),
            new_caseworker("1275"),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("1275-"), "{id}");
    assert_eq!(created.body["name"], "Karin Lindqvist");
    assert_eq!(created.body["municipality"], "1275");
    assert_eq!(created.body["skills"], json!(["ekonomi"]));
    assert_eq!(created.body["languages"], json!(["sv"]));
    assert_eq!(created.body["capacity"], 4);
    assert_eq!(created.body["max_capacity"], 4);
    assert_eq!(created.body["active"], true);
    assert_eq!(created.body["protected_identity_clearance"], false);
    assert_eq!(created.body["supervisor"], false);
    assert_eq!(created.body["subject"], Value::Null);
    let path = format!("/api/v1/admin/caseworkers/{id}");

    // The new caseworker can log in and work at once.
    let token = app.caseworker(&id).await;
    let queue = app.get("/api/v1/queue", Some(&token)).await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.body);

    // Their own administrator lists and reads them; the list is their municipality's only.
    let listed = app.get("/api/v1/admin/caseworkers", Some(&perstorp)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let listed = listed.body.as_array().expect("list").clone();
    assert!(listed.iter().any(|c| c["id"] == id.as_str()));
    assert!(listed.iter().all(|c| c["municipality"] == "1275"));
    let shown = app.get(&path, Some(&perstorp)).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(shown.body["id"], id.as_str());

    let changed = app
        .put(
            &path,
            Some(&perstorp),
            json!({"skills": ["ekonomi", "beroende"], "languages": ["sv", "ar"], "capacity": 6,
                   "supervisor": true, "protected_identity_clearance": true,
                   "availability": "away", "name": "Karin L."}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["skills"], json!(["ekonomi", "beroende"]));
    assert_eq!(changed.body["languages"], json!(["sv", "ar"]));
    assert_eq!(changed.body["max_capacity"], 6);
    assert_eq!(changed.body["capacity"], 6);
    assert_eq!(changed.body["supervisor"], true);
    assert_eq!(changed.body["protected_identity_clearance"], true);
    assert_eq!(changed.body["availability"], "away");
    assert_eq!(changed.body["name"], "Karin L.");

    // Another municipality's administrator may neither read nor change them.
    let other = app
        .post(
            "/api/v1/admin/caseworkers",
            Some(&helsingborg),
            new_caseworker("1275"),
        )
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.body);
    assert_eq!(other.error(), "forbidden");
    assert_eq!(
        app.get(&path, Some(&helsingborg)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.put(&path, Some(&helsingborg), json!({"capacity": 1}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.delete(&path, Some(&helsingborg)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(
            "/api/v1/admin/caseworkers?municipality=1275",
            Some(&helsingborg)
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let own = app
        .get("/api/v1/admin/caseworkers", Some(&helsingborg))
        .await;
    assert!(
        own.body
            .as_array()
            .expect("list")
            .iter()
            .all(|c| c["municipality"] == "1283"),
        "{}",
        own.body
    );

    // Caseworkers and citizens are refused; nobody logged in is 401.
    let caseworker = app.caseworker("1275-01").await;
    let citizen = app.citizen(ANNA, "1275").await;
    for who in [&caseworker, &citizen] {
        assert_eq!(
            app.get("/api/v1/admin/caseworkers", Some(who)).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.post(
                "/api/v1/admin/caseworkers",
                Some(who),
                new_caseworker("1275")
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.put(&path, Some(who), json!({"capacity": 1}))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.delete(&path, Some(who)).await.status,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        app.get("/api/v1/admin/caseworkers", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post("/api/v1/admin/caseworkers", None, new_caseworker("1275"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.delete(&path, None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // The federation's administrator sees everyone, and may narrow by municipality.
    let federation = app.login(json!({"role": "admin"})).await;
    let all = app
        .get("/api/v1/admin/caseworkers", Some(&federation))
        .await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let all = all.body.as_array().expect("list").clone();
    assert!(all.iter().any(|c| c["municipality"] == "1275"));
    assert!(all.iter().any(|c| c["municipality"] == "1283"));
    let narrowed = app
        .get(
            "/api/v1/admin/caseworkers?municipality=1283",
            Some(&federation),
        )
        .await;
    assert!(
        narrowed
            .body
            .as_array()
            .expect("list")
            .iter()
            .all(|c| c["municipality"] == "1283")
    );
    let made = app
        .post(
            "/api/v1/admin/caseworkers",
            Some(&federation),
            json!({"name": "Olle Berg", "municipality": "1283", "skills": [], "languages": ["sv"],
                   "capacity": 2, "id": "1283-olle", "subject": "sub-olle", "supervisor": true}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["id"], "1283-olle");
    assert_eq!(made.body["subject"], "sub-olle");
    assert_eq!(made.body["supervisor"], true);

    // Every change is on the municipality's chain, naming the administrator.
    let events = app.store.audit_events(None, 2000).await.expect("audit");
    let created_event = events
        .iter()
        .find(|e| e.action == "caseworker_created" && e.detail["caseworker"] == id.as_str())
        .expect("creation audited");
    assert_eq!(created_event.municipality, "1275");
    assert_eq!(created_event.actor, "admin:demo-admin-1275");
    assert!(created_event.actor_name.is_some());
    let changed_event = events
        .iter()
        .find(|e| e.action == "caseworker_changed" && e.detail["caseworker"] == id.as_str())
        .expect("change audited");
    assert_eq!(changed_event.actor, "admin:demo-admin-1275");
    let fields = changed_event.detail["changed"].as_array().expect("changed");
    for field in [
        "skills",
        "languages",
        "max_capacity",
        "supervisor",
        "availability",
    ] {
        assert!(fields.iter().any(|f| f == field), "{field}: {fields:?}");
    }
    let verified = app
        .get("/api/v1/admin/audit/verify", Some(&federation))
        .await;
    assert_eq!(verified.body["ok"], true, "{}", verified.body);
}

pub async fn invalid_caseworkers_are_refused_with_the_field(backend: Backend) {
    let app = spawn(backend).await;
    let admin = admin_of(&app, "1275").await;
    let post = |body: Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.post("/api/v1/admin/caseworkers", Some(&admin), body)
                .await
        }
    };
    let with = |key: &str, value: Value| {
        let mut body = new_caseworker("1275");
        body[key] = value;
        body
    };
    let cases = [
        (with("skills", json!(["astrologi"])), "unknown_category"),
        (with("languages", json!(["xx"])), "unknown_language"),
        (with("languages", json!(["svenska"])), "unknown_language"),
        (with("municipality", json!("9999")), "unknown_municipality"),
        (with("capacity", json!(0)), "invalid_field"),
        (with("capacity", json!(51)), "invalid_field"),
        (with("name", json!("  ")), "invalid_field"),
        (with("id", json!("1283-07")), "invalid_field"),
        (with("id", json!("../x")), "invalid_field"),
    ];
    for (body, code) in cases {
        let answer = post(body.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            answer.body
        );
        assert_eq!(answer.error(), code, "{body}: {}", answer.body);
    }
    let mut missing = new_caseworker("1275");
    missing.as_object_mut().expect("object").remove("capacity");
    let answer = post(missing).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.error(), "invalid_field");

    // A given id that exists is 409, and so is the same one twice.
    let taken = post(with("id", json!("1275-01"))).await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
    assert_eq!(taken.error(), "already_exists");
    let first = post(with("id", json!("1275-new"))).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = post(with("id", json!("1275-new"))).await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    // Changes are checked the same way; an unknown caseworker is 404.
    let path = "/api/v1/admin/caseworkers/1275-new";
    for (body, code) in [
        (json!({"skills": ["astrologi"]}), "unknown_category"),
        (json!({"languages": ["zz"]}), "unknown_language"),
        (json!({"capacity": 0}), "invalid_field"),
        (json!({"availability": "asleep"}), "invalid_field"),
        (json!({"color": "blue"}), "invalid_field"),
    ] {
        let answer = app.put(path, Some(&admin), body.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            answer.body
        );
        assert_eq!(answer.error(), code, "{body}");
    }
    let unknown = app
        .put(
            "/api/v1/admin/caseworkers/1275-nobody",
            Some(&admin),
            json!({"capacity": 2}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

pub async fn deactivation_sends_open_cases_back_and_ends_the_login(backend: Backend) {
    let app = spawn(backend).await;
    let admin = admin_of(&app, "1275").await;
    let leaving = app.caseworker("1275-01").await;
    let citizen = app.citizen(ANNA, "1275").await;
    let id = app.submit(&citizen, "ekonomi", "sv").await;
    claim(&app, &leaving, &id).await;

    let gone = app
        .delete("/api/v1/admin/caseworkers/1275-01", Some(&admin))
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    assert_eq!(gone.body["active"], false);

    // Their token no longer works, and they cannot log in again.
    let refused = app.get("/api/v1/queue", Some(&leaving)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    let login = app
        .post(
            "/demo/login",
            None,
            json!({"role": "caseworker", "caseworker_id": "1275-01"}),
        )
        .await;
    assert_ne!(login.status, StatusCode::OK, "{}", login.body);

    // The case is back in the queue for a colleague.
    let case = stored(&app, &id).await;
    assert_eq!(case.owner, None, "{case:?}");
    assert_eq!(case.state, brygga::domain::case::CaseState::Queued);
    let demo = app.get("/demo/caseworkers", None).await;
    let made = app
        .post(
            "/api/v1/admin/caseworkers",
            Some(&admin),
            new_caseworker("1275"),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let colleague = made.body["id"].as_str().expect("id").to_owned();
    assert!(
        demo.body
            .as_array()
            .expect("caseworkers")
            .iter()
            .all(|c| c["id"] != "1275-01"),
        "a deactivated caseworker is no longer listed"
    );
    let colleague = app.caseworker(&colleague).await;
    let queued = in_queue(&app, &colleague, &id).await;
    assert!(queued.is_some(), "the released case is queued again");

    // History stays: the caseworker is still there, inactive, and the audit trail names who
    // sent the case back and why.
    let shown = app
        .get("/api/v1/admin/caseworkers/1275-01", Some(&admin))
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.body["active"], false);
    let events = app.store.audit_events(None, 2000).await.expect("audit");
    let deactivated = events
        .iter()
        .find(|e| e.action == "caseworker_deactivated")
        .expect("deactivation audited");
    assert_eq!(deactivated.actor, "admin:demo-admin-1275");
    assert_eq!(deactivated.municipality, "1275");
    let released = events
        .iter()
        .find(|e| e.action == "release" && e.case_id.as_deref() == Some(id.as_str()))
        .expect("release audited");
    assert_eq!(released.actor, "admin:demo-admin-1275");
    assert!(
        released
            .policies
            .contains(&"caseworker-deactivated".to_owned()),
        "{:?}",
        released.policies
    );

    // Deactivated caseworkers are not routed to; reactivation brings them back.
    let back = app
        .put(
            "/api/v1/admin/caseworkers/1275-01",
            Some(&admin),
            json!({"active": true, "availability": "available"}),
        )
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert_eq!(back.body["active"], true);
    let again = app.caseworker("1275-01").await;
    assert_eq!(
        app.get("/api/v1/queue", Some(&again)).await.status,
        StatusCode::OK
    );
}

pub async fn deactivation_rescinds_pending_offers(backend: Backend) {
    let app = spawn(backend).await;
    let admin = admin_of(&app, "1275").await;
    let federation = app.login(json!({"role": "admin"})).await;
    // Push: the request is offered to a Perstorp caseworker at once.
    let current = app.get("/api/v1/admin/routing", Some(&federation)).await;
    let mut entry = current.body["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .find(|c| c["category"] == "ekonomi")
        .expect("ekonomi")
        .clone();
    entry["mode"] = json!("push");
    let set = app
        .put("/api/v1/admin/routing", Some(&federation), json!([entry]))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let citizen = app.citizen(ANNA, "1275").await;
    let id = app.submit(&citizen, "ekonomi", "sv").await;
    let case = stored(&app, &id).await;
    let offered_to = case.owner.expect("offered").as_str().to_owned();
    let gone = app
        .delete(
            &format!("/api/v1/admin/caseworkers/{offered_to}"),
            Some(&admin),
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    let case = stored(&app, &id).await;
    assert_ne!(
        case.owner.as_ref().map(|o| o.as_str().to_owned()),
        Some(offered_to),
        "the offer went elsewhere"
    );
}

pub async fn integration_tokens_need_the_caseworkers_scopes(backend: Backend) {
    let app = spawn(backend).await;
    let admin = admin_of(&app, "1275").await;
    let token_with = |scopes: Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let answer = app
                .post(
                    "/api/v1/admin/tokens",
                    Some(&admin),
                    json!({"name": "HR", "scopes": scopes}),
                )
                .await;
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
            answer.body["token"].as_str().expect("token").to_owned()
        }
    };
    let reader = token_with(json!(["caseworkers:read"])).await;
    let writer = token_with(json!(["caseworkers:write"])).await;
    let audit = token_with(json!(["audit:read"])).await;
    assert_eq!(
        app.get("/api/v1/admin/caseworkers", Some(&reader))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.post(
            "/api/v1/admin/caseworkers",
            Some(&reader),
            new_caseworker("1275")
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/admin/caseworkers", Some(&audit))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let made = app
        .post(
            "/api/v1/admin/caseworkers",
            Some(&writer),
            new_caseworker("1275"),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    // The gate still decides: a Perstorp token cannot make Helsingborg's staff.
    let other = app
        .post(
            "/api/v1/admin/caseworkers",
            Some(&writer),
            new_caseworker("1283"),
        )
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
}

/// Logs `account` in at Perstorp's staff provider; the answer of the callback.
async fn staff_login(app: &TestApp, account: &str) -> (reqwest::Client, reqwest::Response) {
    use crate::oidc::{LOA3, finish, no_change, walk_login};
    let b = crate::harness::browser();
    let walk = walk_login(app, &b, "/login/staff/1275", account, LOA3, no_change).await;
    let done = finish(&b, &walk.callback).await;
    (b, done)
}

/// Just-in-time provisioning: a caseworker their provider vouches for, unknown to Brygga, is
/// created at their first login from the claims (no skills), found again by their subject at
/// the next, and never brought back by a login once deactivated. Off, the login is refused.
pub async fn caseworkers_are_provisioned_at_their_first_login(backend: Backend) {
    let issuer = crate::oidc::issuer();
    let (off, _dir) = crate::oidc::app_with_staff_login(&issuer, backend, false).await;
    let (_, refused) = staff_login(&off, "staff-1275-new").await;
    let (status, code) = crate::oidc::refusal(refused).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "unknown_staff")
    );
    drop(off);

    let (app, _dir) = crate::oidc::app_with_staff_login(&issuer, backend, true).await;
    let (b, done) = staff_login(&app, "staff-1275-new").await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let (status, body) = crate::oidc::get_json(&b, format!("{}/api/v1/queue", app.base)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let admin = admin_of(&app, "1275").await;
    let staff = app.get("/api/v1/admin/caseworkers", Some(&admin)).await;
    let new: Vec<Value> = staff
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter(|c| c["subject"] == "staff-1275-new")
        .cloned()
        .collect();
    assert_eq!(new.len(), 1, "{}", staff.body);
    let new = &new[0];
    assert_eq!(new["name"], "Nils Nyström");
    assert_eq!(new["municipality"], "1275");
    assert_eq!(new["skills"], json!([]), "an administrator sets the skills");
    assert_eq!(new["max_capacity"], 5);
    assert_eq!(new["active"], true);
    let id = new["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("1275-"), "{id}");
    let events = app.store.audit_events(None, 2000).await.expect("audit");
    let provisioned = events
        .iter()
        .find(|e| e.action == "caseworker_provisioned")
        .expect("provisioning audited");
    assert_eq!(provisioned.actor, format!("caseworker:{id}"));
    assert_eq!(provisioned.municipality, "1275");

    // The next login finds the same caseworker by their subject.
    let (_, again) = staff_login(&app, "staff-1275-new").await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let staff = app.get("/api/v1/admin/caseworkers", Some(&admin)).await;
    let count = staff
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter(|c| c["subject"] == "staff-1275-new")
        .count();
    assert_eq!(count, 1);

    // Deactivated, the login no longer makes them anyone, and no second caseworker either.
    let gone = app
        .delete(&format!("/api/v1/admin/caseworkers/{id}"), Some(&admin))
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    let (_, refused) = staff_login(&app, "staff-1275-new").await;
    let (status, code) = crate::oidc::refusal(refused).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "unknown_staff")
    );
    // A known caseworker id still logs in as before; an id of another municipality does not.
    let (_, known) = staff_login(&app, "staff-1275-01").await;
    assert_eq!(known.status(), StatusCode::SEE_OTHER);
}

on_both_backends!(
    administrators_manage_their_own_municipalitys_staff,
    invalid_caseworkers_are_refused_with_the_field,
    deactivation_sends_open_cases_back_and_ends_the_login,
    deactivation_rescinds_pending_offers,
    integration_tokens_need_the_caseworkers_scopes,
    caseworkers_are_provisioned_at_their_first_login,
);
