//! The legal and consent policies (LEGAL.md), executable with Cedar. Every decision names the
//! policy ids that decided it; those ids go into traces and audit events as the legal ground
//! (R15).
//!
//! - `facts`: what the policies read, and its translation into a Cedar request;
//! - `engine`: a policy set compiled once per version, and the memoising engine;
//! - `testing`: the policy tests of `policies/tests/`;
//! - `baseline`: the shipped tests as the legal floor of every new version;
//! - this file: building facts from stored records, and the questions the workflows ask.
//!
//! Nothing here does I/O: the workflows read the records and pass them in.

pub mod baseline;
pub mod engine;
pub mod facts;
pub mod proofs;
pub mod testing;

use chrono::{Datelike, NaiveDate};

use sha2::{Digest, Sha256};

use crate::domain::case::Case;
use crate::domain::federation::{Category, Federation};
use crate::domain::people::{Caseworker, Citizen};
use crate::domain::personnummer::{IdKind, Personnummer};
use crate::domain::routing::{Permit, Permits, Refusal};

pub use engine::Engine;
pub use facts::{
    Action, AgreementFacts, CaseFacts, ConsentFacts, ContextFacts, HandlerFacts, Principal, Query,
    Resource,
};

/// The Cedar policies that ground a caseworker's listing of their own cases and a citizen's
/// listing of their own requests.
pub const OWNER: &str = "R15-case-owner";
pub const OWN_DATA: &str = "R19-own-data";

/// Ids the workflows name themselves (not Cedar policies).
/// The municipality has taken its fair share of cross-border cases today (routing setting).
pub const FAIR_SHARE: &str = "fair-share-cap";
/// The router's own steps under the federation's routing settings (an offer timing out, an
/// interpreter flag): no access to case content is involved.
pub const ROUTER: &str = "routing-settings";
/// A citizen's protection as the population register says at their login (R11).
pub const REGISTER: &str = "population-register";
/// A member of staff's login, vouched for by their municipality's identity provider.
pub const STAFF_LOGIN: &str = "staff-identity-provider";
/// No policy matched: Cedar's default deny, named so that every decision names a rule.
pub const DEFAULT_DENY: &str = "default-deny";
/// The query could not be put to the policies, or a policy failed while it was evaluated:
/// denied (the engine fails closed), and logged as an error. A policy that failed is named as
/// `policy-error:<its id>`.
pub const POLICY_ERROR: &str = "policy-error";
/// Policies that only the home municipality's staff may see named (API.md "403").
const HOME_ONLY_IDS: [&str; 3] = ["R3", "R11", "R12"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub policies: Vec<String>,
    /// For `route`: the ring in which the municipality is asked.
    pub ring: Option<i64>,
}

impl Decision {
    pub fn allow(policies: &[&str]) -> Decision {
        Decision {
            allowed: true,
            policies: policies.iter().map(|p| (*p).to_owned()).collect(),
            ring: None,
        }
    }

    pub fn deny(policies: &[&str]) -> Decision {
        Decision {
            allowed: false,
            policies: policies.iter().map(|p| (*p).to_owned()).collect(),
            ring: None,
        }
    }

    /// The reasons as a caller outside `home` may read them: R3, R11 and R12 policies are named
    /// only to the home municipality's staff, so a protected identity (or a stated home) does
    /// not leak through a refusal.
    pub fn for_caller(mut self, caller_municipality: &str, home: &str) -> Decision {
        if caller_municipality != home {
            self.policies.retain(|p| {
                let id = p
                    .strip_prefix(POLICY_ERROR)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .unwrap_or(p);
                !HOME_ONLY_IDS
                    .iter()
                    .any(|r| id.starts_with(&format!("{r}-")))
            });
            if self.policies.is_empty() {
                self.policies.push(DEFAULT_DENY.to_owned());
            }
        }
        self
    }
}

/// A calendar date as the policies compare it: YYYYMMDD.
pub fn day_number(date: NaiveDate) -> i64 {
    i64::from(date.year()) * 10_000 + i64::from(date.month()) * 100 + i64::from(date.day())
}

/// The entity id of a citizen: a hash of the number, so no personnummer sits in policy queries.
pub fn citizen_id(personnummer: &Personnummer) -> String {
    Sha256::digest(personnummer.as_str().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The entity id of an eIDAS citizen without a Swedish number: their stable subject.
fn eidas_id(subject: &str) -> String {
    format!("eidas-{subject}")
}

pub fn citizen_principal(citizen: &Citizen) -> Principal {
    Principal::Citizen {
        id: match (&citizen.personnummer, &citizen.eidas) {
            (Some(number), _) => citizen_id(number),
            (None, Some(subject)) => eidas_id(subject),
            // Nobody's: such a login owns no request.
            (None, None) => "eidas".to_owned(),
        },
        home: citizen.home.as_str().to_owned(),
        protection: citizen.protection.as_str().to_owned(),
        loa: citizen.loa.as_str().to_owned(),
    }
}

pub fn caseworker_principal(caseworker: &Caseworker) -> Principal {
    Principal::Caseworker {
        id: caseworker.id.as_str().to_owned(),
        municipality: caseworker.municipality.as_str().to_owned(),
        protected_identity_clearance: caseworker.protected_identity_clearance,
        supervisor: caseworker.supervisor,
        skills: caseworker
            .skills
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        languages: caseworker
            .languages
            .iter()
            .map(|l| l.as_str().to_owned())
            .collect(),
    }
}

/// The identity behind a request, as the policies read it.
pub struct Identity<'a> {
    pub personnummer: Option<&'a Personnummer>,
    /// A samordningsnummer confirmed by the eID broker (R2); true for anything else.
    pub id_confirmed: bool,
    /// An eIDAS citizen's stable subject.
    pub eidas: Option<&'a str>,
    pub anonymous: bool,
    pub protection: Option<&'a str>,
    pub loa: Option<&'a str>,
}

/// A request's facts from its parts (at submission, before anything is stored).
pub fn request_facts(
    category: &Category,
    home: &str,
    identity: &Identity<'_>,
    consent: ConsentFacts,
    harm_assessment: Option<&str>,
    today: NaiveDate,
) -> CaseFacts {
    let kind = CategoryFacts {
        id: category.id.as_str(),
        kind: category.kind.as_str(),
        family_counselling: category.family_counselling,
        child_concern: category.is_child_concern(),
        must_stay_home: category.must_stay_home,
    };
    facts_of(&kind, home, identity, consent, harm_assessment, today)
}

struct CategoryFacts<'a> {
    id: &'a str,
    kind: &'a str,
    family_counselling: bool,
    child_concern: bool,
    must_stay_home: bool,
}

fn facts_of(
    category: &CategoryFacts<'_>,
    home: &str,
    identity: &Identity<'_>,
    consent: ConsentFacts,
    harm_assessment: Option<&str>,
    today: NaiveDate,
) -> CaseFacts {
    let number = identity.personnummer;
    let id_type = match (&number, identity.anonymous) {
        (_, true) => "none",
        (Some(n), _) if n.kind() == IdKind::Samordningsnummer => "samordningsnummer",
        (Some(_), _) => "personnummer",
        (None, _) => "eidas",
    };
    CaseFacts {
        id: "request".to_owned(),
        home: home.to_owned(),
        category: category.id.to_owned(),
        kind: category.kind.to_owned(),
        family_counselling: category.family_counselling,
        child_concern: category.child_concern,
        must_stay_home: category.must_stay_home,
        home_keeps: false,
        language: String::new(),
        interpreter_needed: false,
        anonymous: identity.anonymous,
        citizen: identity
            .personnummer
            .map(citizen_id)
            .or_else(|| identity.eidas.map(eidas_id)),
        id_confirmed: identity.id_confirmed,
        protection: identity.protection.unwrap_or("none").to_owned(),
        loa: identity.loa.unwrap_or("none").to_owned(),
        id_type: id_type.to_owned(),
        age: number.map(|n| i64::from(n.age_on(today))),
        consent,
        harm_assessment: harm_assessment.unwrap_or("none").to_owned(),
        state: "queued".to_owned(),
        ring: 0,
        owner: None,
        target: None,
    }
}

/// Whether `home` keeps `category` at home (its home rule): set on a request's facts by the
/// caller, who has the federation.
pub fn home_keeps(federation: &Federation, home: &str, category: &str) -> bool {
    federation
        .municipalities
        .iter()
        .any(|m| m.code.as_str() == home && m.keeps_home.iter().any(|c| c.as_str() == category))
}

/// A stored case's facts, on `today` (ages and agreements are judged on the day of access).
pub fn case_facts(federation: &Federation, case: &Case, today: NaiveDate) -> CaseFacts {
    let consent = ConsentFacts {
        cross_municipality: case.consent.cross_municipality,
        municipalities: case
            .consent
            .municipalities
            .as_ref()
            .map(|list| list.iter().map(|m| m.as_str().to_owned()).collect()),
    };
    let identity = Identity {
        personnummer: case.personnummer(),
        id_confirmed: case.citizen.as_ref().is_none_or(|c| c.id_confirmed),
        eidas: case.citizen.as_ref().and_then(|c| c.eidas.as_deref()),
        anonymous: case.is_anonymous(),
        protection: (!case.is_anonymous()).then_some(case.protection.as_str()),
        loa: case.loa.map(|l| l.as_str()),
    };
    let category = match federation.category(case.category.as_str()) {
        Some(c) => CategoryFacts {
            id: c.id.as_str(),
            kind: c.kind.as_str(),
            family_counselling: c.family_counselling,
            child_concern: c.is_child_concern(),
            must_stay_home: c.must_stay_home,
        },
        // A category removed from the federation after the case was made: judged as a
        // home-only authority matter, never as more open than it was.
        None => CategoryFacts {
            id: case.category.as_str(),
            kind: "authority",
            family_counselling: false,
            child_concern: case.is_child_concern(),
            must_stay_home: true,
        },
    };
    CaseFacts {
        id: case.id.as_str().to_owned(),
        home_keeps: home_keeps(federation, case.home.as_str(), case.category.as_str()),
        language: case.language.as_str().to_owned(),
        interpreter_needed: case.interpreter_needed,
        state: case.state.as_str().to_owned(),
        ring: case.ring,
        owner: case.owner.as_ref().map(|o| o.as_str().to_owned()),
        target: case
            .target_municipality
            .as_ref()
            .map(|t| t.as_str().to_owned()),
        ..facts_of(
            &category,
            case.home.as_str(),
            &identity,
            consent,
            case.harm_assessment.map(|h| h.as_str()),
            today,
        )
    }
}

impl AgreementFacts {
    /// An agreement of the federation as the routing policies read it.
    pub fn of(a: &crate::domain::federation::Agreement) -> AgreementFacts {
        AgreementFacts {
            id: a.id.clone(),
            members: a.members.iter().map(|m| m.as_str().to_owned()).collect(),
            categories: a.categories.iter().map(|c| c.as_str().to_owned()).collect(),
            valid_from: day_number(a.valid_from),
            valid_to: day_number(a.valid_to),
            delegates_authority: a.delegates_authority,
            covers_minors: a.covers_minors,
            names_family_counselling: a.names_family_counselling,
        }
    }
}

/// The agreements between `home` and `handler` that list `category` (whatever their dates:
/// validity is for the policies to judge).
fn agreements_between(
    federation: &Federation,
    home: &str,
    handler: &str,
    category: &str,
) -> Vec<AgreementFacts> {
    federation
        .agreements
        .iter()
        .filter(|a| {
            a.categories.iter().any(|c| c.as_str() == category)
                && a.members.iter().any(|m| m.as_str() == home)
                && a.members.iter().any(|m| m.as_str() == handler)
        })
        .map(AgreementFacts::of)
        .collect()
}

impl Engine {
    /// The routing questions for one municipality: one per agreement that could apply (none
    /// for home, or when no agreement lists the category).
    fn route_queries(
        federation: &Federation,
        case: &CaseFacts,
        municipality: &str,
        today: NaiveDate,
    ) -> Vec<Query> {
        let resource = Resource::Case(Box::new(case.for_routing()));
        let agreements = if municipality == case.home {
            Vec::new()
        } else {
            agreements_between(federation, &case.home, municipality, &case.category)
        };
        let ask = |agreement: Option<AgreementFacts>| Query {
            principal: Principal::Municipality {
                id: municipality.to_owned(),
            },
            action: Action::Route,
            resource: resource.clone(),
            context: ContextFacts {
                today: Some(day_number(today)),
                agreement,
                handler: None,
            },
        };
        if agreements.is_empty() {
            vec![ask(None)]
        } else {
            agreements.into_iter().map(|a| ask(Some(a))).collect()
        }
    }

    /// The answers to one municipality's routing questions: the first that permits, else
    /// every refusal named.
    fn combine(decisions: impl IntoIterator<Item = Decision>) -> Decision {
        let mut refusals = Vec::new();
        for decision in decisions {
            if decision.allowed {
                return decision;
            }
            refusals.extend(decision.policies);
        }
        refusals.sort_unstable();
        refusals.dedup();
        Decision {
            allowed: false,
            policies: refusals,
            ring: None,
        }
    }

    /// May `municipality` handle the request, and in which ring? Asked once per agreement that
    /// could apply (usually one); the first that permits wins, else every refusal is named.
    pub fn route(
        &self,
        federation: &Federation,
        case: &CaseFacts,
        municipality: &str,
        today: NaiveDate,
    ) -> Decision {
        let queries = Self::route_queries(federation, case, municipality, today);
        // Lazily: `combine` stops asking at the first agreement that permits.
        Self::combine(queries.iter().map(|q| self.decide(q)))
    }

    /// Every member's routing decision: the permitted with their rings, the refused with why.
    /// All members are asked together, so the request's entities are built once.
    pub fn permits(&self, federation: &Federation, case: &CaseFacts, today: NaiveDate) -> Permits {
        let per_member: Vec<(&str, Vec<Query>)> = federation
            .municipalities
            .iter()
            .map(|m| {
                let code = m.code.as_str();
                (code, Self::route_queries(federation, case, code, today))
            })
            .collect();
        // Round k asks every member still refused its k-th agreement's question (most have
        // one): the first agreement that permits settles a member, as in `route`.
        let mut answers: Vec<Vec<Decision>> = vec![Vec::new(); per_member.len()];
        for round in 0.. {
            let open: Vec<usize> = (0..per_member.len())
                .filter(|&i| per_member[i].1.len() > round && !answers[i].iter().any(|d| d.allowed))
                .collect();
            if open.is_empty() {
                break;
            }
            let asked: Vec<&Query> = open.iter().map(|&i| &per_member[i].1[round]).collect();
            for (i, decision) in open.into_iter().zip(self.decide_all(&asked)) {
                answers[i].push(decision);
            }
        }
        let mut permits = Permits::default();
        for (member, (_, mine)) in federation
            .municipalities
            .iter()
            .zip(per_member.iter().zip(answers))
        {
            let decision = Self::combine(mine);
            let municipality = member.code.clone();
            match decision.ring {
                Some(ring) if decision.allowed => permits.permitted.push(Permit {
                    municipality,
                    ring,
                    policies: decision.policies,
                }),
                _ => permits.refused.push(Refusal {
                    municipality,
                    policies: decision.policies,
                }),
            }
        }
        // Home first, then by ring: the order the router widens in.
        permits
            .permitted
            .sort_by_key(|p| (p.municipality.as_str() != case.home, p.ring));
        permits
    }

    /// May this caseworker do `action` to the case now? Outside home, the routing decision for
    /// their municipality is made afresh (R9). The reasons include that decision's grounds.
    pub fn caseworker_may(
        &self,
        action: Action,
        federation: &Federation,
        caseworker: &Caseworker,
        case: &Case,
        today: NaiveDate,
    ) -> Decision {
        let facts = case_facts(federation, case, today);
        let route = (caseworker.municipality != case.home)
            .then(|| self.route(federation, &facts, caseworker.municipality.as_str(), today));
        let handler = route.as_ref().map(|r| HandlerFacts {
            permitted: r.allowed,
            ring: r.ring.unwrap_or(i64::MAX),
        });
        let mut decision = self.decide(&Query {
            principal: caseworker_principal(caseworker),
            action,
            resource: Resource::Case(Box::new(facts)),
            context: ContextFacts {
                handler,
                ..ContextFacts::default()
            },
        });
        if decision.allowed
            && let Some(route) = route
        {
            decision.policies.extend(route.policies);
        }
        decision
    }

    /// A citizen-side principal (a citizen, or a visitor holding the access code) on a case.
    pub fn citizen_may(
        &self,
        action: Action,
        federation: &Federation,
        principal: Principal,
        case: &Case,
        today: NaiveDate,
    ) -> Decision {
        self.decide(&Query {
            principal,
            action,
            resource: Resource::Case(Box::new(case_facts(federation, case, today))),
            context: ContextFacts::default(),
        })
    }

    /// An administrator (`None` = of the federation) on a resource.
    pub fn admin_may(
        &self,
        action: Action,
        municipality: Option<&str>,
        resource: Resource,
    ) -> Decision {
        self.decide(&Query {
            principal: Principal::Admin {
                municipality: municipality.map(str::to_owned),
            },
            action,
            resource,
            context: ContextFacts::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::people::Protection;
    use crate::routing::permits::Permits;

    fn fh() -> Federation {
        crate::domain::federation::familjen_helsingborg()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    struct Case {
        home: &'static str,
        category: &'static str,
        anonymous: bool,
        consent: bool,
        scope: Option<Vec<String>>,
        protection: Protection,
        age: Option<u32>,
    }

    impl Default for Case {
        fn default() -> Self {
            Case {
                home: "1275",
                category: "ekonomi",
                anonymous: false,
                consent: true,
                scope: None,
                protection: Protection::None,
                age: Some(40),
            }
        }
    }

    /// The shipped policies' routing answer for every member.
    fn permits(c: &Case, today: NaiveDate) -> Permits {
        let f = fh();
        let category = f.category(c.category).expect("category").clone();
        let mut facts = request_facts(
            &category,
            c.home,
            &Identity {
                personnummer: None,
                id_confirmed: true,
                eidas: None,
                anonymous: c.anonymous,
                protection: (!c.anonymous).then_some(c.protection.as_str()),
                loa: (!c.anonymous).then_some("loa3"),
            },
            ConsentFacts {
                cross_municipality: c.consent,
                municipalities: c.scope.as_ref().map(|s| s.iter().cloned().collect()),
            },
            None,
            today,
        );
        if !c.anonymous {
            facts.id_type = "personnummer".into();
        }
        facts.age = c.age.map(i64::from);
        Engine::with_defaults()
            .expect("shipped policies")
            .permits(&f, &facts, today)
    }

    fn ring_of(p: &Permits, code: &str) -> Option<i64> {
        p.get(code).map(|p| p.ring)
    }

    fn refusal(p: &Permits, code: &str) -> Vec<String> {
        p.refused
            .iter()
            .find(|r| r.municipality.as_str() == code)
            .map(|r| r.policies.clone())
            .unwrap_or_default()
    }

    const TODAY: (i32, u32, u32) = (2026, 11, 23);

    fn anna_number() -> Personnummer {
        Personnummer::parse_stored("198112189876").expect("number")
    }

    /// Anna in Perstorp asks for `ekonomi` advice, consenting to every partner.
    fn anna(protection: Option<&str>, harm: Option<&str>) -> CaseFacts {
        let f = fh();
        let category = f.category("ekonomi").expect("ekonomi").clone();
        request_facts(
            &category,
            "1275",
            &Identity {
                personnummer: Some(&anna_number()),
                id_confirmed: true,
                eidas: None,
                anonymous: false,
                protection,
                loa: Some("loa3"),
            },
            ConsentFacts {
                cross_municipality: true,
                municipalities: None,
            },
            harm,
            today(),
        )
    }

    #[test]
    fn a_harm_assessment_opens_the_border_for_sekretessmarkering() {
        let f = fh();
        let facts = |harm| anna(Some("sekretessmarkering"), harm);
        let engine = Engine::with_defaults().expect("policies");
        assert_eq!(engine.permits(&f, &facts(None), today()).permitted.len(), 1);
        assert_eq!(
            engine
                .permits(&f, &facts(Some("stay_home")), today())
                .permitted
                .len(),
            1
        );
        assert_eq!(
            engine
                .permits(&f, &facts(Some("cross_border_ok")), today())
                .permitted
                .len(),
            11
        );
    }

    /// Access is judged on the day of access: a partner who holds a consented case may view it
    /// while the agreement lasts, and not a day after it ended (R9), whatever is stored.
    #[test]
    fn a_partner_may_view_while_the_agreement_lasts() {
        let f = fh();
        let engine = Engine::with_defaults().expect("policies");
        let partner = crate::domain::people::Caseworker::fixture("1283-01", "1283");
        let case = crate::domain::case::Case {
            consent: crate::domain::case::Consent {
                cross_municipality: true,
                municipalities: None,
            },
            state: crate::domain::case::CaseState::Assigned,
            owner: Some(partner.id.clone()),
            handler: Some(partner.municipality.clone()),
            ring: 1,
            ..crate::domain::case::Case::fixture("1275")
        };
        let during = engine.caseworker_may(Action::View, &f, &partner, &case, today());
        assert!(during.allowed, "{during:?}");
        assert!(during.policies.contains(&"R15-case-owner".to_owned()));
        assert!(during.policies.contains(&"R5-agreement-service".to_owned()));
        let after = engine.caseworker_may(Action::View, &f, &partner, &case, day(2028, 1, 1));
        assert!(!after.allowed);
        assert!(
            after
                .policies
                .contains(&"R9-cross-border-access-ends".to_owned()),
            "{after:?}"
        );
    }

    #[test]
    fn reasons_hidden_from_staff_outside_home() {
        let d = Decision::deny(&["R11-protected-identity", "eligibility-skill"]);
        assert_eq!(
            d.clone().for_caller("1283", "1275").policies,
            vec!["eligibility-skill"]
        );
        assert_eq!(d.clone().for_caller("1275", "1275").policies.len(), 2);
        assert_eq!(
            Decision::deny(&["R12-harm-assessment-required"])
                .for_caller("1283", "1275")
                .policies,
            vec![DEFAULT_DENY]
        );
        assert_eq!(
            Decision::deny(&[
                "R3-stated-home-under-protection",
                "R11-protected-identity-stays-home"
            ])
            .for_caller("1283", "1275")
            .policies,
            vec![DEFAULT_DENY],
            "R3: a stated home under protection is never named outside home"
        );
    }

    #[test]
    fn memoised_decisions_equal_fresh_ones_and_a_new_version_starts_empty() {
        let f = fh();
        let engine = Engine::with_defaults().expect("policies");
        let facts = anna(None, None);
        let first = engine.route(&f, &facts, "1283", today());
        let again = engine.route(&f, &facts, "1283", today());
        assert_eq!(first, again);
        assert_eq!(first.ring, Some(1));
        // A version without R5 refuses the partner at once: the memo went with the old one.
        let text = engine::default_text().replace("@id(\"R5-agreement-service\")", "@id(\"R5-x\")");
        let text = text.replacen("resource.kind == \"service\" &&", "false &&", 1);
        let compiled = engine.compile(&text).expect("still valid");
        engine.activate(engine::Version::new(2, compiled));
        assert!(!engine.route(&f, &facts, "1283", today()).allowed);
    }

    fn today() -> NaiveDate {
        day(TODAY.0, TODAY.1, TODAY.2)
    }

    #[test]
    fn consented_service_request_reaches_agreement_partners() {
        let p = permits(&Case::default(), today());
        assert_eq!(ring_of(&p, "1275"), Some(0));
        assert_eq!(ring_of(&p, "1283"), Some(1));
        assert_eq!(p.permitted.len(), 11, "Båstad joined for ekonomi too");
        assert!(
            p.get("1283")
                .expect("permit")
                .policies
                .contains(&"R5-agreement-service".to_owned())
        );
    }

    #[test]
    fn without_consent_it_stays_home() {
        let p = permits(
            &Case {
                consent: false,
                ..Case::default()
            },
            today(),
        );
        assert_eq!(p.permitted.len(), 1);
        assert_eq!(refusal(&p, "1283"), vec!["R8-no-consent".to_owned()]);
    }

    #[test]
    fn consent_scope_limits_the_partners() {
        let p = permits(
            &Case {
                scope: Some(vec!["1283".into()]),
                ..Case::default()
            },
            today(),
        );
        assert_eq!(p.permitted.len(), 2);
        assert_eq!(ring_of(&p, "1283"), Some(1));
        assert_eq!(refusal(&p, "1282"), vec!["R8-no-consent".to_owned()]);
    }

    #[test]
    fn agreement_validity_and_membership_count() {
        // Båstad's agreement covers ekonomi from 2026-06-01 only, and not beroende at all.
        let before = permits(
            &Case {
                home: "1278",
                ..Case::default()
            },
            day(2026, 5, 31),
        );
        assert_eq!(before.permitted.len(), 1);
        assert_eq!(
            refusal(&before, "1283"),
            vec!["R4-agreement-not-valid-today".to_owned()]
        );
        let after = permits(
            &Case {
                home: "1278",
                ..Case::default()
            },
            day(2026, 6, 1),
        );
        assert_eq!(ring_of(&after, "1283"), Some(1));
        let beroende = permits(
            &Case {
                home: "1278",
                category: "beroende",
                ..Case::default()
            },
            today(),
        );
        assert_eq!(beroende.permitted.len(), 1);
        // Perstorp's beroende request cannot go to Båstad, which has not joined for it.
        let p = permits(
            &Case {
                category: "beroende",
                ..Case::default()
            },
            today(),
        );
        assert_eq!(ring_of(&p, "1278"), None);
        assert_eq!(p.permitted.len(), 10);
        let expired = permits(&Case::default(), day(2028, 1, 1));
        assert_eq!(expired.permitted.len(), 1);
    }

    #[test]
    fn must_stay_home_rules_keep_it_home() {
        for (case, reason) in [
            (
                Case {
                    category: "oro_barn",
                    ..Case::default()
                },
                "R10-child-concern-stays-home",
            ),
            (
                Case {
                    protection: Protection::SkyddadFolkbokforing,
                    ..Case::default()
                },
                "R11-protected-identity-stays-home",
            ),
            (
                Case {
                    protection: Protection::Fingerade,
                    ..Case::default()
                },
                "R11-protected-identity-stays-home",
            ),
            (
                Case {
                    protection: Protection::Sekretessmarkering,
                    ..Case::default()
                },
                "R12-harm-assessment-required",
            ),
            (
                Case {
                    category: "praktisk_hjalp",
                    ..Case::default()
                },
                "volunteer-channel-not-open",
            ),
        ] {
            let p = permits(&case, today());
            assert_eq!(p.permitted.len(), 1, "{reason}");
            assert!(refusal(&p, "1283").contains(&reason.to_owned()), "{reason}");
        }
        // Authority matters need a delegating agreement (R6); none delegates yet.
        let p = permits(
            &Case {
                category: "ekonomiskt_bistand",
                ..Case::default()
            },
            today(),
        );
        assert_eq!(p.permitted.len(), 1);
        // Family counselling only under an agreement naming it (R13), which none does.
        let p = permits(
            &Case {
                category: "familjeradgivning",
                ..Case::default()
            },
            today(),
        );
        assert_eq!(p.permitted.len(), 1);
        // Minors only under an agreement covering minors (R14).
        let p = permits(
            &Case {
                age: Some(16),
                ..Case::default()
            },
            today(),
        );
        assert_eq!(
            refusal(&p, "1283"),
            vec!["R14-minor-not-covered".to_owned()]
        );
    }

    #[test]
    fn anonymous_service_requests_may_go_anywhere() {
        // Båstad has not joined the beroende agreement: ring 2 for an anonymous request.
        let p = permits(
            &Case {
                anonymous: true,
                consent: false,
                category: "beroende",
                age: None,
                ..Case::default()
            },
            today(),
        );
        assert_eq!(ring_of(&p, "1283"), Some(1));
        assert_eq!(ring_of(&p, "1278"), Some(2));
        assert_eq!(p.max_ring(), 2);
        let p = permits(
            &Case {
                anonymous: true,
                consent: false,
                category: "ekonomiskt_bistand",
                age: None,
                ..Case::default()
            },
            today(),
        );
        assert_eq!(
            p.permitted.len(),
            1,
            "authority follows R6 even anonymously"
        );
        let p = permits(
            &Case {
                anonymous: true,
                consent: false,
                category: "oro_barn",
                age: None,
                ..Case::default()
            },
            today(),
        );
        assert_eq!(p.permitted.len(), 1, "R10");
    }
}
