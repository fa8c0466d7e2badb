//! Riders' job streams are woken by the jobs they could see, not by every job in town: the
//! delivery board announces each change on the H3 cell of the job's pickup point, and a
//! rider follows the cells their own query reads.

use std::time::Duration;

use eats_domain::delivery::DeliveryCommand;
use eats_domain::{CustomerId, DeliveryId, GeoPoint, OrderId, RiderId, StoreId};
use eats_feed::{EventHandler, FeedEvent};
use eats_projections::delivery_board::{self, DeliveryBoardProjection};
use eats_projections::live::{Announcer, Follow, Hub, Topic};
use eats_projections::Projection;
use eats_store::testing::{scenario, TestDatabase};
use eats_store::{Aggregates, Database};

const RADIUS_M: u32 = 1_000;

fn rider_follows(hub: &Hub, at: GeoPoint) -> Follow {
    let cells = delivery_board::covering_cells(at, RADIUS_M);
    hub.follow_all(cells.into_iter().map(Topic::jobs_in).collect())
}

async fn woken(follow: &mut Follow) -> bool {
    tokio::time::timeout(Duration::from_millis(300), follow.changed())
        .await
        .is_ok()
}

/// Runs `command` on `delivery` and applies its new events to `board`.
async fn step(
    aggregates: &Aggregates,
    db: &Database,
    board: &dyn EventHandler,
    delivery: DeliveryId,
    command: DeliveryCommand,
) {
    let id = delivery.to_string();
    let before = db.history("Delivery", &id).await.expect("history").len();
    aggregates
        .deliveries
        .execute(&id, command)
        .await
        .expect("delivery command");
    let events: Vec<FeedEvent> = db
        .history("Delivery", &id)
        .await
        .expect("history")
        .into_iter()
        .skip(before)
        .map(|e| FeedEvent::from_serialized(e).expect("decodes"))
        .collect();
    board.handle_batch(&events).await.expect("projected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_wakes_the_riders_near_its_pickup_and_no_one_across_town_embedded() {
    let test = TestDatabase::sqlite().await;
    a_job_wakes_the_riders_near_its_pickup_and_no_one_across_town(&test.db).await;
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_wakes_the_riders_near_its_pickup_and_no_one_across_town_on_postgres() {
    let test = TestDatabase::postgres().await;
    a_job_wakes_the_riders_near_its_pickup_and_no_one_across_town(&test.db).await;
    test.cleanup().await;
}

async fn a_job_wakes_the_riders_near_its_pickup_and_no_one_across_town(db: &Database) {
    let hub = Hub::default();
    let handlers = eats_projections::announcing(db, &Announcer::Local(hub.clone()));
    let board = handlers
        .iter()
        .find(|h| h.name() == DeliveryBoardProjection::NAME)
        .expect("the delivery board");
    let aggregates = scenario::aggregates(db);

    let store = GeoPoint::new(37.5665, 126.978).expect("valid");
    let across_town = GeoPoint::new(37.5665, 127.1).expect("valid"); // about 11 km east
    let mut near = rider_follows(&hub, GeoPoint::new(37.57, 126.98).expect("valid"));
    let mut far = rider_follows(&hub, across_town);

    let order = OrderId::new();
    let delivery = DeliveryId::for_order(order);
    step(
        &aggregates,
        db,
        board.as_ref(),
        delivery,
        DeliveryCommand::RequestDelivery {
            delivery_id: delivery,
            order_id: order,
            store_id: StoreId::new(),
            customer_id: CustomerId::new(),
            pickup: store,
            dropoff: store,
            radius_m: RADIUS_M,
        },
    )
    .await;
    assert!(
        woken(&mut near).await,
        "a rider near the pickup sees a new job"
    );
    assert!(!woken(&mut far).await, "a rider across town is not woken");

    // A claim takes the job off the open list: told by the cell the board has on record.
    let rider = RiderId::new();
    step(
        &aggregates,
        db,
        board.as_ref(),
        delivery,
        DeliveryCommand::ClaimDelivery {
            rider,
            rider_at: store,
        },
    )
    .await;
    assert!(woken(&mut near).await, "the job left the open list");
    assert!(!woken(&mut far).await);

    // Picked up: no longer on the open list before or after, so no rider is woken.
    step(
        &aggregates,
        db,
        board.as_ref(),
        delivery,
        DeliveryCommand::PickUpDelivery { rider },
    )
    .await;
    assert!(!woken(&mut near).await, "a pick-up changes no open job");

    drop((near, far));
    assert_eq!(hub.followed_topics(), 0, "unfollowed when dropped");
}

/// A batch's announcements on Postgres go out in as few notifications as fit Postgres's
/// payload limit (8,000 bytes): one batch's topics far over it all reach a listening API
/// process (one notification, as before, was refused and failed the batch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_announcements_over_postgres_reaches_a_listener_whatever_its_size() {
    let test = TestDatabase::postgres().await;
    let eats_store::Backend::Postgres(pool) = test.db.backend() else {
        panic!("postgres");
    };
    let mut listener = sqlx::postgres::PgListener::connect_with(pool)
        .await
        .expect("listener");
    listener
        .listen(eats_projections::live::CHANNEL)
        .await
        .expect("listen");
    let announcer = Announcer::for_database(&test.db, &Hub::default());
    let topics: Vec<Topic> = (0..600)
        .map(|n| Topic::order(&format!("{n:04}-{}", uuid::Uuid::new_v4())))
        .collect();
    announcer.announce(&topics).await.expect("announced");
    let mut heard = std::collections::HashSet::new();
    let mut notifications = 0;
    while heard.len() < topics.len() {
        let notification = tokio::time::timeout(Duration::from_secs(10), listener.recv())
            .await
            .unwrap_or_else(|_| panic!("heard {} of {} topics", heard.len(), topics.len()))
            .expect("notification");
        notifications += 1;
        assert!(notification.payload().len() < 8_000);
        heard.extend(notification.payload().lines().map(str::to_string));
    }
    let expected: std::collections::HashSet<String> =
        topics.iter().map(|t| t.as_str().to_string()).collect();
    assert_eq!(heard, expected);
    // 600 topics of about 45 bytes: four notifications, not one per topic.
    assert!(notifications <= 5, "{notifications} notifications");
    test.cleanup().await;
}
