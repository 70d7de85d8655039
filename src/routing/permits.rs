//! Where a request may be handled: the routing policies' answer for every member municipality
//! — the permitted with their ring, the refused with the rules that refuse them. Rings are
//! policy output, not router code (DESIGN.md "Rings"); `crate::policy::Engine::permits` makes
//! them from the Cedar policies.

use serde::Serialize;

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

    pub fn refusal(&self, municipality: &str) -> Option<&Refusal> {
        self.refused.iter().find(|r| r.municipality == municipality)
    }
}
