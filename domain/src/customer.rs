//! The Customer aggregate: profile, where to send notifications, and the loyalty grade that
//! completed orders earn.

use std::collections::BTreeSet;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::events::Versioned;
use crate::geo::{GeoError, GeoPoint};
use crate::ids::{CustomerId, OrderId};
use crate::text::{bounded, TextError};

/// Longest customer name, in characters.
pub const MAX_NAME_CHARS: usize = 50;
/// Longest address, in characters.
pub const MAX_ADDRESS_CHARS: usize = 200;

/// Loyalty grades, lowest first; the order of the variants is the order of the grades.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Grade {
    /// Every new customer.
    #[default]
    Basic,
    /// The first threshold.
    Silver,
    /// The second threshold.
    Gold,
    /// The third threshold.
    Vip,
}

/// How many completed orders each grade needs; configurable per deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GradePolicy {
    silver: u32,
    gold: u32,
    vip: u32,
}

/// The thresholds do not rise strictly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("grade thresholds must rise strictly from at least 1: got {silver} / {gold} / {vip}")]
pub struct InvalidGradePolicy {
    silver: u32,
    gold: u32,
    vip: u32,
}

impl GradePolicy {
    /// Thresholds for silver, gold and VIP; they must rise strictly from at least 1.
    pub fn new(silver: u32, gold: u32, vip: u32) -> Result<Self, InvalidGradePolicy> {
        if silver >= 1 && silver < gold && gold < vip {
            Ok(Self { silver, gold, vip })
        } else {
            Err(InvalidGradePolicy { silver, gold, vip })
        }
    }

    /// The grade earned by `completed` orders.
    pub fn grade_for(&self, completed: u32) -> Grade {
        match completed {
            n if n >= self.vip => Grade::Vip,
            n if n >= self.gold => Grade::Gold,
            n if n >= self.silver => Grade::Silver,
            _ => Grade::Basic,
        }
    }
}

impl Default for GradePolicy {
    /// 5 / 20 / 50 completed orders.
    fn default() -> Self {
        Self {
            silver: 5,
            gold: 20,
            vip: 50,
        }
    }
}

/// What the Customer aggregate reaches outside itself for.
#[derive(Clone, Debug, Default)]
pub struct CustomerServices {
    /// Grade thresholds.
    pub grades: GradePolicy,
}

/// A mobile number in E.164 form (`+821012345678`), the form KakaoTalk and SMS providers take.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct PhoneNumber(String);

/// The number is not a Korean mobile number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("phone must be a Korean mobile number such as 010-1234-5678 or +82 10-1234-5678")]
pub struct InvalidPhone;

impl PhoneNumber {
    /// Accepts `010-1234-5678`, `01012345678`, `+82 10 1234 5678` and similar.
    pub fn parse(raw: &str) -> Result<Self, InvalidPhone> {
        let digits: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
            .collect();
        let national = if let Some(rest) = digits.strip_prefix("+82") {
            format!("0{}", rest.strip_prefix('0').unwrap_or(rest))
        } else {
            digits
        };
        let valid = national.len() >= 10
            && national.len() <= 11
            && national.starts_with("01")
            && national.bytes().all(|b| b.is_ascii_digit());
        if !valid {
            return Err(InvalidPhone);
        }
        Ok(Self(format!("+82{}", &national[1..])))
    }

    /// The E.164 form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A customer as their events have built them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    registered: bool,
    grade: Grade,
    completed: BTreeSet<OrderId>,
}

impl Customer {
    /// The current grade.
    pub fn grade(&self) -> Grade {
        self.grade
    }

    /// How many orders were delivered to this customer.
    pub fn completed_orders(&self) -> u32 {
        u32::try_from(self.completed.len()).unwrap_or(u32::MAX)
    }
}

/// What customers and process managers ask of a customer.
#[derive(Clone, Debug, PartialEq)]
pub enum CustomerCommand {
    /// A user registers as a customer.
    RegisterCustomer {
        /// The user's id (the token's `sub`).
        customer_id: CustomerId,
        /// Display name.
        name: String,
        /// Mobile number for notifications, in any common format.
        phone: String,
        /// Default delivery address.
        address: String,
        /// Its location.
        location: GeoPoint,
    },
    /// An order was delivered to this customer (issued by the process manager).
    RecordCompletedOrder {
        /// The delivered order; recorded once.
        order_id: OrderId,
    },
}

/// Why a customer command was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CustomerError {
    /// Registered already.
    #[error("customer is already registered")]
    AlreadyRegistered,
    /// Not registered.
    #[error("customer is not registered")]
    NotRegistered,
    /// A name or address is unusable.
    #[error(transparent)]
    InvalidText(#[from] TextError),
    /// The phone number is unusable.
    #[error(transparent)]
    InvalidPhone(#[from] InvalidPhone),
    /// The location is not on earth.
    #[error(transparent)]
    InvalidLocation(#[from] GeoError),
    /// This order already counted.
    #[error("order {0} is already recorded")]
    OrderAlreadyRecorded(OrderId),
}

/// A customer registered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerRegistered {
    /// The customer.
    pub customer_id: CustomerId,
    /// Display name.
    pub name: String,
    /// E.164 mobile number for KakaoTalk and SMS.
    pub phone: PhoneNumber,
    /// Default delivery address.
    pub address: String,
    /// Its location.
    pub location: GeoPoint,
}

/// An order was delivered to the customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CompletedOrderRecorded {
    /// The order.
    pub order_id: OrderId,
    /// Completed orders including this one.
    pub completed_orders: u32,
}

/// The customer reached a higher grade.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GradeUpgraded {
    /// The previous grade.
    pub from: Grade,
    /// The new grade.
    pub to: Grade,
    /// Completed orders that earned it.
    pub completed_orders: u32,
}

domain_events! {
    /// Everything that happens to a customer.
    pub enum CustomerEvent {
        CustomerRegistered(CustomerRegistered) = "1.0.0",
        CompletedOrderRecorded(CompletedOrderRecorded) = "1.0.0",
        GradeUpgraded(GradeUpgraded) = "1.0.0",
    }
}

impl Aggregate for Customer {
    const TYPE: &'static str = "Customer";
    type Command = CustomerCommand;
    type Event = CustomerEvent;
    type Error = CustomerError;
    type Services = CustomerServices;

    async fn handle(
        &mut self,
        command: CustomerCommand,
        services: &CustomerServices,
        sink: &EventSink<Self>,
    ) -> Result<(), CustomerError> {
        match command {
            CustomerCommand::RegisterCustomer {
                customer_id,
                name,
                phone,
                address,
                location,
            } => {
                if self.registered {
                    return Err(CustomerError::AlreadyRegistered);
                }
                let event = CustomerRegistered {
                    customer_id,
                    name: bounded("name", &name, MAX_NAME_CHARS)?,
                    phone: PhoneNumber::parse(&phone)?,
                    address: bounded("address", &address, MAX_ADDRESS_CHARS)?,
                    location: location.validated()?,
                };
                sink.write(event.into(), self).await;
            }
            CustomerCommand::RecordCompletedOrder { order_id } => {
                if !self.registered {
                    return Err(CustomerError::NotRegistered);
                }
                if self.completed.contains(&order_id) {
                    return Err(CustomerError::OrderAlreadyRecorded(order_id));
                }
                let from = self.grade;
                let completed_orders = self.completed_orders().saturating_add(1);
                let recorded = CompletedOrderRecorded {
                    order_id,
                    completed_orders,
                };
                sink.write(recorded.into(), self).await;
                let to = services.grades.grade_for(completed_orders);
                if to > from {
                    let upgraded = GradeUpgraded {
                        from,
                        to,
                        completed_orders,
                    };
                    sink.write(upgraded.into(), self).await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: CustomerEvent) {
        match event {
            CustomerEvent::CustomerRegistered(_) => self.registered = true,
            CustomerEvent::CompletedOrderRecorded(e) => {
                self.completed.insert(e.order_id);
            }
            CustomerEvent::GradeUpgraded(e) => self.grade = e.to,
        }
    }
}

impl Versioned for Customer {
    const SNAPSHOTS: bool = true;
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    type CustomerTester = TestFramework<Customer>;

    fn customer_id() -> CustomerId {
        CustomerId(uuid::Uuid::from_u128(0xc1))
    }
    fn seoul() -> GeoPoint {
        GeoPoint::new(37.5660, 126.9910).expect("valid")
    }
    fn register(phone: &str) -> CustomerCommand {
        CustomerCommand::RegisterCustomer {
            customer_id: customer_id(),
            name: "김민지".into(),
            phone: phone.into(),
            address: "서울 중구 을지로 12, 301호".into(),
            location: seoul(),
        }
    }
    fn registered() -> CustomerEvent {
        CustomerRegistered {
            customer_id: customer_id(),
            name: "김민지".into(),
            phone: PhoneNumber("+821012345678".into()),
            address: "서울 중구 을지로 12, 301호".into(),
            location: seoul(),
        }
        .into()
    }
    fn order(n: u128) -> OrderId {
        OrderId(uuid::Uuid::from_u128(n))
    }
    fn recorded(n: u32) -> CustomerEvent {
        CompletedOrderRecorded {
            order_id: order(u128::from(n)),
            completed_orders: n,
        }
        .into()
    }
    fn services() -> CustomerServices {
        CustomerServices {
            grades: GradePolicy::new(2, 3, 5).expect("valid"),
        }
    }

    #[tokio::test]
    async fn registration_normalises_the_phone_to_e164() {
        for phone in [
            "010-1234-5678",
            "01012345678",
            "+82 10-1234-5678",
            "+82 010 1234 5678",
        ] {
            CustomerTester::with(services())
                .given_no_previous_events()
                .when_async(register(phone))
                .await
                .then_expect_events(vec![registered()]);
        }
    }

    #[tokio::test]
    async fn landlines_foreign_and_garbled_numbers_are_refused() {
        for phone in [
            "02-123-4567",
            "+1 415 555 0100",
            "010-12ab-5678",
            "010-1234-56789",
            "",
        ] {
            CustomerTester::with(services())
                .given_no_previous_events()
                .when_async(register(phone))
                .await
                .then_expect_error(CustomerError::InvalidPhone(InvalidPhone));
        }
    }

    #[tokio::test]
    async fn registering_twice_or_without_a_name_is_refused() {
        CustomerTester::with(services())
            .given(vec![registered()])
            .when_async(register("010-1234-5678"))
            .await
            .then_expect_error(CustomerError::AlreadyRegistered);
        let mut nameless = register("010-1234-5678");
        if let CustomerCommand::RegisterCustomer { name, .. } = &mut nameless {
            *name = String::new();
        }
        CustomerTester::with(services())
            .given_no_previous_events()
            .when_async(nameless)
            .await
            .then_expect_error(CustomerError::InvalidText(TextError::Empty {
                field: "name",
            }));
    }

    #[tokio::test]
    async fn a_completed_order_below_the_threshold_only_counts() {
        CustomerTester::with(services())
            .given(vec![registered()])
            .when_async(CustomerCommand::RecordCompletedOrder { order_id: order(1) })
            .await
            .then_expect_events(vec![recorded(1)]);
    }

    #[tokio::test]
    async fn crossing_a_threshold_upgrades_the_grade() {
        CustomerTester::with(services())
            .given(vec![registered(), recorded(1)])
            .when_async(CustomerCommand::RecordCompletedOrder { order_id: order(2) })
            .await
            .then_expect_events(vec![
                recorded(2),
                GradeUpgraded {
                    from: Grade::Basic,
                    to: Grade::Silver,
                    completed_orders: 2,
                }
                .into(),
            ]);
    }

    #[tokio::test]
    async fn the_same_order_counts_once() {
        CustomerTester::with(services())
            .given(vec![registered(), recorded(1)])
            .when_async(CustomerCommand::RecordCompletedOrder { order_id: order(1) })
            .await
            .then_expect_error(CustomerError::OrderAlreadyRecorded(order(1)));
    }

    #[tokio::test]
    async fn an_unregistered_customer_earns_nothing() {
        CustomerTester::with(services())
            .given_no_previous_events()
            .when_async(CustomerCommand::RecordCompletedOrder { order_id: order(1) })
            .await
            .then_expect_error(CustomerError::NotRegistered);
    }

    #[test]
    fn grade_policy_thresholds_must_rise_strictly() {
        assert!(GradePolicy::new(5, 20, 50).is_ok());
        assert!(GradePolicy::new(0, 20, 50).is_err());
        assert!(GradePolicy::new(5, 5, 50).is_err());
        assert!(GradePolicy::new(5, 60, 50).is_err());
        let policy = GradePolicy::default();
        assert_eq!(policy.grade_for(4), Grade::Basic);
        assert_eq!(policy.grade_for(5), Grade::Silver);
        assert_eq!(policy.grade_for(20), Grade::Gold);
        assert_eq!(policy.grade_for(50), Grade::Vip);
    }
}
