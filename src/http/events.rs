//! Server-sent events (`GET /api/v1/events`): what caseworkers and administrators hear about
//! as it happens.
//!
//! The workflows broadcast a [`Notice`] to every subscriber; each subscriber's stream decides
//! on its own what, if anything, that subscriber may hear of it. The decision has two steps:
//! [`audience`] is pure and rules out almost everything from the notice alone (no database
//! work for notices addressed to someone else), then [`confirm`] re-reads the caseworker and
//! the case where access may have changed since the notice was sent (R8, R11, R15): a case
//! released, transferred or closed in the meantime must not leak.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::stream::{self, Stream};
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};

use super::AppState;
use super::error::ApiError;
use super::extract::MaybePrincipal;
use crate::auth::Principal;
use crate::policy;
use crate::store::{CaseRecord, CaseworkerRecord, StoreError};
use crate::workflow::{self, Notice};

const QUEUE_CHANGED: &str = "queue.changed";
const OFFER_CREATED: &str = "offer.created";
const OFFER_EXPIRED: &str = "offer.expired";
const CASE_MESSAGE: &str = "case.message";
const CASE_UPDATED: &str = "case.updated";
const CHILD_CONCERN: &str = "alert.child_concern";

/// Proxies and load balancers close connections that stay silent for long; a comment line
/// every 15 seconds keeps an idle stream open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/events", get(events))
}

/// Who is listening, as far as the notices' addressing needs to know.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Subscriber {
    Caseworker {
        id: String,
        municipality: String,
    },
    /// `None`: a federation administrator.
    Admin {
        municipality: Option<String>,
    },
}

/// What a notice becomes for one subscriber, before any re-check.
#[derive(Debug, PartialEq)]
enum Delivery<'s> {
    /// Complete as it is: nothing in it depends on the case as it stands now.
    Ready { event: &'static str, data: Value },
    /// For this caseworker only if, read now, they may still view the case (and, for a child
    /// concern, are still a home caseworker with the skill).
    Recheck {
        event: &'static str,
        caseworker: &'s str,
    },
}

/// How a re-check ended.
enum Verdict {
    Send(Event),
    Skip,
    /// The subscriber no longer exists: the stream ends, as their session would.
    End,
}

async fn events(
    State(app): State<AppState>,
    MaybePrincipal(principal): MaybePrincipal,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let subscriber = match principal {
        None => return Err(ApiError::Unauthenticated),
        Some(Principal::Citizen(_)) => return Err(ApiError::Forbidden),
        Some(Principal::Caseworker { caseworker_id, .. }) => {
            // Read fresh, as `CaseworkerAuth` does: a removed caseworker's session no longer
            // holds, and their municipality is the stored one, not the session's.
            let me = match app.ctx.caseworker(&caseworker_id).await {
                Ok(record) => record,
                Err(workflow::Error::NotFound) => return Err(ApiError::Unauthenticated),
                Err(e) => return Err(e.into()),
            };
            Subscriber::Caseworker {
                id: me.id,
                municipality: me.municipality,
            }
        }
        Some(Principal::Admin { municipality }) => Subscriber::Admin { municipality },
    };
    // Subscribed before the answer goes out, so nothing sent after the client sees the 200 is
    // missed.
    let feed = Feed {
        ctx: app.ctx.clone(),
        subscriber,
        notices: app.ctx.notices.subscribe(),
        shutdown: app.shutdown.clone(),
    };
    Ok(Sse::new(feed.into_stream()).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// One subscriber's view of the broadcast. It holds the workflow context (the store and the
/// policies), not the whole application state, because it only ever reads.
struct Feed {
    ctx: workflow::Context,
    subscriber: Subscriber,
    notices: broadcast::Receiver<Notice>,
    /// The server is shutting down: the stream ends so the connection can close.
    shutdown: tokio::sync::watch::Receiver<bool>,
}

impl Feed {
    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> {
        stream::unfold(self, |mut feed| async move {
            let event = feed.next_event().await?;
            Some((Ok(event), feed))
        })
    }

    /// The next event for this subscriber; `None` ends the stream.
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if *self.shutdown.borrow() {
                return None;
            }
            let received = tokio::select! {
                received = self.notices.recv() => received,
                _ = self.shutdown.changed() => return None,
            };
            let notice = match received {
                Ok(notice) => notice,
                Err(RecvError::Lagged(missed)) => {
                    // Notices were dropped unseen: the client cannot know which, so it is told
                    // to refresh everything rather than trust a partial picture.
                    tracing::warn!(missed, "event subscriber lagged behind");
                    return Some(sse(QUEUE_CHANGED, &json!({ "lagged": true })));
                }
                Err(RecvError::Closed) => return None,
            };
            let Some(delivery) = audience(&notice, &self.subscriber) else {
                continue;
            };
            match confirm(&self.ctx, &notice, delivery).await {
                Ok(Verdict::Send(event)) => return Some(event),
                Ok(Verdict::Skip) => {}
                Ok(Verdict::End) => return None,
                // Fail closed: an event that could not be re-checked is not sent.
                Err(error) => tracing::warn!(
                    %error,
                    event = notice.event,
                    "event withheld: re-check failed"
                ),
            }
        }
    }
}

/// Who gets what, from the notice alone. Anything not named here (a new notice kind
/// included) reaches nobody until someone decides who may hear it.
fn audience<'s>(notice: &Notice, subscriber: &'s Subscriber) -> Option<Delivery<'s>> {
    match subscriber {
        Subscriber::Caseworker { id, municipality } => {
            let addressed = notice.caseworker.as_deref() == Some(id.as_str());
            match notice.event {
                // No case id: by the time the client looks, the case may be gone from their
                // view, and its id alone would tell them it exists.
                QUEUE_CHANGED if notice.municipalities.contains(municipality) => {
                    Some(Delivery::Ready {
                        event: QUEUE_CHANGED,
                        data: json!({ "municipality": municipality }),
                    })
                }
                // The offer is theirs: its metadata is what `GET /api/v1/offers` shows them.
                OFFER_CREATED | OFFER_EXPIRED if addressed => Some(Delivery::Ready {
                    event: notice.event,
                    data: json!({ "id": notice.case_id, "category": notice.category }),
                }),
                CASE_MESSAGE | CASE_UPDATED if addressed => Some(Delivery::Recheck {
                    event: notice.event,
                    caseworker: id,
                }),
                // R10: every home caseworker with the skill, available or not; skill and
                // clearance are checked against the stored record at delivery.
                CHILD_CONCERN if notice.home == *municipality => Some(Delivery::Recheck {
                    event: CHILD_CONCERN,
                    caseworker: id,
                }),
                _ => None,
            }
        }
        // Administrators handle no cases; of a case they hear only the home's child concerns
        // (R10), which are theirs to follow up.
        Subscriber::Admin { municipality } => (notice.event == CHILD_CONCERN
            && municipality.as_ref().is_none_or(|m| *m == notice.home))
        .then(|| Delivery::Ready {
            event: CHILD_CONCERN,
            data: child_concern_data(notice),
        }),
    }
}

/// Turns a delivery into an event, reading what may have changed since the notice was sent.
async fn confirm(
    ctx: &workflow::Context,
    notice: &Notice,
    delivery: Delivery<'_>,
) -> Result<Verdict, StoreError> {
    let (event, caseworker_id) = match delivery {
        Delivery::Ready { event, data } => return Ok(Verdict::Send(sse(event, &data))),
        Delivery::Recheck { event, caseworker } => (event, caseworker),
    };
    let Some(caseworker) = ctx.store.caseworker(caseworker_id).await? else {
        return Ok(Verdict::End);
    };
    let Some(case) = ctx.store.case(&notice.case_id).await? else {
        return Ok(Verdict::Skip);
    };
    let view = ctx.policy.caseworker_may(
        policy::Action::View,
        &ctx.federation,
        &caseworker,
        &case,
        ctx.clock.today(),
    );
    Ok(match rechecked(event, notice, &caseworker, &case, &view) {
        Some(data) => Verdict::Send(sse(event, &data)),
        None => Verdict::Skip,
    })
}

/// What the caseworker, as stored now, may hear of the case as it stands now; `None` if
/// nothing.
fn rechecked(
    event: &str,
    notice: &Notice,
    caseworker: &CaseworkerRecord,
    case: &CaseRecord,
    view: &policy::Decision,
) -> Option<Value> {
    // Also for child concerns: R11 lets only cleared staff know a protected case exists.
    if !view.allowed {
        return None;
    }
    if event == CHILD_CONCERN {
        let hears =
            caseworker.municipality == notice.home && caseworker.has_skill(&notice.category);
        return hears.then(|| child_concern_data(notice));
    }
    Some(json!({ "id": case.id, "state": case.state }))
}

fn child_concern_data(notice: &Notice) -> Value {
    json!({ "id": notice.case_id, "category": notice.category, "home": notice.home })
}

fn sse(event: &str, data: &Value) -> Event {
    // Compact JSON has no raw line breaks, which an SSE data line may not contain.
    Event::default().event(event).data(data.to_string())
}

#[cfg(test)]
mod tests {
    use sqlx::types::Json;

    use super::*;
    use crate::domain::case::CaseState;
    use crate::domain::people::Availability;

    fn notice(event: &'static str, caseworker: Option<&str>, municipalities: &[&str]) -> Notice {
        Notice {
            event,
            case_id: "c1".into(),
            category: "oro_barn".into(),
            home: "1275".into(),
            caseworker: caseworker.map(str::to_owned),
            municipalities: municipalities.iter().map(|m| (*m).to_owned()).collect(),
        }
    }

    /// `rechecked` with the shipped policies' view decision, as `confirm` makes it.
    fn recheck(
        event: &str,
        notice: &Notice,
        caseworker: &CaseworkerRecord,
        case: &CaseRecord,
    ) -> Option<Value> {
        let engine = policy::Engine::with_defaults().expect("policies");
        let federation = crate::domain::federation::familjen_helsingborg();
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        let view =
            engine.caseworker_may(policy::Action::View, &federation, caseworker, case, today);
        rechecked(event, notice, caseworker, case, &view)
    }

    fn caseworker_subscriber(id: &str, municipality: &str) -> Subscriber {
        Subscriber::Caseworker {
            id: id.into(),
            municipality: municipality.into(),
        }
    }

    fn admin(municipality: Option<&str>) -> Subscriber {
        Subscriber::Admin {
            municipality: municipality.map(str::to_owned),
        }
    }

    fn caseworker(id: &str, municipality: &str, skills: &[&str]) -> CaseworkerRecord {
        CaseworkerRecord {
            skills: Json(skills.iter().map(|s| (*s).to_owned()).collect()),
            status: Availability::Away,
            ..CaseworkerRecord::fixture(id, municipality)
        }
    }

    fn case(state: CaseState, owner: Option<&str>, protection: Option<&str>) -> CaseRecord {
        CaseRecord {
            category: "oro_barn".into(),
            urgent: true,
            citizen_personnummer: None,
            citizen_protection: protection.map(str::to_owned),
            state,
            owner: owner.map(str::to_owned),
            handler: owner.map(|_| "1283".to_owned()),
            ..CaseRecord::fixture("1275")
        }
    }

    #[test]
    fn queue_changes_name_only_the_subscribers_municipality() {
        let changed = notice(QUEUE_CHANGED, None, &["1275", "1283"]);
        assert_eq!(
            audience(&changed, &caseworker_subscriber("1283-02", "1283")),
            Some(Delivery::Ready {
                event: QUEUE_CHANGED,
                data: json!({ "municipality": "1283" }),
            })
        );
        assert_eq!(
            audience(&changed, &caseworker_subscriber("1282-01", "1282")),
            None
        );
        assert_eq!(audience(&changed, &admin(None)), None);
    }

    #[test]
    fn offers_reach_only_their_caseworker() {
        for event in [OFFER_CREATED, OFFER_EXPIRED] {
            let offer = notice(event, Some("1275-02"), &[]);
            assert_eq!(
                audience(&offer, &caseworker_subscriber("1275-02", "1275")),
                Some(Delivery::Ready {
                    event,
                    data: json!({ "id": "c1", "category": "oro_barn" }),
                })
            );
            assert_eq!(
                audience(&offer, &caseworker_subscriber("1275-01", "1275")),
                None
            );
            assert_eq!(audience(&offer, &admin(Some("1275"))), None);
        }
    }

    #[test]
    fn case_events_are_rechecked_for_their_caseworker_only() {
        for event in [CASE_MESSAGE, CASE_UPDATED] {
            let update = notice(event, Some("1283-01"), &[]);
            let owner = caseworker_subscriber("1283-01", "1283");
            assert_eq!(
                audience(&update, &owner),
                Some(Delivery::Recheck {
                    event,
                    caseworker: "1283-01",
                })
            );
            // A home caseworker may view the case but is not the one addressed.
            assert_eq!(
                audience(&update, &caseworker_subscriber("1275-01", "1275")),
                None
            );
            assert_eq!(audience(&notice(event, None, &[]), &owner), None);
        }
    }

    #[test]
    fn child_concerns_reach_home_staff_and_home_or_federation_admins() {
        let alert = notice(CHILD_CONCERN, None, &["1275"]);
        assert_eq!(
            audience(&alert, &caseworker_subscriber("1275-02", "1275")),
            Some(Delivery::Recheck {
                event: CHILD_CONCERN,
                caseworker: "1275-02",
            })
        );
        assert_eq!(
            audience(&alert, &caseworker_subscriber("1283-01", "1283")),
            None
        );
        let data = json!({ "id": "c1", "category": "oro_barn", "home": "1275" });
        for who in [admin(Some("1275")), admin(None)] {
            assert_eq!(
                audience(&alert, &who),
                Some(Delivery::Ready {
                    event: CHILD_CONCERN,
                    data: data.clone(),
                })
            );
        }
        assert_eq!(audience(&alert, &admin(Some("1283"))), None);
    }

    #[test]
    fn unknown_notices_reach_nobody() {
        let strange = notice("case.deleted", Some("1275-01"), &["1275"]);
        assert_eq!(
            audience(&strange, &caseworker_subscriber("1275-01", "1275")),
            None
        );
        assert_eq!(audience(&strange, &admin(None)), None);
    }

    #[test]
    fn case_events_follow_the_case_as_it_is_now() {
        let message = notice(CASE_MESSAGE, Some("1283-01"), &[]);
        let owner = caseworker("1283-01", "1283", &["ekonomi"]);
        // An adult's consented ekonomi case, which the agreement lets Helsingborg handle.
        let case = |state, owner| CaseRecord {
            category: "ekonomi".into(),
            urgent: false,
            citizen_personnummer: Some("198112189876".into()),
            consent_cross_municipality: true,
            ..case(state, owner, None)
        };
        assert_eq!(
            recheck(
                CASE_MESSAGE,
                &message,
                &owner,
                &case(CaseState::Assigned, Some("1283-01")),
            ),
            Some(json!({ "id": "c1", "state": "assigned" }))
        );
        // Released or transferred since: outside home, a former owner hears nothing more.
        assert_eq!(
            recheck(
                CASE_MESSAGE,
                &message,
                &owner,
                &case(CaseState::Assigned, Some("1283-02")),
            ),
            None
        );
    }

    #[test]
    fn child_concerns_need_the_skill_now_and_clearance_for_protected_cases() {
        let alert = notice(CHILD_CONCERN, None, &["1275"]);
        let queued = case(CaseState::Queued, None, None);
        let skilled = caseworker("1275-01", "1275", &["oro_barn", "ekonomi"]);
        assert_eq!(
            recheck(CHILD_CONCERN, &alert, &skilled, &queued),
            Some(json!({ "id": "c1", "category": "oro_barn", "home": "1275" }))
        );
        let unskilled = caseworker("1275-02", "1275", &["ekonomi"]);
        assert_eq!(recheck(CHILD_CONCERN, &alert, &unskilled, &queued), None);
        let elsewhere = caseworker("1283-01", "1283", &["oro_barn"]);
        assert_eq!(recheck(CHILD_CONCERN, &alert, &elsewhere, &queued), None);
        // R11: an uncleared caseworker must not learn that a protected case exists.
        let protected = case(CaseState::Queued, None, Some("skyddad_folkbokforing"));
        assert_eq!(recheck(CHILD_CONCERN, &alert, &skilled, &protected), None);
        let cleared = CaseworkerRecord {
            protected_identity_clearance: true,
            ..skilled
        };
        assert!(recheck(CHILD_CONCERN, &alert, &cleared, &protected).is_some());
    }
}
