//! What routing decides and keeps: where a request may be handled (permits, with the rules
//! behind each), and the per-category settings administrators give the router. The routing
//! policies produce [`Permits`] (`crate::policy::Engine::permits`), the store keeps them with
//! the case, and the router chooses among the permitted (`crate::routing`).

use serde::{Deserialize, Serialize};

use super::ids::MunicipalityCode;

/// A municipality a request may be handled in, in which ring, and the rules that permit it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Permit {
    pub municipality: MunicipalityCode,
    pub ring: i64,
    /// The rules that permit it.
    pub policies: Vec<String>,
}

/// A municipality the request may not go to, and the rules that keep it away.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub municipality: MunicipalityCode,
    pub policies: Vec<String>,
}

/// The routing policies' answer for every member: the permitted with their ring (home first,
/// then by ring: the order the router widens in), the refused with why.
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
            .find(|p| p.municipality.as_str() == municipality)
    }

    pub fn in_ring(&self, ring: i64) -> impl Iterator<Item = &Permit> {
        self.permitted.iter().filter(move |p| p.ring == ring)
    }

    pub fn refusal(&self, municipality: &str) -> Option<&Refusal> {
        self.refused
            .iter()
            .find(|r| r.municipality.as_str() == municipality)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The router offers the case to the best candidate, who accepts or rejects.
    Push,
    /// Caseworkers take cases from their queue.
    Pull,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Push => "push",
            Mode::Pull => "pull",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        [Mode::Push, Mode::Pull]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// The longest a timeout may be set to: a week, in seconds.
pub const MAX_TIMEOUT_SECS: i64 = 7 * 24 * 3600;

/// One category's routing settings (API.md `GET/PUT /api/v1/admin/routing`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryRouting {
    pub category: String,
    pub mode: Mode,
    /// Seconds a request waits in ring 0, then in ring 1, before it widens.
    pub ring_timeouts: Vec<i64>,
    pub offer_timeout: i64,
    /// Cross-border cases a municipality takes per day per 10 000 inhabitants (`null` = no cap).
    pub fair_share_per_10k: Option<f64>,
}

impl CategoryRouting {
    /// The settings of a category nobody has set yet.
    pub fn default_for(category: &str, urgent: bool) -> Self {
        CategoryRouting {
            category: category.to_owned(),
            mode: Mode::Pull,
            // Urgent requests widen within minutes; others after half an hour, then an hour.
            ring_timeouts: if urgent {
                vec![120, 300]
            } else {
                vec![1800, 3600]
            },
            offer_timeout: if urgent { 60 } else { 120 },
            fair_share_per_10k: None,
        }
    }

    /// The timeout of `ring`, after which the request widens to the next ring.
    pub fn ring_timeout(&self, ring: i64) -> Option<i64> {
        usize::try_from(ring)
            .ok()
            .and_then(|r| self.ring_timeouts.get(r).copied())
    }

    /// The field at fault, if any.
    pub fn check(&self) -> Result<(), &'static str> {
        let in_range = |s: i64| (1..=MAX_TIMEOUT_SECS).contains(&s);
        if self.ring_timeouts.len() != 2 || !self.ring_timeouts.iter().all(|s| in_range(*s)) {
            return Err("ring_timeouts");
        }
        if !in_range(self.offer_timeout) {
            return Err("offer_timeout");
        }
        if self
            .fair_share_per_10k
            .is_some_and(|f| !f.is_finite() || !(0.0..=10_000.0).contains(&f))
        {
            return Err("fair_share_per_10k");
        }
        Ok(())
    }
}
