//! The Kubernetes manifests against the code they deploy: KEDA scales each consumer role on
//! the pending count of the durable JetStream consumers that role really runs, on the stream
//! eats really creates. A renamed consumer would otherwise leave its role scaled on a lag that
//! is always zero. (`deploy/validate.sh` checks the manifests' shape; this checks the names.)

use std::collections::BTreeSet;
use std::path::Path;

use eats_feed::EventHandler;
use eats_nats::{JetStreamFeed, Topology};
use eats_store::testing::TestDatabase;

/// The `stream:` and `consumer:` values of the nats-jetstream triggers in one manifest.
fn triggers(file: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/base")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let values = |key: &str| {
        text.lines()
            .filter_map(|line| line.trim().strip_prefix(key))
            .map(|value| value.trim().trim_matches('"').to_string())
            .collect::<BTreeSet<_>>()
    };
    (values("stream:"), values("consumer:"))
}

fn names(handlers: &[std::sync::Arc<dyn EventHandler>]) -> BTreeSet<String> {
    handlers
        .iter()
        .map(|h| JetStreamFeed::consumer_name(h.as_ref()))
        .collect()
}

#[tokio::test]
async fn keda_scales_each_consumer_role_on_the_durable_consumers_it_runs() {
    let test = TestDatabase::sqlite().await;
    let stream = BTreeSet::from([Topology::default().stream]);
    let projectors = names(&eats_projections::all(&test.db));
    let expected = [
        ("projectors.yaml", projectors),
        (
            "sagas.yaml",
            BTreeSet::from([eats_saga::ProcessManager::NAME.to_string()]),
        ),
        (
            "notifier.yaml",
            BTreeSet::from([eats_notify::consumer::NAME.to_string()]),
        ),
    ];
    for (file, consumers) in expected {
        assert_eq!(
            triggers(file),
            (stream.clone(), consumers),
            "{file}: the ScaledObject's stream and consumers"
        );
    }
    test.cleanup().await;
}
