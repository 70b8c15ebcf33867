//! The documented request and response samples (in `testdata/`) against the
//! codecs, in XML and JSON, plus a table of quirky payloads.

use serde_json::{Value, json};

use super::cloudview::groups::{CloudViewConnector, Group, SpringPage, membership_body};
use super::config::QpsFormat;
use super::error::QualysError;
use super::gateway::org::{
    GatewayPage, Job, ManagementGroups, MemberConnector, OrgApp, OrgConnector, OrgConnectorWrite, RunFrequency,
    TestConnectionJob,
};
use super::qps::account_info::{AwsBaseAccount, ConnectorErrorEntry, PortalVersion};
use super::qps::connector::{
    AuthRecordWrite, CloudKind, Connector, ConnectorApp, ConnectorAppWrite, ConnectorWrite, GcpServiceAccountKey,
};
use super::qps::criteria::Criteria;
use super::qps::envelope::{DecodedRequest, ServiceRequest, ServiceResponse};
use super::qps::scan::{GLOBAL_SCAN_ELEMENT, ScanConfig};
use super::secret::Secret;
use super::transport::http_error;
use super::{Family, lenient};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("testdata/", $name))
    };
}

fn one(body: &str, kind: CloudKind) -> Connector {
    let resp = ServiceResponse::decode(body.as_bytes()).unwrap_or_else(|e| panic!("{e}: {body}"));
    let objs = resp.objects(kind.element());
    assert_eq!(objs.len(), 1, "{body}");
    Connector::from_value(Some(kind), objs[0])
}

/// Generic shape comparison: single-item lists are the item, scalars are text,
/// the two QList spellings are one.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Array(items) if items.len() == 1 => normalize(&items[0]),
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    (
                        k.replace("ConnectorAppInfoQLList", "ConnectorAppInfoQList"),
                        normalize(v),
                    )
                })
                .collect(),
        ),
        Value::Null => Value::String(String::new()),
        other => Value::String(lenient::text(other).unwrap_or_default()),
    }
}

/// Our encoding of `write` in both formats reads back as the documented sample.
fn assert_request_matches(sample: &str, element: &str, content: super::tree::Node, ignore: &[&str]) {
    let expected = DecodedRequest::decode(sample).unwrap();
    let (exp_element, mut exp_data) = expected.data.expect("sample has data");
    assert_eq!(exp_element, element);
    for format in [QpsFormat::Xml, QpsFormat::Json] {
        let (body, _) = ServiceRequest::with_data(element, content.clone()).encode(format);
        let (element_got, mut got) = DecodedRequest::decode(&body).unwrap().data.unwrap();
        assert_eq!(element_got, element);
        for key in ignore {
            got.as_object_mut().map(|o| o.remove(*key));
            exp_data.as_object_mut().map(|o| o.remove(*key));
        }
        assert_eq!(normalize(&got), normalize(&exp_data), "{format:?}\nours: {body}");
    }
}

fn app(name: &str, identifier: &str, tag: Option<&str>) -> ConnectorAppWrite {
    ConnectorAppWrite {
        name: name.into(),
        identifier: identifier.into(),
        tag_id: tag.map(str::to_owned),
    }
}

fn strings(items: &[&str]) -> Option<Vec<String>> {
    Some(items.iter().map(|s| s.to_string()).collect())
}

#[test]
fn aws_create_requests_match_samples() {
    let arn = "arn:aws:iam:::12345678911/role:testrole";
    let write = ConnectorWrite {
        name: Some("Test AWSConnector API".into()),
        description: Some("Connector created through API automation".into()),
        default_tag_ids: strings(&["42458382"]),
        activation: strings(&["VM", "CERTVIEW"]),
        disabled: Some(false),
        arn: Some(arn.into()),
        external_id: Some("POD-999999-11213331".into()),
        gov_cloud: Some(false),
        all_regions: Some(true),
        run_frequency: Some(300),
        remediation_enabled: Some(true),
        apps: Some(vec![
            app("AI", arn, Some("42458382")),
            app("CI", arn, Some("42458382")),
            app("CSA", arn, Some("42458382")),
        ]),
        ..ConnectorWrite::default()
    };
    assert_request_matches(
        fixture!("aws_create_request.xml"),
        "AwsAssetDataConnector",
        write.to_node(),
        &[],
    );

    let arn = "arn:aws:iam::::12345678911/role:testrole";
    let write = ConnectorWrite {
        name: Some("AWS Connector Via API".into()),
        description: Some("Connector created through API".into()),
        default_tag_ids: strings(&["42458382"]),
        activation: strings(&["VM", "SCA"]),
        disabled: Some(false),
        arn: Some(arn.into()),
        external_id: Some("POD-999999-11213331".into()),
        all_regions: Some(true),
        run_frequency: Some(240),
        remediation_enabled: Some(true),
        apps: Some(vec![
            app("AI", arn, Some("42458382")),
            app("CI", arn, Some("42458382")),
            app("CSA", arn, Some("42458382")),
        ]),
        ..ConnectorWrite::default()
    };
    assert_request_matches(
        fixture!("aws_create_request.json"),
        "AwsAssetDataConnector",
        write.to_node(),
        &[],
    );
}

#[test]
fn aws_cps_and_regions_requests_match_samples() {
    let write = ConnectorWrite {
        cps_enabled: Some(true),
        custom_scan_config_enabled: Some(true),
        scan_config: Some(ScanConfig {
            option_profile_id: Some(2),
            recurrence: Some("WEEKLY".into()),
            days_of_week: strings(&["SUN", "MON", "TUE"]),
            scan_prefix: Some("Scan aws 02".into()),
            start_date: Some("31/05/2022".into()),
            start_time: Some("15:45".into()),
            timezone: Some("Africa/Cairo".into()),
        }),
        ..ConnectorWrite::default()
    };
    assert_request_matches(
        fixture!("aws_create_cps_request.xml"),
        "AwsAssetDataConnector",
        write.to_node(),
        &[],
    );

    // The sample adds regions with `add`; we replace with `set`: the same regions must be read back.
    let write = ConnectorWrite {
        name: Some("AWS regions".into()),
        arn: Some("arn:aws:iam::123456789012:role/r".into()),
        external_id: Some("e-1".into()),
        all_regions: Some(false),
        regions: strings(&["af-south-1", "eu-south-1"]),
        ..ConnectorWrite::default()
    };
    let sample = DecodedRequest::decode(fixture!("aws_create_regions_request.json"))
        .unwrap()
        .data
        .unwrap()
        .1;
    let (ours, _) = ServiceRequest::with_data("AwsAssetDataConnector", write.to_node()).encode(QpsFormat::Xml);
    let ours = DecodedRequest::decode(&ours).unwrap().data.unwrap().1;
    assert_eq!(Connector::from_value(None, &ours), Connector::from_value(None, &sample));
    assert_eq!(
        Connector::from_value(None, &ours).regions,
        strings(&["af-south-1", "eu-south-1"])
    );
}

#[test]
fn aws_update_sample_with_three_sets_in_one_qlist_reads_the_same_apps() {
    let arn = "arn:aws:iam:::12345678911/role:testrole";
    let sample = DecodedRequest::decode(fixture!("aws_update_request.xml"))
        .unwrap()
        .data
        .unwrap()
        .1;
    let read = Connector::from_value(Some(CloudKind::Aws), &sample);
    let names: Vec<_> = read.apps.as_ref().unwrap().iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["AI", "CI", "CSA"]);
    let write = ConnectorWrite {
        name: Some("AWSConnector API Updated".into()),
        description: Some("Updated Description Via API Updated".into()),
        default_tag_ids: strings(&["42458382"]),
        activation: strings(&["VM"]),
        all_regions: Some(true),
        disabled: Some(false),
        run_frequency: Some(120),
        remediation_enabled: Some(false),
        arn: Some(arn.into()),
        external_id: Some("POD-999999-11213331".into()),
        apps: Some(vec![
            app("AI", arn, Some("42458382")),
            app("CI", arn, Some("42458382")),
            app("CSA", arn, Some("42458382")),
        ]),
        ..ConnectorWrite::default()
    };
    let (ours, _) = ServiceRequest::with_data("AwsAssetDataConnector", write.to_node()).encode(QpsFormat::Json);
    let ours = DecodedRequest::decode(&ours).unwrap().data.unwrap().1;
    assert_eq!(Connector::from_value(Some(CloudKind::Aws), &ours), read);
}

fn azure_write(key: &str) -> ConnectorWrite {
    let sub = "9de9e0a7-4f67-4812-917d-2246853844e1";
    ConnectorWrite {
        name: Some("Azure Connector Via API".into()),
        description: Some("Sample Azure Connector API".into()),
        default_tag_ids: strings(&["123488470"]),
        activation: strings(&["VM", "CERTVIEW", "SCA"]),
        disabled: Some(false),
        run_frequency: Some(240),
        remediation_enabled: Some(true),
        gov_cloud: Some(false),
        auth_record: Some(AuthRecordWrite {
            application_id: Some("f076c321-694d-4929-ae0b-d2bd14d1a4d7".into()),
            directory_id: Some("ff4e2413-65ab-4dc2-9e5b-1ea02d3d94eb".into()),
            subscription_id: Some(sub.into()),
            authentication_key: Some(Secret::new(key)),
            ..AuthRecordWrite::default()
        }),
        apps: Some(vec![
            app("AI", sub, Some("123489465")),
            app("CI", sub, Some("123489465")),
            app("CSA", sub, Some("123489465")),
        ]),
        ..ConnectorWrite::default()
    }
}

#[test]
fn azure_requests_match_samples() {
    let xml = azure_write("02LCb8/RCn0lbGj6xxxxxxxxnoH01rog=");
    assert_request_matches(
        fixture!("azure_create_request.xml"),
        "AzureAssetDataConnector",
        xml.to_node(),
        &[],
    );
    let json = azure_write("02LCb8/RCn0lbGj6xxxxxxxxxnoH01rog=");
    assert_request_matches(
        fixture!("azure_create_request.json"),
        "AzureAssetDataConnector",
        json.to_node(),
        &[],
    );
    // Partial update: only the fields set are sent; a single module is still a list.
    let update = ConnectorWrite {
        name: Some("Azure Connector".into()),
        description: Some("Updated Description Via API New1".into()),
        default_tag_ids: strings(&["123488470"]),
        activation: strings(&["VM"]),
        disabled: Some(false),
        run_frequency: Some(300),
        remediation_enabled: Some(true),
        ..ConnectorWrite::default()
    };
    assert_request_matches(
        fixture!("azure_update_request.json"),
        "AzureAssetDataConnector",
        update.to_node(),
        &[],
    );
    assert!(!update.to_node().to_xml("x").contains("authRecord"));
}

#[test]
fn gcp_requests_match_samples_and_key_file_parses() {
    let key_json = json!({
        "type": "service_account",
        "project_id": "my-project-1513669048551",
        "private_key_id": "9f5cd117dd7bcaad4",
        "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvgIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n",
        "client_email": "crm-70975@my-project-1513669048551.iam.gserviceaccount.com",
        "client_id": "105994049705415737317",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/crm-70975%40my-project-1513669048551.iam.gserviceaccount.com"
    })
    .to_string();
    let key = GcpServiceAccountKey::from_json(&key_json).unwrap();
    assert!(!format!("{key:?}").contains("PRIVATE KEY"));
    assert!(
        GcpServiceAccountKey::from_json("not json { \"private_key\": \"zzz\"")
            .unwrap_err()
            .find("zzz")
            .is_none()
    );
    let project = "my-project-1513669048551";
    let write = ConnectorWrite {
        disabled: Some(false),
        apps: Some(vec![
            app("CSA", project, Some("123489465")),
            app("CI", project, Some("123489465")),
        ]),
        run_frequency: Some(240),
        gov_cloud: Some(false),
        remediation_enabled: Some(true),
        name: Some("Test GCP connector".into()),
        auth_record: Some(AuthRecordWrite {
            gcp_key: Some(key),
            ..AuthRecordWrite::default()
        }),
        ..ConnectorWrite::default()
    };
    assert_request_matches(
        fixture!("gcp_create_request.xml"),
        "GcpAssetDataConnector",
        write.to_node(),
        &[],
    );
    assert_request_matches(
        fixture!("gcp_create_request.json"),
        "GcpAssetDataConnector",
        write.to_node(),
        &[],
    );
}

#[test]
fn oci_requests_match_samples() {
    let tenancy = "ocid1.tenancy.oc1..aaaatenancy";
    let write = ConnectorWrite {
        name: Some("Oci2".into()),
        description: Some("Master oci Connector".into()),
        home_region: Some("us-ashburn-1".into()),
        run_frequency: Some(240),
        remediation_enabled: Some(false),
        disabled: Some(false),
        gov_cloud: Some(true),
        cps_enabled: Some(true),
        auth_record: Some(AuthRecordWrite {
            tenant_id: Some(tenancy.into()),
            user_id: Some("ocid1.user.oc1..aaaauser".into()),
            fingerprint: Some("aa:74:bb:60:cc:04:dd:d4:ee:ca:ff:b4:11:23:22:fg".into()),
            private_key: Some(Secret::new(
                "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----",
            )),
            passphrase: Some(Secret::new("passphrase1")),
            ..AuthRecordWrite::default()
        }),
        apps: Some(vec![
            app("AI", tenancy, Some("")),
            app("CI", tenancy, None),
            app("CSA", tenancy, None),
        ]),
        ..ConnectorWrite::default()
    };
    // OCI puts all apps in one QList; we send one QList per app: compare the apps as read.
    let sample = fixture!("oci_create_request.json");
    assert_request_matches(sample, "OciAssetDataConnector", write.to_node(), &["connectorAppInfos"]);
    let sample_apps = Connector::from_value(None, &DecodedRequest::decode(sample).unwrap().data.unwrap().1).apps;
    let ours = write.to_node().to_json();
    assert_eq!(Connector::from_value(None, &ours).apps, sample_apps);
    assert_eq!(sample_apps.unwrap()[0].tag_id, None, "tagId \"\" means no tag");
}

#[test]
fn search_filters_match_samples_in_both_criteria_forms() {
    let xml = DecodedRequest::decode(fixture!("gcp_search_request.xml")).unwrap();
    let expected = vec![
        Criteria::equals("authRecord.projectId", "my-project-1513660001"),
        Criteria::equals("connectorState", "FINISHED_SUCCESS"),
        Criteria::equals("appCapability.name", "CSA"),
        Criteria::equals("disabled", "false"),
    ];
    assert_eq!(xml.filters, expected);
    let json = DecodedRequest::decode(fixture!("azure_search_request.json")).unwrap();
    assert_eq!(json.filters.len(), 4);
    assert_eq!(
        json.filters[2],
        Criteria::equals("authRecord.subscriptionId", "9de9e0a7-4f67-4812-917d-2246853844e1")
    );
    let errors = DecodedRequest::decode(fixture!("connector_errors_request.xml")).unwrap();
    let ours = ServiceRequest {
        filters: vec![Criteria::equals("id", "167405")],
        ..ServiceRequest::default()
    };
    for format in [QpsFormat::Xml, QpsFormat::Json] {
        assert_eq!(
            DecodedRequest::decode(&ours.encode(format).0).unwrap().filters,
            errors.filters
        );
    }
}

#[test]
fn global_scan_request_and_response_match_samples() {
    let config = ScanConfig {
        scan_prefix: Some("Global Scan".into()),
        option_profile_id: Some(2),
        recurrence: Some("WEEKLY".into()),
        start_date: Some("06/22/2022".into()),
        start_time: Some("12:45".into()),
        days_of_week: strings(&["SUN", "TUE"]),
        timezone: Some("Africa/Cairo".into()),
    };
    assert_request_matches(
        fixture!("global_scan_request.xml"),
        GLOBAL_SCAN_ELEMENT,
        config.to_node(),
        &[],
    );
    let resp = ServiceResponse::decode(fixture!("global_scan_response.xml").as_bytes()).unwrap();
    assert_eq!(ScanConfig::from_value(resp.objects(GLOBAL_SCAN_ELEMENT)[0]), config);
}

#[test]
fn aws_responses_decode() {
    let c = one(fixture!("aws_create_response.xml"), CloudKind::Aws);
    assert_eq!(c.id.as_deref(), Some("1998001"));
    assert_eq!(c.kind, Some(CloudKind::Aws));
    assert_eq!(c.connector_state.as_deref(), Some("QUEUED"));
    assert_eq!(c.activation, strings(&["CLOUDVIEW", "CERTVIEW", "VM"]));
    assert_eq!(
        c.default_tags.as_ref().unwrap()[0].name.as_deref(),
        Some("CV_Automation_Tag")
    );
    assert_eq!(c.apps.as_ref().unwrap().len(), 3);
    assert_eq!(c.apps.as_ref().unwrap()[0].tag_id.as_deref(), Some("20485923"));
    assert_eq!(
        (c.gov_cloud, c.china, c.all_regions),
        (Some(false), Some(false), Some(true))
    );
    assert_eq!(c.qualys_aws_account_id.as_deref(), Some("805950163170"));

    let j = one(fixture!("aws_create_response.json"), CloudKind::Aws);
    assert_eq!(j.id.as_deref(), Some("1998002"));
    assert_eq!(
        (j.disabled, j.all_regions, j.remediation_enabled),
        (Some(false), Some(true), Some(true))
    );
    assert_eq!(j.run_frequency, Some(240));
    assert_eq!(j.default_tags.as_ref().unwrap()[0].id, "42458382");
    let tags: Vec<_> = j.apps.unwrap().into_iter().map(|a| a.tag_id.unwrap()).collect();
    assert_eq!(tags, ["20485923", "20485923", "20485923"]);

    for body in [
        fixture!("aws_update_response.xml"),
        fixture!("aws_update_response.json"),
    ] {
        assert_eq!(one(body, CloudKind::Aws).id.as_deref(), Some("843003"));
    }
    for body in [
        fixture!("aws_delete_response.xml"),
        fixture!("aws_delete_response.json"),
    ] {
        assert_eq!(one(body, CloudKind::Aws).id.as_deref(), Some("12345"));
    }

    let run = one(fixture!("aws_run_response.json"), CloudKind::Aws);
    let names: Vec<_> = run.apps.as_ref().unwrap().iter().map(|a| a.name.clone()).collect();
    assert_eq!(names, ["CI", "AI", "CSA"], "QList and QLList spellings both read");
    assert!(run.apps.unwrap().iter().all(|a| a.tag_id.is_none()));
    assert_eq!(
        run.last_error.as_deref().map(|e| e.starts_with("Error getting EBS")),
        Some(true)
    );
    assert_eq!(run.is_deleted, Some(false));
    assert_eq!(
        run.cloudview_uuid.as_deref(),
        Some("5d2e1a4c-85d6-4b2e-a779-4a7eb643444f")
    );

    let resp = ServiceResponse::decode(fixture!("aws_search_response.xml").as_bytes()).unwrap();
    assert_eq!(resp.has_more_records, Some(false));
    assert_eq!(resp.count, Some(1));
    let s = Connector::from_value(Some(CloudKind::Aws), resp.objects("AwsAssetDataConnector")[0]);
    assert_eq!(s.last_sync.as_deref(), Some("2022-04-30T11:58:06Z"));
    assert_eq!(
        s.apps.unwrap()[0],
        ConnectorApp {
            name: "CSA".into(),
            identifier: Some("arn:aws:iam::111122223333:role/test_pod".into()),
            tag_id: Some("5544332211".into())
        }
    );

    let g = one(fixture!("aws_get_response.json"), CloudKind::Aws);
    assert_eq!(g.id.as_deref(), Some("179407"));
    assert_eq!(g.next_sync.as_deref(), Some("2022-07-05T07:20:00Z"));
    assert_eq!(g.apps.unwrap().len(), 1);
    assert_eq!(g.regions, None);

    let cps = one(fixture!("aws_get_cps_response.xml"), CloudKind::Aws);
    assert_eq!(
        (cps.cps_enabled, cps.custom_scan_config_enabled),
        (Some(true), Some(true))
    );
    let sc = cps.scan_config.unwrap();
    assert_eq!(sc.days_of_week, strings(&["SUN", "MON", "TUE"]));
    assert_eq!(sc.option_profile_id, Some(2));
    assert_eq!(
        cps.regions,
        Some(vec![]),
        "<endpoints><list/></endpoints> is an empty list"
    );
}

#[test]
fn azure_responses_decode() {
    let c = one(fixture!("azure_create_response.xml"), CloudKind::Azure);
    assert_eq!(c.id.as_deref(), Some("1672602"));
    assert_eq!(c.kind, Some(CloudKind::Azure));
    assert_eq!(c.activation, None, "not echoed is not empty");
    assert_eq!(c.subscription_id, None);
    let j = one(fixture!("azure_create_response.json"), CloudKind::Azure);
    assert_eq!(j.id.as_deref(), Some("1672601"));
    assert_eq!(j.apps.unwrap()[1].tag_id.as_deref(), Some("123489465"));
    assert_eq!(
        one(fixture!("azure_update_response.xml"), CloudKind::Azure)
            .id
            .as_deref(),
        Some("842602")
    );

    for body in [
        fixture!("azure_run_response.xml"),
        fixture!("azure_search_response.json"),
    ] {
        let r = one(body, CloudKind::Azure);
        assert_eq!(r.id.as_deref(), Some("842602"));
        assert_eq!(r.activation, strings(&["CLOUDVIEW"]), "activation without list wrapper");
        assert_eq!(r.apps.as_ref().map(Vec::len), Some(3), "one <list> per QList");
        assert_eq!(
            r.subscription_id.as_deref(),
            Some("9de9e0a7-4f67-4812-917d-2246853844e1")
        );
        assert_eq!(
            r.application_id.as_deref(),
            Some("f076c321-694d-4929-ae0b-d2bd14d1a4d7")
        );
        assert_eq!(r.directory_id.as_deref(), Some("ff4e2413-65ab-4dc2-9e5b-1ea02d3d94eb"));
        assert!(r.subscription_name.is_some());
        assert!(!format!("{r:?}").contains("1rog="), "the echoed key is not kept");
    }
}

#[test]
fn gcp_and_oci_responses_decode() {
    let g = one(fixture!("gcp_create_response.xml"), CloudKind::Gcp);
    assert_eq!(g.id.as_deref(), Some("842873"));
    assert_eq!(g.project_id.as_deref(), Some("my-project-1513660001"));
    assert_eq!(g.apps.unwrap().len(), 2);
    let r = one(fixture!("gcp_run_response.json"), CloudKind::Gcp);
    assert_eq!(r.name.as_deref(), Some("Test GCP connector API UPDATED"));
    assert_eq!(
        one(fixture!("gcp_update_response.json"), CloudKind::Gcp).id.as_deref(),
        Some("842873")
    );

    let o = one(fixture!("oci_create_response.json"), CloudKind::Oci);
    assert_eq!(o.id.as_deref(), Some("2100001"));
    assert_eq!(o.tenant_id.as_deref(), Some("ocid1.tenancy.oc1..aaaatenancy"));
    assert_eq!(o.apps.unwrap()[0].name, "AI", "single objects where lists are expected");
    assert_eq!(
        one(fixture!("oci_run_response.json"), CloudKind::Oci).id.as_deref(),
        Some("2100001")
    );
    let u = one(fixture!("oci_update_response.json"), CloudKind::Oci);
    assert_eq!((u.disabled, u.apps.map(|a| a.len())), (Some(true), Some(1)));

    let resp = ServiceResponse::decode(fixture!("oci_search_response.json").as_bytes()).unwrap();
    assert_eq!(resp.has_more_records, Some(false));
    let all: Vec<_> = resp
        .objects("OciAssetDataConnector")
        .into_iter()
        .map(|v| Connector::from_value(Some(CloudKind::Oci), v))
        .collect();
    assert_eq!(all.len(), 3);
    assert_eq!(all[1].id.as_deref(), Some("2087469"));
    assert_eq!(all[0].home_region.as_deref(), Some("us-ashburn-1"));
    assert_eq!(
        all[0].fingerprint.as_deref(),
        Some("f1:74:98:60:ea:04:08:d4:59:ca:af:b4:ed:23:b7:fg")
    );
    let apps = all[0].apps.clone().unwrap();
    assert_eq!(apps.len(), 3);
    assert_eq!(
        apps[2],
        ConnectorApp {
            name: "SAP".into(),
            identifier: None,
            tag_id: None
        }
    );
    assert_eq!(all[2].home_region.as_deref(), Some("us-sanjose-1"));
}

#[test]
fn account_info_responses_decode() {
    for body in [fixture!("portal_version.xml"), fixture!("portal_version.json")] {
        let resp = ServiceResponse::decode(body.as_bytes()).unwrap();
        let v = PortalVersion::from_value(resp.objects("Portal-Version")[0]);
        assert_eq!(
            v.portal(),
            Some("2.33.0.0-SNAPSHOT-1 DEVELOP #352 (2018-05-07T22:53:43Z)")
        );
        assert_eq!(v.modules.get("WAS-VERSION").map(String::as_str), Some("6.0.0.0"));
    }
    for body in [fixture!("base_account.xml"), fixture!("base_account.json")] {
        let resp = ServiceResponse::decode(body.as_bytes()).unwrap();
        let a = AwsBaseAccount::from_value(resp.bare_objects()[0]);
        assert_eq!(
            a.global_account_id.as_deref(),
            Some("205700000438"),
            "leading zeros kept: {body}"
        );
        assert_eq!(a.gov_account_id.as_deref(), Some("011000000917"));
        assert_eq!(
            (a.customer_global_account, a.customer_china_account),
            (Some(false), Some(true))
        );
    }
    for body in [fixture!("connector_errors.xml"), fixture!("connector_errors.json")] {
        let resp = ServiceResponse::decode(body.as_bytes()).unwrap();
        let errors: Vec<_> = resp
            .objects("AssetDataConnectorErrors")
            .into_iter()
            .map(ConnectorErrorEntry::from_value)
            .collect();
        assert_eq!(errors.len(), 2);
        assert!(
            errors[0]
                .error_message
                .as_deref()
                .unwrap()
                .starts_with("Error processing instance-id")
        );
        assert_eq!(
            errors[1]
                .created
                .as_deref()
                .map(|c| c.starts_with("2022-05-23T10:10:1")),
            Some(true)
        );
    }
    let none = ServiceResponse::decode(fixture!("connector_errors_none.json").as_bytes()).unwrap();
    assert_eq!(none.count, Some(0));
    assert!(none.objects("AssetDataConnectorErrors").is_empty());
}

#[test]
fn gateway_samples_decode_and_encode() {
    let write = OrgConnectorWrite {
        name: "Azure Org".into(),
        description: "azure org connector description".into(),
        tenant_id: "11111111-2222-3333-4444-555555555555".into(),
        tenant_name: "Tenant name".into(),
        application_id: "66666666-7777-8888-9999-000000000000".into(),
        secret_value: Secret::new("abcde~xxxxxxxxxxxxxxxxxxxxxx_xxxxxxxxxx"),
        connector_prefix_name: "createdbyorg".into(),
        connector_app_infos: ["AI", "CI", "CSA"]
            .iter()
            .map(|n| OrgApp {
                name: Some(n.to_string()),
                identifier: Some("11111111-2222-3333-4444-555555555555".into()),
                tag_id: None,
            })
            .collect(),
        org_run_frequency: RunFrequency::from_minutes(60),
        connector_run_frequency: RunFrequency::from_minutes(60),
        included_mem: vec!["TestingManagementGroup".into()],
        excluded_mem: vec![],
        is_create_connector_for_new_subscriptions_automatically: true,
        is_disable_connectors_for_deleted_management_groups: true,
        is_remediation_enabled: true,
        auto_activate_cv: false,
        auto_activate_cert_view: false,
        auto_activate_pc: false,
        auto_activate_sca: false,
        auto_activate_vm: false,
        default_tag_ids: vec![],
    };
    let expected: Value = serde_json::from_str(fixture!("org_create_request.json")).unwrap();
    assert_eq!(serde_json::to_value(&write).unwrap(), expected);
    assert!(!format!("{write:?}").contains("abcde~"));

    let org: OrgConnector = serde_json::from_str(fixture!("org_connector.json")).unwrap();
    assert_eq!(org.id.as_deref(), Some("1234567"));
    assert_eq!(org.connector_run_frequency.map(RunFrequency::total_minutes), Some(150));
    assert_eq!(org.connector_app_infos[1].tag_id.as_deref(), Some("42"));
    assert_eq!(
        (org.remediation_enabled, org.disabled, org.deleted),
        (Some(true), Some(false), Some(false))
    );
    assert_eq!(org.included_members(), ["TestingManagementGroup"]);

    let list: GatewayPage<OrgConnector> = serde_json::from_str(fixture!("org_list.json")).unwrap();
    assert_eq!(list.content[0].number_of_connectors_attached, Some(0));
    assert!(!list.has_more(0));
    let status: GatewayPage<OrgConnector> = serde_json::from_str(fixture!("org_status_disable.json")).unwrap();
    let view = &status.content[0];
    assert_eq!(view.disabled, Some(true), "isDisabled alias");
    assert_eq!(
        view.org_run_frequency.map(RunFrequency::total_minutes),
        Some(60),
        "string minutes"
    );
    assert_eq!(
        view.connector_run_frequency,
        Some(RunFrequency { hours: 1, minutes: 30 })
    );
    assert_eq!(view.included_members(), ["TestingManagementGroup"]);
    let groups: GatewayPage<String> = serde_json::from_str(fixture!("org_management_groups.json")).unwrap();
    assert_eq!(groups.content.len(), 6);
    let attached: ManagementGroups = serde_json::from_str(fixture!("org_attached_groups.json")).unwrap();
    assert_eq!(attached.included_members, ["TestingManagementGroup"]);
    let test: TestConnectionJob = serde_json::from_str(fixture!("org_test_connection.json")).unwrap();
    assert_eq!(test.job_uuid.as_deref(), Some("0a1b2c3d-4e5f-6789-abcd-ef0123456789"));
    let job: Job = serde_json::from_str(fixture!("org_job.json")).unwrap();
    assert!(job.is_finished() && !job.is_failed());
    assert_eq!(job.created_on.as_deref(), Some("2023-05-17T07:23:33.061+00:00"));
    let member: MemberConnector = serde_json::from_str(fixture!("org_member_connector.json")).unwrap();
    assert_eq!(member.organization_connector_id.as_deref(), Some("1234567"));
    assert_eq!(member.default_tag_ids, Vec::<String>::new(), "null list");
    assert_eq!(member.activated_modules, ["QWEB_VM", "CLOUDVIEW"]);
    let summary: GatewayPage<super::gateway::org::JobSummaryEntry> =
        serde_json::from_str(fixture!("org_last_job_summary.json")).unwrap();
    assert!(summary.content[0].error_msg.as_deref().unwrap().contains("exception"));
}

#[test]
fn cloudview_samples_decode_and_encode() {
    let page: SpringPage<Group> = serde_json::from_str(fixture!("groups_list.json")).unwrap();
    assert_eq!(page.content.len(), 3);
    assert_eq!(page.last, Some(false));
    assert_eq!(page.total_pages, Some(9));
    assert!(page.content[0].connectors.is_empty());
    assert_eq!(
        page.content[2].connectors[1].account_identifier.as_deref(),
        Some("aaaaaaaa-0000-0000-0000-000000000002")
    );
    let created: Group = serde_json::from_str(fixture!("group_create.json")).unwrap();
    assert_eq!(
        created.uuid.as_deref(),
        Some("745aca99-6ab6-3e1d-8e65-7b4febc0005e"),
        "groupId alias"
    );
    let got: Group = serde_json::from_str(fixture!("group_get.json")).unwrap();
    assert_eq!(got.connectors[0].cloud_type.as_deref(), Some("GCP"));
    let body = membership_body(
        &["gcp-demo".into()],
        &["ea4b240f-c27c-30a6-ba28-8fc9a38fa8d1".into()],
        &["8b23977c-9f28-3007-8c11-c0469494053f".into()],
    );
    assert_eq!(
        body,
        serde_json::from_str::<Value>(fixture!("group_membership_request.json")).unwrap()
    );
    let cv: CloudViewConnector = serde_json::from_str(fixture!("cv_aws_connector.json")).unwrap();
    assert_eq!(cv.account_identifier(), Some("123456789012"));
    assert_eq!(
        cv.groups[0].uuid.as_deref(),
        Some("745aca99-6ab6-3e1d-8e65-7b4febc0005e")
    );
    assert_eq!(cv.error, None, "blank error is no error");
}

/// Odd payloads and the outcome each must have.
#[test]
fn quirky_payloads_table() {
    enum Want {
        Ok(fn(&ServiceResponse)),
        Err(&'static str, &'static str),
    }
    let cases: Vec<(&str, &str, Want)> = vec![
        (
            "string booleans and numbers",
            r#"{"ServiceResponse":{"responseCode":"SUCCESS","count":"1","hasMoreRecords":"true","data":[{"AwsAssetDataConnector":{"id":"7","disabled":"TRUE","runFrequency":"60"}}]}}"#,
            Want::Ok(|r| {
                assert_eq!((r.count, r.has_more_records), (Some(1), Some(true)));
                let c = Connector::from_value(None, r.objects("AwsAssetDataConnector")[0]);
                assert_eq!((c.disabled, c.run_frequency), (Some(true), Some(60)));
            }),
        ),
        (
            "single-item list un-wrapped and unknown fields",
            r#"{"ServiceResponse":{"responseCode":"SUCCESS","data":{"AwsAssetDataConnector":{"id":1,"futureField":{"x":1},"defaultTags":{"list":{"TagSimple":{"id":5}}},"activation":{"set":{"ActivationModule":"VM"}}}}}}"#,
            Want::Ok(|r| {
                let c = Connector::from_value(None, r.objects("AwsAssetDataConnector")[0]);
                assert_eq!(c.default_tags.unwrap()[0].id, "5");
                assert_eq!(c.activation, Some(vec!["VM".to_string()]));
            }),
        ),
        (
            "XML with numbers padded by whitespace and >false artefacts",
            "<ServiceResponse><responseCode>SUCCESS</responseCode><count>\n1\n</count><hasMoreRecords>>false</hasMoreRecords><data><AwsAssetDataConnector><id>\n 34234 \n</id><disabled>>false</disabled></AwsAssetDataConnector></data></ServiceResponse>",
            Want::Ok(|r| {
                assert_eq!((r.count, r.has_more_records), (Some(1), Some(false)));
                let c = Connector::from_value(None, r.objects("AwsAssetDataConnector")[0]);
                assert_eq!((c.id.as_deref(), c.disabled), (Some("34234"), Some(false)));
            }),
        ),
        (
            "count 0 without data",
            "<ServiceResponse><responseCode>SUCCESS</responseCode><count>0</count><hasMoreRecords>false</hasMoreRecords></ServiceResponse>",
            Want::Ok(|r| assert!(r.objects("AwsAssetDataConnector").is_empty())),
        ),
        (
            "200 + INVALID_REQUEST with details",
            "<ServiceResponse><responseCode>INVALID_REQUEST</responseCode><responseErrorDetails><errorMessage>Invalid value for field 'runFrequency'</errorMessage><errorResolution>Use minutes</errorResolution></responseErrorDetails></ServiceResponse>",
            Want::Err("invalid_request", "runFrequency"),
        ),
        (
            "200 + OBJECT_NOT_FOUND",
            r#"{"ServiceResponse":{"responseCode":"OBJECT_NOT_FOUND","responseErrorDetails":{"errorMessage":"Object with id 5 not found"}}}"#,
            Want::Err("not_found", "id 5"),
        ),
        (
            "200 + UNAUTHORIZED",
            "<ServiceResponse><responseCode>UNAUTHORIZED</responseCode><responseErrorDetails><errorMessage>Not authorized</errorMessage></responseErrorDetails></ServiceResponse>",
            Want::Err("unauthorized", "Not authorized"),
        ),
        (
            "200 + INVALID_CREDENTIALS without message",
            r#"{"ServiceResponse":{"responseCode":"INVALID_CREDENTIALS"}}"#,
            Want::Err("unauthorized", "INVALID_CREDENTIALS"),
        ),
        (
            "HTML error page",
            "<!DOCTYPE html><html><head><title>Maintenance</title></head><body>down</body></html>",
            Want::Err("undecodable", "Maintenance"),
        ),
        ("empty body", "  \n", Want::Err("undecodable", "empty")),
        (
            "truncated XML",
            "<ServiceResponse><responseCode>SUCCESS</responseCode><data>",
            Want::Err("undecodable", ""),
        ),
        (
            "JSON without envelope",
            r#"{"hello":"world"}"#,
            Want::Err("undecodable", "ServiceResponse"),
        ),
        (
            "plain text",
            "Service Unavailable",
            Want::Err("undecodable", "Service Unavailable"),
        ),
    ];
    for (what, body, want) in cases {
        let got = ServiceResponse::decode(body.as_bytes());
        match (want, got) {
            (Want::Ok(check), Ok(r)) => check(&r),
            (Want::Err(category, needle), Err(e)) => {
                assert_eq!(e.category(), category, "{what}: {e}");
                assert!(e.to_string().contains(needle), "{what}: {e}");
            }
            (_, other) => panic!("{what}: unexpected {other:?}"),
        }
    }
    // HTTP-level bodies of odd shapes.
    let e = http_error(Family::Gateway, reqwest::StatusCode::UNAUTHORIZED, b"");
    assert_eq!(e.category(), "unauthorized");
    let e = http_error(
        Family::Qps,
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        b"<html><title>503</title></html>",
    );
    assert!(matches!(e, QualysError::Server { status: 503, .. }) && e.is_retryable());
}
