//! Small identifier newtypes used throughout the domain.
//!
//! Each type can only be obtained through `parse`, so any value in hand is
//! known to be well-formed and downstream code never re-validates.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum IdError {
    #[error("municipality code must be four digits and not 0000, got {0:?}")]
    Municipality(String),
    #[error(
        "category id must be 1 to 40 characters of a-z, 0-9 or _ and start with a letter, got {0:?}"
    )]
    Category(String),
    #[error("language must be a two-letter ISO 639-1 code, got {0:?}")]
    Language(String),
    #[error("{0} must be 1 to 64 characters of A-Z, a-z, 0-9, `-`, `_` or `.`")]
    Opaque(&'static str),
}

/// Four-digit Swedish kommunkod, e.g. `"1283"` (Helsingborg).
///
/// Only the shape is checked, not membership in the official list, so that
/// municipality mergers or new codes do not require a code change here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MunicipalityCode(String);

/// Category id such as `"ekonomi"` or `"oro_barn"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CategoryId(String);

/// ISO 639-1 language code, always stored lowercase so comparisons are exact.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Language(String);

const CATEGORY_MAX_LEN: usize = 40;

impl MunicipalityCode {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let t = s.trim();
        let four_digits = t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit());
        if four_digits && t != "0000" {
            Ok(Self(t.to_owned()))
        } else {
            Err(IdError::Municipality(s.to_owned()))
        }
    }
}

impl CategoryId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let t = s.trim();
        let starts_with_letter = t.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
        let allowed = t
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if starts_with_letter && allowed && t.len() <= CATEGORY_MAX_LEN {
            Ok(Self(t.to_owned()))
        } else {
            Err(IdError::Category(s.to_owned()))
        }
    }
}

impl Language {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let t = s.trim();
        if t.len() == 2 && t.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Self(t.to_ascii_lowercase()))
        } else {
            Err(IdError::Language(s.to_owned()))
        }
    }
}

// The three types share identical plumbing; a macro keeps them from drifting
// apart when one of them gets changed.
macro_rules! string_id_impls {
    ($ty:ident) => {
        impl $ty {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $ty {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = IdError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$ty> for String {
            fn from(id: $ty) -> String {
                id.0
            }
        }
    };
}

string_id_impls!(MunicipalityCode);
string_id_impls!(CategoryId);
string_id_impls!(Language);

/// The longest opaque id Brygga accepts (random ids are 32 hex digits).
const OPAQUE_MAX_LEN: usize = 64;

/// Opaque ids: cases, caseworkers and offers. Only their shape is checked (so that an id in a
/// URL path can never smuggle anything else); whether one exists is the store's answer.
macro_rules! opaque_id {
    ($ty:ident, $what:literal) => {
        #[doc = concat!("The id of a ", $what, ".")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            pub fn parse(s: &str) -> Result<Self, IdError> {
                let allowed = !s.is_empty()
                    && s.len() <= OPAQUE_MAX_LEN
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
                if allowed {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(IdError::Opaque($what))
                }
            }
        }

        string_id_impls!($ty);
    };
}

opaque_id!(CaseId, "case");
opaque_id!(CaseworkerId, "caseworker");
opaque_id!(OfferId, "offer");

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn municipality_accepts_four_digits() {
        let m = MunicipalityCode::parse("1283").unwrap();
        assert_eq!(m.as_str(), "1283");
        assert_eq!(m.to_string(), "1283");
        assert_eq!(MunicipalityCode::parse("0114").unwrap().as_str(), "0114");
    }

    #[test]
    fn municipality_trims_whitespace() {
        assert_eq!(
            MunicipalityCode::parse(" \t1283\n").unwrap().as_str(),
            "1283"
        );
    }

    #[test]
    fn municipality_rejects_bad_shapes() {
        for bad in [
            "",
            "128",
            "12834",
            "0000",
            "12a3",
            "12 83",
            "１２８３",
            "-123",
            "+123",
        ] {
            assert_eq!(
                MunicipalityCode::parse(bad),
                Err(IdError::Municipality(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn municipality_error_message_names_input() {
        let err = MunicipalityCode::parse("12").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("municipality code must be four digits"),
            "{msg}"
        );
        assert!(msg.contains("\"12\""), "{msg}");
    }

    #[test]
    fn category_accepts_valid_ids() {
        for ok in ["ekonomi", "oro_barn", "a", "x1", "a_", &"a".repeat(40)] {
            assert_eq!(CategoryId::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(CategoryId::parse("  ekonomi ").unwrap().as_str(), "ekonomi");
    }

    #[test]
    fn category_rejects_invalid_ids() {
        let too_long = "a".repeat(41);
        for bad in [
            "",
            "  ",
            "1abc",
            "_abc",
            "Ekonomi",
            "oro-barn",
            "oro barn",
            "ekonomi!",
            "ö",
            too_long.as_str(),
        ] {
            assert_eq!(
                CategoryId::parse(bad),
                Err(IdError::Category(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn language_is_trimmed_and_lowercased() {
        assert_eq!(Language::parse("sv").unwrap().as_str(), "sv");
        assert_eq!(Language::parse("SV").unwrap().as_str(), "sv");
        assert_eq!(Language::parse(" En ").unwrap().as_str(), "en");
        assert_eq!(
            Language::parse("SV").unwrap(),
            Language::parse("sv").unwrap()
        );
    }

    #[test]
    fn language_rejects_invalid_codes() {
        for bad in ["", "s", "swe", "s1", "s v", "öl", "--"] {
            assert_eq!(
                Language::parse(bad),
                Err(IdError::Language(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn opaque_ids_take_safe_characters_only() {
        for ok in ["1275-01", "0f3a9c", "a.b_c-D", &"x".repeat(64)] {
            assert_eq!(CaseId::parse(ok).unwrap().as_str(), ok);
            assert_eq!(CaseworkerId::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", " a", "a/b", "a b", "ö", "a%2f", &"x".repeat(65)] {
            assert_eq!(CaseId::parse(bad), Err(IdError::Opaque("case")), "{bad:?}");
            assert!(OfferId::parse(bad).is_err());
        }
        assert!(serde_json::from_str::<CaseworkerId>("\"1275-01\"").is_ok());
        assert!(serde_json::from_str::<CaseworkerId>("\"../x\"").is_err());
    }

    #[test]
    fn from_str_matches_parse() {
        assert_eq!(
            "1283".parse::<MunicipalityCode>(),
            MunicipalityCode::parse("1283")
        );
        assert_eq!(
            "ekonomi".parse::<CategoryId>(),
            CategoryId::parse("ekonomi")
        );
        assert_eq!("SV".parse::<Language>(), Language::parse("SV"));
        assert!("x".parse::<Language>().is_err());
    }

    #[test]
    fn serde_uses_plain_strings() {
        let m = MunicipalityCode::parse("1283").unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"1283\"");
        let l: Language = serde_json::from_str("\"SV\"").unwrap();
        assert_eq!(l.as_str(), "sv");
        let c: CategoryId = serde_json::from_str("\"oro_barn\"").unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"oro_barn\"");
    }

    #[test]
    fn serde_deserialize_rejects_invalid() {
        assert!(serde_json::from_str::<MunicipalityCode>("\"0000\"").is_err());
        assert!(serde_json::from_str::<MunicipalityCode>("1283").is_err());
        assert!(serde_json::from_str::<CategoryId>("\"Bad\"").is_err());
        assert!(serde_json::from_str::<Language>("\"swe\"").is_err());
    }

    #[test]
    fn ordering_follows_string_order() {
        let a = MunicipalityCode::parse("0114").unwrap();
        let b = MunicipalityCode::parse("1283").unwrap();
        assert!(a < b);
    }

    fn roundtrip<T>(input: &str, expected: &str)
    where
        T: FromStr<Err = IdError>
            + fmt::Display
            + Serialize
            + serde::de::DeserializeOwned
            + PartialEq
            + fmt::Debug,
    {
        let v: T = input.parse().unwrap();
        assert_eq!(v.to_string(), expected);
        let again: T = v.to_string().parse().unwrap();
        assert_eq!(again, v);
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(json, format!("\"{expected}\""));
        let back: T = serde_json::from_str(&json).unwrap();
        assert_eq!(back, v);
    }

    proptest! {
        #[test]
        fn municipality_roundtrips(code in "[0-9]{4}") {
            prop_assume!(code != "0000");
            roundtrip::<MunicipalityCode>(&code, &code);
            let parsed = MunicipalityCode::parse(&code).unwrap();
            prop_assert_eq!(parsed.as_str(), code.as_str());
        }

        #[test]
        fn category_roundtrips(id in "[a-z][a-z0-9_]{0,39}") {
            roundtrip::<CategoryId>(&id, &id);
            let parsed = CategoryId::parse(&id).unwrap();
            prop_assert_eq!(parsed.as_str(), id.as_str());
        }

        #[test]
        fn language_roundtrips(code in "[a-zA-Z]{2}") {
            let lower = code.to_ascii_lowercase();
            roundtrip::<Language>(&code, &lower);
            let parsed = Language::parse(&code).unwrap();
            prop_assert_eq!(parsed.as_str(), lower.as_str());
        }

        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC{0,50}") {
            let _ = MunicipalityCode::parse(&s);
            let _ = CategoryId::parse(&s);
            let _ = Language::parse(&s);
            let _ = serde_json::from_value::<MunicipalityCode>(serde_json::Value::String(s.clone()));
            let _ = serde_json::from_value::<CategoryId>(serde_json::Value::String(s.clone()));
            let _ = serde_json::from_value::<Language>(serde_json::Value::String(s));
        }

        #[test]
        fn accepted_values_are_canonical(s in "\\PC{0,50}") {
            // Whatever parse accepts must itself be a fixed point of parse,
            // otherwise stored values could change meaning on reload.
            if let Ok(m) = MunicipalityCode::parse(&s) {
                prop_assert_eq!(MunicipalityCode::parse(m.as_str()), Ok(m.clone()));
            }
            if let Ok(c) = CategoryId::parse(&s) {
                prop_assert_eq!(CategoryId::parse(c.as_str()), Ok(c.clone()));
            }
            if let Ok(l) = Language::parse(&s) {
                prop_assert_eq!(Language::parse(l.as_str()), Ok(l.clone()));
            }
        }
    }
}
