//! The listener and the request pipeline shared by the three API families:
//! authenticate → rate limit → faults → handler → headers and counters.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use tokio::sync::watch;

use super::auth::{self, TokenIssuer};
use super::clock::Clock;
use super::config::{SimConfig, UserSpec};
use super::counters::{self, Counters};
use super::error::SimError;
use super::faults::{FaultAction, Faults, LossMode};
use super::http;
use super::qps::codec::{self, Format, QpsError};
use super::qps::{self, Call, Env};
use super::ratelimit::{Decision, RateHeaders, RateLimiter};
use super::state::World;
use super::{admin, cloudview, gateway};

/// Mutable simulator state, behind one lock (every operation is short and never awaits).
pub struct Inner {
    pub world: World,
    pub faults: Faults,
    pub counters: Counters,
    pub rate: RateLimiter,
}

pub struct Shared {
    pub config: SimConfig,
    pub users: Vec<UserSpec>,
    pub clock: Clock,
    pub tokens: TokenIssuer,
    inner: Mutex<Inner>,
    shutdown: watch::Receiver<bool>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn step_ms(&self) -> i64 {
        i64::try_from(self.config.state_step.as_millis()).unwrap_or(i64::MAX / 4)
    }

    pub fn job_ms(&self) -> i64 {
        i64::try_from(self.config.job_delay.as_millis()).unwrap_or(i64::MAX / 4)
    }

    pub fn user(&self, name: &str) -> Option<&UserSpec> {
        self.users.iter().find(|u| u.name == name)
    }

    /// Resolves when the simulator shuts down.
    pub async fn stopped(&self) {
        let mut rx = self.shutdown.clone();
        while !*rx.borrow() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Sleeps, unless the simulator stops first.
    async fn sleep(&self, ms: u64) {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
            _ = self.stopped() => {}
        }
    }

    fn fresh_world(&self) -> World {
        let mut world = World::new();
        for u in &self.users {
            world.tenant(u.tenant());
        }
        world
    }
}

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    pub(crate) shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Binds `config.listen` (port 0 = any free port) and serves in the background on
    /// the current tokio runtime.
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        let addr = config.listen;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        let (stop, shutdown) = watch::channel(false);
        let mut faults = Faults::new(config.seed);
        for rule in &config.faults {
            faults.add(rule.clone());
        }
        let users = config.effective_users();
        let shared = Arc::new(Shared {
            users,
            clock: Clock::default(),
            tokens: TokenIssuer::new(),
            inner: Mutex::new(Inner {
                world: World::new(),
                faults,
                counters: Counters::default(),
                rate: RateLimiter::new(config.rate_limit.clone()),
            }),
            shutdown,
            config,
        });
        shared.lock().world = shared.fresh_world();
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        let stopping = shared.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopping.stopped().await })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "simulator server failed");
            }
        });
        tracing::info!(address = %bound, "Qualys simulator listening");
        Ok(SimHandle {
            shared,
            addr: bound,
            stop,
            task: Some(task),
        })
    }
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` — the API server, gateway and CloudView base URL alike.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn users(&self) -> &[UserSpec] {
        &self.shared.users
    }

    /// Stops serving and waits for the server task (hanging requests are released).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Qps,
    Gateway,
    CloudView,
    Auth,
}

impl Family {
    /// The API whose concurrent calls Qualys counts together.
    fn api(self) -> &'static str {
        match self {
            Family::Qps => "qps",
            Family::Gateway => "gateway",
            Family::CloudView => "cloudview",
            Family::Auth => "auth",
        }
    }

    fn of(path: &str) -> Option<Self> {
        if path.starts_with("/qps/") || path.starts_with("/r/qps/") {
            Some(Family::Qps)
        } else if path.starts_with("/connectors/") || path.starts_with("/conn/") {
            Some(Family::Gateway)
        } else if path.starts_with("/cloudview-api/") {
            Some(Family::CloudView)
        } else if path.trim_end_matches('/') == "/auth" {
            Some(Family::Auth)
        } else {
            None
        }
    }
}

/// Everything a family handler needs from the request.
pub struct Incoming {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn qps_format(&self) -> Format {
        Format::from_accept(self.header("accept"))
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = http::urlencoded(req.uri().query().unwrap_or(""));
    let headers = req.headers().clone();
    let body = match axum::body::to_bytes(req.into_body(), shared.config.max_body_bytes).await {
        Ok(body) => body,
        Err(_) => return http::text(413, "request body too large"),
    };
    let incoming = Incoming {
        method,
        path,
        query,
        headers,
        body,
    };
    if incoming.path.starts_with("/_sim/") || incoming.path == "/_sim" {
        return admin::http(&shared, &incoming);
    }
    let route = counters::route(&incoming.path);
    let response = process(&shared, &incoming, &route).await;
    tracing::debug!(method = %incoming.method, path = %incoming.path, status = response.status().as_u16(), "request");
    shared
        .lock()
        .counters
        .record(&incoming.method, &route, response.status().as_u16());
    response
}

fn unauthorized(family: Family, incoming: &Incoming, message: &str) -> Response {
    match family {
        Family::Qps => {
            let err = QpsError {
                status: 401,
                code: "INVALID_CREDENTIALS",
                message: message.to_string(),
            };
            let fmt = incoming.qps_format();
            let mut response = http::respond(401, fmt.content_type(), codec::render_error(&err, fmt));
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Qualys\""),
            );
            response
        }
        Family::Gateway => gateway::error(401, "UNAUTHORIZED", message),
        Family::CloudView | Family::Auth => cloudview::error(401, &incoming.path, message),
    }
}

/// Who is calling, per the family's authentication scheme.
fn authenticate<'a>(shared: &'a Shared, family: Family, incoming: &Incoming) -> Result<&'a UserSpec, String> {
    let authorization = incoming.header("authorization");
    let basic_user = || -> Result<&'a UserSpec, String> {
        let (name, password) = match authorization.and_then(auth::basic) {
            Some(pair) => pair,
            // QPS JSON samples pass `user:` / `password:` headers instead (Q-HDR-2).
            None => match (incoming.header("user"), incoming.header("password")) {
                (Some(u), Some(p)) if family == Family::Qps => (u.to_string(), p.to_string()),
                _ => return Err("authentication required".into()),
            },
        };
        auth::check_password(&shared.users, &name, &password).ok_or_else(|| "invalid username or password".into())
    };
    let bearer_user = |token: &str| -> Result<&'a UserSpec, String> {
        let name = shared
            .tokens
            .verify(token, shared.clock.now())
            .map_err(str::to_string)?;
        shared.user(&name).ok_or_else(|| "unknown user".into())
    };
    match family {
        Family::Qps => basic_user(),
        Family::Gateway => match authorization.and_then(auth::bearer) {
            Some(token) => bearer_user(token),
            None => Err("a Bearer token from POST /auth is required".into()),
        },
        Family::CloudView => match authorization.and_then(auth::bearer) {
            Some(token) => bearer_user(token),
            None => basic_user(),
        },
        Family::Auth => Err("no authentication on /auth".into()),
    }
}

fn rate_rejection(
    shared: &Shared,
    family: Family,
    incoming: &Incoming,
    headers: RateHeaders,
    concurrency: bool,
) -> Response {
    let message = if concurrency {
        format!(
            "Concurrency limit of {} calls exceeded; retry later",
            headers.concurrency_limit
        )
    } else {
        format!(
            "This API cannot be run again for another {} seconds.",
            headers.to_wait_sec
        )
    };
    let mut response = match family {
        Family::Qps => {
            let fmt = incoming.qps_format();
            http::respond(
                409,
                fmt.content_type(),
                codec::render_error_parts("RATE_LIMIT_EXCEEDED", &message, fmt),
            )
        }
        Family::Gateway => gateway::error(429, "TOO_MANY_REQUESTS", &message),
        Family::CloudView | Family::Auth => cloudview::error(429, &incoming.path, &message),
    };
    let empty = family == Family::Gateway && shared.lock().rate.config.gateway_empty_headers;
    headers.apply(response.headers_mut(), empty);
    response
}

/// Gives the concurrency slot back however the request ends.
struct Slot<'a> {
    shared: &'a Shared,
    user: String,
    api: &'static str,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.shared.lock().rate.release(&self.user, self.api);
    }
}

async fn process(shared: &Shared, incoming: &Incoming, route: &str) -> Response {
    let Some(family) = Family::of(&incoming.path) else {
        return http::text(404, format!("no such endpoint: {} {}", incoming.method, incoming.path));
    };
    let user = if family == Family::Auth {
        None
    } else {
        match authenticate(shared, family, incoming) {
            Ok(user) => Some(user),
            Err(message) => return unauthorized(family, incoming, &message),
        }
    };
    let mut slot = None;
    let mut rate_headers = None;
    if let Some(user) = user {
        let decision = shared.lock().rate.admit(&user.name, family.api(), shared.clock.now());
        match decision {
            Decision::Admitted(headers) => {
                slot = Some(Slot {
                    shared,
                    user: user.name.clone(),
                    api: family.api(),
                });
                rate_headers = Some(headers);
            }
            Decision::Rejected { headers, concurrency } => {
                return rate_rejection(shared, family, incoming, headers, concurrency);
            }
        }
    }
    let selected = shared
        .lock()
        .faults
        .select(&incoming.method, route, user.map(|u| u.name.as_str()));
    if selected.latency_ms > 0 {
        shared.sleep(selected.latency_ms).await;
    }
    let mut response = match selected.action {
        None => dispatch(shared, family, user, incoming),
        Some(FaultAction::CommitThenFail { mode }) => {
            let _committed = dispatch(shared, family, user, incoming);
            tracing::info!(path = %incoming.path, "fault: response lost after commit");
            match mode {
                LossMode::Drop => broken_body(),
                LossMode::Hang => {
                    shared.stopped().await;
                    http::text(503, "simulator stopped")
                }
            }
        }
        Some(action) => {
            if let (FaultAction::RateLimited, Some(headers)) = (&action, rate_headers) {
                let mut headers = headers;
                headers.to_wait_sec = headers.to_wait_sec.max(1);
                return rate_rejection(shared, family, incoming, headers, false);
            }
            fault_response(shared, family, incoming, &action).await
        }
    };
    drop(slot.take());
    if let Some(headers) = rate_headers {
        let empty = family == Family::Gateway && shared.lock().rate.config.gateway_empty_headers;
        headers.apply(response.headers_mut(), empty);
    }
    response
}

fn dispatch(shared: &Shared, family: Family, user: Option<&UserSpec>, incoming: &Incoming) -> Response {
    match (family, user) {
        (Family::Auth, _) => login(shared, incoming),
        (Family::Qps, Some(user)) => qps_http(shared, user, incoming),
        (Family::Gateway, Some(user)) => gateway::http(shared, user, incoming),
        (Family::CloudView, Some(user)) => cloudview::http(shared, user, incoming),
        (_, None) => http::text(401, "authentication required"),
    }
}

/// `POST /auth` with form fields `username`, `password`, `token=true` → 201 and the raw JWT.
fn login(shared: &Shared, incoming: &Incoming) -> Response {
    if incoming.method != "POST" {
        return http::text(405, "use POST");
    }
    let form = http::urlencoded(&String::from_utf8_lossy(&incoming.body));
    let (Some(name), Some(password)) = (form.get("username"), form.get("password")) else {
        return http::text(400, "username and password form fields are required");
    };
    if form.get("token").map(String::as_str) != Some("true") {
        return http::text(400, "token=true is required");
    }
    if auth::check_password(&shared.users, name, password).is_none() {
        return http::text(401, "Bad credentials");
    }
    let ttl = i64::try_from(shared.config.token_ttl.as_millis()).unwrap_or(i64::MAX / 4);
    http::respond(
        201,
        "text/plain; charset=UTF-8",
        shared.tokens.issue(name, shared.clock.now(), ttl),
    )
}

fn qps_http(shared: &Shared, user: &UserSpec, incoming: &Incoming) -> Response {
    let fmt = incoming.qps_format();
    let result = (|| {
        if !matches!(incoming.method.as_str(), "GET" | "POST" | "PUT") {
            return Err(QpsError {
                status: 405,
                code: "INVALID_REQUEST",
                message: "use GET or POST".into(),
            });
        }
        let route = qps::route(&incoming.path).ok_or_else(|| QpsError {
            status: 404,
            code: "INVALID_REQUEST",
            message: "unknown QPS API".into(),
        })?;
        match route {
            qps::Route::Version => Ok(qps::version()),
            qps::Route::Op { action, object, id } => {
                let call = Call {
                    action: action.to_ascii_lowercase(),
                    object,
                    id: qps::parse_id(id.as_deref())?,
                    body: &incoming.body,
                    fmt,
                    fields: incoming
                        .query
                        .get("fields")
                        .map(|f| {
                            f.split(',')
                                .map(|s| s.trim().to_string())
                                .filter(|s| !s.is_empty())
                                .collect()
                        })
                        .unwrap_or_default(),
                };
                let env = Env {
                    cfg: &shared.config,
                    now: shared.clock.now(),
                    step_ms: shared.step_ms(),
                };
                let mut inner = shared.lock();
                qps::handle(&mut inner.world, user.tenant(), &call, &env)
            }
        }
    })();
    match result {
        Ok(envelope) => http::respond(200, fmt.content_type(), codec::render_success(&envelope, fmt)),
        Err(err) => http::respond(err.status, fmt.content_type(), codec::render_error(&err, fmt)),
    }
}

/// A response whose body fails mid-stream, so the connection breaks before the client
/// has the answer.
fn broken_body() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "simulated loss",
        ))
    });
    http::respond(200, "application/xml", Body::from_stream(stream))
}

async fn fault_response(shared: &Shared, family: Family, incoming: &Incoming, action: &FaultAction) -> Response {
    let fmt = incoming.qps_format();
    match action {
        FaultAction::Status { status, body } => match (body, family) {
            (Some(body), _) => http::text(*status, body.clone()),
            (None, Family::Qps) => http::respond(
                *status,
                fmt.content_type(),
                codec::render_error_parts("INTERNAL_ERROR", "Simulated server error", fmt),
            ),
            (None, Family::Gateway) => gateway::error(*status, "INTERNAL_SERVER_ERROR", "Simulated server error"),
            (None, _) => cloudview::error(*status, &incoming.path, "Simulated server error"),
        },
        FaultAction::Hang => {
            shared.stopped().await;
            http::text(503, "simulator stopped")
        }
        FaultAction::Malformed => match (family, fmt) {
            (Family::Qps, Format::Xml) => http::respond(
                200,
                "application/xml",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ServiceResponse><responseCode>SUCCESS</responseCode><count>1</count><data><",
            ),
            (Family::Qps, Format::Json) => http::respond(
                200,
                "application/json",
                r#"{"ServiceResponse": {"responseCode": "SUCCESS", "count": 1, "data": [{""#,
            ),
            (Family::Auth, _) => http::respond(201, "text/plain", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOi"),
            _ => http::respond(200, "application/json", r#"{"content": [{"id": 12"#),
        },
        FaultAction::Html { status } => http::respond(
            *status,
            "text/html; charset=UTF-8",
            format!(
                "<!DOCTYPE html>\n<html><head><title>{status} Service Unavailable</title></head>\
                 <body><h1>Service Unavailable</h1><p>The Qualys platform is temporarily unavailable. \
                 Please try again later.</p><hr><address>Qualys</address></body></html>\n"
            ),
        ),
        FaultAction::ErrorCode { code, status } => match family {
            Family::Qps => http::respond(
                *status,
                fmt.content_type(),
                codec::render_error_parts(code, "Simulated error response", fmt),
            ),
            Family::Gateway => gateway::error(*status, code, "Simulated error response"),
            _ => cloudview::error(*status, &incoming.path, code),
        },
        FaultAction::LicenceExhausted => match family {
            Family::Qps => {
                let err = QpsError::licence();
                http::respond(err.status, fmt.content_type(), codec::render_error(&err, fmt))
            }
            Family::Gateway => gateway::licence_error(),
            _ => cloudview::error(403, &incoming.path, &QpsError::licence().message),
        },
        // Handled before (they need the request context).
        FaultAction::Latency { .. } | FaultAction::CommitThenFail { .. } | FaultAction::RateLimited => {
            dispatch_fallback(family)
        }
    }
}

fn dispatch_fallback(family: Family) -> Response {
    tracing::warn!(?family, "fault action without a response");
    http::text(500, "simulated fault")
}
