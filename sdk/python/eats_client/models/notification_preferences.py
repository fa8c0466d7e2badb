from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.quiet_hours import QuietHours





T = TypeVar("T", bound="NotificationPreferences")



@_attrs_define
class NotificationPreferences:
    """ Which messages you get. Critical ones (a cancellation, a rejection, a refund) come
    regardless.

        Attributes:
            kakao (bool): KakaoTalk (AlimTalk) messages.
            sms (bool): SMS: the KakaoTalk fallback, or instead of KakaoTalk when that is off (where the
                provider can send plain SMS).
            quiet_hours (QuietHours | Unset): Quiet hours: no non-critical messages from `start` up to `end` (whole hours,
                Asia/Seoul;
                `22` to `8` spans the night).
     """

    kakao: bool
    sms: bool
    quiet_hours: QuietHours | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.quiet_hours import QuietHours # noqa: PLC0415
        kakao = self.kakao

        sms = self.sms

        quiet_hours: dict[str, Any] | Unset = UNSET
        if not isinstance(self.quiet_hours, Unset):
            quiet_hours = self.quiet_hours.to_dict()


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "kakao": kakao,
            "sms": sms,
        })
        if quiet_hours is not UNSET:
            field_dict["quiet_hours"] = quiet_hours

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.quiet_hours import QuietHours # noqa: PLC0415
        d = dict(src_dict)
        kakao = d.pop("kakao")

        sms = d.pop("sms")

        _quiet_hours = d.pop("quiet_hours", UNSET)
        quiet_hours: QuietHours | Unset
        if isinstance(_quiet_hours,  Unset):
            quiet_hours = UNSET
        else:
            quiet_hours = QuietHours.from_dict(_quiet_hours)




        notification_preferences = cls(
            kakao=kakao,
            sms=sms,
            quiet_hours=quiet_hours,
        )


        notification_preferences.additional_properties = d
        return notification_preferences

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
