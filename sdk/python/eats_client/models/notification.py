from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast
import datetime






T = TypeVar("T", bound="Notification")



@_attrs_define
class Notification:
    """ One recorded message.

        Attributes:
            id (str): The record's id (also the idempotency key given to the provider).
            recipient (str): `customer:<id>` or `store_owner:<id>`.
            channel (str): `alimtalk`, `sms`, `kakao`, `webhook`, `log` (or `none` when skipped).
            template (str): The AlimTalk template code.
            text (str): The text as the recipient reads it.
            state (str): `queued`, `sending`, `sent`, `failed`, `shed` or `skipped`.
            attempts (int): Calls made to the provider.
            occurred_at (datetime.datetime): When the event happened.
            order_id (None | str | Unset): The order it is about.
            reason (None | str | Unset): Why it is in that state.
            provider (None | str | Unset): The provider that took it.
            request_id (None | str | Unset): The provider's request id.
            sent_at (datetime.datetime | None | Unset): When the provider accepted it.
            delivery (None | str | Unset): What the provider says became of a sent message: `delivered` or `undelivered`
                (also when the provider gave no verdict in time); absent until then, and for messages
                never sent.
            delivery_reason (None | str | Unset): The provider's reason for an undelivered message (e.g. `MRC02: ...`,
                `no_result: ...`),
                or `sms_fallback` for one that reached the customer by SMS instead of KakaoTalk.
            delivered_at (datetime.datetime | None | Unset): When the delivery verdict was recorded.
     """

    id: str
    recipient: str
    channel: str
    template: str
    text: str
    state: str
    attempts: int
    occurred_at: datetime.datetime
    order_id: None | str | Unset = UNSET
    reason: None | str | Unset = UNSET
    provider: None | str | Unset = UNSET
    request_id: None | str | Unset = UNSET
    sent_at: datetime.datetime | None | Unset = UNSET
    delivery: None | str | Unset = UNSET
    delivery_reason: None | str | Unset = UNSET
    delivered_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        id = self.id

        recipient = self.recipient

        channel = self.channel

        template = self.template

        text = self.text

        state = self.state

        attempts = self.attempts

        occurred_at = self.occurred_at.isoformat()

        order_id: None | str | Unset
        if isinstance(self.order_id, Unset):
            order_id = UNSET
        else:
            order_id = self.order_id

        reason: None | str | Unset
        if isinstance(self.reason, Unset):
            reason = UNSET
        else:
            reason = self.reason

        provider: None | str | Unset
        if isinstance(self.provider, Unset):
            provider = UNSET
        else:
            provider = self.provider

        request_id: None | str | Unset
        if isinstance(self.request_id, Unset):
            request_id = UNSET
        else:
            request_id = self.request_id

        sent_at: None | str | Unset
        if isinstance(self.sent_at, Unset):
            sent_at = UNSET
        elif isinstance(self.sent_at, datetime.datetime):
            sent_at = self.sent_at.isoformat()
        else:
            sent_at = self.sent_at

        delivery: None | str | Unset
        if isinstance(self.delivery, Unset):
            delivery = UNSET
        else:
            delivery = self.delivery

        delivery_reason: None | str | Unset
        if isinstance(self.delivery_reason, Unset):
            delivery_reason = UNSET
        else:
            delivery_reason = self.delivery_reason

        delivered_at: None | str | Unset
        if isinstance(self.delivered_at, Unset):
            delivered_at = UNSET
        elif isinstance(self.delivered_at, datetime.datetime):
            delivered_at = self.delivered_at.isoformat()
        else:
            delivered_at = self.delivered_at


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "id": id,
            "recipient": recipient,
            "channel": channel,
            "template": template,
            "text": text,
            "state": state,
            "attempts": attempts,
            "occurred_at": occurred_at,
        })
        if order_id is not UNSET:
            field_dict["order_id"] = order_id
        if reason is not UNSET:
            field_dict["reason"] = reason
        if provider is not UNSET:
            field_dict["provider"] = provider
        if request_id is not UNSET:
            field_dict["request_id"] = request_id
        if sent_at is not UNSET:
            field_dict["sent_at"] = sent_at
        if delivery is not UNSET:
            field_dict["delivery"] = delivery
        if delivery_reason is not UNSET:
            field_dict["delivery_reason"] = delivery_reason
        if delivered_at is not UNSET:
            field_dict["delivered_at"] = delivered_at

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        recipient = d.pop("recipient")

        channel = d.pop("channel")

        template = d.pop("template")

        text = d.pop("text")

        state = d.pop("state")

        attempts = d.pop("attempts")

        occurred_at = datetime.datetime.fromisoformat(d.pop("occurred_at"))




        def _parse_order_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        order_id = _parse_order_id(d.pop("order_id", UNSET))


        def _parse_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        reason = _parse_reason(d.pop("reason", UNSET))


        def _parse_provider(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        provider = _parse_provider(d.pop("provider", UNSET))


        def _parse_request_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        request_id = _parse_request_id(d.pop("request_id", UNSET))


        def _parse_sent_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                sent_at_type_0 = datetime.datetime.fromisoformat(data)



                return sent_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast("datetime.datetime | None | Unset", data)

        sent_at = _parse_sent_at(d.pop("sent_at", UNSET))


        def _parse_delivery(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        delivery = _parse_delivery(d.pop("delivery", UNSET))


        def _parse_delivery_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        delivery_reason = _parse_delivery_reason(d.pop("delivery_reason", UNSET))


        def _parse_delivered_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                delivered_at_type_0 = datetime.datetime.fromisoformat(data)



                return delivered_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast("datetime.datetime | None | Unset", data)

        delivered_at = _parse_delivered_at(d.pop("delivered_at", UNSET))


        notification = cls(
            id=id,
            recipient=recipient,
            channel=channel,
            template=template,
            text=text,
            state=state,
            attempts=attempts,
            occurred_at=occurred_at,
            order_id=order_id,
            reason=reason,
            provider=provider,
            request_id=request_id,
            sent_at=sent_at,
            delivery=delivery,
            delivery_reason=delivery_reason,
            delivered_at=delivered_at,
        )


        notification.additional_properties = d
        return notification

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
