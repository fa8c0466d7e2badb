from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast
from uuid import UUID

if TYPE_CHECKING:
  from ..models.deliver_to import DeliverTo
  from ..models.order_line_input import OrderLineInput





T = TypeVar("T", bound="PlaceOrder")



@_attrs_define
class PlaceOrder:
    """ Place an order.

        Attributes:
            store_id (UUID): The store.
            lines (list[OrderLineInput]): 1 to 30 lines, each item once.
            deliver_to (DeliverTo | Unset): Where to deliver.
     """

    store_id: UUID
    lines: list[OrderLineInput]
    deliver_to: DeliverTo | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.deliver_to import DeliverTo # noqa: PLC0415
        from ..models.order_line_input import OrderLineInput # noqa: PLC0415
        store_id = str(self.store_id)

        lines = []
        for lines_item_data in self.lines:
            lines_item = lines_item_data.to_dict()
            lines.append(lines_item)



        deliver_to: dict[str, Any] | Unset = UNSET
        if not isinstance(self.deliver_to, Unset):
            deliver_to = self.deliver_to.to_dict()


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "store_id": store_id,
            "lines": lines,
        })
        if deliver_to is not UNSET:
            field_dict["deliver_to"] = deliver_to

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.deliver_to import DeliverTo # noqa: PLC0415
        from ..models.order_line_input import OrderLineInput # noqa: PLC0415
        d = dict(src_dict)
        store_id = UUID(d.pop("store_id"))




        lines = []
        _lines = d.pop("lines")
        for lines_item_data in (_lines):
            lines_item = OrderLineInput.from_dict(lines_item_data)



            lines.append(lines_item)


        _deliver_to = d.pop("deliver_to", UNSET)
        deliver_to: DeliverTo | Unset
        if isinstance(_deliver_to,  Unset):
            deliver_to = UNSET
        else:
            deliver_to = DeliverTo.from_dict(_deliver_to)




        place_order = cls(
            store_id=store_id,
            lines=lines,
            deliver_to=deliver_to,
        )

        return place_order

