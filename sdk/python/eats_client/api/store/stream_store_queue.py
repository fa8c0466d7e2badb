from __future__ import annotations
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.problem import Problem
from ...models.queue_snapshot import QueueSnapshot
from ...types import UNSET, Unset
from typing import cast
from uuid import UUID



def _get_kwargs(
    store_id: UUID,
    *,
    last_event_id: str | Unset = UNSET,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(last_event_id, Unset):
        headers["Last-Event-ID"] = last_event_id



    

    

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/stores/{store_id}/orders/stream".format(store_id=quote(str(store_id), safe=""),),
    }


    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | list[QueueSnapshot] | None:
    if response.status_code == 200:
        response_200 = []
        _response_200 = response.text
        for response_200_item_data in (_response_200):
            response_200_item = QueueSnapshot.from_dict(response_200_item_data)



            response_200.append(response_200_item)

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())



        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())



        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())



        return response_403

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())



        return response_404

    if response.status_code == 405:
        response_405 = Problem.from_dict(response.json())



        return response_405

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())



        return response_409

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())



        return response_413

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())



        return response_415

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())



        return response_422

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())



        return response_429

    if response.status_code == 500:
        response_500 = Problem.from_dict(response.json())



        return response_500

    if response.status_code == 502:
        response_502 = Problem.from_dict(response.json())



        return response_502

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())



        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Problem | list[QueueSnapshot]]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    store_id: UUID,
    *,
    client: AuthenticatedClient,
    last_event_id: str | Unset = UNSET,

) -> Response[Problem | list[QueueSnapshot]]:
    """ Server-sent events: your store's kitchen queue (`paid`, `accepted`, `cooking`,
    `ready_for_pickup`, as `GET /stores/{id}/orders` lists it), the whole queue at once
    and again after each change, pushed as the queue projection takes it in (never
    polled). Each event's id is the snapshot's `version`: resume with it as
    `Last-Event-ID` and the stream sends the queue only once it differs. A comment line is
    sent as a heartbeat while nothing changes; the per-user stream cap applies (429).

    Args:
        store_id (UUID):
        last_event_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | list[QueueSnapshot]]
     """


    kwargs = _get_kwargs(
        store_id=store_id,
last_event_id=last_event_id,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    store_id: UUID,
    *,
    client: AuthenticatedClient,
    last_event_id: str | Unset = UNSET,

) -> Problem | list[QueueSnapshot] | None:
    """ Server-sent events: your store's kitchen queue (`paid`, `accepted`, `cooking`,
    `ready_for_pickup`, as `GET /stores/{id}/orders` lists it), the whole queue at once
    and again after each change, pushed as the queue projection takes it in (never
    polled). Each event's id is the snapshot's `version`: resume with it as
    `Last-Event-ID` and the stream sends the queue only once it differs. A comment line is
    sent as a heartbeat while nothing changes; the per-user stream cap applies (429).

    Args:
        store_id (UUID):
        last_event_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | list[QueueSnapshot]
     """


    return sync_detailed(
        store_id=store_id,
client=client,
last_event_id=last_event_id,

    ).parsed

async def asyncio_detailed(
    store_id: UUID,
    *,
    client: AuthenticatedClient,
    last_event_id: str | Unset = UNSET,

) -> Response[Problem | list[QueueSnapshot]]:
    """ Server-sent events: your store's kitchen queue (`paid`, `accepted`, `cooking`,
    `ready_for_pickup`, as `GET /stores/{id}/orders` lists it), the whole queue at once
    and again after each change, pushed as the queue projection takes it in (never
    polled). Each event's id is the snapshot's `version`: resume with it as
    `Last-Event-ID` and the stream sends the queue only once it differs. A comment line is
    sent as a heartbeat while nothing changes; the per-user stream cap applies (429).

    Args:
        store_id (UUID):
        last_event_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | list[QueueSnapshot]]
     """


    kwargs = _get_kwargs(
        store_id=store_id,
last_event_id=last_event_id,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    store_id: UUID,
    *,
    client: AuthenticatedClient,
    last_event_id: str | Unset = UNSET,

) -> Problem | list[QueueSnapshot] | None:
    """ Server-sent events: your store's kitchen queue (`paid`, `accepted`, `cooking`,
    `ready_for_pickup`, as `GET /stores/{id}/orders` lists it), the whole queue at once
    and again after each change, pushed as the queue projection takes it in (never
    polled). Each event's id is the snapshot's `version`: resume with it as
    `Last-Event-ID` and the stream sends the queue only once it differs. A comment line is
    sent as a heartbeat while nothing changes; the per-user stream cap applies (429).

    Args:
        store_id (UUID):
        last_event_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | list[QueueSnapshot]
     """


    return (await asyncio_detailed(
        store_id=store_id,
client=client,
last_event_id=last_event_id,

    )).parsed
