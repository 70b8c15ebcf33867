//! The write fence (issue 16): a client whose fence is closed reads Qualys
//! but sends no write, whatever the call; when it opens, writes go through.
//! Real HTTP to the simulator, which counts what it received.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use qualys_operator::qualys::fence::WriteFence;
use qualys_operator::qualys::{AccountConfig, CloudKind, ConnectorWrite, QualysClient, QualysError};
use qualys_operator::simulator::{SimConfig, Simulator};

struct Switch(AtomicBool);

impl WriteFence for Switch {
    fn check(&self) -> Result<(), String> {
        if self.0.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("not the leader".into())
        }
    }
}

#[tokio::test]
async fn a_closed_fence_sends_no_write_and_reads_still_work() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = Simulator::start(SimConfig::default())
        .await
        .unwrap_or_else(|e| panic!("simulator: {e}"));
    let base = sim.base_url();
    let fence = Arc::new(Switch(AtomicBool::new(false)));
    let client = QualysClient::builder(AccountConfig::new(&base, &base, "demo", "demo"))
        .fence(fence.clone())
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"));
    let write = ConnectorWrite {
        name: Some("fenced".into()),
        arn: Some("arn:aws:iam::123456789012:role/r".into()),
        external_id: Some("x".into()),
        ..ConnectorWrite::default()
    };

    let refused = client.create_connector(CloudKind::Aws, &write).await;
    assert!(
        matches!(&refused, Err(QualysError::Fenced { message }) if message.contains("not the leader")),
        "{refused:?}"
    );
    assert!(
        !refused.as_ref().is_err_and(QualysError::is_retryable),
        "a fenced write is not retried"
    );
    for result in [
        client.update_connector(CloudKind::Aws, "1", &write).await,
        client.delete_connector(CloudKind::Aws, "1").await,
        client.run_connector(CloudKind::Aws, "1").await.map(|_| ()),
    ] {
        assert!(matches!(result, Err(QualysError::Fenced { .. })), "{result:?}");
    }
    assert_eq!(sim.count("*", "/qps/rest/3.0/create/*"), 0);
    assert_eq!(sim.count("*", "/qps/rest/3.0/update/*"), 0);
    assert_eq!(sim.count("*", "/qps/rest/3.0/delete/*"), 0);
    assert_eq!(sim.count("*", "/qps/rest/3.0/run/*"), 0);

    let listed = client
        .search_connectors(CloudKind::Aws, &[])
        .await
        .unwrap_or_else(|e| panic!("reads are not fenced: {e}"));
    assert!(listed.items.is_empty());

    fence.0.store(true, Ordering::SeqCst);
    let created = client
        .create_connector(CloudKind::Aws, &write)
        .await
        .unwrap_or_else(|e| panic!("an open fence lets the write through: {e}"));
    assert!(created.id.is_some());
    assert_eq!(sim.count("*", "/qps/rest/3.0/create/*"), 1);
}
