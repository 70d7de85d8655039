//! The legal corrections of issue 19 over HTTP, on both databases: child concerns that cannot
//! be dropped (R10), protection that follows the citizen (R11, R3), need-to-know for content
//! (R15), harm assessments by the owner or the supervisor (R12), identity numbers and eIDAS
//! (R2), consent fixed on the day it is given (R8) and categories that record no identity
//! (R16). Each test names the LEGAL.md rule it proves.

use brygga::clock::Clock;
use brygga::domain::personnummer::Personnummer;
use chrono::{DateTime, NaiveDate, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, case_id, execute_sql, spawn, spawn_on, stored};
use crate::routing::{away, in_queue, submit_with};
use crate::{ANNA, person};

/// Perstorp: two demo caseworkers, `1275-01` (the reception generalist: every skill, cleared,
/// supervisor) and `1275-02`.
const PERSTORP: &str = "1275";

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

/// Every demo caseworker of `municipality`, as `/demo/caseworkers` lists them.
async fn staff_of(app: &TestApp, municipality: &str) -> Vec<Value> {
    let staff = app.get("/demo/caseworkers", None).await;
    assert_eq!(staff.status, StatusCode::OK, "{}", staff.body);
    staff
        .body
        .as_array()
        .expect("caseworkers")
        .iter()
        .filter(|c| c["municipality"] == municipality)
        .cloned()
        .collect()
}

/// A caseworker of `municipality` who is not the supervisor, with or without `skill`.
async fn colleague(app: &TestApp, municipality: &str, skill: &str, has: bool) -> String {
    staff_of(app, municipality)
        .await
        .into_iter()
        .find(|c| {
            c["supervisor"] == false
                && c["skills"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|x| x == skill) == has)
        })
        .and_then(|c| c["id"].as_str().map(str::to_owned))
        .expect("such a colleague")
}

/// Audit events of a case with this action.
async fn events(app: &TestApp, id: &str, action: &str) -> Vec<brygga::audit::AuditEntry> {
    app.store
        .audit_events(Some(&case_id(id)), 500)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

fn policies(answer: &crate::harness::Answer) -> Vec<String> {
    answer.body["policies"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The federation file with `edit` applied, for a test that needs a setting the shipped
/// federation does not have.
fn federation_with(edit: impl FnOnce(String) -> String) -> (tempfile::TempDir, std::path::PathBuf) {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy/federations/familjen-helsingborg.toml"),
    )
    .expect("the federation file");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("federation.toml");
    std::fs::write(&path, edit(text)).expect("write federation");
    (dir, path)
}

// ---------------------------------------------------------------------------------------------
// R10: a concern about a child can be neither withdrawn nor dropped
// ---------------------------------------------------------------------------------------------

/// R10: whoever reports a concern about a child — logged in or anonymous — cannot cancel it
/// (403, the forbid named, the refusal audited); the caseworker cannot close it as
/// `no_contact`; it is urgent and the answer shows 112 and the socialjour.
async fn r10_a_child_concern_can_be_neither_withdrawn_nor_dropped(backend: Backend) {
    let app = spawn(backend).await;
    let citizen = app.citizen(ANNA, PERSTORP).await;
    let submitted = app
        .post(
            "/api/v1/requests",
            Some(&citizen),
            json!({"category": "oro_barn", "language": "sv",
                   "text": "Jag är orolig för barnet i lägenheten bredvid.",
                   "consent": {"cross_municipality": false}}),
        )
        .await;
    assert_eq!(submitted.status, StatusCode::CREATED, "{}", submitted.body);
    assert_eq!(submitted.body["emergency"]["call"], "112");
    let id = submitted.body["id"].as_str().expect("id").to_owned();
    assert!(
        stored(&app, &id).await.urgent,
        "R10: urgent, whatever the federation file says"
    );

    let cancel = app
        .post(
            &format!("/api/v1/requests/{id}/cancel"),
            Some(&citizen),
            json!({}),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::FORBIDDEN, "{}", cancel.body);
    assert_eq!(policies(&cancel), vec!["R10-child-concern-not-withdrawn"]);
    let refusals = events(&app, &id, "access_denied").await;
    assert!(
        refusals.iter().any(|e| e
            .policies
            .contains(&"R10-child-concern-not-withdrawn".to_owned())),
        "the refusal is audited: {refusals:?}"
    );
    let seen = app
        .get(&format!("/api/v1/requests/{id}"), Some(&citizen))
        .await;
    assert_eq!(seen.body["state"], "queued", "{}", seen.body);

    // The anonymous reporter is held to the same.
    let anonymous = app
        .post(
            "/api/v1/requests",
            None,
            json!({"category": "oro_barn", "language": "sv", "text": "Barnet far illa.",
                   "consent": {"cross_municipality": false}, "municipality": PERSTORP}),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::CREATED, "{}", anonymous.body);
    let anonymous_id = anonymous.body["id"].as_str().expect("id").to_owned();
    let code = format!(
        "AccessCode {}",
        anonymous.body["access_code"].as_str().expect("code")
    );
    let cancel = app
        .post(
            &format!("/api/v1/requests/{anonymous_id}/cancel"),
            Some(&code),
            json!({}),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::FORBIDDEN, "{}", cancel.body);
    assert_eq!(policies(&cancel), vec!["R10-child-concern-not-withdrawn"]);

    // Home child protection takes it and cannot drop it as `no_contact`.
    let generalist = app.caseworker("1275-01").await;
    let claimed = app
        .post(
            &format!("/api/v1/cases/{id}/claim"),
            Some(&generalist),
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    let dropped = app
        .post(
            &format!("/api/v1/cases/{id}/close"),
            Some(&generalist),
            json!({"outcome": "no_contact"}),
        )
        .await;
    assert_eq!(
        (dropped.status, dropped.error()),
        (StatusCode::CONFLICT, "invalid_transition"),
        "{}",
        dropped.body
    );
    let closed = app
        .post(
            &format!("/api/v1/cases/{id}/close"),
            Some(&generalist),
            json!({"outcome": "referred_home"}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
}

/// R10 with R11: a reporter with skyddad folkbokföring whose home has no cleared caseworker
/// with the skill raises an alert to the home administrators (audited as
/// `child_concern_unstaffed`); with one, there is no such alert.
async fn r10_an_unstaffed_protected_child_concern_raises_an_alert(backend: Backend) {
    let app = spawn(backend).await;
    let protected = app
        .login(
            json!({"role": "citizen", "personnummer": ANNA, "municipality": PERSTORP,
                      "protection": "skyddad_folkbokforing"}),
        )
        .await;
    let staffed = submit_with(&app, &protected, "oro_barn", "sv", false).await;
    let staffed = staffed["id"].as_str().expect("id").to_owned();
    assert!(
        events(&app, &staffed, "child_concern_unstaffed")
            .await
            .is_empty(),
        "1275-01 is cleared and has the skill"
    );

    execute_sql(
        &app.database_url,
        "UPDATE caseworkers SET protected_identity_clearance = FALSE WHERE municipality = '1275'",
    )
    .await;
    let unstaffed = submit_with(&app, &protected, "oro_barn", "sv", false).await;
    let unstaffed = unstaffed["id"].as_str().expect("id").to_owned();
    let alerts = events(&app, &unstaffed, "child_concern_unstaffed").await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].municipality, PERSTORP);
    let case = stored(&app, &unstaffed).await;
    assert_eq!(case.home.as_str(), PERSTORP, "it stays home all the same");
}

// ---------------------------------------------------------------------------------------------
// R11 and R3: protection follows the citizen
// ---------------------------------------------------------------------------------------------

/// R11: the register's answer at each login is written to the citizen's open cases; a case a
/// partner holds goes home at once (one `protection_changed` transaction by `system:register`
/// that revokes the partner's access), and the partner no longer sees it.
async fn r11_protection_is_read_from_the_register_at_every_login(backend: Backend) {
    let app = spawn(backend).await;
    away(&app, "1275-01").await;
    away(&app, "1275-02").await;
    let citizen = app.citizen(ANNA, PERSTORP).await;
    let submitted = submit_with(&app, &citizen, "ekonomi", "sv", true).await;
    let id = submitted["id"].as_str().expect("id").to_owned();
    assert_eq!(submitted["ring"], 1, "nobody at home: widened at once");
    let partner = app.caseworker("1283-01").await;
    let claimed = app
        .post(
            &format!("/api/v1/cases/{id}/claim"),
            Some(&partner),
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);

    // The register now says skyddad folkbokföring.
    app.login(
        json!({"role": "citizen", "personnummer": ANNA, "municipality": PERSTORP,
                     "protection": "skyddad_folkbokforing"}),
    )
    .await;
    let case = stored(&app, &id).await;
    assert_eq!(case.protection.as_str(), "skyddad_folkbokforing");
    assert_eq!(case.state.as_str(), "queued", "back in the home queue");
    assert_eq!(case.ring, 0);
    let changed = events(&app, &id, "protection_changed").await;
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].actor, "system:register");
    let gone = app
        .get(&format!("/api/v1/cases/{id}"), Some(&partner))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.body);

    // And the other way: protection lifted by the register is lifted on the case.
    app.citizen(ANNA, PERSTORP).await;
    let case = stored(&app, &id).await;
    assert_eq!(case.protection.as_str(), "none");
}

/// R3: a citizen with skyddad folkbokföring whom the register places outside the federation
/// states the member where they are helped; without a statement the login is refused.
/// Fingerade personuppgifter are an identity of their own and follow the registered home.
async fn r3_skyddad_folkbokforing_outside_the_federation_states_a_member(backend: Backend) {
    let app = spawn(backend).await;
    let refused = app
        .post(
            "/demo/login",
            None,
            json!({"role": "citizen", "personnummer": ANNA, "municipality": "0180",
                   "protection": "skyddad_folkbokforing"}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "municipality_required")
    );
    let protected = app
        .login(
            json!({"role": "citizen", "personnummer": ANNA, "municipality": "0180",
                      "protection": "skyddad_folkbokforing", "stated_municipality": "1283"}),
        )
        .await;
    let submitted = submit_with(&app, &protected, "ekonomi", "sv", false).await;
    let id = submitted["id"].as_str().expect("id");
    let case = stored(&app, id).await;
    assert_eq!(case.home.as_str(), "1283");
    assert_eq!(case.protection.as_str(), "skyddad_folkbokforing");

    let fingerade = app
        .post(
            "/demo/login",
            None,
            json!({"role": "citizen", "personnummer": person(7), "municipality": "0180",
                   "protection": "fingerade", "stated_municipality": "1283"}),
        )
        .await;
    assert_eq!(
        (fingerade.status, fingerade.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "home_outside_federation")
    );
    let fingerade = app
        .login(
            json!({"role": "citizen", "personnummer": person(7), "municipality": PERSTORP,
                      "protection": "fingerade"}),
        )
        .await;
    let stated = app
        .post(
            "/api/v1/requests",
            Some(&fingerade),
            json!({"category": "ekonomi", "language": "sv", "text": "Hjälp med budget.",
                   "consent": {"cross_municipality": false}, "municipality": "1283"}),
        )
        .await;
    assert_eq!(stated.status, StatusCode::CREATED, "{}", stated.body);
    let case = stored(&app, stated.body["id"].as_str().expect("id")).await;
    assert_eq!(case.home.as_str(), PERSTORP, "the registered home");
}

// ---------------------------------------------------------------------------------------------
// R15: need to know
// ---------------------------------------------------------------------------------------------

/// R15: home staff without the category's skill see a case's metadata only — no citizen, no
/// thread — and the read is audited as such; skilled home staff read an open case; once it is
/// closed only its owner's municipality's supervisor (and the owner's history) remain.
async fn r15_content_is_read_on_a_need_to_know_basis(backend: Backend) {
    let app = spawn(backend).await;
    let helsingborg = "1283";
    let citizen = app.citizen(ANNA, helsingborg).await;
    let submitted = submit_with(&app, &citizen, "ekonomi", "sv", false).await;
    let id = submitted["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/cases/{id}");

    let unskilled = app
        .caseworker(&colleague(&app, helsingborg, "ekonomi", false).await)
        .await;
    let metadata = app.get(&path, Some(&unskilled)).await;
    assert_eq!(metadata.status, StatusCode::OK, "{}", metadata.body);
    assert!(metadata.body.get("citizen").is_none(), "{}", metadata.body);
    assert!(metadata.body.get("messages").is_none(), "{}", metadata.body);
    assert_eq!(metadata.body["legal_ground"], json!(["R4-home-staff"]));
    assert!(!events(&app, &id, "view_metadata").await.is_empty());

    let skilled_id = colleague(&app, helsingborg, "ekonomi", true).await;
    let skilled = app.caseworker(&skilled_id).await;
    let content = app.get(&path, Some(&skilled)).await;
    assert_eq!(content.body["citizen"]["personnummer"], ANNA);
    assert_eq!(
        content.body["messages"].as_array().map(Vec::len),
        Some(1),
        "{}",
        content.body
    );
    assert!(
        content.body["legal_ground"]
            .as_array()
            .expect("ground")
            .iter()
            .any(|p| p == "R15-home-staff-with-skill"),
        "{}",
        content.body
    );

    // The skilled colleague takes and closes it; then only the supervisor reads it.
    let owner = skilled.clone();
    let claimed = app
        .post(&format!("{path}/claim"), Some(&owner), json!({}))
        .await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    let closed = app
        .post(
            &format!("{path}/close"),
            Some(&owner),
            json!({"outcome": "advice_given"}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    let other_skilled = staff_of(&app, helsingborg)
        .await
        .into_iter()
        .find(|c| {
            c["supervisor"] == false
                && c["id"] != skilled_id.as_str()
                && c["skills"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|x| x == "ekonomi"))
        })
        .and_then(|c| c["id"].as_str().map(str::to_owned))
        .expect("another skilled colleague");
    let other_skilled = app.caseworker(&other_skilled).await;
    let after = app.get(&path, Some(&other_skilled)).await;
    assert_eq!(after.status, StatusCode::OK);
    assert!(after.body.get("citizen").is_none(), "{}", after.body);
    assert!(after.body.get("messages").is_none(), "{}", after.body);
    let supervisor = app.caseworker("1283-01").await;
    let supervised = app.get(&path, Some(&supervisor)).await;
    assert_eq!(supervised.body["citizen"]["personnummer"], ANNA);
    assert!(
        supervised.body["legal_ground"]
            .as_array()
            .expect("ground")
            .iter()
            .any(|p| p == "R15-home-supervisor"),
        "{}",
        supervised.body
    );
}

// ---------------------------------------------------------------------------------------------
// R12: who records a harm assessment
// ---------------------------------------------------------------------------------------------

/// R12: a home caseworker who neither has the case nor is the supervisor may not record a
/// harm assessment (403, audited); the one who has the case may, and the supervisor may.
async fn r12_the_owner_or_the_supervisor_records_the_harm_assessment(backend: Backend) {
    let app = spawn(backend).await;
    let helsingborg = "1283";
    let citizen = app
        .login(
            json!({"role": "citizen", "personnummer": ANNA, "municipality": helsingborg,
                      "protection": "sekretessmarkering"}),
        )
        .await;
    let submitted = submit_with(&app, &citizen, "ekonomi", "sv", true).await;
    let id = submitted["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/cases/{id}/harm-assessment");
    let body = json!({"cross_border_ok": false, "reason": "Uppgift om hot."});

    let other_id = colleague(&app, helsingborg, "ekonomi", true).await;
    let other = app.caseworker(&other_id).await;
    let refused = app.post(&path, Some(&other), body.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let refusals = events(&app, &id, "access_denied").await;
    assert!(
        refusals
            .iter()
            .any(|e| e.actor == format!("caseworker:{other_id}")),
        "the refused assessment is audited: {refusals:?}"
    );

    let supervisor = app.caseworker("1283-01").await;
    let by_supervisor = app.post(&path, Some(&supervisor), body.clone()).await;
    assert_eq!(
        by_supervisor.status,
        StatusCode::CREATED,
        "{}",
        by_supervisor.body
    );
    let recorded = events(&app, &id, "harm_assessment").await;
    assert!(
        recorded[0]
            .policies
            .contains(&"R12-assessed-by-supervisor".to_owned()),
        "{recorded:?}"
    );

    let claimed = app
        .post(
            &format!("/api/v1/cases/{id}/claim"),
            Some(&other),
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    let by_owner = app.post(&path, Some(&other), body).await;
    assert_eq!(by_owner.status, StatusCode::CREATED, "{}", by_owner.body);
    let recorded = events(&app, &id, "harm_assessment").await;
    assert!(
        recorded
            .iter()
            .any(|e| e.policies.contains(&"R12-assessed-by-owner".to_owned())),
        "{recorded:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// R2: identity numbers and eIDAS
// ---------------------------------------------------------------------------------------------

/// R2: a samordningsnummer the broker does not report as confirmed keeps the request at home,
/// consent or not; a confirmed one goes to the partners like a personnummer.
async fn r2_an_uncertain_samordningsnummer_stays_home(backend: Backend) {
    let app = spawn(backend).await;
    away(&app, "1275-01").await;
    away(&app, "1275-02").await;
    let birth = NaiveDate::from_ymd_opt(1990, 4, 12).expect("date");
    let number = Personnummer::from_parts(birth, 123, true).expect("samordningsnummer");
    let uncertain = app
        .login(json!({"role": "citizen", "personnummer": number.as_str(),
                      "municipality": PERSTORP, "coordination_level": "uncertain"}))
        .await;
    let submitted = submit_with(&app, &uncertain, "ekonomi", "sv", true).await;
    assert_eq!(submitted["ring"], 0, "{submitted}");
    let id = submitted["id"].as_str().expect("id").to_owned();
    let partner = app.caseworker("1283-01").await;
    assert!(in_queue(&app, &partner, &id).await.is_none());
    let trace = app
        .store
        .traces(&case_id(&id))
        .await
        .expect("traces")
        .into_iter()
        .map(|t| t.trace.to_string())
        .collect::<String>();
    assert!(
        trace.contains("R2-uncertain-samordningsnummer-stays-home"),
        "{trace}"
    );

    let confirmed = app
        .login(json!({"role": "citizen", "personnummer": number.as_str(),
                      "municipality": PERSTORP, "coordination_level": "confirmed"}))
        .await;
    let submitted = submit_with(&app, &confirmed, "ekonomi", "sv", true).await;
    assert_eq!(submitted["ring"], 1, "{submitted}");

    let bad_level = app
        .post(
            "/demo/login",
            None,
            json!({"role": "citizen", "personnummer": number.as_str(),
                   "municipality": PERSTORP, "coordination_level": "maybe"}),
        )
        .await;
    assert_eq!(bad_level.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// R2: a personnummer with serial number 000 is never issued, and is refused.
async fn r2_serial_number_000_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    // 1981-12-18, serial 000: the check digit of 811218000 is 8.
    for number in ["198112180008", "811218-0008"] {
        let refused = app
            .post(
                "/demo/login",
                None,
                json!({"role": "citizen", "personnummer": number, "municipality": PERSTORP}),
            )
            .await;
        assert_eq!(
            (refused.status, refused.error()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_personnummer"),
            "{number}: {}",
            refused.body
        );
    }
}

/// R2, R19: an eIDAS login without a Swedish number has a subject of its own: its citizen
/// lists, reads and exports their own requests, and two eIDAS citizens never share one.
async fn r2_eidas_citizens_find_their_own_requests(backend: Backend) {
    let app = spawn(backend).await;
    let login = |id: &str| json!({"role": "citizen", "loa": "eidas-high", "municipality": "1283", "eidas_id": id});
    let first = app.login(login("DE/SE/1234567890")).await;
    let second = app.login(login("FI/SE/0987654321")).await;
    let mine = submit_with(&app, &first, "ekonomi", "en", false).await;
    let mine = mine["id"].as_str().expect("id").to_owned();
    let theirs = submit_with(&app, &second, "ekonomi", "en", false).await;
    let theirs = theirs["id"].as_str().expect("id").to_owned();

    let listed = app.get("/api/v1/me/requests", Some(&first)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let ids: Vec<&str> = listed
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, vec![mine.as_str()]);
    let read = app
        .get(&format!("/api/v1/requests/{mine}"), Some(&first))
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let other = app
        .get(&format!("/api/v1/requests/{theirs}"), Some(&first))
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let export = app.get("/api/v1/me/export", Some(&first)).await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.body);
    let text = export.body.to_string();
    assert!(text.contains(&mine) && !text.contains(&theirs), "{text}");

    // The same identifier again is the same citizen.
    let again = app.login(login("DE/SE/1234567890")).await;
    let listed = app.get("/api/v1/me/requests", Some(&again)).await;
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1));
}

// ---------------------------------------------------------------------------------------------
// R8: consent covers the partners of the day it is given
// ---------------------------------------------------------------------------------------------

/// R8: consent to "every partner" is stored as the members an agreement joined to the home on
/// the day it was given, and shown to the citizen so; Båstad's agreement (from 1 June 2026)
/// does not widen a consent given in May, while a consent given in June covers Båstad.
async fn r8_consent_covers_the_partners_of_the_day_it_is_given(backend: Backend) {
    let app = spawn(backend).await;
    app.clock
        .advance(utc("2026-05-20T10:00:00Z") - app.clock.now());
    away(&app, "1275-01").await;
    away(&app, "1275-02").await;
    let citizen = app.citizen(ANNA, PERSTORP).await;
    let may = submit_with(&app, &citizen, "ekonomi", "sv", true).await;
    let may = may["id"].as_str().expect("id").to_owned();
    let seen = app
        .get(&format!("/api/v1/requests/{may}"), Some(&citizen))
        .await;
    let covered = seen.body["consent"]["municipalities"].to_string();
    assert!(
        covered.contains("1283") && !covered.contains("1278"),
        "{}",
        seen.body
    );

    app.advance(13 * 24 * 3600).await;
    let citizen = app.citizen(ANNA, PERSTORP).await;
    let june = submit_with(&app, &citizen, "ekonomi", "sv", true).await;
    let june = june["id"].as_str().expect("id").to_owned();
    let seen = app
        .get(&format!("/api/v1/requests/{june}"), Some(&citizen))
        .await;
    assert!(
        seen.body["consent"]["municipalities"]
            .to_string()
            .contains("1278"),
        "{}",
        seen.body
    );

    let bastad = app.caseworker("1278-01").await;
    let helsingborg = app.caseworker("1283-01").await;
    assert!(in_queue(&app, &bastad, &june).await.is_some());
    assert!(
        in_queue(&app, &helsingborg, &may).await.is_some(),
        "still waiting"
    );
    assert!(
        in_queue(&app, &bastad, &may).await.is_none(),
        "R8: an agreement that started later does not widen May's consent"
    );
}

// ---------------------------------------------------------------------------------------------
// R16: categories that record no identity
// ---------------------------------------------------------------------------------------------

/// R16: where the nämnd decided that identity is not recorded for a kind of advice, a
/// logged-in citizen's request is stored without it: they get an access code, it is not among
/// their requests, and the caseworker sees an anonymous request from their home.
async fn r16_a_category_that_records_no_identity_is_handled_anonymously(backend: Backend) {
    let (_dir, file) = federation_with(|text| {
        text.replace(
            "id = \"familjeradgivning\"\n",
            "id = \"familjeradgivning\"\nrecord_identity = false\n",
        )
    });
    let (listener, _) = crate::harness::bind();
    let app = spawn_on(backend, listener, true, move |config| {
        config.federation_file = Some(file);
    })
    .await;
    let citizen = app.citizen(ANNA, PERSTORP).await;
    let submitted = app
        .post(
            "/api/v1/requests",
            Some(&citizen),
            json!({"category": "familjeradgivning", "language": "sv",
                   "text": "Vi bråkar hela tiden.", "consent": {"cross_municipality": false}}),
        )
        .await;
    assert_eq!(submitted.status, StatusCode::CREATED, "{}", submitted.body);
    let id = submitted.body["id"].as_str().expect("id").to_owned();
    let code = submitted.body["access_code"]
        .as_str()
        .expect("an access code instead of the identity")
        .to_owned();
    let case = stored(&app, &id).await;
    assert!(case.is_anonymous(), "{case:?}");
    assert_eq!(case.home.as_str(), PERSTORP, "helped where they live");
    let mine = app.get("/api/v1/me/requests", Some(&citizen)).await;
    assert!(!mine.body.to_string().contains(&id), "{}", mine.body);
    let read = app
        .get(
            &format!("/api/v1/requests/{id}"),
            Some(&format!("AccessCode {code}")),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);

    // Other categories record identity as before.
    let identified = submit_with(&app, &citizen, "ekonomi", "sv", false).await;
    assert!(identified.get("access_code").is_none(), "{identified}");
}

on_both_backends!(
    r10_a_child_concern_can_be_neither_withdrawn_nor_dropped,
    r10_an_unstaffed_protected_child_concern_raises_an_alert,
    r11_protection_is_read_from_the_register_at_every_login,
    r3_skyddad_folkbokforing_outside_the_federation_states_a_member,
    r15_content_is_read_on_a_need_to_know_basis,
    r12_the_owner_or_the_supervisor_records_the_harm_assessment,
    r2_an_uncertain_samordningsnummer_stays_home,
    r2_serial_number_000_is_refused,
    r2_eidas_citizens_find_their_own_requests,
    r8_consent_covers_the_partners_of_the_day_it_is_given,
    r16_a_category_that_records_no_identity_is_handled_anonymously,
);
