//! Retention (R17, DESIGN.md "Audit and data protection"): when a closed case's personal data
//! is thinned. Counted from the case's last entry; a category may have its own period;
//! child-related records are kept 30 years from the child's birth, or from the report when no
//! birth date is known. Pure: the workflow reads the cases and thins what is due.

use std::collections::BTreeMap;

use chrono::{DateTime, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionRules {
    /// Years after the last entry, unless the category says otherwise.
    pub years: u32,
    /// Category id → years.
    pub years_by_category: BTreeMap<String, u32>,
    /// Years child-related records are kept, from birth (or from the report).
    pub child_years: u32,
}

impl Default for RetentionRules {
    fn default() -> Self {
        RetentionRules {
            years: 5,
            years_by_category: BTreeMap::new(),
            child_years: 30,
        }
    }
}

/// What retention reads about a case.
pub struct RetentionFacts<'a> {
    pub category: &'a str,
    /// A concern about a child (the record is about a child).
    pub child_concern: bool,
    pub created_at: DateTime<Utc>,
    pub last_entry: DateTime<Utc>,
    /// The citizen's birth date, when the case is about a minor.
    pub minor_birth_date: Option<NaiveDate>,
}

fn add_years(at: DateTime<Utc>, years: u32) -> DateTime<Utc> {
    at.checked_add_months(Months::new(years.saturating_mul(12)))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl RetentionRules {
    /// When the case's personal data may be thinned.
    pub fn due(&self, facts: &RetentionFacts<'_>) -> DateTime<Utc> {
        let years = self
            .years_by_category
            .get(facts.category)
            .copied()
            .unwrap_or(self.years);
        let mut due = add_years(facts.last_entry, years);
        if facts.child_concern {
            due = due.max(add_years(facts.created_at, self.child_years));
        }
        if let Some(birth) = facts.minor_birth_date {
            let born = birth.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
            due = due.max(add_years(born, self.child_years));
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .expect("date")
            .and_utc()
    }

    #[test]
    fn five_years_from_the_last_entry_unless_the_category_or_a_child_says_more() {
        let mut rules = RetentionRules::default();
        let facts = RetentionFacts {
            category: "ekonomi",
            child_concern: false,
            created_at: at(2026, 1, 10),
            last_entry: at(2026, 3, 1),
            minor_birth_date: None,
        };
        assert_eq!(rules.due(&facts), at(2031, 3, 1));
        rules.years_by_category.insert("ekonomi".into(), 2);
        assert_eq!(rules.due(&facts), at(2028, 3, 1));
        let report = RetentionFacts {
            category: "oro_barn",
            child_concern: true,
            ..facts
        };
        assert_eq!(
            rules.due(&report),
            at(2056, 1, 10),
            "30 years from the report"
        );
        // A 16-year-old's own ekonomi case: 30 years from birth, not 2 from the last entry.
        let minor = RetentionFacts {
            category: "ekonomi",
            child_concern: false,
            minor_birth_date: NaiveDate::from_ymd_opt(2010, 5, 5),
            ..report
        };
        let born = NaiveDate::from_ymd_opt(2040, 5, 5)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("date")
            .and_utc();
        assert_eq!(rules.due(&minor), born);
    }
}
