//! Retention (R17, DESIGN.md "Audit and data protection"): when a closed case's personal data
//! is thinned. Counted from the case's last entry; a category may have its own period;
//! child-related records are kept 30 years from the child's birth, or from the report when no
//! birth date is known, by every run from the day that rule took effect (2026-01-15). Pure:
//! the workflow reads the cases and thins what is due.

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
    /// The day the child rule took effect (LEGAL.md R17: 2026-01-15). Every run from that day
    /// applies it, to records made before it too that were not yet thinned: a thinned record
    /// cannot be brought back, so where the transition is unclear, keeping is the safe side.
    pub child_rule_from: NaiveDate,
}

/// LEGAL.md R17: documents about children are kept 30 years from birth from 2026-01-15.
pub const CHILD_RULE_FROM: NaiveDate = match NaiveDate::from_ymd_opt(2026, 1, 15) {
    Some(date) => date,
    None => NaiveDate::MIN,
};

impl Default for RetentionRules {
    fn default() -> Self {
        RetentionRules {
            years: 5,
            years_by_category: BTreeMap::new(),
            child_years: 30,
            child_rule_from: CHILD_RULE_FROM,
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
    /// When the citizen was born, when the case is about a minor: the start of the birth date
    /// in the calendar dates are kept in (Europe/Stockholm), which the caller works out — the
    /// domain knows no time zones.
    pub minor_born_at: Option<DateTime<Utc>>,
    /// The calendar day of the run that asks (Europe/Stockholm).
    pub today: NaiveDate,
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
        if facts.today < self.child_rule_from {
            return due;
        }
        if facts.child_concern {
            due = due.max(add_years(facts.created_at, self.child_years));
        }
        if let Some(born) = facts.minor_born_at {
            due = due.max(add_years(born, self.child_years));
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

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
            minor_born_at: None,
            today: NaiveDate::from_ymd_opt(2026, 3, 2).expect("date"),
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
        // Born 5 May 2010 in Stockholm: midnight summer time, 22:00 UTC the day before.
        let born = NaiveDate::from_ymd_opt(2010, 5, 4)
            .and_then(|d| d.and_hms_opt(22, 0, 0))
            .expect("date")
            .and_utc();
        let minor = RetentionFacts {
            category: "ekonomi",
            child_concern: false,
            minor_born_at: Some(born),
            ..report
        };
        let due = NaiveDate::from_ymd_opt(2040, 5, 4)
            .and_then(|d| d.and_hms_opt(22, 0, 0))
            .expect("date")
            .and_utc();
        assert_eq!(rules.due(&minor), due);

        // R17: before 2026-01-15 the child rule did not apply; from that day it does.
        let eve = RetentionFacts {
            today: NaiveDate::from_ymd_opt(2026, 1, 14).expect("date"),
            ..minor
        };
        assert_eq!(rules.due(&eve), at(2028, 3, 1));
        let first_day = RetentionFacts {
            today: CHILD_RULE_FROM,
            ..eve
        };
        assert_eq!(rules.due(&first_day), due);
    }
}
