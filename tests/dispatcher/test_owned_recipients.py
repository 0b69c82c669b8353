"""Channels that keep their own recipients (webhook subscriptions, loudspeaker clusters)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from engine_helpers import announce, deliveries, directory
from scripted import scripted

from schemas import Announcement, AnnouncementIn

CLUSTERS = {"loa-ba-dinh": "00004", "loa-ngoc-ha": "00008", "loa-sai-gon": "26734"}


async def _clusters_in(self: Any, announcement: Announcement, areas: frozenset[str]) -> list[str]:
    return [name for name, area in CLUSTERS.items() if area in areas]


async def test_a_channels_own_recipients_in_the_audience_get_deliveries(
    dispatcher_factory,
) -> None:
    d = await dispatcher_factory(
        {
            "sms": scripted("sms"),
            "loa": scripted("loa", recipients=_clusters_in, reaches_contacts=False),
        }
    )
    await directory(d, per_commune=2)
    ann = await announce(d, channels=["sms", "loa"])
    await d.run(until_idle=True)
    found = await deliveries(d, ann.id)
    assert Counter({"sms": 4, "loa": 2}) == Counter(x.channel for x in found)
    assert {"loa-ba-dinh", "loa-ngoc-ha"} == {x.address for x in found if x.channel == "loa"}
    assert {"sent"} == {x.status.value for x in found}


async def test_excluded_areas_leave_their_recipients_out(dispatcher_factory) -> None:
    d = await dispatcher_factory(
        {"loa": scripted("loa", recipients=_clusters_in, reaches_contacts=False)}
    )
    await directory(d, per_commune=1)
    ann = await announce(
        d, channels=["loa"], audience={"areas": ["01", "79"], "exclude": {"areas": ["00008"]}}
    )
    await d.run(until_idle=True)
    assert {"loa-ba-dinh", "loa-sai-gon"} == {x.address for x in await deliveries(d, ann.id)}


async def test_the_preview_counts_a_channels_own_recipients(dispatcher_factory) -> None:
    d = await dispatcher_factory(
        {"loa": scripted("loa", recipients=_clusters_in, reaches_contacts=False)}
    )
    await directory(d, per_commune=1)
    preview = await d.services.preview(
        AnnouncementIn.model_validate(
            {"title": "T", "body": "B", "channels": ["loa"], "audience": {"areas": ["79"]}}
        )
    )
    [loa] = preview.channels
    assert ("loa", 1) == (loa.channel, loa.recipients)
