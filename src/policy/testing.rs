//! Policy tests: a request's facts → the expected decision and deciding policy ids.
//!
//! A test file is TOML with `[[test]]` tables (see `policies/tests/README.md`):
//!
//! ```toml
//! [[test]]
//! rule = "R5"
//! name = "a consented service request may go to an agreement partner"
//! action = "route"
//! principal = { type = "municipality", id = "1283" }
//! resource = { type = "case", home = "1275", consent = { cross_municipality = true } }
//! context = { today = 20261123, agreement = { members = ["1275", "1283"], valid_from = 20260101, valid_to = 20271231 } }
//! decision = "allow"
//! policies = ["R5-agreement-service"]
//! ring = 1
//! ```

use serde::{Deserialize, Serialize};

use super::Decision;
use super::engine::{Compiled, Place, PolicyProblem, ProblemText};
use super::facts::{Action, ContextFacts, Principal, Query, Resource};
use cedar_policy::Schema;

/// The shipped tests, as (file name, text); `policies/tests/` holds the same files.
pub const DEFAULT_FILES: [(&str, &str); 18] = [
    ("r01.toml", include_str!("../../policies/tests/r01.toml")),
    ("r02.toml", include_str!("../../policies/tests/r02.toml")),
    ("r03.toml", include_str!("../../policies/tests/r03.toml")),
    ("r04.toml", include_str!("../../policies/tests/r04.toml")),
    ("r05.toml", include_str!("../../policies/tests/r05.toml")),
    ("r06.toml", include_str!("../../policies/tests/r06.toml")),
    ("r08.toml", include_str!("../../policies/tests/r08.toml")),
    ("r09.toml", include_str!("../../policies/tests/r09.toml")),
    ("r10.toml", include_str!("../../policies/tests/r10.toml")),
    ("r11.toml", include_str!("../../policies/tests/r11.toml")),
    ("r12.toml", include_str!("../../policies/tests/r12.toml")),
    ("r13.toml", include_str!("../../policies/tests/r13.toml")),
    ("r14.toml", include_str!("../../policies/tests/r14.toml")),
    ("r15.toml", include_str!("../../policies/tests/r15.toml")),
    ("r16.toml", include_str!("../../policies/tests/r16.toml")),
    ("r19.toml", include_str!("../../policies/tests/r19.toml")),
    (
        "eligibility.toml",
        include_str!("../../policies/tests/eligibility.toml"),
    ),
    (
        "federation.toml",
        include_str!("../../policies/tests/federation.toml"),
    ),
];

/// The shipped tests as one text, the form in which a version stores its tests.
pub fn default_text() -> String {
    DEFAULT_FILES
        .iter()
        .map(|(name, text)| format!("# ── {name}\n{text}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    Allow,
    Deny,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyTest {
    /// The LEGAL.md rule the test checks (`R5`), or the non-legal rule's name.
    pub rule: String,
    pub name: String,
    pub principal: Principal,
    pub action: Action,
    pub resource: Resource,
    #[serde(default)]
    pub context: ContextFacts,
    pub decision: Expected,
    /// The deciding policy ids, in any order (`default-deny` when none matched).
    pub policies: Vec<String>,
    /// For `route`: the expected ring.
    #[serde(default)]
    pub ring: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    test: Vec<PolicyTest>,
}

/// Parses one test text; the error names the place.
pub fn parse(source: &str, text: &str) -> Result<Vec<PolicyTest>, String> {
    parse_located(source, text).map_err(|problem| problem.message)
}

/// [`parse`], the error with its line and column in `text` (for the editor to mark).
pub fn parse_located(source: &str, text: &str) -> Result<Vec<PolicyTest>, PolicyProblem> {
    toml::from_str::<TestFile>(text)
        .map(|f| f.test)
        .map_err(|e| PolicyProblem {
            at: e
                .span()
                .map(|span| Place::of(ProblemText::Tests, text, span.start)),
            message: format!("{source}: {e}"),
        })
}

/// What one test found.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    pub rule: String,
    pub name: String,
    pub message: String,
}

/// What a compiled set decides for one test's query; `Err` when the query does not fit the
/// schema (a test that cannot be asked fails).
pub fn decide(compiled: &Compiled, schema: &Schema, test: &PolicyTest) -> Result<Decision, String> {
    let query = Query {
        principal: test.principal.clone(),
        action: test.action,
        resource: test.resource.clone(),
        context: test.context.clone(),
    };
    query.to_cedar(Some(schema)).map_err(|e| e.to_string())?;
    Ok(compiled.decide(Some(schema), &query))
}

/// A decision as the tests state one.
pub fn expected(decision: &Decision) -> Expected {
    if decision.allowed {
        Expected::Allow
    } else {
        Expected::Deny
    }
}

/// Runs the tests against a compiled set; every query is checked against the schema too.
pub fn run(compiled: &Compiled, schema: &Schema, tests: &[PolicyTest]) -> Vec<Failure> {
    tests
        .iter()
        .filter_map(|t| {
            let fail = |message: String| {
                Some(Failure {
                    rule: t.rule.clone(),
                    name: t.name.clone(),
                    message,
                })
            };
            let got = match decide(compiled, schema, t) {
                Ok(got) => got,
                Err(e) => return fail(e),
            };
            let mut expected_ids = t.policies.clone();
            expected_ids.sort();
            let mut policies = got.policies.clone();
            policies.sort();
            let decision = expected(&got);
            if decision != t.decision || policies != expected_ids {
                return fail(format!(
                    "expected {:?} by {:?}, got {:?} by {:?}",
                    t.decision, expected_ids, decision, policies
                ));
            }
            if t.ring.is_some() && t.ring != got.ring {
                return fail(format!("expected ring {:?}, got {:?}", t.ring, got.ring));
            }
            None
        })
        .collect()
}

/// Policy ids that no test names among its deciding policies: untested rules.
pub fn untested<'a>(compiled: &'a Compiled, tests: &[PolicyTest]) -> Vec<&'a str> {
    compiled
        .ids
        .iter()
        .filter(|id| !tests.iter().any(|t| t.policies.contains(id)))
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::engine;

    fn shipped() -> (Compiled, Schema, Vec<PolicyTest>) {
        let schema = engine::schema().expect("schema");
        let compiled = engine::compile(&engine::default_text(), &schema).expect("policies");
        let tests = parse("shipped", &default_text()).expect("tests parse");
        (compiled, schema, tests)
    }

    #[test]
    fn the_shipped_policies_pass_their_tests() {
        let (compiled, schema, tests) = shipped();
        let failures = run(&compiled, &schema, &tests);
        assert!(failures.is_empty(), "{failures:#?}");
        assert!(
            untested(&compiled, &tests).is_empty(),
            "policies without a test: {:?}",
            untested(&compiled, &tests)
        );
    }

    #[test]
    fn every_routing_and_access_rule_has_at_least_three_tests() {
        let (_, _, tests) = shipped();
        for rule in [
            "R1", "R2", "R3", "R4", "R5", "R6", "R8", "R9", "R10", "R11", "R12", "R13", "R14",
            "R15", "R16", "R19",
        ] {
            let n = tests.iter().filter(|t| t.rule == rule).count();
            assert!(n >= 3, "{rule} has {n} tests");
            assert!(
                tests
                    .iter()
                    .any(|t| t.rule == rule && t.decision == Expected::Allow),
                "{rule} has no permitting test"
            );
            assert!(
                tests
                    .iter()
                    .any(|t| t.rule == rule && t.decision == Expected::Deny),
                "{rule} has no forbidding test"
            );
        }
    }

    #[test]
    fn the_embedded_tests_are_the_files_in_the_directory() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/tests");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("policies/tests")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = DEFAULT_FILES.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn a_wrong_expectation_is_reported() {
        let (compiled, schema, _) = shipped();
        let tests = parse(
            "t",
            r#"
            [[test]]
            rule = "R4"
            name = "wrong on purpose"
            action = "route"
            principal = { type = "municipality", id = "1275" }
            resource = { type = "case", home = "1275" }
            context = { today = 20261123 }
            decision = "deny"
            policies = ["R4-home-municipality"]
            "#,
        )
        .expect("parses");
        let failures = run(&compiled, &schema, &tests);
        assert_eq!(failures.len(), 1);
        assert!(failures[0].message.contains("expected Deny"));
        assert!(parse("t", "[[test]]\nrule = 1").is_err());
    }

    #[test]
    fn a_broken_test_file_is_placed_at_its_line() {
        let problem =
            parse_located("tests", "# a comment\n[[test]]\nrule = 1\n").expect_err("broken");
        let at = problem.at.expect("placed");
        assert_eq!((at.text, at.line), (ProblemText::Tests, 3), "{problem:?}");
        assert!(problem.message.starts_with("tests: "));
    }
}
