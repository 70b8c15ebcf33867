//! A Qualys subscription in every documented shape, made as people make them:
//! QPS connectors through the simulator's admin API (the Qualys UI), and what
//! the admin API has no door for (organization connectors, their attached
//! members, groups and their members, the global scan configuration) through
//! the public Qualys APIs over HTTP, as a script would. Shared by the export
//! tests (issue 20): the in-process one and the e2e one.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use qualys_operator::simulator::{CloudKind, SimHandle};
use serde_json::{Value, json};

/// How many of each kind to make.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Per cloud (AWS, Azure, GCP, OCI), made by hand.
    pub per_cloud: usize,
    pub orgs: usize,
    /// Subscriptions each org that creates connectors discovers (members Qualys makes).
    pub discovered_per_org: usize,
    pub groups: usize,
}

/// A few hundred objects of every kind: more than one page (100) of every list.
pub const LARGE: Sizes = Sizes {
    per_cloud: 250,
    orgs: 120,
    discovered_per_org: 2,
    groups: 130,
};

/// What was made, for the counts the tests expect.
#[derive(Debug, Default, Clone)]
pub struct Seeded {
    /// Connectors per cloud that belong to nobody (what export writes on its own).
    pub standalone: BTreeMap<CloudKind, usize>,
    /// All connectors per cloud Qualys lists (members included).
    pub listed: BTreeMap<CloudKind, usize>,
    pub orgs: usize,
    /// Members Qualys created for discovered subscriptions.
    pub auto_members: usize,
    /// Hand-made Azure connectors later attached to an org.
    pub attached_members: usize,
    pub groups: usize,
    pub group_members: usize,
    /// AWS connectors with `allRegions: false`, by id, and their regions:
    /// Qualys never lists them (Q-COL-8), so the person migrating fills them
    /// in from AWS, as export's note on each such file asks.
    pub aws_regions: BTreeMap<String, Vec<String>>,
}

const MODULES: [&str; 4] = ["VM", "PC", "SCA", "CERTVIEW"];
const AWS_REGIONS: [&str; 5] = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2", "eu-central-1"];
const GOV_REGIONS: [&str; 2] = ["us-gov-west-1", "us-gov-east-1"];
const CN_REGIONS: [&str; 2] = ["cn-north-1", "cn-northwest-1"];
const OCI_REGIONS: [&str; 3] = ["us-ashburn-1", "eu-frankfurt-1", "ap-tokyo-1"];

fn set(key: &str, items: Vec<Value>) -> Value {
    json!({ "set": { key: items } })
}

/// Activation modules by bit mask (every subset of the four appears).
fn activation(mask: usize) -> Value {
    let modules: Vec<Value> = MODULES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, m)| json!(m))
        .collect();
    set("ActivationModule", modules)
}

fn tags(i: usize, count: usize) -> Value {
    set(
        "TagSimple",
        (0..count).map(|t| json!({ "id": 1000 + i * 3 + t })).collect(),
    )
}

/// Apps by bit mask over AI, CI, CSA; each app's identifier is the natural one,
/// absent, or `other` (the Azure application id echo, or a custom value),
/// with or without a tag.
fn apps(mask: usize, i: usize, natural: &str, other: &str) -> Value {
    let list: Vec<Value> = ["AI", "CI", "CSA"]
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(bit, name)| {
            let mut app = json!({ "name": name });
            match (i + bit) % 3 {
                0 => app["identifier"] = json!(natural),
                1 => app["identifier"] = json!(other),
                _ => {}
            }
            if (i + bit).is_multiple_of(2) {
                app["tagId"] = json!(5000 + i + bit);
            }
            json!({ "set": { "ConnectorAppInfo": app } })
        })
        .collect();
    set("ConnectorAppInfoQList", list)
}

/// A connector's own perimeter scan schedule (CPS), daily or weekly.
fn scan_schedule(i: usize) -> Value {
    let mut cfg = json!({
        "scanPrefix": format!("cps-{i}"), "optionProfileId": 100 + i, "startDate": "06/22/2026",
        "startTime": format!("{:02}:30", i % 24), "timezone": "UTC",
    });
    if i.is_multiple_of(2) {
        cfg["recurrence"] = json!("DAILY");
    } else {
        cfg["recurrence"] = json!("WEEKLY");
        cfg["daysOfWeek"] = set("Day", vec![json!("MON"), json!("THU")]);
    }
    json!({ "set": { "ConnectorScanConfiguration": cfg } })
}

fn perimeter(fields: &mut Value, i: usize) {
    match i % 4 {
        0 => {}
        1 => fields["isCPSEnabled"] = json!(true),
        2 => {
            fields["isCPSEnabled"] = json!(true);
            fields["connectorScanSetting"] = json!({ "isCustomScanConfigEnabled": true });
            fields["connectorScanConfig"] = scan_schedule(i);
        }
        _ => fields["isCPSEnabled"] = json!(false),
    }
}

/// Common fields: name (some shared, some odd), description, disabled, frequency.
fn common(cloud: &str, i: usize) -> Value {
    let name = match i % 6 {
        0 => "Same Name".to_string(),
        1 => format!("{cloud} prod #{i} (EU)/main"),
        2 => format!("{}{i}", "x".repeat(70)),
        _ => format!("{cloud}-{i}"),
    };
    let mut fields = json!({ "name": name, "disabled": i.is_multiple_of(5) });
    if i.is_multiple_of(3) {
        fields["description"] = json!(format!("made in the UI, #{i}"));
    }
    if !i.is_multiple_of(4) {
        fields["runFrequency"] = json!(60 * (1 + i % 24));
    }
    fields
}

/// The Azure AD tenant org `o` covers.
pub fn org_tenant(o: usize) -> String {
    format!("0c6d8e2a-4b1f-4a3c-9d5e-{:012x}", 0xa000 + o)
}

fn aws(i: usize) -> Value {
    let (partition, regions): (&str, &[&str]) = match i % 6 {
        1 => ("aws-us-gov", &GOV_REGIONS),
        4 => ("aws-cn", &CN_REGIONS),
        _ => ("aws", &AWS_REGIONS),
    };
    let arn = format!(
        "arn:{partition}:iam::{:012}:role/Qualys{i}",
        300_000_000_000u64 + i as u64
    );
    let mut f = common("AWS", i);
    f["arn"] = json!(arn);
    f["externalId"] = json!(format!("ext-{i}"));
    if partition == "aws-us-gov" && i % 12 == 1 {
        f["isGovCloudConfigured"] = json!(true);
    }
    match i % 3 {
        0 => {}
        1 => f["allRegions"] = json!(true),
        _ => {
            f["allRegions"] = json!(false);
            let chosen: Vec<Value> = regions
                .iter()
                .take(1 + i % regions.len())
                .map(|r| json!({ "regionCode": r }))
                .collect();
            f["endpoints"] = set("AwsEndpointSimple", chosen);
        }
    }
    f["activation"] = activation(i % 16);
    f["defaultTags"] = tags(i, i % 3);
    f["connectorAppInfos"] = apps(i % 8, i, &arn, "custom-id");
    if i.is_multiple_of(7) {
        f["isRemediationEnabled"] = json!(true);
    }
    perimeter(&mut f, i);
    f
}

fn azure(i: usize, directory: &str) -> Value {
    let subscription = format!("7A9C2E4F-1B3D-4F6A-8C0E-{i:012}");
    let application = format!("5e7f9a1b-3c5d-4e7f-9a1b-{i:012}");
    let mut f = common("Azure", i);
    f["authRecord"] = json!({
        "applicationId": application, "directoryId": directory,
        "subscriptionId": subscription, "authenticationKey": "k",
    });
    if i % 4 == 1 {
        f["isGovCloudConfigured"] = json!(true);
    }
    f["activation"] = activation((i * 5) % 16);
    f["defaultTags"] = tags(i, (i + 1) % 3);
    // The identifier as sent (the subscription, in any case) or as Qualys
    // echoes it (the application id, Q-COL-6).
    f["connectorAppInfos"] = apps(i % 8, i, &subscription.to_lowercase(), &application);
    if i % 7 == 3 {
        f["isRemediationEnabled"] = json!(true);
    }
    perimeter(&mut f, i + 1);
    f
}

fn gcp(i: usize) -> Value {
    let project = format!("proj-{i:04}-x");
    let mut f = common("GCP", i);
    f["authRecord"] = json!({ "projectId": project, "client_email": "x@y.iam", "private_key": "k" });
    f["connectorAppInfos"] = apps(i % 8, i, &project, "custom-gcp");
    f
}

fn oci(i: usize) -> Value {
    let tenancy = format!("ocid1.tenancy.oc1..aaaaaaaa{i:08}");
    let mut f = common("OCI", i);
    f["homeRegion"] = json!(OCI_REGIONS[i % OCI_REGIONS.len()]);
    f["authRecord"] = json!({
        "tenantId": tenancy, "userId": format!("ocid1.user.oc1..aaaaaaaa{i:08}"),
        "fingerprint": "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99", "privateKey": "k",
    });
    f["activation"] = activation((i * 3) % 16);
    f["defaultTags"] = tags(i, i % 2);
    f["connectorAppInfos"] = apps(i % 8, i, &tenancy, "custom-oci");
    if i.is_multiple_of(3) {
        f["isRemediationEnabled"] = json!(true);
    }
    f
}

/// Whether the connector's apps make CloudView know it (a group may list it).
fn cloudview_known(fields: &Value) -> bool {
    fields["connectorAppInfos"].to_string().contains("\"CI\"")
        || fields["connectorAppInfos"].to_string().contains("\"CSA\"")
}

/// Public Qualys APIs over HTTP, as a script would call them.
struct Http {
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Http {
    async fn new(sim: &SimHandle) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|e| panic!("reqwest: {e}"));
        let base = sim.base_url();
        let form = [("username", "demo"), ("password", "demo"), ("token", "true")];
        let resp = http
            .post(format!("{base}/auth"))
            .form(&form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("auth: {e}"));
        let token = resp.text().await.unwrap_or_default();
        Self { base, http, token }
    }

    async fn send(&self, what: &str, req: reqwest::RequestBuilder) -> String {
        let resp = req.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "{what}: {status} {body}");
        body
    }

    async fn gateway(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let text = self
            .send(
                path,
                self.http
                    .request(method, format!("{}/connectors/v1.0/{path}", self.base))
                    .bearer_auth(&self.token)
                    .header("Content-Type", "application/json")
                    .body(body.to_string()),
            )
            .await;
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn cloudview(&self, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .post(format!("{}/cloudview-api/rest/v1/{path}", self.base))
            .basic_auth("demo", Some("demo"))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        if let Some(body) = body {
            req = req.body(body.to_string());
        }
        let text = self.send(path, req).await;
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn qps(&self, path: &str, body: Value) {
        let text = self
            .send(
                path,
                self.http
                    .post(format!("{}/qps/rest/3.0/{path}", self.base))
                    .basic_auth("demo", Some("demo"))
                    .header("Content-Type", "application/json")
                    .header("Accept", "application/json")
                    .body(body.to_string()),
            )
            .await;
        assert!(text.contains("SUCCESS"), "{path}: {text}");
    }
}

fn org_body(o: usize) -> Value {
    let apps: Vec<Value> = ["AI", "CI", "CSA"]
        .iter()
        .enumerate()
        .filter(|(bit, _)| (1 + o % 7) & (1 << bit) != 0)
        .map(|(bit, name)| {
            let mut app = json!({ "name": name });
            if (o + bit).is_multiple_of(2) {
                app["tagId"] = json!(7000 + o);
            }
            app
        })
        .collect();
    let mut body = json!({
        "name": if o.is_multiple_of(5) { format!("Contoso (EU) / #{o}") } else { format!("Org {o}") },
        "tenantId": org_tenant(o),
        "tenantName": format!("tenant{o}.onmicrosoft.com"),
        "applicationId": format!("9b8a7c6d-5e4f-4a3b-2c1d-{o:012}"),
        "secretValue": "s3cret",
        "connectorPrefixName": format!("org{o}-"),
        "connectorAppInfos": apps,
        "orgRunFrequency": { "hours": 1 + o % 23, "minutes": if o.is_multiple_of(2) { 0 } else { 30 } },
        "connectorRunFrequency": { "hours": 4 + o % 3, "minutes": 0 },
        "isCreateConnectorForNewSubscriptionsAutomatically": o.is_multiple_of(2),
        "isDisableConnectorsForDeletedManagementGroups": o.is_multiple_of(3),
        "autoActivateVM": o.is_multiple_of(2),
        "autoActivatePC": o.is_multiple_of(3),
        "autoActivateSCA": o.is_multiple_of(4),
        "autoActivateCertView": o.is_multiple_of(5),
        "autoActivateCV": o % 2 == 1,
        "isRemediationEnabled": o.is_multiple_of(6),
    });
    if o % 3 != 2 {
        body["includedMem"] = json!([format!("mg-{o}-prod")]);
    }
    if o % 4 == 1 {
        body["excludedMem"] = json!([format!("mg-{o}-sandbox")]);
    }
    if o % 3 == 1 {
        body["defaultTagIds"] = json!([8000 + o, 8001 + o]);
    }
    if o % 2 == 1 {
        body["description"] = json!(format!("org {o}, made in the UI"));
    }
    body
}

/// Populates `tenant` with every shape, `sizes` of each kind.
pub async fn seed_every_shape(sim: &SimHandle, tenant: &str, sizes: Sizes) -> Seeded {
    let http = Http::new(sim).await;
    let mut seeded = Seeded::default();
    let make = |cloud, fields: &Value| {
        sim.create_connector(tenant, cloud, fields.clone())
            .unwrap_or_else(|e| panic!("{cloud:?} {fields}: {e}"))
    };
    // Group members: (cloudType, account) of CloudView-known connectors.
    let mut members: Vec<(&str, String)> = Vec::new();
    let mut to_attach: Vec<(u64, usize)> = Vec::new();
    for i in 0..sizes.per_cloud {
        let f = aws(i);
        let id = make(CloudKind::Aws, &f);
        if f["allRegions"] == json!(false) {
            let regions = f["endpoints"]["set"]["AwsEndpointSimple"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["regionCode"].as_str().map(str::to_string))
                .collect();
            seeded.aws_regions.insert(id.to_string(), regions);
        }
        if cloudview_known(&f) {
            members.push(("AWS", format!("{:012}", 300_000_000_000u64 + i as u64)));
        }
        // Every third Azure connector is in an org's tenant, to be attached to it.
        let org = (i.is_multiple_of(3) && sizes.orgs > 0).then(|| (i / 3) % sizes.orgs);
        let directory = org.map_or_else(|| "1c6d8e2a-4b1f-4a3c-9d5e-7f8a9b0c1d2e".to_string(), org_tenant);
        let f = azure(i, &directory);
        let id = make(CloudKind::Azure, &f);
        match org {
            Some(o) if i.is_multiple_of(2) => to_attach.push((id, o)),
            _ => {
                if cloudview_known(&f) {
                    members.push(("AZURE", format!("7a9c2e4f-1b3d-4f6a-8c0e-{i:012}")));
                }
            }
        }
        let f = gcp(i);
        make(CloudKind::Gcp, &f);
        if cloudview_known(&f) {
            members.push(("GCP", format!("proj-{i:04}-x")));
        }
        make(CloudKind::Oci, &oci(i));
    }
    for cloud in [CloudKind::Aws, CloudKind::Azure, CloudKind::Gcp, CloudKind::Oci] {
        seeded.listed.insert(cloud, sizes.per_cloud);
        seeded.standalone.insert(cloud, sizes.per_cloud);
    }

    let mut org_ids = Vec::new();
    for o in 0..sizes.orgs {
        let created = http.gateway(reqwest::Method::POST, "org/azure", org_body(o)).await;
        let id = created["id"]
            .as_u64()
            .or_else(|| created["id"].as_str().and_then(|s| s.parse().ok()))
            .unwrap_or_else(|| panic!("org {o}: no id in {created}"));
        org_ids.push(id);
        if o.is_multiple_of(2) {
            for s in 0..sizes.discovered_per_org {
                let subscription = format!("2d4f6a8c-0e1b-4d3f-8a5c-{:06}{s:06}", o);
                let group = (s % 2 == 1).then(|| format!("mg-{o}-prod"));
                let made = sim
                    .discover_subscription(tenant, id, &subscription, group.as_deref())
                    .unwrap_or_else(|e| panic!("discovering {subscription}: {e}"));
                assert!(made.is_some(), "org {o} creates connectors for new subscriptions");
                seeded.auto_members += 1;
            }
        }
    }
    seeded.orgs = sizes.orgs;
    for (connector, o) in to_attach {
        http.gateway(
            reqwest::Method::PUT,
            "azure/attach",
            json!({ "connectorId": connector, "organizationConnectorId": org_ids[o] }),
        )
        .await;
        seeded.attached_members += 1;
    }
    *seeded.listed.entry(CloudKind::Azure).or_default() += seeded.auto_members;
    *seeded.standalone.entry(CloudKind::Azure).or_default() -= seeded.attached_members;

    // Groups: empty ones, and ones with members of every cloud CloudView knows.
    for g in 0..sizes.groups {
        let name = format!("team {g}");
        let created = http
            .cloudview(&format!("groups?groupName={}", name.replace(' ', "%20")), None)
            .await;
        let uuid = created["groupId"]
            .as_str()
            .unwrap_or_else(|| panic!("group {g}: {created}"))
            .to_string();
        if g.is_multiple_of(4) {
            continue;
        }
        for cloud in ["AWS", "AZURE", "GCP"] {
            let accounts: Vec<&str> = members
                .iter()
                .filter(|(c, _)| *c == cloud)
                .skip(g % 7)
                .step_by(9 + g % 5)
                .take(1 + g % 4)
                .map(|(_, a)| a.as_str())
                .collect();
            if accounts.is_empty() {
                continue;
            }
            seeded.group_members += accounts.len();
            http.cloudview(
                &format!("groups/connectors?cloudType={cloud}"),
                Some(json!({ "accountIdentifiers": accounts, "add": { "groupIds": [uuid] } })),
            )
            .await;
        }
    }
    seeded.groups = sizes.groups;

    http.qps(
        "create/am/globalscanconfiguration",
        json!({ "ServiceRequest": { "data": { "GlobalScanConfiguration": {
            "scanPrefix": "perimeter", "optionProfileId": 4242, "recurrence": "WEEKLY",
            "startDate": "06/22/2026", "startTime": "02:15", "timezone": "Europe/Paris",
            "daysOfWeek": { "set": { "Day": ["SUN", "WED"] } },
        } } } }),
    )
    .await;
    seeded
}

/// `ceil(n / 100)`: the calls one paged list of `n` takes.
pub fn pages(n: usize) -> u64 {
    n.div_ceil(100).max(1) as u64
}
