from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.location import Location





T = TypeVar("T", bound="RegisterStore")



@_attrs_define
class RegisterStore:
    """ Register a store; you become its owner.

        Attributes:
            name (str): Display name, 1 to 80 characters.
            address (str): Street address, 1 to 200 characters.
            location (Location): A position on earth.
     """

    name: str
    address: str
    location: Location





    def to_dict(self) -> dict[str, Any]:
        from ..models.location import Location # noqa: PLC0415
        name = self.name

        address = self.address

        location = self.location.to_dict()


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "name": name,
            "address": address,
            "location": location,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.location import Location # noqa: PLC0415
        d = dict(src_dict)
        name = d.pop("name")

        address = d.pop("address")

        location = Location.from_dict(d.pop("location"))




        register_store = cls(
            name=name,
            address=address,
            location=location,
        )

        return register_store

