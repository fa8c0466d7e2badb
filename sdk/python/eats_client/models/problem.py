from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="Problem")



@_attrs_define
class Problem:
    """ An RFC 9457 problem details body (`application/problem+json`).

        Attributes:
            type_ (str): Stable identifier of the kind of problem, e.g. `urn:eats:problem:cooking-already-started`.
            title (str): Short summary of the kind; the same for every occurrence.
            status (int): The HTTP status code.
            detail (str): What went wrong this time, for people.
            field (None | str | Unset): The input field at fault, for invalid input.
            retry_after_secs (int | None | Unset): Seconds until a retry may succeed, for 503s (also sent as `Retry-After`).
     """

    type_: str
    title: str
    status: int
    detail: str
    field: None | str | Unset = UNSET
    retry_after_secs: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_

        title = self.title

        status = self.status

        detail = self.detail

        field: None | str | Unset
        if isinstance(self.field, Unset):
            field = UNSET
        else:
            field = self.field

        retry_after_secs: int | None | Unset
        if isinstance(self.retry_after_secs, Unset):
            retry_after_secs = UNSET
        else:
            retry_after_secs = self.retry_after_secs


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "type": type_,
            "title": title,
            "status": status,
            "detail": detail,
        })
        if field is not UNSET:
            field_dict["field"] = field
        if retry_after_secs is not UNSET:
            field_dict["retry_after_secs"] = retry_after_secs

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        type_ = d.pop("type")

        title = d.pop("title")

        status = d.pop("status")

        detail = d.pop("detail")

        def _parse_field(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        field = _parse_field(d.pop("field", UNSET))


        def _parse_retry_after_secs(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("int | None | Unset", data)

        retry_after_secs = _parse_retry_after_secs(d.pop("retry_after_secs", UNSET))


        problem = cls(
            type_=type_,
            title=title,
            status=status,
            detail=detail,
            field=field,
            retry_after_secs=retry_after_secs,
        )


        problem.additional_properties = d
        return problem

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
