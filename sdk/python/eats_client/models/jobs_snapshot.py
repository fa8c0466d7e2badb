from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.open_job import OpenJob





T = TypeVar("T", bound="JobsSnapshot")



@_attrs_define
class JobsSnapshot:
    """ The open jobs near a rider as streamed: the whole list after each change.

        Attributes:
            version (str): Names this content (a hash of it); also the SSE event id. Sent as `Last-Event-ID`, the
                stream waits for the list to differ from it instead of repeating it.
            items (list[OpenJob]): The jobs as `GET /deliveries/available` lists them (nearest first), at most 200.
     """

    version: str
    items: list[OpenJob]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.open_job import OpenJob # noqa: PLC0415
        version = self.version

        items = []
        for items_item_data in self.items:
            items_item = items_item_data.to_dict()
            items.append(items_item)




        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "version": version,
            "items": items,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.open_job import OpenJob # noqa: PLC0415
        d = dict(src_dict)
        version = d.pop("version")

        items = []
        _items = d.pop("items")
        for items_item_data in (_items):
            items_item = OpenJob.from_dict(items_item_data)



            items.append(items_item)


        jobs_snapshot = cls(
            version=version,
            items=items,
        )


        jobs_snapshot.additional_properties = d
        return jobs_snapshot

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
