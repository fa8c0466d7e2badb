from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.dev_role import DevRole
from typing import cast
import datetime






T = TypeVar("T", bound="DevToken")



@_attrs_define
class DevToken:
    """ A development token.

        Attributes:
            token (str): The bearer JWT.
            user_id (str): Its `sub`: the user.
            role (DevRole): A role, as the development sign-in names it.
            name (str): The name signed in with.
            expires_at (datetime.datetime): When it expires.
     """

    token: str
    user_id: str
    role: DevRole
    name: str
    expires_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        token = self.token

        user_id = self.user_id

        role = self.role.value

        name = self.name

        expires_at = self.expires_at.isoformat()


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "token": token,
            "user_id": user_id,
            "role": role,
            "name": name,
            "expires_at": expires_at,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        token = d.pop("token")

        user_id = d.pop("user_id")

        role = DevRole(d.pop("role"))




        name = d.pop("name")

        expires_at = datetime.datetime.fromisoformat(d.pop("expires_at"))




        dev_token = cls(
            token=token,
            user_id=user_id,
            role=role,
            name=name,
            expires_at=expires_at,
        )


        dev_token.additional_properties = d
        return dev_token

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
