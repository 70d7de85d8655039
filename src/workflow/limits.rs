//! Limits on how often one client may fail at something (wrong access codes, for a start).
//!
//! The limiter counts failures per key in fixed windows, in memory: nothing about the client is
//! stored, and a restart forgets it (R1: no IP address stored for anonymous visitors). Each
//! replica counts on its own, so a client spread over `n` replicas gets up to `n` times the
//! tries; the window keeps that small. Later hardening puts other routes behind it.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// Where a request came from, as far as limits are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Client {
    Address(IpAddr),
    /// Not over HTTP (tools, tests calling the workflows directly): one shared bucket.
    Local,
}

/// Failures allowed per key within one window; more are refused until the window has passed.
pub struct Limiter<K> {
    tries: u32,
    window: Duration,
    /// Keys above this many are pruned of their passed windows before a new one is added, so a
    /// flood of addresses cannot grow the map without bound.
    prune_above: usize,
    windows: Mutex<HashMap<K, Window>>,
}

#[derive(Clone, Copy, Debug)]
struct Window {
    started: DateTime<Utc>,
    failures: u32,
}

/// The key has failed too often: try again after this many seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    pub retry_after_secs: u64,
}

impl<K: Eq + Hash + Clone> Limiter<K> {
    pub fn new(tries: u32, window: Duration) -> Limiter<K> {
        Limiter {
            tries,
            window,
            prune_above: 10_000,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn windows(&self) -> std::sync::MutexGuard<'_, HashMap<K, Window>> {
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the key may try now; asked before the attempt, so that a right answer after too
    /// many wrong ones is refused as well (otherwise guessing would go on, only slower).
    pub fn check(&self, key: &K, now: DateTime<Utc>) -> Result<(), Limited> {
        let windows = self.windows();
        match windows.get(key) {
            Some(w) if now < w.started + self.window && w.failures >= self.tries => {
                let left = (w.started + self.window - now).num_seconds().max(1);
                Err(Limited {
                    retry_after_secs: u64::try_from(left).unwrap_or(1),
                })
            }
            _ => Ok(()),
        }
    }

    /// One failure by the key.
    pub fn fail(&self, key: &K, now: DateTime<Utc>) {
        let mut windows = self.windows();
        if windows.len() >= self.prune_above && !windows.contains_key(key) {
            let window = self.window;
            windows.retain(|_, w| now < w.started + window);
        }
        let w = windows.entry(key.clone()).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now >= w.started + self.window {
            *w = Window {
                started: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.windows().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("a time")
            + Duration::seconds(seconds)
    }

    #[test]
    fn failures_within_the_window_are_limited_and_the_window_ends() {
        let limiter = Limiter::new(3, Duration::minutes(15));
        let key = Client::Address(IpAddr::from([192, 0, 2, 1]));
        for s in 0..3 {
            assert_eq!(limiter.check(&key, at(s)), Ok(()));
            limiter.fail(&key, at(s));
        }
        assert_eq!(
            limiter.check(&key, at(60)),
            Err(Limited {
                retry_after_secs: 15 * 60 - 60
            })
        );
        let other = Client::Address(IpAddr::from([192, 0, 2, 2]));
        assert_eq!(limiter.check(&other, at(60)), Ok(()));
        assert_eq!(limiter.check(&key, at(15 * 60)), Ok(()));
        limiter.fail(&key, at(15 * 60));
        assert_eq!(limiter.check(&key, at(15 * 60 + 1)), Ok(()));
    }

    #[test]
    fn passed_windows_are_pruned_when_many_keys_fail() {
        let mut limiter = Limiter::new(1, Duration::seconds(10));
        limiter.prune_above = 4;
        for n in 0..4u8 {
            limiter.fail(&Client::Address(IpAddr::from([10, 0, 0, n])), at(0));
        }
        assert_eq!(limiter.len(), 4);
        limiter.fail(&Client::Address(IpAddr::from([10, 0, 1, 0])), at(20));
        assert_eq!(limiter.len(), 1);
    }
}
