//! Faults on demand: rules matched against each request's endpoint, firing a given
//! number of times and/or with a probability.

use serde::{Deserialize, Serialize};

/// What a fault does to a matching request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum FaultAction {
    /// Delay the request, then answer normally. Latency rules add up and combine with one
    /// other fault.
    #[serde(rename_all = "camelCase")]
    Latency { ms: u64 },
    /// Answer with this status (e.g. 500, 502, 503) and an optional body.
    #[serde(rename_all = "camelCase")]
    Status {
        status: u16,
        #[serde(default)]
        body: Option<String>,
    },
    /// Never answer (until the simulator shuts down): a client timeout.
    Hang,
    /// A truncated body in the format the client asked for.
    Malformed,
    /// An HTML error page, as a load balancer or the portal would serve it.
    #[serde(rename_all = "camelCase")]
    Html {
        #[serde(default = "default_html_status")]
        status: u16,
    },
    /// A Qualys error `responseCode` (QPS) / `responseCode` JSON (gateway) with this HTTP status,
    /// by default the odd "200 with UNAUTHORIZED" seen in the field.
    #[serde(rename_all = "camelCase")]
    ErrorCode {
        #[serde(default = "default_error_code")]
        code: String,
        #[serde(default = "default_ok")]
        status: u16,
    },
    /// Perform the request (a create is stored), then lose the response.
    #[serde(rename_all = "camelCase")]
    CommitThenFail {
        #[serde(default)]
        mode: LossMode,
    },
    /// The licence allows no more connectors: 403 on the gateway, an error on QPS.
    LicenceExhausted,
    /// The call is refused as over the rate limit (409 QPS, 429 gateway/CloudView).
    RateLimited,
}

/// How a response is lost after the work is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LossMode {
    /// The connection breaks while the body is sent (headers may have gone out).
    #[default]
    Drop,
    /// The response never comes.
    Hang,
}

fn default_html_status() -> u16 {
    503
}

fn default_error_code() -> String {
    "UNAUTHORIZED".into()
}

fn default_ok() -> u16 {
    200
}

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    /// Assigned when the rule is added.
    #[serde(default)]
    pub id: u64,
    /// Glob (`*` = any run of characters) matched against `"METHOD /route"` and against
    /// `"/route"`, where the route is the path with ids replaced by `{id}` (as in the
    /// counters), e.g. `"POST /qps/rest/3.0/create/am/aws*"` or `"*/org/azure*"`.
    pub endpoint: String,
    /// Only for this user.
    #[serde(default)]
    pub user: Option<String>,
    /// How many more times it fires; absent = every time.
    #[serde(default)]
    pub times: Option<u32>,
    /// Chance to fire on each matching call (0..=1); absent = always.
    #[serde(default)]
    pub probability: Option<f64>,
    /// Let this many matching calls through before firing.
    #[serde(default)]
    pub skip: u32,
    pub action: FaultAction,
}

impl FaultRule {
    pub fn new(endpoint: impl Into<String>, action: FaultAction) -> Self {
        Self {
            id: 0,
            endpoint: endpoint.into(),
            user: None,
            times: None,
            probability: None,
            skip: 0,
            action,
        }
    }

    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    pub fn probability(mut self, p: f64) -> Self {
        self.probability = Some(p);
        self
    }

    pub fn for_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    fn matches(&self, method: &str, route: &str, user: Option<&str>) -> bool {
        if let (Some(want), Some(have)) = (&self.user, user) {
            if want != have {
                return false;
            }
        } else if self.user.is_some() {
            return false;
        }
        glob(&self.endpoint, &format!("{method} {route}")) || glob(&self.endpoint, route)
    }
}

/// The `--faults` file: either a list of rules or `{seed, faults}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultFile {
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub faults: Vec<FaultRule>,
}

#[derive(Debug, thiserror::Error)]
pub enum FaultFileError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not a valid fault file: {message}")]
    Parse { path: String, message: String },
}

impl FaultFile {
    /// Parses JSON or YAML (YAML also reads JSON, but JSON errors are clearer from serde_json).
    pub fn parse(text: &str, path: &str) -> Result<Self, FaultFileError> {
        let parse_err = |message: String| FaultFileError::Parse {
            path: path.to_string(),
            message,
        };
        let trimmed = text.trim_start();
        if trimmed.starts_with('[') {
            let faults: Vec<FaultRule> = serde_json::from_str(text).map_err(|e| parse_err(e.to_string()))?;
            return Ok(Self { seed: None, faults });
        }
        if trimmed.starts_with('{') {
            return serde_json::from_str(text).map_err(|e| parse_err(e.to_string()));
        }
        if let Ok(faults) = serde_norway::from_str::<Vec<FaultRule>>(text) {
            return Ok(Self { seed: None, faults });
        }
        serde_norway::from_str(text).map_err(|e| parse_err(e.to_string()))
    }

    pub fn load(path: &std::path::Path) -> Result<Self, FaultFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| FaultFileError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text, &shown)
    }
}

/// `*` matches any run of characters; everything else literally (case-insensitive).
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = text.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The active rules and the random source behind probabilities.
#[derive(Debug)]
pub struct Faults {
    rules: Vec<FaultRule>,
    next_id: u64,
    rng: fastrand::Rng,
}

/// What the faults decided for one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selected {
    pub latency_ms: u64,
    pub action: Option<FaultAction>,
}

impl Faults {
    pub fn new(seed: u64) -> Self {
        Self {
            rules: Vec::new(),
            next_id: 1,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn add(&mut self, mut rule: FaultRule) -> u64 {
        rule.id = self.next_id;
        self.next_id += 1;
        let id = rule.id;
        self.rules.push(rule);
        id
    }

    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        before != self.rules.len()
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn rules(&self) -> &[FaultRule] {
        &self.rules
    }

    pub fn reseed(&mut self, seed: u64) {
        self.rng = fastrand::Rng::with_seed(seed);
    }

    /// Consumes the rules that fire for this request.
    pub fn select(&mut self, method: &str, route: &str, user: Option<&str>) -> Selected {
        let mut out = Selected::default();
        let mut exhausted = Vec::new();
        for rule in &mut self.rules {
            if !rule.matches(method, route, user) {
                continue;
            }
            let is_latency = matches!(rule.action, FaultAction::Latency { .. });
            if !is_latency && out.action.is_some() {
                continue;
            }
            if rule.skip > 0 {
                rule.skip -= 1;
                continue;
            }
            if let Some(p) = rule.probability
                && self.rng.f64() >= p
            {
                continue;
            }
            if let Some(times) = rule.times.as_mut() {
                *times = times.saturating_sub(1);
                if *times == 0 {
                    exhausted.push(rule.id);
                }
            }
            match &rule.action {
                FaultAction::Latency { ms } => out.latency_ms += ms,
                other => out.action = Some(other.clone()),
            }
        }
        self.rules.retain(|r| !exhausted.contains(&r.id));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_routes() {
        assert!(glob(
            "POST /qps/rest/3.0/create/am/aws*",
            "POST /qps/rest/3.0/create/am/awsassetdataconnector"
        ));
        assert!(glob("*/create/*", "/qps/rest/3.0/create/am/gcpassetdataconnector"));
        assert!(!glob("GET *", "POST /x"));
        assert!(glob("*", ""));
    }

    #[test]
    fn counted_rules_fire_then_disappear() {
        let mut f = Faults::new(1);
        f.add(
            FaultRule::new(
                "*create*",
                FaultAction::Status {
                    status: 500,
                    body: None,
                },
            )
            .times(2),
        );
        f.add(FaultRule::new("*", FaultAction::Latency { ms: 5 }));
        let route = "/qps/rest/3.0/create/am/awsassetdataconnector";
        for _ in 0..2 {
            let s = f.select("POST", route, None);
            assert_eq!(s.latency_ms, 5);
            assert!(matches!(s.action, Some(FaultAction::Status { status: 500, .. })));
        }
        assert_eq!(f.select("POST", route, None).action, None);
        assert_eq!(f.rules().len(), 1);
    }

    #[test]
    fn fault_files_in_json_and_yaml() {
        let yaml = "seed: 7\nfaults:\n  - endpoint: '*'\n    probability: 0.5\n    action: {type: html}\n";
        let f = FaultFile::parse(yaml, "f.yaml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.seed, Some(7));
        assert_eq!(f.faults[0].action, FaultAction::Html { status: 503 });
        let json = r#"[{"endpoint": "*", "times": 1, "action": {"type": "commitThenFail", "mode": "hang"}}]"#;
        let f = FaultFile::parse(json, "f.json").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.faults[0].action, FaultAction::CommitThenFail { mode: LossMode::Hang });
        assert!(FaultFile::parse(r#"[{"endpoint": "*", "action": {"type": "nope"}}]"#, "x").is_err());
    }
}
