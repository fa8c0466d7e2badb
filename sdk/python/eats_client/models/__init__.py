""" Contains all the data models used in inputs/outputs """
from __future__ import annotations

from .accepted import Accepted
from .aggregate_type import AggregateType
from .consumer_lag import ConsumerLag
from .customer_profile import CustomerProfile
from .dead_letter import DeadLetter
from .dead_letter_detail import DeadLetterDetail
from .dead_letter_page import DeadLetterPage
from .deliver_to import DeliverTo
from .dev_login import DevLogin
from .dev_role import DevRole
from .dev_token import DevToken
from .discard_dead_letter import DiscardDeadLetter
from .jobs_snapshot import JobsSnapshot
from .location import Location
from .menu_item import MenuItem
from .menu_item_change import MenuItemChange
from .new_menu_item import NewMenuItem
from .notification import Notification
from .notification_page import NotificationPage
from .notification_preferences import NotificationPreferences
from .notification_state import NotificationState
from .open_job import OpenJob
from .open_job_page import OpenJobPage
from .order_line import OrderLine
from .order_line_input import OrderLineInput
from .order_view import OrderView
from .order_view_page import OrderViewPage
from .pay_order import PayOrder
from .payment_outcome import PaymentOutcome
from .payment_status import PaymentStatus
from .place_order import PlaceOrder
from .problem import Problem
from .queue_snapshot import QueueSnapshot
from .queued_order import QueuedOrder
from .queued_order_page import QueuedOrderPage
from .quiet_hours import QuietHours
from .read_model_status import ReadModelStatus
from .reason import Reason
from .register_customer import RegisterCustomer
from .register_store import RegisterStore
from .rider_location import RiderLocation
from .rider_position import RiderPosition
from .status_change import StatusChange
from .store_summary import StoreSummary
from .store_summary_page import StoreSummaryPage
from .stored_event import StoredEvent
from .story_event import StoryEvent
from .story_message import StoryMessage
from .story_state import StoryState
from .table_rows import TableRows

__all__ = (
    "Accepted",
    "AggregateType",
    "ConsumerLag",
    "CustomerProfile",
    "DeadLetter",
    "DeadLetterDetail",
    "DeadLetterPage",
    "DeliverTo",
    "DevLogin",
    "DevRole",
    "DevToken",
    "DiscardDeadLetter",
    "JobsSnapshot",
    "Location",
    "MenuItem",
    "MenuItemChange",
    "NewMenuItem",
    "Notification",
    "NotificationPage",
    "NotificationPreferences",
    "NotificationState",
    "OpenJob",
    "OpenJobPage",
    "OrderLine",
    "OrderLineInput",
    "OrderView",
    "OrderViewPage",
    "PaymentOutcome",
    "PaymentStatus",
    "PayOrder",
    "PlaceOrder",
    "Problem",
    "QueuedOrder",
    "QueuedOrderPage",
    "QueueSnapshot",
    "QuietHours",
    "ReadModelStatus",
    "Reason",
    "RegisterCustomer",
    "RegisterStore",
    "RiderLocation",
    "RiderPosition",
    "StatusChange",
    "StoredEvent",
    "StoreSummary",
    "StoreSummaryPage",
    "StoryEvent",
    "StoryMessage",
    "StoryState",
    "TableRows",
)
