from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="ConsumerLag")



@_attrs_define
class ConsumerLag:
    """ How far a consumer is behind.

        Attributes:
            consumer (str): The consumer (projection or process manager).
            events (int): Events not yet handled.
            seconds (float): Age of the oldest, in seconds.
     """

    consumer: str
    events: int
    seconds: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        consumer = self.consumer

        events = self.events

        seconds = self.seconds


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "consumer": consumer,
            "events": events,
            "seconds": seconds,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        consumer = d.pop("consumer")

        events = d.pop("events")

        seconds = d.pop("seconds")

        consumer_lag = cls(
            consumer=consumer,
            events=events,
            seconds=seconds,
        )


        consumer_lag.additional_properties = d
        return consumer_lag

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
