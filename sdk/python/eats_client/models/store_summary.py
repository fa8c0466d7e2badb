from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.location import Location





T = TypeVar("T", bound="StoreSummary")



@_attrs_define
class StoreSummary:
    """ A store in the directory.

        Attributes:
            store_id (str): The store.
            name (str): Display name.
            address (str): Street address.
            location (Location): A position on earth.
            open_ (bool): Taking orders now.
     """

    store_id: str
    name: str
    address: str
    location: Location
    open_: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.location import Location # noqa: PLC0415
        store_id = self.store_id

        name = self.name

        address = self.address

        location = self.location.to_dict()

        open_ = self.open_


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "store_id": store_id,
            "name": name,
            "address": address,
            "location": location,
            "open": open_,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.location import Location # noqa: PLC0415
        d = dict(src_dict)
        store_id = d.pop("store_id")

        name = d.pop("name")

        address = d.pop("address")

        location = Location.from_dict(d.pop("location"))




        open_ = d.pop("open")

        store_summary = cls(
            store_id=store_id,
            name=name,
            address=address,
            location=location,
            open_=open_,
        )


        store_summary.additional_properties = d
        return store_summary

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
