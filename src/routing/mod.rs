//! The router: where a request may go (its routing home, and the rings the policies permit),
//! and who among the caseworkers there should get it. Everything here is pure; the workflows
//! read the inputs from the store and commit the outcome with its trace.

pub mod permits;
pub mod select;
pub mod settings;

use crate::domain::federation::{Category, Federation};
use crate::domain::ids::MunicipalityCode;
use crate::domain::people::Citizen;

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
        Submitter::Citizen(citizen) => {
            let registered = federation
                .municipality(&citizen.home)
                .map(|m| m.code.clone())
                .ok_or(PlacementError::HomeOutsideFederation)?;
            match stated_municipality {
                Some(code) if citizen.protection.is_strict() => {
                    (member(federation, code)?, "stated_under_protected_identity")
                }
                _ => (registered, "registered_home"),
            }
        }
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
    use crate::domain::people::{Loa, Protection};

    fn fh() -> Federation {
        crate::domain::federation::familjen_helsingborg()
    }

    fn citizen(home: &str, protection: Protection) -> Citizen {
        Citizen {
            personnummer: crate::domain::personnummer::Personnummer::parse_stored("198112189876")
                .ok(),
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
