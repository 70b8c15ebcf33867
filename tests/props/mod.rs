//! Generators and checks of the property tests (included with `#[path]` next to
//! `reconcile_support.rs`). Manifests are built from the CRD's documented
//! constraints; Qualys-side renderings from the Qualys reference
//! (`shared/qualys-api`), never from the simulator's or the client's code.
#![allow(dead_code)]

use std::future::Future;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::subsequence;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use serde_json::{Value, json};

use qualys_operator::cli::workspace::Workspace;
use qualys_operator::manifest::{self, Document};
use qualys_operator::reconcile::execute::Applied;
use qualys_operator::reconcile::plan::{Action, ObjectPlan, Plan};
use qualys_operator::simulator::{CloudKind as SimCloud, SimHandle};

use super::support::{Env, example_documents, start_sim};

/// The generated organization connector's reference.
pub const GEN_ORG: &str = "AzureOrgConnector/default/gen-org";

/// Seed of every property run in `cargo test` (a failure reproduces exactly).
pub const SEED: u64 = 0x1414_2026;

/// Every log line of this test binary, at debug level: the secret invariant
/// covers logs too.
static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogSink;

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Routes the logs of every thread into [`LOGS`] (once per binary).
pub fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(|| LogSink)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// The logs captured so far, as text.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
}

/// `PROPTEST_CASES` when set (nightly), else `default`. `PROPTEST_SEED`
/// likewise replaces [`SEED`].
pub fn default_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `property` on `cases` generated values, each against a fresh
/// simulator; shrinks a failure and panics with the smallest input.
pub fn check<S, F, Fut>(name: &str, cases: u32, strategy: S, property: F)
where
    S: Strategy + Send + 'static,
    S::Value: Clone + std::fmt::Debug,
    F: Fn(SimHandle, S::Value) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), String>>,
{
    // The whole plan/apply stack in a debug build outgrows a test thread's
    // default stack; run on one sized for it.
    let name = name.to_string();
    let worker = std::thread::Builder::new()
        .name(format!("property {name}"))
        .stack_size(64 << 20)
        .spawn(move || run_property(&name, cases, strategy, property))
        .unwrap_or_else(|e| panic!("thread: {e}"));
    if let Err(panic) = worker.join() {
        std::panic::resume_unwind(panic);
    }
}

fn run_property<S, F, Fut>(name: &str, cases: u32, strategy: S, property: F)
where
    S: Strategy,
    S::Value: Clone + std::fmt::Debug,
    F: Fn(SimHandle, S::Value) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let seed = std::env::var("PROPTEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SEED);
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    };
    capture_logs();
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |value| {
        rt.block_on(async {
            let sim = start_sim().await;
            property(sim, value).await
        })
        .map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => eprintln!("property {name}: {cases} cases passed (seed {seed})"),
        Err(TestError::Fail(reason, input)) => {
            panic!(
                "property {name} failed (seed {seed}, PROPTEST_SEED reproduces it): {reason}\nshrunk input: {input:#?}"
            )
        }
        Err(e) => panic!("property {name}: {e}"),
    }
}

// ---------------------------------------------------------------- values

/// Text a user may type: ASCII, accents, CJK, emoji and XML/JSON
/// metacharacters, never leading or trailing blanks (Qualys trims those,
/// which the CRD does not forbid; kept out so the other invariants are tested).
pub fn text(max: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9]",
        1 => Just(" ".to_string()),
        1 => prop::sample::select(vec!["é", "ß", "Å", "日本", "🚀", "<", ">", "&", "\"", "'", "\\", "ü"]).prop_map(str::to_string),
    ];
    let len = prop_oneof![Just(1usize), Just(max), 1..=max.min(24)];
    len.prop_flat_map(move |n| vec(piece.clone(), n))
        .prop_map(move |parts| {
            let mut s: String = parts.concat();
            s = s.trim().to_string();
            while s.chars().count() > max {
                s.pop();
            }
            if s.is_empty() { "x".to_string() } else { s }
        })
}

/// A lower-case GUID and the same GUID with each letter's case drawn.
pub fn guid() -> impl Strategy<Value = (String, String)> {
    (
        "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        any::<u64>(),
    )
        .prop_map(|(g, bits)| {
            let typed = g
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if bits >> (i % 64) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            (g, typed)
        })
}

/// Absent, empty, or a subset of `items` (possibly reordered).
pub fn list<T: Clone + std::fmt::Debug + 'static>(items: Vec<T>) -> impl Strategy<Value = Option<Vec<T>>> {
    let n = items.len();
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Vec::new())),
        3 => subsequence(items, 1..=n).prop_shuffle().prop_map(Some),
    ]
}

pub fn run_frequency() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        Just(None),
        Just(Some(60)),
        Just(Some(1440)),
        (60i64..=1440).prop_map(Some)
    ]
}

pub fn tag_id() -> impl Strategy<Value = i64> {
    prop_oneof![Just(1i64), Just(i64::from(i32::MAX)), 2i64..100_000_000]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    Aws,
    Azure,
    Gcp,
    Oci,
}

impl Cloud {
    pub fn kind(self) -> &'static str {
        match self {
            Cloud::Aws => "AwsConnector",
            Cloud::Azure => "AzureConnector",
            Cloud::Gcp => "GcpConnector",
            Cloud::Oci => "OciConnector",
        }
    }
    pub fn element(self) -> &'static str {
        match self {
            Cloud::Aws => "AwsAssetDataConnector",
            Cloud::Azure => "AzureAssetDataConnector",
            Cloud::Gcp => "GcpAssetDataConnector",
            Cloud::Oci => "OciAssetDataConnector",
        }
    }
    pub fn sim(self) -> SimCloud {
        match self {
            Cloud::Aws => SimCloud::Aws,
            Cloud::Azure => SimCloud::Azure,
            Cloud::Gcp => SimCloud::Gcp,
            Cloud::Oci => SimCloud::Oci,
        }
    }
    fn type_name(self) -> &'static str {
        match self {
            Cloud::Aws => "AWS",
            Cloud::Azure => "AZURE",
            Cloud::Gcp => "GCP",
            Cloud::Oci => "OCI",
        }
    }
}

#[derive(Debug, Clone)]
pub struct App {
    pub name: &'static str,
    pub identifier: Option<String>,
    pub tag_id: Option<i64>,
}

/// The settings every connector kind shares; `None` = the key is absent.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub name: Option<String>,
    pub description: Option<String>,
    pub run_frequency: Option<i64>,
    pub disabled: Option<bool>,
    pub remediation: Option<bool>,
    pub activation: Option<Vec<&'static str>>,
    pub tags: Option<Vec<i64>>,
    pub apps: Option<Vec<App>>,
}

pub fn app(name: &'static str, identifier: Option<String>) -> impl Strategy<Value = App> {
    (prop_oneof![Just(None), Just(identifier)], prop::option::of(tag_id())).prop_map(move |(identifier, tag_id)| App {
        name,
        identifier,
        tag_id,
    })
}

/// `identifier` is the kind's natural identifier, offered to some apps.
/// Qualys documents no activation for GCP and OCI and no default tags for
/// GCP (the CRD refuses them), so those stay absent there.
pub fn settings(identifier: String, cloud: Cloud) -> impl Strategy<Value = Settings> {
    let apps = prop_oneof![
        1 => Just(None),
        1 => Just(Some(Vec::new())),
        4 => (
            app("AI", Some(identifier.clone())),
            app("CI", Some(identifier.clone())),
            app("CSA", Some(identifier)),
        )
            .prop_flat_map(|(a, b, c)| subsequence(vec![a, b, c], 1..=3).prop_shuffle())
            .prop_map(Some),
    ];
    (
        prop::option::of(text(256)),
        prop::option::of(text(1024)),
        run_frequency(),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
        list(vec!["VM", "PC", "SCA", "CERTVIEW"]),
        prop_oneof![Just(None), Just(Some(Vec::new())), vec(tag_id(), 1..4).prop_map(Some)],
        apps,
    )
        .prop_map(
            move |(name, description, run_frequency, disabled, remediation, activation, tags, apps)| Settings {
                name,
                description,
                run_frequency,
                disabled,
                remediation,
                activation: activation.filter(|_| matches!(cloud, Cloud::Aws | Cloud::Azure)),
                tags: tags.filter(|_| cloud != Cloud::Gcp).map(|mut t| {
                    t.sort_unstable();
                    t.dedup();
                    t
                }),
                apps,
            },
        )
}

/// One connector manifest.
#[derive(Debug, Clone)]
pub struct Conn {
    pub cloud: Cloud,
    /// `metadata.name`.
    pub meta: String,
    pub settings: Settings,
    /// Kind-specific spec keys (key, value as typed in the manifest).
    pub fields: Vec<(&'static str, Value)>,
    /// The natural key as Qualys would store it (lower-case GUID, ...).
    pub key: String,
    /// AWS: `regions` (absent / empty / some).
    pub regions: Option<Vec<&'static str>>,
    /// The secret value of this connector's Secret (none for AWS).
    pub secret: Option<String>,
    /// Azure: the ids as Qualys stores them (lower-case).
    pub stored: Vec<(&'static str, String)>,
}

const REGIONS: [&str; 6] = [
    "us-east-1",
    "eu-west-1",
    "af-south-1",
    "eu-south-1",
    "ap-southeast-2",
    "ca-central-1",
];

fn secret_value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{24}".prop_map(|s| format!("s3cret-{s}"))
}

/// `perimeterScan`: absent, `{}`, on or off, or (where Qualys documents one)
/// a custom schedule.
pub fn perimeter(custom: bool) -> impl Strategy<Value = Option<Value>> {
    let fixed = prop_oneof![
        Just(None),
        Just(Some(json!({}))),
        Just(Some(json!({"enabled": false}))),
        Just(Some(json!({"enabled": true}))),
    ];
    let scheduled = schedule().prop_map(|s| Some(json!({"custom": s})));
    prop_oneof![3 => fixed, (if custom { 1 } else { 0 }) => scheduled]
}

pub fn aws() -> impl Strategy<Value = Conn> {
    (
        "[0-9]{12}",
        "[A-Za-z0-9+=,.@_-]{1,40}",
        "[A-Za-z0-9-]{1,40}",
        0usize..4,
        perimeter(true),
    )
        .prop_flat_map(|(account, role, external, partition, perimeter)| {
            let (prefix, name, regions): (&str, Option<&str>, Vec<&'static str>) = match partition {
                1 => (
                    "arn:aws-us-gov",
                    Some("GovCloud"),
                    vec!["us-gov-west-1", "us-gov-east-1"],
                ),
                2 => ("arn:aws-cn", Some("China"), vec!["cn-north-1", "cn-northwest-1"]),
                3 => ("arn:aws", Some("Global"), REGIONS.to_vec()),
                _ => ("arn:aws", None, REGIONS.to_vec()),
            };
            let arn = format!("{prefix}:iam::{account}:role/{role}");
            let mut fields = vec![("arn", json!(arn)), ("externalId", json!(external))];
            fields.extend(name.map(|p| ("partition", json!(p))));
            fields.extend(perimeter.map(|p| ("perimeterScan", p)));
            (settings(arn.clone(), Cloud::Aws), list(regions)).prop_map(move |(settings, regions)| Conn {
                cloud: Cloud::Aws,
                meta: String::new(),
                settings,
                fields: fields.clone(),
                key: account.clone(),
                regions,
                secret: None,
                stored: vec![("arn", arn.clone()), ("externalId", external.clone())],
            })
        })
}

pub fn azure() -> impl Strategy<Value = Conn> {
    (guid(), guid(), guid(), secret_value()).prop_flat_map(|(directory, subscription, application, secret)| {
        (
            settings(subscription.1.clone(), Cloud::Azure),
            any::<u8>(),
            prop::sample::select(vec![None, Some("Global"), Some("GovCloud")]),
            perimeter(true),
        )
            .prop_map(move |(mut settings, bits, partition, perimeter)| {
                // An app may also state the application id, as Qualys' reads show
                // the identifier (Q-COL-6).
                for (k, a) in settings.apps.iter_mut().flatten().enumerate() {
                    if bits >> k & 1 == 1 {
                        a.identifier = Some(application.1.clone());
                    }
                }
                let mut c = azure_conn(settings, &directory, &subscription, &application, &secret);
                c.fields.extend(partition.map(|p| ("partition", json!(p))));
                c.fields.extend(perimeter.map(|p| ("perimeterScan", p)));
                c
            })
    })
}

fn azure_conn(
    settings: Settings,
    directory: &(String, String),
    subscription: &(String, String),
    application: &(String, String),
    secret: &str,
) -> Conn {
    Conn {
        cloud: Cloud::Azure,
        meta: String::new(),
        settings,
        fields: vec![
            ("directoryId", json!(directory.1)),
            ("subscriptionId", json!(subscription.1)),
            ("applicationId", json!(application.1)),
        ],
        key: subscription.0.clone(),
        regions: None,
        secret: Some(secret.to_string()),
        stored: vec![
            ("directoryId", directory.0.clone()),
            ("subscriptionId", subscription.0.clone()),
            ("applicationId", application.0.clone()),
        ],
    }
}

pub fn gcp() -> impl Strategy<Value = Conn> {
    ("[a-z][a-z0-9-]{4,28}[a-z0-9]", secret_value()).prop_flat_map(|(project, secret)| {
        settings(project.clone(), Cloud::Gcp).prop_map(move |settings| Conn {
            cloud: Cloud::Gcp,
            meta: String::new(),
            settings,
            fields: vec![("projectId", json!(project))],
            key: project.clone(),
            regions: None,
            secret: Some(secret.clone()),
            stored: vec![("projectId", project.clone())],
        })
    })
}

pub fn oci() -> impl Strategy<Value = Conn> {
    (
        "[a-z0-9]{60}",
        "[a-z0-9]{60}",
        "([0-9a-f]{2}:){15}[0-9a-f]{2}",
        prop::sample::select(vec!["us-ashburn-1", "eu-frankfurt-1", "ap-tokyo-1"]),
        secret_value(),
    )
        .prop_flat_map(|(tenancy, user, fingerprint, region, secret)| {
            let tenancy = format!("ocid1.tenancy.oc1..{tenancy}");
            let user = format!("ocid1.user.oc1..{user}");
            (settings(tenancy.clone(), Cloud::Oci), perimeter(false)).prop_map(move |(settings, perimeter)| Conn {
                cloud: Cloud::Oci,
                meta: String::new(),
                settings,
                fields: [
                    ("tenantId", json!(tenancy)),
                    ("userId", json!(user)),
                    ("fingerprint", json!(fingerprint)),
                    ("homeRegion", json!(region)),
                ]
                .into_iter()
                .chain(perimeter.clone().map(|p| ("perimeterScan", p)))
                .collect(),
                key: tenancy.clone(),
                regions: None,
                secret: Some(secret.clone()),
                stored: vec![
                    ("tenantId", tenancy.clone()),
                    ("userId", user.clone()),
                    ("fingerprint", fingerprint.clone()),
                    ("homeRegion", region.to_string()),
                ],
            })
        })
}

pub fn connector() -> impl Strategy<Value = Conn> {
    prop_oneof![aws(), azure(), gcp(), oci()]
}

pub fn schedule() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just(1i64), Just(i64::from(i32::MAX)), 2i64..1000],
        any::<bool>(),
        subsequence(vec!["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1..=7).prop_shuffle(),
        "[A-Za-z0-9-]{1,64}",
        (1u32..=12, 1u32..=28, 2027u32..2030),
        (0u32..24, 0u32..60),
        prop::sample::select(vec![
            "UTC",
            "Europe/Paris",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+5",
        ]),
    )
        .prop_map(|(profile, weekly, days, prefix, (m, d, y), (hh, mm), tz)| {
            let mut s = json!({
                "optionProfileId": profile,
                "recurrence": if weekly { "WEEKLY" } else { "DAILY" },
                "scanPrefix": prefix,
                "startDate": format!("{m:02}/{d:02}/{y}"),
                "startTime": format!("{hh:02}:{mm:02}"),
                "timezone": tz,
            });
            if weekly {
                s["daysOfWeek"] = json!(days);
            }
            s
        })
}

/// An Azure organization connector manifest.
#[derive(Debug, Clone)]
pub struct Org {
    /// The spec; `members` is filled in when the world is assembled.
    pub spec: Value,
    /// The tenant as typed, and as Qualys stores it (lower case).
    pub tenant: (String, String),
    pub secret: String,
    /// `None`: no `members` key; else picks among the Azure connectors.
    pub members: Option<Vec<prop::sample::Index>>,
    pub exact: bool,
}

pub fn org() -> impl Strategy<Value = Org> {
    let groups = vec!["production", "staging", "dev", "sandbox"];
    (
        (
            prop::option::of(text(250)),
            prop::option::of(text(1024)),
            guid(),
            guid(),
            "[a-z]{3,12}",
            "[a-z0-9-]{1,30}",
        ),
        (run_frequency(), run_frequency(), subsequence(groups, 0..=4), 0usize..=4, any::<[bool; 4]>()),
        (
            any::<[bool; 5]>(),
            prop_oneof![Just(None), Just(Some(Vec::new())), vec(tag_id(), 1..3).prop_map(Some)],
            // Qualys requires at least one app on an organization connector.
            subsequence(vec!["AI", "CI", "CSA"], 1..=3).prop_shuffle().prop_map(Some),
            prop::option::of(vec(any::<prop::sample::Index>(), 0..3)),
            secret_value(),
        ),
    )
        .prop_map(
            |(
                (name, description, tenant, application, domain, prefix),
                (org_run, member_run, mgmt, split, [create_new, disable_deleted, remediation, exact]),
                (auto, tags, apps, members, secret),
            )| {
                let split = split.min(mgmt.len());
                let mut spec = json!({
                    "tenantId": tenant.1,
                    "tenantName": format!("{domain}.onmicrosoft.com"),
                    "applicationId": application.1,
                    "secretValueSecretRef": {"name": "gen-org-secret", "key": "k"},
                    "connectorPrefixName": prefix,
                    "createConnectorsForNewSubscriptions": create_new,
                    "disableConnectorsForDeletedManagementGroups": disable_deleted,
                    "remediationEnabled": remediation,
                    "autoActivate": {"vm": auto[0], "pc": auto[1], "sca": auto[2], "certView": auto[3], "cloudView": auto[4]},
                });
                let mut put = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        spec[k] = v;
                    }
                };
                put("name", name.map(|n| json!(format!("{n} org"))));
                put("description", description.map(Value::from));
                put("orgRunFrequencyMinutes", org_run.map(Value::from));
                put("memberRunFrequencyMinutes", member_run.map(Value::from));
                put("includedManagementGroups", Some(json!(mgmt[..split])).filter(|_| split > 0));
                put("excludedManagementGroups", Some(json!(mgmt[split..])).filter(|_| split < mgmt.len()));
                put(
                    "defaultTagIds",
                    tags.map(|mut t| {
                        t.sort_unstable();
                        t.dedup();
                        json!(t)
                    }),
                );
                put("apps", apps.map(|a| json!(a.iter().map(|n| json!({"name": n})).collect::<Vec<_>>())));
                Org {
                    spec,
                    tenant: (tenant.1, tenant.0),
                    secret,
                    members,
                    exact,
                }
            },
        )
}

/// Several manifests together: connectors, maybe the scan configuration and
/// a group over some of them (and accounts nobody manages).
#[derive(Debug, Clone)]
pub struct World {
    pub connectors: Vec<Conn>,
    pub scan: Option<Value>,
    pub org: Option<Org>,
    /// Group name, member indexes into `connectors`, unmanaged AWS accounts.
    pub group: Option<(String, Vec<usize>, Vec<String>)>,
}

pub fn world() -> impl Strategy<Value = World> {
    (
        vec(connector(), 1..5),
        prop::option::of(schedule()),
        prop::option::of((
            text(64),
            vec(any::<prop::sample::Index>(), 0..3),
            vec("[0-9]{12}", 0..2),
        )),
        prop::option::of(org()),
        any::<u64>(),
    )
        .prop_map(|(mut connectors, scan, group, mut org, case_bits)| {
            // One object per natural key: two manifests for one account is a
            // conflict by design, not a generated case.
            let mut seen = std::collections::BTreeSet::new();
            connectors.retain(|c| seen.insert((c.cloud.kind(), c.key.clone())));
            for (i, c) in connectors.iter_mut().enumerate() {
                c.meta = format!("gen-{i}");
                // Qualys names are unique per kind: keep generated ones apart.
                if let Some(name) = &mut c.settings.name {
                    if name.chars().count() > 250 {
                        *name = name.chars().take(250).collect();
                    }
                    name.push_str(&format!(" #{i}"));
                }
            }
            let n = connectors.len();
            let group = group.map(|(mut name, idx, accounts)| {
                // A group name cannot start or end with a blank (Qualys trims it
                // and cannot rename a group); `text` may end in one after a cut.
                name = name.trim().to_string();
                if name.is_empty() {
                    name = "group".into();
                }
                let mut members: Vec<usize> = idx
                    .iter()
                    .map(|i| i.index(n))
                    // Groups hold AWS, Azure and GCP connectors only.
                    .filter(|i| connectors[*i].cloud != Cloud::Oci)
                    .collect();
                members.sort_unstable();
                members.dedup();
                (name, members, accounts)
            });
            // Org members are Azure connectors of the org's tenant, each with
            // the directory id typed in its own case.
            if let Some(o) = &mut org
                && let Some(picks) = &o.members
            {
                let azure: Vec<usize> = (0..n).filter(|i| connectors[*i].cloud == Cloud::Azure).collect();
                let mut chosen: Vec<usize> = if azure.is_empty() {
                    Vec::new()
                } else {
                    picks.iter().map(|p| azure[p.index(azure.len())]).collect()
                };
                chosen.sort_unstable();
                chosen.dedup();
                for (k, i) in chosen.iter().enumerate() {
                    let bits = case_bits.rotate_left(7 * k as u32);
                    let typed: String = o
                        .tenant
                        .1
                        .chars()
                        .enumerate()
                        .map(|(j, c)| {
                            if bits >> (j % 64) & 1 == 1 {
                                c.to_ascii_uppercase()
                            } else {
                                c
                            }
                        })
                        .collect();
                    let c = &mut connectors[*i];
                    for (key, v) in c.fields.iter_mut() {
                        if *key == "directoryId" {
                            *v = json!(typed);
                        }
                    }
                    for (key, v) in c.stored.iter_mut() {
                        if *key == "directoryId" {
                            *v = o.tenant.1.clone();
                        }
                    }
                }
                o.spec["members"] = json!(
                    chosen
                        .iter()
                        .map(|i| json!({"name": connectors[*i].meta}))
                        .collect::<Vec<_>>()
                );
                if o.exact {
                    o.spec["memberPolicy"] = json!("Exact");
                }
            }
            World {
                connectors,
                scan,
                group,
                org,
            }
        })
}

impl World {
    pub fn single(mut conn: Conn) -> Self {
        conn.meta = "gen-0".into();
        Self {
            connectors: vec![conn],
            scan: None,
            group: None,
            org: None,
        }
    }

    pub fn reference(&self, c: &Conn) -> String {
        format!("{}/default/{}", c.cloud.kind(), c.meta)
    }

    pub fn secrets(&self) -> Vec<&str> {
        self.connectors
            .iter()
            .filter_map(|c| c.secret.as_deref())
            .chain(self.org.iter().map(|o| o.secret.as_str()))
            .collect()
    }

    /// The account of the examples, one Secret per connector and the manifests.
    pub fn documents(&self) -> Vec<Document> {
        let mut docs: Vec<Document> = example_documents()
            .into_iter()
            .filter(|d| d.kind() == "QualysAccount" || (d.kind() == "Secret" && d.name() == "qualys-credentials"))
            .collect();
        let mut values = Vec::new();
        for c in &self.connectors {
            let mut spec = serde_json::Map::new();
            for (k, v) in &c.fields {
                spec.insert((*k).into(), v.clone());
            }
            let s = &c.settings;
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    spec.insert(k.into(), v);
                }
            };
            put("name", s.name.clone().map(Value::from));
            put("description", s.description.clone().map(Value::from));
            put("runFrequencyMinutes", s.run_frequency.map(Value::from));
            put("disabled", s.disabled.map(Value::from));
            put("remediationEnabled", s.remediation.map(Value::from));
            put("activation", s.activation.clone().map(|a| json!(a)));
            put("defaultTagIds", s.tags.clone().map(|t| json!(t)));
            put(
                "apps",
                s.apps.as_ref().map(|apps| {
                    apps.iter()
                        .map(|a| {
                            let mut o = json!({"name": a.name});
                            if let Some(i) = &a.identifier {
                                o["identifier"] = json!(i);
                            }
                            if let Some(t) = a.tag_id {
                                o["tagId"] = json!(t);
                            }
                            o
                        })
                        .collect::<Vec<_>>()
                        .into()
                }),
            );
            put("regions", c.regions.clone().map(|r| json!(r)));
            let secret_name = format!("{}-secret", c.meta);
            match c.cloud {
                Cloud::Aws => {}
                Cloud::Azure => put(
                    "authenticationKeySecretRef",
                    Some(json!({"name": secret_name, "key": "k"})),
                ),
                Cloud::Gcp => put(
                    "serviceAccountKeySecretRef",
                    Some(json!({"name": secret_name, "key": "k"})),
                ),
                Cloud::Oci => put("privateKeySecretRef", Some(json!({"name": secret_name, "key": "k"}))),
            }
            if let Some(secret) = &c.secret {
                let value = match c.cloud {
                    Cloud::Gcp => json!({
                        "type": "service_account",
                        "project_id": c.key,
                        "private_key_id": "0000000000000000000000000000000000000000",
                        "private_key": format!("-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----\n"),
                        "client_email": format!("reader@{}.iam.gserviceaccount.com", c.key),
                        "client_id": "100000000000000000000",
                        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                        "token_uri": "https://oauth2.googleapis.com/token",
                        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
                        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/reader",
                    })
                    .to_string(),
                    Cloud::Oci => format!("-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----\n"),
                    _ => secret.clone(),
                };
                values.push(json!({
                    "apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": secret_name}, "type": "Opaque",
                    "stringData": {"k": value},
                }));
            }
            values.push(json!({
                "apiVersion": "qualys-operator.io/v1alpha1",
                "kind": c.cloud.kind(),
                "metadata": {"name": c.meta},
                "spec": Value::Object(spec),
            }));
        }
        if let Some(org) = &self.org {
            values.push(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "gen-org-secret"}, "type": "Opaque",
                "stringData": {"k": org.secret},
            }));
            values.push(json!({
                "apiVersion": "qualys-operator.io/v1alpha1",
                "kind": "AzureOrgConnector",
                "metadata": {"name": "gen-org"},
                "spec": org.spec,
            }));
        }
        if let Some(scan) = &self.scan {
            values.push(json!({
                "apiVersion": "qualys-operator.io/v1alpha1",
                "kind": "GlobalScanConfiguration",
                "metadata": {"name": "gen-scan"},
                "spec": scan,
            }));
        }
        if let Some((name, members, accounts)) = &self.group {
            let connectors: Vec<Value> = members
                .iter()
                .map(|i| json!({"kind": self.connectors[*i].cloud.kind(), "name": self.connectors[*i].meta}))
                .collect();
            let accounts: Vec<Value> = accounts
                .iter()
                .map(|a| json!({"cloudType": "AWS", "accountIdentifier": a}))
                .collect();
            values.push(json!({
                "apiVersion": "qualys-operator.io/v1alpha1",
                "kind": "ConnectorGroup",
                "metadata": {"name": "gen-group"},
                "spec": {"name": name, "members": {"connectors": connectors, "accounts": accounts}},
            }));
        }
        for v in values {
            let text = serde_json::to_string(&v).unwrap_or_default();
            docs.extend(
                manifest::parse_documents(std::path::Path::new("generated.yaml"), &text)
                    .unwrap_or_else(|e| panic!("generated manifest does not parse: {e}\n{text}")),
            );
        }
        docs
    }

    /// A valid manifest set must load; an error here is a finding.
    pub fn workspace(&self) -> Result<Workspace, String> {
        Workspace::from_documents(self.documents()).map_err(|e| format!("valid manifests rejected: {e}"))
    }

    pub fn no_secret_in(&self, what: &str, text: &str) -> Result<(), String> {
        for s in self.secrets() {
            if text.contains(s) {
                return Err(format!("{what} shows the secret value {s}"));
            }
        }
        Ok(())
    }

    /// Plan invariants that hold for any plan of these manifests: nothing is
    /// deleted or detached (no manifest was removed), nothing the manifest
    /// does not mention is cleared, no secret is shown.
    pub fn check_plan(&self, what: &str, plan: &Plan) -> Result<(), String> {
        let json = serde_json::to_string(plan).unwrap_or_default();
        self.no_secret_in(&format!("{what} (text)"), &plan.render())?;
        self.no_secret_in(&format!("{what} (JSON)"), &json)?;
        for o in &plan.objects {
            for a in &o.actions {
                match a {
                    Action::Detach { .. }
                        if o.object == GEN_ORG && self.org.as_ref().is_some_and(|g| g.exact && g.members.is_some()) => {
                    }
                    Action::Delete { .. } | Action::Disable { .. } | Action::Detach { .. } => {
                        return Err(format!(
                            "{what}: {} would {a:?}, no manifest asked:\n{}",
                            o.object,
                            plan.render()
                        ));
                    }
                    Action::Update { changes, .. } => {
                        for c in changes {
                            let cleared = match &c.after {
                                None => true,
                                Some(Value::Array(a)) => a.is_empty(),
                                Some(Value::String(s)) => s.is_empty(),
                                Some(Value::Null) => true,
                                _ => false,
                            };
                            if cleared && !c.secret && !self.mentions(&o.object, &c.path) {
                                return Err(format!(
                                    "{what}: {} clears {} which its manifest does not set:\n{}",
                                    o.object,
                                    c.path,
                                    plan.render()
                                ));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Whether the manifest of `object` sets the top-level spec field of `path`.
    fn mentions(&self, object: &str, path: &str) -> bool {
        let field = path.trim_start_matches("spec.").split('.').next().unwrap_or_default();
        let Some(c) = self.connectors.iter().find(|c| self.reference(c) == object) else {
            // Groups, the scan configuration: every field is in the manifest.
            return true;
        };
        let s = &c.settings;
        match field {
            "name" => s.name.is_some(),
            "description" => s.description.is_some(),
            "activation" => s.activation.is_some(),
            "defaultTagIds" => s.tags.is_some(),
            "apps" => s.apps.is_some(),
            "regions" => c.regions.is_some(),
            _ => c.fields.iter().any(|(k, _)| *k == field),
        }
    }

    /// The group's unmanaged accounts exist in Qualys (made in the UI), as
    /// group membership requires a CloudView connector for the account.
    pub fn seed_accounts(&self, sim: &SimHandle) -> Result<(), String> {
        let tenant = super::support::tenant(sim);
        for account in self.group.iter().flat_map(|(_, _, a)| a) {
            if self
                .connectors
                .iter()
                .any(|c| c.cloud == Cloud::Aws && &c.key == account)
            {
                continue;
            }
            let arn = format!("arn:aws:iam::{account}:role/Legacy");
            sim.create_connector(
                &tenant,
                SimCloud::Aws,
                json!({
                    "name": format!("legacy {account}"),
                    "arn": arn,
                    "externalId": "legacy",
                    "connectorAppInfos": {"set": {"ConnectorAppInfoQList": [
                        {"set": {"ConnectorAppInfo": {"name": "CSA", "identifier": arn}}}
                    ]}}
                }),
            )
            .map_err(|e| format!("seeding account {account}: {e}"))?;
        }
        Ok(())
    }

    /// Creates, as someone in the Qualys UI would, an object with each
    /// connector's natural key (other settings differ); returns references.
    pub fn seed_existing(&self, sim: &SimHandle, tenant: &str) -> Result<Vec<(String, u64)>, String> {
        let mut out = Vec::new();
        for c in &self.connectors {
            let mut body = json!({"name": format!("made in the UI {}", c.meta), "description": "UI"});
            match c.cloud {
                Cloud::Aws => {
                    let arn = c
                        .stored
                        .iter()
                        .find(|(k, _)| *k == "arn")
                        .map(|(_, v)| v.as_str())
                        .unwrap_or_default();
                    let prefix = arn.split(":iam::").next().unwrap_or("arn:aws");
                    body["arn"] = json!(format!("{prefix}:iam::{}:role/FromTheUi", c.key));
                    body["externalId"] = json!("ui");
                }
                _ => {
                    let mut auth = serde_json::Map::new();
                    for (k, v) in &c.stored {
                        if *k == "homeRegion" {
                            body["homeRegion"] = json!(v);
                        } else {
                            auth.insert((*k).into(), json!(v));
                        }
                    }
                    // Someone else's credentials, typed in the UI.
                    match c.cloud {
                        Cloud::Azure => auth.insert("authenticationKey".into(), json!("typed-in-the-ui")),
                        Cloud::Oci => auth.insert("privateKey".into(), json!("typed-in-the-ui")),
                        _ => {
                            for (k, v) in [
                                ("type", "service_account"),
                                ("private_key_id", "1"),
                                ("private_key", "typed-in-the-ui"),
                                ("client_email", "ui@example.iam.gserviceaccount.com"),
                                ("client_id", "1"),
                                ("auth_uri", "https://accounts.google.com/o/oauth2/auth"),
                                ("token_uri", "https://oauth2.googleapis.com/token"),
                                (
                                    "auth_provider_x509_cert_url",
                                    "https://www.googleapis.com/oauth2/v1/certs",
                                ),
                                (
                                    "client_x509_cert_url",
                                    "https://www.googleapis.com/robot/v1/metadata/x509/ui",
                                ),
                            ] {
                                auth.insert(k.into(), json!(v));
                            }
                            None
                        }
                    };
                    body["authRecord"] = Value::Object(auth);
                }
            }
            let id = sim
                .create_connector(tenant, c.cloud.sim(), body)
                .map_err(|e| format!("seeding {}: {e}", self.reference(c)))?;
            out.push((self.reference(c), id));
        }
        Ok(out)
    }

    /// The connector an edit targets, by index modulo the count.
    pub fn target(&self, env: &Env, index: prop::sample::Index) -> Option<(&Conn, String, u64)> {
        let c = &self.connectors[index.index(self.connectors.len())];
        let reference = self.reference(c);
        let id = env.state.entry(&env.account, &reference)?.external_id.clone()?;
        Some((c, reference, id.parse().ok()?))
    }
}

/// An edit made in the Qualys UI: its QPS JSON body and whether the
/// manifest manages the field (always, for these: defaults are desired).
#[derive(Debug, Clone)]
pub struct Edit {
    pub target: prop::sample::Index,
    pub body: Value,
}

impl Edit {
    /// What the plan must do about this edit of `c`, per docs/field-ownership.md:
    /// `Some(true)` show drift (the manifest manages the field: set, or a
    /// default applies), `Some(false)` leave the field alone (not managed
    /// when absent), `None` no expectation (the edit left the desired value).
    pub fn expectation(&self, c: &Conn) -> Option<bool> {
        let s = &c.settings;
        let b = &self.body;
        if b.get("name").is_some() {
            return Some(true);
        }
        if let Some(n) = b.get("runFrequency") {
            return (n.as_i64() != Some(s.run_frequency.unwrap_or(240))).then_some(true);
        }
        if b.get("disabled").is_some() {
            return (!s.disabled.unwrap_or(false)).then_some(true);
        }
        if b.get("isRemediationEnabled").is_some() {
            return (!s.remediation.unwrap_or(false)).then_some(true);
        }
        if b.get("description").is_some() {
            return Some(s.description.is_some());
        }
        if b.get("defaultTags").is_some() {
            return Some(s.tags.is_some());
        }
        if b.get("activation").is_some() {
            return match &s.activation {
                None => Some(false),
                Some(a) if a.as_slice() == ["PC"] => None,
                Some(_) => Some(true),
            };
        }
        None
    }

    /// The spec path the edited Qualys field maps to.
    pub fn path(&self) -> &'static str {
        let b = &self.body;
        if b.get("description").is_some() {
            "spec.description"
        } else if b.get("defaultTags").is_some() {
            "spec.defaultTagIds"
        } else if b.get("activation").is_some() {
            "spec.activation"
        } else if b.get("name").is_some() {
            "spec.name"
        } else if b.get("runFrequency").is_some() {
            "spec.runFrequencyMinutes"
        } else if b.get("disabled").is_some() {
            "spec.disabled"
        } else {
            "spec.remediationEnabled"
        }
    }

    /// Qualys documents no default tags for GCP and no activation for GCP/OCI.
    pub fn applies_to(&self, c: &Conn) -> bool {
        let b = &self.body;
        !(b.get("defaultTags").is_some() && c.cloud == Cloud::Gcp
            || b.get("activation").is_some() && matches!(c.cloud, Cloud::Gcp | Cloud::Oci))
    }
}

pub fn edit() -> impl Strategy<Value = Edit> {
    let body = prop_oneof![
        (61i64..1439).prop_map(|n| json!({"runFrequency": n})),
        Just(json!({"disabled": true})),
        Just(json!({"isRemediationEnabled": true})),
        "[a-z]{1,12}".prop_map(|s| json!({"name": format!("renamed in the UI {s}")})),
        "[a-z]{1,12}".prop_map(|s| json!({"description": format!("edited in the UI {s}")})),
        Just(json!({"defaultTags": {"set": {"TagSimple": [{"id": 999_999_999}]}}})),
        Just(json!({"activation": {"set": {"ActivationModule": ["PC"]}}})),
    ];
    (any::<prop::sample::Index>(), body).prop_map(|(target, body)| Edit { target, body })
}

// ------------------------------------------------------------- assertions

/// Every failed action, as an error.
pub fn failures(results: &[(ObjectPlan, Applied)]) -> Result<(), String> {
    let failed = super::support::problems(results);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("apply failed:\n{}", failed.join("\n")))
    }
}

/// Requests since the last counter reset that change something in Qualys.
pub fn writes(sim: &SimHandle) -> Vec<String> {
    sim.counters()
        .into_iter()
        .filter(|c| {
            let read = c.method == "GET"
                || c.route.contains("/search/")
                || c.route.starts_with("/auth")
                || c.route.contains("/get/");
            !read
        })
        .map(|c| format!("{} {} -> {} (x{})", c.method, c.route, c.status, c.count))
        .collect()
}

/// Actions beyond adopting the object and sending its secret once (Qualys
/// never shows a secret back in a form the core can compare).
pub fn changes_beyond_adoption(plan: &Plan) -> Vec<String> {
    plan.objects
        .iter()
        .flat_map(|o| o.actions.iter().map(move |a| (o, a)))
        .filter(|(_, a)| match a {
            Action::Adopt { .. } | Action::Retain { .. } => false,
            Action::Update { changes, .. } => !changes.iter().all(|c| c.secret && c.before.is_none()),
            _ => true,
        })
        .map(|(o, a)| format!("{}: {a:?}", o.object))
        .collect()
}

// ------------------------------------------------------------- renderings

/// How Qualys happens to print one object (each choice is documented; see
/// shared/qualys-api/quirks.md Q-ENV-3..5, Q-COL-1..6, Q-COL-8).
#[derive(Debug, Clone)]
pub struct Shape {
    pub json: bool,
    /// JSON scalars as strings (`"false"`, `"240"`), as AWS/Azure/GCP print them.
    pub string_scalars: bool,
    /// `ConnectorAppInfoQLList` instead of `ConnectorAppInfoQList`.
    pub qllist: bool,
    /// JSON: one `"list"` key per app (duplicate keys) / XML: one `<list>` per app.
    pub list_per_app: bool,
    /// JSON `data`: 0 = `[{"T": {...}}]`, 1 = `{"T": {...}}`, 2 = `{"T": [{...}]}`.
    pub data_form: u8,
    /// Shuffle seeds for apps, activation and tags.
    pub order: u64,
    /// The server adds CLOUDVIEW to activation.
    pub cloudview_added: bool,
    /// XML activation without the `<list>` wrapper (Azure run/search).
    pub activation_bare: bool,
    /// Read-only and informational fields present.
    pub extras: bool,
    /// Each app's `tagId` echoed (missing in run/search/get reads, Q-COL-4).
    pub app_tags_echoed: bool,
    /// Tag names echoed next to ids.
    pub tag_names: bool,
    /// Azure apps echo the application id instead of the subscription (Q-COL-6).
    pub azure_identifier_is_application: bool,
    /// Azure: the GUIDs as typed in the manifest instead of lower case.
    pub guids_as_typed: bool,
    /// AWS limited to regions: `endpoints` printed (absent in every documented read).
    pub endpoints_printed: bool,
    /// The read echoes the secret (Azure run/search/get, Q-SEM-9).
    pub secret_echoed: bool,
    /// `description` omitted when the manifest has none (else `""`).
    pub empty_description_omitted: bool,
}

pub fn shape() -> impl Strategy<Value = Shape> {
    (
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            0u8..3,
            any::<u64>(),
        ),
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (json, string_scalars, qllist, list_per_app, data_form, order),
                (cloudview_added, activation_bare, extras, app_tags_echoed, tag_names, azure_identifier_is_application),
                (guids_as_typed, endpoints_printed, secret_echoed, empty_description_omitted),
            )| Shape {
                json,
                string_scalars,
                qllist,
                list_per_app,
                data_form,
                order,
                cloudview_added,
                activation_bare,
                extras,
                app_tags_echoed,
                tag_names,
                azure_identifier_is_application,
                guids_as_typed,
                endpoints_printed,
                secret_echoed,
                empty_description_omitted,
            },
        )
}

/// One connector whose manifest names it (so the Qualys name is known) and
/// asks for no perimeter scan, with a rendering of it.
pub fn rendered() -> impl Strategy<Value = (Conn, Shape)> {
    let global = |c: &Conn| !c.fields.iter().any(|(k, v)| *k == "partition" && v != "Global");
    (
        connector().prop_filter("renderings cover the Global partition", global),
        text(200),
        shape(),
    )
        .prop_map(|(mut c, name, shape)| {
            // The rendering does not print perimeter scans.
            c.fields.retain(|(k, _)| *k != "perimeterScan");
            c.settings.name = Some(name);
            c.meta = "gen-0".into();
            let world = World::single(c);
            (world.connectors[0].clone(), shape)
        })
}

/// A tiny document tree that prints as XML or JSON, duplicate keys allowed.
#[derive(Debug, Clone)]
enum Node {
    Str(String),
    /// Number or boolean: bare in JSON unless scalars are strings.
    Lit(String),
    Obj(Vec<(String, Node)>),
    Arr(Vec<Node>),
}

fn esc_json(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn esc_xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

impl Node {
    fn json(&self, strings: bool) -> String {
        match self {
            Node::Str(s) => esc_json(s),
            Node::Lit(s) if strings => esc_json(s),
            Node::Lit(s) => s.clone(),
            Node::Obj(kv) => format!(
                "{{{}}}",
                kv.iter()
                    .map(|(k, v)| format!("{}: {}", esc_json(k), v.json(strings)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Node::Arr(items) => format!(
                "[{}]",
                items.iter().map(|i| i.json(strings)).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// XML of an object's children: arrays repeat their key.
    fn xml(&self, out: &mut String) {
        if let Node::Obj(kv) = self {
            for (k, v) in kv {
                match v {
                    Node::Str(s) | Node::Lit(s) => out.push_str(&format!("<{k}>{}</{k}>", esc_xml(s))),
                    Node::Obj(_) => {
                        out.push_str(&format!("<{k}>"));
                        v.xml(out);
                        out.push_str(&format!("</{k}>"));
                    }
                    Node::Arr(items) => {
                        for i in items {
                            Node::Obj(vec![(k.clone(), i.clone())]).xml(out);
                        }
                    }
                }
            }
        }
    }
}

fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut v = items.to_vec();
    let mut x = seed | 1;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

fn lit(v: impl ToString) -> Node {
    Node::Lit(v.to_string())
}

fn s(v: impl Into<String>) -> Node {
    Node::Str(v.into())
}

impl Conn {
    pub fn search_endpoint(&self) -> String {
        format!("/qps/rest/3.0/search/am/{}", self.cloud.element().to_ascii_lowercase())
    }

    fn stored(&self, key: &str, shape: &Shape) -> String {
        let lower = self
            .stored
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        if shape.guids_as_typed {
            self.fields
                .iter()
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v.as_str().map(str::to_string))
                .unwrap_or(lower)
        } else {
            lower
        }
    }

    /// The identifier Qualys shows for an app the manifest left to default.
    fn default_identifier(&self, shape: &Shape) -> String {
        match self.cloud {
            Cloud::Azure if shape.azure_identifier_is_application => self.stored("applicationId", shape),
            Cloud::Azure => self.stored("subscriptionId", shape),
            Cloud::Aws => self.stored("arn", shape),
            _ => self.key.clone(),
        }
    }

    /// The connector as Qualys would print it in a search response.
    pub fn render(&self, shape: &Shape) -> String {
        let st = &self.settings;
        let mut o: Vec<(String, Node)> = vec![
            ("id".into(), lit(4242)),
            ("name".into(), s(st.name.clone().unwrap_or_default())),
        ];
        match &st.description {
            Some(d) => o.push(("description".into(), s(d.clone()))),
            None if !shape.empty_description_omitted => o.push(("description".into(), s(""))),
            None => {}
        }
        o.push(("type".into(), s(self.cloud.type_name())));
        o.push(("disabled".into(), lit(st.disabled.unwrap_or(false))));
        o.push(("runFrequency".into(), lit(st.run_frequency.unwrap_or(240))));
        o.push(("isRemediationEnabled".into(), lit(st.remediation.unwrap_or(false))));
        if shape.extras {
            o.push(("connectorState".into(), s("FINISHED_SUCCESS")));
            o.push(("lastSync".into(), s("2026-12-01T10:00:00Z")));
            o.push(("isGovCloudConfigured".into(), lit(false)));
            o.push(("isDeleted".into(), lit(false)));
            o.push(("cloudviewUuid".into(), s("95c9c13b-6726-3ef1-ad4c-a5fb811a9d72")));
        }
        // activation
        let mut modules: Vec<&str> = st.activation.clone().unwrap_or_default();
        if shape.cloudview_added {
            modules.push("CLOUDVIEW");
        }
        let modules = shuffled(&modules, shape.order);
        if !modules.is_empty() {
            let inner = if shape.json && modules.len() == 1 && shape.activation_bare {
                Node::Obj(vec![("ActivationModule".into(), s(modules[0]))])
            } else {
                Node::Obj(vec![(
                    "ActivationModule".into(),
                    Node::Arr(modules.iter().map(|m| s(*m)).collect()),
                )])
            };
            let node = if shape.json || shape.activation_bare {
                inner
            } else {
                Node::Obj(vec![("list".into(), inner)])
            };
            o.push(("activation".into(), node));
        }
        // default tags
        if let Some(tags) = st.tags.as_ref().filter(|t| !t.is_empty()) {
            let items: Vec<Node> = shuffled(tags, shape.order.rotate_left(7))
                .iter()
                .map(|t| {
                    let mut kv = vec![("id".to_string(), lit(t))];
                    if shape.tag_names {
                        kv.push(("name".into(), s(format!("tag {t}"))));
                    }
                    Node::Obj(vec![("TagSimple".into(), Node::Obj(kv))])
                })
                .collect();
            let list = if shape.json {
                Node::Arr(items)
            } else {
                Node::Arr(items.into_iter().map(unwrap_one).collect())
            };
            o.push((
                "defaultTags".into(),
                Node::Obj(vec![(
                    "list".into(),
                    if shape.json {
                        list
                    } else {
                        Node::Obj(vec![("TagSimple".into(), list)])
                    },
                )]),
            ));
        }
        // apps
        if let Some(apps) = st.apps.as_ref().filter(|a| !a.is_empty()) {
            let qlist = if shape.qllist {
                "ConnectorAppInfoQLList"
            } else {
                "ConnectorAppInfoQList"
            };
            let infos: Vec<Node> = shuffled(apps, shape.order.rotate_left(13))
                .iter()
                .map(|a| {
                    let mut kv = vec![
                        ("name".to_string(), s(a.name)),
                        (
                            "identifier".into(),
                            s(a.identifier.clone().unwrap_or_else(|| self.default_identifier(shape))),
                        ),
                    ];
                    if let (Some(t), true) = (a.tag_id, shape.app_tags_echoed) {
                        kv.push(("tagId".into(), lit(t)));
                        kv.push(("tagMetadata".into(), Node::Obj(vec![("id".into(), lit(t))])));
                    }
                    Node::Obj(kv)
                })
                .collect();
            // One QList per app, each holding `list` → ConnectorAppInfo.
            let qlists: Vec<Node> = infos
                .into_iter()
                .map(|info| {
                    Node::Obj(vec![(
                        "list".into(),
                        Node::Arr(vec![Node::Obj(vec![("ConnectorAppInfo".into(), info)])]),
                    )])
                })
                .collect();
            let node = if shape.list_per_app {
                // JSON: "list" repeated as a key; XML: sibling <list> elements.
                Node::Obj(
                    qlists
                        .into_iter()
                        .map(|q| {
                            (
                                "list".to_string(),
                                Node::Arr(vec![Node::Obj(vec![(qlist.to_string(), q)])]),
                            )
                        })
                        .collect(),
                )
            } else if shape.json {
                Node::Obj(vec![(
                    "list".into(),
                    Node::Arr(
                        qlists
                            .into_iter()
                            .map(|q| Node::Obj(vec![(qlist.to_string(), q)]))
                            .collect(),
                    ),
                )])
            } else {
                // XML: one <list> holding the QList elements.
                Node::Obj(vec![(
                    "list".into(),
                    Node::Obj(vec![(qlist.to_string(), Node::Arr(qlists))]),
                )])
            };
            o.push(("connectorAppInfos".into(), node));
        }
        // kind specifics
        match self.cloud {
            Cloud::Aws => {
                o.push(("arn".into(), s(self.stored("arn", shape))));
                o.push(("externalId".into(), s(self.stored("externalId", shape))));
                let account = self.key.clone();
                o.push(("awsAccountId".into(), s(account)));
                let regions = self.regions.clone().unwrap_or_default();
                o.push(("allRegions".into(), lit(regions.is_empty())));
                if !regions.is_empty() && shape.endpoints_printed {
                    let items: Vec<Node> = shuffled(&regions, shape.order)
                        .iter()
                        .map(|r| Node::Obj(vec![("regionCode".into(), s(*r))]))
                        .collect();
                    o.push((
                        "endpoints".into(),
                        Node::Obj(vec![(
                            "list".into(),
                            Node::Obj(vec![("AwsEndpointSimple".into(), Node::Arr(items))]),
                        )]),
                    ));
                }
            }
            Cloud::Azure => {
                let mut auth = vec![
                    ("applicationId".to_string(), s(self.stored("applicationId", shape))),
                    ("directoryId".into(), s(self.stored("directoryId", shape))),
                    ("subscriptionId".into(), s(self.stored("subscriptionId", shape))),
                ];
                if shape.secret_echoed {
                    auth.insert(
                        0,
                        ("authenticationKey".into(), s(self.secret.clone().unwrap_or_default())),
                    );
                }
                o.push(("authRecord".into(), Node::Obj(auth)));
                if shape.extras {
                    o.push(("subscriptionName".into(), s("cvtest")));
                }
            }
            Cloud::Gcp => o.push((
                "authRecord".into(),
                Node::Obj(vec![("projectId".into(), s(self.key.clone()))]),
            )),
            Cloud::Oci => {
                let auth = self
                    .stored
                    .iter()
                    .filter(|(k, _)| *k != "homeRegion")
                    .map(|(k, v)| (k.to_string(), s(v.clone())))
                    .collect();
                o.push(("authRecord".into(), Node::Obj(auth)));
                o.push(("homeRegion".into(), s(self.stored("homeRegion", shape))));
            }
        }
        let object = Node::Obj(shuffled(&o, shape.order.rotate_left(29)));
        let element = self.cloud.element();
        if shape.json {
            let data = match shape.data_form {
                0 => Node::Arr(vec![Node::Obj(vec![(element.into(), object)])]),
                1 => Node::Obj(vec![(element.into(), object)]),
                _ => Node::Obj(vec![(element.into(), Node::Arr(vec![object]))]),
            };
            format!(
                "{{\"ServiceResponse\": {{\"responseCode\": \"SUCCESS\", \"count\": 1, \"hasMoreRecords\": {}, \"data\": {}}}}}",
                if shape.string_scalars { "\"false\"" } else { "false" },
                data.json(shape.string_scalars)
            )
        } else {
            let mut body = String::new();
            Node::Obj(vec![(element.into(), object)]).xml(&mut body);
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ServiceResponse><responseCode>SUCCESS</responseCode><count>1</count><hasMoreRecords>false</hasMoreRecords><data>{body}</data></ServiceResponse>"
            )
        }
    }
}

/// `{"TagSimple": x}` → `x` (XML repeats the element name instead).
fn unwrap_one(n: Node) -> Node {
    match n {
        Node::Obj(mut kv) if kv.len() == 1 => kv.remove(0).1,
        other => other,
    }
}
