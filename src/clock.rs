//! Time comes from an injected clock, so validity dates, timeouts and retention can be tested on
//! a simulated clock without sleeping.
//!
//! Calendar dates are Europe/Stockholm dates, summer time included (DESIGN.md "Storage"): the
//! zone is named here and nowhere else, and [`local_date`] and [`start_of_local_day`] convert
//! between instants and those dates.

use std::sync::Mutex;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// The zone whose calendar agreement dates, ages, retention and the fair-share day follow.
pub const TIME_ZONE: chrono_tz::Tz = chrono_tz::Europe::Stockholm;

/// The Stockholm calendar date at `at`.
pub fn local_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&TIME_ZONE).date_naive()
}

/// The instant the Stockholm calendar day `date` begins: local midnight (CET or CEST).
pub fn start_of_local_day(date: NaiveDate) -> DateTime<Utc> {
    from_local_in(&TIME_ZONE, date.and_time(NaiveTime::MIN))
}

/// The instant Stockholm's wall clocks show `local`: the earlier one when they show it twice
/// (the hour repeated in October), the moment they jump past it when they never show it (the
/// hour skipped in March).
pub fn from_local(local: NaiveDateTime) -> DateTime<Utc> {
    from_local_in(&TIME_ZONE, local)
}

/// [`from_local`] in any zone. A local time in a gap resolves to the first minute after it
/// that exists, which is when the clocks jumped (gaps begin and end on whole minutes). Never
/// panics: should no minute of the following day exist, the local time is read as UTC.
fn from_local_in<Tz: TimeZone>(zone: &Tz, local: NaiveDateTime) -> DateTime<Utc> {
    (0..=24 * 60)
        .map_while(|minutes| local.checked_add_signed(Duration::minutes(minutes)))
        .find_map(|candidate| zone.from_local_datetime(&candidate).earliest())
        .map_or_else(|| local.and_utc(), |at| at.with_timezone(&Utc))
}

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Today's calendar date in Stockholm (summer time included): the date agreements,
    /// ages and the daily runs are reckoned in.
    fn today(&self) -> NaiveDate {
        local_date(self.now())
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to: for tests and simulations.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(start))
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("RFC 3339")
            .with_timezone(&Utc)
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn the_date_is_stockholms_in_summer_and_in_winter() {
        // Summer (CEST, UTC+2): half past midnight on 1 July.
        assert_eq!(local_date(utc("2026-06-30T21:59:59Z")), date(2026, 6, 30));
        assert_eq!(local_date(utc("2026-06-30T22:30:00Z")), date(2026, 7, 1));
        // Winter (CET, UTC+1): still New Year's Eve, then New Year's Day.
        assert_eq!(local_date(utc("2026-12-31T22:30:00Z")), date(2026, 12, 31));
        assert_eq!(local_date(utc("2027-01-01T00:00:00Z")), date(2027, 1, 1));
        assert_eq!(local_date(utc("2026-12-31T23:00:00Z")), date(2027, 1, 1));
        let clock = ManualClock::new(utc("2026-05-31T22:30:00Z"));
        assert_eq!(clock.today(), date(2026, 6, 1), "already June in Stockholm");
        clock.advance(Duration::hours(-1));
        assert_eq!(clock.today(), date(2026, 5, 31));
    }

    #[test]
    fn days_begin_at_stockholm_midnight_across_both_changes_of_clock() {
        // Summer time begins 2026-03-29 at 01:00 UTC (02:00 CET → 03:00 CEST): a 23-hour day.
        assert_eq!(
            start_of_local_day(date(2026, 3, 29)),
            utc("2026-03-28T23:00:00Z")
        );
        assert_eq!(
            start_of_local_day(date(2026, 3, 30)),
            utc("2026-03-29T22:00:00Z")
        );
        assert_eq!(local_date(utc("2026-03-29T00:59:59Z")), date(2026, 3, 29));
        assert_eq!(local_date(utc("2026-03-29T01:00:00Z")), date(2026, 3, 29));
        assert_eq!(local_date(utc("2026-03-29T21:59:59Z")), date(2026, 3, 29));
        assert_eq!(local_date(utc("2026-03-29T22:00:00Z")), date(2026, 3, 30));
        // Summer time ends 2026-10-25 at 01:00 UTC (03:00 CEST → 02:00 CET): a 25-hour day.
        assert_eq!(
            start_of_local_day(date(2026, 10, 25)),
            utc("2026-10-24T22:00:00Z")
        );
        assert_eq!(
            start_of_local_day(date(2026, 10, 26)),
            utc("2026-10-25T23:00:00Z")
        );
        assert_eq!(local_date(utc("2026-10-25T00:30:00Z")), date(2026, 10, 25));
        assert_eq!(local_date(utc("2026-10-25T01:30:00Z")), date(2026, 10, 25));
        assert_eq!(local_date(utc("2026-10-25T22:59:59Z")), date(2026, 10, 25));
        assert_eq!(local_date(utc("2026-10-25T23:00:00Z")), date(2026, 10, 26));
    }

    #[test]
    fn every_day_of_2026_begins_where_the_day_before_ends() {
        let mut day = date(2026, 1, 1);
        while day < date(2027, 1, 2) {
            let start = start_of_local_day(day);
            assert_eq!(local_date(start), day, "{day}");
            assert_eq!(
                local_date(start - Duration::seconds(1)),
                day.pred_opt().expect("a day before"),
                "{day}"
            );
            let next = start_of_local_day(day.succ_opt().expect("a day after"));
            let hours = (next - start).num_hours();
            let expected = if day == date(2026, 3, 29) {
                23
            } else if day == date(2026, 10, 25) {
                25
            } else {
                24
            };
            assert_eq!(hours, expected, "{day}");
            day = day.succ_opt().expect("a day after");
        }
    }

    #[test]
    fn local_times_in_the_changes_of_clock() {
        let local =
            |text: &str| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("local time");
        // 02:30 on 29 March never happens: the clocks jump from 02:00 to 03:00.
        assert_eq!(
            from_local(local("2026-03-29 02:30")),
            utc("2026-03-29T01:00:00Z")
        );
        // 02:30 on 25 October happens twice; the first (summer time) counts.
        assert_eq!(
            from_local(local("2026-10-25 02:30")),
            utc("2026-10-25T00:30:00Z")
        );
        assert_eq!(
            from_local(local("2026-11-23 08:00")),
            utc("2026-11-23T07:00:00Z")
        );
    }

    /// Stockholm's midnight always exists once; where it does not (Havana: summer time begins at
    /// 00:00 standard time) or exists twice (it ends at 01:00 summer time), no panic, and the
    /// day begins at its first instant.
    #[test]
    fn midnight_in_a_gap_or_an_overlap_elsewhere_does_not_panic() {
        let havana = chrono_tz::America::Havana;
        let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN);
        assert!(matches!(
            havana.from_local_datetime(&midnight(date(2026, 3, 8))),
            chrono::LocalResult::None
        ));
        assert!(matches!(
            havana.from_local_datetime(&midnight(date(2026, 11, 1))),
            chrono::LocalResult::Ambiguous(..)
        ));
        assert_eq!(
            from_local_in(&havana, midnight(date(2026, 3, 8))),
            utc("2026-03-08T05:00:00Z"),
            "00:00 CST does not exist: the day begins at 01:00 CDT"
        );
        assert_eq!(
            from_local_in(&havana, midnight(date(2026, 11, 1))),
            utc("2026-11-01T04:00:00Z"),
            "00:00 happens at 04:00Z (CDT) and 05:00Z (CST): the first"
        );
        // At the ends of the calendar the offset would overflow: still an instant, no panic.
        for end in [NaiveDateTime::MIN, NaiveDateTime::MAX] {
            let at = from_local_in(&TIME_ZONE, end);
            assert!(
                (at - end.and_utc()).abs() <= Duration::hours(3),
                "{end}: {at}"
            );
        }
    }
}
