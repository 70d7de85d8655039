//! Access decisions with their reasons. Every decision names the rule ids (LEGAL.md) that
//! decided it; those ids go into the audit event as the legal ground (R15).
//!
//! This stage encodes the home-municipality rules directly; the policy issue replaces the
//! bodies of these functions with Cedar evaluations behind the same signatures.

use crate::domain::case::CaseState;
use crate::domain::people::Protection;
use crate::store::{CaseRecord, CaseworkerRecord, PermitRecord};

/// Home municipality handles its own citizens' requests (KL 2:1; R4).
pub const HOME: &str = "R4-home-municipality";
/// The caseworker who has the case may work on it (R15: only cases they may see).
pub const OWNER: &str = "R15-case-owner";
/// Protected identity: only cleared staff in the home municipality (R11).
pub const PROTECTED_IDENTITY: &str = "R11-protected-identity";
/// A citizen sees their own requests (R19).
pub const OWN_DATA: &str = "R19-own-data";
/// Anonymous advice: the access code is the only key (R1).
pub const ACCESS_CODE: &str = "R1-anonymous-access-code";
/// Eligibility: the category needs the skill, the request the language.
pub const SKILL: &str = "eligibility-skill";
pub const LANGUAGE: &str = "eligibility-language";
/// The municipality has taken its fair share of cross-border cases today.
pub const FAIR_SHARE: &str = "fair-share-cap";
/// No rule allowed it.
pub const DEFAULT_DENY: &str = "default-deny";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub policies: Vec<String>,
}

impl Decision {
    fn allow(policies: &[&str]) -> Decision {
        Decision {
            allowed: true,
            policies: policies.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn deny(policies: &[&str]) -> Decision {
        Decision {
            allowed: false,
            policies: policies.iter().map(|p| (*p).to_owned()).collect(),
        }
    }
}

fn protection(case: &CaseRecord) -> Protection {
    case.citizen_protection
        .as_deref()
        .and_then(Protection::parse)
        .unwrap_or_default()
}

/// May this caseworker see the case at all? A denial is answered 404 (API.md: existence never
/// leaks), so its reasons are for the log, not the caller. `permit` is the case's routing permit
/// for the caseworker's municipality, if any.
///
/// - the owner (offered or assigned) sees it;
/// - the home municipality's caseworkers see it (protected identity: only cleared ones, R11);
/// - another permitted municipality sees it while it waits in a ring that has reached it, and
///   only as metadata (R8): the workflow shows content to home and owner only.
pub fn caseworker_may_view(
    caseworker: &CaseworkerRecord,
    case: &CaseRecord,
    permit: Option<&PermitRecord>,
) -> Decision {
    let strict = protection(case).is_strict();
    // R11 before anything else: not even an owner without clearance (or outside home) may see
    // a protected-identity case; the router never makes such an owner, this is the second wall.
    if strict && (!caseworker.protected_identity_clearance || case.home != caseworker.municipality)
    {
        return Decision::deny(&[PROTECTED_IDENTITY]);
    }
    if case.owner.as_deref() == Some(caseworker.id.as_str()) && case.state.holds_capacity() {
        return if strict {
            Decision::allow(&[OWNER, PROTECTED_IDENTITY])
        } else {
            Decision::allow(&[OWNER])
        };
    }
    if case.home == caseworker.municipality {
        return if strict {
            Decision::allow(&[HOME, PROTECTED_IDENTITY])
        } else {
            Decision::allow(&[HOME])
        };
    }
    match permit {
        Some(p)
            if !strict
                && p.ring <= case.ring
                && case.state == CaseState::Queued
                && case
                    .target_municipality
                    .as_deref()
                    .is_none_or(|t| t == caseworker.municipality) =>
        {
            Decision {
                allowed: true,
                policies: p.policies.0.clone(),
            }
        }
        _ => Decision::deny(&[DEFAULT_DENY]),
    }
}

/// May this caseworker (who may view the case) take it?
pub fn caseworker_may_claim(
    caseworker: &CaseworkerRecord,
    case: &CaseRecord,
    permit: Option<&PermitRecord>,
) -> Decision {
    let view = caseworker_may_view(caseworker, case, permit);
    if !view.allowed {
        return view;
    }
    let mut missing = Vec::new();
    if !caseworker.has_skill(&case.category) {
        missing.push(SKILL);
    }
    // A request already flagged for an interpreter may go to someone without the language.
    if !case.interpreter_needed && !caseworker.speaks(&case.language) {
        missing.push(LANGUAGE);
    }
    if missing.is_empty() {
        view
    } else {
        Decision::deny(&missing)
    }
}

/// Only the owner replies, releases and closes.
pub fn caseworker_may_act_as_owner(caseworker: &CaseworkerRecord, case: &CaseRecord) -> Decision {
    if case.owner.as_deref() == Some(caseworker.id.as_str()) && case.state.is_owned() {
        Decision::allow(&[OWNER])
    } else {
        Decision::deny(&[OWNER])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::case::CaseState;
    use sqlx::types::Json;

    fn caseworker(id: &str, municipality: &str, clearance: bool) -> CaseworkerRecord {
        CaseworkerRecord {
            protected_identity_clearance: clearance,
            ..CaseworkerRecord::fixture(id, municipality)
        }
    }

    fn case(home: &str, category: &str, language: &str, protection: Option<&str>) -> CaseRecord {
        CaseRecord {
            category: category.into(),
            language: language.into(),
            citizen_protection: protection.map(str::to_owned),
            ..CaseRecord::fixture(home)
        }
    }

    #[test]
    fn home_caseworkers_see_and_claim_what_they_are_skilled_for() {
        let cw = caseworker("a", "1275", false);
        let c = case("1275", "ekonomi", "sv", None);
        assert_eq!(
            caseworker_may_claim(&cw, &c, None),
            Decision::allow(&[HOME])
        );
        let other = caseworker("b", "1283", false);
        assert!(!caseworker_may_view(&other, &c, None).allowed);
        let d = caseworker_may_claim(&cw, &case("1275", "beroende", "ar", None), None);
        assert_eq!(d, Decision::deny(&[SKILL, LANGUAGE]));
    }

    #[test]
    fn partners_see_a_queued_case_once_its_ring_reaches_them() {
        let partner = caseworker("b", "1283", false);
        let mut c = case("1275", "ekonomi", "sv", None);
        let permit = PermitRecord {
            case_id: "c1".into(),
            municipality: "1283".into(),
            ring: 1,
            policies: Json(vec!["R5-agreement-service".into(), "R8-consent".into()]),
        };
        assert!(
            !caseworker_may_view(&partner, &c, Some(&permit)).allowed,
            "ring 0 only yet"
        );
        c.ring = 1;
        let d = caseworker_may_claim(&partner, &c, Some(&permit));
        assert!(d.allowed);
        assert_eq!(d.policies, vec!["R5-agreement-service", "R8-consent"]);
        c.state = CaseState::Assigned;
        c.owner = Some("x".into());
        assert!(
            !caseworker_may_view(&partner, &c, Some(&permit)).allowed,
            "someone has it"
        );
        c.owner = Some("b".into());
        assert_eq!(
            caseworker_may_view(&partner, &c, Some(&permit)),
            Decision::allow(&[OWNER])
        );
    }

    #[test]
    fn protected_identity_needs_clearance() {
        let c = case("1275", "ekonomi", "sv", Some("skyddad_folkbokforing"));
        assert!(!caseworker_may_view(&caseworker("a", "1275", false), &c, None).allowed);
        let d = caseworker_may_view(&caseworker("a", "1275", true), &c, None);
        assert!(d.allowed && d.policies.contains(&PROTECTED_IDENTITY.to_owned()));
        let c = case("1275", "ekonomi", "sv", Some("sekretessmarkering"));
        assert!(caseworker_may_view(&caseworker("a", "1275", false), &c, None).allowed);
    }
}
