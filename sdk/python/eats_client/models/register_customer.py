from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.location import Location





T = TypeVar("T", bound="RegisterCustomer")



@_attrs_define
class RegisterCustomer:
    """ Register yourself as a customer.

        Attributes:
            name (str): Display name, 1 to 50 characters.
            phone (str): Korean mobile number, e.g. `010-1234-5678`; KakaoTalk and SMS go here.
            address (str): Default delivery address.
            location (Location): A position on earth.
     """

    name: str
    phone: str
    address: str
    location: Location





    def to_dict(self) -> dict[str, Any]:
        from ..models.location import Location # noqa: PLC0415
        name = self.name

        phone = self.phone

        address = self.address

        location = self.location.to_dict()


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "name": name,
            "phone": phone,
            "address": address,
            "location": location,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.location import Location # noqa: PLC0415
        d = dict(src_dict)
        name = d.pop("name")

        phone = d.pop("phone")

        address = d.pop("address")

        location = Location.from_dict(d.pop("location"))




        register_customer = cls(
            name=name,
            phone=phone,
            address=address,
            location=location,
        )

        return register_customer

