from __future__ import annotations
import sys

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover
    from enum import Enum

    class StrEnum(str, Enum):
        pass

class NotificationState(StrEnum):
    FAILED = "failed"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    SHED = "shed"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return str(self.value)
