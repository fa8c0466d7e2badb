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





    def to_dict(self) -> dict[str, Any]:
        from ..models.quiet_hours import QuietHours # noqa: PLC0415
        kakao = self.kakao

        sms = self.sms

        quiet_hours: dict[str, Any] | Unset = UNSET
        if not isinstance(self.quiet_hours, Unset):
            quiet_hours = self.quiet_hours.to_dict()


        field_dict: dict[str, Any] = {}

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

        return notification_preferences

