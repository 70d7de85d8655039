//! Swedish personal identity numbers (personnummer) and coordination numbers
//! (samordningsnummer).
//!
//! A [`Personnummer`] can only be obtained through [`Personnummer::parse`] or
//! [`Personnummer::from_parts`], so holding one means the date, checksum and
//! century have already been validated. The current date is always passed in
//! because the domain layer must not read the clock.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PersonnummerError {
    #[error(
        "personal identity number must be YYMMDD-NNNC, YYMMDD+NNNC, YYMMDDNNNC, YYYYMMDD-NNNC or YYYYMMDDNNNC"
    )]
    Format,
    #[error("personal identity number contains a date that does not exist")]
    InvalidDate,
    #[error("personal identity number has an incorrect check digit")]
    Checksum,
    #[error("personal identity number has a birth date in the future")]
    InFuture,
    #[error("personal identity number has serial number 000, which is never issued")]
    Serial,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    Personnummer,
    Samordningsnummer,
}

/// A validated personnummer or samordningsnummer in normalized 12-digit form.
///
/// `Debug` is hand-written and masks the serial and check digit so the value
/// can appear in logs and error chains without leaking an identity.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Personnummer {
    /// `YYYYMMDDNNNC`, always 12 ASCII digits.
    number: String,
    kind: IdKind,
    birth_date: NaiveDate,
}

/// Coordination numbers encode the birth day shifted by this amount.
const COORDINATION_DAY_OFFSET: u32 = 60;

/// Which separator a 10-digit number was written with; it decides the century.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Separator {
    /// `-` or none: the person is younger than 100.
    Minus,
    /// `+`: the person has turned 100.
    Plus,
}

/// Input after shape checks: the century (if written) and the ten digits that
/// the checksum covers, as numeric values 0..=9.
struct Shape {
    century: Option<i32>,
    separator: Separator,
    digits: [u8; 10],
}

impl Personnummer {
    /// A number as a person or the eID broker writes it, checked as Skatteverket issues them
    /// (R2): a real date (day + 60 for a samordningsnummer), the check digit, not born in the
    /// future, and a serial number other than 000.
    pub fn parse(input: &str, today: NaiveDate) -> Result<Self, PersonnummerError> {
        let parsed = Self::parse_unchecked_serial(input, today)?;
        if parsed.number.get(8..11) == Some("000") {
            return Err(PersonnummerError::Serial);
        }
        Ok(parsed)
    }

    fn parse_unchecked_serial(input: &str, today: NaiveDate) -> Result<Self, PersonnummerError> {
        let shape = parse_shape(input.trim())?;
        let d = &shape.digits;

        let yy = i32::from(d[0] * 10 + d[1]);
        let month = u32::from(d[2] * 10 + d[3]);
        let written_day = u32::from(d[4] * 10 + d[5]);

        let (kind, day) = match written_day {
            1..=31 => (IdKind::Personnummer, written_day),
            61..=91 => (
                IdKind::Samordningsnummer,
                written_day - COORDINATION_DAY_OFFSET,
            ),
            _ => return Err(PersonnummerError::InvalidDate),
        };
        if !(1..=12).contains(&month) {
            return Err(PersonnummerError::InvalidDate);
        }

        // The century must be known before the day can be validated, because
        // whether Feb 29 exists depends on the full year (1900 vs 2000).
        let year = match shape.century {
            Some(century) => century * 100 + yy,
            None => infer_year(yy, month, day, shape.separator, today)
                .ok_or(PersonnummerError::InvalidDate)?,
        };
        let birth_date =
            NaiveDate::from_ymd_opt(year, month, day).ok_or(PersonnummerError::InvalidDate)?;

        let mut nine = [0u8; 9];
        nine.copy_from_slice(&d[..9]);
        if luhn_check_digit(&nine) != d[9] {
            return Err(PersonnummerError::Checksum);
        }

        // Only a written century can place the date in the future; inferred
        // centuries are chosen so that it never is.
        if birth_date > today {
            return Err(PersonnummerError::InFuture);
        }

        Ok(Self {
            number: normalized(year, d),
            kind,
            birth_date,
        })
    }

    /// Builds a valid number from its parts, computing the check digit.
    ///
    /// Returns `None` if `serial` is 000 (never issued) or exceeds 999, or if the year
    /// cannot be written with four digits.
    pub fn from_parts(birth: NaiveDate, serial: u16, coordination: bool) -> Option<Self> {
        let year = birth.year();
        if !(1..=999).contains(&serial) || !(0..=9999).contains(&year) {
            return None;
        }
        let day = if coordination {
            birth.day() + COORDINATION_DAY_OFFSET
        } else {
            birth.day()
        };
        // Every component is bounded (year % 100, month <= 12, day <= 91,
        // serial <= 999), so the narrowing casts below cannot truncate.
        let yy = (year % 100) as u8;
        let month = birth.month() as u8;
        let day = day as u8;
        let serial_digits = [
            (serial / 100) as u8,
            (serial / 10 % 10) as u8,
            (serial % 10) as u8,
        ];
        let nine = [
            yy / 10,
            yy % 10,
            month / 10,
            month % 10,
            day / 10,
            day % 10,
            serial_digits[0],
            serial_digits[1],
            serial_digits[2],
        ];
        let mut digits = [0u8; 10];
        digits[..9].copy_from_slice(&nine);
        digits[9] = luhn_check_digit(&nine);

        Some(Self {
            number: normalized(year, &digits),
            kind: if coordination {
                IdKind::Samordningsnummer
            } else {
                IdKind::Personnummer
            },
            birth_date: birth,
        })
    }

    /// The normalized 12-digit form `YYYYMMDDNNNC`, without separator.
    pub fn as_str(&self) -> &str {
        &self.number
    }

    pub fn kind(&self) -> IdKind {
        self.kind
    }

    /// The real birth date; for a samordningsnummer the 60-day offset has
    /// already been removed.
    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// Age in whole years on `date`, or 0 if `date` is before the birth date.
    pub fn age_on(&self, date: NaiveDate) -> u32 {
        age_between(self.birth_date, date)
    }

    /// `YYYYMMDD-****`, safe for logs.
    ///
    /// The date part is taken verbatim from the number, so a samordningsnummer
    /// keeps its shifted day and remains recognisable as one.
    pub fn masked(&self) -> String {
        let date_part = self.number.get(..8).unwrap_or_default();
        format!("{date_part}-****")
    }
}

impl fmt::Debug for Personnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Personnummer({})", self.masked())
    }
}

impl Serialize for Personnummer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.number)
    }
}

impl Personnummer {
    /// A number in the normalized 12-digit form Brygga stores (`YYYYMMDDNNNC`): the century is
    /// written, so no date is needed to read it back. Date and check digit are checked as in
    /// [`Personnummer::parse`]; a birth date in the future is not (it was checked when the
    /// number was first given).
    pub fn parse_stored(stored: &str) -> Result<Self, PersonnummerError> {
        if stored.len() != 12 || !stored.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PersonnummerError::Format);
        }
        // A number stored before serial 000 was refused stays readable.
        Self::parse_unchecked_serial(stored, NaiveDate::MAX)
    }
}

impl<'de> Deserialize<'de> for Personnummer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Personnummer::parse_stored(&text).map_err(serde::de::Error::custom)
    }
}

/// Luhn check digit over nine numeric digits (each 0..=9, not ASCII).
///
/// Weights alternate 2,1,2,…; two-digit products contribute their digit sum.
pub fn luhn_check_digit(nine_digits: &[u8; 9]) -> u8 {
    let sum: u32 = nine_digits
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let weight = if i % 2 == 0 { 2 } else { 1 };
            let product = u32::from(d) * weight;
            product / 10 + product % 10
        })
        .sum();
    // Result is always 0..=9.
    ((10 - sum % 10) % 10) as u8
}

fn parse_shape(s: &str) -> Result<Shape, PersonnummerError> {
    let bytes = s.as_bytes();
    // Splitting on byte positions is safe because every accepted byte is
    // ASCII; any multi-byte character fails the digit check below.
    let (century_digits, date_digits, separator, tail) = match bytes.len() {
        10 => (None, &bytes[..6], None, &bytes[6..]),
        11 => (None, &bytes[..6], Some(bytes[6]), &bytes[7..]),
        12 => (Some(&bytes[..2]), &bytes[2..8], None, &bytes[8..]),
        13 => (Some(&bytes[..2]), &bytes[2..8], Some(bytes[8]), &bytes[9..]),
        _ => return Err(PersonnummerError::Format),
    };

    let separator = match (separator, century_digits.is_some()) {
        (None | Some(b'-'), _) => Separator::Minus,
        // `+` only makes sense when the century is implied.
        (Some(b'+'), false) => Separator::Plus,
        _ => return Err(PersonnummerError::Format),
    };

    let all_digits = century_digits
        .unwrap_or_default()
        .iter()
        .chain(date_digits)
        .chain(tail)
        .all(u8::is_ascii_digit);
    if !all_digits {
        return Err(PersonnummerError::Format);
    }

    let mut digits = [0u8; 10];
    for (slot, b) in digits.iter_mut().zip(date_digits.iter().chain(tail)) {
        *slot = b - b'0';
    }
    let century = century_digits.map(|c| i32::from(c[0] - b'0') * 10 + i32::from(c[1] - b'0'));

    Ok(Shape {
        century,
        separator,
        digits,
    })
}

/// Picks the full year for a two-digit year.
///
/// With `-` the birth date must not be after `today`; with `+` the person must
/// have turned 100 by `today`. In both cases the latest such century wins.
/// Comparison is on (year, month, day) tuples because the date may not exist
/// yet in the candidate year (Feb 29); existence is checked by the caller.
fn infer_year(yy: i32, month: u32, day: u32, sep: Separator, today: NaiveDate) -> Option<i32> {
    let limit_year = match sep {
        Separator::Minus => today.year(),
        Separator::Plus => today.year() - 100,
    };
    let limit = (limit_year, today.month(), today.day());
    let mut year = limit_year - (limit_year - yy).rem_euclid(100);
    if (year, month, day) > limit {
        year -= 100;
    }
    // Years before 0 cannot be written in the 12-digit form.
    (year >= 0).then_some(year)
}

fn normalized(year: i32, digits: &[u8; 10]) -> String {
    let mut s = format!("{year:04}");
    s.extend(digits[2..].iter().map(|d| char::from(b'0' + d)));
    s
}

fn age_between(birth: NaiveDate, date: NaiveDate) -> u32 {
    if date < birth {
        return 0;
    }
    let mut years = date.year() - birth.year();
    // Someone born on Feb 29 turns a year older on Mar 1 in common years.
    if (date.month(), date.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn today() -> NaiveDate {
        date(2026, 11, 23)
    }

    fn parse(s: &str) -> Result<Personnummer, PersonnummerError> {
        Personnummer::parse(s, today())
    }

    /// Appends the correct check digit to nine ASCII digits so tests can focus
    /// on the rule they exercise instead of on the checksum.
    fn with_check(nine: &str) -> String {
        let bytes = nine.as_bytes();
        assert_eq!(bytes.len(), 9);
        let mut arr = [0u8; 9];
        for (slot, b) in arr.iter_mut().zip(bytes) {
            *slot = b - b'0';
        }
        format!("{nine}{}", luhn_check_digit(&arr))
    }

    /// Builds `YYMMDD<sep>NNNC` with a correct check digit.
    fn short(yymmdd: &str, sep: &str, serial: &str) -> String {
        let ten = with_check(&format!("{yymmdd}{serial}"));
        format!("{}{sep}{}", &ten[..6], &ten[6..])
    }

    /// Builds `CCYYMMDD<sep>NNNC` with a correct check digit.
    fn long(yyyymmdd: &str, sep: &str, serial: &str) -> String {
        format!("{}{}", &yyyymmdd[..2], short(&yyyymmdd[2..], sep, serial))
    }

    #[test]
    fn luhn_matches_skatteverket_vectors() {
        assert_eq!(luhn_check_digit(&[8, 1, 1, 2, 1, 8, 9, 8, 7]), 6);
        assert_eq!(luhn_check_digit(&[7, 0, 1, 0, 6, 3, 2, 3, 9]), 1);
        assert_eq!(luhn_check_digit(&[0; 9]), 0);
    }

    #[test]
    fn parses_skatteverket_vectors() {
        for input in ["811218-9876", "19811218-9876", "8112189876", "198112189876"] {
            let p = parse(input).unwrap();
            assert_eq!(p.as_str(), "198112189876", "{input}");
            assert_eq!(p.kind(), IdKind::Personnummer);
            assert_eq!(p.birth_date(), date(1981, 12, 18));
        }
    }

    #[test]
    fn parses_samordningsnummer_vector() {
        let p = parse("701063-2391").unwrap();
        assert_eq!(p.as_str(), "197010632391");
        assert_eq!(p.kind(), IdKind::Samordningsnummer);
        assert_eq!(p.birth_date(), date(1970, 10, 3));
        assert_eq!(parse("19701063-2391").unwrap(), p);
    }

    #[test]
    fn trims_surrounding_whitespace() {
        let p = parse(" \t811218-9876\r\n").unwrap();
        assert_eq!(p.as_str(), "198112189876");
        assert_eq!(parse("  198112189876  ").unwrap(), p);
    }

    #[test]
    fn rejects_bad_formats() {
        for bad in [
            "",
            "   ",
            "811218",
            "81121-89876",
            "811218 9876",
            "811218 -9876",
            "811218--9876",
            "811218/9876",
            "811218_9876",
            "811218:9876",
            "81121898766",
            "811218-98765",
            "19811218+9876",
            "1981121-89876",
            "19811218 9876",
            "811218-987a",
            "abcdefghij",
            "+8112189876",
            "-8112189876",
            "8112189876-",
            "１９８１１２１８９８７６",
            "8112189876x",
            "19811218-98761",
            "019811218-9876",
            "198112189876\u{0}",
        ] {
            assert_eq!(parse(bad), Err(PersonnummerError::Format), "{bad:?}");
        }
    }

    #[test]
    fn rejects_invalid_dates() {
        for bad in [
            short("810018", "-", "987"),
            short("811318", "-", "987"),
            short("811200", "-", "987"),
            short("811232", "-", "987"),
            short("811260", "-", "987"),
            short("811292", "-", "987"),
            short("811299", "-", "987"),
            short("810431", "-", "987"),
            short("810491", "-", "987"),
            long("19810229", "", "987"),
            long("19810289", "-", "987"),
        ] {
            assert_eq!(parse(&bad), Err(PersonnummerError::InvalidDate), "{bad}");
        }
    }

    #[test]
    fn leap_days() {
        let valid = parse(&long("20240229", "-", "123")).unwrap();
        assert_eq!(valid.birth_date(), date(2024, 2, 29));
        assert_eq!(
            parse(&long("20230229", "-", "123")),
            Err(PersonnummerError::InvalidDate)
        );
        // 2000 was a leap year, 1900 was not.
        assert_eq!(
            parse(&long("20000229", "", "123")).unwrap().birth_date(),
            date(2000, 2, 29)
        );
        assert_eq!(
            parse(&long("19000229", "", "123")),
            Err(PersonnummerError::InvalidDate)
        );
        assert_eq!(
            parse(&short("240229", "-", "123")).unwrap().birth_date(),
            date(2024, 2, 29)
        );
        assert_eq!(
            parse(&short("230229", "-", "123")),
            Err(PersonnummerError::InvalidDate)
        );
    }

    #[test]
    fn leap_day_depends_on_inferred_century() {
        // `-` resolves 00 to 2000 (leap); `+` resolves it to 1900 (not leap).
        assert_eq!(
            parse(&short("000229", "-", "123")).unwrap().birth_date(),
            date(2000, 2, 29)
        );
        assert_eq!(
            parse(&short("000229", "+", "123")),
            Err(PersonnummerError::InvalidDate)
        );
    }

    #[test]
    fn samordningsnummer_on_leap_day() {
        let p = parse(&long("20240289", "-", "456")).unwrap();
        assert_eq!(p.kind(), IdKind::Samordningsnummer);
        assert_eq!(p.birth_date(), date(2024, 2, 29));
        assert_eq!(
            parse(&long("20230289", "-", "456")),
            Err(PersonnummerError::InvalidDate)
        );
        assert_eq!(
            parse(&short("240289", "", "456")).unwrap().birth_date(),
            date(2024, 2, 29)
        );
    }

    #[test]
    fn samordningsnummer_day_bounds() {
        assert_eq!(
            parse(&short("810161", "-", "111")).unwrap().birth_date(),
            date(1981, 1, 1)
        );
        assert_eq!(
            parse(&short("810191", "-", "111")).unwrap().birth_date(),
            date(1981, 1, 31)
        );
    }

    #[test]
    fn rejects_wrong_check_digit() {
        assert_eq!(parse("811218-9875"), Err(PersonnummerError::Checksum));
        assert_eq!(parse("19811218-9877"), Err(PersonnummerError::Checksum));
        assert_eq!(parse("701063-2390"), Err(PersonnummerError::Checksum));
    }

    #[test]
    fn errors_are_reported_in_order() {
        // Invalid date with a wrong check digit reports the date.
        assert_eq!(parse("811318-0000"), Err(PersonnummerError::InvalidDate));
        // Bad shape wins over everything.
        assert_eq!(parse("811318/0000"), Err(PersonnummerError::Format));
        // A future 12-digit number with a bad checksum reports the checksum.
        let future = long("20301231", "", "123");
        let mut bad_check = future[..11].to_owned();
        let last = future.as_bytes()[11] - b'0';
        bad_check.push(char::from(b'0' + (last + 1) % 10));
        assert_eq!(parse(&bad_check), Err(PersonnummerError::Checksum));
        assert_eq!(parse(&future), Err(PersonnummerError::InFuture));
    }

    #[test]
    fn twelve_digit_future_is_rejected() {
        assert_eq!(
            parse(&long("20261124", "-", "123")),
            Err(PersonnummerError::InFuture)
        );
        assert_eq!(
            parse(&long("20270101", "", "123")),
            Err(PersonnummerError::InFuture)
        );
        // Born today is fine.
        assert_eq!(
            parse(&long("20261123", "-", "123")).unwrap().birth_date(),
            today()
        );
    }

    #[test]
    fn century_with_minus_or_no_separator() {
        let cases = [
            ("261123", date(2026, 11, 23)),
            ("261124", date(1926, 11, 24)),
            ("270101", date(1927, 1, 1)),
            ("000101", date(2000, 1, 1)),
            ("991231", date(1999, 12, 31)),
            ("811218", date(1981, 12, 18)),
        ];
        for (yymmdd, expected) in cases {
            for sep in ["-", ""] {
                let input = short(yymmdd, sep, "321");
                assert_eq!(parse(&input).unwrap().birth_date(), expected, "{input}");
            }
        }
    }

    #[test]
    fn century_with_plus() {
        let cases = [
            // Exactly 100 today.
            ("261123", date(1926, 11, 23)),
            // Would turn 100 tomorrow, so must be a century earlier.
            ("261124", date(1826, 11, 24)),
            ("811218", date(1881, 12, 18)),
            ("000101", date(1900, 1, 1)),
            ("201231", date(1920, 12, 31)),
        ];
        for (yymmdd, expected) in cases {
            let input = short(yymmdd, "+", "321");
            let p = parse(&input).unwrap();
            assert_eq!(p.birth_date(), expected, "{input}");
            assert!(p.age_on(today()) >= 100, "{input}");
        }
        assert_eq!(parse("811218+9876").unwrap().as_str(), "188112189876");
    }

    #[test]
    fn century_inference_on_leap_day_today() {
        let leap_today = date(2024, 2, 29);
        let p = Personnummer::parse(&short("240229", "+", "123"), leap_today).unwrap();
        assert_eq!(p.birth_date(), date(1924, 2, 29));
        let p = Personnummer::parse(&short("240301", "-", "123"), leap_today).unwrap();
        assert_eq!(p.birth_date(), date(1924, 3, 1));
    }

    #[test]
    fn age_on() {
        let p = parse("811218-9876").unwrap();
        assert_eq!(p.age_on(date(1981, 12, 17)), 0);
        assert_eq!(p.age_on(date(1900, 1, 1)), 0);
        assert_eq!(p.age_on(date(1981, 12, 18)), 0);
        assert_eq!(p.age_on(date(1982, 12, 17)), 0);
        assert_eq!(p.age_on(date(1982, 12, 18)), 1);
        assert_eq!(p.age_on(date(2026, 11, 23)), 44);
        assert_eq!(p.age_on(date(2026, 12, 18)), 45);

        let leapling = Personnummer::from_parts(date(2024, 2, 29), 1, false).unwrap();
        assert_eq!(leapling.age_on(date(2025, 2, 28)), 0);
        assert_eq!(leapling.age_on(date(2025, 3, 1)), 1);
        assert_eq!(leapling.age_on(date(2028, 2, 29)), 4);
    }

    #[test]
    fn debug_and_masked_hide_the_serial() {
        let p = parse("811218-9876").unwrap();
        assert_eq!(p.masked(), "19811218-****");
        let debug = format!("{p:?}");
        assert_eq!(debug, "Personnummer(19811218-****)");
        assert!(!debug.contains("9876"));
        let nested = format!("{:?}", Some(vec![p]));
        assert!(!nested.contains("9876"), "{nested}");

        let s = parse("701063-2391").unwrap();
        assert_eq!(format!("{s:?}"), "Personnummer(19701063-****)");
    }

    #[test]
    fn serializes_as_twelve_digits() {
        let p = parse("811218-9876").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"198112189876\"");
        assert_eq!(
            serde_json::to_string(&IdKind::Samordningsnummer).unwrap(),
            "\"samordningsnummer\""
        );
        assert_eq!(
            serde_json::from_str::<IdKind>("\"personnummer\"").unwrap(),
            IdKind::Personnummer
        );
    }

    #[test]
    fn from_parts_builds_valid_numbers() {
        let p = Personnummer::from_parts(date(1981, 12, 18), 987, false).unwrap();
        assert_eq!(p, parse("811218-9876").unwrap());
        let s = Personnummer::from_parts(date(1970, 10, 3), 239, true).unwrap();
        assert_eq!(s, parse("701063-2391").unwrap());
        assert_eq!(s.kind(), IdKind::Samordningsnummer);
        assert_eq!(s.birth_date(), date(1970, 10, 3));

        let one = Personnummer::from_parts(date(2001, 2, 3), 1, false).unwrap();
        assert_eq!(
            one.as_str(),
            format!("20010203001{}", &with_check("010203001")[9..])
        );
    }

    #[test]
    fn r2_serial_number_000_is_not_valid() {
        let zero = with_check("010203000");
        assert_eq!(parse(&zero), Err(PersonnummerError::Serial));
        assert_eq!(
            parse(&format!("20{}", &zero)),
            Err(PersonnummerError::Serial)
        );
        let coordination = with_check("010263000");
        assert_eq!(parse(&coordination), Err(PersonnummerError::Serial));
        assert!(Personnummer::from_parts(date(2001, 2, 3), 0, false).is_none());
        assert!(Personnummer::from_parts(date(2001, 2, 3), 0, true).is_none());
        // One stored before the rule stays readable.
        assert!(Personnummer::parse_stored(&format!("20{zero}")).is_ok());
    }

    #[test]
    fn from_parts_rejects_out_of_range() {
        assert!(Personnummer::from_parts(date(1981, 12, 18), 1000, false).is_none());
        assert!(Personnummer::from_parts(date(1981, 12, 18), u16::MAX, true).is_none());
        assert!(Personnummer::from_parts(date(10000, 1, 1), 1, false).is_none());
        assert!(Personnummer::from_parts(date(-1, 1, 1), 1, false).is_none());
    }

    #[test]
    fn error_messages_are_descriptive() {
        for e in [
            PersonnummerError::Format,
            PersonnummerError::InvalidDate,
            PersonnummerError::Checksum,
            PersonnummerError::InFuture,
            PersonnummerError::Serial,
        ] {
            assert!(e.to_string().starts_with("personal identity number"), "{e}");
        }
    }

    fn birth_and_serial() -> impl Strategy<Value = (NaiveDate, u16, bool)> {
        let start = date(1900, 1, 1);
        let span = (today() - start).num_days();
        (0..=span, 1u16..=999, any::<bool>()).prop_map(move |(offset, serial, coord)| {
            (start + chrono::Duration::days(offset), serial, coord)
        })
    }

    proptest! {
        #[test]
        fn all_shapes_agree((birth, serial, coord) in birth_and_serial()) {
            let p = Personnummer::from_parts(birth, serial, coord).unwrap();
            let full = p.as_str().to_owned();
            let ten = &full[2..];
            let mut shapes = vec![
                full.clone(),
                format!("{}-{}", &full[..8], &full[8..]),
            ];
            if p.age_on(today()) < 100 {
                shapes.push(ten.to_owned());
                shapes.push(format!("{}-{}", &ten[..6], &ten[6..]));
            } else {
                shapes.push(format!("{}+{}", &ten[..6], &ten[6..]));
            }
            for shape in shapes {
                let parsed = parse(&shape);
                prop_assert_eq!(parsed.as_ref().map(Personnummer::as_str), Ok(full.as_str()), "{}", shape);
                let parsed = parsed.unwrap();
                prop_assert_eq!(parsed.birth_date(), birth);
                prop_assert_eq!(parsed.kind() == IdKind::Samordningsnummer, coord);
            }
        }

        #[test]
        fn single_digit_change_is_rejected(
            (birth, serial, coord) in birth_and_serial(),
            position in 0usize..10,
            delta in 1u8..=9,
        ) {
            let p = Personnummer::from_parts(birth, serial, coord).unwrap();
            let mut ten: Vec<u8> = p.as_str().as_bytes()[2..].to_vec();
            ten[position] = b'0' + (ten[position] - b'0' + delta) % 10;
            let mutated = String::from_utf8(ten).unwrap();
            prop_assert!(parse(&mutated).is_err(), "{} accepted", mutated);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,20}") {
            if let Ok(p) = parse(&s) {
                prop_assert_eq!(parse(p.as_str()), Ok(p.clone()));
            }
        }

        #[test]
        fn digit_and_separator_soup_never_panics(s in "[0-9+\\- ]{0,16}") {
            if let Ok(p) = parse(&s) {
                prop_assert_eq!(p.as_str().len(), 12);
                prop_assert!(p.as_str().bytes().all(|b| b.is_ascii_digit()));
                prop_assert!(p.birth_date() <= today());
                prop_assert_eq!(parse(p.as_str()), Ok(p.clone()));
            }
        }

        #[test]
        fn arbitrary_today_never_panics(
            s in "[0-9]{6}[+-]?[0-9]{4}",
            days in -800_000i64..800_000,
        ) {
            let today = date(2000, 1, 1) + chrono::Duration::days(days);
            let _ = Personnummer::parse(&s, today);
        }
    }
}
