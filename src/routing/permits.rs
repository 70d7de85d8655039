//! Where a request may be handled: the routing policies' answer for every member municipality.
//! The types are the domain's (`crate::domain::routing`), so that the store keeps what the
//! policies produce without knowing either layer.

pub use crate::domain::routing::{Permit, Permits, Refusal};
