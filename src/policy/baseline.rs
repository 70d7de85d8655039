//! The legal baseline every new policy version must keep (issue 21, point 5).
//!
//! The shipped policy tests (`policies/tests/*.toml`, compiled into the binary) encode
//! LEGAL.md. A version an administrator writes is run against them as well as against its own
//! tests, so that no version can drop a legal rule by dropping its tests. What the baseline
//! asks of a test is the legal floor, not the wording of the shipped set:
//!
//! - the same decision (and, for `route`, the same ring);
//! - every policy the test names among the deciding ones (the legal ground stays named), while
//!   further deciding policies are allowed (a new rule that also refuses, or also permits, adds
//!   a ground and takes none away); `default-deny` is met by any refusal.
//!
//! The open legal questions ([U], `policies/open-questions.cedar` as shipped) are for a
//! lawyer's answer to change, so the baseline does not fix their outcome: a test that rests on
//! one — it names an open-question policy, or it is a `route` test of a rule with an open
//! question — is checked only for what does not depend on that reading (a refusal that other
//! rules also give must still be given by them); the rest is left to the version's own tests,
//! which must keep at least three `route` tests of that rule, with an allow and a deny.
//!
//! Besides: every policy id of the version is named by at least one test (its own or the
//! baseline's), and every rule R1–R19 that the baseline tests keeps at least three tests in
//! the version's own tests, at least one allow and one deny.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::OnceLock;

use cedar_policy::{PolicySet, Schema};

use super::engine::{self, Compiled};
use super::facts::Action;
use super::testing::{self, Expected, PolicyTest};
use super::{DEFAULT_DENY, POLICY_ERROR};

/// The fewest tests a rule keeps in a version's own tests.
pub const MIN_TESTS_PER_RULE: usize = 3;

/// The shipped tests, parsed once. They are compiled in, so this fails only in a broken
/// build (a unit test parses them).
pub fn tests() -> Result<&'static [PolicyTest], String> {
    static TESTS: OnceLock<Result<Vec<PolicyTest>, String>> = OnceLock::new();
    TESTS
        .get_or_init(|| testing::parse("baseline", &testing::default_text()))
        .as_ref()
        .map(Vec::as_slice)
        .map_err(|e| format!("the baseline tests do not parse: {e}"))
}

/// The ids of the open-question policies as shipped (`open-questions.cedar`): a version may
/// not add to them, only the release can.
pub fn open_questions() -> &'static BTreeSet<String> {
    static IDS: OnceLock<BTreeSet<String>> = OnceLock::new();
    IDS.get_or_init(|| {
        engine::DEFAULT_FILES
            .iter()
            .filter(|(name, _)| *name == "open-questions.cedar")
            .filter_map(|(_, text)| PolicySet::from_str(text).ok())
            .flat_map(|set| {
                set.policies()
                    .filter_map(|p| p.annotation("id").map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .collect()
    })
}

/// The LEGAL.md rule a policy id or a test's `rule` names (`R12-harm-…` → `R12`).
pub fn legal_rule(name: &str) -> Option<&str> {
    let rule = name.split('-').next()?;
    let digits = rule.strip_prefix('R')?;
    (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())).then_some(rule)
}

/// The rules with an open question: R3, R8, R12, R13 as shipped.
pub fn open_rules() -> BTreeSet<&'static str> {
    open_questions()
        .iter()
        .filter_map(|id| legal_rule(id))
        .collect()
}

/// How the baseline holds one of its tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Decision, ring and every named policy.
    Fixed,
    /// Rests on an open question: only that these policies (not open questions) still refuse.
    RefusedBy(Vec<String>),
    /// Rests on an open question entirely: left to the version's own tests.
    LeftToOwnTests,
}

/// How the baseline holds `test` (see the module's documentation).
pub fn hold(test: &PolicyTest) -> Hold {
    let open = open_questions();
    let open_rules = open_rules();
    let names_open = test.policies.iter().any(|p| open.contains(p));
    let open_route = test.action == Action::Route && open_rules.contains(test.rule.as_str());
    if !names_open && !open_route {
        return Hold::Fixed;
    }
    let fixed: Vec<String> = test
        .policies
        .iter()
        .filter(|p| !open.contains(*p) && p.as_str() != DEFAULT_DENY)
        .cloned()
        .collect();
    if test.decision == Expected::Deny && !fixed.is_empty() {
        Hold::RefusedBy(fixed)
    } else {
        Hold::LeftToOwnTests
    }
}

/// One baseline test against a compiled set: `None` if it holds, else why not.
fn check_one(compiled: &Compiled, schema: &Schema, test: &PolicyTest) -> Option<String> {
    let got = match testing::decide(compiled, schema, test) {
        Ok(got) => got,
        Err(e) => return Some(e),
    };
    let decision = testing::expected(&got);
    let held = hold(test);
    let (want, named) = match &held {
        Hold::LeftToOwnTests => return None,
        Hold::RefusedBy(named) => (Expected::Deny, named.clone()),
        Hold::Fixed => (
            test.decision,
            test.policies
                .iter()
                .filter(|p| p.as_str() != DEFAULT_DENY)
                .cloned()
                .collect(),
        ),
    };
    let missing: Vec<&String> = named.iter().filter(|p| !got.policies.contains(p)).collect();
    if decision != want || !missing.is_empty() {
        return Some(format!(
            "expected {want:?} by at least {named:?}, got {decision:?} by {:?}",
            got.policies
        ));
    }
    if held == Hold::Fixed && test.ring.is_some() && test.ring != got.ring {
        return Some(format!("expected ring {:?}, got {:?}", test.ring, got.ring));
    }
    None
}

/// Everything that keeps a new version from being stored, as sentences for an administrator:
/// its own tests (exactly as written), the baseline, policies without a test, and rules whose
/// own tests are too few. Empty when the version may be stored.
pub fn review(compiled: &Compiled, schema: &Schema, own: &[PolicyTest]) -> Vec<String> {
    let mut errors: Vec<String> = testing::run(compiled, schema, own)
        .into_iter()
        .map(|f| format!("test failed [{}] {}: {}", f.rule, f.name, f.message))
        .collect();
    let baseline = match tests() {
        Ok(tests) => tests,
        Err(e) => {
            errors.push(e);
            return errors;
        }
    };
    errors.extend(baseline.iter().filter_map(|t| {
        check_one(compiled, schema, t)
            .map(|why| format!("baseline test failed [{}] {}: {why}", t.rule, t.name))
    }));
    let all: Vec<PolicyTest> = own.iter().chain(baseline).cloned().collect();
    // A test that expects a policy to fail while it is evaluated names it as
    // `policy-error:<id>`: that names it too.
    let failing: BTreeSet<&str> = all
        .iter()
        .flat_map(|t| &t.policies)
        .filter_map(|p| p.strip_prefix(POLICY_ERROR)?.strip_prefix(':'))
        .collect();
    errors.extend(
        testing::untested(compiled, &all)
            .into_iter()
            .filter(|id| !failing.contains(id))
            .map(|id| format!("policy without a test: {id} (no test names it in `policies`)")),
    );
    errors.extend(too_few(baseline, own));
    errors
}

/// Counts of a rule's tests: all, allowing, denying.
#[derive(Default)]
struct Count {
    all: usize,
    allow: usize,
    deny: usize,
}

fn count<'a>(tests: impl Iterator<Item = &'a PolicyTest>) -> Count {
    tests.fold(Count::default(), |mut c, t| {
        c.all += 1;
        match t.decision {
            Expected::Allow => c.allow += 1,
            Expected::Deny => c.deny += 1,
        }
        c
    })
}

fn enough(c: &Count) -> bool {
    c.all >= MIN_TESTS_PER_RULE && c.allow >= 1 && c.deny >= 1
}

/// Every legal rule the baseline tests keeps at least three tests of its own, one allow and one
/// deny; a rule with an open question at least three `route` tests so.
fn too_few(baseline: &[PolicyTest], own: &[PolicyTest]) -> Vec<String> {
    let rules: BTreeSet<&str> = baseline
        .iter()
        .filter_map(|t| legal_rule(&t.rule).filter(|r| *r == t.rule))
        .collect();
    let open_rules = open_rules();
    let mut per_rule: BTreeMap<&str, Vec<&PolicyTest>> = BTreeMap::new();
    for t in own {
        per_rule.entry(t.rule.as_str()).or_default().push(t);
    }
    let mut errors = Vec::new();
    // R1, R2, …, R19 in their numeric order.
    let mut ordered: Vec<&str> = rules.into_iter().collect();
    ordered.sort_by_key(|r| r[1..].parse::<u32>().unwrap_or(u32::MAX));
    for rule in ordered {
        let mine = per_rule.get(rule).map(Vec::as_slice).unwrap_or_default();
        let c = count(mine.iter().copied());
        if !enough(&c) {
            errors.push(format!(
                "rule {rule} needs at least {MIN_TESTS_PER_RULE} tests in this version's tests, \
                 at least one allow and one deny: it has {} ({} allow, {} deny)",
                c.all, c.allow, c.deny
            ));
        }
        if open_rules.contains(rule) {
            let c = count(mine.iter().copied().filter(|t| t.action == Action::Route));
            if !enough(&c) {
                errors.push(format!(
                    "rule {rule} is an open legal question: its reading is this version's to \
                     test, with at least {MIN_TESTS_PER_RULE} route tests, at least one allow \
                     and one deny: it has {} ({} allow, {} deny)",
                    c.all, c.allow, c.deny
                ));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        engine::schema().expect("schema")
    }

    fn shipped_tests() -> Vec<PolicyTest> {
        tests().expect("baseline").to_vec()
    }

    fn review_text(text: &str, own: &[PolicyTest]) -> Vec<String> {
        let schema = schema();
        let compiled = engine::compile(text, &schema).expect("compiles");
        review(&compiled, &schema, own)
    }

    #[test]
    fn the_shipped_set_passes_its_own_review() {
        let errors = review_text(&engine::default_text(), &shipped_tests());
        assert!(errors.is_empty(), "{errors:#?}");
    }

    #[test]
    fn the_open_questions_are_the_shipped_ones() {
        let ids: Vec<&str> = open_questions().iter().map(String::as_str).collect();
        assert_eq!(
            ids,
            vec![
                "R12-harm-assessment-required",
                "R13-family-counselling-not-named",
                "R3-stated-home-under-protection",
                "R8-no-consent",
            ]
        );
        assert_eq!(
            open_rules().into_iter().collect::<Vec<_>>(),
            vec!["R12", "R13", "R3", "R8"]
        );
        assert_eq!(legal_rule("R10-child-concern-stays-home"), Some("R10"));
        assert_eq!(legal_rule("eligibility-skill"), None);
        assert_eq!(legal_rule("R-x"), None);
    }

    /// Weakened R10 with own tests rewritten to match: the own tests pass, the baseline does
    /// not, and names the test.
    #[test]
    fn a_weakened_legal_rule_is_caught_by_the_baseline() {
        let text = engine::default_text().replace(
            "when { principal != resource.home && resource.child_concern };",
            "when { principal != resource.home && resource.child_concern && !resource.anonymous };",
        );
        assert_ne!(text, engine::default_text());
        let own_text = testing::default_text().replace(
            "policies = [\"R10-child-concern-stays-home\", \"category-must-stay-home\", \
             \"R6-authority-stays-home\", \"R4-no-covering-agreement\"]",
            "policies = [\"category-must-stay-home\", \"R6-authority-stays-home\", \
             \"R4-no-covering-agreement\"]",
        );
        assert_ne!(own_text, testing::default_text());
        let own = testing::parse("own", &own_text).expect("parses");
        let schema = schema();
        let compiled = engine::compile(&text, &schema).expect("compiles");
        assert!(testing::run(&compiled, &schema, &own).is_empty());
        let errors = review(&compiled, &schema, &own);
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(
            errors[0].starts_with("baseline test failed [R10] An anonymous concern about a child"),
            "{errors:#?}"
        );
    }

    #[test]
    fn a_policy_without_a_test_and_a_thinned_rule_are_refused() {
        let text = format!(
            "{}\n@id(\"ovrigt-stays-home\")\nforbid (principal, action == Action::\"route\", resource)\n\
             when {{ principal != resource.home && resource.category == \"ovrigt\" }};\n",
            engine::default_text()
        );
        let own: Vec<PolicyTest> = shipped_tests()
            .into_iter()
            .filter(|t| t.rule != "R16")
            .collect();
        let errors = review_text(&text, &own);
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].contains("policy without a test: ovrigt-stays-home"));
        assert!(errors[1].starts_with("rule R16 needs at least 3 tests"));
    }

    /// A stricter reading of an open question (R12: sekretessmarkering never crosses a border)
    /// is the version's to make, if its own tests say so, three route tests of R12 at least.
    #[test]
    fn an_open_question_may_be_answered_otherwise_with_its_own_tests() {
        let text = engine::default_text().replace(
            "  resource.protection == \"sekretessmarkering\" &&\n  resource.harm_assessment != \"cross_border_ok\"\n",
            "  resource.protection == \"sekretessmarkering\"\n",
        );
        assert_ne!(text, engine::default_text());
        let schema = schema();
        let compiled = engine::compile(&text, &schema).expect("compiles");
        // The shipped tests expect the partner after a favourable assessment: rewrite them.
        let own: Vec<PolicyTest> = shipped_tests()
            .into_iter()
            .map(|mut t| {
                if testing::run(&compiled, &schema, std::slice::from_ref(&t)).is_empty() {
                    return t;
                }
                let got = testing::decide(&compiled, &schema, &t).expect("decides");
                t.decision = testing::expected(&got);
                t.policies = got.policies;
                t.ring = got.ring;
                t
            })
            .collect();
        let rewritten: Vec<&PolicyTest> = own
            .iter()
            .zip(shipped_tests())
            .filter(|(a, b)| a.policies != b.policies)
            .map(|(a, _)| a)
            .collect();
        assert!(!rewritten.is_empty());
        assert!(
            rewritten.iter().all(|t| hold(
                &shipped_tests()
                    .into_iter()
                    .find(|s| s.name == t.name)
                    .expect("same test")
            ) != Hold::Fixed),
            "only tests resting on the open question changed: {rewritten:#?}"
        );
        let errors = review(&compiled, &schema, &own);
        assert!(errors.is_empty(), "{errors:#?}");
        // Without enough R12 route tests of its own, the new reading is untested: refused.
        let thin: Vec<PolicyTest> = own
            .iter()
            .filter(|t| {
                !(t.rule == "R12" && t.action == Action::Route && t.decision == Expected::Allow)
            })
            .cloned()
            .collect();
        let errors = review(&compiled, &schema, &thin);
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("rule R12 is an open legal question")),
            "{errors:#?}"
        );
    }

    /// A policy that a test expects to fail while it is evaluated is named by that test.
    #[test]
    fn a_test_of_a_failing_policy_names_it() {
        let text = format!(
            "{}\n@id(\"broken-claim-check\")\n\
             forbid (principal is Caseworker, action == Action::\"claim\", resource)\n\
             when {{ resource.language == \"pl\" && resource.ring - 9223372036854775807 - 2 < 0 }};\n",
            engine::default_text()
        );
        let mut own = shipped_tests();
        let errors = review_text(&text, &own);
        assert_eq!(
            errors,
            vec!["policy without a test: broken-claim-check (no test names it in `policies`)"]
        );
        own.extend(
            testing::parse(
                "own",
                "[[test]]\nrule = \"eligibility\"\nname = \"fails\"\naction = \"claim\"\n\
                 principal = { type = \"caseworker\", id = \"1275-01\", municipality = \"1275\", \
                 skills = [\"ekonomi\"], languages = [\"sv\", \"pl\"] }\n\
                 resource = { type = \"case\", home = \"1275\", language = \"pl\" }\n\
                 decision = \"deny\"\npolicies = [\"policy-error:broken-claim-check\"]\n",
            )
            .expect("parses"),
        );
        let errors = review_text(&text, &own);
        assert!(errors.is_empty(), "{errors:#?}");
    }

    #[test]
    fn holds_follow_the_open_questions() {
        let by_name = |part: &str| {
            shipped_tests()
                .into_iter()
                .find(|t| t.name.contains(part))
                .unwrap_or_else(|| panic!("a test named …{part}…"))
        };
        assert_eq!(
            hold(&by_name("An identified request without consent is refused")),
            Hold::LeftToOwnTests
        );
        assert_eq!(
            hold(&by_name(
                "An identified concern about a child without agreement or consent"
            )),
            Hold::RefusedBy(vec![
                "R10-child-concern-stays-home".to_owned(),
                "category-must-stay-home".to_owned(),
                "R6-authority-stays-home".to_owned(),
                "R4-no-covering-agreement".to_owned(),
            ])
        );
        assert_eq!(
            hold(&by_name(
                "A concern about a child is handled by the child's home"
            )),
            Hold::Fixed
        );
    }
}
