//! The write fence: a check every call that can change Qualys passes right
//! before it is sent. The controller's leader election implements it, so a
//! replica that lost (or cannot confirm) its lease stops writing at once,
//! even with reconciles of its old term still running.

/// Whether this process may change Qualys now.
pub trait WriteFence: Send + Sync {
    /// `Err` says why not; the call is then refused without being sent.
    fn check(&self) -> Result<(), String>;
}
