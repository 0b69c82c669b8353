"""Delivery routes: where every message of an announcement stands."""

from __future__ import annotations

from aiohttp import web

from dispatcher.api.announcements import READERS
from dispatcher.api.endpoint import Endpoint, Param, Reply, json_model
from dispatcher.api.models import DeliveryPage
from dispatcher.api.params import CURSOR, LIMIT, Query, encode_cursor, enum_param
from dispatcher.webkeys import services
from schemas import Delivery, DeliveryStatus


async def list_deliveries(request: web.Request) -> web.Response:
    """An announcement's deliveries in id order, without attempts and receipts."""
    announcement_id = request.match_info["id"]
    scope = f"deliveries:{announcement_id}"
    query = Query(request, ("status", "channel", "cursor", "limit"))
    status = query.enum("status", DeliveryStatus)
    channel = query.text("channel", max_length=32)
    limit = query.limit()
    after = query.cursor(scope)
    query.check()
    page = await services(request).list_deliveries(
        announcement_id, status=status, channel=channel, after=after, limit=limit
    )
    return json_model(
        DeliveryPage(items=page.items, next_cursor=encode_cursor(scope, page.next_cursor))
    )


async def get_delivery(request: web.Request) -> web.Response:
    """One delivery with every attempt and receipt."""
    return json_model(await services(request).get_delivery(request.match_info["id"]))


ENDPOINTS = (
    Endpoint(
        "GET",
        "/v1/announcements/{id}/deliveries",
        list_deliveries,
        name="list_deliveries",
        summary="List an announcement's deliveries",
        tag="deliveries",
        roles=READERS,
        params=(
            enum_param("status", DeliveryStatus, "Only deliveries in this state."),
            Param("channel", "query", {"type": "string", "maxLength": 32}, "Only this channel."),
            CURSOR,
            LIMIT,
        ),
        replies=(Reply(200, "A page of deliveries.", DeliveryPage),),
    ),
    Endpoint(
        "GET",
        "/v1/deliveries/{id}",
        get_delivery,
        name="get_delivery",
        summary="Read a delivery with its attempts and receipts",
        tag="deliveries",
        roles=READERS,
        replies=(Reply(200, "The delivery.", Delivery),),
    ),
)
