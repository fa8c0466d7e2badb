from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast
import datetime






T = TypeVar("T", bound="DeadLetterDetail")



@_attrs_define
class DeadLetterDetail:
    """ A dead letter in full.

        Attributes:
            id (int): Its id.
            consumer (str): The consumer that gave up.
            event_key (str): The event's key.
            error (str): The last error.
            attempts (int): Attempts made, retries included.
            failed_at (datetime.datetime): When it was parked.
            event (Any): The event as stored.
            retried_at (datetime.datetime | None | Unset): When a retry succeeded.
            discarded_at (datetime.datetime | None | Unset): When it was discarded.
            note (None | str | Unset): The note it was discarded with.
     """

    id: int
    consumer: str
    event_key: str
    error: str
    attempts: int
    failed_at: datetime.datetime
    event: Any
    retried_at: datetime.datetime | None | Unset = UNSET
    discarded_at: datetime.datetime | None | Unset = UNSET
    note: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        id = self.id

        consumer = self.consumer

        event_key = self.event_key

        error = self.error

        attempts = self.attempts

        failed_at = self.failed_at.isoformat()

        event = self.event

        retried_at: None | str | Unset
        if isinstance(self.retried_at, Unset):
            retried_at = UNSET
        elif isinstance(self.retried_at, datetime.datetime):
            retried_at = self.retried_at.isoformat()
        else:
            retried_at = self.retried_at

        discarded_at: None | str | Unset
        if isinstance(self.discarded_at, Unset):
            discarded_at = UNSET
        elif isinstance(self.discarded_at, datetime.datetime):
            discarded_at = self.discarded_at.isoformat()
        else:
            discarded_at = self.discarded_at

        note: None | str | Unset
        if isinstance(self.note, Unset):
            note = UNSET
        else:
            note = self.note


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "id": id,
            "consumer": consumer,
            "event_key": event_key,
            "error": error,
            "attempts": attempts,
            "failed_at": failed_at,
            "event": event,
        })
        if retried_at is not UNSET:
            field_dict["retried_at"] = retried_at
        if discarded_at is not UNSET:
            field_dict["discarded_at"] = discarded_at
        if note is not UNSET:
            field_dict["note"] = note

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




        event = d.pop("event")

        def _parse_retried_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                retried_at_type_0 = datetime.datetime.fromisoformat(data)



                return retried_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast("datetime.datetime | None | Unset", data)

        retried_at = _parse_retried_at(d.pop("retried_at", UNSET))


        def _parse_discarded_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                discarded_at_type_0 = datetime.datetime.fromisoformat(data)



                return discarded_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast("datetime.datetime | None | Unset", data)

        discarded_at = _parse_discarded_at(d.pop("discarded_at", UNSET))


        def _parse_note(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        note = _parse_note(d.pop("note", UNSET))


        dead_letter_detail = cls(
            id=id,
            consumer=consumer,
            event_key=event_key,
            error=error,
            attempts=attempts,
            failed_at=failed_at,
            event=event,
            retried_at=retried_at,
            discarded_at=discarded_at,
            note=note,
        )


        dead_letter_detail.additional_properties = d
        return dead_letter_detail

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
