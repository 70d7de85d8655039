//! The Cedar policy set of one version, compiled once, and the engine that answers queries
//! with the active version, memoising each decision by its exact query.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use cedar_policy::{
    ActionConstraint, Authorizer, Decision as CedarDecision, EntityUid, PolicyId, PolicySet,
    Schema, ValidationMode, Validator,
};

use super::facts::{Action, Query};
use super::{DEFAULT_DENY, Decision, POLICY_ERROR};

/// The schema every version is validated against.
pub const SCHEMA_TEXT: &str = include_str!("../../policies/schema.cedarschema");

/// The default policy set, as shipped in `policies/` (file order is the text's order).
pub const DEFAULT_FILES: [(&str, &str); 4] = [
    (
        "routing.cedar",
        include_str!("../../policies/routing.cedar"),
    ),
    (
        "open-questions.cedar",
        include_str!("../../policies/open-questions.cedar"),
    ),
    ("access.cedar", include_str!("../../policies/access.cedar")),
    (
        "administration.cedar",
        include_str!("../../policies/administration.cedar"),
    ),
];

/// The shipped policy set as one text, the form in which versions are stored.
pub fn default_text() -> String {
    DEFAULT_FILES
        .iter()
        .map(|(name, text)| format!("// ── {name}\n{text}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The most decisions kept per version before the memo starts over.
const MEMO_LIMIT: usize = 200_000;

/// The shipped schema.
pub fn schema() -> Result<Schema, Vec<String>> {
    parse_schema(SCHEMA_TEXT)
}

pub fn parse_schema(text: &str) -> Result<Schema, Vec<String>> {
    Schema::from_cedarschema_str(text)
        .map(|(schema, _warnings)| schema)
        .map_err(|e| vec![format!("schema: {e}")])
}

/// A policy set that parsed, carries an `@id` on every policy, names the ring of every routing
/// permit, and validated against the schema.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub set: PolicySet,
    /// The same policies split by the actions their scope admits, so that a request is
    /// evaluated against only the policies that can apply to it (same decisions, less work).
    by_action: HashMap<Action, PolicySet>,
    /// `@ring` of the permits that may decide `route`.
    rings: HashMap<String, i64>,
    /// Policy ids in text order, for listings.
    pub ids: Vec<String>,
}

/// Whether a policy's action scope admits `action` (actions have no groups in the schema).
fn routes(constraint: &ActionConstraint, action: &EntityUid) -> bool {
    match constraint {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(a) => a == action,
        ActionConstraint::In(list) => list.contains(action),
    }
}

/// Which text of a policy version a problem is in: the Cedar policies or their tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemText {
    Policies,
    Tests,
}

/// Where a problem is: a line and a column of one of a version's texts, both counted from 1,
/// the column in characters (what an editor shows), not bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Place {
    #[serde(rename = "in")]
    pub text: ProblemText,
    pub line: u32,
    pub column: u32,
}

impl Place {
    /// The place of byte `offset` in `source` (clamped to the text, and to a character
    /// boundary, so that an offset from a library never panics here).
    pub fn of(text: ProblemText, source: &str, offset: usize) -> Place {
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &source[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Place {
            text,
            line: count(before.matches('\n').count()).saturating_add(1),
            column: count(before[line_start..].chars().count()).saturating_add(1),
        }
    }
}

/// Why a policy version cannot be stored, in a sentence for an administrator, and where in
/// its texts the cause is when that is known (the editor marks the line; the API adds it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyProblem {
    pub at: Option<Place>,
    pub message: String,
}

impl PolicyProblem {
    /// A problem of the version as a whole (a test that fails, a rule without tests).
    pub fn unplaced(message: String) -> PolicyProblem {
        PolicyProblem { at: None, message }
    }
}

/// `line 12:5: message`, the way compilers point at a place; `tests line 3:1: …` in the tests.
impl std::fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at {
            Some(Place {
                text: ProblemText::Policies,
                line,
                column,
            }) => write!(f, "line {line}:{column}: {}", self.message),
            Some(Place {
                text: ProblemText::Tests,
                line,
                column,
            }) => write!(f, "tests line {line}:{column}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Parses and checks a whole policy set. Errors are sentences for an administrator.
pub fn compile(text: &str, schema: &Schema) -> Result<Compiled, Vec<String>> {
    check(text, schema).map_err(|problems| problems.into_iter().map(|p| p.message).collect())
}

/// Where Cedar's diagnostic points in the text it parsed, as a byte offset. Cedar reports its
/// places through `miette` labels; its FFI type reads them for us without another dependency.
fn labelled_offset<E: ?Sized>(e: &E) -> Option<usize>
where
    for<'a> cedar_policy::ffi::DetailedError: From<&'a E>,
{
    cedar_policy::ffi::DetailedError::from(e)
        .source_locations
        .first()
        .map(|label| label.loc.start)
}

/// Where each parsed policy starts in `text`, by its parser-given id. Cedar keeps each
/// policy's own text (a slice of the whole) but not its offset, so the slices are found again
/// in text order (`policy0`, `policy1`, …), each after the one before.
fn policy_starts(text: &str, parsed: &PolicySet) -> HashMap<PolicyId, usize> {
    let number = |id: &PolicyId| {
        id.to_string()
            .strip_prefix("policy")
            .and_then(|n| n.parse::<usize>().ok())
    };
    let mut policies: Vec<(usize, &cedar_policy::Policy)> = parsed
        .policies()
        .filter_map(|p| number(p.id()).map(|n| (n, p)))
        .collect();
    policies.sort_by_key(|(n, _)| *n);
    let mut starts = HashMap::new();
    let mut from = 0;
    for (_, policy) in policies {
        let own = policy.to_string();
        if let Some(found) = text.get(from..).and_then(|rest| rest.find(&own)) {
            starts.insert(policy.id().clone(), from + found);
            from += found + own.len();
        }
    }
    starts
}

/// [`compile`], each problem with its place in the text where Cedar or the policy's start
/// tells it.
pub fn check(text: &str, schema: &Schema) -> Result<Compiled, Vec<PolicyProblem>> {
    let place = |offset: usize| Some(Place::of(ProblemText::Policies, text, offset));
    let parsed = PolicySet::from_str(text).map_err(|e| {
        let mut problems: Vec<PolicyProblem> = e
            .iter()
            .map(|err| PolicyProblem {
                at: labelled_offset(err).and_then(place),
                message: format!("parse: {err}"),
            })
            .collect();
        if problems.is_empty() {
            problems.push(PolicyProblem {
                at: labelled_offset(&e).and_then(place),
                message: format!("parse: {e}"),
            });
        }
        problems
    })?;
    let route = EntityUid::from_str(r#"Action::"route""#)
        .map_err(|e| vec![PolicyProblem::unplaced(e.to_string())])?;
    let starts = policy_starts(text, &parsed);
    let mut problems = Vec::new();
    let mut set = PolicySet::new();
    let mut rings = HashMap::new();
    let mut ids = Vec::new();
    // Where each policy (by its @id) starts, for validation errors Cedar gives no place for.
    let mut by_id: HashMap<String, usize> = HashMap::new();
    if parsed.templates().next().is_some() {
        problems.push(PolicyProblem::unplaced(
            "templates are not used by Brygga; write each policy out".to_owned(),
        ));
    }
    let mut policies: Vec<&cedar_policy::Policy> = parsed.policies().collect();
    // Text order, so that the problems are listed as the reader meets them.
    policies.sort_by_key(|p| starts.get(p.id()).copied().unwrap_or(usize::MAX));
    for policy in policies {
        let start = starts.get(policy.id()).copied();
        // The annotation's own place when the policy's text has it, else the policy's start.
        let at_annotation = |name: &str| {
            let own = policy.to_string();
            start.and_then(|s| place(s + own.find(name).unwrap_or(0)))
        };
        let Some(id) = policy.annotation("id").map(str::to_owned) else {
            problems.push(PolicyProblem {
                at: start.and_then(place),
                message: format!(
                    "a policy has no @id annotation: {}",
                    first_line(&policy.to_string())
                ),
            });
            continue;
        };
        if id.is_empty() || ids.contains(&id) {
            problems.push(PolicyProblem {
                at: at_annotation("@id"),
                message: format!("@id(\"{id}\") is empty or used twice"),
            });
            continue;
        }
        let is_permit = policy.effect() == cedar_policy::Effect::Permit;
        match policy.annotation("ring") {
            Some(ring) => match ring.parse::<i64>() {
                Ok(r @ 0..=2) => {
                    rings.insert(id.clone(), r);
                }
                _ => problems.push(PolicyProblem {
                    at: at_annotation("@ring"),
                    message: format!("{id}: @ring must be 0, 1 or 2, not \"{ring}\""),
                }),
            },
            None if is_permit && routes(&policy.action_constraint(), &route) => {
                problems.push(PolicyProblem {
                    at: start.and_then(place),
                    message: format!(
                        "{id}: a permit for route must say in which ring with @ring(\"0\"|\"1\"|\"2\")"
                    ),
                });
            }
            None => {}
        }
        if let Err(e) = set.add(policy.new_id(PolicyId::new(&id))) {
            problems.push(PolicyProblem {
                at: start.and_then(place),
                message: format!("{id}: {e}"),
            });
        }
        if let Some(s) = start {
            by_id.insert(id.clone(), s);
        }
        ids.push(id);
    }
    let validation = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
    problems.extend(validation.validation_errors().map(|e| {
        PolicyProblem {
            at: labelled_offset(e)
                .or_else(|| by_id.get(&e.policy_id().to_string()).copied())
                .and_then(place),
            message: e.to_string(),
        }
    }));
    if !problems.is_empty() {
        return Err(problems);
    }
    let by_action = split_by_action(&set).map_err(|e| vec![PolicyProblem::unplaced(e)])?;
    Ok(Compiled {
        set,
        by_action,
        rings,
        ids,
    })
}

/// For each action, the policies whose scope admits it.
fn split_by_action(set: &PolicySet) -> Result<HashMap<Action, PolicySet>, String> {
    let mut by_action = HashMap::new();
    for action in Action::ALL {
        let uid = EntityUid::from_str(&format!("Action::\"{}\"", action.as_str()))
            .map_err(|e| e.to_string())?;
        let mut subset = PolicySet::new();
        for policy in set.policies() {
            if routes(&policy.action_constraint(), &uid) {
                subset.add(policy.clone()).map_err(|e| e.to_string())?;
            }
        }
        by_action.insert(action, subset);
    }
    Ok(by_action)
}

fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('@'))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

impl Compiled {
    /// Evaluates one query; every decision names the policies that made it, `default-deny`
    /// when nothing matched, and the lowest `@ring` of the deciding permits.
    pub fn decide(&self, schema: Option<&Schema>, query: &Query) -> Decision {
        self.decide_batch(schema, &[query])
            .pop()
            .unwrap_or_else(|| Decision::deny(&[POLICY_ERROR]))
    }

    /// Decides several queries over one entity store (shared resources built once); one
    /// decision per query, in order.
    pub fn decide_batch(&self, schema: Option<&Schema>, queries: &[&Query]) -> Vec<Decision> {
        let (requests, entities) = match Query::batch_to_cedar(queries, schema) {
            Ok(built) => built,
            Err(e) => {
                tracing::error!(error = %e, "policy query could not be built; denied");
                return queries
                    .iter()
                    .map(|_| Decision::deny(&[POLICY_ERROR]))
                    .collect();
            }
        };
        let authorizer = Authorizer::new();
        queries
            .iter()
            .zip(requests)
            .map(|(query, request)| {
                let set = self.by_action.get(&query.action).unwrap_or(&self.set);
                let response = authorizer.is_authorized(&request, set, &entities);
                // Cedar skips a policy that fails while it is evaluated; a skipped `forbid`
                // would mean allow. Brygga fails closed: any error denies, naming the policy.
                let failed: BTreeSet<String> = response
                    .diagnostics()
                    .errors()
                    .map(|error| {
                        tracing::error!(%error, "a policy failed to evaluate: denied");
                        let cedar_policy::AuthorizationError::PolicyEvaluationError(failed) = error;
                        format!("{POLICY_ERROR}:{}", failed.policy_id())
                    })
                    .collect();
                if !failed.is_empty() {
                    return Decision {
                        allowed: false,
                        policies: failed.into_iter().collect(),
                        ring: None,
                    };
                }
                let reasons: BTreeSet<String> = response
                    .diagnostics()
                    .reason()
                    .map(ToString::to_string)
                    .collect();
                let allowed = response.decision() == CedarDecision::Allow;
                let ring = if allowed && query.action == Action::Route {
                    reasons
                        .iter()
                        .filter_map(|id| self.rings.get(id))
                        .min()
                        .copied()
                } else {
                    None
                };
                let policies = if reasons.is_empty() {
                    vec![DEFAULT_DENY.to_owned()]
                } else {
                    reasons.into_iter().collect()
                };
                Decision {
                    allowed,
                    policies,
                    ring,
                }
            })
            .collect()
    }
}

/// One stored version, compiled, with its memo.
#[derive(Debug)]
pub struct Version {
    pub number: i64,
    pub compiled: Compiled,
    memo: Mutex<HashMap<Query, Decision>>,
}

impl Version {
    pub fn new(number: i64, compiled: Compiled) -> Version {
        Version {
            number,
            compiled,
            memo: Mutex::new(HashMap::new()),
        }
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, HashMap<Query, Decision>> {
        self.memo.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn decide(&self, query: &Query) -> Decision {
        self.decide_all(&[query])
            .pop()
            .unwrap_or_else(|| Decision::deny(&[POLICY_ERROR]))
    }

    /// Memo hits answered from the memo; the misses decided together (one entity store).
    fn decide_all(&self, queries: &[&Query]) -> Vec<Decision> {
        let mut decisions: Vec<Option<Decision>> = {
            let memo = self.memo();
            queries.iter().map(|q| memo.get(*q).cloned()).collect()
        };
        let misses: Vec<&Query> = queries
            .iter()
            .zip(&decisions)
            .filter(|(_, d)| d.is_none())
            .map(|(q, _)| *q)
            .collect();
        if !misses.is_empty() {
            let fresh = self.compiled.decide_batch(None, &misses);
            let mut memo = self.memo();
            if memo.len() + fresh.len() > MEMO_LIMIT {
                memo.clear();
            }
            let mut fresh = misses.into_iter().zip(fresh);
            for slot in decisions.iter_mut().filter(|d| d.is_none()) {
                if let Some((query, decision)) = fresh.next() {
                    memo.insert(query.clone(), decision.clone());
                    *slot = Some(decision);
                }
            }
        }
        decisions
            .into_iter()
            .map(|d| d.unwrap_or_else(|| Decision::deny(&[POLICY_ERROR])))
            .collect()
    }
}

/// The policy layer: the active version, swapped whole when another is activated.
#[derive(Debug)]
pub struct Engine {
    schema: Schema,
    active: RwLock<Arc<Version>>,
}

impl Engine {
    /// An engine over the shipped policies (version 0 until the store names its own).
    pub fn with_defaults() -> Result<Engine, Vec<String>> {
        Engine::with_version(0, &default_text())
    }

    /// An engine whose active version is `text`, compiled once against the shipped schema.
    pub fn with_version(number: i64, text: &str) -> Result<Engine, Vec<String>> {
        let schema = schema()?;
        let compiled = compile(text, &schema)?;
        Ok(Engine {
            schema,
            active: RwLock::new(Arc::new(Version::new(number, compiled))),
        })
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    pub fn compile(&self, text: &str) -> Result<Compiled, Vec<String>> {
        compile(text, &self.schema)
    }

    /// [`Engine::compile`], with each problem's place in the text.
    pub fn check(&self, text: &str) -> Result<Compiled, Vec<PolicyProblem>> {
        check(text, &self.schema)
    }

    pub fn active(&self) -> Arc<Version> {
        self.active
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes `version` the one every following decision uses; its memo starts empty.
    pub fn activate(&self, version: Version) {
        *self.active.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(version);
    }

    pub fn decide(&self, query: &Query) -> Decision {
        self.active().decide(query)
    }

    /// Several queries at once, against one version (see [`Version`]'s memo).
    pub fn decide_all(&self, queries: &[&Query]) -> Vec<Decision> {
        self.active().decide_all(queries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::facts::{CaseFacts, ContextFacts, Principal, Resource};

    fn view_by_home_staff() -> Query {
        let case: CaseFacts =
            serde_json::from_value(serde_json::json!({ "home": "1275" })).expect("facts");
        Query {
            principal: Principal::Caseworker {
                id: "1275-01".into(),
                municipality: "1275".into(),
                protected_identity_clearance: false,
                supervisor: false,
                skills: ["ekonomi".to_owned()].into(),
                languages: ["sv".to_owned()].into(),
            },
            action: Action::View,
            resource: Resource::Case(Box::new(case)),
            context: ContextFacts::default(),
        }
    }

    /// Cedar skips a policy that fails while it is evaluated, and a skipped forbid would mean
    /// allow: Brygga denies instead, naming the policy that failed.
    #[test]
    fn a_policy_that_fails_at_run_time_denies_and_is_named() {
        let query = view_by_home_staff();
        let shipped = Engine::with_defaults().expect("shipped policies");
        assert!(shipped.decide(&query).allowed, "home staff may view");
        let text = format!(
            "{}\n@id(\"overflows\")\nforbid (principal is Caseworker, action == Action::\"view\", resource)\n\
             when {{ resource.ring - 9223372036854775807 - 2 < 0 }};\n",
            default_text()
        );
        let broken = Engine::with_version(2, &text).expect("it validates");
        let decision = broken.decide(&query);
        assert!(!decision.allowed);
        assert_eq!(decision.policies, vec!["policy-error:overflows".to_owned()]);
        // Outside home, the erroring policy's name is not one of the home-only rules' names,
        // so it is shown; an R11 policy that fails is hidden like any R11 reason.
        let hidden =
            Decision::deny(&["policy-error:R11-protected-identity"]).for_caller("1283", "1275");
        assert_eq!(
            hidden.policies,
            vec![crate::policy::DEFAULT_DENY.to_owned()]
        );
    }

    /// A line of `text` at its 1-based `line`.
    fn line_of(text: &str, line: u32) -> &str {
        text.lines().nth(line as usize - 1).unwrap_or_default()
    }

    #[test]
    fn a_syntax_error_is_placed_at_its_line() {
        let text = "@id(\"a\")\nforbid (principal, action, resource);\n\n@id(\"b\")\nforbid (principal, action, resource) when { 1 + };\n";
        let problems = check(text, &schema().expect("schema")).expect_err("invalid");
        let at = problems[0].at.expect("placed");
        assert_eq!(
            (at.text, at.line),
            (ProblemText::Policies, 5),
            "{problems:?}"
        );
        assert!(problems[0].message.starts_with("parse: "));
        assert!(problems[0].to_string().starts_with("line 5:"));
    }

    #[test]
    fn schema_and_annotation_errors_are_placed_at_their_policy() {
        let text = "// first\n@id(\"fine\")\nforbid (principal, action, resource);\n\n\
                    @id(\"typo\")\nforbid (principal is Caseworker, action == Action::\"view\", resource is Case)\n\
                    when { resource.colour == \"red\" };\n\
                    @id(\"ringless\")\n@ring(\"7\")\nforbid (principal, action, resource);\n";
        let problems = check(text, &schema().expect("schema")).expect_err("invalid");
        let ring = problems
            .iter()
            .find(|p| p.message.contains("@ring"))
            .expect("the ring is named");
        let at = ring.at.expect("placed");
        assert!(line_of(text, at.line).starts_with("@ring"), "{ring:?}");
        let typo = problems
            .iter()
            .find(|p| p.message.contains("colour"))
            .expect("the attribute is named");
        let at = typo.at.expect("placed");
        assert!((5..=7).contains(&at.line), "{typo:?}");
        // The messages are those compile() has always given.
        assert_eq!(
            compile(text, &schema().expect("schema")).expect_err("invalid"),
            problems
                .iter()
                .map(|p| p.message.clone())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_place_counts_characters_not_bytes() {
        let at = Place::of(ProblemText::Tests, "åäö\nxåy", 8);
        assert_eq!((at.line, at.column), (2, 2));
        assert_eq!(
            Place::of(ProblemText::Tests, "å", 1).column,
            1,
            "inside a character"
        );
        assert_eq!(
            Place::of(ProblemText::Tests, "ab", 99).column,
            3,
            "past the end"
        );
    }
}
