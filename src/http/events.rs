//! Server-sent events (`GET /api/v1/events`): what caseworkers and administrators hear about
//! as it happens. Who hears what, and whether the login still holds, is decided at every
//! delivery by the workflow's subscription (`workflow::Subscription`); this file only turns its
//! answers into an SSE stream. When the login ends, the stream sends one `event: end` without
//! case data and closes.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::stream::{self, Stream};
use serde_json::Value;

use super::AppState;
use super::error::ApiError;
use super::extract::{CallerIn, family};
use crate::workflow::{self, Next, Subscription};

/// Proxies and load balancers close connections that stay silent for long; a comment line
/// every 15 seconds keeps an idle stream open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/events", get(events))
}

/// Caseworkers and administrators in person; an integration token with `events:read`.
async fn events(
    State(app): State<AppState>,
    CallerIn { caller, .. }: CallerIn<family::EventsRead>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let caller = caller.ok_or(ApiError::Unauthenticated)?;
    let subscription = match app
        .ctx
        .subscribe(&caller.principal, caller.login, app.shutdown.clone())
        .await
    {
        Ok(s) => s,
        // A removed caseworker's login no longer holds.
        Err(workflow::Error::NotFound) => return Err(ApiError::Unauthenticated),
        Err(e) => return Err(e.into()),
    };
    Ok(Sse::new(into_stream(subscription)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

fn into_stream(subscription: Subscription) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(subscription, |mut subscription| async move {
        match subscription.next().await {
            Next::Deliver(delivery) => {
                Some((Ok(sse(delivery.event, &delivery.data)), subscription))
            }
            Next::End => Some((
                Ok(sse("end", &Value::Object(Default::default()))),
                subscription,
            )),
            Next::Closed => None,
        }
    })
}

fn sse(event: &str, data: &Value) -> Event {
    // Compact JSON has no raw line breaks, which an SSE data line may not contain.
    Event::default().event(event).data(data.to_string())
}
