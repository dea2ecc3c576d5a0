//! Requests per minute, counted per key (an account, an address) in fixed one-minute
//! windows on this node. Past the limit a request is refused with 429 and the seconds until
//! the window ends, which the edge sends as `Retry-After`.
//!
//! Counts live in this process: with several nodes each counts its own share, so the
//! installation-wide limit is at most the node count times the configured one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::ApiConfig;
use crate::errors::AppError;

/// What is counted, and against which key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Counted {
    /// API requests of one account.
    Account(i64),
    /// API requests from one address, whoever sends them.
    Address(String),
    /// API requests from one address with a token that did not authenticate.
    FailedToken(String),
}

/// Beyond this many keys, windows that have ended are swept out.
const SWEEP_ABOVE: usize = 50_000;

pub struct RateLimiter {
    limits: ApiConfig,
    /// Key → (the minute its window started, requests in it).
    windows: Mutex<HashMap<Counted, (u64, u32)>>,
}

impl RateLimiter {
    pub fn new(limits: &ApiConfig) -> RateLimiter {
        RateLimiter { limits: limits.clone(), windows: Mutex::new(HashMap::new()) }
    }

    fn limit(&self, counted: &Counted) -> u32 {
        match counted {
            Counted::Account(_) => self.limits.requests_per_minute,
            Counted::Address(_) => self.limits.requests_per_minute_per_address,
            Counted::FailedToken(_) => self.limits.failed_tokens_per_minute,
        }
    }

    /// Counts one request against `counted`, refusing it when the window is full.
    pub fn count(&self, counted: Counted) -> Result<(), AppError> {
        self.check(counted, true)
    }

    /// Refuses when `counted`'s window is already full, without counting this request.
    pub fn refuse_if_full(&self, counted: Counted) -> Result<(), AppError> {
        self.check(counted, false)
    }

    fn check(&self, counted: Counted, add: bool) -> Result<(), AppError> {
        let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
        let minute = seconds / 60;
        let limit = self.limit(&counted);
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, (start, _)| *start == minute);
        }
        let window = windows.entry(counted.clone()).or_insert((minute, 0));
        if window.0 != minute {
            *window = (minute, 0);
        }
        if window.1 >= limit {
            let retry_after = 60 - seconds % 60;
            let what = match counted {
                Counted::Account(_) => format!("This account made {limit} API requests this minute, its limit"),
                Counted::Address(_) => format!("Your address made {limit} API requests this minute, its limit"),
                Counted::FailedToken(_) => {
                    format!("Your address sent {limit} API tokens that did not work this minute")
                }
            };
            return Err(AppError::RateLimited {
                message: format!("{what}; try again in {retry_after} seconds."),
                retry_after,
            });
        }
        if add {
            window.1 += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_has_its_own_window_and_the_refusal_says_when_to_retry() {
        let limiter = RateLimiter::new(&ApiConfig {
            requests_per_minute: 2,
            requests_per_minute_per_address: 3,
            failed_tokens_per_minute: 1,
        });
        assert!(limiter.count(Counted::Account(1)).is_ok() && limiter.count(Counted::Account(1)).is_ok());
        let refused = limiter.count(Counted::Account(1)).unwrap_err();
        let AppError::RateLimited { retry_after, .. } = refused else { panic!("{refused:?}") };
        assert!((1..=60).contains(&retry_after));
        assert!(limiter.count(Counted::Account(2)).is_ok(), "another account has its own window");
        assert!(limiter.refuse_if_full(Counted::FailedToken("a".into())).is_ok());
        assert!(limiter.count(Counted::FailedToken("a".into())).is_ok());
        assert!(limiter.refuse_if_full(Counted::FailedToken("a".into())).is_err());
    }
}
