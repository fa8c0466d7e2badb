from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="Location")



@_attrs_define
class Location:
    """ A position on earth.

        Attributes:
            lat (float): Latitude in degrees, -90 to 90.
            lng (float): Longitude in degrees, -180 to 180.
     """

    lat: float
    lng: float





    def to_dict(self) -> dict[str, Any]:
        lat = self.lat

        lng = self.lng


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "lat": lat,
            "lng": lng,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        lat = d.pop("lat")

        lng = d.pop("lng")

        location = cls(
            lat=lat,
            lng=lng,
        )

        return location

