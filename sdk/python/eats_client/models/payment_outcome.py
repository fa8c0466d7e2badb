from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.payment_status import PaymentStatus
from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="PaymentOutcome")



@_attrs_define
class PaymentOutcome:
    """ The outcome of a payment attempt.

        Attributes:
            order_id (str): The order.
            payment_status (PaymentStatus): A payment's result.
            order_status (str): The order's status when this answered: `cancelled` or `rejected` when the order lost
                a race to a cancel (the payment is then refunded); `awaiting_payment` or `paid` while
                an approved payment is being recorded.
            message (None | str | Unset): The gateway's message when declined, or what happened to an approved payment whose
                order was cancelled meanwhile.
     """

    order_id: str
    payment_status: PaymentStatus
    order_status: str
    message: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        order_id = self.order_id

        payment_status = self.payment_status.value

        order_status = self.order_status

        message: None | str | Unset
        if isinstance(self.message, Unset):
            message = UNSET
        else:
            message = self.message


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "order_id": order_id,
            "payment_status": payment_status,
            "order_status": order_status,
        })
        if message is not UNSET:
            field_dict["message"] = message

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        order_id = d.pop("order_id")

        payment_status = PaymentStatus(d.pop("payment_status"))




        order_status = d.pop("order_status")

        def _parse_message(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        message = _parse_message(d.pop("message", UNSET))


        payment_outcome = cls(
            order_id=order_id,
            payment_status=payment_status,
            order_status=order_status,
            message=message,
        )


        payment_outcome.additional_properties = d
        return payment_outcome

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
