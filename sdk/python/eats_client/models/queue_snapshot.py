from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.queued_order import QueuedOrder





T = TypeVar("T", bound="QueueSnapshot")



@_attrs_define
class QueueSnapshot:
    """ A store's kitchen queue as streamed: the whole queue after each change.

        Attributes:
            version (str): Names this content (a hash of it); also the SSE event id. Sent as `Last-Event-ID`, the
                stream waits for the queue to differ from it instead of repeating it.
            items (list[QueuedOrder]): The orders the kitchen must act on (`paid`, `accepted`, `cooking`,
                `ready_for_pickup`), as `GET /stores/{id}/orders` lists them, at most 200.
     """

    version: str
    items: list[QueuedOrder]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.queued_order import QueuedOrder # noqa: PLC0415
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
        from ..models.queued_order import QueuedOrder # noqa: PLC0415
        d = dict(src_dict)
        version = d.pop("version")

        items = []
        _items = d.pop("items")
        for items_item_data in (_items):
            items_item = QueuedOrder.from_dict(items_item_data)



            items.append(items_item)


        queue_snapshot = cls(
            version=version,
            items=items,
        )


        queue_snapshot.additional_properties = d
        return queue_snapshot

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
