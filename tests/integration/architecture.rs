//! The layers of DESIGN.md "Architecture", held against the code: who may import whom, that the
//! HTTP layer never touches the store, and that inside the workflows only the gate writes what
//! needs a legal ground (case changes and audit events), so a forgotten policy check cannot
//! reach the store unnoticed.

use std::path::{Path, PathBuf};

fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source readable");
                out.push((path, text));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
    let mut out = Vec::new();
    if root.is_dir() {
        walk(&root, &mut out);
    } else {
        let file = root.with_extension("rs");
        let text = std::fs::read_to_string(&file).expect("source readable");
        out.push((file, text));
    }
    assert!(!out.is_empty(), "no sources under src/{dir}");
    out
}

/// The code without comments, and without whitespace so that a call split over lines is found.
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<String>()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

fn offenders(dir: &str, needles: &[&str], except: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in sources(dir) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if except.contains(&name) {
            continue;
        }
        let code = code(&text);
        for needle in needles {
            if code.contains(needle) {
                found.push(format!("{} uses `{needle}`", path.display()));
            }
        }
    }
    found
}

#[test]
fn http_policy_and_routing_never_name_the_store() {
    for layer in ["http", "policy", "routing"] {
        let found = offenders(layer, &["crate::store"], &[]);
        assert!(found.is_empty(), "{found:#?}");
    }
}

#[test]
fn http_never_reaches_the_store_through_the_context() {
    let found = offenders("http", &[".store.", ".store)", "ctx.store"], &[]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_store_knows_neither_routing_policy_workflow_http_nor_auth() {
    let found = offenders(
        "store",
        &[
            "crate::routing",
            "crate::policy",
            "crate::workflow",
            "crate::http",
            "crate::auth",
        ],
        &[],
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_domain_imports_nothing_outer() {
    let found = offenders(
        "domain",
        &[
            "crate::store",
            "crate::routing",
            "crate::policy",
            "crate::workflow",
            "crate::http",
            "crate::auth",
            "crate::audit",
            "crate::config",
            "crate::clock",
            "sqlx",
            "tokio",
        ],
        &[],
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn policy_and_routing_never_reach_the_workflows_or_http() {
    for layer in ["policy", "routing"] {
        let found = offenders(layer, &["crate::workflow", "crate::http"], &[]);
        assert!(found.is_empty(), "{found:#?}");
    }
    let found = offenders("workflow", &["crate::http"], &[]);
    assert!(found.is_empty(), "{found:#?}");
}

/// Case changes and audit events carry the legal ground of a decision: inside the workflows
/// only the gate builds them and hands them to the store.
#[test]
fn only_the_gate_writes_what_needs_a_legal_ground() {
    let found = offenders(
        "workflow",
        &[
            "store.transition(",
            "store.amend(",
            "store.append_audit(",
            "store.update_routing(",
            "store.create_case(",
            "store.thin_case(",
            "store.put_routing_settings(",
            "store.activate_policy_version(",
            "NewAuditEvent{",
            "CaseWrite::new(",
            "store.messages(",
            "store.consents(",
            "store.harm_assessments(",
            "store.traces(",
            "store.audit_query(",
            "store.audit_events(",
        ],
        &["gate.rs"],
    );
    assert!(found.is_empty(), "{found:#?}");
}

/// The proofs can only be built by the gate: their fields are private to it.
#[test]
fn the_proofs_have_no_public_constructor() {
    let (_, gate) = sources("workflow")
        .into_iter()
        .find(|(p, _)| p.ends_with("gate.rs"))
        .expect("workflow/gate.rs");
    let code = code(&gate);
    for proof in [
        "pubstructAllowed{",
        "pubstructAdminAllowed{",
        "pubstructSystemGround{",
    ] {
        let start = code
            .find(proof)
            .unwrap_or_else(|| panic!("{proof} in gate.rs"))
            + proof.len();
        let body = &code[start..start + code[start..].find('}').expect("end of struct")];
        assert!(!body.contains("pub"), "{proof}: a public field: {body}");
    }
}
