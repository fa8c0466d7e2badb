from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.dev_role import DevRole






T = TypeVar("T", bound="DevLogin")



@_attrs_define
class DevLogin:
    """ Development sign-in: who to be.

        Attributes:
            role (DevRole): A role, as the development sign-in names it.
            name (str): A name; the same role and name always get the same user id, so signing in again
                finds your orders and stores.
     """

    role: DevRole
    name: str





    def to_dict(self) -> dict[str, Any]:
        role = self.role.value

        name = self.name


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "role": role,
            "name": name,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        role = DevRole(d.pop("role"))




        name = d.pop("name")

        dev_login = cls(
            role=role,
            name=name,
        )

        return dev_login

