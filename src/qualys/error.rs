//! The one error type of the client, with a stable category per variant.

use std::time::Duration;

/// What went wrong talking to Qualys. Messages carry Qualys' own words where it
/// gave any, and never a credential.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QualysError {
    /// The rate budget stayed exhausted longer than this call may wait.
    #[error("rate limited by Qualys{}", retry_after.map(|d| format!("; retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },

    /// Bad credentials, expired token, or (gateway) Azure credentials refused by the cloud.
    #[error("unauthorized: {message}")]
    Unauthorized { message: String },

    /// The user lacks a permission, or the licence's connector count is used up.
    #[error("forbidden: {message}")]
    Forbidden { message: String, licence_exhausted: bool },

    /// The object does not exist *for this user*: it may be outside the
    /// caller's scope rather than deleted, so never re-create on this alone.
    #[error("not found (or outside the caller's scope): {message}")]
    NotFound { message: String },

    /// Qualys refused the request as invalid.
    #[error("invalid request{}: {message}", field.as_ref().map(|f| format!(" (field {f})")).unwrap_or_default())]
    InvalidRequest {
        code: String,
        field: Option<String>,
        message: String,
    },

    /// The object already exists.
    #[error("conflict: {message}")]
    Conflict { message: String },

    /// Qualys failed internally.
    #[error("Qualys server error (HTTP {status}): {message}")]
    Server { status: u16, message: String },

    /// No usable HTTP answer. `request_sent` is true when the request may have
    /// reached Qualys (a timeout or reset after sending), so a create or delete
    /// may or may not have happened.
    #[error("{}: {message}", if *timeout { "timeout" } else { "transport error" })]
    Transport {
        message: String,
        timeout: bool,
        request_sent: bool,
    },

    /// Qualys answered something this client cannot read.
    #[error("undecodable response: {message}")]
    Undecodable { message: String },

    /// The account configuration cannot be used.
    #[error("invalid client configuration: {message}")]
    Config { message: String },

    /// A write refused before it was sent: this process may not change
    /// Qualys now (it is not, or no longer surely, the leader).
    #[error("write not sent: {message}")]
    Fenced { message: String },
}

impl QualysError {
    /// Stable, low-cardinality name for metric labels and Event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::Unauthorized { .. } => "unauthorized",
            Self::Forbidden {
                licence_exhausted: true,
                ..
            } => "licence_exhausted",
            Self::Forbidden { .. } => "forbidden",
            Self::NotFound { .. } => "not_found",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::Conflict { .. } => "conflict",
            Self::Server { .. } => "server_error",
            Self::Transport { timeout: true, .. } => "timeout",
            Self::Transport { .. } => "transport",
            Self::Undecodable { .. } => "undecodable",
            Self::Config { .. } => "config",
            Self::Fenced { .. } => "fenced",
        }
    }

    /// Repeating the very same call later is safe whatever the call was: the
    /// failure is temporary and Qualys did not (or cannot have) executed it
    /// ambiguously. An ambiguous transport failure is *not* retryable: observe
    /// first, then decide.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Server { .. } => true,
            Self::Transport { request_sent, .. } => !request_sent,
            _ => false,
        }
    }

    /// The request may have been executed although no answer arrived.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, Self::Transport { request_sent: true, .. })
    }

    /// How long Qualys asked us to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn undecodable(message: impl Into<String>) -> Self {
        Self::Undecodable {
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_stable_and_retry_rules_hold() {
        let cases: Vec<(QualysError, &str, bool)> = vec![
            (
                QualysError::RateLimited {
                    retry_after: Some(Duration::from_secs(3)),
                },
                "rate_limited",
                true,
            ),
            (QualysError::Unauthorized { message: "x".into() }, "unauthorized", false),
            (
                QualysError::Forbidden {
                    message: "x".into(),
                    licence_exhausted: true,
                },
                "licence_exhausted",
                false,
            ),
            (
                QualysError::Forbidden {
                    message: "x".into(),
                    licence_exhausted: false,
                },
                "forbidden",
                false,
            ),
            (QualysError::NotFound { message: "x".into() }, "not_found", false),
            (
                QualysError::InvalidRequest {
                    code: "INVALID_REQUEST".into(),
                    field: None,
                    message: "x".into(),
                },
                "invalid_request",
                false,
            ),
            (QualysError::Conflict { message: "x".into() }, "conflict", false),
            (
                QualysError::Server {
                    status: 500,
                    message: "x".into(),
                },
                "server_error",
                true,
            ),
            (
                QualysError::Transport {
                    message: "x".into(),
                    timeout: true,
                    request_sent: true,
                },
                "timeout",
                false,
            ),
            (
                QualysError::Transport {
                    message: "x".into(),
                    timeout: false,
                    request_sent: false,
                },
                "transport",
                true,
            ),
            (QualysError::undecodable("x"), "undecodable", false),
        ];
        for (err, category, retryable) in cases {
            assert_eq!(err.category(), category, "{err}");
            assert_eq!(err.is_retryable(), retryable, "{err}");
        }
        let e = QualysError::InvalidRequest {
            code: "C".into(),
            field: Some("name".into()),
            message: "too long".into(),
        };
        assert_eq!(e.to_string(), "invalid request (field name): too long");
    }
}
