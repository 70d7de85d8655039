//! Policy governance over HTTP (issue 21, point 5): a new version keeps the legal baseline
//! compiled into the binary (the shipped tests, every policy named by a test, every R-rule at
//! least three tests of its own with an allow and a deny), and the impact report replays the
//! last 30 days' routing and access decisions under a stored version without personal data.
//! The four-eyes rule on activation is in `policies::policy_versions_are_checked_activated_and_
//! simulated`.

use reqwest::StatusCode;
use serde_json::json;

use brygga::policy::{engine, testing};

use crate::harness::{Answer, Backend, TestApp, spawn};
use crate::routing::{federation_admin, submit_with};
use crate::{ANNA, person};

const POLICIES: &str = "/api/v1/admin/policies";

/// Stores `text` (with `tests` when given) as a federation administrator.
async fn store_version(app: &TestApp, admin: &str, text: &str, tests: Option<&str>) -> Answer {
    let mut body = json!({ "text": text });
    if let Some(tests) = tests {
        body["tests"] = json!(tests);
    }
    app.post(POLICIES, Some(admin), body).await
}

/// The errors of a refused version, as strings.
fn errors(answer: &Answer) -> Vec<String> {
    answer.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "policy_invalid");
    answer.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e.as_str().expect("a sentence").to_owned())
        .collect()
}

/// `text` with `from` replaced once by `to`, failing loudly when the shipped text moved on.
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "exactly one {from:?}");
    text.replacen(from, to, 1)
}

/// `tests` with the test named `name` changed: `from` (once in its `[[test]]` table) → `to`.
fn rewrite_test(tests: &str, name: &str, from: &str, to: &str) -> String {
    let named = tests
        .find(&format!("name = \"{name}\""))
        .unwrap_or_else(|| panic!("a test named {name:?}"));
    let at = tests[..named].rfind("[[test]]").expect("its table");
    let (before, after) = tests.split_at(at);
    let next = after[1..].find("[[test]]").map_or(after.len(), |n| n + 1);
    let (block, rest) = after.split_at(next);
    format!("{before}{}{rest}", replaced(block, from, to))
}

/// The shipped R12 reading, where a favourable harm assessment lets sekretessmarkering cross.
const R12_SHIPPED: &str = "  resource.protection == \"sekretessmarkering\" &&\n  resource.harm_assessment != \"cross_border_ok\"\n";
/// A stricter reading of the open question R12: sekretessmarkering never crosses a border.
const R12_STRICT: &str = "  resource.protection == \"sekretessmarkering\"\n";
const R12_PARTNER_TEST: &str =
    "A request with sekretessmarkering may go to a partner after a harm assessment allowing it";

/// The stricter R12 reading and its own tests (the shipped ones, with the one route test that
/// rests on the shipped reading rewritten to the new one).
fn strict_r12() -> (String, String) {
    let text = replaced(&engine::default_text(), R12_SHIPPED, R12_STRICT);
    let tests = rewrite_test(
        &testing::default_text(),
        R12_PARTNER_TEST,
        "decision = \"allow\"\npolicies = [\"R5-agreement-service\"]\nring = 1\n",
        "decision = \"deny\"\npolicies = [\"R12-harm-assessment-required\"]\n",
    );
    // Without consent, the new reading refuses as well.
    let tests = rewrite_test(
        &tests,
        "A favourable harm assessment does not replace the citizen's consent",
        "policies = [\"R8-no-consent\"]",
        "policies = [\"R12-harm-assessment-required\", \"R8-no-consent\"]",
    );
    (text, tests)
}

/// A legal rule weakened, with the version's own tests rewritten to match: the own tests pass,
/// the baseline compiled into the binary does not, and its error names the baseline test.
async fn a_weakened_legal_rule_is_refused_by_the_baseline(backend: Backend) {
    let app = spawn(backend).await;
    let admin = federation_admin(&app).await;
    // R10: an anonymous concern about a child could leave home (were it not refused by the
    // other rules as well — the baseline still wants R10 named).
    let weakened = replaced(
        &engine::default_text(),
        "when { principal != resource.home && resource.child_concern };",
        "when { principal != resource.home && resource.child_concern && !resource.anonymous };",
    );
    let own = replaced(
        &testing::default_text(),
        "policies = [\"R10-child-concern-stays-home\", \"category-must-stay-home\", \
         \"R6-authority-stays-home\", \"R4-no-covering-agreement\"]",
        "policies = [\"category-must-stay-home\", \"R6-authority-stays-home\", \
         \"R4-no-covering-agreement\"]",
    );
    let refused = errors(&store_version(&app, &admin, &weakened, Some(&own)).await);
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert!(
        refused[0].starts_with("baseline test failed [R10] An anonymous concern about a child"),
        "{refused:#?}"
    );
    assert!(
        refused[0].contains("R10-child-concern-stays-home"),
        "{refused:#?}"
    );

    // Without tests of its own the version is held to the active version's tests, which fail
    // as well: both say so.
    let refused = errors(&store_version(&app, &admin, &weakened, None).await);
    assert!(
        refused.iter().any(|e| e.starts_with("test failed [R10]")),
        "{refused:#?}"
    );
    assert!(
        refused
            .iter()
            .any(|e| e.starts_with("baseline test failed [R10]")),
        "{refused:#?}"
    );

    // A fixed legal rule dropped together with every test of it: the baseline still has them.
    let without_r11_tests: String = testing::DEFAULT_FILES
        .iter()
        .filter(|(name, _)| *name != "r11.toml")
        .map(|(_, text)| *text)
        .collect::<Vec<_>>()
        .join("\n");
    let gone = engine::default_text().replace(
        "@id(\"R11-protected-identity-stays-home\")",
        "@id(\"R11-protected-identity-stays-home\")\n@ring(\"1\")",
    );
    let gone = replaced(
        &gone,
        "forbid (principal, action == Action::\"route\", resource)\nwhen {\n  principal != resource.home &&\n  [\"skyddad_folkbokforing\"",
        "permit (principal, action == Action::\"route\", resource)\nwhen {\n  principal != resource.home &&\n  [\"skyddad_folkbokforing\"",
    );
    let refused = errors(&store_version(&app, &admin, &gone, Some(&without_r11_tests)).await);
    assert!(
        refused
            .iter()
            .any(|e| e.starts_with("baseline test failed [R11]")),
        "{refused:#?}"
    );
    assert!(
        refused
            .iter()
            .any(|e| e.starts_with("rule R11 needs at least 3 tests")),
        "{refused:#?}"
    );
    // Nothing was stored.
    let listing = app.get(POLICIES, Some(&admin)).await;
    assert_eq!(
        listing.body["versions"].as_array().map(Vec::len),
        Some(1),
        "{}",
        listing.body
    );
}

/// Every policy id is named by a test; every R-rule keeps three tests of its own (an allow and
/// a deny); a harmless addition with its own test is stored.
async fn every_policy_is_tested_and_every_rule_keeps_three_tests(backend: Backend) {
    let app = spawn(backend).await;
    let admin = federation_admin(&app).await;
    let extra = "\n// The home municipality handles övrigt as any other category.\n\
                 @id(\"home-handles-ovrigt\")\n@ring(\"0\")\n\
                 permit (principal, action == Action::\"route\", resource)\n\
                 when { principal == resource.home && resource.category == \"ovrigt\" };\n";
    let text = format!("{}{extra}", engine::default_text());

    // Its policy named by no test: refused, naming it.
    let refused = errors(&store_version(&app, &admin, &text, None).await);
    assert_eq!(
        refused,
        vec![
            "policy without a test: home-handles-ovrigt (no test names it in `policies`)"
                .to_owned()
        ]
    );

    let own_test = "\n[[test]]\nrule = \"home-handles-ovrigt\"\n\
                    name = \"The home municipality handles övrigt\"\naction = \"route\"\n\
                    principal = { type = \"municipality\", id = \"1275\" }\n\
                    resource = { type = \"case\", home = \"1275\", category = \"ovrigt\" }\n\
                    context = { today = 20261123 }\ndecision = \"allow\"\n\
                    policies = [\"R4-home-municipality\", \"home-handles-ovrigt\"]\nring = 0\n";
    // R16's tests thinned to two, both allowing: below three, and no deny.
    let thinned: String = testing::DEFAULT_FILES
        .iter()
        .map(|(name, text)| {
            if *name == "r16.toml" {
                text.split("[[test]]")
                    .take(3)
                    .collect::<Vec<_>>()
                    .join("[[test]]")
            } else {
                (*text).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let refused =
        errors(&store_version(&app, &admin, &text, Some(&format!("{thinned}{own_test}"))).await);
    assert_eq!(
        refused,
        vec![
            "rule R16 needs at least 3 tests in this version's tests, at least one allow and \
             one deny: it has 2 (2 allow, 0 deny)"
                .to_owned()
        ]
    );
    // A test the version fails is named as its own.
    let wrong = own_test.replace("ring = 0", "ring = 1");
    let refused = errors(
        &store_version(
            &app,
            &admin,
            &text,
            Some(&format!("{}{wrong}", testing::default_text())),
        )
        .await,
    );
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert!(
        refused[0].starts_with("test failed [home-handles-ovrigt] The home municipality handles"),
        "{refused:#?}"
    );
    // Tests that do not parse: the place is named.
    let broken = errors(&store_version(&app, &admin, &text, Some("[[test]]\nrule = 5")).await);
    assert_eq!(broken.len(), 1, "{broken:#?}");
    assert!(broken[0].starts_with("tests:"), "{broken:#?}");

    // The shipped tests with its own: stored, by its author, not active.
    let tests = format!("{}{own_test}", testing::default_text());
    let created = store_version(&app, &admin, &text, Some(&tests)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["version"], 2);
    let listing = app.get(POLICIES, Some(&admin)).await;
    assert_eq!(listing.body["active"], 1);
    let stored = listing.body["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .find(|v| v["version"] == 2)
        .expect("version 2")
        .clone();
    assert_eq!(stored["author"], "admin:demo-admin-federation-1");
    assert_eq!(stored["tests"], tests.as_str());
    assert_eq!(stored["active"], false);
    // The shipped set itself with the shipped tests is stored too.
    let shipped = store_version(&app, &admin, &engine::default_text(), None).await;
    assert_eq!(shipped.status, StatusCode::CREATED, "{}", shipped.body);
}

/// The impact of a stricter reading of the open question R12 (the baseline leaves open
/// questions to the version's own tests), replayed on the last 30 days' cases: counted per
/// rule, with examples that carry no personal data; federation administrators only, audited.
async fn the_impact_report_replays_the_last_30_days(backend: Backend) {
    let app = spawn(backend).await;
    // An old case, from before the 30 days.
    let old = app.citizen(&person(1), "1275").await;
    let old_id = submit_with(&app, &old, "ekonomi", "sv", true).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.advance(31 * 24 * 3600).await;

    let admin = federation_admin(&app).await;
    let local_admin = app
        .login(json!({"role": "admin", "municipality": "1275"}))
        .await;
    let caseworker = app.caseworker("1275-01").await;

    // Recent cases: two ordinary ones and one with sekretessmarkering whose home recorded a
    // harm assessment allowing it to cross.
    let mut ids = Vec::new();
    for (n, consent) in [(2, true), (3, false)] {
        let citizen = app.citizen(&person(n), "1275").await;
        let submitted = submit_with(&app, &citizen, "ekonomi", "sv", consent).await;
        ids.push(submitted["id"].as_str().expect("id").to_owned());
    }
    let marked = app
        .login(
            json!({"role": "citizen", "personnummer": ANNA, "municipality": "1275",
                      "protection": "sekretessmarkering"}),
        )
        .await;
    let text = "Min granne får inte veta var jag bor.";
    let submitted = app
        .post(
            "/api/v1/requests",
            Some(&marked),
            json!({"category": "ekonomi", "language": "sv", "text": text,
                   "consent": {"cross_municipality": true}}),
        )
        .await;
    assert_eq!(submitted.status, StatusCode::CREATED, "{}", submitted.body);
    let marked_id = submitted.body["id"].as_str().expect("id").to_owned();
    ids.push(marked_id.clone());
    let reason = "Ingen risk att uppgifterna röjs hos Helsingborg.";
    let assessed = app
        .post(
            &format!("/api/v1/cases/{marked_id}/harm-assessment"),
            Some(&caseworker),
            json!({"cross_border_ok": true, "reason": reason}),
        )
        .await;
    assert_eq!(assessed.status, StatusCode::CREATED, "{}", assessed.body);

    let (strict, own) = strict_r12();
    // The new reading is the version's to test: thinned below three allowing-and-denying
    // route tests of R12, it is refused.
    let thin = rewrite_test(
        &own,
        "The home municipality handles a request with sekretessmarkering without any harm assessment",
        "rule = \"R12\"",
        "rule = \"R12-home\"",
    );
    let refused = errors(&store_version(&app, &admin, &strict, Some(&thin)).await);
    assert!(
        refused
            .iter()
            .any(|e| e.starts_with("rule R12 is an open legal question")),
        "{refused:#?}"
    );
    let created = store_version(&app, &admin, &strict, Some(&own)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let version = created.body["version"].as_i64().expect("version");

    let path = format!("{POLICIES}/{version}/impact");
    let report = app.post(&path, Some(&admin), json!({})).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let body = &report.body;
    assert_eq!(body["version"], version);
    assert_eq!(body["compared_with"], 1);
    assert_eq!(body["cases"], 3, "the old case is not replayed: {body}");
    let routing = body["changes"]["routing"].as_u64().expect("routing");
    assert!(routing > 0, "{body}");
    assert_eq!(body["changes"]["access"], 0, "{body}");
    assert_eq!(body["changes"]["cases"], 1, "{body}");
    assert_eq!(
        body["by_rule"]["R12-harm-assessment-required"].as_u64(),
        Some(routing),
        "{body}"
    );
    let examples = body["examples"].as_array().expect("examples");
    assert_eq!(examples.len() as u64, routing.min(20), "{body}");
    let example = &examples[0];
    assert_eq!(example["kind"], "routing");
    assert_eq!(example["case_category"], "ekonomi");
    assert_eq!(example["home"], "1275");
    assert_ne!(example["municipality"], "1275");
    assert_eq!(example["before"]["allowed"], true);
    assert_eq!(
        example["before"]["policies"],
        json!(["R5-agreement-service"])
    );
    assert_eq!(example["after"]["allowed"], false);
    assert!(
        example["after"]["policies"]
            .as_array()
            .expect("policies")
            .contains(&json!("R12-harm-assessment-required")),
        "{example}"
    );
    // No personal data: no personnummer, no case id, no text, no assessment's reason.
    let serialized = body.to_string();
    for secret in [ANNA, &person(2), &person(3), text, reason, &old_id]
        .into_iter()
        .chain(ids.iter().map(String::as_str))
    {
        assert!(!serialized.contains(secret), "{secret} in {serialized}");
    }
    assert!(body.get("case_id").is_none() && example.get("id").is_none());

    // Audited on the federation's chain, naming the administrator.
    let audit = app.store.audit_events(None, 500).await.expect("audit");
    let event = audit
        .iter()
        .find(|e| e.action == "policy_impact")
        .expect("the replay is audited");
    assert_eq!(event.actor, "admin:demo-admin-federation-1");
    assert!(event.actor_name.is_some());
    assert_eq!(event.case_id, None);
    assert_eq!(event.detail["version"], version);
    assert_eq!(event.detail["cases"], 3);
    assert_eq!(event.detail["changes"]["routing"], routing);
    assert!(!event.detail.to_string().contains(&marked_id));

    // The active version against itself: nothing changes.
    let same = app
        .post(&format!("{POLICIES}/1/impact"), Some(&admin), json!({}))
        .await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.body);
    assert_eq!(same.body["cases"], 3);
    assert_eq!(
        same.body["changes"],
        json!({"routing": 0, "access": 0, "cases": 0, "grounds": 0})
    );
    assert_eq!(same.body["by_rule"], json!({}));
    assert_eq!(same.body["examples"], json!([]));

    // Not for a municipality's administrator, nor a caseworker; an unknown version is 404.
    let local = app.post(&path, Some(&local_admin), json!({})).await;
    local.assert_error(StatusCode::FORBIDDEN, "forbidden");
    let refused = app
        .store
        .audit_events(None, 500)
        .await
        .expect("audit")
        .into_iter()
        .find(|e| e.action == "access_denied" && e.actor == "admin:demo-admin-1275")
        .expect("the refusal is audited");
    assert_eq!(refused.detail["action"], "administer");
    let by_caseworker = app.post(&path, Some(&caseworker), json!({})).await;
    by_caseworker.assert_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        app.post(&path, None, json!({})).await.status,
        StatusCode::UNAUTHORIZED
    );
    for unknown in ["99", "x", "-1"] {
        let missing = app
            .post(
                &format!("{POLICIES}/{unknown}/impact"),
                Some(&admin),
                json!({}),
            )
            .await;
        assert_eq!(
            (missing.status, missing.error()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{unknown}"
        );
    }

    // Activated by the second pair of eyes, the new version is what the next report compares
    // with: against itself, nothing changes; the shipped version would open the border again.
    let second = app
        .login(json!({"role": "admin", "admin_id": "demo-admin-federation-2"}))
        .await;
    let activated = app
        .post(
            &format!("{POLICIES}/{version}/activate"),
            Some(&second),
            json!({}),
        )
        .await;
    assert_eq!(activated.status, StatusCode::OK, "{}", activated.body);
    let itself = app.post(&path, Some(&second), json!({})).await;
    assert_eq!(itself.body["compared_with"], version);
    assert_eq!(itself.body["changes"]["routing"], 0, "{}", itself.body);
    let back = app
        .post(&format!("{POLICIES}/1/impact"), Some(&second), json!({}))
        .await;
    assert_eq!(back.body["changes"]["routing"], routing, "{}", back.body);
    assert_eq!(
        back.body["examples"][0]["after"]["policies"],
        json!(["R5-agreement-service"])
    );
}

on_both_backends!(
    a_weakened_legal_rule_is_refused_by_the_baseline,
    every_policy_is_tested_and_every_rule_keeps_three_tests,
    the_impact_report_replays_the_last_30_days,
);
