from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from uuid import UUID






T = TypeVar("T", bound="OrderLineInput")



@_attrs_define
class OrderLineInput:
    """ A line of a new order: which item, how many. Prices come from the menu.

        Attributes:
            item_id (UUID): The menu item.
            quantity (int): How many, 1 to 50.
     """

    item_id: UUID
    quantity: int





    def to_dict(self) -> dict[str, Any]:
        item_id = str(self.item_id)

        quantity = self.quantity


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "item_id": item_id,
            "quantity": quantity,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        item_id = UUID(d.pop("item_id"))




        quantity = d.pop("quantity")

        order_line_input = cls(
            item_id=item_id,
            quantity=quantity,
        )

        return order_line_input

