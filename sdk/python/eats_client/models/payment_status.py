from enum import StrEnum

class PaymentStatus(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"

    def __str__(self) -> str:
        return str(self.value)
