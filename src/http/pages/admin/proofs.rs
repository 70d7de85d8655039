//! `/admin/policies/{version}/proofs`: the legal invariants a policy version is proven against
//! (issue 23; src/policy/proofs.rs), beside its tests. Storing a version runs the same proofs
//! and refuses it if one breaks; this page runs them again for a stored version (they are
//! deterministic and store nothing) and says, invariant by invariant, what holds for every
//! request the schema admits — or the counterexample the solver found.
//!
//! The invariants' names are in the message files (`admin_policies.invariant.<id>`); the
//! counterexample itself names Cedar attributes and policy ids, so it is shown as technical
//! text in English beside the verdict.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::super::work::{RuleLink, rule_links, with_status};
use super::{Admin, AdminFrame, Section, admin_page};
use crate::http::AppState;
use crate::http::pages::{Frame, Page, PageError, Who, render};
use crate::policy::proofs;
use crate::workflow;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/policies/{version}/proofs", get(proofs_page))
}

/// One invariant as the page shows it.
pub(super) struct InvariantRow {
    pub(super) id: &'static str,
    pub(super) name: &'static str,
    pub(super) rules: Vec<RuleLink>,
}

/// The invariants every version is proven against, in the order they are proven.
pub(super) fn invariant_rows(page: &Page) -> Vec<InvariantRow> {
    proofs::invariants()
        .iter()
        .map(|inv| InvariantRow {
            id: inv.id,
            name: page.t(&format!("admin_policies.invariant.{}", inv.id)),
            rules: rule_links(&legal_rules(inv.rule)),
        })
        .collect()
}

/// The LEGAL.md rules an invariant names (`R8/R15` → R8, R15); none for the engine's own and
/// the federation's invariants.
fn legal_rules(rule: &str) -> Vec<String> {
    rule.split('/')
        .filter(|r| r.starts_with('R'))
        .map(str::to_owned)
        .collect()
}

struct ProofRow {
    invariant: InvariantRow,
    verdict: &'static str,
    verdict_text: &'static str,
    proven_on: String,
    millis: u64,
    why: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_policy_proofs.html")]
struct ProofsPage {
    page: Page,
    admin: AdminFrame,
    version: i64,
    rows: Vec<ProofRow>,
    /// Why the proofs could not be run (no solver), in the reader's language.
    unavailable: Option<&'static str>,
    all_proven: bool,
}

async fn proofs_page(
    State(app): State<AppState>,
    frame: Frame,
    Admin(me): Admin,
    Path(version): Path<String>,
) -> Result<Response, PageError> {
    let version: i64 = version.parse().map_err(|_| PageError::NotFound)?;
    let (page, admin) = admin_page(
        &frame,
        &app,
        &me,
        Section::Policies,
        "admin_policies.proofs.title",
    );
    let mut page = page;
    page.title = page.fill(
        "admin_policies.proofs.title",
        &[("version", &version.to_string())],
    );
    let (summaries, unavailable) = match app.ctx.policy_proofs(&me, version).await {
        Ok(s) => (s, None),
        Err(workflow::Error::SolverUnavailable(why)) => {
            tracing::warn!(%why, "the policy proofs cannot be run");
            (Vec::new(), Some(page.t("error.solver_unavailable")))
        }
        Err(e) => return Err(e.into()),
    };
    let invariants = invariant_rows(&page);
    let rows: Vec<ProofRow> = summaries
        .into_iter()
        .zip(invariants)
        .map(|(s, invariant)| ProofRow {
            verdict: s.verdict,
            verdict_text: page.t(&format!("admin_policies.proofs.verdict.{}", s.verdict)),
            proven_on: page.fill(
                "admin_policies.proofs.proven_on",
                &[("count", &s.proven_on.to_string())],
            ),
            millis: s.millis,
            why: s.why,
            invariant,
        })
        .collect();
    let all_proven = !rows.is_empty() && rows.iter().all(|r| r.verdict == "proven");
    let status = if unavailable.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    Ok(with_status(
        render(&ProofsPage {
            page,
            admin,
            version,
            rows,
            unavailable,
            all_proven,
        })?,
        status,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::{self, Lang};

    #[test]
    fn every_invariant_has_a_name_in_every_offered_language() {
        for lang in Lang::offered() {
            for inv in proofs::invariants() {
                let key = format!("admin_policies.invariant.{}", inv.id);
                assert!(!i18n::text(lang, &key).is_empty(), "{key} in {lang:?}");
            }
            for verdict in ["proven", "broken", "failed"] {
                let key = format!("admin_policies.proofs.verdict.{verdict}");
                assert!(!i18n::text(lang, &key).is_empty(), "{key} in {lang:?}");
            }
        }
    }

    #[test]
    fn an_invariant_names_its_legal_rules() {
        assert_eq!(legal_rules("R8/R15"), vec!["R8", "R15"]);
        assert!(legal_rules("engine").is_empty());
        assert!(legal_rules("federation").is_empty());
    }
}
