//! Notices: what the workflows tell subscribers (server-sent events). A change of a case sends
//! exactly what the state machine published for it (`Transition.published`), addressed here;
//! the end of a login sends a notice that ends that login's streams. Notices carry only
//! non-identifying metadata, and each delivery is decided again (`events`).

use super::Context;
use crate::domain::case::{Case, CaseState, Published};
use crate::domain::ids::{CaseId, CaseworkerId, CategoryId, MunicipalityCode};

/// Something that happened to a case (or to a municipality's queue).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseNotice {
    pub event: Published,
    /// `None` for a queue that changed without one case (a caseworker got room again).
    pub case_id: Option<CaseId>,
    pub category: Option<CategoryId>,
    pub home: Option<MunicipalityCode>,
    /// The one caseworker an offer or an owner's event is for.
    pub caseworker: Option<CaseworkerId>,
    /// The municipalities whose queues changed (or, for a child concern, the home).
    pub municipalities: Vec<MunicipalityCode>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    Case(CaseNotice),
    /// A login ended (logout, revocation, expiry found): every stream of it ends. Names the
    /// token, or the browser login (with every token issued to it).
    LoginEnded {
        token: Option<String>,
        login: Option<String>,
    },
}

impl Context {
    /// Tells subscribers; nobody listening is fine.
    pub(super) fn notify(&self, notice: Notice) {
        let _ = self.notices.send(notice);
    }

    /// The municipalities whose queue lists the case as it stands: those permitted at the ring
    /// it has reached (only its target, when transferred); none unless it is queued.
    fn queues_of(&self, case: &Case) -> Vec<MunicipalityCode> {
        if case.state != CaseState::Queued {
            return Vec::new();
        }
        self.permits_now(case)
            .permitted
            .into_iter()
            .filter(|p| p.ring <= case.ring)
            .map(|p| p.municipality)
            .filter(|m| case.target_municipality.as_ref().is_none_or(|t| t == m))
            .collect()
    }

    /// Sends what the state machine published about a change from `before` to `after`,
    /// addressed: queue changes to the queues it left and entered, offers and the owner's
    /// events to the caseworker they concern, a child concern to its home (R10).
    pub(super) fn publish(&self, before: &Case, after: &Case, published: &[Published]) {
        for event in published {
            let notice = |caseworker: Option<&CaseworkerId>, municipalities| CaseNotice {
                event: *event,
                case_id: Some(after.id.clone()),
                category: Some(after.category.clone()),
                home: Some(after.home.clone()),
                caseworker: caseworker.cloned(),
                municipalities,
            };
            match event {
                Published::QueueChanged => {
                    let mut queues = self.queues_of(before);
                    for m in self.queues_of(after) {
                        if !queues.contains(&m) {
                            queues.push(m);
                        }
                    }
                    if !queues.is_empty() {
                        self.notify(Notice::Case(notice(None, queues)));
                    }
                }
                Published::OfferCreated | Published::CaseMessage => {
                    if let Some(owner) = after.owner.as_ref() {
                        self.notify(Notice::Case(notice(Some(owner), Vec::new())));
                    }
                }
                Published::OfferExpired => {
                    if let Some(offeree) = before.owner.as_ref() {
                        self.notify(Notice::Case(notice(Some(offeree), Vec::new())));
                    }
                }
                Published::CaseUpdated => {
                    let mut owners: Vec<&CaseworkerId> = before.owner.iter().collect();
                    if let Some(new) = after.owner.as_ref()
                        && !owners.contains(&new)
                    {
                        owners.push(new);
                    }
                    for owner in owners {
                        self.notify(Notice::Case(notice(Some(owner), Vec::new())));
                    }
                }
                Published::ChildConcern | Published::ChildConcernUnstaffed => {
                    self.notify(Notice::Case(notice(None, vec![after.home.clone()])));
                }
            }
        }
    }

    /// A caseworker got room again: their municipality's queue may hold work for them.
    pub(super) fn queue_may_have_work(&self, municipality: &MunicipalityCode) {
        self.notify(Notice::Case(CaseNotice {
            event: Published::QueueChanged,
            case_id: None,
            category: None,
            home: None,
            caseworker: None,
            municipalities: vec![municipality.clone()],
        }));
    }
}
