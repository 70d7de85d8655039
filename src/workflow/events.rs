//! What one subscriber of `GET /api/v1/events` hears, decided at every delivery.
//!
//! The workflows broadcast [`Notice`]s; each subscription decides on its own what, if anything,
//! its subscriber may hear of one. First [`audience`] rules out, from the notice alone, what is
//! addressed to someone else (no database work for those). Then, at delivery time, the login is
//! checked (its token live, or its browser session still the same login and within its time),
//! the caseworker read fresh, and the policies asked about the case as it stands now (R8, R11,
//! R15): a case released, transferred or closed in the meantime does not leak, and once a
//! logout or revocation commits nothing more is delivered — the stream ends, at the latest at
//! the next notice (at once on the login's own `LoginEnded`, and within a keep-alive period
//! when the login simply ran out).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

use super::gate::Subject;
use super::notices::{CaseNotice, Notice};
use super::{Context, Error, Login, Result};
use crate::domain::Principal;
use crate::domain::case::Published;
use crate::domain::ids::{CaseworkerId, MunicipalityCode};
use crate::domain::people::Caseworker;
use crate::policy::Action;

/// How often a quiet stream checks that its login still holds.
const LOGIN_CHECK: Duration = Duration::from_secs(15);

/// Who is listening, as far as the notices' addressing needs to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subscriber {
    Caseworker {
        id: CaseworkerId,
        municipality: MunicipalityCode,
    },
    /// A municipality's administrator, or the federation's.
    Admin { admin: crate::domain::Administrator },
}

/// One server-sent event: its API.md name and its JSON data (never identifying).
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub event: &'static str,
    pub data: Value,
}

/// What a subscription has next.
#[derive(Clone, Debug, PartialEq)]
pub enum Next {
    Deliver(Delivery),
    /// The login ended (or the subscriber no longer exists): one `event: end` without case
    /// data, then the stream closes.
    End,
    /// The server is shutting down, or the stream already ended.
    Closed,
}

/// Who may hear of a notice, from the notice alone, before anything is re-read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Audience {
    /// A queue of the caseworker's municipality changed.
    Queue,
    /// An offer or an owner's event addressed to this caseworker.
    Addressed(Published),
    /// R10: a concern about a child in the caseworker's municipality.
    ChildConcern,
    /// R10: a concern about a child in the administrator's municipality.
    AdminChildConcern,
}

/// Anything not named here (a new notice kind included) reaches nobody until someone decides
/// who may hear it.
fn audience(notice: &CaseNotice, subscriber: &Subscriber) -> Option<Audience> {
    match subscriber {
        Subscriber::Caseworker { id, municipality } => match notice.event {
            Published::QueueChanged if notice.municipalities.contains(municipality) => {
                Some(Audience::Queue)
            }
            Published::OfferCreated
            | Published::OfferExpired
            | Published::CaseMessage
            | Published::CaseUpdated
                if notice.caseworker.as_ref() == Some(id) =>
            {
                Some(Audience::Addressed(notice.event))
            }
            Published::ChildConcern if notice.home.as_ref() == Some(municipality) => {
                Some(Audience::ChildConcern)
            }
            _ => None,
        },
        // Administrators handle no cases; of a case they hear only their own municipality's
        // child concerns (R10), never another member's — a federation administrator none.
        Subscriber::Admin { admin } => (matches!(
            notice.event,
            Published::ChildConcern | Published::ChildConcernUnstaffed
        ) && admin.municipality.is_some()
            && notice.home.as_ref() == admin.municipality.as_ref())
        .then_some(Audience::AdminChildConcern),
    }
}

/// One subscriber's view of the broadcast.
pub struct Subscription {
    ctx: Context,
    subscriber: Subscriber,
    login: Login,
    notices: broadcast::Receiver<Notice>,
    shutdown: watch::Receiver<bool>,
    check: tokio::time::Interval,
    ended: bool,
}

impl Context {
    /// A subscription for a caseworker or an administrator (citizens have none: 403). The
    /// caseworker is read fresh: a removed caseworker's login no longer holds (401 as
    /// `NotFound` → the caller maps it). Subscribed before the answer goes out, so nothing
    /// sent after the client sees the 200 is missed.
    pub async fn subscribe(
        &self,
        principal: &Principal,
        login: Login,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Subscription> {
        let subscriber = match principal {
            Principal::Citizen(_) => return Err(Error::Forbidden),
            Principal::Caseworker { caseworker_id, .. } => {
                let me = self.caseworker(caseworker_id).await?;
                Subscriber::Caseworker {
                    id: me.id,
                    municipality: me.municipality,
                }
            }
            Principal::Admin(admin) => Subscriber::Admin {
                admin: admin.clone(),
            },
        };
        let mut check = tokio::time::interval(LOGIN_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(Subscription {
            notices: self.notices.subscribe(),
            ctx: self.clone(),
            subscriber,
            login,
            shutdown,
            check,
            ended: false,
        })
    }
}

impl Subscription {
    pub fn subscriber(&self) -> &Subscriber {
        &self.subscriber
    }

    fn end(&mut self) -> Next {
        self.ended = true;
        Next::End
    }

    /// The next event for this subscriber, or the end of the stream.
    pub async fn next(&mut self) -> Next {
        // The first tick of an interval is immediate; the login was just checked.
        loop {
            if self.ended || *self.shutdown.borrow() {
                return Next::Closed;
            }
            let received = tokio::select! {
                received = self.notices.recv() => received,
                _ = self.shutdown.changed() => return Next::Closed,
                _ = self.check.tick() => {
                    if !self.live().await {
                        return self.end();
                    }
                    continue;
                }
            };
            let notice = match received {
                Ok(Notice::Case(notice)) => notice,
                Ok(Notice::LoginEnded { token, login }) => {
                    if self.login.ended_by(token.as_deref(), login.as_deref()) {
                        return self.end();
                    }
                    continue;
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // Notices were dropped unseen: the client cannot know which, so it is told
                    // to refresh everything rather than trust a partial picture.
                    tracing::warn!(missed, "event subscriber lagged behind");
                    if !self.live().await {
                        return self.end();
                    }
                    return Next::Deliver(Delivery {
                        event: Published::QueueChanged.as_str(),
                        data: json!({ "lagged": true }),
                    });
                }
                Err(broadcast::error::RecvError::Closed) => return Next::Closed,
            };
            let Some(audience) = audience(&notice, &self.subscriber) else {
                continue;
            };
            // Nothing more once the login has ended, whatever the notice.
            if !self.live().await {
                return self.end();
            }
            match self.confirm(&notice, audience).await {
                Ok(Some(delivery)) => return Next::Deliver(delivery),
                Ok(None) => {}
                Err(Error::NotFound) => return self.end(),
                // Fail closed: an event that could not be re-checked is not sent.
                Err(error) => tracing::warn!(
                    %error,
                    event = notice.event.as_str(),
                    "event withheld: re-check failed"
                ),
            }
        }
    }

    /// Whether the login still holds; an error reading it counts as no.
    async fn live(&self) -> bool {
        match self.ctx.login_live(&self.login).await {
            Ok(live) => live,
            Err(error) => {
                tracing::warn!(%error, "login re-check failed: the stream ends");
                false
            }
        }
    }

    /// The caseworker as stored now; `NotFound` (the stream ends) if they are gone or have
    /// moved to another municipality since subscribing.
    async fn caseworker_now(&self) -> Result<Caseworker> {
        let Subscriber::Caseworker { id, municipality } = &self.subscriber else {
            return Err(Error::NotFound);
        };
        let fresh = self.ctx.caseworker(id).await?;
        if fresh.municipality != *municipality {
            return Err(Error::NotFound);
        }
        Ok(fresh)
    }

    /// What the subscriber, as stored now, may hear of the case as it stands now.
    async fn confirm(&self, notice: &CaseNotice, audience: Audience) -> Result<Option<Delivery>> {
        let event = notice.event.as_str();
        let case = match &notice.case_id {
            Some(id) => self.ctx.store.case(id).await?,
            None => None,
        };
        if let Audience::AdminChildConcern = audience {
            let Subscriber::Admin { admin } = &self.subscriber else {
                return Ok(None);
            };
            let Some(case) = case else { return Ok(None) };
            let may = self
                .ctx
                .judge(&Subject::Admin(admin.clone()), Action::ReadAudit, &case)
                .allowed;
            let mut data = child_concern_data(notice);
            if notice.event == Published::ChildConcernUnstaffed {
                // Nobody at home may take it: the administrators must see to it (R10, R11).
                data["unstaffed"] = json!(true);
            }
            return Ok(may.then_some(Delivery { event, data }));
        }
        let me = self.caseworker_now().await?;
        if let (Audience::Queue, None) = (audience, &notice.case_id) {
            // A queue that may have work again: nothing about any case.
            return Ok(Some(Delivery {
                event,
                data: json!({ "municipality": me.municipality }),
            }));
        }
        let Some(case) = case else { return Ok(None) };
        let view = self
            .ctx
            .judge(&Subject::Caseworker(me.clone()), Action::View, &case)
            .allowed;
        let data = match audience {
            // No case id: by the time the client looks, the case may be gone from their view.
            // R11: only cleared home staff learn that a protected case moved at all.
            Audience::Queue => (view || !case.is_protected_identity())
                .then(|| json!({ "municipality": me.municipality })),
            Audience::Addressed(Published::OfferCreated) => {
                view.then(|| json!({ "id": case.id, "category": case.category }))
            }
            // The offer is gone; its id (which they were told) lets the client drop it.
            Audience::Addressed(Published::OfferExpired) => Some(if view {
                json!({ "id": case.id, "category": case.category })
            } else {
                json!({ "id": case.id })
            }),
            Audience::Addressed(Published::CaseUpdated) => Some(if view {
                json!({ "id": case.id, "state": case.state })
            } else {
                // They had it and lost it (released, transferred, revoked): no state.
                json!({ "id": case.id })
            }),
            Audience::Addressed(Published::CaseMessage) => {
                view.then(|| json!({ "id": case.id, "state": case.state }))
            }
            // R10: every home caseworker with the skill, available or not; R11 clearance
            // through `view`.
            Audience::ChildConcern => {
                (view && me.municipality == case.home && me.has_skill(case.category.as_str()))
                    .then(|| child_concern_data(notice))
            }
            Audience::Addressed(_) | Audience::AdminChildConcern => None,
        };
        Ok(data.map(|data| Delivery { event, data }))
    }
}

fn child_concern_data(notice: &CaseNotice) -> Value {
    json!({ "id": notice.case_id, "category": notice.category, "home": notice.home })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(m: &str) -> MunicipalityCode {
        MunicipalityCode::parse(m).expect("code")
    }

    fn cw(id: &str) -> CaseworkerId {
        CaseworkerId::parse(id).expect("id")
    }

    fn notice(event: Published, caseworker: Option<&str>, municipalities: &[&str]) -> CaseNotice {
        CaseNotice {
            event,
            case_id: Some(crate::domain::ids::CaseId::parse("c1").expect("id")),
            category: Some(crate::domain::ids::CategoryId::parse("oro_barn").expect("category")),
            home: Some(code("1275")),
            caseworker: caseworker.map(cw),
            municipalities: municipalities.iter().map(|m| code(m)).collect(),
        }
    }

    fn caseworker(id: &str, municipality: &str) -> Subscriber {
        Subscriber::Caseworker {
            id: cw(id),
            municipality: code(municipality),
        }
    }

    fn admin(municipality: Option<&str>) -> Subscriber {
        Subscriber::Admin {
            admin: crate::domain::Administrator {
                id: "a".to_owned(),
                name: String::new(),
                municipality: municipality.map(code),
            },
        }
    }

    #[test]
    fn queue_changes_reach_only_the_municipalities_named() {
        let changed = notice(Published::QueueChanged, None, &["1275", "1283"]);
        assert_eq!(
            audience(&changed, &caseworker("1283-02", "1283")),
            Some(Audience::Queue)
        );
        assert_eq!(audience(&changed, &caseworker("1282-01", "1282")), None);
        assert_eq!(audience(&changed, &admin(None)), None);
    }

    #[test]
    fn addressed_events_reach_only_their_caseworker() {
        for event in [
            Published::OfferCreated,
            Published::OfferExpired,
            Published::CaseMessage,
            Published::CaseUpdated,
        ] {
            let n = notice(event, Some("1275-02"), &[]);
            assert_eq!(
                audience(&n, &caseworker("1275-02", "1275")),
                Some(Audience::Addressed(event))
            );
            assert_eq!(audience(&n, &caseworker("1275-01", "1275")), None);
            assert_eq!(audience(&n, &admin(Some("1275"))), None);
            assert_eq!(
                audience(&notice(event, None, &[]), &caseworker("1275-02", "1275")),
                None
            );
        }
    }

    #[test]
    fn child_concerns_reach_home_only_never_the_federation() {
        let alert = notice(Published::ChildConcern, None, &["1275"]);
        assert_eq!(
            audience(&alert, &caseworker("1275-02", "1275")),
            Some(Audience::ChildConcern)
        );
        assert_eq!(audience(&alert, &caseworker("1283-01", "1283")), None);
        assert_eq!(
            audience(&alert, &admin(Some("1275"))),
            Some(Audience::AdminChildConcern)
        );
        assert_eq!(audience(&alert, &admin(Some("1283"))), None);
        assert_eq!(audience(&alert, &admin(None)), None, "R10: home only");
    }

    #[test]
    fn logins_end_by_their_token_or_their_browser_login() {
        let token = Login::Token {
            id: "t1".into(),
            hash: "h".into(),
            login_id: Some("l1".into()),
        };
        assert!(token.ended_by(Some("t1"), None));
        assert!(token.ended_by(None, Some("l1")));
        assert!(!token.ended_by(Some("t2"), Some("l2")));
        let browser = Login::Browser {
            session_key: "k".into(),
            login_id: "l1".into(),
        };
        assert!(browser.ended_by(None, Some("l1")));
        assert!(!browser.ended_by(Some("t1"), None));
    }
}
