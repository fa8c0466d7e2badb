from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="StoryMessage")



@_attrs_define
class StoryMessage:
    """ A message recorded about an event of the story.

        Attributes:
            id (str): The record.
            recipient (str): Who it is for.
            channel (str): The channel.
            template (str): Which message.
            state (str): queued, sending, sent, failed, shed or skipped.
            attempts (int): Provider calls so far.
            reason (None | str | Unset): Why it was shed, skipped or failed.
     """

    id: str
    recipient: str
    channel: str
    template: str
    state: str
    attempts: int
    reason: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        id = self.id

        recipient = self.recipient

        channel = self.channel

        template = self.template

        state = self.state

        attempts = self.attempts

        reason: None | str | Unset
        if isinstance(self.reason, Unset):
            reason = UNSET
        else:
            reason = self.reason


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "id": id,
            "recipient": recipient,
            "channel": channel,
            "template": template,
            "state": state,
            "attempts": attempts,
        })
        if reason is not UNSET:
            field_dict["reason"] = reason

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        recipient = d.pop("recipient")

        channel = d.pop("channel")

        template = d.pop("template")

        state = d.pop("state")

        attempts = d.pop("attempts")

        def _parse_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        reason = _parse_reason(d.pop("reason", UNSET))


        story_message = cls(
            id=id,
            recipient=recipient,
            channel=channel,
            template=template,
            state=state,
            attempts=attempts,
            reason=reason,
        )


        story_message.additional_properties = d
        return story_message

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
