from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="StoryState")



@_attrs_define
class StoryState:
    """ The state of an order's aggregates at one point of its story.

        Attributes:
            order (None | str | Unset): The order's status.
            payment (None | str | Unset): The payment's.
            delivery (None | str | Unset): The delivery job's.
            customer (None | str | Unset): The customer's grade and completed orders.
     """

    order: None | str | Unset = UNSET
    payment: None | str | Unset = UNSET
    delivery: None | str | Unset = UNSET
    customer: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        order: None | str | Unset
        if isinstance(self.order, Unset):
            order = UNSET
        else:
            order = self.order

        payment: None | str | Unset
        if isinstance(self.payment, Unset):
            payment = UNSET
        else:
            payment = self.payment

        delivery: None | str | Unset
        if isinstance(self.delivery, Unset):
            delivery = UNSET
        else:
            delivery = self.delivery

        customer: None | str | Unset
        if isinstance(self.customer, Unset):
            customer = UNSET
        else:
            customer = self.customer


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
        })
        if order is not UNSET:
            field_dict["order"] = order
        if payment is not UNSET:
            field_dict["payment"] = payment
        if delivery is not UNSET:
            field_dict["delivery"] = delivery
        if customer is not UNSET:
            field_dict["customer"] = customer

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_order(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        order = _parse_order(d.pop("order", UNSET))


        def _parse_payment(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        payment = _parse_payment(d.pop("payment", UNSET))


        def _parse_delivery(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        delivery = _parse_delivery(d.pop("delivery", UNSET))


        def _parse_customer(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        customer = _parse_customer(d.pop("customer", UNSET))


        story_state = cls(
            order=order,
            payment=payment,
            delivery=delivery,
            customer=customer,
        )


        story_state.additional_properties = d
        return story_state

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
