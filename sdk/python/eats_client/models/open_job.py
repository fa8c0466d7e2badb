from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.location import Location





T = TypeVar("T", bound="OpenJob")



@_attrs_define
class OpenJob:
    """ An open delivery job near a rider.

        Attributes:
            delivery_id (str): Claim it with this id.
            order_id (str): The order.
            store_id (str): The store.
            pickup (Location): A position on earth.
            dropoff (Location): A position on earth.
            distance_m (int): Your distance to the pickup, in metres.
     """

    delivery_id: str
    order_id: str
    store_id: str
    pickup: Location
    dropoff: Location
    distance_m: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.location import Location # noqa: PLC0415
        delivery_id = self.delivery_id

        order_id = self.order_id

        store_id = self.store_id

        pickup = self.pickup.to_dict()

        dropoff = self.dropoff.to_dict()

        distance_m = self.distance_m


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "delivery_id": delivery_id,
            "order_id": order_id,
            "store_id": store_id,
            "pickup": pickup,
            "dropoff": dropoff,
            "distance_m": distance_m,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.location import Location # noqa: PLC0415
        d = dict(src_dict)
        delivery_id = d.pop("delivery_id")

        order_id = d.pop("order_id")

        store_id = d.pop("store_id")

        pickup = Location.from_dict(d.pop("pickup"))




        dropoff = Location.from_dict(d.pop("dropoff"))




        distance_m = d.pop("distance_m")

        open_job = cls(
            delivery_id=delivery_id,
            order_id=order_id,
            store_id=store_id,
            pickup=pickup,
            dropoff=dropoff,
            distance_m=distance_m,
        )


        open_job.additional_properties = d
        return open_job

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
