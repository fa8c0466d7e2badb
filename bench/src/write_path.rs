//! eats's own write path on the workload of the baselines ([`crate::baseline`]): clients in
//! a closed loop place an order, record its payment and accept it, three commands on the
//! Order aggregate of one event each, through eats's command handlers ([`Aggregates`]) on a
//! database with eats's migrations. So it pays for everything eats adds to a bare
//! postgres-es command: the metadata, the outbox row the trigger writes, the wake-up of the
//! relay, pricing from the store's menu, and (in embedded mode) SQLite writers taking turns.
//! It runs in-process, not through HTTP, so its ratio over bare postgres-es is the cost of
//! the write path alone.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eats_domain::metadata::{Actor, EventMetadata};
use eats_domain::order::{DeliveryAddress, LineRequest, OrderCommand};
use eats_domain::{GeoPoint, OrderId, PaymentId, Won};
use eats_store::testing::scenario;
use eats_store::Database;

use crate::baseline::{BaselineReport, Step, StepLatency};
use crate::percentile;

/// Runs the place -> pay -> accept loop with `clients` clients on `db` (fresh, migrated):
/// `warmup` unmeasured, then `measured`. Each client has its own store and customer.
pub async fn eats_write_path(
    db: &Database,
    name: &'static str,
    clients: usize,
    warmup: Duration,
    measured: Duration,
) -> anyhow::Result<BaselineReport> {
    let aggregates = scenario::aggregates(db);
    let started = Instant::now();
    let measure_from = started + warmup;
    let until = measure_from + measured;
    let times: Arc<Mutex<Vec<(Step, f64)>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (aggregates, times) = (aggregates.clone(), times.clone());
        tasks.spawn(async move {
            let store = scenario::open_store(&aggregates).await;
            let customer = scenario::register_customer(&aggregates).await;
            while Instant::now() < until {
                let order = OrderId::new();
                let id = order.to_string();
                let meta =
                    |actor| EventMetadata::for_command(order.0, actor, chrono::Utc::now()).to_map();
                let commands = [
                    (
                        Step::Place,
                        OrderCommand::PlaceOrder {
                            order_id: order,
                            customer,
                            store_id: store.id,
                            lines: vec![LineRequest {
                                item_id: store.item,
                                quantity: 1,
                            }],
                            deliver_to: DeliveryAddress {
                                address: "서울 중구 을지로 12".into(),
                                location: GeoPoint {
                                    lat: 37.566,
                                    lng: 126.991,
                                },
                            },
                        },
                        Actor::Customer(customer),
                    ),
                    (
                        Step::Pay,
                        OrderCommand::RecordPayment {
                            payment_id: PaymentId::for_order(order),
                            amount: Won(4_500),
                        },
                        Actor::System,
                    ),
                    (
                        Step::Accept,
                        OrderCommand::AcceptOrder { by: store.owner },
                        Actor::StoreOwner(store.owner),
                    ),
                ];
                for (step, command, actor) in commands {
                    let begun = Instant::now();
                    aggregates
                        .orders
                        .execute_with_metadata(&id, command, meta(actor))
                        .await
                        .map_err(|e| anyhow::anyhow!("{}: {e}", step.name()))?;
                    if begun >= measure_from && Instant::now() <= until {
                        let ms = begun.elapsed().as_secs_f64() * 1e3;
                        times
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((step, ms));
                    }
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let times = std::mem::take(&mut *times.lock().unwrap_or_else(|e| e.into_inner()));
    let mut all: Vec<f64> = times.iter().map(|(_, ms)| *ms).collect();
    all.sort_by(f64::total_cmp);
    let steps = Step::ALL
        .iter()
        .map(|&step| {
            let mut of: Vec<f64> = times
                .iter()
                .filter(|(s, _)| *s == step)
                .map(|(_, ms)| *ms)
                .collect();
            of.sort_by(f64::total_cmp);
            StepLatency {
                step,
                p50_ms: percentile(&of, 50.0),
                p99_ms: percentile(&of, 99.0),
            }
        })
        .collect();
    Ok(BaselineReport {
        name,
        clients,
        measured,
        commands: all.len() as u64,
        commands_per_sec: all.len() as f64 / measured.as_secs_f64(),
        p50_ms: percentile(&all, 50.0),
        p99_ms: percentile(&all, 99.0),
        steps,
    })
}
