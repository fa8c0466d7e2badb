//! Every list is a keyset page in a documented order: `{ "items": [...], "next": "..." }`,
//! `next` absent on the last page, `limit` bounded, the cursor opaque and checked.
//!
//! The API runs in process on a fresh Postgres database and a fresh SQLite file; the read
//! models are seeded with rows shaped as the projections write them, so a test can hold
//! hundreds of orders without driving each through the domain.

use chrono::{DateTime, Duration, DurationRound, Utc};
use eats_api::{routes, ApiState, Auth, LagBoard, RateLimitSettings, Role};
use eats_domain::GeoPoint;
use eats_projections::delivery_board::cell_of;
use eats_store::on_pool;
use eats_store::testing::{scenario, Kind, TestDatabase};
use poem::endpoint::BoxEndpoint;
use poem::{Endpoint, EndpointExt, Request, Response};
use serde_json::Value;
use uuid::Uuid;

const SECRET: &[u8] = b"paging-tests-secret-at-least-32-bytes!";
const FINISHED: [&str; 3] = ["delivered", "rejected", "cancelled"];

struct Harness {
    api: BoxEndpoint<'static, Response>,
    test: TestDatabase,
    auth: Auth,
    /// Placing times count back from here, whole microseconds (what Postgres keeps).
    now: DateTime<Utc>,
}

async fn harness(kind: Kind) -> Harness {
    let test = TestDatabase::new(kind).await;
    let auth = Auth::hs256(SECRET).expect("a long enough secret");
    let state = ApiState {
        db: test.db.clone(),
        aggregates: scenario::aggregates(&test.db),
        lag: LagBoard::default(),
        idempotency: Default::default(),
        live: eats_api::LiveStreams::new(
            Default::default(),
            10,
            std::time::Duration::from_secs(15),
        ),
        dead_letter_retry: None,
    };
    let limits = RateLimitSettings {
        per_second: 100_000,
        burst: 100_000,
    };
    Harness {
        api: routes(state, auth.clone(), limits)
            .map_to_response()
            .boxed(),
        test,
        auth,
        now: Utc::now()
            .duration_trunc(Duration::microseconds(1))
            .expect("truncates"),
    }
}

impl Harness {
    fn token(&self, sub: Uuid, role: Role) -> String {
        self.auth
            .mint(sub, role, Duration::hours(1))
            .expect("minting with a secret")
    }

    /// GET `path` (under `/api/v1`) as `sub` in `role`: the status and the JSON body.
    async fn get(&self, sub: Uuid, role: Role, path: &str) -> (u16, Value) {
        let request = Request::builder()
            .uri_str(format!("/api/v1{path}"))
            .header("authorization", format!("Bearer {}", self.token(sub, role)))
            .finish();
        let mut response = self.api.get_response(request).await;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = response.take_body().into_string().await.expect("a body");
        let json: Value = serde_json::from_str(&body).expect("a JSON body");
        if status >= 400 {
            assert!(
                content_type.starts_with("application/problem+json"),
                "{path}: {status} as {content_type}"
            );
        }
        (status, json)
    }

    /// Every page of `path` with `limit`, calling `between` after
    /// each page: the rows in the order they came, and how many pages.
    async fn all_pages(
        &self,
        sub: Uuid,
        role: Role,
        path: &str,
        limit: usize,
        mut between: impl AsyncFnMut(usize),
    ) -> (Vec<Value>, usize) {
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let joined = if path.contains('?') { '&' } else { '?' };
            let url = match &cursor {
                Some(c) => format!("{path}{joined}limit={limit}&cursor={c}"),
                None => format!("{path}{joined}limit={limit}"),
            };
            let (status, body) = self.get(sub, role, &url).await;
            assert_eq!(status, 200, "{url}: {body}");
            let items = body["items"].as_array().expect("items").clone();
            assert!(items.len() <= limit, "a page is at most `limit` rows");
            pages += 1;
            rows.extend(items);
            match body.get("next") {
                None => return (rows, pages),
                Some(next) => {
                    cursor = Some(next.as_str().expect("next is a string").to_string());
                    between(pages).await;
                }
            }
            assert!(pages < 10_000, "paging never ended");
        }
    }

    async fn seed_store(&self, owner: Uuid, name: &str, open: bool) -> Uuid {
        let store = Uuid::new_v4();
        on_pool!(self.test.db, |pool| {
            sqlx::query(
                "INSERT INTO store_directory (store_id, owner_id, name, address, lat, lng, open, \
                 updated_at) VALUES ($1, $2, $3, 'Seoul', 37.5665, 126.978, $4, $5)",
            )
            .bind(store.to_string())
            .bind(owner.to_string())
            .bind(name)
            .bind(i64::from(open))
            .bind(self.now)
            .execute(pool)
            .await
            .map(|_| ())
        })
        .expect("seeding a store");
        store
    }

    /// A paid order of `store` in `status`, placed `ago` before now, in the store queue.
    async fn seed_queued(&self, store: Uuid, status: &str, ago: Duration) -> Queued {
        let order = Queued {
            order_id: Uuid::new_v4().to_string(),
            status: status.to_string(),
            placed_at: self.now - ago,
        };
        on_pool!(self.test.db, |pool| {
            sqlx::query(
                "INSERT INTO store_queue (order_id, store_id, status, total, lines, visible, \
                 placed_at, updated_at) VALUES ($1, $2, $3, 9000, '[]', 1, $4, $4)",
            )
            .bind(&order.order_id)
            .bind(store.to_string())
            .bind(status)
            .bind(order.placed_at)
            .execute(pool)
            .await
            .map(|_| ())
        })
        .expect("seeding a queued order");
        order
    }

    /// An order of `customer` in `status`, placed `ago` before now, in the order view.
    async fn seed_view(&self, customer: Uuid, status: &str, ago: Duration) -> Queued {
        let order = Queued {
            order_id: Uuid::new_v4().to_string(),
            status: status.to_string(),
            placed_at: self.now - ago,
        };
        on_pool!(self.test.db, |pool| {
            sqlx::query(
                "INSERT INTO order_view (order_id, customer_id, store_id, status, lines, total, \
                 deliver_to, placed_at, updated_at) VALUES ($1, $2, $3, $4, '[]', 9000, \
                 'Seoul', $5, $5)",
            )
            .bind(&order.order_id)
            .bind(customer.to_string())
            .bind(Uuid::new_v4().to_string())
            .bind(status)
            .bind(order.placed_at)
            .execute(pool)
            .await
            .map(|_| ())
        })
        .expect("seeding an order view");
        order
    }

    async fn seed_job(&self, pickup: GeoPoint) -> String {
        let delivery = Uuid::new_v4().to_string();
        on_pool!(self.test.db, |pool| {
            sqlx::query(
                "INSERT INTO delivery_board (delivery_id, order_id, store_id, status, pickup_lat, \
                 pickup_lng, pickup_cell, dropoff_lat, dropoff_lng, radius_m, requested_at, \
                 updated_at) VALUES ($1, $2, $3, 'open', $4, $5, $6, 37.57, 126.98, 5000, $7, $7)",
            )
            .bind(&delivery)
            .bind(Uuid::new_v4().to_string())
            .bind(Uuid::new_v4().to_string())
            .bind(pickup.lat)
            .bind(pickup.lng)
            .bind(cell_of(pickup).expect("a cell"))
            .bind(self.now)
            .execute(pool)
            .await
            .map(|_| ())
        })
        .expect("seeding a job");
        delivery
    }

    async fn seed_dead_letter(&self, n: usize) {
        on_pool!(self.test.db, |pool| {
            sqlx::query(
                "INSERT INTO dead_letters (consumer, event_key, event, error, attempts, failed_at) \
                 VALUES ('payments', $1, '{}', 'gateway down', 5, $2)",
            )
            .bind(format!("Order-{n}-1"))
            .bind(self.now)
            .execute(pool)
            .await
            .map(|_| ())
        })
        .expect("seeding a dead letter");
    }
}

/// An order as seeded, and its place in the documented order.
#[derive(Clone, Debug)]
struct Queued {
    order_id: String,
    status: String,
    placed_at: DateTime<Utc>,
}

impl Queued {
    /// Active first, then newest, then by id, all descending.
    fn key(&self) -> (bool, DateTime<Utc>, String) {
        (
            !FINISHED.contains(&self.status.as_str()),
            self.placed_at,
            self.order_id.clone(),
        )
    }
}

/// `seeded` in the documented order.
fn documented_order(mut seeded: Vec<Queued>) -> Vec<String> {
    seeded.sort_by_key(|o| std::cmp::Reverse(o.key()));
    seeded.into_iter().map(|o| o.order_id).collect()
}

fn ids(rows: &[Value], field: &str) -> Vec<String> {
    rows.iter()
        .map(|r| r[field].as_str().expect("an id").to_string())
        .collect()
}

async fn a_new_paid_order_heads_the_default_queue_of_a_store_with_600_finished_ones(kind: Kind) {
    let h = harness(kind).await;
    let owner = Uuid::new_v4();
    let store = h.seed_store(owner, "김밥천국", true).await;
    for i in 0..600 {
        let status = FINISHED[i % FINISHED.len()];
        h.seed_queued(store, status, Duration::minutes(601 - i as i64))
            .await;
    }
    let paid = h.seed_queued(store, "paid", Duration::zero()).await;

    let (status, body) = h
        .get(owner, Role::StoreOwner, &format!("/stores/{store}/orders"))
        .await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().expect("a page of items");
    assert_eq!(
        ids(items, "order_id"),
        vec![paid.order_id.clone()],
        "the kitchen's default queue holds the new paid order and nothing finished"
    );
    assert!(body.get("next").is_none(), "one page: no `next`, not null");

    let (_, history) = h
        .get(
            owner,
            Role::StoreOwner,
            &format!("/stores/{store}/orders?status=all&limit=3"),
        )
        .await;
    let first = &history["items"][0];
    assert_eq!(first["order_id"], paid.order_id.as_str(), "active first");
    assert!(history["next"].is_string(), "more history to page through");
    h.test.cleanup().await;
}

#[tokio::test]
async fn a_new_paid_order_heads_the_default_queue_of_a_store_with_600_finished_ones_postgres() {
    a_new_paid_order_heads_the_default_queue_of_a_store_with_600_finished_ones(Kind::Postgres)
        .await;
}

#[tokio::test]
async fn a_new_paid_order_heads_the_default_queue_of_a_store_with_600_finished_ones_sqlite() {
    a_new_paid_order_heads_the_default_queue_of_a_store_with_600_finished_ones(Kind::Sqlite).await;
}

async fn paging_the_store_queue_yields_every_order_once_in_order_while_orders_arrive(kind: Kind) {
    let h = harness(kind).await;
    let owner = Uuid::new_v4();
    let store = h.seed_store(owner, "떡볶이", true).await;
    let statuses = [
        "paid",
        "delivered",
        "accepted",
        "rejected",
        "cooking",
        "cancelled",
        "ready_for_pickup",
        "in_delivery",
    ];
    let mut seeded = Vec::new();
    for i in 0..90 {
        // Groups of three share a placing time, so the id decides among them.
        let ago = Duration::seconds(10 + (i / 3) as i64);
        seeded.push(
            h.seed_queued(store, statuses[i % statuses.len()], ago)
                .await,
        );
    }

    let path = format!("/stores/{store}/orders?status=all");
    let mut arrived = Vec::new();
    let (rows, _) = h
        .all_pages(owner, Role::StoreOwner, &path, 7, async |page| {
            // Orders arrive while the owner pages: a new paid one sorts before the cursor
            // (not seen this time), a new finished one after it while the cursor is still
            // among the active ones (seen once, in its place).
            let newer = Duration::milliseconds(-(page as i64));
            arrived.push(h.seed_queued(store, "paid", newer).await);
            arrived.push(h.seed_queued(store, "delivered", newer).await);
        })
        .await;
    let got = ids(&rows, "order_id");
    let known: std::collections::HashMap<String, Queued> = seeded
        .iter()
        .chain(&arrived)
        .map(|o| (o.order_id.clone(), o.clone()))
        .collect();
    let keys: Vec<_> = got.iter().map(|id| known[id].key()).collect();
    assert!(
        keys.windows(2).all(|w| w[0] > w[1]),
        "strictly in the documented order (active first, then newest, then by id), so no \
         row twice"
    );
    let seen: Vec<String> = got
        .iter()
        .filter(|id| seeded.iter().any(|o| &o.order_id == *id))
        .cloned()
        .collect();
    assert_eq!(
        seen,
        documented_order(seeded.clone()),
        "every order that was there from the start, exactly once"
    );

    let kitchen: Vec<Queued> = seeded
        .iter()
        .filter(|o| ["paid", "accepted", "cooking", "ready_for_pickup"].contains(&&*o.status))
        .cloned()
        .collect();
    let (rows, _) = h
        .all_pages(
            owner,
            Role::StoreOwner,
            &format!("/stores/{store}/orders"),
            4,
            async |_| {},
        )
        .await;
    let new_paid = arrived.iter().filter(|o| o.status == "paid").count();
    assert_eq!(
        ids(&rows[..new_paid], "order_id"),
        documented_order(
            arrived
                .iter()
                .filter(|o| o.status == "paid")
                .cloned()
                .collect()
        ),
        "the paid orders that arrived are the newest of all"
    );
    assert_eq!(
        ids(&rows[new_paid..], "order_id"),
        documented_order(kitchen),
        "the default queue is the kitchen's statuses, newest first"
    );

    let delivered: Vec<Queued> = seeded
        .iter()
        .filter(|o| o.status == "delivered")
        .cloned()
        .collect();
    let (rows, _) = h
        .all_pages(
            owner,
            Role::StoreOwner,
            &format!("/stores/{store}/orders?status=delivered"),
            5,
            async |_| {},
        )
        .await;
    assert!(rows.iter().all(|r| r["status"] == "delivered"));
    assert_eq!(
        ids(&rows[arrived.len() - new_paid..], "order_id"),
        documented_order(delivered),
        "one status's history, newest first"
    );
    h.test.cleanup().await;
}

#[tokio::test]
async fn paging_the_store_queue_yields_every_order_once_in_order_while_orders_arrive_postgres() {
    paging_the_store_queue_yields_every_order_once_in_order_while_orders_arrive(Kind::Postgres)
        .await;
}

#[tokio::test]
async fn paging_the_store_queue_yields_every_order_once_in_order_while_orders_arrive_sqlite() {
    paging_the_store_queue_yields_every_order_once_in_order_while_orders_arrive(Kind::Sqlite).await;
}

async fn every_other_list_pages_each_row_once_in_its_documented_order(kind: Kind) {
    let h = harness(kind).await;

    // My orders: active first, then newest, then id; new orders arrive while paging.
    let customer = Uuid::new_v4();
    let mut mine = Vec::new();
    for i in 0..40 {
        let status = ["awaiting_payment", "delivered", "cooking", "cancelled"][i % 4];
        mine.push(
            h.seed_view(customer, status, Duration::seconds(5 + (i / 2) as i64))
                .await,
        );
    }
    h.seed_view(Uuid::new_v4(), "paid", Duration::zero()).await; // someone else's
    let (rows, _) = h
        .all_pages(customer, Role::Customer, "/orders", 6, async |page| {
            h.seed_view(customer, "paid", Duration::milliseconds(-(page as i64)))
                .await;
        })
        .await;
    assert_eq!(ids(&rows, "order_id"), documented_order(mine));

    // Available deliveries: nearest first, then by id.
    let rider = Uuid::new_v4();
    let here = scenario::city_hall();
    let mut jobs = Vec::new();
    for i in 0..12 {
        let pickup = GeoPoint {
            lat: here.lat + 0.001 * f64::from(i % 6),
            lng: here.lng,
        };
        jobs.push((
            (here.distance_m(&pickup).ceil() as u32),
            h.seed_job(pickup).await,
        ));
    }
    jobs.sort();
    let near = format!(
        "/deliveries/available?lat={}&lng={}&radius_m=3000",
        here.lat, here.lng
    );
    let (rows, pages) = h
        .all_pages(rider, Role::Rider, &near, 5, async |_| {})
        .await;
    assert_eq!(pages, 3);
    assert_eq!(
        ids(&rows, "delivery_id"),
        jobs.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
    );

    // Dead letters: newest first.
    for n in 0..11 {
        h.seed_dead_letter(n).await;
    }
    let admin = Uuid::new_v4();
    let (rows, _) = h
        .all_pages(admin, Role::Admin, "/admin/dead-letters", 4, async |_| {})
        .await;
    let letters: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().expect("id")).collect();
    let mut expected = letters.clone();
    expected.sort_by(|a, b| b.cmp(a));
    expected.dedup();
    assert_eq!(letters.len(), 11);
    assert_eq!(letters, expected, "newest first, each once");

    // Stores: open first, then by name, then id.
    let owner = Uuid::new_v4();
    let mut stores = Vec::new();
    for (i, name) in ["다", "가", "나", "가", "라", "마", "가"]
        .iter()
        .enumerate()
    {
        let open = i % 2 == 0;
        let id = h.seed_store(owner, name, open).await;
        stores.push((!open, name.to_string(), id.to_string()));
    }
    let (rows, _) = h
        .all_pages(customer, Role::Customer, "/stores", 2, async |_| {})
        .await;
    stores.sort();
    assert_eq!(
        ids(&rows, "store_id"),
        stores.into_iter().map(|(_, _, id)| id).collect::<Vec<_>>(),
        "open first, then by name, then by id"
    );
    h.test.cleanup().await;
}

#[tokio::test]
async fn every_other_list_pages_each_row_once_in_its_documented_order_postgres() {
    every_other_list_pages_each_row_once_in_its_documented_order(Kind::Postgres).await;
}

#[tokio::test]
async fn every_other_list_pages_each_row_once_in_its_documented_order_sqlite() {
    every_other_list_pages_each_row_once_in_its_documented_order(Kind::Sqlite).await;
}

#[tokio::test]
async fn a_bad_tampered_or_foreign_cursor_and_an_out_of_range_limit_are_422_naming_the_field() {
    let h = harness(Kind::Sqlite).await;
    let owner = Uuid::new_v4();
    let store = h.seed_store(owner, "분식", true).await;
    let other = h.seed_store(owner, "분식 2호점", true).await;
    for i in 0..5 {
        h.seed_queued(store, "paid", Duration::seconds(i)).await;
    }
    let queue = format!("/stores/{store}/orders");
    let (_, page) = h
        .get(owner, Role::StoreOwner, &format!("{queue}?limit=2"))
        .await;
    let cursor = page["next"].as_str().expect("a next page").to_string();

    let mut tampered = cursor.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).expect("ascii");

    for (path, field) in [
        (format!("{queue}?cursor=not-a-cursor"), "cursor"),
        (format!("{queue}?cursor={tampered}"), "cursor"),
        (
            format!("{queue}?cursor={}", &cursor[..cursor.len() - 2]),
            "cursor",
        ),
        // The same cursor under another filter or for another store is someone else's place.
        (format!("{queue}?status=all&cursor={cursor}"), "cursor"),
        (format!("/stores/{other}/orders?cursor={cursor}"), "cursor"),
        (format!("{queue}?limit=0"), "limit"),
        (format!("{queue}?limit=201"), "limit"),
        (format!("{queue}?status=sideways"), "status"),
    ] {
        let (status, problem) = h.get(owner, Role::StoreOwner, &path).await;
        assert_eq!(status, 422, "{path}: {problem}");
        assert_eq!(problem["field"], field, "{path}: {problem}");
    }
    let customer = Uuid::new_v4();
    for path in [
        format!("/orders?cursor={cursor}"),
        format!("/stores?cursor={cursor}"),
    ] {
        let (status, problem) = h.get(customer, Role::Customer, &path).await;
        assert_eq!(status, 422, "{path}: {problem}");
        assert_eq!(problem["field"], "cursor");
    }
    let (status, problem) = h
        .get(
            Uuid::new_v4(),
            Role::Admin,
            "/admin/dead-letters?limit=1000",
        )
        .await;
    assert_eq!((status, problem["field"].as_str()), (422, Some("limit")));
    let (status, _) = h
        .get(owner, Role::StoreOwner, &format!("{queue}?cursor={cursor}"))
        .await;
    assert_eq!(status, 200, "the untouched cursor still works");
    h.test.cleanup().await;
}
