//! The population register adapter: a citizen's registered home municipality and protection
//! level, looked up by identity number at login. Demo and tests read a TOML file; a real
//! register integration (e.g. Navet) is another implementation of [`PopulationRegister`].

use std::collections::HashMap;
use std::path::Path;

use async_trait::async_trait;
use serde::Deserialize;

use crate::domain::people::Protection;
use crate::domain::personnummer::Personnummer;

/// What the register says about a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterEntry {
    /// The kommunkod where the person is registered (folkbokförd); may be outside the
    /// federation.
    pub municipality: String,
    pub protection: Protection,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("the population register cannot be read: {0}")]
    Unavailable(String),
    #[error("population register file {path}: {message}")]
    File { path: String, message: String },
}

#[async_trait]
pub trait PopulationRegister: Send + Sync + 'static {
    /// `None`: the number is not in the register.
    async fn lookup(&self, number: &Personnummer) -> Result<Option<RegisterEntry>, RegisterError>;
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    personnummer: String,
    municipality: String,
    #[serde(default)]
    protection: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterFile {
    #[serde(default)]
    person: Vec<FileEntry>,
}

/// A register kept in a TOML file of `[[person]]` tables (`personnummer`, `municipality`,
/// `protection`), for demo and tests.
#[derive(Debug, Default)]
pub struct FileRegister {
    entries: HashMap<String, RegisterEntry>,
}

impl FileRegister {
    pub fn parse(source: &str, text: &str) -> Result<FileRegister, RegisterError> {
        let fail = |message: String| RegisterError::File {
            path: source.to_owned(),
            message,
        };
        let file: RegisterFile =
            toml::from_str(text).map_err(|e| fail(e.message().replace('\n', " ")))?;
        let today = crate::clock::local_date(chrono::Utc::now());
        let mut entries = HashMap::new();
        for p in file.person {
            let number = Personnummer::parse(&p.personnummer, today)
                .map_err(|e| fail(format!("{}: {e}", p.personnummer)))?;
            let protection = match p.protection.as_deref() {
                None => Protection::None,
                Some(text) => Protection::parse(text)
                    .ok_or_else(|| fail(format!("unknown protection `{text}`")))?,
            };
            entries.insert(
                number.as_str().to_owned(),
                RegisterEntry {
                    municipality: p.municipality,
                    protection,
                },
            );
        }
        Ok(FileRegister { entries })
    }

    pub fn load(path: &Path) -> Result<FileRegister, RegisterError> {
        let text = std::fs::read_to_string(path).map_err(|e| RegisterError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        FileRegister::parse(&path.display().to_string(), &text)
    }
}

#[async_trait]
impl PopulationRegister for FileRegister {
    async fn lookup(&self, number: &Personnummer) -> Result<Option<RegisterEntry>, RegisterError> {
        Ok(self.entries.get(number.as_str()).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_register_answers_by_number_in_any_form() {
        let register = FileRegister::parse(
            "test",
            r#"
            [[person]]
            personnummer = "19811218-9876"
            municipality = "1275"

            [[person]]
            personnummer = "197001011233"
            municipality = "1283"
            protection = "skyddad_folkbokforing"
            "#,
        )
        .expect("parses");
        let today = crate::clock::local_date(chrono::Utc::now());
        let anna = Personnummer::parse("198112189876", today).expect("valid");
        assert_eq!(
            register.lookup(&anna).await.expect("lookup"),
            Some(RegisterEntry {
                municipality: "1275".into(),
                protection: Protection::None
            })
        );
        let other = Personnummer::parse("196606125679", today).expect("valid");
        assert_eq!(register.lookup(&other).await.expect("lookup"), None);
        assert!(
            FileRegister::parse(
                "t",
                "[[person]]\npersonnummer = \"1\"\nmunicipality = \"1275\""
            )
            .is_err()
        );
        assert!(FileRegister::parse("t", "[[person]]\npersonnummer = \"198112189876\"\nmunicipality = \"1275\"\nprotection = \"secret\"").is_err());
    }
}
