from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast
import datetime






T = TypeVar("T", bound="RiderPosition")



@_attrs_define
class RiderPosition:
    """ Where the rider bringing your order is, as streamed after each report.

        Attributes:
            version (str): Names this content (a hash of it); also the SSE event id, for `Last-Event-ID`.
            lat (float): Latitude the rider last reported.
            lng (float): Longitude the rider last reported.
            distance_m (int): Metres from there to your delivery address, in a straight line.
            updated_at (datetime.datetime): When they reported it.
     """

    version: str
    lat: float
    lng: float
    distance_m: int
    updated_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        version = self.version

        lat = self.lat

        lng = self.lng

        distance_m = self.distance_m

        updated_at = self.updated_at.isoformat()


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "version": version,
            "lat": lat,
            "lng": lng,
            "distance_m": distance_m,
            "updated_at": updated_at,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        version = d.pop("version")

        lat = d.pop("lat")

        lng = d.pop("lng")

        distance_m = d.pop("distance_m")

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))




        rider_position = cls(
            version=version,
            lat=lat,
            lng=lng,
            distance_m=distance_m,
            updated_at=updated_at,
        )


        rider_position.additional_properties = d
        return rider_position

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
