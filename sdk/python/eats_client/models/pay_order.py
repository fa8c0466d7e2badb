from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="PayOrder")



@_attrs_define
class PayOrder:
    """ Pay for an order with the key the payment widget returned.

        Attributes:
            payment_key (str): The gateway's payment key.
     """

    payment_key: str





    def to_dict(self) -> dict[str, Any]:
        payment_key = self.payment_key


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "payment_key": payment_key,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        payment_key = d.pop("payment_key")

        pay_order = cls(
            payment_key=payment_key,
        )

        return pay_order

