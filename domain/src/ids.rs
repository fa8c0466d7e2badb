//! Identifiers as newtypes over UUIDs.
//!
//! Payment and delivery ids are derived from the order id (UUIDv5), so the process managers
//! that open them can be re-run safely: the second attempt addresses the same aggregate and is
//! refused instead of opening a duplicate.

use uuid::Uuid;

uuid_id!(
    /// An order; also the correlation id of everything that happens because of it.
    OrderId
);
uuid_id!(
    /// The one payment of an order.
    PaymentId
);
uuid_id!(
    /// The one delivery job of an order.
    DeliveryId
);
uuid_id!(
    /// A registered customer; the `sub` of the customer's token.
    CustomerId
);
uuid_id!(
    /// A store.
    StoreId
);
uuid_id!(
    /// An item on a store's menu.
    MenuItemId
);
uuid_id!(
    /// A rider; the `sub` of the rider's token.
    RiderId
);
uuid_id!(
    /// Any authenticated user (store owners, admins); the `sub` of their token.
    UserId
);

/// Namespace for ids derived from an order id; fixed forever, or derived ids would change.
const PAYMENT_NAMESPACE: Uuid = Uuid::from_u128(0x5d1c_2f0e_8a4b_4c6e_9f1d_7a3b_0c2e_1001);
const DELIVERY_NAMESPACE: Uuid = Uuid::from_u128(0x5d1c_2f0e_8a4b_4c6e_9f1d_7a3b_0c2e_1002);

impl PaymentId {
    /// The payment of `order`: the same order always yields the same payment.
    pub fn for_order(order: OrderId) -> Self {
        Self(Uuid::new_v5(&PAYMENT_NAMESPACE, order.0.as_bytes()))
    }
}

impl DeliveryId {
    /// The delivery job of `order`: the same order always yields the same job.
    pub fn for_order(order: OrderId) -> Self {
        Self(Uuid::new_v5(&DELIVERY_NAMESPACE, order.0.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct_per_kind() {
        let order = OrderId::new();
        assert_eq!(PaymentId::for_order(order), PaymentId::for_order(order));
        assert_ne!(
            PaymentId::for_order(order).0,
            DeliveryId::for_order(order).0
        );
        assert_ne!(
            PaymentId::for_order(order),
            PaymentId::for_order(OrderId::new())
        );
    }
}
