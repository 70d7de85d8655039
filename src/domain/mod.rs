//! Plain types and the case state machine. No I/O: no clock, no database, no network.

pub mod access;
pub mod case;
pub mod federation;
pub mod governance;
pub mod ids;
pub mod people;
pub mod personnummer;
pub mod retention;
pub mod routing;

pub use access::{Actor, Administrator, Principal};
pub use case::Case;
pub use people::{Caseworker, Citizen};

/// A stored or received name that is not one of an enumeration's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
}

/// `TryFrom<String>` through the type's `parse`, so rows decode straight into domain enums.
macro_rules! try_from_name {
    ($ty:ty, $what:literal) => {
        impl TryFrom<String> for $ty {
            type Error = $crate::domain::UnknownName;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                <$ty>::parse(&value).ok_or($crate::domain::UnknownName { what: $what, value })
            }
        }
    };
}

try_from_name!(case::CaseState, "case state");
try_from_name!(case::Outcome, "outcome");
try_from_name!(people::Availability, "availability");
try_from_name!(people::Protection, "protection");
try_from_name!(people::Loa, "level of assurance");
try_from_name!(federation::CategoryKind, "category kind");
try_from_name!(case::Channel, "channel");
try_from_name!(case::HarmAssessment, "harm assessment");
try_from_name!(case::Sender, "sender");
try_from_name!(case::OfferOutcome, "offer outcome");
try_from_name!(case::ConsentActor, "consent actor");
try_from_name!(access::TokenKind, "token kind");
try_from_name!(access::Scope, "scope");
try_from_name!(routing::Mode, "routing mode");
