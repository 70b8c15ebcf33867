//! Simulated time: the wall clock plus an offset that tests can push forward, so
//! that schedules, token expiry and rate windows can be observed without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> Millis {
        jiff::Timestamp::now().as_millisecond() + self.offset_ms.load(Ordering::Relaxed)
    }

    pub fn advance(&self, by_ms: i64) {
        self.offset_ms.fetch_add(by_ms, Ordering::Relaxed);
    }
}

fn timestamp(ms: Millis) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// QPS style: `2022-04-30T11:58:06Z`.
pub fn qps_time(ms: Millis) -> String {
    timestamp(ms).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Gateway style: `2023-05-17T07:23:33.061+00:00`.
pub fn gateway_time(ms: Millis) -> String {
    timestamp(ms).strftime("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string()
}

/// CloudView v1 style: `2019-09-12T06:01:00+0000`.
pub fn cloudview_time(ms: Millis) -> String {
    timestamp(ms).strftime("%Y-%m-%dT%H:%M:%S+0000").to_string()
}

/// Parses the QPS form (and anything else RFC 3339) back, for date criteria.
pub fn parse_time(s: &str) -> Option<Millis> {
    s.trim()
        .replace(' ', "")
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_three_families() {
        let ms = 1_684_308_213_061;
        assert_eq!(qps_time(ms), "2023-05-17T07:23:33Z");
        assert_eq!(gateway_time(ms), "2023-05-17T07:23:33.061+00:00");
        assert_eq!(cloudview_time(ms), "2023-05-17T07:23:33+0000");
        assert_eq!(parse_time("2023-05-17T07: 23: 33Z"), Some(1_684_308_213_000));
    }
}
