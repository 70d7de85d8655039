//! Administrators' actions on the router: routing settings and routing traces.

use serde_json::json;

use super::{Context, Error, Result};
use crate::policy::{self, Action, Resource};
use crate::routing::settings::CategoryRouting;
use crate::store::TraceRecord;

impl Context {
    /// Federation-wide configuration (routing, policies): the policies decide who may
    /// (`administer` on the federation); a refusal is `forbidden`.
    pub fn may_administer_federation(&self, admin_of: Option<&str>) -> Result<Vec<String>> {
        let decision = self
            .policy
            .admin_may(Action::Administer, admin_of, Resource::Federation);
        if decision.allowed {
            Ok(decision.policies)
        } else {
            Err(Error::Forbidden)
        }
    }

    /// Stores new settings for the categories given (others keep theirs), after checking every
    /// entry; one audit event records the change on the federation's chain.
    pub async fn set_routing_settings(
        &self,
        actor: &str,
        entries: &[CategoryRouting],
    ) -> Result<()> {
        let mut seen = Vec::new();
        for entry in entries {
            if self.federation.category(&entry.category).is_none() {
                return Err(Error::Unprocessable("unknown_category"));
            }
            if seen.contains(&entry.category.as_str()) {
                return Err(Error::InvalidField("category"));
            }
            seen.push(entry.category.as_str());
            entry.check().map_err(Error::InvalidField)?;
        }
        let now = self.clock.now();
        let records: Vec<_> = entries.iter().map(|e| e.to_record(now, actor)).collect();
        self.store.put_routing_settings(&records).await?;
        let mut event = self.audit(actor.to_owned(), None, "routing_settings", Vec::new());
        event.municipality = self.federation.id.clone();
        event.detail = json!({ "categories": entries });
        self.store.append_audit(&event).await?;
        Ok(())
    }

    /// The routing decisions about a case, for an administrator of its home municipality (or of
    /// the federation, `None`); anyone else gets 404.
    pub async fn routing_traces(
        &self,
        admin_of: Option<&str>,
        id: &str,
    ) -> Result<Vec<TraceRecord>> {
        let case = self.store.case(id).await?.ok_or(Error::NotFound)?;
        let facts = policy::case_facts(&self.federation, &case, self.clock.today());
        let decision =
            self.policy
                .admin_may(Action::ReadAudit, admin_of, Resource::Case(Box::new(facts)));
        if !decision.allowed {
            return Err(Error::NotFound);
        }
        let event = self.audit(
            format!("admin:{}", admin_of.unwrap_or("federation")),
            admin_of.map(str::to_owned),
            "read_routing_trace",
            decision.policies,
        );
        self.record_read(event, &case).await?;
        Ok(self.store.traces(id).await?)
    }
}
