from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="OrderLine")



@_attrs_define
class OrderLine:
    """ A priced line.

        Attributes:
            item_id (str): The menu item.
            name (str): Its name when ordered.
            unit_price (int): Its price when ordered.
            quantity (int): How many.
            line_total (int): unit price × quantity.
     """

    item_id: str
    name: str
    unit_price: int
    quantity: int
    line_total: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        item_id = self.item_id

        name = self.name

        unit_price = self.unit_price

        quantity = self.quantity

        line_total = self.line_total


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "item_id": item_id,
            "name": name,
            "unit_price": unit_price,
            "quantity": quantity,
            "line_total": line_total,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        item_id = d.pop("item_id")

        name = d.pop("name")

        unit_price = d.pop("unit_price")

        quantity = d.pop("quantity")

        line_total = d.pop("line_total")

        order_line = cls(
            item_id=item_id,
            name=name,
            unit_price=unit_price,
            quantity=quantity,
            line_total=line_total,
        )


        order_line.additional_properties = d
        return order_line

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
