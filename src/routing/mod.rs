//! The router: where a request may go (its routing home, and the rings the policies permit),
//! and who among the caseworkers there should get it. Everything here is pure; the workflows
//! read the inputs from the store and commit the outcome with its trace.

pub mod permits;
pub mod select;
pub mod settings;

use crate::domain::federation::{Category, Federation};
use crate::domain::ids::MunicipalityCode;
use crate::domain::people::{Citizen, Protection};

/// Who submits: an identified citizen or an anonymous visitor.
#[derive(Clone, Debug)]
pub enum Submitter<'a> {
    Citizen(&'a Citizen),
    Anonymous,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    #[error("the municipality where the visitor lives is required")]
    MunicipalityRequired,
    #[error("unknown municipality")]
    UnknownMunicipality,
    #[error("the citizen's home is outside the federation")]
    HomeOutsideFederation,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    pub home: MunicipalityCode,
    /// Why this is the home: `registered_home`, `stated_under_protected_identity`, …
    pub reason: &'static str,
}

/// A member municipality named in the request: a malformed code is unknown, a well-formed code
/// that is not a member is outside the federation.
fn member(federation: &Federation, code: &str) -> Result<MunicipalityCode, PlacementError> {
    let code = MunicipalityCode::parse(code).map_err(|_| PlacementError::UnknownMunicipality)?;
    federation
        .municipality(&code)
        .map(|m| m.code.clone())
        .ok_or(PlacementError::UnknownMunicipality)
}

/// The routing home (DESIGN.md "Rings"): the registered municipality; the stated one for an
/// anonymous visitor or a citizen with protected identity (R3); the child's for a child
/// concern (R10).
pub fn place(
    federation: &Federation,
    category: &Category,
    submitter: &Submitter<'_>,
    stated_municipality: Option<&str>,
    child_municipality: Option<&str>,
) -> Result<Placement, PlacementError> {
    let (own_home, own_reason) = match submitter {
        Submitter::Anonymous => match stated_municipality {
            Some(code) => (member(federation, code)?, "stated_by_anonymous_visitor"),
            None => return Err(PlacementError::MunicipalityRequired),
        },
        // R3: under skyddad folkbokföring the registered municipality may be wrong (that is its
        // point), so the one the citizen states counts, even when the register names one
        // outside the federation. Fingerade personuppgifter are a full identity of their own,
        // registered where they say: like everyone else's.
        Submitter::Citizen(citizen) => match stated_municipality {
            Some(code) if citizen.protection == Protection::SkyddadFolkbokforing => {
                (member(federation, code)?, "stated_under_protected_identity")
            }
            _ => {
                let registered = federation
                    .municipality(&citizen.home)
                    .map(|m| m.code.clone())
                    .ok_or(PlacementError::HomeOutsideFederation)?;
                (registered, "registered_home")
            }
        },
    };
    let (home, reason) = match child_municipality {
        Some(code) if category.is_child_concern() => {
            (member(federation, code)?, "child_municipality")
        }
        _ => (own_home, own_reason),
    };
    Ok(Placement { home, reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::people::Loa;

    fn fh() -> Federation {
        crate::domain::federation::familjen_helsingborg()
    }

    fn citizen(home: &str, protection: Protection) -> Citizen {
        Citizen {
            personnummer: crate::domain::personnummer::Personnummer::parse_stored("198112189876")
                .ok(),
            id_confirmed: true,
            eidas: None,
            home: MunicipalityCode::parse(home).expect("code"),
            protection,
            loa: Loa::Loa3,
        }
    }

    #[test]
    fn homes_follow_the_rules() {
        let f = fh();
        let ekonomi = f.category("ekonomi").expect("ekonomi").clone();
        let oro = f.category("oro_barn").expect("oro_barn").clone();
        let c = citizen("1275", Protection::None);
        let p = place(&f, &ekonomi, &Submitter::Citizen(&c), Some("1283"), None).expect("ok");
        assert_eq!(
            p.home.as_str(),
            "1275",
            "a stated municipality does not move a citizen"
        );
        let s = citizen("1275", Protection::SkyddadFolkbokforing);
        let p = place(&f, &ekonomi, &Submitter::Citizen(&s), Some("1283"), None).expect("ok");
        assert_eq!(
            p.home.as_str(),
            "1283",
            "R3: stated municipality under protection"
        );
        let p = place(&f, &oro, &Submitter::Citizen(&c), None, Some("1260")).expect("ok");
        assert_eq!(p.home.as_str(), "1260", "R10: the child's municipality");
        let p = place(&f, &ekonomi, &Submitter::Anonymous, Some("1282"), None).expect("ok");
        assert_eq!(p.home.as_str(), "1282");
        assert_eq!(p.reason, "stated_by_anonymous_visitor");
    }

    #[test]
    fn r3_skyddad_folkbokforing_registered_outside_the_federation_states_a_member() {
        let f = fh();
        let ekonomi = f.category("ekonomi").expect("ekonomi").clone();
        let s = citizen("0180", Protection::SkyddadFolkbokforing);
        let p = place(&f, &ekonomi, &Submitter::Citizen(&s), Some("1283"), None).expect("ok");
        assert_eq!(
            (p.home.as_str(), p.reason),
            ("1283", "stated_under_protected_identity")
        );
        assert_eq!(
            place(&f, &ekonomi, &Submitter::Citizen(&s), None, None),
            Err(PlacementError::HomeOutsideFederation),
            "without a statement the register's answer stands"
        );
        assert_eq!(
            place(&f, &ekonomi, &Submitter::Citizen(&s), Some("0180"), None),
            Err(PlacementError::UnknownMunicipality)
        );
    }

    #[test]
    fn r3_fingerade_personuppgifter_follow_the_registered_home() {
        let f = fh();
        let ekonomi = f.category("ekonomi").expect("ekonomi").clone();
        let fingerade = citizen("1275", Protection::Fingerade);
        let p = place(
            &f,
            &ekonomi,
            &Submitter::Citizen(&fingerade),
            Some("1283"),
            None,
        )
        .expect("ok");
        assert_eq!((p.home.as_str(), p.reason), ("1275", "registered_home"));
        let outside = citizen("0180", Protection::Fingerade);
        assert_eq!(
            place(
                &f,
                &ekonomi,
                &Submitter::Citizen(&outside),
                Some("1283"),
                None
            ),
            Err(PlacementError::HomeOutsideFederation)
        );
    }

    #[test]
    fn bad_homes_are_refused() {
        let f = fh();
        let ekonomi = f.category("ekonomi").expect("ekonomi").clone();
        assert_eq!(
            place(&f, &ekonomi, &Submitter::Anonymous, None, None),
            Err(PlacementError::MunicipalityRequired)
        );
        assert_eq!(
            place(&f, &ekonomi, &Submitter::Anonymous, Some("0180"), None),
            Err(PlacementError::UnknownMunicipality)
        );
        let outside = citizen("0180", Protection::None);
        assert_eq!(
            place(&f, &ekonomi, &Submitter::Citizen(&outside), None, None),
            Err(PlacementError::HomeOutsideFederation)
        );
    }
}
