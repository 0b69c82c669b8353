"""The MQTT transport against the Mosquitto broker on 127.0.0.1:1883."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiomqtt
from loudspeaker_helpers import LoudFactory

from schemas import DeliveryStatus


async def retained(topic: str) -> dict[str, Any]:
    """The retained message on ``topic``, as a late subscriber gets it."""
    async with aiomqtt.Client("127.0.0.1", 1883, identifier=f"t-{uuid.uuid4().hex[:8]}") as c:
        await c.subscribe(topic, qos=1)
        async with asyncio.timeout(5):
            async for message in c.messages:
                assert message.retain
                assert 1 == message.qos
                payload = message.payload
                assert isinstance(payload, bytes)
                return json.loads(payload)
    raise AssertionError("no retained message")


async def test_the_schedule_is_published_retained_and_reports_come_back_over_mqtt(
    loud_factory: LoudFactory, broker: None, espeak: None
) -> None:
    prefix = f"thongbao-test/{uuid.uuid4().hex[:8]}"
    loud = await loud_factory(transport="mqtt", mqtt={"topic_prefix": prefix})
    await loud.clusters({"id": "loa-mqtt-1", "name": "Cụm loa MQTT", "area_code": "00004"})
    async with asyncio.timeout(5):
        await loud.channel.listening.wait()
    announcement = await loud.announce()
    schedule = await retained(f"{prefix}/loa-mqtt-1/schedule")
    [play] = schedule["plays"]
    assert "loa-mqtt-1" == schedule["cluster"]
    report = {"plays": [{"play_id": play["play_id"], "status": "played", "at": play["at"]}]}
    async with aiomqtt.Client("127.0.0.1", 1883, identifier=f"c-{uuid.uuid4().hex[:8]}") as c:
        await c.publish(f"{prefix}/loa-mqtt-1/played", json.dumps(report), qos=1)

    async def delivered() -> bool:
        [delivery] = await loud.deliveries(announcement)
        return delivery.status is DeliveryStatus.DELIVERED

    async with asyncio.timeout(5):
        while not await delivered():
            await asyncio.sleep(0.02)
