from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="DiscardDeadLetter")



@_attrs_define
class DiscardDeadLetter:
    """ Why a dead letter is given up on.

        Attributes:
            note (str): The operator's note, kept with it.
     """

    note: str





    def to_dict(self) -> dict[str, Any]:
        note = self.note


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "note": note,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        note = d.pop("note")

        discard_dead_letter = cls(
            note=note,
        )

        return discard_dead_letter

