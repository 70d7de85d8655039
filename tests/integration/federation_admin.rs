//! The federation run from Brygga (issue 21, points 3 and 7): agreements drafted, signed under
//! four eyes, changed and ended, with every version kept and the cases following at once;
//! members and their home rules; categories; and a second replica following a change.

use brygga::clock::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::ANNA;
use crate::harness::{Answer, Backend, TestApp, case_id, spawn, stored};
use crate::policies::{claim, held_in_helsingborg_about};
use crate::routing::{
    available, away, in_queue, perstorp_away, set_mode, submit_consenting, submit_with,
};
use crate::staff::admin_of;

const PERSTORP: &str = "1275";
const HELSINGBORG: &str = "1283";
const BASTAD: &str = "1278";
const FEDERATION_CHAIN: &str = "familjen-helsingborg";
const SERVICE_AGREEMENT: &str = "fh-rad-och-stod-2026";
const AGREEMENTS: &str = "/api/v1/admin/agreements";

/// The first (`1`) or second (`2`) demo federation administrator.
pub async fn federation(app: &TestApp, n: u8) -> String {
    app.login(json!({"role": "admin", "admin_id": format!("demo-admin-federation-{n}")}))
        .await
}

fn agreement_body(id: &str, members: &[&str], categories: &[&str], from: &str, to: &str) -> Value {
    json!({"id": id, "members": members, "categories": categories,
           "valid_from": from, "valid_to": to})
}

/// The seeded service agreement as written in the federation file, with `categories`.
fn service_agreement(categories: &[&str]) -> Value {
    agreement_body(
        SERVICE_AGREEMENT,
        &[
            "1283", "1282", "1292", "1284", "1276", "1277", "1260", "1214", "1257", "1275",
        ],
        categories,
        "2026-01-01",
        "2027-12-31",
    )
}

fn today(app: &TestApp) -> String {
    app.clock.today().format("%Y-%m-%d").to_string()
}

/// Båstad and Perstorp share "beroende" from today.
fn bastad_beroende(app: &TestApp) -> Value {
    agreement_body(
        "bastad-beroende",
        &[BASTAD, PERSTORP],
        &["beroende"],
        &today(app),
        "2027-12-31",
    )
}

/// Version `version` of the agreement at `path`, signed by `token`.
async fn sign(app: &TestApp, path: &str, version: i64, token: &str) -> Answer {
    app.post(
        &format!("{path}/versions/{version}/sign"),
        Some(token),
        json!({}),
    )
    .await
}

/// A new agreement drafted by `author` and signed by `signer`: in force at once. Answers the
/// signature.
async fn draft_and_sign(app: &TestApp, author: &str, signer: &str, body: Value) -> Answer {
    let path = format!("{AGREEMENTS}/{}", body["id"].as_str().expect("id"));
    let drafted = app.post(AGREEMENTS, Some(author), body).await;
    assert_eq!(drafted.status, StatusCode::CREATED, "{}", drafted.body);
    let signed = sign(app, &path, 1, signer).await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
    signed
}

/// The federation's own audit chain.
async fn federation_chain(app: &TestApp) -> Vec<brygga::audit::AuditEntry> {
    app.store
        .audit_chain(FEDERATION_CHAIN)
        .await
        .expect("chain")
}

/// The event `action` on `trail` (the first), made by `actor` and naming them.
#[track_caller]
fn assert_made_by(trail: &[brygga::audit::AuditEntry], action: &str, actor: &str) {
    let event = trail
        .iter()
        .find(|e| e.action == action)
        .unwrap_or_else(|| panic!("{action} audited"));
    assert_eq!(event.actor, actor, "{action}");
    assert!(event.actor_name.is_some(), "{action} names {actor}");
}

/// A request from Anna in Perstorp with `consent`; its id and the ring it started in.
async fn request(app: &TestApp, category: &str, consent: Value) -> (String, i64) {
    let citizen = app.citizen(ANNA, PERSTORP).await;
    let answer = submit_consenting(app, &citizen, category, "sv", consent).await;
    (
        answer["id"].as_str().expect("id").to_owned(),
        answer["ring"].as_i64().expect("ring"),
    )
}

/// Perstorp's staff away, Anna asks about `category` with consent: it widens at once, and
/// Helsingborg's caseworker takes it. Perstorp's generalist is then back. Returns the case id
/// and the partner's token.
async fn held_in_helsingborg(app: &TestApp, category: &str) -> (String, String) {
    let (_, partner, id) = held_in_helsingborg_about(app, category).await;
    available(app, "1275-01").await;
    (id, partner)
}

/// The case is back home at once: the partner cannot see it, it is queued in ring 0 and in
/// the home caseworker's queue.
async fn assert_home(app: &TestApp, id: &str, partner: &str) {
    let gone = app.get(&format!("/api/v1/cases/{id}"), Some(partner)).await;
    gone.assert_error(StatusCode::NOT_FOUND, "not_found");
    let stored = stored(app, id).await;
    assert_eq!(stored.state.as_str(), "queued");
    assert_eq!(stored.ring, 0);
    assert!(stored.handler.is_none(), "{:?}", stored.handler);
    let home = app.caseworker("1275-01").await;
    let item = in_queue(app, &home, id).await.expect("in Perstorp's queue");
    assert_eq!(item["ring"], 0);
    let citizen = app.citizen(ANNA, PERSTORP).await;
    let seen = app
        .get(&format!("/api/v1/requests/{id}"), Some(&citizen))
        .await;
    assert_eq!(
        (seen.body["state"].as_str(), seen.body["ring"].as_i64()),
        (Some("queued"), Some(0)),
        "{}",
        seen.body
    );
}

/// `answer` refused with `status` and `code`, naming `field` where one is given; `sent` says
/// what was sent.
#[track_caller]
fn assert_refused(
    answer: &Answer,
    status: StatusCode,
    code: &str,
    field: Option<&str>,
    sent: &str,
) {
    assert_eq!(
        (answer.status, answer.error()),
        (status, code),
        "{sent}: {}",
        answer.body
    );
    if let Some(field) = field {
        assert_eq!(answer.body["field"], field, "{sent}: {}", answer.body);
    }
}

fn version(record: &Value, n: i64) -> &Value {
    record["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .find(|v| v["version"] == n)
        .unwrap_or_else(|| panic!("version {n} in {record}"))
}

/// 1: a draft is not in force; its author cannot sign it (four eyes, audited); a second
/// federation administrator can, and it is in force at once; every version is kept; a
/// municipality's administrator may do none of it; bad drafts are refused with the field.
async fn agreements_are_drafted_signed_under_four_eyes_and_kept(backend: Backend) {
    let app = spawn(backend).await;
    let first = federation(&app, 1).await;
    let second = federation(&app, 2).await;
    let bastad = app.caseworker("1278-01").await;

    // Perstorp's staff away; Anna's consent names Båstad, which has no agreement for
    // "beroende" with Perstorp yet: the request stays home.
    perstorp_away(&app).await;
    let (id, _) = request(
        &app,
        "beroende",
        json!({"cross_municipality": true, "municipalities": [BASTAD]}),
    )
    .await;
    assert!(in_queue(&app, &bastad, &id).await.is_none());

    let body = agreement_body(
        "perstorp-bastad-beroende",
        &[PERSTORP, BASTAD],
        &["beroende"],
        &today(&app),
        "2027-12-31",
    );
    let mut with_note = body.clone();
    with_note["note"] = json!("Båstad tar emot beroendefrågor från Perstorp.");
    let drafted = app.post(AGREEMENTS, Some(&first), with_note).await;
    assert_eq!(drafted.status, StatusCode::CREATED, "{}", drafted.body);
    assert_eq!(drafted.body["version"], 1);
    assert_eq!(drafted.body["state"], "draft");
    assert_eq!(drafted.body["author"], "admin:demo-admin-federation-1");
    assert!(drafted.body["author_name"].is_string(), "{}", drafted.body);
    assert_eq!(
        drafted.body["agreement"]["members"],
        json!([PERSTORP, BASTAD])
    );
    let path = format!("{AGREEMENTS}/perstorp-bastad-beroende");

    // A draft is not in force: nothing is routed to Båstad.
    let record = app.get(&path, Some(&first)).await;
    assert_eq!(record.status, StatusCode::OK, "{}", record.body);
    assert_eq!(record.body["in_force"], Value::Null);
    assert_eq!(record.body["draft_version"], 1);
    assert_eq!(record.body["signed_version"], Value::Null);
    assert!(in_queue(&app, &bastad, &id).await.is_none());
    assert_eq!(
        app.get(&format!("/api/v1/cases/{id}"), Some(&bastad))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // A municipality's administrator may not draft, change, sign or end an agreement.
    let perstorp_admin = admin_of(&app, PERSTORP).await;
    for (method, target, payload) in [
        (Method::POST, AGREEMENTS.to_owned(), Some(body.clone())),
        (Method::PUT, path.clone(), Some(body.clone())),
        (Method::POST, format!("{path}/versions/1/sign"), None),
        (
            Method::DELETE,
            format!("{AGREEMENTS}/{SERVICE_AGREEMENT}"),
            None,
        ),
    ] {
        let answer = app
            .raw(
                method.clone(),
                &target,
                Some(&perstorp_admin),
                payload.map(|p| p.to_string().into_bytes()),
            )
            .await;
        assert_eq!(
            (answer.status, answer.error()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{method} {target}: {}",
            answer.body
        );
    }

    // Four eyes: the author cannot sign, and the refusal is on the trail.
    let own = sign(&app, &path, 1, &first).await;
    own.assert_error(StatusCode::FORBIDDEN, "four_eyes_required");
    let trail = app.store.audit_events(None, 500).await.expect("audit");
    let refused = trail
        .iter()
        .find(|e| e.action == "agreement_signing_refused")
        .expect("the refusal audited");
    assert_eq!(refused.actor, "admin:demo-admin-federation-1");
    assert_eq!(refused.detail["agreement"], "perstorp-bastad-beroende");
    assert_eq!(
        app.get(&path, Some(&first)).await.body["in_force"],
        Value::Null,
        "nothing changed"
    );
    assert!(in_queue(&app, &bastad, &id).await.is_none());

    // The second administrator signs: in force at once, and the waiting request reaches Båstad.
    let signed = sign(&app, &path, 1, &second).await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
    assert_eq!(signed.body["agreement"]["id"], "perstorp-bastad-beroende");
    assert!(signed.body["federation_version"].as_i64().expect("version") >= 1);
    assert!(
        signed.body["rerouted"].as_u64().expect("rerouted") >= 1,
        "{}",
        signed.body
    );
    assert_eq!(signed.body["sent_home"], 0);
    let item = in_queue(&app, &bastad, &id)
        .await
        .expect("in Båstad's queue at once");
    assert_eq!(item["home"], PERSTORP);
    let record = app.get(&path, Some(&first)).await.body;
    assert_eq!(record["signed_version"], 1);
    assert_eq!(record["draft_version"], Value::Null);
    assert_eq!(record["in_force"]["categories"], json!(["beroende"]));
    let v1 = version(&record, 1);
    assert_eq!(v1["state"], "signed");
    assert_eq!(v1["signed_by"], "admin:demo-admin-federation-2");
    assert!(v1["signed_by_name"].is_string(), "{v1}");
    assert_eq!(v1["author"], "admin:demo-admin-federation-1");
    assert_eq!(v1["note"], "Båstad tar emot beroendefrågor från Perstorp.");
    let trail = federation_chain(&app).await;
    assert_made_by(&trail, "agreement_drafted", "admin:demo-admin-federation-1");
    assert_made_by(&trail, "agreement_signed", "admin:demo-admin-federation-2");

    // A new version of the seeded agreement: the old signed one is kept, superseded.
    let seeded = app
        .get(&format!("{AGREEMENTS}/{SERVICE_AGREEMENT}"), Some(&second))
        .await;
    assert_eq!(seeded.status, StatusCode::OK, "{}", seeded.body);
    assert_eq!(seeded.body["signed_version"], 1);
    assert_eq!(version(&seeded.body, 1)["author"], "system:federation-file");
    assert_eq!(
        version(&seeded.body, 1)["signed_by"],
        "system:federation-file"
    );
    let service_path = format!("{AGREEMENTS}/{SERVICE_AGREEMENT}");
    let mut redraft = service_agreement(&[
        "ekonomi",
        "familj",
        "foraldraskap",
        "beroende",
        "anhorig",
        "aldre",
        "funktionsnedsattning",
        "vald",
        "ovrigt",
    ]);
    redraft["covers_minors"] = json!(true);
    let v2 = app.put(&service_path, Some(&second), redraft.clone()).await;
    assert_eq!(v2.status, StatusCode::CREATED, "{}", v2.body);
    assert_eq!(v2.body["version"], 2);
    // A newer draft: the older one can no longer be signed.
    let v3 = app.put(&service_path, Some(&second), redraft.clone()).await;
    assert_eq!(v3.body["version"], 3, "{}", v3.body);
    let stale = sign(&app, &service_path, 2, &first).await;
    stale.assert_error(StatusCode::CONFLICT, "not_a_draft");
    let signed_one = sign(&app, &service_path, 1, &first).await;
    signed_one.assert_error(StatusCode::CONFLICT, "not_a_draft");
    let missing = sign(&app, &service_path, 99, &first).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
    let signed = sign(&app, &service_path, 3, &first).await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
    assert_eq!(signed.body["agreement"]["covers_minors"], true);
    let record = app.get(&service_path, Some(&first)).await.body;
    assert_eq!(record["signed_version"], 3);
    assert_eq!(version(&record, 1)["state"], "superseded");
    assert_eq!(
        version(&record, 1)["agreement"]["covers_minors"],
        false,
        "the old wording is kept"
    );
    assert_ne!(version(&record, 2)["state"], "signed");
    assert_ne!(version(&record, 2)["state"], "draft", "{record}");
    assert_eq!(version(&record, 3)["state"], "signed");
    assert_eq!(
        version(&record, 3)["signed_by"],
        "admin:demo-admin-federation-1"
    );
    let listing = app.get(AGREEMENTS, Some(&perstorp_admin)).await;
    assert_eq!(
        listing.status,
        StatusCode::OK,
        "a member's administrator reads"
    );
    let ids: Vec<&str> = listing
        .body
        .as_array()
        .expect("agreements")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    for id in [
        SERVICE_AGREEMENT,
        "fh-bastad-2026",
        "perstorp-bastad-beroende",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }

    // Validation.
    let from = today(&app);
    // Perstorp and Båstad sharing "ekonomi" from today, under `id`: what is wrong is the id.
    let named =
        |id: &str| agreement_body(id, &[PERSTORP, BASTAD], &["ekonomi"], &from, "2027-12-31");
    for (payload, status, code, field) in [
        (
            agreement_body("x-one", &[PERSTORP], &["ekonomi"], &from, "2027-12-31"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("members"),
        ),
        (
            agreement_body(
                "x-dup-member",
                &[PERSTORP, PERSTORP],
                &["ekonomi"],
                &from,
                "2027-12-31",
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("members"),
        ),
        (
            agreement_body(
                "x-unknown",
                &[PERSTORP, "0180"],
                &["ekonomi"],
                &from,
                "2027-12-31",
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_municipality",
            None,
        ),
        (
            agreement_body(
                "x-bad-code",
                &[PERSTORP, "12a4"],
                &["ekonomi"],
                &from,
                "2027-12-31",
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_municipality",
            None,
        ),
        (
            agreement_body(
                "x-category",
                &[PERSTORP, BASTAD],
                &["juridik"],
                &from,
                "2027-12-31",
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_category",
            None,
        ),
        (
            agreement_body("x-none", &[PERSTORP, BASTAD], &[], &from, "2027-12-31"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("categories"),
        ),
        (
            agreement_body(
                "x-dates",
                &[PERSTORP, BASTAD],
                &["ekonomi"],
                "2027-06-01",
                "2027-05-31",
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("valid_to"),
        ),
        (
            named(SERVICE_AGREEMENT),
            StatusCode::CONFLICT,
            "already_exists",
            None,
        ),
        (
            named("perstorp-bastad-beroende"),
            StatusCode::CONFLICT,
            "already_exists",
            None,
        ),
        (
            named("Stora Avtalet"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("id"),
        ),
        (
            named(""),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("id"),
        ),
    ] {
        let answer = app.post(AGREEMENTS, Some(&first), payload.clone()).await;
        assert_refused(&answer, status, code, field, &payload.to_string());
    }
    let bad_date = app
        .post(
            AGREEMENTS,
            Some(&first),
            json!({"id": "x-date", "members": [PERSTORP, BASTAD], "categories": ["ekonomi"],
                   "valid_from": "2027-02-30", "valid_to": "2027-12-31"}),
        )
        .await;
    assert_eq!(
        bad_date.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad_date.body
    );
    let unknown = app
        .put(
            &format!("{AGREEMENTS}/no-such-agreement"),
            Some(&first),
            named("no-such-agreement"),
        )
        .await;
    unknown.assert_error(StatusCode::NOT_FOUND, "not_found");
    let other_id = app
        .put(&service_path, Some(&first), named("another-id"))
        .await;
    assert_eq!(
        other_id.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other_id.body
    );
    assert_eq!(
        app.get(&format!("{AGREEMENTS}/no-such-agreement"), Some(&first))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // None of the refused drafts was stored.
    let after = app.get(AGREEMENTS, Some(&first)).await;
    assert_eq!(
        after.body.as_array().expect("agreements").len(),
        3,
        "{}",
        after.body
    );
}

/// 2: ending an agreement sends the cross-border cases resting on it home at once: no tick.
async fn an_ended_agreement_sends_its_cases_home_at_once(backend: Backend) {
    let app = spawn(backend).await;
    // "beroende" is in the service agreement only (Båstad's covers ekonomi and familj).
    let (id, partner) = held_in_helsingborg(&app, "beroende").await;
    let admin = federation(&app, 1).await;
    let path = format!("{AGREEMENTS}/{SERVICE_AGREEMENT}");

    // A draft waiting for a signature is given up when the agreement ends.
    let waiting = app
        .put(&path, Some(&admin), service_agreement(&["ekonomi"]))
        .await;
    assert_eq!(waiting.status, StatusCode::CREATED, "{}", waiting.body);

    let ended = app.delete(&path, Some(&admin)).await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    assert_eq!(ended.body["sent_home"], 1, "{}", ended.body);
    let yesterday = app
        .clock
        .today()
        .pred_opt()
        .expect("a day before")
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(ended.body["agreement"]["valid_to"], yesterday.as_str());
    assert_home(&app, &id, &partner).await;

    // The ending is a signed version of its own; the wording before it is kept.
    let record = app.get(&path, Some(&admin)).await.body;
    assert_eq!(record["signed_version"], 3, "{record}");
    assert_eq!(record["draft_version"], Value::Null, "{record}");
    assert_eq!(version(&record, 1)["state"], "superseded");
    assert_eq!(version(&record, 1)["agreement"]["valid_to"], "2027-12-31");
    assert_eq!(version(&record, 2)["state"], "discarded");
    assert_eq!(version(&record, 3)["state"], "signed");
    assert_eq!(
        version(&record, 3)["signed_by"],
        "admin:demo-admin-federation-1"
    );
    assert_eq!(
        version(&record, 3)["agreement"]["categories"],
        version(&record, 1)["agreement"]["categories"],
        "the ending keeps the signed wording, not the draft's"
    );
    assert_eq!(record["in_force"]["valid_to"], yesterday.as_str());

    // On the trail: the ending on the federation's chain, the case's return naming the admin.
    let chain = federation_chain(&app).await;
    assert_made_by(&chain, "agreement_ended", "admin:demo-admin-federation-1");
    let on_case = app
        .store
        .audit_events(Some(&case_id(&id)), 100)
        .await
        .expect("audit");
    assert!(
        on_case
            .iter()
            .any(|e| e.actor == "admin:demo-admin-federation-1"),
        "the case's return names the administrator: {:?}",
        on_case
            .iter()
            .map(|e| (&e.action, &e.actor))
            .collect::<Vec<_>>()
    );

    // Ended is ended; an unknown agreement is not found.
    let again = app.delete(&path, Some(&admin)).await;
    again.assert_error(StatusCode::CONFLICT, "not_in_force");
    let unknown = app
        .delete(&format!("{AGREEMENTS}/no-such-agreement"), Some(&admin))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // A new request in "beroende" stays home now.
    let helsingborg = app.caseworker("1283-01").await;
    away(&app, "1275-01").await;
    let citizen = app.citizen(&crate::person(21), PERSTORP).await;
    let answer = submit_with(&app, &citizen, "beroende", "sv", true).await;
    let new_id = answer["id"].as_str().expect("id");
    assert!(in_queue(&app, &helsingborg, new_id).await.is_none());
}

/// An agreement that has not started yet, ended: it leaves the federation; its draft and
/// signed versions stay.
async fn ending_an_agreement_before_it_starts_removes_it(backend: Backend) {
    let app = spawn(backend).await;
    let first = federation(&app, 1).await;
    let second = federation(&app, 2).await;
    let path = format!("{AGREEMENTS}/later");
    let drafted = app
        .post(
            AGREEMENTS,
            Some(&first),
            agreement_body(
                "later",
                &[PERSTORP, BASTAD],
                &["beroende"],
                "2027-06-01",
                "2027-12-31",
            ),
        )
        .await;
    assert_eq!(drafted.status, StatusCode::CREATED, "{}", drafted.body);
    // Not in force yet: ending it is refused until it is signed.
    let early = app.delete(&path, Some(&first)).await;
    early.assert_error(StatusCode::CONFLICT, "not_in_force");
    let signed = sign(&app, &path, 1, &second).await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
    let ended = app.delete(&path, Some(&first)).await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    assert_eq!(ended.body["agreement"], Value::Null, "{}", ended.body);
    let record = app.get(&path, Some(&first)).await;
    assert_eq!(
        record.status,
        StatusCode::OK,
        "history stays: {}",
        record.body
    );
    assert_eq!(record.body["in_force"], Value::Null);
    assert_eq!(
        record.body["versions"].as_array().expect("versions").len(),
        2
    );
    assert!(
        app.ctx
            .federation()
            .agreements
            .iter()
            .all(|a| a.id != "later")
    );
}

/// 3: a signed version without a category sends that category's cross-border cases home.
async fn losing_a_category_sends_its_cases_home_at_once(backend: Backend) {
    let app = spawn(backend).await;
    let (id, partner) = held_in_helsingborg(&app, "beroende").await;
    // A case in a category that stays in the agreement is not touched.
    let other_citizen = app.citizen(&crate::person(5), PERSTORP).await;
    away(&app, "1275-01").await;
    let kept = submit_with(&app, &other_citizen, "aldre", "sv", true).await;
    assert_eq!(kept["ring"], 1, "{kept}");
    let kept_id = kept["id"].as_str().expect("id").to_owned();
    claim(&app, &partner, &kept_id).await;
    available(&app, "1275-01").await;

    let first = federation(&app, 1).await;
    let second = federation(&app, 2).await;
    let path = format!("{AGREEMENTS}/{SERVICE_AGREEMENT}");
    let draft = app
        .put(
            &path,
            Some(&first),
            service_agreement(&[
                "ekonomi",
                "familj",
                "foraldraskap",
                "anhorig",
                "aldre",
                "funktionsnedsattning",
                "vald",
                "ovrigt",
            ]),
        )
        .await;
    assert_eq!(draft.status, StatusCode::CREATED, "{}", draft.body);
    // Drafting changes nothing.
    assert_eq!(
        app.get(&format!("/api/v1/cases/{id}"), Some(&partner))
            .await
            .status,
        StatusCode::OK
    );
    let signed = sign(&app, &path, 2, &second).await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
    assert_eq!(signed.body["sent_home"], 1, "{}", signed.body);
    assert_home(&app, &id, &partner).await;
    let still = app
        .get(&format!("/api/v1/cases/{kept_id}"), Some(&partner))
        .await;
    assert_eq!(still.status, StatusCode::OK, "{}", still.body);
    assert_eq!(still.body["municipality"], HELSINGBORG);
    let record = app.get(&path, Some(&first)).await.body;
    assert_eq!(version(&record, 1)["state"], "superseded");
    assert_eq!(version(&record, 2)["state"], "signed");
}

/// 4: a waiting request whose consent names a member that an agreement now joins to its home
/// widens to it when its ring allows, without waiting for a daily sweep.
async fn a_new_agreement_widens_waiting_requests(backend: Backend) {
    let app = spawn(backend).await;
    // Perstorp's generalist is available: the request waits in ring 0 at home.
    let (id, ring) = request(
        &app,
        "beroende",
        json!({"cross_municipality": true, "municipalities": [BASTAD, HELSINGBORG]}),
    )
    .await;
    assert_eq!(ring, 0);
    let bastad = app.caseworker("1278-01").await;

    let first = federation(&app, 1).await;
    let second = federation(&app, 2).await;
    let signed = draft_and_sign(&app, &first, &second, bastad_beroende(&app)).await;
    assert!(
        signed.body["rerouted"].as_u64().expect("rerouted") >= 1,
        "the waiting request's permits changed: {}",
        signed.body
    );
    // Ring 0 still: home first.
    assert!(in_queue(&app, &bastad, &id).await.is_none());

    // The ring's time is up: the request widens to Båstad, and to Helsingborg as before.
    let report = app.advance(1900).await;
    assert_eq!(report.widened, 1, "{report:?}");
    // Past the idle timeout: everyone logs in again.
    let bastad = app.caseworker("1278-01").await;
    let helsingborg = app.caseworker("1283-01").await;
    let first = federation(&app, 1).await;
    let second = federation(&app, 2).await;
    let item = in_queue(&app, &bastad, &id)
        .await
        .expect("in Båstad's queue");
    assert_eq!(
        (item["ring"].as_i64(), item["home"].as_str()),
        (Some(1), Some(PERSTORP))
    );
    assert!(in_queue(&app, &helsingborg, &id).await.is_some());
    // Consent limits it: a partner the consent does not name never sees it.
    let landskrona = app.caseworker("1282-01").await;
    assert!(in_queue(&app, &landskrona, &id).await.is_none());

    // With nobody at home, a new agreement widens at once.
    perstorp_away(&app).await;
    let (waiting, ring) = request(
        &app,
        "familjeradgivning",
        json!({"cross_municipality": true, "municipalities": [BASTAD]}),
    )
    .await;
    let _ = ring;
    assert!(in_queue(&app, &bastad, &waiting).await.is_none());
    let signed = draft_and_sign(
        &app,
        &second,
        &first,
        json!({"id": "bastad-familjeradgivning", "members": [BASTAD, PERSTORP],
               "categories": ["familjeradgivning"], "valid_from": today(&app),
               "valid_to": "2027-12-31", "names_family_counselling": true}),
    )
    .await;
    assert!(
        in_queue(&app, &bastad, &waiting).await.is_some(),
        "widened at once: {}",
        signed.body
    );
}

/// 5: members and their home rules.
async fn municipalities_and_their_home_rules(backend: Backend) {
    let app = spawn(backend).await;
    let perstorp_admin = admin_of(&app, PERSTORP).await;
    let helsingborg_admin = admin_of(&app, HELSINGBORG).await;
    let path = format!("/api/v1/admin/municipalities/{PERSTORP}");

    let listed = app
        .get("/api/v1/admin/municipalities", Some(&perstorp_admin))
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body.as_array().expect("members").len(), 11);
    let perstorp = app.get(&path, Some(&perstorp_admin)).await;
    assert_eq!(perstorp.status, StatusCode::OK, "{}", perstorp.body);
    assert_eq!(perstorp.body["name"], "Perstorp");
    assert_eq!(perstorp.body["population"], 7500);
    assert_eq!(perstorp.body["keeps_home"], json!([]));
    assert_eq!(
        app.get("/api/v1/admin/municipalities/9999", Some(&perstorp_admin))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // The home rule: Perstorp's own administrator keeps "ekonomi" at home.
    let kept = app
        .put(
            &path,
            Some(&perstorp_admin),
            json!({"name": "Perstorp", "population": 7500, "socialjour_phone": "0435-350 00",
                   "keeps_home": ["ekonomi"]}),
        )
        .await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    assert_eq!(kept.body["keeps_home"], json!(["ekonomi"]));
    assert_eq!(kept.body["socialjour_phone"], "0435-350 00");
    assert_eq!(
        app.get(&path, Some(&helsingborg_admin)).await.body["keeps_home"],
        json!(["ekonomi"])
    );
    let unknown_category = app
        .put(
            &path,
            Some(&perstorp_admin),
            json!({"name": "Perstorp", "population": 7500, "keeps_home": ["juridik"]}),
        )
        .await;
    unknown_category.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "unknown_category");
    let bad_phone = app
        .put(
            &path,
            Some(&perstorp_admin),
            json!({"name": "Perstorp", "population": 7500, "socialjour_phone": "ring oss"}),
        )
        .await;
    assert_eq!(
        (bad_phone.status, bad_phone.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("socialjour_phone"))
    );

    // Nobody at Perstorp, Anna consents: "ekonomi" still never leaves Perstorp ...
    perstorp_away(&app).await;
    let (id, ring) = request(&app, "ekonomi", json!({"cross_municipality": true})).await;
    assert_eq!(ring, 0, "the home rule keeps it in ring 0");
    let helsingborg = app.caseworker("1283-01").await;
    let bastad = app.caseworker("1278-01").await;
    assert!(in_queue(&app, &helsingborg, &id).await.is_none());
    assert!(in_queue(&app, &bastad, &id).await.is_none());
    app.advance(24 * 3600).await;
    // A day later: everyone logs in again.
    let helsingborg = app.caseworker("1283-01").await;
    let federation_admin = federation(&app, 1).await;
    let perstorp_admin = admin_of(&app, PERSTORP).await;
    let helsingborg_admin = admin_of(&app, HELSINGBORG).await;
    assert!(in_queue(&app, &helsingborg, &id).await.is_none());
    assert_eq!(stored(&app, &id).await.ring, 0);
    let simulated = app
        .post(
            "/api/v1/admin/policies/simulate",
            Some(&federation_admin),
            json!({"request": {"category": "ekonomi", "language": "sv", "home": PERSTORP,
                               "consent": {"cross_municipality": true}},
                   "principal": {"role": "caseworker", "municipality": HELSINGBORG},
                   "action": "route"}),
        )
        .await;
    assert_eq!(simulated.status, StatusCode::OK, "{}", simulated.body);
    assert_eq!(simulated.body["decision"], "deny", "{}", simulated.body);
    assert!(
        simulated.body["policies"]
            .to_string()
            .contains("municipality-keeps-home"),
        "{}",
        simulated.body
    );
    // ... while another category still crosses.
    let citizen = app.citizen(&crate::person(9), PERSTORP).await;
    let other = submit_with(&app, &citizen, "familj", "sv", true).await;
    assert_eq!(other["ring"], 1, "{other}");

    // Name and population are the federation's; another member's administrator nothing.
    let renamed = app
        .put(
            &path,
            Some(&perstorp_admin),
            json!({"name": "Perstorps kommun", "population": 7500, "keeps_home": ["ekonomi"]}),
        )
        .await;
    renamed.assert_error(StatusCode::FORBIDDEN, "forbidden");
    let bigger = app
        .put(
            &path,
            Some(&perstorp_admin),
            json!({"name": "Perstorp", "population": 9000, "keeps_home": ["ekonomi"]}),
        )
        .await;
    assert_eq!(bigger.status, StatusCode::FORBIDDEN, "{}", bigger.body);
    let neighbour = app
        .put(
            &path,
            Some(&helsingborg_admin),
            json!({"name": "Perstorp", "population": 7500, "keeps_home": []}),
        )
        .await;
    neighbour.assert_error(StatusCode::FORBIDDEN, "forbidden");
    let grown = app
        .put(
            &path,
            Some(&federation_admin),
            json!({"name": "Perstorp", "population": 7800, "socialjour_phone": "0435-350 00",
                   "keeps_home": ["ekonomi"]}),
        )
        .await;
    assert_eq!(grown.status, StatusCode::OK, "{}", grown.body);
    assert_eq!(grown.body["population"], 7800);
    assert_eq!(
        app.get(&path, Some(&perstorp_admin)).await.body["population"],
        7800
    );

    // A new member, by the federation only.
    let kavlinge = json!({"code": "1261", "name": "Kävlinge", "population": 33000});
    let refused = app
        .post(
            "/api/v1/admin/municipalities",
            Some(&perstorp_admin),
            kavlinge.clone(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let added = app
        .post(
            "/api/v1/admin/municipalities",
            Some(&federation_admin),
            kavlinge.clone(),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    assert_eq!(added.body["code"], "1261");
    assert_eq!(added.body["keeps_home"], json!([]));
    let twice = app
        .post(
            "/api/v1/admin/municipalities",
            Some(&federation_admin),
            kavlinge.clone(),
        )
        .await;
    twice.assert_error(StatusCode::CONFLICT, "already_exists");
    for (payload, field) in [
        (
            json!({"code": "12345", "name": "X", "population": 10}),
            "code",
        ),
        (
            json!({"code": "1262", "name": " ", "population": 10}),
            "name",
        ),
        (
            json!({"code": "1262", "name": "Lomma", "population": 0}),
            "population",
        ),
    ] {
        let answer = app
            .post(
                "/api/v1/admin/municipalities",
                Some(&federation_admin),
                payload.clone(),
            )
            .await;
        assert_eq!(
            (answer.status, answer.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{payload}: {}",
            answer.body
        );
    }
    let listed = app
        .get("/api/v1/admin/municipalities", Some(&federation_admin))
        .await;
    assert!(
        listed
            .body
            .as_array()
            .expect("members")
            .iter()
            .any(|m| m["code"] == "1261" && m["name"] == "Kävlinge"),
        "{}",
        listed.body
    );

    // Removing: a member an agreement names stays; one just added goes.
    let named = app
        .delete("/api/v1/admin/municipalities/1283", Some(&federation_admin))
        .await;
    named.assert_error(StatusCode::CONFLICT, "in_use");
    let by_member = app
        .delete("/api/v1/admin/municipalities/1261", Some(&perstorp_admin))
        .await;
    assert_eq!(by_member.status, StatusCode::FORBIDDEN);
    let removed = app
        .delete("/api/v1/admin/municipalities/1261", Some(&federation_admin))
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    assert_eq!(
        app.get("/api/v1/admin/municipalities/1261", Some(&federation_admin))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let gone = app
        .delete("/api/v1/admin/municipalities/1261", Some(&federation_admin))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // On the right chains, naming the administrator.
    let perstorp_chain = app.store.audit_chain(PERSTORP).await.expect("chain");
    let changes: Vec<_> = perstorp_chain
        .iter()
        .filter(|e| e.action == "municipality_changed")
        .collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(changes[0].actor, "admin:demo-admin-1275");
    assert!(changes[0].actor_name.is_some());
    assert_eq!(changes[0].detail["now"]["keeps_home"], json!(["ekonomi"]));
    assert_eq!(changes[1].actor, "admin:demo-admin-federation-1");
    assert_eq!(changes[1].detail["now"]["population"], 7800);
    let kavlinge_chain = app.store.audit_chain("1261").await.expect("chain");
    let actions: Vec<&str> = kavlinge_chain.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        vec!["municipality_created", "municipality_removed"]
    );
    assert!(
        kavlinge_chain
            .iter()
            .all(|e| e.actor == "admin:demo-admin-federation-1" && e.actor_name.is_some())
    );
    let verified = app
        .get("/api/v1/admin/audit/verify", Some(&federation_admin))
        .await;
    assert_eq!(verified.body["ok"], true, "{}", verified.body);
}

/// 6: categories, by the federation's administrators only.
async fn categories_are_the_federations(backend: Backend) {
    let app = spawn(backend).await;
    let admin = federation(&app, 1).await;
    let perstorp_admin = admin_of(&app, PERSTORP).await;
    let base = "/api/v1/admin/categories";
    let housing = json!({"id": "boende", "kind": "service", "sv": "Boende", "en": "Housing"});

    let listed = app.get(base, Some(&perstorp_admin)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body.as_array().expect("categories").len(), 13);
    let refused = app.post(base, Some(&perstorp_admin), housing.clone()).await;
    refused.assert_error(StatusCode::FORBIDDEN, "forbidden");
    let added = app.post(base, Some(&admin), housing.clone()).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    assert_eq!(added.body["id"], "boende");
    assert_eq!(added.body["record_identity"], true, "{}", added.body);
    assert_eq!(added.body["urgent"], false);
    let twice = app.post(base, Some(&admin), housing.clone()).await;
    twice.assert_error(StatusCode::CONFLICT, "already_exists");
    let path = format!("{base}/boende");
    assert_eq!(
        app.get(&path, Some(&perstorp_admin)).await.body["sv"],
        "Boende"
    );

    // A citizen can ask about it at once.
    let citizen = app.citizen(ANNA, PERSTORP).await;
    submit_with(&app, &citizen, "boende", "sv", false).await;

    let changed = app
        .put(
            &path,
            Some(&admin),
            json!({"kind": "service", "urgent": true, "sv": "Boende och hemlöshet",
                   "en": "Housing and homelessness", "record_identity": false}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["urgent"], true);
    assert_eq!(changed.body["record_identity"], false);
    let by_member = app
        .put(
            &path,
            Some(&perstorp_admin),
            json!({"kind": "service", "sv": "Boende", "en": "Housing"}),
        )
        .await;
    assert_eq!(by_member.status, StatusCode::FORBIDDEN);

    // Validation; R10 holds whatever is written.
    for (target, payload, status, code, field) in [
        (
            format!("{base}/oro_barn"),
            json!({"kind": "authority", "urgent": false, "must_stay_home": true,
                   "sv": "Oro för ett barn", "en": "Concern about a child"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("must_stay_home"),
        ),
        (
            format!("{base}/oro_barn"),
            json!({"kind": "authority", "urgent": true, "must_stay_home": false,
                   "sv": "Oro för ett barn", "en": "Concern about a child"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("must_stay_home"),
        ),
        (
            path.clone(),
            json!({"kind": "magic", "sv": "Boende", "en": "Housing"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("kind"),
        ),
        (
            path.clone(),
            json!({"kind": "service", "sv": "", "en": "Housing"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("sv"),
        ),
        (
            format!("{base}/no_such"),
            json!({"kind": "service", "sv": "X", "en": "X"}),
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
    ] {
        let answer = app.put(&target, Some(&admin), payload.clone()).await;
        assert_refused(&answer, status, code, field, &format!("{target} {payload}"));
    }
    let bad_id = app
        .post(
            base,
            Some(&admin),
            json!({"id": "Boende Nu", "kind": "service", "sv": "B", "en": "B"}),
        )
        .await;
    assert_eq!(
        (bad_id.status, bad_id.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("id")),
        "{}",
        bad_id.body
    );
    let oro = app.get(&format!("{base}/oro_barn"), Some(&admin)).await;
    assert_eq!(
        (
            oro.body["urgent"].as_bool(),
            oro.body["must_stay_home"].as_bool()
        ),
        (Some(true), Some(true))
    );

    // Removing: a category an agreement names stays; an unused one goes.
    let unused =
        json!({"id": "tillfallig", "kind": "volunteer", "sv": "Tillfällig", "en": "Temporary"});
    assert_eq!(
        app.post(base, Some(&admin), unused).await.status,
        StatusCode::CREATED
    );
    let by_member = app
        .delete(&format!("{base}/tillfallig"), Some(&perstorp_admin))
        .await;
    assert_eq!(by_member.status, StatusCode::FORBIDDEN);
    let removed = app
        .delete(&format!("{base}/tillfallig"), Some(&admin))
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    assert_eq!(
        app.get(&format!("{base}/tillfallig"), Some(&admin))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let named = app.delete(&format!("{base}/ekonomi"), Some(&admin)).await;
    named.assert_error(StatusCode::CONFLICT, "in_use");
    // "boende" is in no agreement, but a case is filed under it: its history stays readable.
    let used = app.delete(&path, Some(&admin)).await;
    used.assert_error(StatusCode::CONFLICT, "in_use");
    assert_eq!(app.get(&path, Some(&admin)).await.status, StatusCode::OK);

    let chain = federation_chain(&app).await;
    let actions: Vec<&str> = chain
        .iter()
        .filter(|e| e.action.starts_with("category_"))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        actions,
        vec![
            "category_created",
            "category_changed",
            "category_created",
            "category_removed"
        ]
    );
    assert!(
        chain
            .iter()
            .filter(|e| e.action.starts_with("category_"))
            .all(|e| e.actor == "admin:demo-admin-federation-1" && e.actor_name.is_some())
    );
}

/// 7: another replica on the same database follows a change on its next tick, and one that
/// starts after it loads the changed federation, not the file.
async fn another_replica_follows_a_change(backend: Backend) {
    let app = spawn(backend).await;
    let replica = app.replica().await;
    let first = federation(&app, 1).await;
    let second = federation(&app, 2).await;
    draft_and_sign(&app, &first, &second, bastad_beroende(&app)).await;
    let grown = app
        .put(
            &format!("/api/v1/admin/municipalities/{PERSTORP}"),
            Some(&first),
            json!({"name": "Perstorp", "population": 7800}),
        )
        .await;
    assert_eq!(grown.status, StatusCode::OK, "{}", grown.body);
    assert!(
        app.ctx
            .federation()
            .agreements
            .iter()
            .any(|a| a.id == "bastad-beroende")
    );

    replica.tick().await.expect("tick");
    let followed = replica.federation();
    assert!(
        followed
            .agreements
            .iter()
            .any(|a| a.id == "bastad-beroende"),
        "the replica follows on its tick"
    );
    let perstorp = followed
        .municipalities
        .iter()
        .find(|m| m.code.as_str() == PERSTORP)
        .expect("Perstorp");
    assert_eq!(perstorp.population, 7800);

    let restarted = app.replica().await;
    let loaded = restarted.federation();
    assert!(loaded.agreements.iter().any(|a| a.id == "bastad-beroende"));
    assert_eq!(
        loaded
            .municipalities
            .iter()
            .find(|m| m.code.as_str() == PERSTORP)
            .expect("Perstorp")
            .population,
        7800
    );
    // The seeded agreements' first versions are recorded once, not again at every start.
    let versions = app
        .store
        .agreement_versions(Some(SERVICE_AGREEMENT))
        .await
        .expect("versions");
    assert_eq!(versions.len(), 1, "{versions:?}");
}

/// A home rule or a category that must now stay home brings the cross-border cases it covers
/// home at once, like an agreement that ends.
async fn home_rules_bring_cross_border_cases_home_at_once(backend: Backend) {
    let app = spawn(backend).await;
    let (aldre, partner) = held_in_helsingborg(&app, "aldre").await;
    let perstorp_admin = admin_of(&app, PERSTORP).await;
    let kept = app
        .put(
            &format!("/api/v1/admin/municipalities/{PERSTORP}"),
            Some(&perstorp_admin),
            json!({"name": "Perstorp", "population": 7500, "keeps_home": ["aldre"]}),
        )
        .await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    assert_home(&app, &aldre, &partner).await;

    let (anhorig, partner) = held_in_helsingborg(&app, "anhorig").await;
    let admin = federation(&app, 1).await;
    let home_only = app
        .put(
            "/api/v1/admin/categories/anhorig",
            Some(&admin),
            json!({"kind": "service", "must_stay_home": true, "sv": "Stöd till anhöriga",
                   "en": "Support for family carers"}),
        )
        .await;
    assert_eq!(home_only.status, StatusCode::OK, "{}", home_only.body);
    assert_home(&app, &anhorig, &partner).await;

    // A member with staff or cases stays in the federation's history: it cannot be removed.
    let lomma = app
        .post(
            "/api/v1/admin/municipalities",
            Some(&admin),
            json!({"code": "1262", "name": "Lomma", "population": 25000}),
        )
        .await;
    assert_eq!(lomma.status, StatusCode::CREATED, "{}", lomma.body);
    let staffed = app
        .post(
            "/api/v1/admin/caseworkers",
            Some(&admin),
            json!({"name": "Eva Lund", "municipality": "1262", "skills": ["ekonomi"],
                   "languages": ["sv"], "capacity": 3}),
        )
        .await;
    assert_eq!(staffed.status, StatusCode::CREATED, "{}", staffed.body);
    let removed = app
        .delete("/api/v1/admin/municipalities/1262", Some(&admin))
        .await;
    removed.assert_error(StatusCode::CONFLICT, "in_use");
    let asked = app
        .post(
            "/api/v1/requests",
            None,
            json!({"category": "ekonomi", "language": "sv", "text": "Hej", "municipality": "1262",
                   "consent": {"cross_municipality": false}}),
        )
        .await;
    assert_eq!(
        asked.status,
        StatusCode::CREATED,
        "a new member takes requests: {}",
        asked.body
    );
}

/// Changes at once: each is built on the federation it read, so a change that lost the race
/// is made again on the winner's, and none is lost; a draft is signed once.
async fn concurrent_changes_are_all_kept(backend: Backend) {
    let app = spawn(backend).await;
    let first = federation(&app, 1).await;
    let second = federation(&app, 2).await;
    let perstorp_admin = admin_of(&app, PERSTORP).await;
    let helsingborg_admin = admin_of(&app, HELSINGBORG).await;
    let ids = ["boende", "skola", "arbete", "halsa"];
    let adds = ids.iter().map(|id| {
        app.post(
            "/api/v1/admin/categories",
            Some(&first),
            json!({"id": id, "kind": "service", "sv": id, "en": id}),
        )
    });
    let perstorp_path = format!("/api/v1/admin/municipalities/{PERSTORP}");
    let helsingborg_path = format!("/api/v1/admin/municipalities/{HELSINGBORG}");
    let homes = [
        app.put(
            &perstorp_path,
            Some(&perstorp_admin),
            json!({"name": "Perstorp", "population": 7500, "keeps_home": ["ekonomi"]}),
        ),
        app.put(
            &helsingborg_path,
            Some(&helsingborg_admin),
            json!({"name": "Helsingborg", "population": 151000, "keeps_home": ["familj"]}),
        ),
    ];
    let (added, homes) = tokio::join!(
        futures_util::future::join_all(adds),
        futures_util::future::join_all(homes)
    );
    for answer in added.iter().chain(homes.iter()) {
        assert!(
            answer.status.is_success(),
            "{}: {}",
            answer.status,
            answer.body
        );
    }
    let now = app.ctx.federation();
    for id in ids {
        assert!(now.category(id).is_some(), "{id} kept");
    }
    let kept = |code: &str| {
        now.municipalities
            .iter()
            .find(|m| m.code.as_str() == code)
            .map(|m| {
                m.keeps_home
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
            })
    };
    assert_eq!(kept(PERSTORP), Some(vec!["ekonomi".to_owned()]));
    assert_eq!(kept(HELSINGBORG), Some(vec!["familj".to_owned()]));
    assert_eq!(
        app.store.federation_version().await.expect("version"),
        6,
        "one version per change"
    );

    let drafted = app
        .post(
            AGREEMENTS,
            Some(&first),
            agreement_body(
                "race",
                &[PERSTORP, BASTAD],
                &["beroende"],
                &today(&app),
                "2027-12-31",
            ),
        )
        .await;
    assert_eq!(drafted.status, StatusCode::CREATED, "{}", drafted.body);
    let race = format!("{AGREEMENTS}/race");
    let (a, b) = tokio::join!(sign(&app, &race, 1, &second), sign(&app, &race, 1, &second));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{} / {}",
        a.body,
        b.body
    );
    let record = app.get(&race, Some(&first)).await.body;
    assert_eq!(record["versions"].as_array().expect("versions").len(), 1);
    let signed = federation_chain(&app)
        .await
        .iter()
        .filter(|e| e.action == "agreement_signed")
        .count();
    assert_eq!(signed, 1);
}

/// An ended agreement also takes back what was only on its way across the border: a waiting
/// request leaves the partners' queues, and an open offer to a partner's caseworker ends and
/// can no longer be accepted.
async fn an_ended_agreement_takes_back_queued_requests_and_offers(backend: Backend) {
    let app = spawn(backend).await;
    let admin = federation(&app, 1).await;
    set_mode(&app, "aldre", "push", 600).await;

    perstorp_away(&app).await;
    let (queued, ring) = request(&app, "beroende", json!({"cross_municipality": true})).await;
    assert_eq!(ring, 1);
    let helsingborg = app.caseworker("1283-01").await;
    assert!(in_queue(&app, &helsingborg, &queued).await.is_some());
    let citizen = app.citizen(&crate::person(12), PERSTORP).await;
    let offered = submit_with(&app, &citizen, "aldre", "sv", true).await;
    let offered = offered["id"].as_str().expect("id").to_owned();
    let offer = app
        .store
        .open_offer_of_case(&case_id(&offered))
        .await
        .expect("offer")
        .expect("offered to a partner in push mode");
    let to = offer.caseworker.to_string();
    assert!(!to.starts_with(PERSTORP), "{to}");

    let ended = app
        .delete(&format!("{AGREEMENTS}/{SERVICE_AGREEMENT}"), Some(&admin))
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    assert!(
        ended.body["rerouted"].as_u64().expect("rerouted") >= 2,
        "{}",
        ended.body
    );
    assert!(in_queue(&app, &helsingborg, &queued).await.is_none());
    assert_eq!(
        app.get(&format!("/api/v1/cases/{queued}"), Some(&helsingborg))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let stored = stored(&app, &queued).await;
    assert_eq!(stored.state.as_str(), "queued");
    // Nobody at home: it may stand in a wider ring, but no member outside home is permitted.
    let permits = app.store.permits(&case_id(&queued)).await.expect("permits");
    assert!(
        permits.iter().all(|p| p.municipality.as_str() == PERSTORP),
        "{permits:?}"
    );
    assert!(
        app.store
            .open_offer_of_case(&case_id(&offered))
            .await
            .expect("offer")
            .is_none_or(|o| o.caseworker.as_str().starts_with(PERSTORP)),
        "the partner's offer ended"
    );
    let partner = app.caseworker(&to).await;
    let accepted = app
        .post(
            &format!("/api/v1/offers/{}/accept", offer.id),
            Some(&partner),
            json!({}),
        )
        .await;
    assert!(
        accepted.status == StatusCode::NOT_FOUND || accepted.status == StatusCode::CONFLICT,
        "{}: {}",
        accepted.status,
        accepted.body
    );
    assert_eq!(
        app.get(&format!("/api/v1/cases/{offered}"), Some(&partner))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// Bodies that are not what a route takes get a clear 4xx with an error code, never a 500.
async fn bad_bodies_get_clear_errors(backend: Backend) {
    let app = spawn(backend).await;
    let admin = federation(&app, 1).await;
    let routes = [
        (Method::POST, "/api/v1/admin/municipalities".to_owned()),
        (
            Method::PUT,
            format!("/api/v1/admin/municipalities/{PERSTORP}"),
        ),
        (Method::POST, "/api/v1/admin/categories".to_owned()),
        (Method::PUT, "/api/v1/admin/categories/ekonomi".to_owned()),
        (Method::POST, AGREEMENTS.to_owned()),
        (Method::PUT, format!("{AGREEMENTS}/{SERVICE_AGREEMENT}")),
    ];
    let bodies: [&[u8]; 6] = [
        b"not json",
        b"[]",
        b"{\"unexpected\": 1}",
        b"{\"name\": \"X\", \"population\": \"many\", \"kind\": 1, \"members\": \"1275\"}",
        b"{\"code\": \"1261\", \"name\": \"X\", \"population\": -5}",
        b"{\"id\": \"x\", \"members\": [\"1275\", \"1278\"], \"categories\": [\"ekonomi\"], \"valid_from\": \"soon\", \"valid_to\": \"2027-12-31\"}",
    ];
    let mut wrong = Vec::new();
    for (method, path) in &routes {
        for body in bodies {
            let answer = app
                .raw(method.clone(), path, Some(&admin), Some(body.to_vec()))
                .await;
            if !answer.status.is_client_error() || answer.error().is_empty() {
                wrong.push(format!(
                    "{method} {path} {}: {} {}",
                    String::from_utf8_lossy(body),
                    answer.status,
                    answer.body
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Nothing was changed by any of them.
    assert_eq!(app.store.federation_version().await.expect("version"), 0);
}

/// A change made on another replica: this one reads it at once (reads follow), and a request
/// routed here before this replica's next tick is decided again by that tick.
async fn a_change_on_another_replica_reaches_routing_here(backend: Backend) {
    let app = spawn(backend).await;
    let replica = app.replica().await;
    let perstorp_admin = brygga::domain::Administrator {
        id: "demo-admin-1275".into(),
        name: "Perstorps administratör".into(),
        municipality: Some(brygga::domain::ids::MunicipalityCode::parse(PERSTORP).expect("code")),
    };
    replica
        .change_municipality(
            &perstorp_admin,
            PERSTORP,
            brygga::workflow::MunicipalityInput {
                code: None,
                name: "Perstorp".into(),
                population: 7500,
                socialjour_phone: None,
                keeps_home: vec!["ekonomi".into()],
            },
        )
        .await
        .expect("changed on the replica");
    perstorp_away(&app).await;
    let (id, ring) = request(&app, "ekonomi", json!({"cross_municipality": true})).await;
    let helsingborg = app.caseworker("1283-01").await;
    // Until this replica's next tick a request may be routed under the federation it had:
    // the tick follows, and decides the waiting request again.
    let early = in_queue(&app, &helsingborg, &id).await.is_some();
    // Even one taken meanwhile goes home on that tick.
    let taken = early
        && app
            .post(
                &format!("/api/v1/cases/{id}/claim"),
                Some(&helsingborg),
                json!({}),
            )
            .await
            .status
            == StatusCode::OK;
    app.ctx.tick().await.expect("tick");
    assert!(
        in_queue(&app, &helsingborg, &id).await.is_none(),
        "after this replica's tick the home rule holds (before it: ring {ring}, in Helsingborg's \
         queue: {early}, taken: {taken})"
    );
    assert_eq!(
        app.get(&format!("/api/v1/cases/{id}"), Some(&helsingborg))
            .await
            .status,
        StatusCode::NOT_FOUND,
        "taken meanwhile: {taken}"
    );
    let stored = stored(&app, &id).await;
    assert!(stored.handler.is_none(), "taken meanwhile: {taken}");
    let admin = federation(&app, 1).await;
    let read = app
        .get(
            &format!("/api/v1/admin/municipalities/{PERSTORP}"),
            Some(&admin),
        )
        .await;
    assert_eq!(read.body["keeps_home"], json!(["ekonomi"]), "{}", read.body);
}

on_both_backends!(
    a_change_on_another_replica_reaches_routing_here,
    bad_bodies_get_clear_errors,
    an_ended_agreement_takes_back_queued_requests_and_offers,
    concurrent_changes_are_all_kept,
    home_rules_bring_cross_border_cases_home_at_once,
    agreements_are_drafted_signed_under_four_eyes_and_kept,
    an_ended_agreement_sends_its_cases_home_at_once,
    ending_an_agreement_before_it_starts_removes_it,
    losing_a_category_sends_its_cases_home_at_once,
    a_new_agreement_widens_waiting_requests,
    municipalities_and_their_home_rules,
    categories_are_the_federations,
    another_replica_follows_a_change,
);
