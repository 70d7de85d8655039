//! The seam between the router and the policies: "which municipalities may handle this request,
//! in which ring, and why". Rings are policy output, not router code (DESIGN.md "Rings").
//!
//! [`AgreementRules`] encodes LEGAL.md's R1–R14 for routing directly; the policy issue puts a
//! Cedar-backed implementation behind the same trait.

use chrono::NaiveDate;
use serde::Serialize;

use crate::domain::federation::{Agreement, Category, CategoryKind, Federation};
use crate::domain::ids::MunicipalityCode;
use crate::domain::people::Protection;

/// What the routing rules read about a request (non-identifying: R8).
#[derive(Clone, Debug)]
pub struct RoutingSubject<'a> {
    pub home: &'a MunicipalityCode,
    pub category: &'a Category,
    pub anonymous: bool,
    /// Consent to cross-municipality handling, and its scope (`None` = every member with a
    /// covering agreement).
    pub consent: Consent<'a>,
    pub protection: Protection,
    /// Age in whole years when known (from the personnummer).
    pub age: Option<u32>,
    /// An eIDAS login without a Swedish number: manual handling at home (R2).
    pub without_swedish_number: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct Consent<'a> {
    pub cross_municipality: bool,
    pub municipalities: Option<&'a [String]>,
}

impl Consent<'_> {
    fn covers(&self, code: &str) -> bool {
        self.cross_municipality
            && self
                .municipalities
                .is_none_or(|list| list.iter().any(|m| m == code))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Permit {
    pub municipality: String,
    pub ring: i64,
    /// The rules that permit it.
    pub policies: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub municipality: String,
    /// The rules that keep the request away from it.
    pub policies: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Permits {
    pub permitted: Vec<Permit>,
    pub refused: Vec<Refusal>,
}

impl Permits {
    pub fn max_ring(&self) -> i64 {
        self.permitted.iter().map(|p| p.ring).max().unwrap_or(0)
    }

    pub fn get(&self, municipality: &str) -> Option<&Permit> {
        self.permitted
            .iter()
            .find(|p| p.municipality == municipality)
    }

    pub fn in_ring(&self, ring: i64) -> impl Iterator<Item = &Permit> {
        self.permitted.iter().filter(move |p| p.ring == ring)
    }
}

pub trait RoutingPolicy: Send + Sync + 'static {
    fn permits(
        &self,
        federation: &Federation,
        subject: &RoutingSubject<'_>,
        today: NaiveDate,
    ) -> Permits;
}

/// Rule ids, as LEGAL.md names them; they go into traces and audit events.
pub mod rule {
    pub const HOME: &str = "R4-home-municipality";
    pub const NO_AGREEMENT: &str = "R4-no-covering-agreement";
    pub const SERVICE_AGREEMENT: &str = "R5-agreement-service";
    pub const AUTHORITY_NOT_DELEGATED: &str = "R6-authority-stays-home";
    pub const AUTHORITY_DELEGATED: &str = "R6-delegated-authority";
    pub const CONSENT: &str = "R8-consent";
    pub const NO_CONSENT: &str = "R8-no-consent";
    pub const CHILD_CONCERN: &str = "R10-child-concern-stays-home";
    pub const PROTECTED_IDENTITY: &str = "R11-protected-identity-stays-home";
    pub const HARM_ASSESSMENT: &str = "R12-harm-assessment-required";
    pub const FAMILY_COUNSELLING: &str = "R13-family-counselling-not-named";
    pub const MINOR: &str = "R14-minor-not-covered";
    pub const EIDAS_MANUAL: &str = "R2-manual-handling-at-home";
    pub const ANONYMOUS_SERVICE: &str = "R1-anonymous-service";
    pub const ANONYMOUS_PARTNER: &str = "R1-anonymous-agreement-partner";
    pub const VOLUNTEER: &str = "volunteer-channel-not-open";
}

/// LEGAL.md's routing rules over the federation's agreements.
#[derive(Debug, Default, Clone, Copy)]
pub struct AgreementRules;

/// Why no member outside home may take the request at all, if so.
fn stays_home(subject: &RoutingSubject<'_>) -> Option<&'static str> {
    let category = subject.category;
    if category.is_child_concern() || category.must_stay_home {
        return Some(rule::CHILD_CONCERN);
    }
    if subject.protection.is_strict() {
        return Some(rule::PROTECTED_IDENTITY);
    }
    if subject.without_swedish_number {
        return Some(rule::EIDAS_MANUAL);
    }
    if category.kind == CategoryKind::Volunteer {
        return Some(rule::VOLUNTEER);
    }
    // [U] R12: a recorded harm assessment by home would open the border; until the harm
    // assessment endpoint exists, the safe reading keeps such requests home.
    if subject.protection == Protection::Sekretessmarkering && !subject.anonymous {
        return Some(rule::HARM_ASSESSMENT);
    }
    None
}

/// The agreement terms that keep `agreement` from covering this request, or the rules that let
/// it. `Err` lists every failing term so traces explain the whole refusal.
fn agreement_terms(
    agreement: &Agreement,
    subject: &RoutingSubject<'_>,
) -> Result<Vec<&'static str>, Vec<&'static str>> {
    let category = subject.category;
    let mut refusals = Vec::new();
    let mut grounds = Vec::new();
    match category.kind {
        CategoryKind::Service => grounds.push(rule::SERVICE_AGREEMENT),
        CategoryKind::Authority if agreement.delegates_authority => {
            grounds.push(rule::AUTHORITY_DELEGATED);
        }
        CategoryKind::Authority => refusals.push(rule::AUTHORITY_NOT_DELEGATED),
        CategoryKind::Volunteer => refusals.push(rule::VOLUNTEER),
    }
    // [U] R13: applied to anonymous requests too, the safe reading.
    if category.family_counselling && !agreement.names_family_counselling {
        refusals.push(rule::FAMILY_COUNSELLING);
    }
    if subject.age.is_some_and(|age| age < 18) && !agreement.covers_minors {
        refusals.push(rule::MINOR);
    }
    if refusals.is_empty() {
        Ok(grounds)
    } else {
        Err(refusals)
    }
}

impl RoutingPolicy for AgreementRules {
    fn permits(
        &self,
        federation: &Federation,
        subject: &RoutingSubject<'_>,
        today: NaiveDate,
    ) -> Permits {
        let home = subject.home.as_str();
        let mut permits = Permits {
            permitted: vec![Permit {
                municipality: home.to_owned(),
                ring: 0,
                policies: vec![rule::HOME.to_owned()],
            }],
            refused: Vec::new(),
        };
        let others = federation
            .municipalities
            .iter()
            .map(|m| m.code.as_str())
            .filter(|code| *code != home);
        if let Some(reason) = stays_home(subject) {
            permits.refused = others
                .map(|code| Refusal {
                    municipality: code.to_owned(),
                    policies: vec![reason.to_owned()],
                })
                .collect();
            return permits;
        }
        let covering: Vec<&Agreement> = federation
            .agreements
            .iter()
            .filter(|a| {
                a.is_valid_on(today)
                    && a.categories.iter().any(|c| c == &subject.category.id)
                    && a.members.iter().any(|m| m.as_str() == home)
            })
            .collect();
        let anonymous_anywhere = subject.anonymous
            && subject.category.kind == CategoryKind::Service
            && !subject.category.family_counselling;
        for code in others {
            let mut refusals: Vec<&'static str> = Vec::new();
            let mut grant: Option<Vec<&'static str>> = None;
            for agreement in covering
                .iter()
                .filter(|a| a.members.iter().any(|m| m.as_str() == code))
            {
                match agreement_terms(agreement, subject) {
                    Ok(grounds) => {
                        grant = Some(grounds);
                        break;
                    }
                    Err(why) => refusals.extend(why),
                }
            }
            let permit = match grant {
                Some(grounds) if subject.anonymous => {
                    Some((1, [grounds, vec![rule::ANONYMOUS_PARTNER]].concat()))
                }
                Some(grounds) if subject.consent.covers(code) => {
                    Some((1, [grounds, vec![rule::CONSENT]].concat()))
                }
                Some(_) => {
                    refusals.push(rule::NO_CONSENT);
                    None
                }
                None if anonymous_anywhere => Some((2, vec![rule::ANONYMOUS_SERVICE])),
                None => {
                    if refusals.is_empty() {
                        refusals.push(rule::NO_AGREEMENT);
                    }
                    None
                }
            };
            match permit {
                Some((ring, policies)) => permits.permitted.push(Permit {
                    municipality: code.to_owned(),
                    ring,
                    policies: policies.into_iter().map(str::to_owned).collect(),
                }),
                None => {
                    refusals.sort_unstable();
                    refusals.dedup();
                    permits.refused.push(Refusal {
                        municipality: code.to_owned(),
                        policies: refusals.into_iter().map(str::to_owned).collect(),
                    });
                }
            }
        }
        permits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn permits(c: &Case, today: NaiveDate) -> Permits {
        let f = fh();
        let home = MunicipalityCode::parse(c.home).expect("code");
        let category = f.category(c.category).expect("category").clone();
        AgreementRules.permits(
            &f,
            &RoutingSubject {
                home: &home,
                category: &category,
                anonymous: c.anonymous,
                consent: Consent {
                    cross_municipality: c.consent,
                    municipalities: c.scope.as_deref(),
                },
                protection: c.protection,
                age: c.age,
                without_swedish_number: false,
            },
            today,
        )
    }

    fn ring_of(p: &Permits, code: &str) -> Option<i64> {
        p.get(code).map(|p| p.ring)
    }

    fn refusal(p: &Permits, code: &str) -> Vec<String> {
        p.refused
            .iter()
            .find(|r| r.municipality == code)
            .map(|r| r.policies.clone())
            .unwrap_or_default()
    }

    const TODAY: (i32, u32, u32) = (2026, 11, 23);

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
                .contains(&rule::CONSENT.to_owned())
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
        assert_eq!(refusal(&p, "1283"), vec![rule::NO_CONSENT.to_owned()]);
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
        assert_eq!(refusal(&p, "1282"), vec![rule::NO_CONSENT.to_owned()]);
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
            vec![rule::NO_AGREEMENT.to_owned()]
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
                rule::CHILD_CONCERN,
            ),
            (
                Case {
                    protection: Protection::SkyddadFolkbokforing,
                    ..Case::default()
                },
                rule::PROTECTED_IDENTITY,
            ),
            (
                Case {
                    protection: Protection::Fingerade,
                    ..Case::default()
                },
                rule::PROTECTED_IDENTITY,
            ),
            (
                Case {
                    protection: Protection::Sekretessmarkering,
                    ..Case::default()
                },
                rule::HARM_ASSESSMENT,
            ),
            (
                Case {
                    category: "praktisk_hjalp",
                    ..Case::default()
                },
                rule::VOLUNTEER,
            ),
        ] {
            let p = permits(&case, today());
            assert_eq!(p.permitted.len(), 1, "{reason}");
            assert_eq!(refusal(&p, "1283"), vec![reason.to_owned()]);
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
        assert_eq!(refusal(&p, "1283"), vec![rule::MINOR.to_owned()]);
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
