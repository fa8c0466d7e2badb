from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="MenuItemChange")



@_attrs_define
class MenuItemChange:
    """ Change a menu item.

        Attributes:
            name (str): Display name.
            price (int): Price in KRW.
            available (bool): Whether it can be ordered (false: sold out).
     """

    name: str
    price: int
    available: bool





    def to_dict(self) -> dict[str, Any]:
        name = self.name

        price = self.price

        available = self.available


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "name": name,
            "price": price,
            "available": available,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        price = d.pop("price")

        available = d.pop("available")

        menu_item_change = cls(
            name=name,
            price=price,
            available=available,
        )

        return menu_item_change

