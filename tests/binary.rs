//! The real `eats` binary, started as a process the way an operator starts it.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use eats_domain::customer::GradePolicy;
use eats_domain::payment::{
    CancelRequest, ConfirmRequest, GatewayError, GatewayVerdict, PaymentGateway,
};
use eats_domain::store::StoreCommand;
use eats_domain::{Actor, EventMetadata, GeoPoint, MenuItemId, StoreId, UserId, Won};
use eats_store::testing::scenario::{self, Stage};
use eats_store::testing::TestDatabase;
use eats_store::{Aggregates, DomainServices};

mod common;

/// A command's standard output, one JSON value per line.
fn json_lines(stdout: Vec<u8>) -> Vec<serde_json::Value> {
    String::from_utf8(stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

use common::api::{delete_nats_stream, distributed, embedded, namespace};
use common::{Server, EATS};

/// Drives one order to delivery in `db` (issuing the process managers' follow-ups itself, so
/// the server runs without its sagas) and waits until `eats serve` has projected it.
async fn an_order_reaches_the_running_servers_views(db: &eats_store::Database) {
    let aggregates = scenario::aggregates(db);
    let store = scenario::open_store(&aggregates).await;
    let customer = scenario::register_customer(&aggregates).await;
    let order = scenario::drive_order(&aggregates, store, customer, 2, Stage::Delivered).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let view = eats_projections::order_view::fetch(db, &order.to_string())
            .await
            .expect("read order view");
        let profile = eats_projections::customer_profile::fetch(db, &customer.to_string())
            .await
            .expect("read profile");
        let delivered = view.as_ref().is_some_and(|v| v.status == "delivered");
        let counted = profile.as_ref().is_some_and(|p| p.completed_orders == 1);
        if delivered && counted {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not projected: {view:?} {profile:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn serve_runs_embedded_with_no_configuration_and_stops_cleanly_on_sigterm() {
    let (server, data) = embedded(&[
        ("EATS_LAG_INTERVAL_SECS", "1"),
        ("EATS_ROLES", "api,projectors"),
    ]);
    assert_eq!(server.get("/healthz").await, (200, "ok".into()));
    assert_eq!(server.get("/readyz").await, (200, "ready".into()));
    assert!(
        data.join("eats.db").exists(),
        "the event store lives in the data folder"
    );

    // Another process writes to the same store; the server's projectors pick it up.
    let db = eats_store::Database::open_sqlite(&data)
        .await
        .expect("open the same store");
    an_order_reaches_the_running_servers_views(&db).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let (status, metrics) = server.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("eats_consumer_lag_events{consumer=\"order_view\"} 0"),
        "{metrics}"
    );
    assert!(server.terminate(), "graceful exit on SIGTERM");
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test]
async fn serve_runs_distributed_on_postgres_and_nats() {
    let test = TestDatabase::postgres().await;
    let url = test.url.clone().expect("postgres url");
    let namespace = namespace("bin");
    let server = distributed(&url, &namespace, &[("EATS_ROLES", "api,relay,projectors")]);
    assert_eq!(server.get("/readyz").await, (200, "ready".into()));
    an_order_reaches_the_running_servers_views(&test.db).await;
    assert!(server.terminate());
    delete_nats_stream(&namespace).await;
    test.cleanup().await;
}

#[tokio::test]
async fn postgres_mode_without_nats_refuses_to_start_unless_it_only_serves_the_api() {
    let test = TestDatabase::postgres().await;
    let url = test.url.clone().expect("postgres url");
    let output = Command::new(EATS)
        .arg("serve")
        .env_clear()
        .env("EATS_LISTEN", "127.0.0.1:0")
        .env("EATS_DATABASE_URL", &url)
        .env("EATS_JWT_SECRET", common::SECRET)
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("EATS_NATS_URL is required"));
    let server = Server::start(&[("EATS_DATABASE_URL", &url), ("EATS_ROLES", "api")]);
    assert_eq!(server.get("/readyz").await, (200, "ready".into()));
    assert!(server.terminate());
    test.cleanup().await;
}

#[tokio::test]
async fn serve_refuses_to_start_when_postgres_is_unreachable() {
    let output = Command::new(EATS)
        .arg("serve")
        .env_clear()
        .env("EATS_LISTEN", "127.0.0.1:0")
        .env("EATS_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("opening the postgres event store"),
        "{stderr}"
    );
}

struct NoGateway;

#[async_trait]
impl PaymentGateway for NoGateway {
    async fn confirm(&self, _: ConfirmRequest) -> Result<GatewayVerdict, GatewayError> {
        Err(GatewayError::Timeout)
    }
    async fn cancel(&self, _: CancelRequest) -> Result<GatewayVerdict, GatewayError> {
        Err(GatewayError::Timeout)
    }
}

#[tokio::test]
async fn audit_prints_an_aggregates_stored_history_as_json_lines() {
    let test = TestDatabase::sqlite().await;
    let aggregates = Aggregates::new(
        &test.db,
        DomainServices {
            gateway: Arc::new(NoGateway),
            grades: GradePolicy::default(),
        },
    );
    let (store, owner) = (StoreId::new(), UserId::new());
    for command in [
        StoreCommand::RegisterStore {
            store_id: store,
            owner,
            name: "김밥천국".into(),
            location: GeoPoint::new(37.5665, 126.978).expect("valid"),
            address: "서울 중구 세종대로 110".into(),
        },
        StoreCommand::AddMenuItem {
            by: owner,
            item_id: MenuItemId::new(),
            name: "참치김밥".into(),
            price: Won(4_500),
        },
    ] {
        let meta =
            EventMetadata::for_command(store.as_uuid(), Actor::StoreOwner(owner), Utc::now());
        aggregates
            .stores
            .execute_with_metadata(&store.to_string(), command, meta.to_map())
            .await
            .expect("command");
    }
    let data_dir = test.data_dir.clone().expect("sqlite folder");
    let output = Command::new(EATS)
        .args([
            "audit",
            "aggregate",
            "Store",
            &store.to_string(),
            "--json",
            "--data-dir",
        ])
        .arg(&data_dir)
        .env_clear()
        .output()
        .expect("run audit");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = json_lines(output.stdout);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["event_type"], "StoreRegistered");
    assert_eq!(lines[0]["actor"], format!("store_owner:{owner}"));
    assert_eq!(lines[1]["sequence"], 2);
    assert_eq!(lines[1]["payload"]["MenuItemAdded"]["price"], 4_500);
    test.cleanup().await;
}

#[test]
fn audit_refuses_an_unknown_aggregate_type() {
    let output = Command::new(EATS)
        .args([
            "audit",
            "aggregate",
            "Pizza",
            "x",
            "--data-dir",
            "/nonexistent/eats",
        ])
        .env_clear()
        .output()
        .expect("run audit");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown aggregate type `Pizza`"));
}

#[tokio::test]
async fn rebuild_projections_rebuilds_every_read_model_from_the_event_store() {
    let test = TestDatabase::sqlite().await;
    let aggregates = scenario::aggregates(&test.db);
    let store = scenario::open_store(&aggregates).await;
    let customer = scenario::register_customer(&aggregates).await;
    scenario::drive_order(&aggregates, store, customer, 2, Stage::Delivered).await;
    let data_dir = test.data_dir.clone().expect("sqlite folder");
    let eats = |args: &[&str]| {
        Command::new(EATS)
            .args(args)
            .arg("--data-dir")
            .arg(&data_dir)
            .env_clear()
            .output()
            .expect("run eats")
    };
    // Nothing has projected these events yet (no server ran): the views are empty.
    assert!(!eats(&["verify-projections"]).status.success());

    let output = eats(&["rebuild-projections"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = json_lines(output.stdout);
    let names: Vec<&str> = lines
        .iter()
        .map(|l| l["read_model"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "order_view",
            "store_queue",
            "delivery_board",
            "customer_profile",
            "audit_timeline",
            "store_directory"
        ]
    );
    assert!(lines.iter().all(|l| l["events"].as_u64() > Some(0)));
    let verified = eats(&["verify-projections"]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );

    let unknown = eats(&["rebuild-projections", "--only", "pizza"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown read model `pizza`"));
    test.cleanup().await;
}

/// A SIGTERM as soon as the server says it listens (before it has served anything) still
/// stops it gracefully: the handler is installed before the listener, not when the shutdown
/// future is first polled (until then the signal's default action killed the process).
#[tokio::test]
async fn a_sigterm_right_after_it_listens_stops_it_cleanly() {
    for _ in 0..5 {
        let (server, data) = embedded(&[]);
        assert!(
            server.terminate(),
            "killed by the signal or exited with an error"
        );
        let _ = std::fs::remove_dir_all(data);
    }
}
