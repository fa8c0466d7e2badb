//! Where the records live: embedded, in the notifier's own SQLite file, not the event store's;
//! a data folder from before that takes its old rows over once.

use eats_notify::records;
use eats_store::testing::TestDatabase;
use eats_store::{Backend, Database};

async fn count_in(db: &Database, table: &str) -> i64 {
    let Backend::Sqlite(pool) = db.backend() else {
        panic!("sqlite")
    };
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .expect("count")
}

#[tokio::test]
async fn embedded_records_live_in_notify_db_and_old_ones_are_adopted_once() {
    let test = TestDatabase::sqlite().await;
    let dir = test.data_dir.clone().expect("folder");
    assert!(dir.join(eats_store::database::NOTIFY_FILE).exists());
    // A record as an eats before notify.db wrote it: in the event store's file.
    let Backend::Sqlite(main) = test.db.backend() else {
        panic!("sqlite")
    };
    sqlx::query(
        "INSERT INTO notifications (id, event_key, order_id, recipient, phone, channel, template, \
         parameters, critical, rank, state, attempts, occurred_at, created_at, next_attempt_at) \
         VALUES ('old-1', 'Order-o-1', 'o', 'customer:c', NULL, 'log', 'EATS_ORDER_PLACED', '{}', \
         0, 1, 'queued', 0, 1, 1, 1)",
    )
    .execute(main)
    .await
    .expect("old row");
    sqlx::query("INSERT INTO notification_preferences VALUES ('c', 1, 0, NULL, NULL, 1)")
        .execute(main)
        .await
        .expect("old preference");
    assert_eq!(records::get(&test.db, "old-1").await.expect("get"), None);
    test.db.close().await;

    std::fs::remove_file(dir.join(eats_store::database::NOTIFY_FILE)).expect("remove");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(
            dir.join(format!("{}{suffix}", eats_store::database::NOTIFY_FILE)),
        );
    }
    let db = Database::open_sqlite(&dir).await.expect("reopen");
    let adopted = records::get(&db, "old-1")
        .await
        .expect("get")
        .expect("adopted");
    assert_eq!(
        (adopted.state.as_str(), adopted.sms_fallback),
        ("queued", true)
    );
    let preference = eats_notify::preferences::get(&db, "c").await.expect("get");
    assert!(preference.kakao && !preference.sms);
    assert_eq!(count_in(&db.for_notifications(), "notifications").await, 1);

    // Once: a second start finds notify.db and adopts nothing again.
    let Backend::Sqlite(main) = db.backend() else {
        panic!("sqlite")
    };
    sqlx::query("UPDATE notifications SET state = 'sent'")
        .execute(main)
        .await
        .expect("edit old");
    db.close().await;
    let db = Database::open_sqlite(&dir).await.expect("reopen");
    assert_eq!(
        records::get(&db, "old-1")
            .await
            .expect("get")
            .map(|r| r.state),
        Some("queued".into())
    );
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
