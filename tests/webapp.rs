//! What the web app needs from the real `eats` binary: the app itself served at `/` (index
//! fallback for its routes but never for the API's, caching by kind of file, a CSP), the
//! development sign-in (on by default embedded, off with Postgres unless enabled), and the
//! two snapshot streams it shows live: a store's kitchen queue and the jobs near a rider,
//! pushed on change (no stream polls, so a broken wake-up hangs these tests) and resumable.

mod common;

use std::time::Duration;

use common::api::{
    embedded, eventually, here, open_store, order_status, place, registered_customer,
    ApiWithoutConsumers, Caller,
};
use common::Server;
use eats_api::Role;
use eats_store::testing::TestDatabase;
use reqwest::Method;
use serde_json::{json, Value};

/// Longest wait for anything pushed: generous, only there so a broken push fails instead of
/// hanging forever.
const LIVENESS: Duration = Duration::from_secs(30);

async fn fetch(server: &Server, path: &str, etag: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{}{path}", server.base));
    if let Some(etag) = etag {
        request = request.header("if-none-match", etag);
    }
    request.send().await.expect("request")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} header"))
        .to_str()
        .expect("ASCII header")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_is_served_at_the_root_with_an_index_fallback_for_its_routes_only() {
    let (server, data) = embedded(&[]);

    let index = fetch(&server, "/", None).await;
    assert_eq!(index.status(), 200);
    assert!(header(&index, "content-type").starts_with("text/html"));
    assert_eq!(header(&index, "cache-control"), "no-cache");
    let csp = header(&index, "content-security-policy").to_string();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let etag = header(&index, "etag").to_string();
    let html = index.text().await.expect("body");
    assert!(html.contains("<div id=\"root\">"), "the built app: {html}");

    // A route of the app (a reload, a shared link) gets the same page.
    let route = fetch(
        &server,
        "/orders/0196d7a4-5d1c-7000-8000-000000000000",
        None,
    )
    .await;
    assert_eq!(route.status(), 200);
    assert_eq!(route.text().await.expect("body"), html);

    // Unchanged: 304 without a body.
    let again = fetch(&server, "/", Some(&etag)).await;
    assert_eq!(again.status(), 304);

    // The hashed files the page names are cached for good.
    let asset = html
        .split('"')
        .find(|part| part.starts_with("/assets/") && part.ends_with(".js"))
        .expect("a hashed script in index.html");
    let script = fetch(&server, asset, None).await;
    assert_eq!(script.status(), 200);
    assert_eq!(
        header(&script, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert!(header(&script, "content-type").contains("javascript"));

    // The API's unknown paths stay the API's: problem+json, never the app's page.
    let missing = fetch(&server, "/api/v1/no-such-thing", None).await;
    assert_eq!(missing.status(), 404);
    assert!(header(&missing, "content-type").starts_with("application/problem+json"));
    // And the server's own pages are still theirs.
    let (status, spec) = server.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(spec.starts_with('{'));

    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

async fn dev_login(server: &Server, role: &str, name: &str) -> (u16, Value, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/dev/login", server.base))
        .json(&json!({"role": role, "name": name}))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let content_type = header(&response, "content-type").to_string();
    (status, response.json().await.expect("JSON"), content_type)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_sign_in_is_on_by_default_embedded_and_gives_one_user_per_role_and_name() {
    let (server, data) = embedded(&[]);
    let (status, first, _) = dev_login(&server, "customer", "김민지").await;
    assert_eq!(status, 200, "{first}");
    let (_, again, _) = dev_login(&server, "customer", "김민지").await;
    assert_eq!(first["user_id"], again["user_id"], "the same person again");
    let (_, rider, _) = dev_login(&server, "rider", "김민지").await;
    assert_ne!(first["user_id"], rider["user_id"]);

    // The token is a real one: the customer registers with it and is themselves.
    let customer = Caller::with_token(&server, first["token"].as_str().expect("token").into());
    let (status, body) = customer
        .post(
            "/customers",
            json!({"name": "김민지", "phone": "010-1234-5678", "address": "서울 중구 을지로 12", "location": here()}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // The profile is a read model: it shows the registration once its projector has run.
    let me = eventually("the customer's profile", || async {
        let (status, me) = customer.get("/customers/me").await;
        (status == 200).then_some(me)
    })
    .await;
    assert_eq!(&me["customer_id"], &first["user_id"]);

    let (status, refused, _) = dev_login(&server, "emperor", "김민지").await;
    assert_eq!(status, 400, "{refused}");
    // A name is a JSON string, not a boolean turned into "false"; unknown fields are refused.
    for body in [
        json!({"role": "customer", "name": false}),
        json!({"role": "customer", "name": "김민지", "admin": true}),
    ] {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/dev/login", server.base))
            .json(&body)
            .send()
            .await
            .expect("request");
        assert!(
            matches!(response.status().as_u16(), 400 | 422),
            "{body}: {}",
            response.status()
        );
    }
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_sign_in_is_off_with_postgres_unless_enabled_and_off_embedded_when_disabled() {
    let (embedded_off, data) = embedded(&[("EATS_DEV_LOGIN", "0")]);
    let (status, problem, content_type) = dev_login(&embedded_off, "customer", "김민지").await;
    assert_eq!(status, 404);
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(problem["type"], "urn:eats:problem:dev-login-disabled");
    assert!(embedded_off.terminate());
    let _ = std::fs::remove_dir_all(data);

    let test = TestDatabase::postgres().await;
    let url = test.url.clone().expect("url");
    let postgres = Server::start(&[("EATS_DATABASE_URL", &url), ("EATS_ROLES", "api")]);
    let (status, problem, _) = dev_login(&postgres, "store_owner", "박사장").await;
    assert_eq!(status, 404, "{problem}");
    assert_eq!(problem["type"], "urn:eats:problem:dev-login-disabled");
    assert!(postgres.terminate());

    let enabled = Server::start(&[
        ("EATS_DATABASE_URL", &url),
        ("EATS_ROLES", "api"),
        ("EATS_DEV_LOGIN", "1"),
    ]);
    let (status, token, _) = dev_login(&enabled, "store_owner", "박사장").await;
    assert_eq!(status, 200, "{token}");
    assert!(enabled.terminate());
    test.cleanup().await;
}

/// One snapshot stream, read event by event.
struct Snapshots {
    response: reqwest::Response,
    buffer: String,
}

/// One snapshot: (event id, data).
type Snapshot = (String, Value);

impl Snapshots {
    async fn open(caller: &Caller, path: &str, last_event_id: Option<&str>) -> Self {
        let mut request = caller.request(Method::GET, path);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.expect("stream request");
        assert_eq!(response.status(), 200, "{path}");
        assert!(header(&response, "content-type").starts_with("text/event-stream"));
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next snapshot, skipping heartbeats; `None` when the server ended the stream.
    async fn next(&mut self) -> Option<Snapshot> {
        let reading = async {
            loop {
                if let Some(at) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..at + 2).collect();
                    if block.starts_with(':') {
                        continue;
                    }
                    let field = |name: &str| {
                        block
                            .lines()
                            .find_map(|l| l.strip_prefix(name))
                            .map(|v| v.trim().to_string())
                    };
                    let id = field("id:").expect("an id");
                    let data: Value =
                        serde_json::from_str(&field("data:").expect("data")).expect("JSON");
                    assert_eq!(data["version"].as_str(), Some(id.as_str()));
                    return Some((id, data));
                }
                match self.response.chunk().await.expect("reading the stream") {
                    Some(bytes) => self
                        .buffer
                        .push_str(std::str::from_utf8(&bytes).expect("UTF-8")),
                    None => return None,
                }
            }
        };
        tokio::time::timeout(LIVENESS, reading)
            .await
            .expect("a snapshot pushed before the liveness bound")
    }

    async fn snapshot(&mut self) -> Snapshot {
        self.next().await.expect("a snapshot, not the end")
    }
}

fn statuses(snapshot: &Snapshot) -> Vec<(String, String)> {
    snapshot.1["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| {
            (
                o["order_id"].as_str().expect("order_id").to_string(),
                o["status"].as_str().expect("status").to_string(),
            )
        })
        .collect()
}

/// Each kitchen step of one order is pushed to the owner's queue stream as it happens, and a
/// stream resumed with the last version sends nothing until the queue changes again.
async fn the_queue_is_pushed_as_it_changes(api: &Server) {
    let (owner, store, item) = open_store(api).await;
    // As the app does: the owner finds the new store in their list (the directory, a read
    // model that may trail the commit when another process projects it), then follows it.
    eventually("the store in its owner's list", || async {
        let (s, stores) = owner.get("/stores/mine").await;
        (s == 200
            && stores
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x["store_id"] == store.as_str())))
        .then_some(())
    })
    .await;
    let queue = format!("/stores/{store}/orders/stream");
    let mut stream = Snapshots::open(&owner, &queue, None).await;
    let empty = stream.snapshot().await;
    assert_eq!(statuses(&empty), vec![]);

    let customer = registered_customer(api).await;
    let order = place(&customer, &store, &item).await;
    let (s, paid) = customer
        .post(
            &format!("/orders/{order}/payment"),
            json!({"payment_key": "tgen_20261204"}),
        )
        .await;
    assert_eq!(s, 200, "{paid}");
    let appeared = stream.snapshot().await;
    assert_eq!(statuses(&appeared), vec![(order.clone(), "paid".into())]);
    assert_eq!(appeared.1["items"][0]["lines"][0]["name"], "참치김밥");

    let (s, body) = owner
        .post(&format!("/stores/{store}/orders/{order}/accept"), json!({}))
        .await;
    assert_eq!(s, 200, "{body}");
    let accepted = stream.snapshot().await;
    assert_eq!(
        statuses(&accepted),
        vec![(order.clone(), "accepted".into())]
    );
    drop(stream);

    // Resuming where it left off: the unchanged queue is not sent again; the next change is.
    let mut resumed = Snapshots::open(&owner, &queue, Some(&accepted.0)).await;
    let (s, body) = owner
        .post(
            &format!("/stores/{store}/orders/{order}/start-cooking"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let cooking = resumed.snapshot().await;
    assert_eq!(statuses(&cooking), vec![(order.clone(), "cooking".into())]);

    // Another owner's store is not theirs to watch.
    let stranger = Caller::new(api, Role::StoreOwner);
    let refused = stranger
        .request(Method::GET, &queue)
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stores_queue_is_pushed_each_change_embedded() {
    let (server, data) = embedded(&[]);
    the_queue_is_pushed_as_it_changes(&server).await;
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stores_queue_is_pushed_across_processes_when_the_api_runs_no_projectors() {
    let split = ApiWithoutConsumers::start("webqueue").await;
    the_queue_is_pushed_as_it_changes(&split.api).await;
    split.stop().await;
}

/// The jobs near a rider are pushed when one opens and when it is taken; once picked up, the
/// rider's position is pushed to that order's customer (and no one else) as they report it.
async fn jobs_and_the_rider_are_pushed(server: &Server) {
    let (owner, store, item) = open_store(server).await;
    let rider = Caller::new(server, Role::Rider);
    let near = "/deliveries/available/stream?lat=37.567&lng=126.979&radius_m=3000";
    // Busan: the job is hundreds of kilometres away.
    let far = "/deliveries/available/stream?lat=35.1796&lng=129.0756&radius_m=3000";
    let mut jobs = Snapshots::open(&rider, near, None).await;
    let none = jobs.snapshot().await;
    assert_eq!(none.1["items"], json!([]));
    let none_far = Snapshots::open(&rider, far, None).await.snapshot().await;

    let customer = registered_customer(server).await;
    let order = place(&customer, &store, &item).await;
    let (s, paid) = customer
        .post(
            &format!("/orders/{order}/payment"),
            json!({"payment_key": "tgen_20261204"}),
        )
        .await;
    assert_eq!(s, 200, "{paid}");
    order_status(&customer, &order, "paid").await;
    for step in ["accept", "start-cooking", "finish-cooking"] {
        let (s, body) = owner
            .post(&format!("/stores/{store}/orders/{order}/{step}"), json!({}))
            .await;
        assert_eq!(s, 200, "{step}: {body}");
    }
    let opened = jobs.snapshot().await;
    let job = &opened.1["items"][0];
    assert_eq!(job["order_id"], order.as_str());
    assert!(job["distance_m"].as_u64().expect("distance") < 3_000);
    let delivery = job["delivery_id"]
        .as_str()
        .expect("delivery_id")
        .to_string();

    let (s, body) = rider
        .put(
            "/riders/me/location",
            json!({"lat": 37.567, "lng": 126.979}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = rider
        .post(&format!("/deliveries/{delivery}/claim"), json!({}))
        .await;
    assert_eq!(s, 200, "{body}");
    let taken = jobs.snapshot().await;
    assert_eq!(taken.1["items"], json!([]));

    // The customer sees the rider once the order is on its way, and only then.
    let rider_stream = format!("/orders/{order}/rider/stream");
    let early = customer
        .request(Method::GET, &rider_stream)
        .send()
        .await
        .expect("request");
    assert_eq!(early.status(), 409, "not picked up yet");
    let (s, body) = rider
        .post(&format!("/deliveries/{delivery}/pickup"), json!({}))
        .await;
    assert_eq!(s, 200, "{body}");
    order_status(&customer, &order, "in_delivery").await;
    let mut position = Snapshots::open(&customer, &rider_stream, None).await;
    let first = position.snapshot().await;
    assert_eq!(first.1["lat"], 37.567);
    let far_from_home = first.1["distance_m"].as_u64().expect("distance");
    // Nearer the customer's address (을지로, 37.566 126.991): pushed as it is reported.
    let (s, body) = rider
        .put(
            "/riders/me/location",
            json!({"lat": 37.566, "lng": 126.989}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let nearer = position.snapshot().await;
    assert!(
        nearer.1["distance_m"].as_u64().expect("distance") < far_from_home,
        "{nearer:?} after {first:?}"
    );
    // Another customer does not see where this rider is.
    let stranger = registered_customer(server).await;
    let refused = stranger
        .request(Method::GET, &rider_stream)
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 404);

    // Far away the list is what it was: the same content, the same version.
    let mut fresh_far = Snapshots::open(&rider, far, None).await;
    assert_eq!(fresh_far.snapshot().await.0, none_far.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_and_the_riders_position_are_pushed_embedded() {
    let (server, data) = embedded(&[]);
    jobs_and_the_rider_are_pushed(&server).await;
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_and_the_riders_position_are_pushed_across_processes_when_the_api_runs_no_projectors()
{
    let split = ApiWithoutConsumers::start("webjobs").await;
    jobs_and_the_rider_are_pushed(&split.api).await;
    split.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_lists_their_own_stores_and_no_one_elses() {
    let (server, data) = embedded(&[]);
    let owner = Caller::new(&server, Role::StoreOwner);
    for name in ["순대국 시청점", "김밥천국 시청점"] {
        let (s, body) = owner
            .post(
                "/stores",
                json!({"name": name, "address": "서울 중구 세종대로 110", "location": here()}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
    }
    let (other, _, _) = open_store(&server).await;
    let names = |stores: &Value| -> Vec<String> {
        stores
            .as_array()
            .expect("an array")
            .iter()
            .map(|s| s["name"].as_str().expect("name").to_string())
            .collect()
    };
    let mine = eventually("both stores in the directory", || async {
        let (s, stores) = owner.get("/stores/mine").await;
        (s == 200 && stores.as_array().is_some_and(|a| a.len() == 2)).then_some(stores)
    })
    .await;
    assert_eq!(names(&mine), vec!["김밥천국 시청점", "순대국 시청점"]);
    let (s, theirs) = other.get("/stores/mine").await;
    assert_eq!(
        (s, names(&theirs)),
        (200, vec!["김밥천국 시청점".to_string()])
    );
    let customer = Caller::new(&server, Role::Customer);
    let (s, _) = customer.get("/stores/mine").await;
    assert_eq!(s, 403);
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}
