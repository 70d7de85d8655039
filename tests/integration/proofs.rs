//! Proven, not only tested (issue 23): the shipped policies prove every legal invariant of
//! src/policy/proofs.rs; a copy without an invariant's guard breaks it, and the
//! counterexample's words name what matters. Needs the SMT solver cvc5 (`scripts/test`
//! installs Debian's; `BRYGGA_TEST_CVC5` names another) and fails without it, never skips.

use std::str::FromStr;

use brygga::policy::engine::{SCHEMA_TEXT as SCHEMA, default_text};
use brygga::policy::proofs::{self, Counterexample, Outcome, Verdict, VerifyError};
use cedar_policy::{Decision, PolicySet};

/// The shipped set as one text, the way the engine stores a version.
fn shipped() -> String {
    default_text()
}

fn solver() -> String {
    let path = std::env::var("BRYGGA_TEST_CVC5").unwrap_or_else(|_| "/usr/bin/cvc5".into());
    assert!(
        std::path::Path::new(&path).is_file(),
        "{path} is missing: the policy proofs need the SMT solver cvc5. Run ./scripts/test as \
         root (it installs it), or `apt-get install cvc5`."
    );
    path
}

fn id_of(p: &cedar_policy::Policy) -> Option<&str> {
    p.annotation("id")
}

/// The set without the policy `id` (each policy's own text, annotations included).
fn without(text: &str, id: &str) -> String {
    let set = PolicySet::from_str(text).unwrap();
    let before = set.policies().count();
    assert!(
        set.policies().any(|p| id_of(p) == Some(id)),
        "no policy {id}"
    );
    let kept: Vec<String> = set
        .policies()
        .filter(|p| id_of(p) != Some(id))
        .map(|p| p.to_string())
        .collect();
    let out = kept.join("\n\n");
    let again = PolicySet::from_str(&out).unwrap();
    assert_eq!(again.policies().count(), before - 1);
    // Every other policy kept its @id (so the text included the annotations).
    assert_eq!(
        again.policies().filter(|p| id_of(p).is_some()).count(),
        before - 1
    );
    out
}

/// The set with one piece of a policy's text replaced (exactly one occurrence changes).
fn replacing(text: &str, old: &str, new: &str) -> String {
    assert!(text.contains(old), "mutation target not found: {old}");
    text.replacen(old, new, 1)
}

fn run(text: &str) -> Vec<Outcome> {
    let outcomes = proofs::verify(SCHEMA, text, &solver()).expect("verification runs");
    for o in &outcomes {
        assert!(
            !matches!(o.verdict, Verdict::Failed(_)),
            "a proof failed to run: {o}"
        );
    }
    outcomes
}

/// The counterexamples of one invariant; panics if it was proven everywhere.
fn broken<'a>(outcomes: &'a [Outcome], invariant: &str) -> Vec<&'a Counterexample> {
    let found: Vec<&Counterexample> = outcomes
        .iter()
        .filter(|o| o.invariant == invariant)
        .filter_map(|o| match &o.verdict {
            Verdict::Broken(c) => Some(&**c),
            _ => None,
        })
        .collect();
    assert!(!found.is_empty(), "{invariant} was not broken");
    for c in &found {
        println!("{}\n", c.words);
    }
    found
}

fn proven_everywhere(outcomes: &[Outcome], invariant: &str) {
    let mine: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.invariant == invariant)
        .collect();
    assert!(
        mine.iter().any(|o| matches!(o.verdict, Verdict::Proven)),
        "{invariant} applies nowhere"
    );
    for o in mine {
        assert!(!o.is_broken(), "{o}");
    }
}

/// Only the invariant under test breaks: a mutation says what it removed.
fn only_broken(outcomes: &[Outcome], invariant: &str) {
    for o in outcomes.iter().filter(|o| o.is_broken()) {
        assert_eq!(o.invariant, invariant, "unexpectedly broken: {o}");
    }
}

fn says(c: &Counterexample, words: &[&str]) {
    for w in words {
        assert!(c.words.contains(w), "words lack {w:?}:\n{}", c.words);
    }
}

#[test]
fn shipped_policies_prove_every_invariant() {
    let outcomes = run(&shipped());
    for o in &outcomes {
        println!("{o}");
    }
    for inv in proofs::invariants() {
        proven_everywhere(&outcomes, inv.id);
    }
}

#[test]
fn r10_child_concern_routed_away_without_its_forbid() {
    let text = without(&shipped(), "R10-child-concern-stays-home");
    let outcomes = run(&text);
    only_broken(&outcomes, "R10-child-concern-never-routed-away");
    for c in broken(&outcomes, "R10-child-concern-never-routed-away") {
        assert_eq!(c.decision, Decision::Allow);
        says(
            c,
            &[
                "`route`",
                "resource.child_concern = true",
                "The policies allow it, by: ",
            ],
        );
        assert!(!c.determined_by.is_empty());
    }
}

#[test]
fn r10_child_concern_withdrawn_without_its_forbid() {
    let outcomes = run(&without(&shipped(), "R10-child-concern-not-withdrawn"));
    only_broken(&outcomes, "R10-child-concern-never-withdrawn");
    let found = broken(&outcomes, "R10-child-concern-never-withdrawn");
    for c in &found {
        says(c, &["`cancel`", "resource.child_concern = true"]);
    }
    // The citizen's own request (R19) and the anonymous reporter (R1) both could.
    let by: Vec<&String> = found.iter().flat_map(|c| &c.determined_by).collect();
    assert!(by.iter().any(|p| *p == "R19-own-data"), "{by:?}");
    assert!(
        by.iter().any(|p| *p == "R1-anonymous-access-code"),
        "{by:?}"
    );
}

#[test]
fn r11_uncleared_staff_reach_protected_case_without_its_forbid() {
    let outcomes = run(&without(&shipped(), "R11-protected-identity"));
    only_broken(&outcomes, "R11-protected-identity-only-cleared-home-staff");
    for c in broken(&outcomes, "R11-protected-identity-only-cleared-home-staff") {
        says(
            c,
            &[
                "Caseworker",
                "resource.protection = ",
                "principal.protected_identity_clearance = ",
            ],
        );
        assert!(c.words.contains("skyddad_folkbokforing") || c.words.contains("fingerade"));
    }
}

#[test]
fn r11_fingerade_routed_away_without_its_forbid() {
    // R3-stated-home-under-protection still keeps skyddad folkbokföring home: the solver must
    // find the other protection, fingerade personuppgifter.
    let outcomes = run(&without(&shipped(), "R11-protected-identity-stays-home"));
    only_broken(&outcomes, "R11-protected-identity-never-routed-away");
    for c in broken(&outcomes, "R11-protected-identity-never-routed-away") {
        says(c, &["`route`", "resource.protection = \"fingerade\""]);
    }
}

#[test]
fn r9_cross_border_access_without_routing_without_its_forbid() {
    let outcomes = run(&without(&shipped(), "R9-cross-border-access-ends"));
    only_broken(&outcomes, "R9-no-access-outside-home-without-routing");
    for c in broken(&outcomes, "R9-no-access-outside-home-without-routing") {
        says(
            c,
            &[
                "Caseworker",
                "principal.municipality = ",
                "resource.home = ",
            ],
        );
        assert!(
            c.words.contains("context.handler.permitted = absent")
                || c.words.contains("context.handler.permitted = false"),
            "{}",
            c.words
        );
    }
}

#[test]
fn r1_identified_request_routed_below_loa3_without_its_forbid() {
    let outcomes = run(&without(&shipped(), "R1-identified-request-needs-loa3"));
    only_broken(&outcomes, "R1-identified-request-never-routed-below-loa3");
    for c in broken(&outcomes, "R1-identified-request-never-routed-below-loa3") {
        says(c, &["resource.anonymous = false", "resource.loa = "]);
    }
}

#[test]
fn r1_citizen_below_loa3_without_its_forbid() {
    let outcomes = run(&without(&shipped(), "R1-citizen-needs-loa3"));
    only_broken(&outcomes, "R1-citizen-below-loa3-gets-nothing");
    for c in broken(&outcomes, "R1-citizen-below-loa3-gets-nothing") {
        says(c, &["Citizen", "principal.loa = ", "R19-own-data"]);
    }
}

#[test]
fn r8_holds_without_its_forbid_because_the_permits_ask_for_consent_too() {
    let outcomes = run(&without(&shipped(), "R8-no-consent"));
    proven_everywhere(
        &outcomes,
        "R8-identifiable-request-needs-consent-to-leave-home",
    );
}

#[test]
fn r8_identifiable_request_leaves_home_without_consent() {
    // Both guards gone: R8-no-consent, and the consent clause of R5-agreement-service.
    let text = replacing(
        &without(&shipped(), "R8-no-consent"),
        "(resource.anonymous ||
    (resource.consent.cross_municipality &&
      (!resource.consent.limited ||
        resource.consent.municipalities.contains(principal))))",
        "true",
    );
    let outcomes = run(&text);
    only_broken(
        &outcomes,
        "R8-identifiable-request-needs-consent-to-leave-home",
    );
    for c in broken(
        &outcomes,
        "R8-identifiable-request-needs-consent-to-leave-home",
    ) {
        says(
            c,
            &[
                "resource.anonymous = false",
                "resource.consent.cross_municipality = ",
                "R5-agreement-service",
            ],
        );
    }
}

#[test]
fn r6_holds_without_its_forbid_because_the_permit_asks_for_delegation_too() {
    let outcomes = run(&without(&shipped(), "R6-authority-stays-home"));
    proven_everywhere(&outcomes, "R6-authority-leaves-home-only-under-delegation");
}

#[test]
fn r6_authority_leaves_home_without_delegation() {
    let text = replacing(
        &without(&shipped(), "R6-authority-stays-home"),
        "  context.agreement.delegates_authority &&\n",
        "",
    );
    let outcomes = run(&text);
    only_broken(&outcomes, "R6-authority-leaves-home-only-under-delegation");
    for c in broken(&outcomes, "R6-authority-leaves-home-only-under-delegation") {
        says(
            c,
            &[
                "resource.kind = \"authority\"",
                "context.agreement.delegates_authority = false",
                "R6-delegated-authority",
            ],
        );
    }
}

#[test]
fn r16_administrator_reaches_other_municipalitys_cases() {
    let text = replacing(
        &shipped(),
        "when { principal has municipality && principal.municipality == resource.home };",
        "when { principal has municipality };",
    );
    let outcomes = run(&text);
    only_broken(&outcomes, "R16-municipality-administrator-only-own-cases");
    for c in broken(&outcomes, "R16-municipality-administrator-only-own-cases") {
        says(
            c,
            &[
                "Admin",
                "principal.municipality = ",
                "resource.home = ",
                "R16-home-administrator",
            ],
        );
    }
}

#[test]
fn municipality_administrator_administers_the_federation() {
    let text = replacing(&shipped(), "when { !(principal has municipality) };", ";");
    let outcomes = run(&text);
    // Every administrator now acts on every case too: R16's invariant breaks as well.
    for o in outcomes.iter().filter(|o| o.is_broken()) {
        assert!(
            o.invariant == "federation-only-federation-administrators"
                || o.invariant == "R16-municipality-administrator-only-own-cases",
            "unexpectedly broken: {o}"
        );
    }
    broken(&outcomes, "R16-municipality-administrator-only-own-cases");
    let c = broken(&outcomes, "federation-only-federation-administrators");
    for c in c {
        says(
            c,
            &[
                "Admin",
                "Federation",
                "principal.municipality = Municipality #1",
                "federation-administrator",
            ],
        );
    }
}

#[test]
fn federation_locked_out_without_its_permit() {
    let outcomes = run(&without(&shipped(), "federation-administrator"));
    only_broken(&outcomes, "federation-administrators-can-administer");
    for c in broken(&outcomes, "federation-administrators-can-administer") {
        assert_eq!(c.decision, Decision::Deny);
        says(
            c,
            &[
                "`administer`",
                "Federation",
                "default deny",
                "principal.municipality = absent",
            ],
        );
    }
}

#[test]
fn a_policy_that_can_overflow_is_named() {
    let text = format!(
        "{}\n@id(\"R14-minor-next-birthday\")
forbid (principal, action == Action::\"route\", resource)
when {{ principal != resource.home && resource has age && resource.age + 1 <= 18 }};\n",
        shipped()
    );
    let outcomes = run(&text);
    only_broken(&outcomes, "policies-never-error");
    for c in broken(&outcomes, "policies-never-error") {
        assert_eq!(
            c.erroring_policy.as_deref(),
            Some("R14-minor-next-birthday")
        );
        says(
            c,
            &["R14-minor-next-birthday", "resource.age = ", "overflow"],
        );
    }
}

#[test]
fn a_missing_solver_is_an_error_not_a_proof() {
    let err = proofs::verify(SCHEMA, &shipped(), "/nonexistent/cvc5").unwrap_err();
    assert!(matches!(err, VerifyError::Solver(_)), "{err}");
}

#[test]
fn versions_compared_per_request_type() {
    let new = without(&shipped(), "R10-child-concern-not-withdrawn");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let diffs = runtime
        .block_on(proofs::compare_async(SCHEMA, &shipped(), &new, &solver()))
        .unwrap();
    let changed: Vec<_> = diffs.iter().filter(|d| d.example.is_some()).collect();
    for d in &changed {
        println!("{}: {}", d.request_type, d.example.as_deref().unwrap_or(""));
    }
    let mut kinds: Vec<String> = changed.iter().map(|d| d.request_type.to_string()).collect();
    kinds.sort();
    assert_eq!(kinds, ["Citizen cancel Case", "Visitor cancel Case"]);
    for d in &changed {
        let words = d.example.as_deref().unwrap();
        assert!(
            words.contains("before Deny (R10-child-concern-not-withdrawn), now Allow"),
            "{words}"
        );
    }
}

#[test]
fn r8_partner_reads_content_when_supervisors_lose_their_home_condition() {
    // R15-home-supervisor without "at home": a supervisor anywhere reads every case.
    let text = replacing(
        &shipped(),
        "when { principal.municipality == resource.home && principal.supervisor };",
        "when { principal.supervisor };",
    );
    let outcomes = run(&text);
    only_broken(
        &outcomes,
        "R8-partner-reads-content-only-once-it-has-the-case",
    );
    let c = broken(
        &outcomes,
        "R8-partner-reads-content-only-once-it-has-the-case",
    );
    says(
        c[0],
        &[
            "`read_content`",
            "principal.municipality = ",
            "resource.home = ",
            "R15-home-supervisor",
        ],
    );
    // R9 still holds: the supervisor's municipality must be permitted by routing (handler).
    proven_everywhere(&outcomes, "R9-no-access-outside-home-without-routing");
}

#[test]
fn verification_can_run_inside_the_server() {
    // The workflow is async on tokio's multi-threaded runtime: the future must be Send.
    fn send<T: Send>(_: &T) {}
    let invariants = proofs::invariants();
    let text = shipped();
    let future = proofs::verify_async(SCHEMA, &text, "cvc5", &invariants);
    send(&future);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_from_the_server_runtime() {
    // How the server will call it: the blocking wrapper on a blocking thread (the symbolic
    // compilation is CPU work; the solver is its own process) …
    let text = shipped();
    let blocking = tokio::task::spawn_blocking(move || proofs::verify(SCHEMA, &text, &solver()))
        .await
        .unwrap()
        .unwrap();
    assert!(blocking.iter().all(|o| !o.is_broken()));
    // … or awaited directly on a worker.
    let invariants = proofs::invariants();
    let text = shipped();
    let direct = proofs::verify_async(SCHEMA, &text, &solver(), &invariants)
        .await
        .unwrap();
    assert_eq!(direct.len(), blocking.len());
}

/// Storing a version runs the proofs after the tests: a version whose new rule passes its
/// own test and every shipped test but can fail to evaluate (an overflow no test thinks of)
/// is refused with `422 policy_invalid`, naming the invariant and the counterexample, and
/// nothing is stored. Without the solver nothing is stored either, and the answer says why
/// (503 `solver_unavailable`).
pub async fn a_version_that_breaks_an_invariant_is_refused(backend: crate::harness::Backend) {
    use reqwest::StatusCode;
    use serde_json::json;

    let app = crate::harness::spawn(backend).await;
    let admin = crate::federation_admin(&app).await;
    let text = format!("{}\n{}", shipped(), crate::cli::UNDER_TWELVE_POLICY);
    let tests = format!(
        "{}\n{}",
        brygga::policy::testing::default_text(),
        crate::cli::UNDER_TWELVE_TEST
    );
    let refused = app
        .post(
            "/api/v1/admin/policies",
            Some(&admin),
            json!({ "text": text, "tests": tests }),
        )
        .await;
    refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "policy_invalid");
    let errors = refused.body["errors"].to_string();
    for said in [
        "policies-never-error (engine) does not hold: policy R14-minor-under-twelve can fail",
        "Counterexample",
        "integer overflow",
    ] {
        assert!(errors.contains(said), "{said}: {errors}");
    }
    let listing = app.get("/api/v1/admin/policies", Some(&admin)).await;
    assert_eq!(
        listing.body["versions"].as_array().map(Vec::len),
        Some(1),
        "nothing stored: {}",
        listing.body
    );
    // The shipped text itself is proven and stored.
    let stored = app
        .post(
            "/api/v1/admin/policies",
            Some(&admin),
            json!({ "text": shipped() }),
        )
        .await;
    assert_eq!(stored.status, StatusCode::CREATED, "{}", stored.body);

    let (listener, _) = crate::harness::bind();
    let without = crate::harness::spawn_on(backend, listener, true, |config| {
        config.policy_solver = "/nonexistent/cvc5".into();
    })
    .await;
    let admin = crate::federation_admin(&without).await;
    let unavailable = without
        .post(
            "/api/v1/admin/policies",
            Some(&admin),
            json!({ "text": shipped() }),
        )
        .await;
    unavailable.assert_error(StatusCode::SERVICE_UNAVAILABLE, "solver_unavailable");
    assert!(
        unavailable.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("cvc5")),
        "{}",
        unavailable.body
    );
}

/// The administrators' page shows the proofs of a stored version beside its tests: every
/// invariant proven, in words, for any administrator; a caseworker gets the 403 page, an
/// unknown version the 404 page; without the solver the page says why (503).
pub async fn the_proofs_page_shows_every_invariant(backend: crate::harness::Backend) {
    use crate::harness::{browser, browser_login, page_get};
    use reqwest::StatusCode;
    use serde_json::json;

    let app = crate::harness::spawn(backend).await;
    let admin = browser();
    browser_login(
        &app,
        &admin,
        json!({"role": "admin", "admin_id": "demo-admin-federation-1"}),
    )
    .await;
    let page = page_get(&admin, &app, "/admin/policies/1/proofs").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    for said in [
        "Bevisen för version 1",
        "id=\"all-proven\"",
        "En orosanmälan om ett barn lämnas aldrig till en annan kommun än barnets.",
        "data-verdict=\"proven\"",
        "href=\"/work/rules#R10\"",
    ] {
        assert!(page.html.contains(said), "{said}: {}", page.html);
    }
    assert!(!page.html.contains("data-verdict=\"broken\""));
    let listing = page_get(&admin, &app, "/admin/policies").await;
    assert!(
        listing.html.contains("href=\"/admin/policies/1/proofs\""),
        "{}",
        listing.html
    );
    assert!(listing.html.contains("id=\"invariants\""));
    assert_eq!(
        page_get(&admin, &app, "/admin/policies/99/proofs")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let local = browser();
    browser_login(
        &app,
        &local,
        json!({"role": "admin", "admin_id": "demo-admin-1275"}),
    )
    .await;
    assert_eq!(
        page_get(&local, &app, "/admin/policies/1/proofs")
            .await
            .status,
        StatusCode::OK
    );
    let caseworker = browser();
    browser_login(
        &app,
        &caseworker,
        json!({"role": "caseworker", "caseworker_id": "1275-01"}),
    )
    .await;
    assert_eq!(
        page_get(&caseworker, &app, "/admin/policies/1/proofs")
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let (listener, _) = crate::harness::bind();
    let without = crate::harness::spawn_on(backend, listener, true, |config| {
        config.policy_solver = "/nonexistent/cvc5".into();
    })
    .await;
    let admin = browser();
    browser_login(
        &without,
        &admin,
        json!({"role": "admin", "admin_id": "demo-admin-federation-1"}),
    )
    .await;
    let page = page_get(&admin, &without, "/admin/policies/1/proofs").await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.html
    );
    assert!(
        page.html.contains("id=\"solver-unavailable\""),
        "{}",
        page.html
    );
    assert!(page.html.contains("cvc5"), "{}", page.html);
}

/// Beside the impact report on last month's cases, the solver compares the two versions on
/// every possible request: a version that lets citizens withdraw a child concern (stored
/// directly, as no administrator could store it) is decided differently exactly for citizens'
/// and visitors' `cancel`, with an example each; the page shows them.
pub async fn the_impact_report_compares_every_possible_request(backend: crate::harness::Backend) {
    use crate::harness::{browser, browser_login, page_get, page_post};
    use reqwest::StatusCode;
    use serde_json::json;

    let app = crate::harness::spawn(backend).await;
    let text = without(&shipped(), "R10-child-concern-not-withdrawn");
    let version = app
        .store
        .insert_policy_version(
            &text,
            &brygga::policy::testing::default_text(),
            "admin:demo-admin-federation-2",
            chrono::Utc::now(),
            false,
            None,
        )
        .await
        .expect("stored");
    let admin = crate::federation_admin(&app).await;
    let report = app
        .post(
            &format!("/api/v1/admin/policies/{version}/impact"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let differently = report.body["decided_differently"]
        .as_array()
        .expect("compared by the solver");
    let mut kinds: Vec<&str> = differently
        .iter()
        .filter_map(|d| d["request_type"].as_str())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["Citizen cancel Case", "Visitor cancel Case"]);
    assert!(
        differently
            .iter()
            .all(|d| d["example"].as_str().is_some_and(
                |e| e.contains("before Deny (R10-child-concern-not-withdrawn), now Allow")
            )),
        "{}",
        report.body
    );

    let client = browser();
    browser_login(
        &app,
        &client,
        json!({"role": "admin", "admin_id": "demo-admin-federation-1"}),
    )
    .await;
    let path = format!("/admin/policies/{version}/impact");
    let csrf = page_get(&client, &app, &path).await.csrf();
    let page = page_post(&client, &app, &path, &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("id=\"differently\""), "{}", page.html);
    assert!(page.html.contains("Citizen cancel Case"), "{}", page.html);
}
