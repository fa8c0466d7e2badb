//! The first embedded run seeds demo stores (EATS_DEMO_DATA), once, and only when asked.

mod common;

use std::time::{Duration, Instant};

use common::{Server, SECRET};
use eats_api::{Auth, Role};
use serde_json::Value;
use uuid::Uuid;

async fn stores(server: &Server, expected: usize) -> Vec<Value> {
    let token = Auth::hs256(SECRET.as_bytes())
        .expect("key")
        .mint(Uuid::new_v4(), Role::Customer, chrono::Duration::minutes(5))
        .expect("token");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page: Value = client
            .get(format!("{}/api/v1/stores", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        let items = page["items"].as_array().cloned().expect("items");
        if items.len() == expected || Instant::now() > deadline {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn folder() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("eats-demo-{}", Uuid::new_v4()))
}

#[tokio::test]
async fn a_first_embedded_start_seeds_open_stores_near_city_hall_once() {
    let data = folder();
    let env = [
        ("EATS_DATA_DIR", data.to_str().expect("path")),
        ("EATS_DEMO_DATA", "1"),
    ];
    let server = Server::start(&env);
    let seeded = stores(&server, 3).await;
    assert_eq!(seeded.len(), 3, "{seeded:?}");
    assert!(seeded.iter().all(|s| s["open"] == true), "{seeded:?}");
    assert!(
        seeded.iter().any(|s| s["name"] == "김밥천국 시청점"),
        "{seeded:?}"
    );
    assert!(server.terminate());

    let again = Server::start(&env);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stores(&again, 3).await.len(), 3, "seeded twice");
    assert!(again.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test]
async fn with_eats_demo_data_0_the_first_start_is_empty() {
    let data = folder();
    let server = Server::start(&[
        ("EATS_DATA_DIR", data.to_str().expect("path")),
        ("EATS_DEMO_DATA", "0"),
    ]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(stores(&server, 0).await.is_empty());
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}
