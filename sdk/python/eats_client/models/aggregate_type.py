from enum import StrEnum

class AggregateType(StrEnum):
    CUSTOMER = "Customer"
    DELIVERY = "Delivery"
    ORDER = "Order"
    PAYMENT = "Payment"
    STORE = "Store"

    def __str__(self) -> str:
        return str(self.value)
