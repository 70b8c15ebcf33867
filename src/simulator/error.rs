//! Errors of the simulator's own API (start-up, admin operations).

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl SimError {
    pub fn status(&self) -> u16 {
        match self {
            SimError::Bind { .. } => 500,
            SimError::NotFound(_) => 404,
            SimError::BadRequest(_) => 400,
        }
    }
}
