from __future__ import annotations
import sys

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover
    from enum import Enum

    class StrEnum(str, Enum):
        pass

class DevRole(StrEnum):
    ADMIN = "admin"
    CUSTOMER = "customer"
    RIDER = "rider"
    STORE_OWNER = "store_owner"

    def __str__(self) -> str:
        return str(self.value)
