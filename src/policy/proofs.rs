//! Legal invariants of LEGAL.md, each written once as Cedar, and their proofs per request
//! type of the schema.
//!
//! Two shapes of invariant:
//! - [`Shape::Never`]: a `forbid` (written as Cedar text) that the active set must never
//!   contradict. Proven as "active ⇒ { permit everything; the forbid }": every request the
//!   active set allows is allowed by the bound, i.e. none of them is one the forbid forbids.
//!   A counterexample is a request the active set allows and the invariant forbids.
//! - [`Shape::Always`]: a `permit` the active set must honour: "{ the permit } ⇒ active".
//!   A counterexample is a request the invariant says must be allowed and the set refuses.
//!
//! And one check of a different kind: every policy never errors (per policy, per request
//! type), with the failing policy and request as counterexample.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use cedar_policy::{
    ActionConstraint, Authorizer, Decision, Effect, EntityUid, EvalResult, Policy, PolicySet,
    PrincipalConstraint, RequestEnv, ResourceConstraint, Schema, ValidationMode, Validator,
};
use cedar_policy_symcc::solver::LocalSolver;
use cedar_policy_symcc::{CedarSymCompiler, CompiledPolicy, CompiledPolicySet, Env};

/// The eID levels that count as level 3 or higher (LEGAL.md R1).
const LOA3: &str = r#"["loa3", "loa4", "eidas-sub", "eidas-nf-sub", "eidas-high"]"#;

/// How an invariant constrains the active set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// The invariant is a `forbid`: the active set never allows what it forbids.
    Never,
    /// The invariant is a `permit`: the active set allows at least what it permits.
    Always,
    /// No policy of the active set ever evaluates to an error.
    NeverErrors,
}

/// One legal invariant.
#[derive(Clone, Debug)]
pub struct Invariant {
    /// Stable id, starting with the LEGAL.md rule (`R10-…`) or saying what it is.
    pub id: &'static str,
    /// The LEGAL.md rule, or `federation` for a non-legal invariant.
    pub rule: &'static str,
    /// What it says, in a sentence for a lawyer.
    pub description: &'static str,
    pub shape: Shape,
    /// Cedar text: one `forbid` (Never) or one `permit` (Always); empty for NeverErrors.
    pub cedar: String,
    /// The shipped policies that make it hold (for messages and mutation tests).
    pub guarded_by: &'static [&'static str],
}

/// The invariants Brygga's policies must satisfy.
pub fn invariants() -> Vec<Invariant> {
    let mut all = vec![
        Invariant {
            id: "R10-child-concern-never-routed-away",
            rule: "R10",
            description: "a concern about a child is never routed to a municipality other \
                          than the child's home",
            shape: Shape::Never,
            cedar: r#"forbid (principal, action == Action::"route", resource)
when { principal != resource.home && resource.child_concern };"#
                .into(),
            guarded_by: &["R10-child-concern-stays-home"],
        },
        Invariant {
            id: "R10-child-concern-never-withdrawn",
            rule: "R10",
            description: "nobody can cancel (withdraw) a concern about a child",
            shape: Shape::Never,
            cedar: r#"forbid (principal, action == Action::"cancel", resource is Case)
when { resource.child_concern };"#
                .into(),
            guarded_by: &["R10-child-concern-not-withdrawn"],
        },
        Invariant {
            id: "R11-protected-identity-only-cleared-home-staff",
            rule: "R11",
            description: "no caseworker may do anything with a case under skyddad \
                          folkbokföring or fingerade personuppgifter unless cleared for \
                          protected identities and working in the case's home municipality",
            shape: Shape::Never,
            cedar: r#"forbid (principal is Caseworker, action, resource is Case)
when { ["skyddad_folkbokforing", "fingerade"].contains(resource.protection) }
unless {
  principal.protected_identity_clearance && principal.municipality == resource.home
};"#
            .into(),
            guarded_by: &["R11-protected-identity"],
        },
        Invariant {
            id: "R11-protected-identity-never-routed-away",
            rule: "R11",
            description: "a request under skyddad folkbokföring or fingerade \
                          personuppgifter is never routed outside its home municipality",
            shape: Shape::Never,
            cedar: r#"forbid (principal, action == Action::"route", resource)
when {
  principal != resource.home &&
  ["skyddad_folkbokforing", "fingerade"].contains(resource.protection)
};"#
            .into(),
            guarded_by: &[
                "R11-protected-identity-stays-home",
                "R3-stated-home-under-protection",
            ],
        },
        Invariant {
            id: "R9-no-access-outside-home-without-routing",
            rule: "R9",
            description: "outside the case's home municipality, a caseworker may do nothing \
                          with a case unless routing permits their municipality at that \
                          moment",
            shape: Shape::Never,
            cedar: r#"forbid (principal is Caseworker, action, resource is Case)
when {
  principal.municipality != resource.home &&
  !(context has handler && context.handler.permitted)
};"#
            .into(),
            guarded_by: &["R9-cross-border-access-ends"],
        },
        Invariant {
            id: "R1-identified-request-never-routed-below-loa3",
            rule: "R1",
            description: "a request tied to an identified person is never routed anywhere, \
                          home included, when its eID level is below loa3",
            shape: Shape::Never,
            cedar: format!(
                r#"forbid (principal, action == Action::"route", resource)
when {{ !resource.anonymous && !{LOA3}.contains(resource.loa) }};"#
            ),
            guarded_by: &["R1-identified-request-needs-loa3"],
        },
        Invariant {
            id: "R1-citizen-below-loa3-gets-nothing",
            rule: "R1",
            description: "a citizen logged in below eID level 3 may do nothing with any case",
            shape: Shape::Never,
            cedar: format!(
                r#"forbid (principal is Citizen, action, resource)
unless {{ {LOA3}.contains(principal.loa) }};"#
            ),
            guarded_by: &["R1-citizen-needs-loa3"],
        },
        Invariant {
            id: "R8-identifiable-request-needs-consent-to-leave-home",
            rule: "R8",
            description: "an identifiable request is routed outside its home only with the \
                          citizen's consent to cross-municipality handling, and, if the \
                          consent is limited, only to a municipality it names",
            shape: Shape::Never,
            cedar: r#"forbid (principal, action == Action::"route", resource)
when {
  principal != resource.home &&
  !resource.anonymous &&
  !(resource.consent.cross_municipality &&
(!resource.consent.limited || resource.consent.municipalities.contains(principal)))
};"#
            .into(),
            guarded_by: &["R8-no-consent", "R5-agreement-service", "R6-delegated-authority"],
        },
        Invariant {
            id: "R8-partner-reads-content-only-once-it-has-the-case",
            rule: "R8",
            description: "outside the case's home, a caseworker sees at most a request's \
                          metadata until they have the case: nobody else there reads its \
                          content (the thread, who the citizen is)",
            shape: Shape::Never,
            cedar: r#"forbid (principal is Caseworker, action == Action::"read_content", resource is Case)
when {
  principal.municipality != resource.home &&
  !(resource has owner && resource.owner == principal)
};"#
            .into(),
            guarded_by: &["R15-home-staff-with-skill", "R15-home-supervisor", "R15-case-owner"],
        },
        Invariant {
            id: "R6-authority-leaves-home-only-under-delegation",
            rule: "R6",
            description: "an authority matter (myndighetsutövning) is routed outside its \
                          home only under an agreement, valid that day, between home and the \
                          handler, that lists the category and delegates authority",
            shape: Shape::Never,
            cedar: r#"forbid (principal, action == Action::"route", resource)
when { principal != resource.home && resource.kind == "authority" }
unless {
  context has agreement &&
  context.agreement.delegates_authority &&
  context.agreement.members.contains(principal) &&
  context.agreement.members.contains(resource.home) &&
  context.agreement.categories.contains(resource.category) &&
  context.agreement.valid_from <= context.today &&
  context.today <= context.agreement.valid_to
};"#
            .into(),
            guarded_by: &["R6-authority-stays-home", "R6-delegated-authority"],
        },
        Invariant {
            id: "R16-municipality-administrator-only-own-cases",
            rule: "R16",
            description: "an administrator of one municipality never acts on, or reads the \
                          trail of, another municipality's cases",
            shape: Shape::Never,
            cedar: r#"forbid (principal is Admin, action, resource is Case)
when { principal has municipality && principal.municipality != resource.home };"#
                .into(),
            guarded_by: &["R16-home-administrator", "federation-administrator"],
        },
        Invariant {
            id: "federation-only-federation-administrators",
            rule: "federation",
            description: "only federation administrators (administrators without a \
                          municipality) administer the federation or read its audit trail",
            shape: Shape::Never,
            cedar: r#"forbid (principal is Admin, action, resource is Federation)
when { principal has municipality };"#
                .into(),
            guarded_by: &["federation-administrator"],
        },
        Invariant {
            id: "federation-administrators-can-administer",
            rule: "federation",
            description: "a federation administrator can always administer the federation \
                          (the set does not lock the federation out of its own settings)",
            shape: Shape::Always,
            cedar: r#"permit (principal is Admin, action == Action::"administer", resource is Federation)
when { !(principal has municipality) };"#
                .into(),
            guarded_by: &["federation-administrator"],
        },
    ];
    all.push(Invariant {
        id: "policies-never-error",
        rule: "engine",
        description: "no policy ever fails to evaluate (the engine fails closed, but a \
                      policy that can error is a bug)",
        shape: Shape::NeverErrors,
        cedar: String::new(),
        guarded_by: &[],
    });
    all
}

/// A request type of the schema: principal type, action, resource type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestType {
    pub principal: String,
    pub action: String,
    pub resource: String,
}

impl RequestType {
    fn of(env: &RequestEnv) -> RequestType {
        RequestType {
            principal: env.principal().to_string(),
            action: env.action().id().unescaped().to_string(),
            resource: env.resource().to_string(),
        }
    }
}

impl fmt::Display for RequestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.principal, self.action, self.resource)
    }
}

/// A request that breaks an invariant, with its entities, in words and raw.
#[derive(Clone, Debug)]
pub struct Counterexample {
    /// Plain words for an administrator or a lawyer.
    pub words: String,
    /// The active set's decision on the request (`Allow` / `Deny`).
    pub decision: Decision,
    /// Ids (`@id`) of the policies that determined that decision.
    pub determined_by: Vec<String>,
    /// The policy that errors (for `policies-never-error`).
    pub erroring_policy: Option<String>,
    /// The solver's request and entities as symcc prints them.
    pub raw: String,
}

#[derive(Clone, Debug)]
pub enum Verdict {
    Proven,
    Broken(Box<Counterexample>),
    /// The invariant says nothing about this request type.
    NotApplicable,
    /// The proof could not be run (solver missing or crashed, unknown, compile error).
    Failed(String),
}

/// One invariant on one request type.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub invariant: &'static str,
    pub rule: &'static str,
    pub request_type: RequestType,
    pub verdict: Verdict,
    /// Compilation and solving, this invariant on this request type.
    pub elapsed: Duration,
}

impl Outcome {
    pub fn is_broken(&self) -> bool {
        matches!(self.verdict, Verdict::Broken(_))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.elapsed.as_secs_f64() * 1000.0;
        match &self.verdict {
            Verdict::Proven => write!(
                f,
                "proven      {:<52} {:<40} {ms:7.1} ms",
                self.invariant,
                self.request_type.to_string()
            ),
            Verdict::NotApplicable => write!(
                f,
                "n/a         {:<52} {}",
                self.invariant, self.request_type
            ),
            Verdict::Failed(why) => write!(
                f,
                "FAILED      {:<52} {:<40} {ms:7.1} ms: {why}",
                self.invariant,
                self.request_type.to_string()
            ),
            Verdict::Broken(cex) => write!(
                f,
                "BROKEN      {:<52} {:<40} {ms:7.1} ms\n{}",
                self.invariant,
                self.request_type.to_string(),
                cex.words
            ),
        }
    }
}

/// Why verification could not start at all: never to be read as "nothing broken".
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("schema: {0}")]
    Schema(String),
    #[error("policies: {0}")]
    Policies(String),
    #[error("invariant {0}: {1}")]
    Invariant(&'static str, String),
    #[error("solver: {0}")]
    Solver(String),
}

/// Proves every invariant for a policy set, per request type of the schema. Blocking: it
/// runs its own single-threaded runtime (do not call from inside a tokio runtime; use
/// [`verify_async`] there).
pub fn verify(
    schema_text: &str,
    policies_text: &str,
    solver_path: &str,
) -> Result<Vec<Outcome>, VerifyError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| VerifyError::Solver(format!("no runtime: {e}")))?;
    runtime.block_on(verify_async(
        schema_text,
        policies_text,
        solver_path,
        &invariants(),
    ))
}

/// Starts cvc5 at `path` as a separate process speaking SMT-LIB on stdin/stdout. A time
/// limit per query (`--tlimit-per`), not per process: one process answers every query.
fn solver(path: &str) -> Result<CedarSymCompiler<LocalSolver>, VerifyError> {
    let mut command = tokio::process::Command::new(path);
    command
        .args(["--lang", "smt", "--tlimit-per=20000"])
        .kill_on_drop(true);
    let local = LocalSolver::from_command(&mut command)
        .map_err(|e| VerifyError::Solver(format!("cannot start {path}: {e}")))?;
    CedarSymCompiler::new(local).map_err(|e| VerifyError::Solver(e.to_string()))
}

/// A policy set of one policy's text, with its own `@id` for messages.
fn parse_invariant(inv: &Invariant) -> Result<PolicySet, VerifyError> {
    PolicySet::from_str(&inv.cedar).map_err(|e| VerifyError::Invariant(inv.id, e.to_string()))
}

/// [`verify`] for callers that already run tokio.
pub async fn verify_async(
    schema_text: &str,
    policies_text: &str,
    solver_path: &str,
    invariants: &[Invariant],
) -> Result<Vec<Outcome>, VerifyError> {
    let (schema, _) = Schema::from_cedarschema_str(schema_text)
        .map_err(|e| VerifyError::Schema(e.to_string()))?;
    let active =
        PolicySet::from_str(policies_text).map_err(|e| VerifyError::Policies(e.to_string()))?;
    prove(&schema, &active, solver_path, invariants).await
}

/// [`verify_async`] on a schema and a policy set already parsed (the engine's, after its own
/// checks): every invariant, per request type.
pub async fn prove(
    schema: &Schema,
    active: &PolicySet,
    solver_path: &str,
    invariants: &[Invariant],
) -> Result<Vec<Outcome>, VerifyError> {
    let (schema, active) = (schema.clone(), active.clone());
    // symcc requires policies that validate (it well-types them itself, but a set that
    // does not validate has no business being proven).
    let validation = Validator::new(schema.clone()).validate(&active, ValidationMode::Strict);
    if !validation.validation_passed() {
        let first = validation.validation_errors().next().map(|e| e.to_string());
        return Err(VerifyError::Policies(format!(
            "does not validate: {}",
            first.unwrap_or_default()
        )));
    }

    // Each invariant, parsed and turned into the set it is compared with.
    let mut prepared = Vec::new();
    for inv in invariants {
        let (own, compared) = match inv.shape {
            Shape::NeverErrors => (None, None),
            Shape::Never => {
                let own = parse_invariant(inv)?;
                let text = format!("permit (principal, action, resource);\n{}", inv.cedar);
                let bound = PolicySet::from_str(&text)
                    .map_err(|e| VerifyError::Invariant(inv.id, e.to_string()))?;
                (Some(own), Some(bound))
            }
            Shape::Always => {
                let own = parse_invariant(inv)?;
                (Some(own.clone()), Some(own))
            }
        };
        if let Some(own) = &own {
            let effect_ok = own.policies().all(|p| match inv.shape {
                Shape::Never => p.effect() == Effect::Forbid,
                _ => p.effect() == Effect::Permit,
            });
            if !effect_ok || own.policies().count() != 1 {
                return Err(VerifyError::Invariant(
                    inv.id,
                    "must be exactly one forbid (Never) or permit (Always)".into(),
                ));
            }
            let check = Validator::new(schema.clone()).validate(own, ValidationMode::Strict);
            if !check.validation_passed() {
                let first = check.validation_errors().next().map(|e| e.to_string());
                return Err(VerifyError::Invariant(inv.id, first.unwrap_or_default()));
            }
        }
        prepared.push((inv, own, compared));
    }

    let mut compiler = solver(solver_path)?;
    let mut outcomes = Vec::new();
    for env in schema.request_envs() {
        let request_type = RequestType::of(&env);
        let started = Instant::now();
        let compiled_active = CompiledPolicySet::compile(&active, &env, &schema);
        let active_compile_time = started.elapsed();
        for (inv, own, compared) in &prepared {
            let started = Instant::now();
            let verdict = match (inv.shape, own, compared, &compiled_active) {
                (_, _, _, Err(e)) => Verdict::Failed(format!("active set: {e}")),
                (Shape::NeverErrors, _, _, Ok(_)) => {
                    never_errors(&mut compiler, &active, &env, &schema, solver_path).await
                }
                (_, Some(own), _, _) if !own.policies().any(|p| scope_admits(p, &env)) => {
                    Verdict::NotApplicable
                }
                (shape, Some(own), Some(compared), Ok(active_c)) => {
                    match CompiledPolicySet::compile(compared, &env, &schema) {
                        Err(e) => Verdict::Failed(format!("invariant: {e}")),
                        Ok(compared_c) => {
                            let answer = if shape == Shape::Never {
                                compiler
                                    .check_implies_with_counterexample_opt(active_c, &compared_c)
                                    .await
                            } else {
                                compiler
                                    .check_implies_with_counterexample_opt(&compared_c, active_c)
                                    .await
                            };
                            match answer {
                                Ok(None) => Verdict::Proven,
                                Ok(Some(cex)) => {
                                    Verdict::Broken(Box::new(describe(inv, own, &active, &cex)))
                                }
                                Err(e) => {
                                    // A failed solver process is not reused.
                                    if let Ok(fresh) = solver(solver_path) {
                                        compiler = fresh;
                                    }
                                    Verdict::Failed(e.to_string())
                                }
                            }
                        }
                    }
                }
                _ => Verdict::Failed("invariant without Cedar text".into()),
            };
            let mut elapsed = started.elapsed();
            if !matches!(verdict, Verdict::NotApplicable) {
                // The active set is compiled once per request type; charge it to each
                // proof that used it, so that a proof's time is what it would cost alone.
                elapsed += active_compile_time;
            }
            outcomes.push(Outcome {
                invariant: inv.id,
                rule: inv.rule,
                request_type: request_type.clone(),
                verdict,
                elapsed,
            });
        }
    }
    Ok(outcomes)
}

/// Every policy of the active set that can apply to `env` never errors on it.
async fn never_errors(
    compiler: &mut CedarSymCompiler<LocalSolver>,
    active: &PolicySet,
    env: &RequestEnv,
    schema: &Schema,
    solver_path: &str,
) -> Verdict {
    for policy in active.policies().filter(|p| scope_admits(p, env)) {
        let compiled = match CompiledPolicy::compile(policy, env, schema) {
            Ok(c) => c,
            Err(e) => return Verdict::Failed(format!("{}: {e}", policy_name(policy))),
        };
        match compiler
            .check_never_errors_with_counterexample_opt(&compiled)
            .await
        {
            Ok(None) => {}
            Ok(Some(cex)) => {
                return Verdict::Broken(Box::new(describe_error(policy, active, &cex)));
            }
            Err(e) => {
                if let Ok(fresh) = solver(solver_path) {
                    *compiler = fresh;
                }
                return Verdict::Failed(format!("{}: {e}", policy_name(policy)));
            }
        }
    }
    Verdict::Proven
}

/// Whether a policy's scope can match requests of this type (no entity or action
/// hierarchy in Brygga's schema; `in` is read generously, as "maybe").
fn scope_admits(policy: &Policy, env: &RequestEnv) -> bool {
    let principal = match policy.principal_constraint() {
        PrincipalConstraint::Any | PrincipalConstraint::In(_) => true,
        PrincipalConstraint::Eq(uid) => uid.type_name() == env.principal(),
        PrincipalConstraint::Is(ty) | PrincipalConstraint::IsIn(ty, _) => &ty == env.principal(),
    };
    let action = match policy.action_constraint() {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(a) => &a == env.action(),
        ActionConstraint::In(list) => list.contains(env.action()),
    };
    let resource = match policy.resource_constraint() {
        ResourceConstraint::Any | ResourceConstraint::In(_) => true,
        ResourceConstraint::Eq(uid) => uid.type_name() == env.resource(),
        ResourceConstraint::Is(ty) | ResourceConstraint::IsIn(ty, _) => &ty == env.resource(),
    };
    principal && action && resource
}

/// A policy's `@id`, or the parser's id when it has none.
fn policy_name(policy: &Policy) -> String {
    policy
        .annotation("id")
        .map_or_else(|| policy.id().to_string(), str::to_string)
}

/// `principal.x.y`, `resource.x`, `context.x.y` paths a Cedar text reads, in order,
/// including those it only tests with `has` (`principal has municipality`).
fn paths_read(text: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = text.chars().collect();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    // Tokens: dotted paths (with whether a `(` follows), and anything else as a break.
    let mut tokens: Vec<(Vec<String>, bool)> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '"' {
            // Skip string literals: their words are not paths.
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            tokens.push((Vec::new(), false));
        } else if ident(chars[i]) {
            let mut path = Vec::new();
            loop {
                let from = i;
                while i < chars.len() && ident(chars[i]) {
                    i += 1;
                }
                path.push(chars[from..i].iter().collect::<String>());
                if i + 1 < chars.len() && chars[i] == '.' && ident(chars[i + 1]) {
                    i += 1;
                } else {
                    break;
                }
            }
            let call = i < chars.len() && chars[i] == '(';
            tokens.push((path, call));
        } else {
            if !chars[i].is_whitespace() {
                tokens.push((Vec::new(), false));
            }
            i += 1;
        }
    }
    let mut found: Vec<Vec<String>> = Vec::new();
    let mut push = |path: Vec<String>| {
        if path.len() > 1
            && ["principal", "resource", "context"].contains(&path[0].as_str())
            && !found.contains(&path)
        {
            found.push(path);
        }
    };
    for (n, (path, call)) in tokens.iter().enumerate() {
        let mut path = path.clone();
        if *call && path.len() > 1 {
            path.pop(); // `.contains(`: a method, not an attribute
        }
        let has = tokens
            .get(n + 1)
            .is_some_and(|(t, _)| t.len() == 1 && t[0] == "has");
        match tokens.get(n + 2) {
            Some((attr, _)) if has && attr.len() == 1 => {
                let mut tested = path.clone();
                tested.push(attr[0].clone());
                push(tested);
            }
            _ => push(path),
        }
    }
    // `context.agreement` is implied by `context.agreement.members`: keep the longest.
    let all = found.clone();
    found.retain(|p| !all.iter().any(|q| q.len() > p.len() && q.starts_with(p)));
    found
}

/// The value at a path in a concrete request, following entity references.
fn value_at(cex: &Env, path: &[String]) -> Option<EvalResult> {
    let request = &cex.request;
    let mut value = match path.first()?.as_str() {
        "principal" => EvalResult::EntityUid(request.principal()?.clone()),
        "resource" => EvalResult::EntityUid(request.resource()?.clone()),
        "context" => request.context()?.get(path.get(1)?)?,
        _ => return None,
    };
    let rest = if path[0] == "context" {
        &path[2..]
    } else {
        &path[1..]
    };
    for segment in rest {
        value = match value {
            EvalResult::EntityUid(uid) => cex.entities.get(&uid)?.attr(segment)?.ok()?,
            EvalResult::Record(record) => record.get(segment)?.clone(),
            _ => return None,
        };
    }
    Some(value)
}

/// Readable names for the solver's entities, whose ids are arbitrary (often `""`):
/// `Municipality #1`, `Municipality #2`, … in order of first mention, so that a reader
/// sees which are the same and which differ.
struct Names {
    principal: Option<EntityUid>,
    seen: Vec<EntityUid>,
}

impl Names {
    fn new(cex: &Env) -> Names {
        let mut names = Names {
            principal: cex.request.principal().cloned(),
            seen: Vec::new(),
        };
        if let Some(p) = cex.request.principal() {
            names.name(p);
        }
        if let Some(r) = cex.request.resource() {
            names.name(r);
        }
        names
    }

    fn name(&mut self, uid: &EntityUid) -> String {
        if !self.seen.contains(uid) {
            self.seen.push(uid.clone());
        }
        let ty = uid.type_name();
        let n = self
            .seen
            .iter()
            .filter(|u| u.type_name() == ty)
            .position(|u| u == uid)
            .unwrap_or(0)
            + 1;
        let own = format!("{ty} #{n}");
        if Some(uid) == self.principal.as_ref() {
            format!("{own} (the principal itself)")
        } else {
            own
        }
    }

    fn show(&mut self, value: &EvalResult) -> String {
        match value {
            EvalResult::EntityUid(uid) => self.name(uid),
            EvalResult::Set(set) if set.is_empty() => "nothing (empty set)".into(),
            EvalResult::Set(set) => {
                let items: Vec<String> = set.iter().map(|v| self.show(v)).collect();
                format!("{{{}}}", items.join(", "))
            }
            other => other.to_string(),
        }
    }
}

/// The active set's decision on the counterexample, the policies that made it, and the
/// evaluation errors.
fn decide(set: &PolicySet, cex: &Env) -> (Decision, Vec<String>, Vec<String>) {
    let response = Authorizer::new().is_authorized(&cex.request, set, &cex.entities);
    let named =
        |id: &cedar_policy::PolicyId| set.policy(id).map_or_else(|| id.to_string(), policy_name);
    let reasons: Vec<String> = response.diagnostics().reason().map(named).collect();
    let errors: Vec<String> = response
        .diagnostics()
        .errors()
        .map(|e| match e {
            cedar_policy::AuthorizationError::PolicyEvaluationError(e) => {
                format!("{}: {}", named(e.policy_id()), e.inner())
            }
        })
        .collect();
    (response.decision(), reasons, errors)
}

/// The request's who / what / on-what, in words.
fn request_words(cex: &Env, names: &mut Names) -> String {
    let r = &cex.request;
    let who = r.principal().map_or("someone".into(), |p| names.name(p));
    let action = r
        .action()
        .map_or("?".into(), |a| a.id().unescaped().to_string());
    let what = r.resource().map_or("something".into(), |x| names.name(x));
    if action == "route" {
        // The principal of `route` is the municipality asked about, not someone acting.
        let who = who.replace(" (the principal itself)", "");
        format!("{what} is routed to (`route`) {who}")
    } else {
        format!(
            "{} asks to `{action}` {what}",
            who.replace(" (the principal itself)", "")
        )
    }
}

/// The facts of the request that a Cedar text reads.
fn facts_words(cex: &Env, text: &str, names: &mut Names) -> String {
    paths_read(text)
        .iter()
        .map(|path| {
            let shown =
                value_at(cex, path).map_or_else(|| "absent".to_string(), |v| names.show(&v));
            format!("  - {} = {shown}", path.join("."))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn describe(inv: &Invariant, own: &PolicySet, active: &PolicySet, cex: &Env) -> Counterexample {
    let (decision, determined_by, _errors) = decide(active, cex);
    let text = own
        .policies()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let verdict = match (inv.shape, decision) {
        (Shape::Always, Decision::Deny) if determined_by.is_empty() => {
            "The policies refuse it: no permit matches (default deny).".to_string()
        }
        (Shape::Always, Decision::Deny) => {
            format!("The policies refuse it, by: {}.", determined_by.join(", "))
        }
        (Shape::Always, Decision::Allow) | (_, Decision::Deny) => {
            "The evaluator disagrees with the solver on this request: report this.".into()
        }
        (_, Decision::Allow) => {
            format!("The policies allow it, by: {}.", determined_by.join(", "))
        }
    };
    let guards = if inv.guarded_by.is_empty() {
        String::new()
    } else {
        format!(
            "\n  In the shipped set this is kept by: {}.",
            inv.guarded_by.join(", ")
        )
    };
    let mut names = Names::new(cex);
    let request = request_words(cex, &mut names);
    let facts = facts_words(cex, &text, &mut names);
    let words = format!(
        "{} ({}) does not hold: {}.\n  Counterexample: {request}.\n  The facts that \
         matter:\n{facts}\n  {verdict}{guards}",
        inv.id, inv.rule, inv.description,
    );
    Counterexample {
        words,
        decision,
        determined_by,
        erroring_policy: None,
        raw: cex.to_string(),
    }
}

fn describe_error(policy: &Policy, active: &PolicySet, cex: &Env) -> Counterexample {
    let name = policy_name(policy);
    let mut alone = PolicySet::new();
    let _ = alone.add(policy.clone());
    let (_, _, errors) = decide(&alone, cex);
    let (decision, determined_by, _) = decide(active, cex);
    let mut names = Names::new(cex);
    let request = request_words(cex, &mut names);
    let facts = facts_words(cex, &policy.to_string(), &mut names);
    let error = if errors.is_empty() {
        "(the evaluator reports none: report this)".to_string()
    } else {
        errors.join("; ")
    };
    let words = format!(
        "policies-never-error (engine) does not hold: policy {name} can fail to \
         evaluate.\n  Counterexample: {request}.\n  The facts that matter:\n{facts}\n  \
         The error: {error}.\n  The engine then decides {decision:?} (it fails closed and \
         logs policy-error)."
    );
    Counterexample {
        words,
        decision,
        determined_by,
        erroring_policy: Some(name),
        raw: cex.to_string(),
    }
}

/// How two versions differ on one request type.
#[derive(Clone, Debug)]
pub struct Difference {
    pub request_type: RequestType,
    /// `None`: the two versions decide every request of this type alike (proven).
    /// `Some`: a request they decide differently, in words.
    pub example: Option<String>,
    pub elapsed: Duration,
}

/// Per request type, whether `old` and `new` decide alike, from the solver's equivalence
/// check, with one request that tells them apart when they do not (issue 23, item 4).
pub async fn compare_async(
    schema_text: &str,
    old_text: &str,
    new_text: &str,
    solver_path: &str,
) -> Result<Vec<Difference>, VerifyError> {
    let (schema, _) = Schema::from_cedarschema_str(schema_text)
        .map_err(|e| VerifyError::Schema(e.to_string()))?;
    let old = PolicySet::from_str(old_text).map_err(|e| VerifyError::Policies(e.to_string()))?;
    let new = PolicySet::from_str(new_text).map_err(|e| VerifyError::Policies(e.to_string()))?;
    compare(&schema, &old, &new, solver_path).await
}

/// [`compare_async`] on parsed sets, off the async workers (see [`prove_blocking`]).
pub fn compare_blocking(
    schema: &Schema,
    old: &PolicySet,
    new: &PolicySet,
    solver_path: &str,
) -> Result<Vec<Difference>, VerifyError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| VerifyError::Solver(format!("no runtime: {e}")))?;
    runtime.block_on(compare(schema, old, new, solver_path))
}

/// [`compare_async`] on parsed sets.
pub async fn compare(
    schema: &Schema,
    old: &PolicySet,
    new: &PolicySet,
    solver_path: &str,
) -> Result<Vec<Difference>, VerifyError> {
    let (schema, old, new) = (schema.clone(), old.clone(), new.clone());
    let mut compiler = solver(solver_path)?;
    let mut out = Vec::new();
    for env in schema.request_envs() {
        let started = Instant::now();
        let old_c = CompiledPolicySet::compile(&old, &env, &schema)
            .map_err(|e| VerifyError::Policies(format!("old: {e}")))?;
        let new_c = CompiledPolicySet::compile(&new, &env, &schema)
            .map_err(|e| VerifyError::Policies(format!("new: {e}")))?;
        let found = compiler
            .check_equivalent_with_counterexample_opt(&old_c, &new_c)
            .await
            .map_err(|e| VerifyError::Solver(e.to_string()))?;
        let example = found.map(|cex| {
            let (before, before_by, _) = decide(&old, &cex);
            let (after, after_by, _) = decide(&new, &cex);
            let mut names = Names::new(&cex);
            format!(
                "{}: before {before:?} ({}), now {after:?} ({})",
                request_words(&cex, &mut names),
                if before_by.is_empty() {
                    "no policy".into()
                } else {
                    before_by.join(", ")
                },
                if after_by.is_empty() {
                    "no policy".into()
                } else {
                    after_by.join(", ")
                },
            )
        });
        out.push(Difference {
            request_type: RequestType::of(&env),
            example,
            elapsed: started.elapsed(),
        });
    }
    Ok(out)
}

/// The distinct request types the schema has, for listings.
pub fn request_types(schema: &Schema) -> Vec<RequestType> {
    schema.request_envs().map(|e| RequestType::of(&e)).collect()
}

/// [`prove`] off the async workers: the symbolic compilation is CPU work (most of a second in
/// a debug build), so a server runs it on a blocking thread with its own small runtime for
/// the solver's pipes.
pub fn prove_blocking(
    schema: &Schema,
    active: &PolicySet,
    solver_path: &str,
) -> Result<Vec<Outcome>, VerifyError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| VerifyError::Solver(format!("no runtime: {e}")))?;
    runtime.block_on(prove(schema, active, solver_path, &invariants()))
}

/// How one invariant fared over every request type it applies to.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    pub invariant: &'static str,
    pub rule: &'static str,
    pub description: &'static str,
    /// `proven`, `broken` or `failed` (failed counts as not proven: the version is refused).
    pub verdict: &'static str,
    /// Request types (principal, action, resource) it was proven on.
    pub proven_on: usize,
    /// The first counterexample in words, or why the proof could not be run.
    pub why: Option<String>,
    /// Time spent on it, in milliseconds.
    pub millis: u64,
}

/// One line per invariant, in [`invariants`]' order: broken if any request type breaks it,
/// else failed if any proof could not be run, else proven.
pub fn summarize(outcomes: &[Outcome]) -> Vec<Summary> {
    invariants()
        .iter()
        .map(|inv| {
            let mine: Vec<&Outcome> = outcomes.iter().filter(|o| o.invariant == inv.id).collect();
            let broken = mine.iter().find_map(|o| match &o.verdict {
                Verdict::Broken(cex) => Some(cex.words.clone()),
                _ => None,
            });
            let failed = mine.iter().find_map(|o| match &o.verdict {
                Verdict::Failed(why) => Some(format!(
                    "{} ({}): the proof could not be run for {}: {why}",
                    inv.id, inv.rule, o.request_type
                )),
                _ => None,
            });
            let verdict = match (&broken, &failed) {
                (Some(_), _) => "broken",
                (None, Some(_)) => "failed",
                (None, None) => "proven",
            };
            Summary {
                invariant: inv.id,
                rule: inv.rule,
                description: inv.description,
                verdict,
                proven_on: mine
                    .iter()
                    .filter(|o| matches!(o.verdict, Verdict::Proven))
                    .count(),
                why: broken.or(failed),
                millis: mine
                    .iter()
                    .map(|o| u64::try_from(o.elapsed.as_millis()).unwrap_or(u64::MAX))
                    .sum(),
            }
        })
        .collect()
}
