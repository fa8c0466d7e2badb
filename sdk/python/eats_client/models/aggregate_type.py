from __future__ import annotations
import sys

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover
    from enum import Enum

    class StrEnum(str, Enum):
        pass

class AggregateType(StrEnum):
    CUSTOMER = "Customer"
    DELIVERY = "Delivery"
    ORDER = "Order"
    PAYMENT = "Payment"
    STORE = "Store"

    def __str__(self) -> str:
        return str(self.value)
