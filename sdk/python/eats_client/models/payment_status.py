from enum import StrEnum

class PaymentStatus(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    REFUNDED = "refunded"

    def __str__(self) -> str:
        return str(self.value)
