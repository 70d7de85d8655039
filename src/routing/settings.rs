//! Per-category routing settings: push or pull, ring timeouts, offer timeout, fair-share cap.
//! Administrators read and set them through `/api/v1/admin/routing`; a category without stored
//! settings uses the defaults here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::domain::federation::Federation;
use crate::store::RoutingSettingsRecord;

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
}

/// The longest a timeout may be set to: a week, in seconds.
pub const MAX_TIMEOUT_SECS: i64 = 7 * 24 * 3600;

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
    fn default_for(category: &str, urgent: bool) -> Self {
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

    pub fn to_record(&self, at: DateTime<Utc>, by: &str) -> RoutingSettingsRecord {
        RoutingSettingsRecord {
            category: self.category.clone(),
            mode: self.mode.as_str().to_owned(),
            ring_timeouts: Json(self.ring_timeouts.clone()),
            offer_timeout_secs: self.offer_timeout,
            fair_share_per_10k: self.fair_share_per_10k,
            updated_at: at,
            updated_by: by.to_owned(),
        }
    }
}

/// The settings of every category of the federation.
#[derive(Clone, Debug, PartialEq)]
pub struct RoutingSettings {
    by_category: BTreeMap<String, CategoryRouting>,
}

impl RoutingSettings {
    pub fn new(federation: &Federation, stored: &[RoutingSettingsRecord]) -> Self {
        let mut by_category: BTreeMap<String, CategoryRouting> = federation
            .categories
            .iter()
            .map(|c| {
                let id = c.id.as_str().to_owned();
                (id.clone(), CategoryRouting::default_for(&id, c.urgent))
            })
            .collect();
        for record in stored {
            if let Some(entry) = by_category.get_mut(&record.category) {
                entry.mode = if record.mode == "push" {
                    Mode::Push
                } else {
                    Mode::Pull
                };
                entry.ring_timeouts = record.ring_timeouts.0.clone();
                entry.offer_timeout = record.offer_timeout_secs;
                entry.fair_share_per_10k = record.fair_share_per_10k;
            }
        }
        RoutingSettings { by_category }
    }

    pub fn get(&self, category: &str) -> CategoryRouting {
        self.by_category
            .get(category)
            .cloned()
            .unwrap_or_else(|| CategoryRouting::default_for(category, false))
    }

    pub fn all(&self) -> impl Iterator<Item = &CategoryRouting> {
        self.by_category.values()
    }
}

/// The most cross-border cases a municipality of `population` takes per day at `per_10k`.
pub fn fair_share_cap(per_10k: f64, population: u32) -> i64 {
    // At least one a day, so that small members still share the federation's work.
    let cap = (per_10k * f64::from(population) / 10_000.0).floor();
    if cap.is_finite() && cap >= 1.0 {
        cap as i64
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fh() -> Federation {
        crate::domain::federation::familjen_helsingborg()
    }

    #[test]
    fn defaults_and_overrides() {
        let f = fh();
        let defaults = RoutingSettings::new(&f, &[]);
        assert_eq!(defaults.all().count(), f.categories.len());
        assert!(
            defaults
                .all()
                .all(|c| c.mode == Mode::Pull && c.check().is_ok())
        );
        assert!(defaults.get("vald").ring_timeouts[0] < defaults.get("ekonomi").ring_timeouts[0]);
        let mut push = defaults.get("ekonomi");
        push.mode = Mode::Push;
        push.offer_timeout = 30;
        let stored = RoutingSettings::new(&f, &[push.to_record(Utc::now(), "admin")]);
        assert_eq!(stored.get("ekonomi"), push);
        assert_eq!(stored.get("ekonomi").ring_timeout(1), Some(3600));
        assert_eq!(stored.get("ekonomi").ring_timeout(2), None);
    }

    #[test]
    fn checks_name_the_field() {
        let good = RoutingSettings::new(&fh(), &[]).get("ekonomi");
        assert_eq!(
            CategoryRouting {
                ring_timeouts: vec![0, 10],
                ..good.clone()
            }
            .check(),
            Err("ring_timeouts")
        );
        assert_eq!(
            CategoryRouting {
                ring_timeouts: vec![10],
                ..good.clone()
            }
            .check(),
            Err("ring_timeouts")
        );
        assert_eq!(
            CategoryRouting {
                offer_timeout: MAX_TIMEOUT_SECS + 1,
                ..good.clone()
            }
            .check(),
            Err("offer_timeout")
        );
        assert_eq!(
            CategoryRouting {
                fair_share_per_10k: Some(f64::NAN),
                ..good.clone()
            }
            .check(),
            Err("fair_share_per_10k")
        );
        assert_eq!(fair_share_cap(2.0, 151_000), 30);
        assert_eq!(fair_share_cap(2.0, 7_500), 1);
    }
}
