"""Full order lifecycle through the generated Python client (openapi-python-client).

Needs a running server: run via `sdk/run-server.sh` (exports EATS_URL, EATS_JWT_SECRET, EATS_BIN).
"""
import os
import subprocess
import time
import uuid

import pytest

from eats_client import AuthenticatedClient
from eats_client.api.customer import (
    confirm_delivery,
    get_order,
    pay_order,
    place_order,
    register_customer,
)
from eats_client.api.rider import claim_delivery, list_available_deliveries, pick_up_delivery, report_location
from eats_client.api.store import accept_order, add_menu_item, finish_cooking, open_store, register_store, start_cooking
from eats_client.models import (
    DeliverTo,
    Location,
    NewMenuItem,
    PayOrder,
    PaymentStatus,
    PlaceOrder,
    OrderLineInput,
    Problem,
    RegisterCustomer,
    RegisterStore,
    RiderLocation,
)

STORE = Location(lat=37.5665, lng=126.978)
HOME = Location(lat=37.5700, lng=126.9820)


def mint(role: str) -> str:
    bin_ = os.environ.get("EATS_BIN", "../../target/debug/eats")
    out = subprocess.run(
        [bin_, "token", "--role", role, "--sub", str(uuid.uuid4())],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "EATS_JWT_SECRET": os.environ["EATS_JWT_SECRET"]},
    )
    return out.stdout.strip()


def client(role: str) -> AuthenticatedClient:
    url = os.environ.get("EATS_URL")
    if not url:
        pytest.fail("EATS_URL is not set: run under sdk/run-server.sh")
    return AuthenticatedClient(base_url=url.rstrip("/") + "/api/v1", token=mint(role), timeout=10.0)


def ok(resp, status: int):
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.content!r}"
    assert resp.parsed is not None and not isinstance(resp.parsed, Problem), resp.content
    return resp.parsed


def poll(fn, what: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}; last={last!r}")


def order_status(c: AuthenticatedClient, order_id: str, want: str):
    def check():
        resp = get_order.sync_detailed(order_id, client=c)
        return resp.parsed if resp.status_code == 200 and resp.parsed.status == want else None

    return poll(check, f"order {order_id} to be {want}")


def test_full_lifecycle():
    owner, customer, rider = client("store_owner"), client("customer"), client("rider")

    store = ok(register_store.sync_detailed(client=owner, body=RegisterStore(name="SDK Py Kimbap", address="Seoul", location=STORE)), 201)
    item = ok(add_menu_item.sync_detailed(store.id, client=owner, body=NewMenuItem(name="Kimbap", price=4500)), 201)
    ok(open_store.sync_detailed(store.id, client=owner), 200)

    ok(register_customer.sync_detailed(client=customer, body=RegisterCustomer(name="Py", phone="010-1234-5678", address="Home", location=HOME)), 201)
    order = ok(
        place_order.sync_detailed(
            client=customer,
            idempotency_key=str(uuid.uuid4()),
            body=PlaceOrder(
                store_id=uuid.UUID(store.id),
                lines=[OrderLineInput(item_id=uuid.UUID(item.id), quantity=2)],
                deliver_to=DeliverTo(address="Home", location=HOME),
            ),
        ),
        201,
    )
    assert order.status == "awaiting_payment"
    paid = ok(pay_order.sync_detailed(order.id, client=customer, body=PayOrder(payment_key="tgen_x")), 200)
    assert paid.payment_status == PaymentStatus.APPROVED
    assert paid.order_status in ("awaiting_payment", "paid")
    view = order_status(customer, order.id, "paid")
    assert view.total == 9000

    for step in (accept_order, start_cooking, finish_cooking):
        ok(step.sync_detailed(store.id, order.id, client=owner), 200)

    ok(report_location.sync_detailed(client=rider, body=RiderLocation(lat=STORE.lat, lng=STORE.lng)), 200)

    def find_job():
        resp = list_available_deliveries.sync_detailed(client=rider, lat=STORE.lat, lng=STORE.lng, radius_m=3000)
        assert resp.status_code == 200, resp.content
        return next((j for j in resp.parsed.items if j.order_id == order.id), None)

    job = poll(find_job, "the delivery job")
    ok(claim_delivery.sync_detailed(job.delivery_id, client=rider), 200)
    ok(pick_up_delivery.sync_detailed(job.delivery_id, client=rider), 200)

    order_status(customer, order.id, "in_delivery")
    ok(confirm_delivery.sync_detailed(order.id, client=customer), 200)
    done = order_status(customer, order.id, "delivered")
    assert done.rider_id


def test_problem_is_typed():
    customer = client("customer")
    resp = get_order.sync_detailed(str(uuid.uuid4()), client=customer)
    assert resp.status_code == 404
    assert isinstance(resp.parsed, Problem)
    assert resp.parsed.status == 404
