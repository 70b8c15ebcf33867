//! Per-user call budget: a fixed window of `limit` calls plus a cap on calls in flight
//! per API ("about 2 calls per API per subscription", real-world notes §8),
//! reported in the `X-RateLimit-*` / `X-Concurrency-Limit-*` headers.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderValue};
use serde::Serialize;

use super::clock::Millis;
use super::config::RateLimitConfig;

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Usage {
    window_start: Millis,
    used: u32,
    /// Calls in flight, per API.
    running: BTreeMap<&'static str, u32>,
}

/// What the headers of one response say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHeaders {
    pub limit: u32,
    pub window_sec: u64,
    pub remaining: u32,
    pub to_wait_sec: u64,
    pub concurrency_limit: u32,
    pub running: u32,
}

impl RateHeaders {
    pub fn apply(&self, headers: &mut HeaderMap, empty: bool) {
        let pairs: [(&'static str, u64); 6] = [
            ("x-ratelimit-limit", u64::from(self.limit)),
            ("x-ratelimit-window-sec", self.window_sec),
            ("x-ratelimit-remaining", u64::from(self.remaining)),
            ("x-ratelimit-towait-sec", self.to_wait_sec),
            ("x-concurrency-limit-limit", u64::from(self.concurrency_limit)),
            ("x-concurrency-limit-running", u64::from(self.running)),
        ];
        for (name, value) in pairs {
            // The gateway has been seen sending these headers with empty values.
            let value = if empty {
                HeaderValue::from_static("")
            } else {
                HeaderValue::from(value)
            };
            headers.insert(name, value);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Admitted(RateHeaders),
    /// Over the window budget or the concurrency cap.
    Rejected {
        headers: RateHeaders,
        concurrency: bool,
    },
}

#[derive(Debug, Clone)]
pub struct RateLimiter {
    pub config: RateLimitConfig,
    usage: BTreeMap<String, Usage>,
}

impl RateLimiter {
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            usage: BTreeMap::new(),
        }
    }

    pub fn reset(&mut self) {
        self.usage.clear();
    }

    /// Counts a call to `api` that starts now; an admitted call must be
    /// `release`d when it ends.
    pub fn admit(&mut self, user: &str, api: &'static str, now: Millis) -> Decision {
        let cfg = &self.config;
        let window_ms = i64::try_from(cfg.window_sec)
            .unwrap_or(i64::MAX / 2)
            .saturating_mul(1000)
            .max(1);
        let usage = self.usage.entry(user.to_string()).or_default();
        if now >= usage.window_start + window_ms || now < usage.window_start {
            usage.window_start = now;
            usage.used = 0;
        }
        let window_left_sec = u64::try_from((usage.window_start + window_ms - now + 999) / 1000).unwrap_or(0);
        let running = usage.running.get(api).copied().unwrap_or(0);
        let mut headers = RateHeaders {
            limit: cfg.limit,
            window_sec: cfg.window_sec,
            remaining: cfg.limit.saturating_sub(usage.used),
            to_wait_sec: 0,
            concurrency_limit: cfg.concurrency,
            running,
        };
        if usage.used >= cfg.limit {
            headers.to_wait_sec = window_left_sec.max(1);
            return Decision::Rejected {
                headers,
                concurrency: false,
            };
        }
        if running >= cfg.concurrency {
            headers.to_wait_sec = 1;
            return Decision::Rejected {
                headers,
                concurrency: true,
            };
        }
        usage.used += 1;
        usage.running.insert(api, running + 1);
        headers.remaining = cfg.limit - usage.used;
        headers.running = running + 1;
        Decision::Admitted(headers)
    }

    pub fn release(&mut self, user: &str, api: &'static str) {
        if let Some(running) = self.usage.get_mut(user).and_then(|u| u.running.get_mut(api)) {
            *running = running.saturating_sub(1);
        }
    }

    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({ "config": self.config, "usage": self.usage })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_and_concurrency() {
        let mut rl = RateLimiter::new(RateLimitConfig {
            limit: 2,
            window_sec: 10,
            concurrency: 1,
            gateway_empty_headers: false,
        });
        assert!(matches!(rl.admit("a", "qps", 0), Decision::Admitted(h) if h.remaining == 1));
        assert!(matches!(
            rl.admit("a", "qps", 0),
            Decision::Rejected { concurrency: true, .. }
        ));
        rl.release("a", "qps");
        assert!(matches!(rl.admit("a", "qps", 1_000), Decision::Admitted(h) if h.remaining == 0));
        rl.release("a", "qps");
        assert!(
            matches!(rl.admit("a", "qps", 2_000), Decision::Rejected { concurrency: false, headers } if headers.to_wait_sec == 8)
        );
        assert!(matches!(rl.admit("b", "qps", 2_000), Decision::Admitted(_)));
        assert!(matches!(rl.admit("a", "qps", 10_000), Decision::Admitted(_)));
    }

    #[test]
    fn concurrency_is_per_api_and_the_window_per_user() {
        let mut rl = RateLimiter::new(RateLimitConfig {
            limit: 2,
            window_sec: 10,
            concurrency: 1,
            gateway_empty_headers: false,
        });
        assert!(matches!(rl.admit("a", "qps", 0), Decision::Admitted(_)));
        // Another API runs beside it; both spend the one window.
        assert!(matches!(rl.admit("a", "gateway", 0), Decision::Admitted(h) if h.remaining == 0 && h.running == 1));
        rl.release("a", "gateway");
        assert!(matches!(
            rl.admit("a", "gateway", 0),
            Decision::Rejected { concurrency: false, .. }
        ));
    }
}
