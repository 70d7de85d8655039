//! Embeds the message files: every `locales/<language>/*.toml` becomes part of the binary, so
//! adding a language is adding a directory (src/i18n.rs).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=locales");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("locales");
    let mut files: Vec<(String, String, String)> = Vec::new();
    let languages = std::fs::read_dir(&root).expect("locales/ exists");
    for language in languages.flatten() {
        let path = language.path();
        if !path.is_dir() {
            continue;
        }
        let code = language.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(&path)
            .expect("a language directory")
            .flatten()
        {
            let file_path = file.path();
            if file_path.extension().is_some_and(|e| e == "toml") {
                files.push((
                    code.clone(),
                    file.file_name().to_string_lossy().into_owned(),
                    file_path.display().to_string(),
                ));
            }
        }
    }
    files.sort();
    let mut out = String::from(
        "/// (language code, file name, text) of every message file, sorted.\n\
         pub static FILES: &[(&str, &str, &str)] = &[\n",
    );
    for (code, name, path) in &files {
        writeln!(out, "    ({code:?}, {name:?}, include_str!({path:?})),").expect("write");
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("locales.rs");
    std::fs::write(dest, out).expect("write locales.rs");
}
