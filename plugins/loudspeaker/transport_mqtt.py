"""Pushing schedules over MQTT, and hearing controllers' reports and heartbeats.

Topics, for a cluster ``<id>`` under ``topic_prefix`` (default ``thongbao/loudspeaker``):

- ``<prefix>/<id>/schedule``: the schedule (or the cluster's ``endpoint``), published
  retained at QoS 1, so a controller that connects later still gets the latest one;
- ``<prefix>/<id>/played`` and ``<prefix>/<id>/heartbeat``: what controllers publish
  (QoS 1); the broker's ACL decides who may publish there.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt
import structlog

from dispatcher import TransientDeliveryError
from plugins.loudspeaker.registry import Cluster
from plugins.loudspeaker.settings import MqttSettings

log = structlog.get_logger(__name__)

CHANNEL = "loudspeaker"
Handler = Callable[[str, str, dict[str, Any]], Awaitable[None]]
_MAX_BACKOFF = 30.0


class MqttTransport:
    """Publishes each push on a short connection; :meth:`listen` holds a long one."""

    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings

    def topic(self, cluster: Cluster) -> str:
        """Where the cluster's schedule is published."""
        if cluster.endpoint:
            return cluster.endpoint
        return f"{self.settings.topic_prefix}/{cluster.id}/schedule"

    def _client(self, purpose: str) -> aiomqtt.Client:
        s = self.settings
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password.get_secret_value() if s.password else None,
            identifier=f"thongbao-{purpose}-{uuid.uuid4().hex[:12]}",
            timeout=s.timeout,
        )

    async def push(self, cluster: Cluster, message: dict[str, Any]) -> None:
        """Publish the schedule retained, QoS 1.

        Raises:
            TransientDeliveryError: the broker cannot be reached or did not acknowledge.
        """
        payload = json.dumps(message, ensure_ascii=False).encode()
        try:
            async with asyncio.timeout(self.settings.timeout), self._client("push") as client:
                await client.publish(self.topic(cluster), payload, qos=1, retain=True)
        except (aiomqtt.MqttError, TimeoutError, OSError) as exc:
            raise TransientDeliveryError(
                f"MQTT broker {self.settings.host}:{self.settings.port} unreachable: "
                f"{type(exc).__name__}",
                channel=CHANNEL,
            ) from exc

    async def listen(self, handle: Handler, ready: asyncio.Event | None = None) -> None:
        """Subscribe to every cluster's ``played`` and ``heartbeat`` topics and hand each
        message to ``handle(cluster, kind, body)``; reconnects until cancelled."""
        failures = 0
        prefix = self.settings.topic_prefix
        while True:
            try:
                async with self._client("listen") as client:
                    await client.subscribe(f"{prefix}/+/played", qos=1)
                    await client.subscribe(f"{prefix}/+/heartbeat", qos=1)
                    failures = 0
                    if ready is not None:
                        ready.set()
                    async for message in client.messages:
                        await self._dispatch(handle, message)
            except aiomqtt.MqttError as exc:
                failures += 1
                log.warning("loudspeaker_mqtt_disconnected", error=repr(exc), attempt=failures)
                await asyncio.sleep(min(2.0**failures, _MAX_BACKOFF))

    async def _dispatch(self, handle: Handler, message: aiomqtt.Message) -> None:
        parts = message.topic.value.split("/")
        cluster, kind = parts[-2], parts[-1]
        try:
            raw = message.payload
            body = json.loads(raw if isinstance(raw, bytes | bytearray) else str(raw or ""))
            if not isinstance(body, dict):
                raise ValueError("not an object")
            body.setdefault("cluster", cluster)
            await handle(cluster, kind, body)
        except Exception as exc:
            # One bad message must not stop the listener.
            log.warning(
                "loudspeaker_mqtt_message_refused", topic=message.topic.value, error=str(exc)
            )

    async def aclose(self) -> None:
        """Nothing held between pushes."""
