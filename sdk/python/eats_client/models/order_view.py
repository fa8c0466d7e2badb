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





T = TypeVar("T", bound="OrderView")



@_attrs_define
class OrderView:
    """ An order as the customer (or its store) sees it.

        Attributes:
            order_id (str): The order.
            customer_id (str): Who ordered.
            store_id (str): From which store.
            status (str): `awaiting_payment`, `paid`, `accepted`, `rejected`, `cooking`, `ready_for_pickup`,
                `in_delivery`, `delivered` or `cancelled`.
            lines (list[OrderLine]): The priced lines.
            total (int): Total in KRW.
            deliver_to (str): Delivery address.
            payment_status (None | str | Unset): `approved`, `declined`, `refunded` or `refund_failed`.
            refund_owed (int | None | Unset): Refund owed after a cancel or reject.
            refunded (int | None | Unset): Refunded amount.
            rider_id (None | str | Unset): The rider, once assigned.
            reason (None | str | Unset): Why it was cancelled or rejected.
            placed_at (datetime.datetime | None | Unset): When it was placed.
            paid_at (datetime.datetime | None | Unset): When it was paid.
            accepted_at (datetime.datetime | None | Unset): When the store accepted.
            cooking_started_at (datetime.datetime | None | Unset): When cooking started.
            ready_at (datetime.datetime | None | Unset): When it was ready.
            picked_up_at (datetime.datetime | None | Unset): When the rider picked it up.
            delivered_at (datetime.datetime | None | Unset): When it was delivered.
            cancelled_at (datetime.datetime | None | Unset): When it was cancelled.
            rejected_at (datetime.datetime | None | Unset): When it was rejected.
            updated_at (datetime.datetime | None | Unset): Last change.
     """

    order_id: str
    customer_id: str
    store_id: str
    status: str
    lines: list[OrderLine]
    total: int
    deliver_to: str
    payment_status: None | str | Unset = UNSET
    refund_owed: int | None | Unset = UNSET
    refunded: int | None | Unset = UNSET
    rider_id: None | str | Unset = UNSET
    reason: None | str | Unset = UNSET
    placed_at: datetime.datetime | None | Unset = UNSET
    paid_at: datetime.datetime | None | Unset = UNSET
    accepted_at: datetime.datetime | None | Unset = UNSET
    cooking_started_at: datetime.datetime | None | Unset = UNSET
    ready_at: datetime.datetime | None | Unset = UNSET
    picked_up_at: datetime.datetime | None | Unset = UNSET
    delivered_at: datetime.datetime | None | Unset = UNSET
    cancelled_at: datetime.datetime | None | Unset = UNSET
    rejected_at: datetime.datetime | None | Unset = UNSET
    updated_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.order_line import OrderLine # noqa: PLC0415
        order_id = self.order_id

        customer_id = self.customer_id

        store_id = self.store_id

        status = self.status

        lines = []
        for lines_item_data in self.lines:
            lines_item = lines_item_data.to_dict()
            lines.append(lines_item)



        total = self.total

        deliver_to = self.deliver_to

        payment_status: None | str | Unset
        if isinstance(self.payment_status, Unset):
            payment_status = UNSET
        else:
            payment_status = self.payment_status

        refund_owed: int | None | Unset
        if isinstance(self.refund_owed, Unset):
            refund_owed = UNSET
        else:
            refund_owed = self.refund_owed

        refunded: int | None | Unset
        if isinstance(self.refunded, Unset):
            refunded = UNSET
        else:
            refunded = self.refunded

        rider_id: None | str | Unset
        if isinstance(self.rider_id, Unset):
            rider_id = UNSET
        else:
            rider_id = self.rider_id

        reason: None | str | Unset
        if isinstance(self.reason, Unset):
            reason = UNSET
        else:
            reason = self.reason

        placed_at: None | str | Unset
        if isinstance(self.placed_at, Unset):
            placed_at = UNSET
        elif isinstance(self.placed_at, datetime.datetime):
            placed_at = self.placed_at.isoformat()
        else:
            placed_at = self.placed_at

        paid_at: None | str | Unset
        if isinstance(self.paid_at, Unset):
            paid_at = UNSET
        elif isinstance(self.paid_at, datetime.datetime):
            paid_at = self.paid_at.isoformat()
        else:
            paid_at = self.paid_at

        accepted_at: None | str | Unset
        if isinstance(self.accepted_at, Unset):
            accepted_at = UNSET
        elif isinstance(self.accepted_at, datetime.datetime):
            accepted_at = self.accepted_at.isoformat()
        else:
            accepted_at = self.accepted_at

        cooking_started_at: None | str | Unset
        if isinstance(self.cooking_started_at, Unset):
            cooking_started_at = UNSET
        elif isinstance(self.cooking_started_at, datetime.datetime):
            cooking_started_at = self.cooking_started_at.isoformat()
        else:
            cooking_started_at = self.cooking_started_at

        ready_at: None | str | Unset
        if isinstance(self.ready_at, Unset):
            ready_at = UNSET
        elif isinstance(self.ready_at, datetime.datetime):
            ready_at = self.ready_at.isoformat()
        else:
            ready_at = self.ready_at

        picked_up_at: None | str | Unset
        if isinstance(self.picked_up_at, Unset):
            picked_up_at = UNSET
        elif isinstance(self.picked_up_at, datetime.datetime):
            picked_up_at = self.picked_up_at.isoformat()
        else:
            picked_up_at = self.picked_up_at

        delivered_at: None | str | Unset
        if isinstance(self.delivered_at, Unset):
            delivered_at = UNSET
        elif isinstance(self.delivered_at, datetime.datetime):
            delivered_at = self.delivered_at.isoformat()
        else:
            delivered_at = self.delivered_at

        cancelled_at: None | str | Unset
        if isinstance(self.cancelled_at, Unset):
            cancelled_at = UNSET
        elif isinstance(self.cancelled_at, datetime.datetime):
            cancelled_at = self.cancelled_at.isoformat()
        else:
            cancelled_at = self.cancelled_at

        rejected_at: None | str | Unset
        if isinstance(self.rejected_at, Unset):
            rejected_at = UNSET
        elif isinstance(self.rejected_at, datetime.datetime):
            rejected_at = self.rejected_at.isoformat()
        else:
            rejected_at = self.rejected_at

        updated_at: None | str | Unset
        if isinstance(self.updated_at, Unset):
            updated_at = UNSET
        elif isinstance(self.updated_at, datetime.datetime):
            updated_at = self.updated_at.isoformat()
        else:
            updated_at = self.updated_at


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "order_id": order_id,
            "customer_id": customer_id,
            "store_id": store_id,
            "status": status,
            "lines": lines,
            "total": total,
            "deliver_to": deliver_to,
        })
        if payment_status is not UNSET:
            field_dict["payment_status"] = payment_status
        if refund_owed is not UNSET:
            field_dict["refund_owed"] = refund_owed
        if refunded is not UNSET:
            field_dict["refunded"] = refunded
        if rider_id is not UNSET:
            field_dict["rider_id"] = rider_id
        if reason is not UNSET:
            field_dict["reason"] = reason
        if placed_at is not UNSET:
            field_dict["placed_at"] = placed_at
        if paid_at is not UNSET:
            field_dict["paid_at"] = paid_at
        if accepted_at is not UNSET:
            field_dict["accepted_at"] = accepted_at
        if cooking_started_at is not UNSET:
            field_dict["cooking_started_at"] = cooking_started_at
        if ready_at is not UNSET:
            field_dict["ready_at"] = ready_at
        if picked_up_at is not UNSET:
            field_dict["picked_up_at"] = picked_up_at
        if delivered_at is not UNSET:
            field_dict["delivered_at"] = delivered_at
        if cancelled_at is not UNSET:
            field_dict["cancelled_at"] = cancelled_at
        if rejected_at is not UNSET:
            field_dict["rejected_at"] = rejected_at
        if updated_at is not UNSET:
            field_dict["updated_at"] = updated_at

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.order_line import OrderLine # noqa: PLC0415
        d = dict(src_dict)
        order_id = d.pop("order_id")

        customer_id = d.pop("customer_id")

        store_id = d.pop("store_id")

        status = d.pop("status")

        lines = []
        _lines = d.pop("lines")
        for lines_item_data in (_lines):
            lines_item = OrderLine.from_dict(lines_item_data)



            lines.append(lines_item)


        total = d.pop("total")

        deliver_to = d.pop("deliver_to")

        def _parse_payment_status(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        payment_status = _parse_payment_status(d.pop("payment_status", UNSET))


        def _parse_refund_owed(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("int | None | Unset", data)

        refund_owed = _parse_refund_owed(d.pop("refund_owed", UNSET))


        def _parse_refunded(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("int | None | Unset", data)

        refunded = _parse_refunded(d.pop("refunded", UNSET))


        def _parse_rider_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        rider_id = _parse_rider_id(d.pop("rider_id", UNSET))


        def _parse_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast("None | str | Unset", data)

        reason = _parse_reason(d.pop("reason", UNSET))


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


        def _parse_paid_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                paid_at_type_0 = datetime.datetime.fromisoformat(data)



                return paid_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast("datetime.datetime | None | Unset", data)

        paid_at = _parse_paid_at(d.pop("paid_at", UNSET))


        def _parse_accepted_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                accepted_at_type_0 = datetime.datetime.fromisoformat(data)



                return accepted_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast("datetime.datetime | None | Unset", data)

        accepted_at = _parse_accepted_at(d.pop("accepted_at", UNSET))


        def _parse_cooking_started_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                cooking_started_at_type_0 = datetime.datetime.fromisoformat(data)



                return cooking_started_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast("datetime.datetime | None | Unset", data)

        cooking_started_at = _parse_cooking_started_at(d.pop("cooking_started_at", UNSET))


        def _parse_ready_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                ready_at_type_0 = datetime.datetime.fromisoformat(data)



                return ready_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast("datetime.datetime | None | Unset", data)

        ready_at = _parse_ready_at(d.pop("ready_at", UNSET))


        def _parse_picked_up_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                picked_up_at_type_0 = datetime.datetime.fromisoformat(data)



                return picked_up_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast("datetime.datetime | None | Unset", data)

        picked_up_at = _parse_picked_up_at(d.pop("picked_up_at", UNSET))


        def _parse_delivered_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                delivered_at_type_0 = datetime.datetime.fromisoformat(data)



                return delivered_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast("datetime.datetime | None | Unset", data)

        delivered_at = _parse_delivered_at(d.pop("delivered_at", UNSET))


        def _parse_cancelled_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                cancelled_at_type_0 = datetime.datetime.fromisoformat(data)



                return cancelled_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast("datetime.datetime | None | Unset", data)

        cancelled_at = _parse_cancelled_at(d.pop("cancelled_at", UNSET))


        def _parse_rejected_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                rejected_at_type_0 = datetime.datetime.fromisoformat(data)



                return rejected_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast("datetime.datetime | None | Unset", data)

        rejected_at = _parse_rejected_at(d.pop("rejected_at", UNSET))


        def _parse_updated_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                updated_at_type_0 = datetime.datetime.fromisoformat(data)



                return updated_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast("datetime.datetime | None | Unset", data)

        updated_at = _parse_updated_at(d.pop("updated_at", UNSET))


        order_view = cls(
            order_id=order_id,
            customer_id=customer_id,
            store_id=store_id,
            status=status,
            lines=lines,
            total=total,
            deliver_to=deliver_to,
            payment_status=payment_status,
            refund_owed=refund_owed,
            refunded=refunded,
            rider_id=rider_id,
            reason=reason,
            placed_at=placed_at,
            paid_at=paid_at,
            accepted_at=accepted_at,
            cooking_started_at=cooking_started_at,
            ready_at=ready_at,
            picked_up_at=picked_up_at,
            delivered_at=delivered_at,
            cancelled_at=cancelled_at,
            rejected_at=rejected_at,
            updated_at=updated_at,
        )


        order_view.additional_properties = d
        return order_view

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
