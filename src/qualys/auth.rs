//! Credentials on the wire: HTTP Basic for QPS (and CloudView by default), a
//! cached JWT for the gateway.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::header::HeaderValue;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::secret::Secret;

/// `Authorization: Basic …`, marked sensitive so HTTP-layer logging hides it.
pub fn basic_header(username: &str, password: &Secret) -> Option<HeaderValue> {
    let encoded = STANDARD.encode(format!("{username}:{}", password.expose()));
    let mut v = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    v.set_sensitive(true);
    Some(v)
}

pub fn bearer_header(token: &Secret) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose())).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// Seconds until the JWT's `exp`, when the payload can be read.
pub fn jwt_lifetime(token: &str) -> Option<Duration> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_f64()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    (exp > now).then(|| Duration::from_secs_f64(exp - now))
}

/// A token with the instant it should be replaced.
#[derive(Clone)]
pub struct CachedToken {
    pub value: Secret,
    pub refresh_at: Instant,
    /// Identifies this token so a 401 invalidates only the token that failed.
    pub generation: u64,
}

/// Single-flight cache of the gateway token: concurrent callers share one fetch.
#[derive(Default)]
pub struct TokenCache {
    slot: Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    token: Option<CachedToken>,
    generation: u64,
}

impl TokenCache {
    /// The cached token, or the result of `fetch` stored for next time.
    /// `fetch` returns the raw token and a fallback lifetime.
    pub async fn get_or_fetch<F, Fut, E>(&self, fetch: F) -> Result<CachedToken, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Secret, Duration), E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(t) = &slot.token
            && Instant::now() < t.refresh_at
        {
            return Ok(t.clone());
        }
        let (value, fallback) = fetch().await?;
        let lifetime = jwt_lifetime(value.expose()).unwrap_or(fallback);
        // Renew ahead of expiry: 5 minutes, or a tenth of a short lifetime.
        let margin = (lifetime / 10).min(Duration::from_secs(300));
        slot.generation += 1;
        let token = CachedToken {
            value,
            refresh_at: Instant::now() + (lifetime - margin),
            generation: slot.generation,
        };
        slot.token = Some(token.clone());
        Ok(token)
    }

    /// Drops the token if it is still the one that was refused.
    pub async fn invalidate(&self, generation: u64) {
        let mut slot = self.slot.lock().await;
        if slot.token.as_ref().is_some_and(|t| t.generation == generation) {
            slot.token = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt_with_exp(exp: u64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"u","exp":{exp}}}"#));
        format!("{header}.{payload}.sig")
    }

    #[test]
    fn jwt_exp_is_read() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let life = jwt_lifetime(&jwt_with_exp(now + 3600)).unwrap();
        assert!(life > Duration::from_secs(3590) && life <= Duration::from_secs(3600));
        assert_eq!(jwt_lifetime(&jwt_with_exp(now - 10)), None);
        assert_eq!(jwt_lifetime("opaque-token"), None);
    }

    #[test]
    fn basic_header_is_sensitive() {
        let h = basic_header("alice", &Secret::new("pw")).unwrap();
        assert!(h.is_sensitive());
        assert_eq!(h.to_str().unwrap(), "Basic YWxpY2U6cHc=");
    }

    #[tokio::test(start_paused = true)]
    async fn cache_refreshes_before_expiry_and_invalidates_by_generation() {
        let cache = TokenCache::default();
        let fetches = std::sync::atomic::AtomicU32::new(0);
        let fetch = || async {
            fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, ()>((Secret::new("opaque"), Duration::from_secs(100)))
        };
        let a = cache.get_or_fetch(fetch).await.unwrap();
        let b = cache.get_or_fetch(fetch).await.unwrap();
        assert_eq!((a.generation, b.generation), (1, 1));
        tokio::time::advance(Duration::from_secs(91)).await;
        let c = cache.get_or_fetch(fetch).await.unwrap();
        assert_eq!(c.generation, 2);
        cache.invalidate(1).await; // stale generation: no effect
        assert_eq!(cache.get_or_fetch(fetch).await.unwrap().generation, 2);
        cache.invalidate(2).await;
        assert_eq!(cache.get_or_fetch(fetch).await.unwrap().generation, 3);
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
