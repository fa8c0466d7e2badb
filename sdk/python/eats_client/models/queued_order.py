from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast
import datetime

if TYPE_CHECKING:
  from ..models.order_line import OrderLine





T = TypeVar("T", bound="QueuedOrder")



@_attrs_define
class QueuedOrder:
    """ An order in a store's queue.

        Attributes:
            order_id (str): The order.
            status (str): Its status.
            total (int): Total in KRW.
            lines (list[OrderLine]): The priced lines.
            placed_at (datetime.datetime | None | Unset): When it was placed.
     """

    order_id: str
    status: str
    total: int
    lines: list[OrderLine]
    placed_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.order_line import OrderLine # noqa: PLC0415
        order_id = self.order_id

        status = self.status

        total = self.total

        lines = []
        for lines_item_data in self.lines:
            lines_item = lines_item_data.to_dict()
            lines.append(lines_item)



        placed_at: None | str | Unset
        if isinstance(self.placed_at, Unset):
            placed_at = UNSET
        elif isinstance(self.placed_at, datetime.datetime):
            placed_at = self.placed_at.isoformat()
        else:
            placed_at = self.placed_at


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "order_id": order_id,
            "status": status,
            "total": total,
            "lines": lines,
        })
        if placed_at is not UNSET:
            field_dict["placed_at"] = placed_at

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.order_line import OrderLine # noqa: PLC0415
        d = dict(src_dict)
        order_id = d.pop("order_id")

        status = d.pop("status")

        total = d.pop("total")

        lines = []
        _lines = d.pop("lines")
        for lines_item_data in (_lines):
            lines_item = OrderLine.from_dict(lines_item_data)



            lines.append(lines_item)


        def _parse_placed_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                placed_at_type_0 = datetime.datetime.fromisoformat(data)



                return placed_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast("datetime.datetime | None | Unset", data)

        placed_at = _parse_placed_at(d.pop("placed_at", UNSET))


        queued_order = cls(
            order_id=order_id,
            status=status,
            total=total,
            lines=lines,
            placed_at=placed_at,
        )


        queued_order.additional_properties = d
        return queued_order

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
