from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="StoredEvent")



@_attrs_define
class StoredEvent:
    """ A stored event, for audits.

        Attributes:
            sequence (int): Position in the aggregate.
            event_type (str): The event type.
            event_version (str): The stored version.
            payload (Any): The payload as stored.
            metadata (Any): Correlation, causation, actor, time, trace.
     """

    sequence: int
    event_type: str
    event_version: str
    payload: Any
    metadata: Any
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        sequence = self.sequence

        event_type = self.event_type

        event_version = self.event_version

        payload = self.payload

        metadata = self.metadata


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "sequence": sequence,
            "event_type": event_type,
            "event_version": event_version,
            "payload": payload,
            "metadata": metadata,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        sequence = d.pop("sequence")

        event_type = d.pop("event_type")

        event_version = d.pop("event_version")

        payload = d.pop("payload")

        metadata = d.pop("metadata")

        stored_event = cls(
            sequence=sequence,
            event_type=event_type,
            event_version=event_version,
            payload=payload,
            metadata=metadata,
        )


        stored_event.additional_properties = d
        return stored_event

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
