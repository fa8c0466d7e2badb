from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="NewMenuItem")



@_attrs_define
class NewMenuItem:
    """ Add an item to a menu.

        Attributes:
            name (str): Display name, 1 to 80 characters.
            price (int): Price in KRW, 1 to 10,000,000.
     """

    name: str
    price: int





    def to_dict(self) -> dict[str, Any]:
        name = self.name

        price = self.price


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "name": name,
            "price": price,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        price = d.pop("price")

        new_menu_item = cls(
            name=name,
            price=price,
        )

        return new_menu_item

