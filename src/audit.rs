//! The audit trail's seal (R15): one chain per municipality, each event carrying an
//! HMAC-SHA256, keyed from the configuration, over its content and the previous event's MAC.
//! Changing, deleting or inserting an event breaks the chain from that position on; cutting
//! off the newest events is found against the chain head and the checkpoints. No I/O here:
//! the store seals as it appends, and [`verify_chain`] checks what the store reads back.

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;

tokio::task_local! {
    /// The id of the HTTP request being served, for the audit events it causes.
    pub static REQUEST_ID: String;
}

/// The request id of the current task, if it serves an HTTP request.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// The secret the chains are keyed with (`audit_key` in the configuration). Kept outside the
/// database, so that whoever can write the database cannot forge a chain.
#[derive(Clone)]
pub struct AuditKey(Vec<u8>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(…)")
    }
}

impl AuditKey {
    /// At least 32 bytes; a shorter key is refused.
    pub fn new(secret: &str) -> Result<AuditKey, String> {
        if secret.len() < 32 {
            return Err("audit_key must be at least 32 characters of random text".into());
        }
        Ok(AuditKey(secret.as_bytes().to_vec()))
    }
}

/// The role an actor acts in, from how the trail names actors (for events written before the
/// chain recorded roles; new events take it from the typed [`crate::domain::Actor`]).
pub fn role_of(actor: &str) -> &'static str {
    if actor.starts_with("caseworker:") {
        "caseworker"
    } else if actor.starts_with("admin:") {
        "admin"
    } else if actor.starts_with("system") {
        "system"
    } else if actor == "anonymous" {
        "anonymous"
    } else {
        "citizen"
    }
}

/// Timestamps in the chain have microsecond precision (what PostgreSQL keeps).
pub fn chain_time(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

/// JSON with object keys sorted at every level: the same bytes whatever order a database
/// returns them in.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        Value::String(k.clone()),
                        canonical(&map[k.as_str()])
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// What is sealed of one event.
#[derive(Clone, Debug, Serialize)]
pub struct Sealed<'a> {
    pub municipality: &'a str,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub role: &'a str,
    pub actor_municipality: Option<&'a str>,
    pub action: &'a str,
    pub case_id: Option<&'a str>,
    pub policies: &'a [String],
    pub detail: &'a Value,
    pub request_id: Option<&'a str>,
    /// The acting person's name as their login gave it (administrators, caseworkers); sealed
    /// when present, so events from before it existed verify as they were sealed.
    pub actor_name: Option<&'a str>,
}

/// The event's MAC, chained to the previous one's (`""` for the first).
pub fn seal(key: &AuditKey, event: &Sealed<'_>, prev_mac: &str) -> String {
    let mut fields = serde_json::json!([
        event.municipality,
        event.seq,
        chain_time(event.at).to_rfc3339_opts(SecondsFormat::Micros, true),
        event.actor,
        event.role,
        event.actor_municipality,
        event.action,
        event.case_id,
        event.policies,
        event.detail,
        event.request_id,
        prev_mac,
    ]);
    if let (Some(name), Some(list)) = (event.actor_name, fields.as_array_mut()) {
        list.push(Value::String(name.to_owned()));
    }
    let content = canonical(&fields);
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.0)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(content.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One audit event as stored, read back byte for byte (so that verification checks what the
/// database really holds).
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub actor_municipality: Option<String>,
    pub municipality: String,
    pub action: String,
    pub case_id: Option<String>,
    pub policies: Vec<String>,
    pub detail: Value,
    /// Position in the municipality's chain (`None` only for an unsealed row: broken).
    pub seq: Option<i64>,
    pub role: Option<String>,
    pub request_id: Option<String>,
    pub prev_mac: Option<String>,
    pub mac: Option<String>,
    /// The acting person's name, where the event has one.
    pub actor_name: Option<String>,
}

impl AuditEntry {
    /// What the seal covers, as stored.
    pub fn sealed(&self) -> Sealed<'_> {
        Sealed {
            municipality: &self.municipality,
            seq: self.seq.unwrap_or(0),
            at: self.at,
            actor: &self.actor,
            role: self.role.as_deref().unwrap_or(""),
            actor_municipality: self.actor_municipality.as_deref(),
            action: &self.action,
            case_id: self.case_id.as_deref(),
            policies: &self.policies,
            detail: &self.detail,
            request_id: self.request_id.as_deref(),
            actor_name: self.actor_name.as_deref(),
        }
    }

    /// The event as verification reads it.
    pub fn stored(&self) -> StoredEvent<'_> {
        StoredEvent {
            sealed: self.sealed(),
            prev_mac: self.prev_mac.as_deref(),
            mac: self.mac.as_deref(),
        }
    }
}

/// One stored event as verification reads it.
pub struct StoredEvent<'a> {
    pub sealed: Sealed<'a>,
    pub prev_mac: Option<&'a str>,
    pub mac: Option<&'a str>,
}

/// Where a chain is broken: the first position that does not verify.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Broken {
    pub municipality: String,
    pub seq: i64,
    pub why: &'static str,
}

/// Checks one municipality's chain, ordered by `seq`, against its head and latest checkpoint.
pub fn verify_chain(
    key: &AuditKey,
    municipality: &str,
    events: &[StoredEvent<'_>],
    head: Option<(i64, &str)>,
    checkpoint: Option<(i64, &str)>,
) -> Result<(), Broken> {
    let broken = |seq: i64, why: &'static str| Broken {
        municipality: municipality.to_owned(),
        seq,
        why,
    };
    let mut prev = String::new();
    for (i, event) in events.iter().enumerate() {
        let expected_seq = i64::try_from(i).unwrap_or(i64::MAX) + 1;
        let seq = event.sealed.seq;
        if seq != expected_seq {
            // A gap is a deletion, a repeat or a row without a place an insertion.
            return Err(broken(expected_seq, "missing_or_inserted"));
        }
        let Some(mac) = event.mac else {
            return Err(broken(seq, "unsealed"));
        };
        if event.prev_mac != Some(prev.as_str()) {
            return Err(broken(seq, "chain_link"));
        }
        if seal(key, &event.sealed, &prev) != mac {
            return Err(broken(seq, "content_changed"));
        }
        prev = mac.to_owned();
    }
    let last = i64::try_from(events.len()).unwrap_or(i64::MAX);
    if let Some((seq, mac)) = head
        && (seq != last || (seq > 0 && mac != prev))
    {
        return Err(broken(last + 1, "head_mismatch"));
    }
    if let Some((seq, mac)) = checkpoint {
        let at = usize::try_from(seq).ok().and_then(|s| s.checked_sub(1));
        let matches = at
            .and_then(|i| events.get(i))
            .is_some_and(|e| e.mac == Some(mac));
        if !matches {
            return Err(broken(seq.min(last + 1), "checkpoint_mismatch"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuditKey {
        AuditKey::new("0123456789abcdef0123456789abcdef").expect("key")
    }

    struct Owned {
        seq: i64,
        action: String,
        detail: Value,
        prev: String,
        mac: String,
    }

    fn sealed(o: &Owned) -> Sealed<'_> {
        Sealed {
            municipality: "1275",
            seq: o.seq,
            at: DateTime::from_timestamp(1_800_000_000, 123_456_789).expect("time"),
            actor: "caseworker:1275-01",
            role: "caseworker",
            actor_municipality: Some("1275"),
            action: &o.action,
            case_id: Some("c1"),
            policies: &[],
            detail: &o.detail,
            request_id: None,
            actor_name: None,
        }
    }

    fn chain(n: i64) -> Vec<Owned> {
        let mut out: Vec<Owned> = Vec::new();
        for seq in 1..=n {
            let prev = out.last().map(|o| o.mac.clone()).unwrap_or_default();
            let mut o = Owned {
                seq,
                action: "view".into(),
                detail: serde_json::json!({"b": 1, "a": [1, {"z": true, "y": null}]}),
                prev,
                mac: String::new(),
            };
            o.mac = seal(&key(), &sealed(&o), &o.prev);
            out.push(o);
        }
        out
    }

    fn stored(events: &[Owned]) -> Vec<StoredEvent<'_>> {
        events
            .iter()
            .map(|o| StoredEvent {
                sealed: sealed(o),
                prev_mac: Some(&o.prev),
                mac: Some(&o.mac),
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_and_key_order_does_not_matter() {
        let events = chain(3);
        let head = (3, events[2].mac.as_str());
        assert_eq!(
            verify_chain(
                &key(),
                "1275",
                &stored(&events),
                Some(head),
                Some((2, &events[1].mac))
            ),
            Ok(())
        );
        assert_eq!(
            canonical(&serde_json::json!({"b": 1, "a": 2})),
            canonical(&serde_json::json!({"a": 2, "b": 1}))
        );
    }

    #[test]
    fn changes_deletions_insertions_and_truncation_are_found() {
        let mut events = chain(4);
        events[1].action = "close".into();
        let err = verify_chain(&key(), "1275", &stored(&events), None, None).unwrap_err();
        assert_eq!((err.seq, err.why), (2, "content_changed"));

        let mut events = chain(4);
        events.remove(2);
        let err = verify_chain(&key(), "1275", &stored(&events), None, None).unwrap_err();
        assert_eq!((err.seq, err.why), (3, "missing_or_inserted"));

        // The newest event cut off, head and checkpoint still knowing it.
        let events = chain(4);
        let head = (4, events[3].mac.clone());
        let cut = &events[..3];
        let err =
            verify_chain(&key(), "1275", &stored(cut), Some((head.0, &head.1)), None).unwrap_err();
        assert_eq!(err.why, "head_mismatch");
        let err = verify_chain(&key(), "1275", &stored(cut), None, Some((4, &head.1))).unwrap_err();
        assert_eq!(err.why, "checkpoint_mismatch");

        // Another key cannot forge a chain.
        let other = AuditKey::new("another-key-another-key-another-key").expect("key");
        let events = chain(2);
        assert!(verify_chain(&other, "1275", &stored(&events), None, None).is_err());
        assert!(AuditKey::new("short").is_err());
    }

    #[test]
    fn roles_follow_actor_names() {
        assert_eq!(role_of("caseworker:1275-01"), "caseworker");
        assert_eq!(role_of("admin:federation"), "admin");
        assert_eq!(role_of("system:router"), "system");
        assert_eq!(role_of("anonymous"), "anonymous");
        assert_eq!(role_of("citizen"), "citizen");
    }
}
