from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.location import Location





T = TypeVar("T", bound="CustomerProfile")



@_attrs_define
class CustomerProfile:
    """ A customer as they see themselves.

        Attributes:
            customer_id (str): The customer (the token's `sub`).
            name (str): Display name.
            phone (str): E.164 mobile number.
            address (str): Default delivery address.
            location (Location): A position on earth.
            completed_orders (int): Orders delivered so far.
            grade (str): Loyalty grade: `basic`, `silver`, `gold` or `vip`.
     """

    customer_id: str
    name: str
    phone: str
    address: str
    location: Location
    completed_orders: int
    grade: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.location import Location # noqa: PLC0415
        customer_id = self.customer_id

        name = self.name

        phone = self.phone

        address = self.address

        location = self.location.to_dict()

        completed_orders = self.completed_orders

        grade = self.grade


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "customer_id": customer_id,
            "name": name,
            "phone": phone,
            "address": address,
            "location": location,
            "completed_orders": completed_orders,
            "grade": grade,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.location import Location # noqa: PLC0415
        d = dict(src_dict)
        customer_id = d.pop("customer_id")

        name = d.pop("name")

        phone = d.pop("phone")

        address = d.pop("address")

        location = Location.from_dict(d.pop("location"))




        completed_orders = d.pop("completed_orders")

        grade = d.pop("grade")

        customer_profile = cls(
            customer_id=customer_id,
            name=name,
            phone=phone,
            address=address,
            location=location,
            completed_orders=completed_orders,
            grade=grade,
        )


        customer_profile.additional_properties = d
        return customer_profile

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
