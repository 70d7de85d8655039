//! User-facing texts, Swedish first and English second, from the message files in
//! `locales/<language>/*.toml` (embedded by `build.rs`). Adding a language is adding a
//! directory with a `locale.toml` (its name, writing direction and whether it is offered) and
//! the same keys as Swedish; no code changes. A key missing in a language falls back to
//! Swedish.

use std::collections::HashMap;
use std::sync::LazyLock;

mod files {
    include!(concat!(env!("OUT_DIR"), "/locales.rs"));
}

/// The language every text exists in, and the default.
const PRIMARY: &str = "sv";

/// Writing direction, for the `dir` attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Ltr,
    Rtl,
}

impl Dir {
    pub fn as_str(self) -> &'static str {
        match self {
            Dir::Ltr => "ltr",
            Dir::Rtl => "rtl",
        }
    }
}

type Catalog = HashMap<String, String>;

struct Locale {
    code: &'static str,
    name: String,
    dir: Dir,
    /// Offered in the language switch and by negotiation; a language still being translated
    /// is served only to whoever asks for it by its code.
    offered: bool,
    catalog: Catalog,
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Catalog) {
    for (key, value) in table {
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&full, inner, out),
            toml::Value::String(text) => {
                out.insert(full, text.clone());
            }
            _ => {}
        }
    }
}

/// Every language, the primary one first, then by code.
static LOCALES: LazyLock<Vec<Locale>> = LazyLock::new(|| {
    let mut locales: Vec<Locale> = Vec::new();
    for (code, _file, text) in files::FILES {
        // The files are compiled in and checked by the tests; a broken one yields fallbacks.
        let Ok(table) = toml::from_str::<toml::Table>(text) else {
            continue;
        };
        let index = match locales.iter().position(|l| l.code == *code) {
            Some(i) => i,
            None => {
                locales.push(Locale {
                    code,
                    name: (*code).to_owned(),
                    dir: Dir::Ltr,
                    offered: false,
                    catalog: Catalog::new(),
                });
                locales.len() - 1
            }
        };
        let locale = &mut locales[index];
        if let Some(meta) = table.get("locale").and_then(toml::Value::as_table) {
            if let Some(name) = meta.get("name").and_then(toml::Value::as_str) {
                locale.name = name.to_owned();
            }
            if meta.get("dir").and_then(toml::Value::as_str) == Some("rtl") {
                locale.dir = Dir::Rtl;
            }
            locale.offered = meta
                .get("offered")
                .and_then(toml::Value::as_bool)
                .unwrap_or(false);
        }
        let mut catalog = Catalog::new();
        flatten("", &table, &mut catalog);
        catalog.retain(|k, _| !k.starts_with("locale."));
        locale.catalog.extend(catalog);
    }
    locales.sort_by_key(|l| (l.code != PRIMARY, l.code));
    if locales.first().map(|l| l.code) != Some(PRIMARY) {
        locales.insert(
            0,
            Locale {
                code: PRIMARY,
                name: "Svenska".to_owned(),
                dir: Dir::Ltr,
                offered: true,
                catalog: Catalog::new(),
            },
        );
    }
    locales
});

/// A language Brygga has texts in: a small handle into the embedded message files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lang(usize);

impl Lang {
    fn locale(self) -> &'static Locale {
        &LOCALES[self.0.min(LOCALES.len() - 1)]
    }

    /// The language with this code (`sv`, `en`, …), offered or not.
    pub fn parse(code: &str) -> Option<Lang> {
        let code = code.trim().to_ascii_lowercase();
        LOCALES.iter().position(|l| l.code == code).map(Lang)
    }

    /// The languages offered in the switch, Swedish first.
    pub fn offered() -> Vec<Lang> {
        (0..LOCALES.len())
            .map(Lang)
            .filter(|l| l.locale().offered)
            .collect()
    }

    pub fn code(self) -> &'static str {
        self.locale().code
    }

    /// The language's name in itself (`Svenska`, `English`).
    pub fn name(self) -> &'static str {
        &self.locale().name
    }

    pub fn dir(self) -> Dir {
        self.locale().dir
    }

    /// The first offered language in an `Accept-Language` header; Swedish otherwise.
    pub fn negotiate(accept_language: Option<&str>) -> Lang {
        let Some(header) = accept_language else {
            return Lang::default();
        };
        let mut ranked: Vec<(f32, usize, Lang)> = header
            .split(',')
            .enumerate()
            .filter_map(|(position, item)| {
                let mut parts = item.trim().split(';');
                let tag = parts.next()?.trim().to_ascii_lowercase();
                let quality = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                let primary = tag.split('-').next().unwrap_or_default();
                let lang = Lang::parse(primary).filter(|l| l.locale().offered)?;
                (quality > 0.0).then_some((quality, position, lang))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.first().map_or(Lang::default(), |r| r.2)
    }
}

/// The text for `key` in `lang`, falling back to Swedish, then to nothing.
pub fn text(lang: Lang, key: &str) -> &'static str {
    lang.locale()
        .catalog
        .get(key)
        .or_else(|| LOCALES[0].catalog.get(key))
        .map_or("", String::as_str)
}

/// The text for `key` with each `{name}` replaced by its value.
pub fn fill(lang: Lang, key: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(text(lang, key).to_owned(), |acc, (name, value)| {
            acc.replace(&format!("{{{name}}}"), value)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(lang: Lang) -> Vec<&'static String> {
        let mut keys: Vec<_> = lang.locale().catalog.keys().collect();
        keys.sort();
        keys
    }

    #[test]
    fn every_offered_language_has_the_same_keys_as_swedish() {
        let sv = Lang::default();
        assert_eq!(sv.code(), "sv");
        assert!(keys(sv).len() > 10);
        let offered = Lang::offered();
        assert!(offered.len() >= 2, "Swedish and English at least");
        for lang in offered {
            assert_eq!(keys(lang), keys(sv), "{}", lang.code());
        }
    }

    #[test]
    fn every_message_file_parses_and_names_its_language() {
        for (code, file, text) in files::FILES {
            let table = toml::from_str::<toml::Table>(text)
                .unwrap_or_else(|e| panic!("locales/{code}/{file}: {e}"));
            if *file == "locale.toml" {
                let meta = table.get("locale").and_then(toml::Value::as_table);
                assert!(
                    meta.and_then(|m| m.get("name")).is_some(),
                    "locales/{code}/locale.toml names the language"
                );
            }
        }
        for lang in (0..LOCALES.len()).map(Lang) {
            assert!(
                files::FILES
                    .iter()
                    .any(|(code, file, _)| *code == lang.code() && *file == "locale.toml"),
                "locales/{}/ has a locale.toml",
                lang.code()
            );
        }
    }

    #[test]
    fn negotiation_prefers_the_best_offered_language() {
        let en = Lang::parse("en").expect("English");
        let sv = Lang::default();
        assert_eq!(Lang::negotiate(None), sv);
        assert_eq!(Lang::negotiate(Some("en-GB,en;q=0.9")), en);
        assert_eq!(Lang::negotiate(Some("de, en;q=0.5, sv;q=0.8")), sv);
        assert_eq!(Lang::negotiate(Some("fi")), sv);
        assert_eq!(Lang::negotiate(Some("sv;q=0, en")), en);
        assert!(!text(en, "error.not_found").is_empty());
        assert_ne!(text(en, "error.not_found"), text(sv, "error.not_found"));
        assert_eq!(Lang::parse("EN"), Some(en));
        assert_eq!(Lang::parse("xx"), None);
    }

    #[test]
    fn placeholders_are_filled() {
        let sv = Lang::default();
        assert!(
            fill(sv, "error.invalid_field", &[("field", "text")]).contains("text"),
            "{}",
            fill(sv, "error.invalid_field", &[("field", "text")])
        );
    }
}
