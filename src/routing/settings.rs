//! Per-category routing settings: push or pull, ring timeouts, offer timeout, fair-share cap.
//! Administrators read and set them through `/api/v1/admin/routing`; a category without stored
//! settings uses the defaults here.

use std::collections::BTreeMap;

use crate::domain::federation::Federation;
pub use crate::domain::routing::{CategoryRouting, MAX_TIMEOUT_SECS, Mode};

/// The settings of every category of the federation.
#[derive(Clone, Debug, PartialEq)]
pub struct RoutingSettings {
    by_category: BTreeMap<String, CategoryRouting>,
}

impl RoutingSettings {
    /// The defaults of every category of the federation, with what administrators stored
    /// (entries of categories the federation no longer has are left out).
    pub fn new(federation: &Federation, stored: &[CategoryRouting]) -> Self {
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
                *entry = record.clone();
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
        let stored = RoutingSettings::new(&f, std::slice::from_ref(&push));
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
