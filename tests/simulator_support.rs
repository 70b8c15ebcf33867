//! Shared helpers of the simulator tests (included with `#[path]`); drives the simulator
//! with raw HTTP, never through the project's Qualys client.
#![allow(dead_code)]

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

pub use qualys_operator::simulator::*;

pub fn fixture(name: &str) -> String {
    let path = format!("{}/src/simulator/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub async fn start() -> SimHandle {
    start_with(SimConfig::default()).await
}

pub async fn start_with(config: SimConfig) -> SimHandle {
    Simulator::start(config).await.unwrap_or_else(|e| panic!("start: {e}"))
}

/// A raw HTTP client logged in as one user.
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub user: String,
    pub password: String,
}

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// First text of `<tag>` in an XML body.
    pub fn xml(&self, tag: &str) -> Option<String> {
        xml_values(&self.body, tag).into_iter().next()
    }
}

pub fn xml_values(body: &str, tag: &str) -> Vec<String> {
    let re = regex::Regex::new(&format!("<{tag}>([^<]*)</{tag}>")).unwrap_or_else(|e| panic!("{e}"));
    re.captures_iter(body).map(|c| c[1].to_string()).collect()
}

impl Api {
    pub fn new(sim: &SimHandle) -> Self {
        Self::as_user(sim, "demo", "demo")
    }

    pub fn as_user(sim: &SimHandle, user: &str, password: &str) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|e| panic!("client: {e}"));
        Self {
            base: sim.base_url(),
            http,
            user: user.into(),
            password: password.into(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let resp = req.send().await.unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap_or_else(|e| panic!("body: {e}"));
        Reply { status, headers, body }
    }

    /// A QPS call with Basic auth; `json` selects `Accept: application/json`.
    pub async fn qps(&self, method: &str, path: &str, body: Option<&str>, json: bool) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.password))
            // The docs' samples send text/xml even with JSON bodies; the simulator sniffs.
            .header("Content-Type", "text/xml");
        if json {
            req = req.header("Accept", "application/json");
        }
        if let Some(body) = body {
            req = req.body(body.to_string());
        }
        self.send(req).await
    }

    pub async fn qps_xml(&self, action: &str, object: &str, id: Option<u64>, body: Option<&str>) -> Reply {
        let path = qps_path(action, object, id);
        let method = if action == "get" { "GET" } else { "POST" };
        self.qps(method, &path, body, false).await
    }

    pub async fn qps_json(&self, action: &str, object: &str, id: Option<u64>, body: Option<&str>) -> (u16, Value) {
        let path = qps_path(action, object, id);
        let method = if action == "get" { "GET" } else { "POST" };
        let reply = self.qps(method, &path, body, true).await;
        (reply.status, reply.json())
    }

    pub async fn login(&self) -> Reply {
        let form = [
            ("username", self.user.as_str()),
            ("password", self.password.as_str()),
            ("token", "true"),
        ];
        self.send(self.http.post(format!("{}/auth", self.base)).form(&form))
            .await
    }

    pub async fn token(&self) -> String {
        let reply = self.login().await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body
    }

    pub async fn bearer(&self, token: &str, method: &str, path: &str, body: Option<&str>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        if let Some(body) = body {
            req = req.body(body.to_string());
        }
        self.send(req).await
    }

    pub async fn basic(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.password))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        if let Some(body) = body {
            req = req.body(body.to_string());
        }
        self.send(req).await
    }

    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.body(body.to_string());
        }
        self.send(req).await
    }
}

pub fn qps_path(action: &str, object: &str, id: Option<u64>) -> String {
    match id {
        Some(id) => format!("/qps/rest/3.0/{action}/am/{object}/{id}"),
        None => format!("/qps/rest/3.0/{action}/am/{object}"),
    }
}

/// The object of a QPS JSON response with one object in the `data` array.
pub fn first(v: &Value, element: &str) -> Value {
    let data = &v["ServiceResponse"]["data"];
    let item = if data.is_array() {
        &data[0][element]
    } else {
        &data[element]
    };
    item.clone()
}

/// A QPS id as the simulator writes it (number, or string for OCI / AWS create).
pub fn id_of(v: &Value) -> u64 {
    v["id"]
        .as_u64()
        .or_else(|| v["id"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("no id in {v}"))
}
