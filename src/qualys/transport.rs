//! One HTTP exchange loop shared by every family: governor, auth, retries,
//! throttle waits, observer. Families supply the URL, body and a decoder.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use tokio::time::Instant;

use super::auth::{self, CachedToken, TokenCache};
use super::config::{AccountConfig, ConfigError};
use super::error::QualysError;
use super::fence::WriteFence;
use super::governor::{Permit, RateGovernor, RateHeaders, WaitTooLong};
use super::lenient;
use super::observer::{CallObserver, CallRecord, Family, Progress};
use super::qps::envelope::{
    RawResponse, Sniffed, field_in_message, html_title, mentions_licence, response_code_error, sniff, snippet,
};

/// What repeating a call after an unclear outcome would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safety {
    /// No side effect.
    Read,
    /// Same effect however often it runs (update by id with `set` collections).
    Idempotent,
    /// Create, delete, run: never repeated once the request may have arrived.
    Unsafe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    Basic,
    Bearer,
}

pub struct Call {
    pub family: Family,
    pub operation: &'static str,
    pub method: Method,
    pub url: Url,
    pub accept: &'static str,
    pub body: Option<(Vec<u8>, &'static str)>,
    pub safety: Safety,
    pub auth: AuthKind,
}

/// A complete HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub struct Transport {
    pub config: AccountConfig,
    http: reqwest::Client,
    governor: RateGovernor,
    tokens: TokenCache,
    observer: Option<Arc<dyn CallObserver>>,
    fence: Option<Arc<dyn WriteFence>>,
    basic: HeaderValue,
}

impl Transport {
    pub fn new(
        config: AccountConfig,
        observer: Option<Arc<dyn CallObserver>>,
        fence: Option<Arc<dyn WriteFence>>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        // reqwest is built without a bundled crypto provider; the project uses
        // ring (through kube). Installing twice is harmless, so ignore the result.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent())
            .connect_timeout(config.timeouts.connect)
            .timeout(config.timeouts.request)
            .build()
            .map_err(|e| ConfigError::Http(e.to_string()))?;
        let basic = auth::basic_header(&config.username, &config.password)
            .ok_or_else(|| ConfigError::Invalid("credentials contain characters not allowed in a header".into()))?;
        Ok(Self {
            governor: RateGovernor::new(config.limits.clone()),
            config,
            http,
            tokens: TokenCache::default(),
            observer,
            fence,
            basic,
        })
    }

    pub fn governor(&self) -> &RateGovernor {
        &self.governor
    }

    /// Runs a call to completion: waits for budget, retries what is safe to
    /// retry, and hands the final answer to `decode`.
    pub async fn execute<T>(
        &self,
        call: &Call,
        decode: impl Fn(Reply) -> Result<T, QualysError>,
    ) -> Result<T, QualysError> {
        let deadline = Instant::now() + self.config.timeouts.max_rate_limit_wait;
        let mut attempt = 0u32;
        let mut retries = 0u32;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let queued = Instant::now();
            let permit = self
                .acquire(call, deadline)
                .await
                .map_err(|WaitTooLong(w)| QualysError::RateLimited {
                    retry_after: (!w.is_zero()).then_some(w),
                })?;
            if let Some(o) = &self.observer {
                o.on_budget_wait(call.family, queued.elapsed());
            }
            let token = match call.auth {
                AuthKind::Bearer => Some(self.token().await?),
                AuthKind::Basic => None,
            };
            // Checked after every wait, right before the request leaves: a
            // lease lost while this call queued for budget stops it here.
            if call.safety != Safety::Read
                && let Some(fence) = &self.fence
            {
                fence.check().map_err(|message| QualysError::Fenced { message })?;
            }
            if call.safety != Safety::Read {
                // When each write left, per process: what a split-brain audit reads.
                tracing::debug!(operation = call.operation, attempt, "qualys write sent");
            }
            self.progress(&Progress::Sending {
                family: call.family,
                operation: call.operation,
                attempt,
            });
            let started = Instant::now();
            let sent = self.send_once(call, token.as_ref()).await;
            let elapsed = started.elapsed();
            let reply = match sent {
                Ok(reply) => reply,
                Err(err) => {
                    drop(permit);
                    self.record(call, err.category(), elapsed, attempt);
                    let safe = match &err {
                        QualysError::Transport {
                            request_sent: false, ..
                        } => true,
                        QualysError::Transport { request_sent: true, .. } => call.safety != Safety::Unsafe,
                        _ => false,
                    };
                    if safe && retries < self.config.timeouts.max_retries {
                        retries += 1;
                        tracing::debug!(operation = call.operation, attempt, error = %err, "retrying after transport failure");
                        self.retry_after(call, attempt, retries, &err).await;
                        continue;
                    }
                    if safe {
                        tracing::warn!(operation = call.operation, attempts = attempt, error = %err, "no answer; retries used up");
                    } else if err.is_ambiguous() {
                        tracing::warn!(
                            operation = call.operation,
                            "no answer after the request was sent; not retried (it may have been carried out)"
                        );
                    }
                    return Err(err);
                }
            };
            let rate = RateHeaders::from_headers(&reply.headers);
            self.governor.observe(&permit, &rate);
            if let Some(hint) = throttle_hint(call.family, &reply, &rate) {
                let wait = self.governor.throttled(&permit, hint);
                drop(permit);
                self.record(call, "rate_limited", elapsed, attempt);
                self.progress(&Progress::RateLimited {
                    family: call.family,
                    operation: call.operation,
                    wait,
                    reason: &throttle_reason(&reply, &rate),
                });
                tracing::info!(
                    operation = call.operation,
                    wait_ms = wait.as_millis() as u64,
                    "throttled by Qualys, waiting"
                );
                if Instant::now() + wait > deadline {
                    return Err(QualysError::RateLimited {
                        retry_after: Some(wait),
                    });
                }
                continue;
            }
            self.governor.succeeded(&permit);
            drop(permit);
            let outcome = decode(reply);
            let category = match &outcome {
                Ok(_) => "ok",
                Err(e) => e.category(),
            };
            self.record(call, category, elapsed, attempt);
            match outcome {
                Err(QualysError::Unauthorized { .. }) if call.auth == AuthKind::Bearer && !reauthenticated => {
                    reauthenticated = true;
                    if let Some(t) = &token {
                        self.tokens.invalidate(t.generation).await;
                    }
                    tracing::debug!(operation = call.operation, "token refused, re-authenticating once");
                }
                Err(QualysError::RateLimited { retry_after }) => {
                    // A throttle spelled as a responseCode: not executed, so wait and repeat.
                    let wait = retry_after.unwrap_or(self.config.limits.fallback_wait);
                    if Instant::now() + wait > deadline {
                        return Err(QualysError::RateLimited {
                            retry_after: Some(wait),
                        });
                    }
                    self.progress(&Progress::RateLimited {
                        family: call.family,
                        operation: call.operation,
                        wait,
                        reason: "Qualys answered with a rate-limit response code",
                    });
                    tokio::time::sleep(wait).await;
                }
                Err(err @ QualysError::Server { .. })
                    if call.safety != Safety::Unsafe && retries < self.config.timeouts.max_retries =>
                {
                    retries += 1;
                    self.retry_after(call, attempt, retries, &err).await;
                }
                other => return other,
            }
        }
    }

    async fn send_once(&self, call: &Call, token: Option<&CachedToken>) -> Result<Reply, QualysError> {
        let mut req = self
            .http
            .request(call.method.clone(), call.url.clone())
            .header(ACCEPT, call.accept);
        let authorization = match token {
            Some(t) => auth::bearer_header(&t.value)
                .ok_or_else(|| QualysError::undecodable("gateway token contains characters not allowed in a header"))?,
            None => self.basic.clone(),
        };
        req = req.header(AUTHORIZATION, authorization);
        if let Some((body, content_type)) = &call.body {
            req = req.header(CONTENT_TYPE, *content_type).body(body.clone());
        }
        let resp = req.send().await.map_err(|e| transport_error(&e, !e.is_connect()))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| transport_error(&e, true))?.to_vec();
        Ok(Reply { status, headers, body })
    }

    async fn token(&self) -> Result<CachedToken, QualysError> {
        self.tokens.get_or_fetch(|| self.fetch_token()).await
    }

    /// `POST {gateway}/auth` (form: username, password, token=true) → 201 + raw JWT.
    async fn fetch_token(&self) -> Result<(super::secret::Secret, Duration), QualysError> {
        let url = join_url(&self.config.gateway_url, "/auth")?;
        let form = [
            ("username", self.config.username.as_str()),
            ("password", self.config.password.expose()),
            ("token", "true"),
        ];
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.progress(&Progress::Sending {
                family: Family::Gateway,
                operation: "auth.token",
                attempt,
            });
            let started = Instant::now();
            let sent = self.http.post(url.clone()).form(&form).send().await;
            let result = match sent {
                Err(e) => Err(transport_error(&e, !e.is_connect())),
                Ok(resp) => {
                    let status = resp.status();
                    match resp.text().await {
                        Err(e) => Err(transport_error(&e, true)),
                        Ok(body) if status.is_success() => token_from_body(&body),
                        Ok(body) => Err(match status.as_u16() {
                            401 | 403 => QualysError::Unauthorized {
                                message: format!("gateway refused the credentials (HTTP {})", status.as_u16()),
                            },
                            _ => http_error(Family::Gateway, status, body.as_bytes()),
                        }),
                    }
                }
            };
            let category = result.as_ref().map(|_| "ok").unwrap_or_else(|e| e.category());
            if let Some(o) = &self.observer {
                o.on_call(&CallRecord {
                    family: Family::Gateway,
                    operation: "auth.token",
                    outcome: category,
                    duration: started.elapsed(),
                    attempt,
                });
            }
            match result {
                Ok(token) => return Ok((token, self.config.timeouts.token_lifetime)),
                // Asking for a token has no side effect: any transient failure may be repeated.
                Err(e) if (e.is_retryable() || e.is_ambiguous()) && attempt <= self.config.timeouts.max_retries => {
                    let wait = self.backoff(attempt);
                    self.progress(&Progress::Retrying {
                        family: Family::Gateway,
                        operation: "auth.token",
                        attempt,
                        wait,
                        reason: &e.to_string(),
                    });
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn record(&self, call: &Call, outcome: &'static str, duration: Duration, attempt: u32) {
        tracing::debug!(
            family = call.family.as_str(),
            operation = call.operation,
            outcome,
            duration_ms = duration.as_millis() as u64,
            attempt,
            "qualys call"
        );
        if let Some(o) = &self.observer {
            o.on_call(&CallRecord {
                family: call.family,
                operation: call.operation,
                outcome,
                duration,
                attempt,
            });
        }
    }

    /// The governor's permit; a wait longer than a few seconds is reported
    /// once, with the governor's reason, so a paused run is not silent.
    async fn acquire(&self, call: &Call, deadline: Instant) -> Result<Permit<'_>, WaitTooLong> {
        const SLOW: Duration = Duration::from_secs(5);
        let priority = match call.safety {
            Safety::Read => super::share::read_priority(),
            _ => super::share::Priority::Write,
        };
        let acquire = self.governor.acquire(call.family, priority, deadline);
        tokio::pin!(acquire);
        tokio::select! {
            biased;
            permit = &mut acquire => return permit,
            () = tokio::time::sleep(SLOW) => {}
        }
        if let Some(reason) = self.governor.waiting_reason(call.family) {
            self.progress(&Progress::Queued {
                family: call.family,
                operation: call.operation,
                waited: SLOW,
                reason: &reason,
            });
        }
        acquire.await
    }

    fn progress(&self, event: &Progress<'_>) {
        if let Some(o) = &self.observer {
            o.on_progress(event);
        }
    }

    /// Reports the retry of a failed attempt, then waits out its backoff.
    async fn retry_after(&self, call: &Call, attempt: u32, retries: u32, err: &QualysError) {
        let wait = self.backoff(retries);
        self.progress(&Progress::Retrying {
            family: call.family,
            operation: call.operation,
            attempt,
            wait,
            reason: &err.to_string(),
        });
        tokio::time::sleep(wait).await;
    }

    /// Exponential backoff with jitter (50–100 % of the step), capped at 30 s.
    fn backoff(&self, retry: u32) -> Duration {
        let step = self
            .config
            .timeouts
            .retry_base
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1).min(10)));
        let step = step.min(Duration::from_secs(30));
        step.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

fn token_from_body(body: &str) -> Result<super::secret::Secret, QualysError> {
    let trimmed = body.trim();
    if trimmed.starts_with('{') {
        // Some deployments wrap the token in JSON.
        let v: Value = serde_json::from_str(trimmed).map_err(|_| QualysError::undecodable("gateway token response"))?;
        return lenient::field_any(&v, &["token", "access_token", "jwt"])
            .and_then(lenient::token)
            .map(super::secret::Secret::from)
            .ok_or_else(|| QualysError::undecodable("gateway token response without a token"));
    }
    let token = trimmed.trim_matches('"');
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(QualysError::undecodable(
            "gateway token response is empty or not a token",
        ));
    }
    Ok(super::secret::Secret::from(token))
}

fn transport_error(e: &reqwest::Error, request_sent: bool) -> QualysError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    QualysError::Transport {
        message,
        timeout: e.is_timeout(),
        request_sent,
    }
}

/// `Some(hint)` when the answer means "throttled, not executed".
fn throttle_hint(family: Family, reply: &Reply, rate: &RateHeaders) -> Option<Option<Duration>> {
    let status = reply.status.as_u16();
    let body_wait = if status >= 400 {
        run_again_wait(&reply.text())
    } else {
        None
    };
    let throttled = status == 429 || (status == 409 && family == Family::Qps) || body_wait.is_some();
    throttled.then(|| rate.to_wait.filter(|w| !w.is_zero()).or(body_wait))
}

/// Why an answer counts as a throttle, for people.
fn throttle_reason(reply: &Reply, rate: &RateHeaders) -> String {
    let status = reply.status.as_u16();
    match (rate.to_wait, run_again_wait(&reply.text())) {
        (Some(w), _) if !w.is_zero() => format!("HTTP {status}, X-RateLimit-ToWait-Sec {}", w.as_secs()),
        (_, Some(w)) => format!("HTTP {status}: \"run again for another {} seconds\"", w.as_secs()),
        _ if status == 409 => format!("HTTP {status}: concurrency limit reached"),
        _ => format!("HTTP {status}, no wait given"),
    }
}

/// "This API cannot be run again for another 23 seconds" → 23 s.
pub fn run_again_wait(body: &str) -> Option<Duration> {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let re = RE
        .get_or_init(|| regex::Regex::new(r"(?i)run again for another\s+(\d+)\s+sec").ok())
        .as_ref()?;
    let secs: u64 = re.captures(body)?.get(1)?.as_str().parse().ok()?;
    Some(Duration::from_secs(secs.max(1)))
}

/// The error a non-success HTTP answer stands for, with Qualys' message.
pub fn http_error(family: Family, status: StatusCode, body: &[u8]) -> QualysError {
    let text = String::from_utf8_lossy(body);
    let (code, message, field) = error_details(&text);
    let code_upper = code.as_deref().map(str::to_ascii_uppercase);
    let message = message.unwrap_or_else(|| {
        status
            .canonical_reason()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()))
    });
    match status.as_u16() {
        401 => QualysError::Unauthorized { message },
        403 => QualysError::Forbidden {
            licence_exhausted: mentions_licence(&message),
            message,
        },
        404 => QualysError::NotFound { message },
        409 => QualysError::Conflict { message },
        429 => QualysError::RateLimited {
            retry_after: run_again_wait(&text),
        },
        s if s >= 500 => QualysError::Server { status: s, message },
        s => {
            // A QPS envelope may say more precisely what happened than the status.
            if family == Family::Qps
                && let Some(c) = &code_upper
                && let Some(err) = response_code_error(c, Some(&message))
                && !matches!(err, QualysError::InvalidRequest { .. })
            {
                return err;
            }
            QualysError::InvalidRequest {
                code: code_upper.unwrap_or_else(|| format!("HTTP_{s}")),
                field: field.or_else(|| field_in_message(&message)),
                message,
            }
        }
    }
}

/// (code, message, field) from an error body of any shape.
fn error_details(text: &str) -> (Option<String>, Option<String>, Option<String>) {
    match sniff(text) {
        Sniffed::Empty => (None, None, None),
        Sniffed::Html => (None, Some(format!("HTML error page: {}", html_title(text))), None),
        Sniffed::Other => (None, Some(snippet(text)), None),
        Sniffed::Xml => match RawResponse::decode(text.as_bytes()) {
            Ok(raw) => (Some(raw.response_code), raw.message, None),
            Err(_) => (None, Some(snippet(text)), None),
        },
        Sniffed::Json => {
            if let Ok(raw) = RawResponse::decode(text.as_bytes()) {
                return (Some(raw.response_code), raw.message, None);
            }
            let Ok(v) = serde_json::from_str::<Value>(text) else {
                return (None, Some(snippet(text)), None);
            };
            let message = lenient::field_any(
                &v,
                &["message", "responseMessage", "errorMessage", "detail", "title", "error"],
            )
            .and_then(lenient::text)
            .or_else(|| {
                lenient::field(&v, "errors").and_then(|e| {
                    lenient::many(e).into_iter().find_map(|x| {
                        lenient::field_any(x, &["message", "defaultMessage"])
                            .and_then(lenient::text)
                            .or_else(|| lenient::text(x))
                    })
                })
            });
            let code = lenient::field_any(&v, &["responseCode", "errorCode", "code"]).and_then(lenient::token);
            let field = lenient::field_any(&v, &["field", "fieldName"])
                .and_then(lenient::token)
                .or_else(|| {
                    lenient::field(&v, "errors").and_then(|e| {
                        lenient::many(e)
                            .into_iter()
                            .find_map(|x| lenient::field_token(x, "field"))
                    })
                });
            (code, message, field)
        }
    }
}

/// `base` + `path`, tolerating a trailing slash on the base.
pub fn join_url(base: &str, path: &str) -> Result<Url, QualysError> {
    let joined = format!("{}{}", base.trim_end_matches('/'), path);
    Url::parse(&joined).map_err(|e| QualysError::Config {
        message: format!("bad URL {joined}: {e}"),
    })
}

/// Percent-encodes one path segment (ids come from users and from Qualys).
pub fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.trim().bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_again_phrase_is_a_wait() {
        assert_eq!(
            run_again_wait("This API cannot be run again for another 23 seconds."),
            Some(Duration::from_secs(23))
        );
        assert_eq!(run_again_wait("conflict: name exists"), None);
    }

    #[test]
    fn http_errors_map_by_status_with_qualys_message() {
        let e = http_error(
            Family::Gateway,
            StatusCode::FORBIDDEN,
            br#"{"message":"You have reached the maximum number of connectors allowed for your license."}"#,
        );
        assert!(
            matches!(
                e,
                QualysError::Forbidden {
                    licence_exhausted: true,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = http_error(
            Family::Gateway,
            StatusCode::CONFLICT,
            br#"{"responseCode":"CONFLICT","responseMessage":"exists"}"#,
        );
        assert_eq!(
            e,
            QualysError::Conflict {
                message: "exists".into()
            }
        );
        let e = http_error(
            Family::Qps,
            StatusCode::BAD_REQUEST,
            b"<html><head><title>Bad Request</title></head></html>",
        );
        assert!(
            matches!(&e, QualysError::InvalidRequest { message, .. } if message.contains("Bad Request")),
            "{e:?}"
        );
        let e = http_error(Family::Qps, StatusCode::BAD_GATEWAY, b"");
        assert_eq!(
            e,
            QualysError::Server {
                status: 502,
                message: "Bad Gateway".into()
            }
        );
        let e = http_error(
            Family::Qps,
            StatusCode::BAD_REQUEST,
            b"<ServiceResponse><responseCode>OBJECT_NOT_FOUND</responseCode><responseErrorDetails><errorMessage>gone</errorMessage></responseErrorDetails></ServiceResponse>",
        );
        assert_eq!(e, QualysError::NotFound { message: "gone".into() });
        let e = http_error(
            Family::Gateway,
            StatusCode::BAD_REQUEST,
            br#"{"errors":[{"field":"connectorPrefixName","message":"too long"}]}"#,
        );
        assert!(
            matches!(&e, QualysError::InvalidRequest { field: Some(f), message, .. } if f == "connectorPrefixName" && message == "too long"),
            "{e:?}"
        );
    }

    #[test]
    fn tokens_are_read_raw_or_wrapped() {
        assert_eq!(token_from_body("  abc.def.ghi\n").unwrap().expose(), "abc.def.ghi");
        assert_eq!(token_from_body(r#"{"token":"t1"}"#).unwrap().expose(), "t1");
        assert!(token_from_body("").is_err());
        assert!(token_from_body("<html> nope </html>").is_err());
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("123"), "123");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
        assert_eq!(join_url("https://h/", "/x").unwrap().as_str(), "https://h/x");
    }
}
