from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast
import datetime






T = TypeVar("T", bound="DeadLetter")



@_attrs_define
class DeadLetter:
    """ A message a process manager gave up on.

        Attributes:
            id (int): Its id.
            consumer (str): The consumer.
            event_key (str): The event.
            error (str): The last error.
            attempts (int): Attempts made.
            failed_at (datetime.datetime): When it was parked.
     """

    id: int
    consumer: str
    event_key: str
    error: str
    attempts: int
    failed_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        id = self.id

        consumer = self.consumer

        event_key = self.event_key

        error = self.error

        attempts = self.attempts

        failed_at = self.failed_at.isoformat()


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "id": id,
            "consumer": consumer,
            "event_key": event_key,
            "error": error,
            "attempts": attempts,
            "failed_at": failed_at,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        consumer = d.pop("consumer")

        event_key = d.pop("event_key")

        error = d.pop("error")

        attempts = d.pop("attempts")

        failed_at = datetime.datetime.fromisoformat(d.pop("failed_at"))




        dead_letter = cls(
            id=id,
            consumer=consumer,
            event_key=event_key,
            error=error,
            attempts=attempts,
            failed_at=failed_at,
        )


        dead_letter.additional_properties = d
        return dead_letter

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
