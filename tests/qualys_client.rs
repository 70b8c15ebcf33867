//! The Qualys client against a minimal local HTTP server: auth, token cache,
//! paging, the rate governor, throttle waits, and no blind retry of creates.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine;
use qualys_operator::qualys::qps::envelope::DecodedRequest;
use qualys_operator::qualys::{
    AccountConfig, CallObserver, CallRecord, CloudKind, CloudViewAuth, ConnectorWrite, Criteria, QpsFormat,
    QualysClient, QualysError, RateLimits, Timeouts,
};

const USER: &str = "api_user";
const PASSWORD: &str = "pw-SENTINEL-9f3c";

#[derive(Default)]
struct Server {
    calls: Mutex<HashMap<String, u32>>,
    auth_calls: AtomicU32,
    token_ttl_secs: AtomicU32,
    current_token: Mutex<String>,
    reject_next_bearer: AtomicU32,
    running: AtomicUsize,
    max_running: AtomicUsize,
    concurrency_violations: AtomicU32,
    window: Mutex<Option<(Instant, u32)>>,
    throttled: AtomicU32,
    bodies: Mutex<Vec<(String, String)>>,
}

impl Server {
    fn hit(&self, key: &str) -> u32 {
        let mut calls = self.calls.lock().unwrap();
        let n = calls.entry(key.to_owned()).or_default();
        *n += 1;
        *n
    }

    fn count(&self, key: &str) -> u32 {
        self.calls.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

type S = State<Arc<Server>>;

fn basic_ok(headers: &HeaderMap) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("json"))
}

fn qps_reply(headers: &HeaderMap, element: &str, objects: &[String], has_more: Option<bool>) -> Response {
    if wants_json(headers) {
        let data: Vec<String> = objects.iter().map(|o| format!("{{\"{element}\":{o}}}")).collect();
        let more = has_more
            .map(|m| format!(",\"hasMoreRecords\":\"{m}\""))
            .unwrap_or_default();
        let body = format!(
            "{{\"ServiceResponse\":{{\"responseCode\":\"SUCCESS\",\"count\":{}{more},\"data\":[{}]}}}}",
            objects.len(),
            data.join(",")
        );
        ([("content-type", "application/json")], body).into_response()
    } else {
        // XML objects are given as JSON too; render the few fields the tests use.
        let mut xml = String::new();
        for o in objects {
            let v: serde_json::Value = serde_json::from_str(o).unwrap();
            xml.push_str(&format!("<{element}>"));
            for (k, v) in v.as_object().unwrap() {
                let text = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
                xml.push_str(&format!("<{k}>{text}</{k}>"));
            }
            xml.push_str(&format!("</{element}>"));
        }
        let more = has_more
            .map(|m| format!("<hasMoreRecords>{m}</hasMoreRecords>"))
            .unwrap_or_default();
        let body = format!(
            "<?xml version=\"1.0\"?><ServiceResponse><responseCode>SUCCESS</responseCode><count>{}</count>{more}<data>{xml}</data></ServiceResponse>",
            objects.len()
        );
        ([("content-type", "text/xml")], body).into_response()
    }
}

async fn qps_get(State(s): S, Path((object, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    s.hit(&format!("get:{object}"));
    if !basic_ok(&headers) {
        return (StatusCode::UNAUTHORIZED, "<html><title>401 Unauthorized</title></html>").into_response();
    }
    if object == "gcpassetdataconnector" {
        // A read whose first answers are lost: the client may repeat it.
        if s.count("get:gcpassetdataconnector") <= 2 {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    if id == "404" {
        let body = "<ServiceResponse><responseCode>OBJECT_NOT_FOUND</responseCode><responseErrorDetails><errorMessage>Object with id 404 not found</errorMessage></responseErrorDetails></ServiceResponse>";
        return body.into_response();
    }
    let kind = CloudKind::ALL.into_iter().find(|k| k.object() == object).unwrap();
    let obj = format!(
        r#"{{"id":"{id}","name":"c-{id}","disabled":"false","type":"{}"}}"#,
        kind.type_name()
    );
    qps_reply(&headers, kind.element(), &[obj], None)
}

async fn qps_search_aws(State(s): S, headers: HeaderMap, body: String) -> Response {
    s.hit("search:aws");
    s.bodies.lock().unwrap().push(("search:aws".into(), body.clone()));
    let req = DecodedRequest::decode(&body).unwrap();
    let prefs = req.preferences.unwrap();
    let (offset, limit) = (prefs.start_from_offset.unwrap_or(1), prefs.limit_results.unwrap_or(100));
    let total = 250u64;
    let objects: Vec<String> = (offset..=total.min(offset + limit - 1))
        .map(|i| format!(r#"{{"id":{i},"name":"n{i}","allRegions":"true"}}"#))
        .collect();
    qps_reply(
        &headers,
        "AwsAssetDataConnector",
        &objects,
        Some(offset + limit - 1 < total),
    )
}

/// Concurrency 2 and 8 calls per 1-second window, enforced with 409 as QPS does.
async fn qps_search_azure(State(s): S, headers: HeaderMap) -> Response {
    s.hit("search:azure");
    let running = s.running.fetch_add(1, Ordering::SeqCst) + 1;
    s.max_running.fetch_max(running, Ordering::SeqCst);
    let limit_headers = |remaining: u32, wait: u64| {
        [
            ("X-RateLimit-Limit", "8".to_string()),
            ("X-RateLimit-Window-Sec", "1".to_string()),
            ("X-RateLimit-Remaining", remaining.to_string()),
            ("X-RateLimit-ToWait-Sec", wait.to_string()),
            ("X-Concurrency-Limit-Limit", "2".to_string()),
            ("X-Concurrency-Limit-Running", running.to_string()),
        ]
    };
    let response = if running > 2 {
        s.concurrency_violations.fetch_add(1, Ordering::SeqCst);
        s.throttled.fetch_add(1, Ordering::SeqCst);
        (StatusCode::CONFLICT, limit_headers(0, 1), "concurrency limit exceeded").into_response()
    } else {
        let verdict = {
            let mut w = s.window.lock().unwrap();
            let now = Instant::now();
            let (start, used) = match *w {
                Some((start, used)) if now.duration_since(start) < Duration::from_secs(1) => (start, used),
                _ => (now, 0),
            };
            if used >= 8 {
                *w = Some((start, used));
                Err(1)
            } else {
                *w = Some((start, used + 1));
                Ok(8 - (used + 1))
            }
        };
        match verdict {
            Err(wait) => {
                s.throttled.fetch_add(1, Ordering::SeqCst);
                (StatusCode::CONFLICT, limit_headers(0, wait), "rate limit exceeded").into_response()
            }
            Ok(remaining) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let mut resp = qps_reply(
                    &headers,
                    "AzureAssetDataConnector",
                    &[r#"{"id":1}"#.into()],
                    Some(false),
                );
                for (k, v) in limit_headers(remaining, 0) {
                    resp.headers_mut().insert(k, v.parse().unwrap());
                }
                resp
            }
        }
    };
    s.running.fetch_sub(1, Ordering::SeqCst);
    response
}

/// Stores the connector, then never answers in time.
async fn qps_create_aws(State(s): S) -> Response {
    s.hit("create:aws");
    tokio::time::sleep(Duration::from_secs(2)).await;
    "<ServiceResponse><responseCode>SUCCESS</responseCode></ServiceResponse>".into_response()
}

/// First call throttled with the wait only in the body, as QPS sometimes does.
async fn qps_run_aws(State(s): S, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if s.hit("run:aws") == 1 {
        return (
            StatusCode::CONFLICT,
            "This API cannot be run again for another 1 seconds",
        )
            .into_response();
    }
    qps_reply(
        &headers,
        "AwsAssetDataConnector",
        &[format!(r#"{{"id":"{id}"}}"#)],
        None,
    )
}

fn jwt(ttl: u64, serial: u32) -> String {
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + ttl;
    format!(
        "{}.{}.sig{serial}",
        e.encode(r#"{"alg":"HS256"}"#),
        e.encode(format!(r#"{{"exp":{exp}}}"#))
    )
}

async fn gateway_auth(State(s): S, body: String) -> Response {
    let n = s.auth_calls.fetch_add(1, Ordering::SeqCst) + 1;
    let form: HashMap<String, String> = url_decode_form(&body);
    if form.get("username").map(String::as_str) != Some(USER)
        || form.get("password").map(String::as_str) != Some(PASSWORD)
        || form.get("token").map(String::as_str) != Some("true")
    {
        return (StatusCode::UNAUTHORIZED, "bad credentials").into_response();
    }
    let token = jwt(u64::from(s.token_ttl_secs.load(Ordering::SeqCst)), n);
    *s.current_token.lock().unwrap() = token.clone();
    (StatusCode::CREATED, token).into_response()
}

fn url_decode_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let decode = |s: &str| {
                let s = s.replace('+', " ");
                let bytes = s.as_bytes();
                let mut out = Vec::new();
                let mut i = 0;
                while i < bytes.len() {
                    if bytes[i] == b'%' && i + 2 < bytes.len() {
                        out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                        i += 3;
                    } else {
                        out.push(bytes[i]);
                        i += 1;
                    }
                }
                String::from_utf8(out).unwrap()
            };
            (decode(k), decode(v))
        })
        .collect()
}

fn bearer_ok(s: &Server, headers: &HeaderMap) -> bool {
    let expected = format!("Bearer {}", s.current_token.lock().unwrap());
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

async fn org_get(State(s): S, Path(id): Path<String>, headers: HeaderMap) -> Response {
    s.hit("org:get");
    if s.reject_next_bearer.swap(0, Ordering::SeqCst) == 1 || !bearer_ok(&s, &headers) {
        return (StatusCode::UNAUTHORIZED, r#"{"message":"Unauthorized error"}"#).into_response();
    }
    axum::Json(
        serde_json::json!({"id": id.parse::<u64>().unwrap(), "name": "Azure Org", "state": "FINISHED_SUCCESS",
        "orgRunFrequency": {"hours": 1, "minutes": 0}, "isDisabled": false}),
    )
    .into_response()
}

async fn org_list(State(s): S, Query(q): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    s.hit("org:list");
    if !bearer_ok(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let page: u64 = q["pageNumber"].parse().unwrap();
    let size: u64 = q["pageSize"].parse().unwrap();
    let total = 130u64;
    let content: Vec<_> = (page * size..total.min((page + 1) * size))
        .map(|i| serde_json::json!({"id": i, "name": format!("org{i}"), "numberOfConnectorsAttached": 0}))
        .collect();
    let last = (page + 1) * size >= total;
    axum::Json(
        serde_json::json!({"currentPage": page, "content": content, "hasNext": !last, "last": last,
        "totalPages": total.div_ceil(size)}),
    )
    .into_response()
}

/// Gateway throttle: 429 with ToWait-Sec and empty rate headers.
async fn org_run(State(s): S, headers: HeaderMap, body: String) -> Response {
    let n = s.hit("org:run");
    assert!(bearer_ok(&s, &headers));
    s.bodies.lock().unwrap().push(("org:run".into(), body));
    if n == 1 {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [
                ("X-RateLimit-ToWait-Sec", "1"),
                ("X-RateLimit-Remaining", ""),
                ("X-RateLimit-Limit", ""),
            ],
            "",
        )
            .into_response();
    }
    "A total of 2 Organization connectors have been successfully marked for running.".into_response()
}

async fn org_status(State(s): S, Query(q): Query<HashMap<String, String>>, body: String) -> Response {
    s.bodies
        .lock()
        .unwrap()
        .push((format!("org:status:{}", q["action"]), body));
    axum::Json(serde_json::json!({"content": [{"id": 7, "isDisabled": q["action"] == "DISABLE", "runFrequency": "60"}], "last": true}))
        .into_response()
}

async fn cv_groups(State(s): S, Query(q): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    s.hit("cv:groups");
    if !bearer_ok(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let page: u64 = q["pageNo"].parse().unwrap();
    let content: Vec<_> = if page == 0 {
        (0..100)
            .map(|i| serde_json::json!({"name": format!("g{i}"), "uuid": format!("u{i}"), "connectors": []}))
            .collect()
    } else {
        vec![
            serde_json::json!({"name": "last", "uuid": "ulast", "connectors": [{"accountIdentifier": "123", "cloudType": "AWS"}]}),
        ]
    };
    axum::Json(serde_json::json!({"content": content, "last": page == 1, "totalPages": 2, "number": page}))
        .into_response()
}

async fn cv_membership(State(s): S, Query(q): Query<HashMap<String, String>>, body: String) -> Response {
    s.bodies
        .lock()
        .unwrap()
        .push((format!("cv:membership:{}", q["cloudType"]), body));
    StatusCode::NO_CONTENT.into_response()
}

async fn serve(state: Arc<Server>) -> String {
    let app = Router::new()
        .route("/qps/rest/3.0/get/am/{object}/{id}", get(qps_get))
        .route("/qps/rest/3.0/search/am/awsassetdataconnector", post(qps_search_aws))
        .route(
            "/qps/rest/3.0/search/am/azureassetdataconnector",
            post(qps_search_azure),
        )
        .route("/qps/rest/3.0/create/am/awsassetdataconnector", post(qps_create_aws))
        .route("/qps/rest/3.0/run/am/awsassetdataconnector/{id}", post(qps_run_aws))
        .route("/auth", post(gateway_auth))
        .route("/connectors/v1.0/org/azure/", get(org_list))
        .route("/connectors/v1.0/org/azure/run/", post(org_run))
        .route("/connectors/v1.0/org/azure/status/", put(org_status))
        .route("/connectors/v1.0/org/azure/{id}", get(org_get))
        .route("/cloudview-api/rest/v1/groups", get(cv_groups))
        .route("/cloudview-api/rest/v1/groups/connectors", post(cv_membership))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn config(base: &str) -> AccountConfig {
    let mut c = AccountConfig::new(base, base, USER, PASSWORD);
    c.timeouts = Timeouts {
        connect: Duration::from_secs(2),
        request: Duration::from_millis(500),
        max_rate_limit_wait: Duration::from_secs(20),
        max_retries: 2,
        retry_base: Duration::from_millis(10),
        token_lifetime: Duration::from_secs(3600),
    };
    c.limits = RateLimits {
        initial_concurrency: 2,
        max_concurrency: 8,
        fallback_wait: Duration::from_millis(200),
        max_fallback_wait: Duration::from_secs(2),
    };
    c
}

#[derive(Default)]
struct Recorder(Mutex<Vec<CallRecord>>);

impl CallObserver for Recorder {
    fn on_call(&self, record: &CallRecord) {
        self.0.lock().unwrap().push(record.clone());
    }
}

async fn setup() -> (Arc<Server>, QualysClient, Arc<Recorder>) {
    let state = Arc::new(Server::default());
    state.token_ttl_secs.store(3600, Ordering::SeqCst);
    let base = serve(state.clone()).await;
    let recorder = Arc::new(Recorder::default());
    let client = QualysClient::builder(config(&base))
        .observer(recorder.clone())
        .build()
        .unwrap();
    (state, client, recorder)
}

#[tokio::test]
async fn qps_basic_auth_both_formats_and_error_codes() {
    let (state, client, recorder) = setup().await;
    for format in [QpsFormat::Xml, QpsFormat::Json] {
        let c = client
            .with_qps_format(format)
            .get_connector(CloudKind::Aws, "42")
            .await
            .unwrap();
        assert_eq!(c.id.as_deref(), Some("42"), "{format:?}");
        assert_eq!(c.disabled, Some(false));
        let err = client
            .with_qps_format(format)
            .get_connector(CloudKind::Aws, "404")
            .await
            .unwrap_err();
        assert_eq!(err.category(), "not_found", "{err}");
        assert!(err.to_string().contains("Object with id 404"));
    }
    assert_eq!(
        state.count("get:awsassetdataconnector"),
        4,
        "no retries of definitive answers"
    );
    let records = recorder.0.lock().unwrap();
    assert_eq!(records.len(), 4);
    assert_eq!(
        (records[0].operation, records[0].outcome, records[0].family.as_str()),
        ("aws.get", "ok", "qps")
    );
    assert_eq!(records[1].outcome, "not_found");
}

#[tokio::test]
async fn wrong_password_is_unauthorized_and_never_leaks() {
    let state = Arc::new(Server::default());
    let base = serve(state.clone()).await;
    let mut c = config(&base);
    c.password = "wrong-SENTINEL-pw".into();
    let client = QualysClient::new(c).unwrap();
    let err = client.get_connector(CloudKind::Aws, "1").await.unwrap_err();
    assert_eq!(err.category(), "unauthorized");
    let gw_err = client.get_org_connector("7").await.unwrap_err();
    assert_eq!(gw_err.category(), "unauthorized");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:wrong-SENTINEL-pw"));
    for text in [
        format!("{err}"),
        format!("{err:?}"),
        format!("{gw_err}"),
        format!("{gw_err:?}"),
        format!("{client:?}"),
        format!("{:?}", client.config()),
    ] {
        assert!(!text.contains("SENTINEL"), "{text}");
        assert!(!text.contains(&basic), "{text}");
    }
    let good = QualysClient::new(config(&base)).unwrap();
    assert!(!format!("{good:?}").contains(PASSWORD));
}

#[tokio::test]
async fn search_pages_through_all_results() {
    let (state, client, _) = setup().await;
    for (format, calls) in [(QpsFormat::Xml, 3), (QpsFormat::Json, 6)] {
        let result = client
            .with_qps_format(format)
            .search_connectors(CloudKind::Aws, &[Criteria::equals("name", "x")])
            .await
            .unwrap();
        assert_eq!(result.items.len(), 250, "{format:?}");
        assert_eq!(result.pages, 3);
        assert_eq!(result.items[249].id.as_deref(), Some("250"));
        assert_eq!(result.items[0].all_regions, Some(true));
        assert_eq!(state.count("search:aws"), calls);
    }
    let bodies = state.bodies.lock().unwrap();
    let offsets: Vec<_> = bodies
        .iter()
        .map(|(_, b)| {
            DecodedRequest::decode(b)
                .unwrap()
                .preferences
                .unwrap()
                .start_from_offset
                .unwrap()
        })
        .collect();
    assert_eq!(offsets, [1, 101, 201, 1, 101, 201]);
    assert!(
        bodies
            .iter()
            .all(|(_, b)| DecodedRequest::decode(b).unwrap().filters == [Criteria::equals("name", "x")])
    );
}

#[tokio::test]
async fn governor_absorbs_a_burst_without_exposing_throttles() {
    let (state, client, recorder) = setup().await;
    let started = Instant::now();
    let calls = (0..20).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { c.search_connectors(CloudKind::Azure, &[]).await })
    });
    let results = futures::future::join_all(calls).await;
    for r in results {
        let page = r.unwrap().expect("no 409 reaches the caller");
        assert_eq!(page.items.len(), 1);
    }
    assert_eq!(
        state.concurrency_violations.load(Ordering::SeqCst),
        0,
        "never more than 2 in flight"
    );
    assert!(state.max_running.load(Ordering::SeqCst) <= 2);
    // 20 calls at 8 per second need at least two window refills.
    assert!(started.elapsed() >= Duration::from_secs(2), "{:?}", started.elapsed());
    let throttled = state.throttled.load(Ordering::SeqCst);
    assert!(
        throttled <= 6,
        "the governor paces itself; {throttled} throttled answers"
    );
    let records = recorder.0.lock().unwrap();
    assert_eq!(records.iter().filter(|r| r.outcome == "ok").count(), 20);
}

#[tokio::test]
async fn throttles_wait_for_the_announced_time() {
    let (state, client, recorder) = setup().await;
    // QPS 409 whose only hint is the body text.
    let started = Instant::now();
    let c = client.run_connector(CloudKind::Aws, "77").await.unwrap();
    assert_eq!(c.id.as_deref(), Some("77"));
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(
        state.count("run:aws"),
        2,
        "a throttled run was not executed, so it is repeated once"
    );

    // Gateway 429 with ToWait-Sec and empty rate headers.
    let started = Instant::now();
    let text = client.run_org_connectors(&["11".into(), "12".into()]).await.unwrap();
    assert!(text.contains("successfully marked"));
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(state.count("org:run"), 2);
    assert_eq!(state.bodies.lock().unwrap().last().unwrap().1, "[11,12]");
    let outcomes: Vec<_> = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|r| (r.operation, r.outcome))
        .collect();
    assert!(outcomes.contains(&("org.run", "rate_limited")) && outcomes.contains(&("org.run", "ok")));
}

#[tokio::test]
async fn throttle_longer_than_the_budget_surfaces_rate_limited() {
    let state = Arc::new(Server::default());
    let base = serve(state.clone()).await;
    let mut c = config(&base);
    c.timeouts.max_rate_limit_wait = Duration::from_millis(300);
    let client = QualysClient::new(c).unwrap();
    let err = client.run_connector(CloudKind::Aws, "1").await.unwrap_err();
    assert_eq!(
        err,
        QualysError::RateLimited {
            retry_after: Some(Duration::from_secs(1))
        }
    );
    assert!(err.is_retryable());
    assert_eq!(state.count("run:aws"), 1);
}

#[tokio::test]
async fn gateway_token_is_cached_refreshed_and_renewed_on_401() {
    let (state, client, _) = setup().await;
    let org = client.get_org_connector("7").await.unwrap();
    assert_eq!(org.id.as_deref(), Some("7"));
    assert_eq!(org.disabled, Some(false));
    client.get_org_connector("7").await.unwrap();
    client.list_org_connectors(None).await.unwrap();
    assert_eq!(state.auth_calls.load(Ordering::SeqCst), 1, "one token for many calls");

    // A refused token is replaced once, transparently.
    state.reject_next_bearer.store(1, Ordering::SeqCst);
    client.get_org_connector("7").await.unwrap();
    assert_eq!(state.auth_calls.load(Ordering::SeqCst), 2);

    // A token whose exp is near is renewed before use.
    state.token_ttl_secs.store(2, Ordering::SeqCst);
    state.reject_next_bearer.store(1, Ordering::SeqCst);
    client.get_org_connector("7").await.unwrap();
    assert_eq!(state.auth_calls.load(Ordering::SeqCst), 3);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    client.get_org_connector("7").await.unwrap();
    assert_eq!(state.auth_calls.load(Ordering::SeqCst), 4, "expired token refreshed");
}

#[tokio::test]
async fn gateway_and_cloudview_paging() {
    let (state, client, _) = setup().await;
    let orgs = client.list_org_connectors(Some("name:org")).await.unwrap();
    assert_eq!((orgs.items.len(), orgs.pages), (130, 2));
    assert_eq!(orgs.items[129].name.as_deref(), Some("org129"));
    let views = client.set_org_connectors_enabled(&["7".into()], false).await.unwrap();
    assert_eq!(views[0].disabled, Some(true));
    assert_eq!(
        state.bodies.lock().unwrap().last().unwrap(),
        &("org:status:DISABLE".to_string(), "[7]".to_string())
    );

    let mut cfg = client.config().clone();
    cfg.cloudview_auth = CloudViewAuth::Bearer;
    let cv = QualysClient::new(cfg).unwrap();
    let groups = cv.list_groups().await.unwrap();
    assert_eq!((groups.items.len(), groups.pages), (101, 2));
    assert_eq!(
        groups.items[100].connectors[0].account_identifier.as_deref(),
        Some("123")
    );
    cv.update_group_membership(CloudKind::Gcp, &["gcp-demo".into()], &["g1".into()], &[])
        .await
        .unwrap();
    let (key, body) = state.bodies.lock().unwrap().last().unwrap().clone();
    assert_eq!(key, "cv:membership:GCP");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"accountIdentifiers": ["gcp-demo"], "add": {"groupIds": ["g1"]}, "remove": {"groupIds": []}})
    );
    assert!(cv.update_group_membership(CloudKind::Oci, &[], &[], &[]).await.is_err());
}

#[tokio::test]
async fn create_whose_answer_is_lost_is_not_retried() {
    let (state, client, _) = setup().await;
    let write = ConnectorWrite {
        name: Some("n".into()),
        ..ConnectorWrite::default()
    };
    let err = client.create_connector(CloudKind::Aws, &write).await.unwrap_err();
    assert!(
        matches!(
            err,
            QualysError::Transport {
                timeout: true,
                request_sent: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_ambiguous() && !err.is_retryable());
    assert_eq!(err.category(), "timeout");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(state.count("create:aws"), 1, "exactly one create reached the server");

    // The same fault on a read is retried (and here recovers on the third try).
    let c = client.get_connector(CloudKind::Gcp, "5").await.unwrap();
    assert_eq!(c.id.as_deref(), Some("5"));
    assert_eq!(state.count("get:gcpassetdataconnector"), 3);
}

#[tokio::test]
async fn create_on_a_dropped_connection_is_ambiguous_and_sent_once() {
    // A raw server that reads the request, counts it, and hangs up without answering.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicU32::new(0));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                loop {
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                seen.fetch_add(1, Ordering::SeqCst);
                drop(sock);
            });
        }
    });
    let base = format!("http://{addr}");
    let client = QualysClient::new(config(&base)).unwrap();
    let write = ConnectorWrite {
        name: Some("n".into()),
        ..ConnectorWrite::default()
    };
    let err = client.create_connector(CloudKind::Azure, &write).await.unwrap_err();
    assert!(err.is_ambiguous(), "{err:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    let err = client.delete_connector(CloudKind::Azure, "9").await.unwrap_err();
    assert!(err.is_ambiguous(), "{err:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(seen.load(Ordering::SeqCst), 2, "delete sent once too");
}
