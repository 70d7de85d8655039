//! SCIM 2.0 provisioning as Microsoft Entra ID's provisioning service drives it (issue 21):
//! users created, found by `userName`, paged, deactivated by `PATCH active "False"`; groups
//! mapped to skills and roles; wrong tokens and other municipalities' users refused.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Answer, Backend, TestApp, spawn};
use crate::staff::admin_of;

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

async fn scim_token(app: &TestApp, municipality: &str) -> String {
    let admin = admin_of(app, municipality).await;
    let answer = app
        .post(
            "/api/v1/admin/tokens",
            Some(&admin),
            json!({"name": "Entra ID provisioning",
                   "scopes": ["caseworkers:read", "caseworkers:write"]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.body["token"].as_str().expect("token").to_owned()
}

/// A SCIM `PATCH` of `path` with these `Operations` (RFC 7644 §3.5.2).
async fn patch(app: &TestApp, path: &str, token: &str, operations: Value) -> Answer {
    let body = json!({"schemas": [PATCH], "Operations": operations});
    app.raw(
        Method::PATCH,
        path,
        Some(token),
        Some(body.to_string().into_bytes()),
    )
    .await
}

fn entra_user(user_name: &str, external_id: &str, name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": external_id,
        "userName": user_name,
        "active": true,
        "displayName": name,
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": name, "familyName": "Lindqvist", "givenName": "Karin"},
        "roles": [],
    })
}

pub async fn entra_id_provisions_users(backend: Backend) {
    let app = spawn(backend).await;
    let token = scim_token(&app, "1275").await;

    // Entra ID first asks whether the user exists, then creates them.
    let missing = app
        .get(
            "/scim/v2/Users?filter=userName+eq+%22karin%40perstorp.se%22",
            Some(&token),
        )
        .await;
    assert_eq!(missing.status, StatusCode::OK, "{}", missing.body);
    assert_eq!(
        missing.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    assert_eq!(missing.body["totalResults"], 0);
    assert_eq!(missing.body["Resources"], json!([]));

    let created = app
        .post(
            "/scim/v2/Users",
            Some(&token),
            entra_user("karin@perstorp.se", "karin", "Karin Lindqvist"),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("1275-"), "{id}");
    assert_eq!(created.body["userName"], "karin@perstorp.se");
    assert_eq!(created.body["externalId"], "karin");
    assert_eq!(created.body["name"]["formatted"], "Karin Lindqvist");
    assert_eq!(created.body["active"], true);

    let again = app
        .post(
            "/scim/v2/Users",
            Some(&token),
            entra_user("KARIN@perstorp.se", "karin2", "Karin Lindqvist"),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(again.body["scimType"], "uniqueness");
    assert_eq!(
        again.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(again.body["status"], "409");

    let found = app
        .get(
            "/scim/v2/Users?filter=userName%20eq%20%22karin@perstorp.se%22",
            Some(&token),
        )
        .await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    assert_eq!(found.body["Resources"][0]["id"], id.as_str());
    let by_external = app
        .get(
            "/scim/v2/Users?filter=externalId%20eq%20%22karin%22",
            Some(&token),
        )
        .await;
    assert_eq!(by_external.body["totalResults"], 1);
    let bad_filter = app
        .get("/scim/v2/Users?filter=emails%20co%20%22x%22", Some(&token))
        .await;
    assert_eq!(bad_filter.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_filter.body["scimType"], "invalidFilter");

    let shown = app.get(&format!("/scim/v2/Users/{id}"), Some(&token)).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.body["displayName"], "Karin Lindqvist");

    // A rename as Entra ID sends it: a path-less replace with an object.
    let renamed = patch(
        &app,
        &format!("/scim/v2/Users/{id}"),
        &token,
        json!([
            {"op": "Replace", "value": {"displayName": "Karin L.", "name.formatted": "Karin L."}},
            {"op": "Add", "path": "title", "value": "Socialsekreterare"},
        ]),
    )
    .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["displayName"], "Karin L.");

    // She can work; then Entra ID disables her account.
    let working = app.caseworker(&id).await;
    assert_eq!(
        app.get("/api/v1/queue", Some(&working)).await.status,
        StatusCode::OK
    );
    let disabled = patch(
        &app,
        &format!("/scim/v2/Users/{id}"),
        &token,
        json!([
            {"op": "Replace", "path": "active", "value": "False"},
        ]),
    )
    .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    assert_eq!(disabled.body["active"], false);
    assert_eq!(
        app.get("/api/v1/queue", Some(&working)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let events = app.store.audit_events(None, 2000).await.expect("audit");
    let deactivated = events
        .iter()
        .find(|e| e.action == "caseworker_deactivated")
        .expect("deactivation audited");
    assert!(
        deactivated.actor.starts_with("admin:token:"),
        "{}",
        deactivated.actor
    );
    assert_eq!(deactivated.municipality, "1275");

    // Re-enabled, then deleted (deactivated again: never a hard delete).
    let enabled = patch(
        &app,
        &format!("/scim/v2/Users/{id}"),
        &token,
        json!([
            {"op": "replace", "value": {"active": true}},
        ]),
    )
    .await;
    assert_eq!(enabled.body["active"], true, "{}", enabled.body);
    let deleted = app
        .delete(&format!("/scim/v2/Users/{id}"), Some(&token))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let after = app.get(&format!("/scim/v2/Users/{id}"), Some(&token)).await;
    assert_eq!(after.body["active"], false);

    // A PUT replaces what SCIM manages.
    let put = app
        .put(
            &format!("/scim/v2/Users/{id}"),
            Some(&token),
            entra_user("karin.l@perstorp.se", "karin", "Karin Lind"),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["userName"], "karin.l@perstorp.se");
    assert_eq!(put.body["active"], true);
}

pub async fn users_are_paged(backend: Backend) {
    let app = spawn(backend).await;
    let token = scim_token(&app, "1275").await;
    let all = app.get("/scim/v2/Users", Some(&token)).await;
    let before = all.body["totalResults"].as_u64().expect("total");
    for n in 0..3 {
        let created = app
            .post(
                "/scim/v2/Users",
                Some(&token),
                entra_user(&format!("user{n}@perstorp.se"), &format!("u{n}"), "Test"),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }
    let total = before + 3;
    let first = app
        .get("/scim/v2/Users?startIndex=1&count=2", Some(&token))
        .await;
    assert_eq!(first.body["totalResults"], total);
    assert_eq!(first.body["itemsPerPage"], 2);
    assert_eq!(first.body["startIndex"], 1);
    assert_eq!(first.body["Resources"].as_array().expect("page").len(), 2);
    let last = app
        .get(
            &format!("/scim/v2/Users?startIndex={total}&count=2"),
            Some(&token),
        )
        .await;
    assert_eq!(last.body["itemsPerPage"], 1, "{}", last.body);
    assert_eq!(last.body["startIndex"], total);
    let none = app.get("/scim/v2/Users?count=0", Some(&token)).await;
    assert_eq!(none.body["itemsPerPage"], 0);
    assert_eq!(none.body["totalResults"], total);
    // Every user listed is Perstorp's.
    let everyone = app.get("/scim/v2/Users?count=100", Some(&token)).await;
    for u in everyone.body["Resources"].as_array().expect("users") {
        assert!(u["id"].as_str().expect("id").starts_with("1275-"), "{u}");
    }
}

pub async fn groups_map_to_skills_and_roles(backend: Backend) {
    let app = spawn(backend).await;
    let token = scim_token(&app, "1275").await;
    let created = app
        .post(
            "/scim/v2/Users",
            Some(&token),
            entra_user("olle@perstorp.se", "olle", "Olle Berg"),
        )
        .await;
    let id = created.body["id"].as_str().expect("id").to_owned();
    let admin = admin_of(&app, "1275").await;
    let path = format!("/api/v1/admin/caseworkers/{id}");
    let caseworker = || app.get(&path, Some(&admin));
    assert_eq!(caseworker().await.body["skills"], json!([]));

    let skill = app
        .post(
            "/scim/v2/Groups",
            Some(&token),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": "skill:ekonomi", "externalId": "g-ekonomi", "members": []}),
        )
        .await;
    assert_eq!(skill.status, StatusCode::CREATED, "{}", skill.body);
    let group = skill.body["id"].as_str().expect("id").to_owned();
    let supervisors = app
        .post(
            "/scim/v2/Groups",
            Some(&token),
            json!({"displayName": "Brygga.Supervisor", "members": [{"value": id}]}),
        )
        .await;
    assert_eq!(
        supervisors.status,
        StatusCode::CREATED,
        "{}",
        supervisors.body
    );
    assert_eq!(caseworker().await.body["supervisor"], true);

    let found = app
        .get(
            "/scim/v2/Groups?filter=displayName%20eq%20%22skill:ekonomi%22",
            Some(&token),
        )
        .await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);

    let added = patch(
        &app,
        &format!("/scim/v2/Groups/{group}"),
        &token,
        json!([
            {"op": "Add", "path": "members", "value": [{"value": id}]},
        ]),
    )
    .await;
    assert_eq!(added.status, StatusCode::NO_CONTENT, "{}", added.body);
    assert_eq!(caseworker().await.body["skills"], json!(["ekonomi"]));
    let shown = app
        .get(&format!("/scim/v2/Groups/{group}"), Some(&token))
        .await;
    assert_eq!(shown.body["members"], json!([{"value": id}]));

    let removed = patch(
        &app,
        &format!("/scim/v2/Groups/{group}"),
        &token,
        json!([
            {"op": "Remove", "path": format!("members[value eq \"{id}\"]")},
        ]),
    )
    .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    assert_eq!(caseworker().await.body["skills"], json!([]));

    // Another municipality's caseworker cannot be made a member.
    let foreign = patch(
        &app,
        &format!("/scim/v2/Groups/{group}"),
        &token,
        json!([
            {"op": "add", "path": "members", "value": [{"value": "1283-01"}]},
        ]),
    )
    .await;
    assert_eq!(foreign.status, StatusCode::BAD_REQUEST, "{}", foreign.body);
}

pub async fn wrong_tokens_and_other_municipalities_are_refused(backend: Backend) {
    let app = spawn(backend).await;
    let perstorp = scim_token(&app, "1275").await;
    let helsingborg = scim_token(&app, "1283").await;
    let created = app
        .post(
            "/scim/v2/Users",
            Some(&perstorp),
            entra_user("anna@perstorp.se", "anna", "Anna"),
        )
        .await;
    let id = created.body["id"].as_str().expect("id").to_owned();

    let wrong = app.get("/scim/v2/Users", Some("not-a-token")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    let none = app.get("/scim/v2/Users", None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        none.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(none.body["status"], "401");

    // Helsingborg's client does not see Perstorp's user, nor may change it.
    let other = app
        .get(&format!("/scim/v2/Users/{id}"), Some(&helsingborg))
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.body);
    let patched = patch(
        &app,
        &format!("/scim/v2/Users/{id}"),
        &helsingborg,
        json!([
            {"op": "Replace", "path": "active", "value": "False"},
        ]),
    )
    .await;
    assert_eq!(patched.status, StatusCode::NOT_FOUND);
    let filtered = app
        .get(
            "/scim/v2/Users?filter=userName%20eq%20%22anna@perstorp.se%22",
            Some(&helsingborg),
        )
        .await;
    assert_eq!(filtered.body["totalResults"], 0);

    // A token without the caseworkers scopes, a person who is not an administrator: 403.
    let admin = admin_of(&app, "1275").await;
    let audit_only = app
        .post(
            "/api/v1/admin/tokens",
            Some(&admin),
            json!({"name": "audit", "scopes": ["audit:read"]}),
        )
        .await;
    let audit_only = audit_only.body["token"].as_str().expect("token").to_owned();
    let refused = app.get("/scim/v2/Users", Some(&audit_only)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let caseworker = app.caseworker("1275-01").await;
    let refused = app.get("/scim/v2/Users", Some(&caseworker)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let bad = app
        .raw(
            Method::POST,
            "/scim/v2/Users",
            Some(&perstorp),
            Some(b"{".to_vec()),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["scimType"], "invalidSyntax");
}

on_both_backends!(
    entra_id_provisions_users,
    users_are_paged,
    groups_map_to_skills_and_roles,
    wrong_tokens_and_other_municipalities_are_refused,
);
