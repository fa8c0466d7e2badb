from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.table_rows import TableRows





T = TypeVar("T", bound="ReadModelStatus")



@_attrs_define
class ReadModelStatus:
    """ A read model's state.

        Attributes:
            read_model (str): The read model.
            rows (list[TableRows]): Rows of each of its tables.
            aggregates (int): Aggregates it has applied events of.
            applied (int): Events it has applied.
            events (int): Events of the types it reads in the event store.
            behind (int): Events stored but not applied.
            leftovers (list[str]): Tables of rebuilds that did not finish, to drop.
     """

    read_model: str
    rows: list[TableRows]
    aggregates: int
    applied: int
    events: int
    behind: int
    leftovers: list[str]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.table_rows import TableRows # noqa: PLC0415
        read_model = self.read_model

        rows = []
        for rows_item_data in self.rows:
            rows_item = rows_item_data.to_dict()
            rows.append(rows_item)



        aggregates = self.aggregates

        applied = self.applied

        events = self.events

        behind = self.behind

        leftovers = self.leftovers




        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "read_model": read_model,
            "rows": rows,
            "aggregates": aggregates,
            "applied": applied,
            "events": events,
            "behind": behind,
            "leftovers": leftovers,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.table_rows import TableRows # noqa: PLC0415
        d = dict(src_dict)
        read_model = d.pop("read_model")

        rows = []
        _rows = d.pop("rows")
        for rows_item_data in (_rows):
            rows_item = TableRows.from_dict(rows_item_data)



            rows.append(rows_item)


        aggregates = d.pop("aggregates")

        applied = d.pop("applied")

        events = d.pop("events")

        behind = d.pop("behind")

        leftovers = cast(list[str], d.pop("leftovers"))


        read_model_status = cls(
            read_model=read_model,
            rows=rows,
            aggregates=aggregates,
            applied=applied,
            events=events,
            behind=behind,
            leftovers=leftovers,
        )


        read_model_status.additional_properties = d
        return read_model_status

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
