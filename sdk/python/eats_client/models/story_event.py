from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast
import datetime

if TYPE_CHECKING:
  from ..models.story_message import StoryMessage
  from ..models.story_state import StoryState





T = TypeVar("T", bound="StoryEvent")



@_attrs_define
class StoryEvent:
    """ One event of an order's story.

        Attributes:
            n (int): Its place in the story, from 1.
            key (str): `<aggregate>-<id>-<sequence>`.
            event_id (str): The stable id process managers name as the causation of what they do about it.
            aggregate_type (str): Order, Payment, Delivery or Customer.
            aggregate_id (str): The aggregate.
            sequence (int): Its position in the aggregate.
            event_type (str): The event type.
            event_version (str): The stored version.
            state (StoryState): The state of an order's aggregates at one point of its story.
            payload (Any): The stored payload.
            notifications (list[StoryMessage]): Messages recorded about it.
            actor (None | str | Unset): Who (`role:uuid` or `system`).
            occurred_at (datetime.datetime | None | Unset): When.
            causation_id (None | str | Unset): The command or event that caused it.
            caused_by (int | None | Unset): The `n` of the event that caused it, when a process manager reacted to one.
     """

    n: int
    key: str
    event_id: str
    aggregate_type: str
    aggregate_id: str
    sequence: int
    event_type: str
    event_version: str
    state: StoryState
    payload: Any
    notifications: list[StoryMessage]
    actor: None | str | Unset = UNSET
    occurred_at: datetime.datetime | None | Unset = UNSET
    causation_id: None | str | Unset = UNSET
    caused_by: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.story_message import StoryMessage # noqa: PLC0415
        from ..models.story_state import StoryState # noqa: PLC0415
        n = self.n

        key = self.key

        event_id = self.event_id

        aggregate_type = self.aggregate_type

        aggregate_id = self.aggregate_id

        sequence = self.sequence

        event_type = self.event_type

        event_version = self.event_version

        state = self.state.to_dict()

        payload = self.payload

        notifications = []
        for notifications_item_data in self.notifications:
            notifications_item = notifications_item_data.to_dict()
            notifications.append(notifications_item)



        actor: None | str | Unset
        if isinstance(self.actor, Unset):
            actor = UNSET
        else:
            actor = self.actor

        occurred_at: None | str | Unset
        if isinstance(self.occurred_at, Unset):
            occurred_at = UNSET
        elif isinstance(self.occurred_at, datetime.datetime):
            occurred_at = self.occurred_at.isoformat()
        else:
            occurred_at = self.occurred_at

        causation_id: None | str | Unset
        if isinstance(self.causation_id, Unset):
            causation_id = UNSET
        else:
            causation_id = self.causation_id

        caused_by: int | None | Unset
        if isinstance(self.caused_by, Unset):
            caused_by = UNSET
        else:
            caused_by = self.caused_by


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "n": n,
            "key": key,
            "event_id": event_id,
            "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id,
            "sequence": sequence,
            "event_type": event_type,
            "event_version": event_version,
            "state": state,
            "payload": payload,
            "notifications": notifications,
        })
        if actor is not UNSET:
            field_dict["actor"] = actor
        if occurred_at is not UNSET:
            field_dict["occurred_at"] = occurred_at
        if causation_id is not UNSET:
            field_dict["causation_id"] = causation_id
        if caused_by is not UNSET:
            field_dict["caused_by"] = caused_by

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.story_message import StoryMessage # noqa: PLC0415
        from ..models.story_state import StoryState # noqa: PLC0415
        d = dict(src_dict)
        n = d.pop("n")

        key = d.pop("key")

        event_id = d.pop("event_id")

        aggregate_type = d.pop("aggregate_type")

        aggregate_id = d.pop("aggregate_id")

        sequence = d.pop("sequence")

        event_type = d.pop("event_type")

        event_version = d.pop("event_version")

        state = StoryState.from_dict(d.pop("state"))




        payload = d.pop("payload")

        notifications = []
        _notifications = d.pop("notifications")
        for notifications_item_data in (_notifications):
            notifications_item = StoryMessage.from_dict(notifications_item_data)



            notifications.append(notifications_item)


        def _parse_actor(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        actor = _parse_actor(d.pop("actor", UNSET))


        def _parse_occurred_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                occurred_at_type_0 = datetime.datetime.fromisoformat(data)



                return occurred_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast("datetime.datetime | None | Unset", data)

        occurred_at = _parse_occurred_at(d.pop("occurred_at", UNSET))


        def _parse_causation_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        causation_id = _parse_causation_id(d.pop("causation_id", UNSET))


        def _parse_caused_by(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("int | None | Unset", data)

        caused_by = _parse_caused_by(d.pop("caused_by", UNSET))


        story_event = cls(
            n=n,
            key=key,
            event_id=event_id,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            sequence=sequence,
            event_type=event_type,
            event_version=event_version,
            state=state,
            payload=payload,
            notifications=notifications,
            actor=actor,
            occurred_at=occurred_at,
            causation_id=causation_id,
            caused_by=caused_by,
        )


        story_event.additional_properties = d
        return story_event

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
