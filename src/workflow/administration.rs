//! Administrators' actions on the router: routing settings and routing traces.

use super::gate::Subject;
use super::{Context, Error, Result};
use crate::domain::Administrator;
use crate::domain::case::RoutingTrace;
use crate::domain::ids::CaseId;
use crate::policy::Action;
use crate::routing::settings::{CategoryRouting, RoutingSettings};

impl Context {
    /// The gate for reading the federation's shared configuration: every administrator, as
    /// the administrator of their own municipality (or of the federation).
    pub(super) async fn authorize_reading_configuration(
        &self,
        admin: &Administrator,
    ) -> Result<super::gate::AdminAllowed> {
        self.authorize_admin_reading(admin, admin.municipality.as_ref())
            .await
    }

    /// The routing settings of every category, for any administrator.
    pub async fn routing_settings_for(&self, admin: &Administrator) -> Result<RoutingSettings> {
        self.authorize_reading_configuration(admin).await?;
        self.routing_settings().await
    }

    /// Stores new settings for the categories given (others keep theirs), after checking every
    /// entry; the policies decide who may (`administer` on the federation), and one audit
    /// event records the change on the federation's chain, with it.
    pub async fn set_routing_settings(
        &self,
        admin: &Administrator,
        entries: &[CategoryRouting],
    ) -> Result<()> {
        let proof = self
            .authorize_admin(admin, Action::Administer, None)
            .await?;
        let mut seen = Vec::new();
        for entry in entries {
            if self.federation().category(&entry.category).is_none() {
                return Err(Error::Unprocessable("unknown_category"));
            }
            if seen.contains(&entry.category.as_str()) {
                return Err(Error::InvalidField("category"));
            }
            seen.push(entry.category.as_str());
            entry.check().map_err(Error::InvalidField)?;
        }
        self.store_routing_settings(&proof, entries).await
    }

    /// The routing decisions about a case, for an administrator the policies let read its
    /// trail (its home's, or the federation's); anyone else gets 404. The reading is audited.
    pub async fn routing_traces(
        &self,
        admin: &Administrator,
        id: &str,
    ) -> Result<Vec<RoutingTrace>> {
        let id = CaseId::parse(id).map_err(|_| Error::NotFound)?;
        let proof = self
            .authorize_id(Subject::Admin(admin.clone()), Action::ReadAudit, &id)
            .await?;
        self.record_read(&proof, "read_routing_trace", None).await?;
        self.traces(&proof).await
    }
}
