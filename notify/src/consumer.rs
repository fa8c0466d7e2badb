//! The notifier's consumer: turns committed events into recorded messages.
//!
//! It only records (one insert per message, unique per event, recipient and channel) and
//! wakes the dispatcher; it never calls a provider, so a slow provider never holds up the
//! feed and a redelivered event adds nothing. The details a template needs (store name, item
//! summary, total, the customer's phone) are read from the event store itself, the first
//! event of the order, store and customer, never from a read model that may lag behind.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::Aggregate;
use eats_domain::customer::{Customer, CustomerEvent};
use eats_domain::delivery::{Delivery, DeliveryEvent};
use eats_domain::order::{Order, OrderEvent, OrderPlaced};
use eats_domain::payment::{Payment, PaymentEvent};
use eats_domain::store::{Store, StoreEvent};
use eats_domain::Versioned;
use eats_feed::{EventHandler, FeedEvent, HandlerError};
use eats_store::Database;
use tokio::sync::Notify;

use crate::preferences;
use crate::provider::{domestic_number, Provider, Unreachable};
use crate::records::{self, NewRecord};
use crate::template::{self, Template};

/// The durable consumer's name. Not a projection: `eats rebuild-projections` never resets it.
pub const NAME: &str = "notifier";

/// Records a message for every status change of every order.
pub struct Notifier {
    db: Database,
    provider: Arc<dyn Provider>,
    wake: Arc<Notify>,
}

/// Why the details of a message could not be gathered.
#[derive(Debug, thiserror::Error)]
enum PlanError {
    #[error("event store: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] eats_store::StoreError),
    #[error(transparent)]
    Decode(#[from] eats_feed::DecodeError),
    #[error("{0} has no first event")]
    Missing(String),
}

/// A message before it has a channel: what, to whom, with which parameters, about which order.
type Planned = (
    Template,
    Recipient,
    BTreeMap<String, String>,
    Option<String>,
);

/// Who receives a message.
struct Recipient {
    key: String,
    phone: Option<String>,
}

impl Notifier {
    /// A consumer recording on `db`, with channels chosen by `provider`; `wake` is notified
    /// after each new record (the dispatcher waits on it).
    pub fn new(db: Database, provider: Arc<dyn Provider>, wake: Arc<Notify>) -> Self {
        Self { db, provider, wake }
    }

    /// The first event of `id`, kept by the database once read (a first event never
    /// changes, and each order sends about seven messages that all need the same three).
    async fn first_event<A: Versioned>(&self, id: &str) -> Result<Option<A::Event>, PlanError> {
        match self.db.first_event(A::TYPE, id).await? {
            // Not there yet (a customer who has not registered): asked again next time.
            None => Ok(None),
            Some(stored) => Ok(Some(FeedEvent::from_serialized(stored)?.decode::<A>()?)),
        }
    }

    async fn placement(&self, order_id: &str) -> Result<OrderPlaced, PlanError> {
        match self.first_event::<Order>(order_id).await? {
            Some(OrderEvent::OrderPlaced(placed)) => Ok(placed),
            _ => Err(PlanError::Missing(format!("order {order_id}"))),
        }
    }

    async fn store_name(&self, store_id: &str) -> Result<String, PlanError> {
        match self.first_event::<Store>(store_id).await? {
            Some(StoreEvent::StoreRegistered(store)) => Ok(store.name),
            _ => Err(PlanError::Missing(format!("store {store_id}"))),
        }
    }

    /// The customer with their phone; an unregistered customer has none.
    async fn customer(&self, customer_id: &str) -> Result<(Recipient, Option<String>), PlanError> {
        let registered = match self.first_event::<Customer>(customer_id).await? {
            Some(CustomerEvent::CustomerRegistered(customer)) => Some(customer),
            _ => None,
        };
        let phone = registered
            .as_ref()
            .and_then(|c| domestic_number(c.phone.as_str()));
        Ok((
            Recipient {
                key: format!("customer:{customer_id}"),
                phone,
            },
            registered.map(|c| c.name),
        ))
    }

    /// The order's details as template parameters, and its customer and store owner.
    async fn order_details(
        &self,
        order_id: &str,
    ) -> Result<(BTreeMap<String, String>, Recipient, Recipient), PlanError> {
        let placed = self.placement(order_id).await?;
        let store = self.store_name(&placed.store_id.to_string()).await?;
        let lines: Vec<(String, u32)> = placed
            .lines
            .iter()
            .map(|l| (l.name.clone(), l.quantity))
            .collect();
        let parameters = [
            ("storeName", store),
            ("orderNo", template::order_number(order_id)),
            ("items", template::item_summary(&lines)),
            ("total", template::won(placed.total)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let (customer, _) = self.customer(&placed.customer_id.to_string()).await?;
        let owner = Recipient {
            key: format!("store_owner:{}", placed.store_owner),
            // Store owners have no phone in the domain yet: the webhook and log providers
            // reach them by id, the phone providers record the message as skipped.
            phone: None,
        };
        Ok((parameters, customer, owner))
    }

    /// The messages `event` causes.
    async fn plan(&self, event: &FeedEvent) -> Result<Vec<NewRecord>, PlanError> {
        let mut planned: Vec<Planned> = Vec::new();
        match event.aggregate_type.as_str() {
            Order::TYPE => {
                let order_id = event.aggregate_id.clone();
                let decoded = event.decode::<Order>()?;
                let template = match &decoded {
                    OrderEvent::OrderPlaced(_) => template::ORDER_PLACED,
                    OrderEvent::OrderPaid(_) => template::ORDER_PAID,
                    OrderEvent::OrderAccepted(_) => template::ORDER_ACCEPTED,
                    OrderEvent::OrderRejected(_) => template::ORDER_REJECTED,
                    OrderEvent::CookingStarted(_) => template::COOKING_STARTED,
                    OrderEvent::CookingFinished(_) => template::ORDER_READY,
                    OrderEvent::OrderPickedUp(_) => template::ORDER_PICKED_UP,
                    OrderEvent::OrderDelivered(_) => template::ORDER_DELIVERED,
                    OrderEvent::OrderCancelled(c) if c.refund_owed.is_positive() => {
                        template::CANCELLED_REFUND
                    }
                    OrderEvent::OrderCancelled(_) => template::ORDER_CANCELLED,
                };
                let (mut parameters, customer, owner) = self.order_details(&order_id).await?;
                match &decoded {
                    OrderEvent::OrderRejected(r) => {
                        parameters.insert("reason".into(), r.reason.clone());
                        parameters.insert("refund".into(), template::won(r.refund_owed));
                    }
                    OrderEvent::OrderCancelled(c) => {
                        parameters.insert("reason".into(), c.reason.clone());
                        parameters.insert("refund".into(), template::won(c.refund_owed));
                    }
                    _ => {}
                }
                if matches!(decoded, OrderEvent::OrderPaid(_)) {
                    planned.push((
                        template::STORE_NEW_ORDER,
                        owner,
                        parameters.clone(),
                        Some(order_id.clone()),
                    ));
                }
                planned.push((template, customer, parameters, Some(order_id)));
            }
            Payment::TYPE => {
                if let PaymentEvent::PaymentRefunded(refund) = event.decode::<Payment>()? {
                    let order_id = refund.order_id.to_string();
                    let (mut parameters, customer, _) = self.order_details(&order_id).await?;
                    parameters.insert("refund".into(), template::won(refund.amount));
                    planned.push((template::REFUND_DONE, customer, parameters, Some(order_id)));
                }
            }
            Delivery::TYPE => {
                if let DeliveryEvent::RiderAssigned(assigned) = event.decode::<Delivery>()? {
                    let order_id = assigned.order_id.to_string();
                    let (parameters, customer, _) = self.order_details(&order_id).await?;
                    planned.push((
                        template::RIDER_ASSIGNED,
                        customer,
                        parameters,
                        Some(order_id),
                    ));
                }
            }
            Customer::TYPE => {
                if let CustomerEvent::GradeUpgraded(upgrade) = event.decode::<Customer>()? {
                    let (customer, name) = self.customer(&event.aggregate_id).await?;
                    let parameters = [
                        ("name", name.unwrap_or_else(|| "고객".into())),
                        ("grade", template::grade_name(upgrade.to).to_string()),
                        ("count", upgrade.completed_orders.to_string()),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                    planned.push((template::GRADE_UPGRADED, customer, parameters, None));
                }
            }
            _ => {}
        }
        let occurred_at = event
            .occurred_at()
            .map_or_else(records::now_ms, |t| t.timestamp_millis());
        let mut records = Vec::with_capacity(planned.len());
        for (template, recipient, parameters, order_id) in planned {
            let (channel, skip) = match self.provider.channel(recipient.phone.as_deref()) {
                Ok(channel) => (channel.to_string(), None),
                Err(Unreachable::NoPhone) => {
                    ("none".to_string(), Some(Unreachable::NoPhone.to_string()))
                }
            };
            records.push(NewRecord {
                event_key: event.key(),
                order_id,
                recipient: recipient.key,
                phone: recipient.phone,
                channel,
                template,
                parameters,
                occurred_at,
                skip,
                sms_fallback: true,
            });
        }
        Ok(records)
    }

    /// Applies the customers' choices to the planned messages they would get (critical ones
    /// ignore them), reading every customer's settings in one statement.
    async fn apply_choices(&self, records: &mut [NewRecord]) -> Result<(), sqlx::Error> {
        let customer = |record: &NewRecord| -> Option<String> {
            match (record.template.critical, &record.skip) {
                (false, None) => record.recipient.strip_prefix("customer:").map(String::from),
                _ => None,
            }
        };
        let mut customers: Vec<String> = records.iter().filter_map(customer).collect();
        customers.sort();
        customers.dedup();
        if customers.is_empty() {
            return Ok(());
        }
        let choices = preferences::get_many(&self.db, &customers).await?;
        let now = chrono::Utc::now();
        for record in records.iter_mut() {
            let Some(id) = customer(record) else {
                continue;
            };
            let choice = choices.get(&id).copied().unwrap_or_default();
            record.sms_fallback = choice.sms;
            let kakao_channel = matches!(record.channel.as_str(), "alimtalk" | "kakao");
            if choice.quiet.is_some_and(|q| q.contains(now)) {
                record.skip = Some("quiet_hours".into());
            } else if !choice.kakao && !choice.sms {
                record.skip = Some("opted_out".into());
            } else if !choice.kakao && kakao_channel {
                match (choice.sms, self.provider.sms_channel()) {
                    (true, Some(sms)) => record.channel = sms.to_string(),
                    _ => record.skip = Some("opted_out".into()),
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl EventHandler for Notifier {
    fn name(&self) -> &str {
        NAME
    }

    fn aggregate_types(&self) -> &[&'static str] {
        &[Order::TYPE, Payment::TYPE, Delivery::TYPE, Customer::TYPE]
    }

    async fn handle(&self, event: &FeedEvent) -> Result<(), HandlerError> {
        self.handle_batch(std::slice::from_ref(event)).await
    }

    async fn handle_batch(&self, events: &[FeedEvent]) -> Result<(), HandlerError> {
        let mut planned = Vec::new();
        for event in events {
            planned.extend(
                self.plan(event)
                    .await
                    .map_err(|e| HandlerError::new(NAME, event, e))?,
            );
        }
        let failed = |e: sqlx::Error| match events.first() {
            Some(event) => HandlerError::new(NAME, event, e),
            None => HandlerError {
                handler: NAME.into(),
                event: String::new(),
                reason: e.to_string(),
            },
        };
        self.apply_choices(&mut planned).await.map_err(failed)?;
        let inserted = records::insert(&self.db, &planned, records::now_ms())
            .await
            .map_err(failed)?;
        for reason in planned.iter().filter_map(|r| r.skip.clone()) {
            metrics::counter!("eats_notifications_total", "outcome" => "skipped", "reason" => reason, "provider" => self.provider.name()).increment(1);
        }
        if inserted.superseded > 0 {
            metrics::counter!("eats_notifications_total", "outcome" => "shed", "reason" => "superseded", "provider" => self.provider.name()).increment(inserted.superseded);
        }
        if inserted.added > 0 {
            self.wake.notify_one();
        }
        Ok(())
    }
}
