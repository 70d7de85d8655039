//! Demo data: caseworkers for every municipality of the federation, sized by population (about
//! one per 5 000 inhabitants, at least two each), with skills and languages spread so that not
//! every municipality offers every language — the situation Brygga exists for.

use chrono::{DateTime, Utc};

use crate::domain::access::Administrator;
use crate::domain::federation::{CategoryKind, Federation};
use crate::domain::ids::{CaseworkerId, CategoryId, Language};
use crate::domain::people::{Availability, Caseworker};

const INHABITANTS_PER_CASEWORKER: u32 = 5_000;
/// Width of a specialist's skill window over the category list.
const SPECIALIST_SKILLS: usize = 5;

/// Made-up names for the demo's administrators, one per member in the federation file's order,
/// then the two federation administrators (two, so that the four-eyes rule can be tried).
const ADMIN_NAMES: [&str; 13] = [
    "Karin Lindqvist",
    "Johan Berg",
    "Maria Holm",
    "Erik Sandberg",
    "Sofia Ek",
    "Anders Nyström",
    "Lena Åberg",
    "Per Lund",
    "Eva Strand",
    "Mats Hedlund",
    "Ingrid Falk",
    "Helena Forsberg",
    "Omar Haddad",
];

/// The demo's administrators: people with names, one for each member municipality
/// (`demo-admin-<kommunkod>`) and two for the federation (`demo-admin-federation-1`, `-2`).
pub fn administrators(federation: &Federation) -> Vec<Administrator> {
    let members = federation.municipalities.len();
    let name = |k: usize| {
        ADMIN_NAMES
            .get(k)
            .map_or_else(|| format!("Administratör {}", k + 1), |n| (*n).to_owned())
    };
    let mut out: Vec<Administrator> = federation
        .municipalities
        .iter()
        .enumerate()
        .map(|(k, m)| Administrator {
            id: format!("demo-admin-{}", m.code),
            name: name(k),
            municipality: Some(m.code.clone()),
        })
        .collect();
    for n in 1..=2 {
        out.push(Administrator {
            id: format!("demo-admin-federation-{n}"),
            name: ADMIN_NAMES
                .get(ADMIN_NAMES.len() - 3 + n)
                .map_or_else(|| name(members + n), |s| (*s).to_owned()),
            municipality: None,
        });
    }
    out
}

pub fn caseworkers(federation: &Federation, capacity: u32, now: DateTime<Utc>) -> Vec<Caseworker> {
    let categories: Vec<&CategoryId> = federation
        .categories
        .iter()
        // Volunteer categories stay in ring 0 for volunteers, not staff.
        .filter(|c| c.kind != CategoryKind::Volunteer)
        .map(|c| &c.id)
        .collect();
    let other_languages: Vec<&Language> = federation
        .languages
        .iter()
        .filter(|l| l.as_str() != "sv" && l.as_str() != "en")
        .collect();
    let mut out = Vec::new();
    for (k, municipality) in federation.municipalities.iter().enumerate() {
        let n =
            (municipality.population + INHABITANTS_PER_CASEWORKER / 2) / INHABITANTS_PER_CASEWORKER;
        let n = usize::try_from(n.max(2)).unwrap_or(2);
        // Roughly one in three speaks a language besides Swedish and English.
        let multilingual = n / 3;
        for j in 0..n {
            let skills: Vec<CategoryId> = if j == 0 {
                // The reception generalist: every staff category, child concern included (R10
                // needs someone with the skill in every municipality).
                categories.iter().map(|c| (*c).clone()).collect()
            } else {
                (0..SPECIALIST_SKILLS)
                    .map(|i| categories[(j * 3 + i) % categories.len()].clone())
                    .collect()
            };
            // Everyone speaks Swedish (API.md), whatever the federation file lists.
            let mut languages: Vec<Language> = Language::parse("sv").into_iter().collect();
            if j % 3 != 2 {
                languages.extend(Language::parse("en"));
            }
            if j < multilingual && !other_languages.is_empty() {
                languages.push(other_languages[(k + j) % other_languages.len()].clone());
            }
            let Ok(id) = CaseworkerId::parse(&format!("{}-{:02}", municipality.code, j + 1)) else {
                continue;
            };
            out.push(Caseworker {
                id,
                municipality: municipality.code.clone(),
                name: format!("Handläggare {} {}", municipality.name, j + 1),
                skills,
                languages,
                max_capacity: capacity,
                capacity,
                status: Availability::Available,
                // The reception generalist is cleared for protected identity and is the
                // municipality's supervisor (R12, R15).
                protected_identity_clearance: j == 0,
                supervisor: j == 0,
                status_since: now,
                last_assigned_at: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn familjen_helsingborg_is_staffed_as_intended() {
        let f = Federation::parse_toml(include_str!(
            "../deploy/federations/familjen-helsingborg.toml"
        ))
        .expect("federation");
        let all = caseworkers(&f, 5, Utc::now());
        let mut by_municipality: BTreeMap<&str, Vec<&Caseworker>> = BTreeMap::new();
        for c in &all {
            by_municipality
                .entry(c.municipality.as_str())
                .or_default()
                .push(c);
        }
        assert_eq!(by_municipality.len(), 11);
        assert_eq!(
            by_municipality["1283"].len(),
            30,
            "Helsingborg, 151 000 inhabitants"
        );
        assert_eq!(by_municipality["1275"].len(), 2, "Perstorp: at least two");
        let ids: BTreeSet<&str> = all.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), all.len(), "unique ids");
        for (code, staff) in &by_municipality {
            assert!(
                staff.iter().all(|c| c.speaks("sv")),
                "{code}: everyone speaks Swedish"
            );
            for category in f
                .categories
                .iter()
                .filter(|c| c.kind != CategoryKind::Volunteer)
            {
                assert!(
                    staff.iter().any(|c| c.has_skill(category.id.as_str())),
                    "{code} lacks {}",
                    category.id
                );
            }
        }
        let speaks = |code: &str, lang: &str| by_municipality[code].iter().any(|c| c.speaks(lang));
        assert!(speaks("1283", "ar") && speaks("1283", "fa") && speaks("1283", "so"));
        assert!(
            !speaks("1275", "ar"),
            "Perstorp has no Arabic speaker: the federation's case"
        );
        let arabic = by_municipality
            .keys()
            .filter(|code| speaks(code, "ar"))
            .count();
        assert!(
            arabic > 1 && arabic < 11,
            "Arabic in some municipalities, not all"
        );
    }
}
