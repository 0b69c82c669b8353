"""The loudspeaker channel end to end over HTTP: registry, push, plays, heartbeats, cancel."""

from __future__ import annotations

from datetime import datetime

from loudspeaker_helpers import TOKEN, Controller, LoudFactory

from schemas import AnnouncementStatus, DeliveryStatus


def cluster(cid: str, area: str, controller: Controller, **extra: str) -> dict[str, str]:
    return {
        "id": cid,
        "name": f"Cụm loa {cid}",
        "area_code": area,
        "transport": "http",
        "endpoint": controller.url,
        **extra,
    }


async def test_an_area_announcement_reaches_every_cluster_in_it(
    loud_factory: LoudFactory, controller: Controller, espeak: None
) -> None:
    loud = await loud_factory()
    await loud.clusters(
        cluster("loa-bd-1", "00004", controller),
        cluster("loa-bd-tdp1", "00004-tdp1", controller),
        cluster("loa-nh-1", "00008", controller),
    )
    deliveries = await loud.deliveries(await loud.announce())
    assert {"loa-bd-1", "loa-bd-tdp1"} == {d.address for d in deliveries}
    assert {DeliveryStatus.SENT} == {d.status for d in deliveries}
    assert {"loa-bd-1", "loa-bd-tdp1"} == {push["cluster"] for push in controller.pushes}


async def test_each_delivery_keeps_its_own_clusters_push_time(
    loud_factory: LoudFactory, controller: Controller, espeak: None
) -> None:
    loud = await loud_factory()
    await loud.clusters(
        cluster("loa-bd-1", "00004", controller),
        cluster("loa-bd-tdp1", "00004-tdp1", controller),
    )
    controller.delays["loa-bd-1"] = 0.4

    deliveries = await loud.deliveries(await loud.announce())

    # One send pushes to both clusters, one after the other, each after its speech is made:
    # the slow cluster's answer and the speech are not the quick cluster's latency.
    latency = {d.address: d.attempts[0].latency_ms for d in deliveries}
    assert latency["loa-bd-1"] is not None and latency["loa-bd-1"] >= 400
    assert latency["loa-bd-tdp1"] is not None and latency["loa-bd-tdp1"] < 300


async def test_the_push_carries_the_script_audio_and_slot(
    loud_factory: LoudFactory, controller: Controller, espeak: None
) -> None:
    loud = await loud_factory()
    await loud.clusters(cluster("loa-bd-1", "00004", controller))
    await loud.announce(content={"loudspeaker": {"options": {"repeats": 2, "days": 2}}})
    [push] = controller.pushes
    first, second = push["plays"]
    assert ("2026-03-02T17:00:00+07:00", "2026-03-03T06:00:00+07:00") == (
        first["at"],
        second["at"],
    )
    assert {"start": "2026-03-02T17:00:00+07:00", "end": "2026-03-02T17:30:00+07:00"} == first[
        "slot"
    ]
    assert "bảy giờ ba mươi phút" in first["script"]
    assert "không chín một hai, ba bốn năm, sáu bảy tám" in first["script"]
    assert first["duration"] > 5
    audio = await loud.client.get(first["audio_url"].removeprefix("http://127.0.0.1:8080"))
    assert ("audio/wav", b"RIFF") == (audio.content_type, (await audio.read())[:4])


async def test_a_play_report_makes_the_delivery_delivered(
    loud_factory: LoudFactory, controller: Controller, espeak: None
) -> None:
    loud = await loud_factory()
    await loud.clusters(cluster("loa-bd-1", "00004", controller))
    announcement = await loud.announce(content={"loudspeaker": {"options": {"repeats": 2}}})
    [push] = controller.pushes
    answer = await loud.report("loa-bd-1", (push["plays"][0]["play_id"], "played"))
    assert {"applied": [True]} == await answer.json()
    [delivery] = await loud.deliveries(announcement)
    assert DeliveryStatus.DELIVERED == delivery.status


async def test_every_play_failing_fails_the_delivery(
    loud_factory: LoudFactory, controller: Controller, espeak: None
) -> None:
    loud = await loud_factory()
    await loud.clusters(cluster("loa-bd-1", "00004", controller))
    announcement = await loud.announce(content={"loudspeaker": {"options": {"repeats": 2}}})
    ids = [play["play_id"] for play in controller.pushes[0]["plays"]]
    await loud.report("loa-bd-1", (ids[0], "failed"))
    assert DeliveryStatus.SENT == (await loud.deliveries(announcement))[0].status
    await loud.report("loa-bd-1", (ids[1], "failed"))
    [delivery] = await loud.deliveries(announcement)
    assert (DeliveryStatus.FAILED, "NOT_PLAYED") == (delivery.status, delivery.provider_code)


async def test_reports_need_the_controllers_token(
    loud_factory: LoudFactory, controller: Controller, espeak: None
) -> None:
    loud = await loud_factory(report_token=None)
    await loud.clusters(cluster("loa-bd-1", "00004", controller, token="own-secret"))
    await loud.announce()
    play_id = controller.pushes[0]["plays"][0]["play_id"]
    refused = await loud.report("loa-bd-1", (play_id, "played"), token=TOKEN)
    accepted = await loud.report("loa-bd-1", (play_id, "played"), token="own-secret")
    assert (401, 200) == (refused.status, accepted.status)


async def test_priority_goes_first_and_pushes_normal_items_to_the_next_slot(
    loud_factory: LoudFactory, controller: Controller, espeak: None
) -> None:
    loud = await loud_factory()
    await loud.clusters(cluster("loa-bd-1", "00004", controller, slots="17:00-17:01"))
    long = " ".join(["Đề nghị bà con chủ động chuẩn bị nước sinh hoạt và sắp xếp công việc."] * 6)
    await loud.announce(title="Tin thường", body=long)
    await loud.announce(title="Tin ưu tiên", body=long, priority="high")
    plays = {p["title"]: p for p in controller.pushes[-1]["plays"]}
    assert "2026-03-02T17:00:00+07:00" == plays["Tin ưu tiên"]["at"]
    assert "2026-03-03T17:00:00+07:00" == plays["Tin thường"]["at"]
    programme = await loud.client.get(
        "/v1/loudspeaker/programme",
        params={"commune": "00004", "date": "2026-03-03", "format": "text"},
        headers={"Authorization": f"Bearer {loud.admin}"},
    )
    assert "dời từ khung trước" in await programme.text()


async def test_an_emergency_plays_at_once(
    loud_factory: LoudFactory, controller: Controller, espeak: None
) -> None:
    loud = await loud_factory()
    await loud.clusters(cluster("loa-bd-1", "00004", controller))
    await loud.announce(title="Bão số 3", priority="emergency")
    [play] = controller.pushes[-1]["plays"]
    assert (True, None) == (play["interrupt"], play["slot"])
    assert loud.clock.now() == datetime.fromisoformat(play["at"])


async def test_an_offline_cluster_waits_and_is_pushed_when_it_returns(
    loud_factory: LoudFactory, controller: Controller, espeak: None
) -> None:
    loud = await loud_factory(heartbeat_timeout=300)
    await loud.clusters(cluster("loa-bd-1", "00004", controller))
    await loud.heartbeat("loa-bd-1")
    loud.clock.advance(600)  # silent for ten minutes: offline
    announcement = await loud.announce()
    [delivery] = await loud.deliveries(announcement)
    assert (DeliveryStatus.RETRY_WAIT, []) == (delivery.status, controller.pushes)
    answer = await loud.heartbeat("loa-bd-1")
    assert answer["pushed"] is True
    [push] = controller.pushes
    assert [delivery.id] == [p["delivery_id"] for p in push["plays"]]


async def test_a_controller_error_retries_and_a_retry_pushes_again(
    loud_factory: LoudFactory, controller: Controller, espeak: None
) -> None:
    loud = await loud_factory()
    await loud.clusters(cluster("loa-bd-1", "00004", controller))
    controller.status = 503
    announcement = await loud.announce()
    assert DeliveryStatus.RETRY_WAIT == (await loud.deliveries(announcement))[0].status
    controller.status = 200
    loud.clock.advance(3600)
    await loud.engine.run(until_idle=True)
    [delivery] = await loud.deliveries(announcement)
    assert DeliveryStatus.SENT == delivery.status
    assert 1 == len(controller.pushes[-1]["plays"])


async def test_cancelling_removes_the_items_from_the_controller(
    loud_factory: LoudFactory, controller: Controller, espeak: None
) -> None:
    loud = await loud_factory()
    await loud.clusters(cluster("loa-bd-1", "00004", controller))
    announcement = await loud.announce(content={"loudspeaker": {"options": {"repeats": 3}}})
    assert 3 == len(controller.pushes[-1]["plays"])
    answer = await loud.client.post(
        f"/v1/loudspeaker/announcements/{announcement}/cancel",
        headers={"Authorization": f"Bearer {loud.admin}"},
    )
    assert {"status": "cancelled", "clusters": 1} == await answer.json()
    assert [] == controller.pushes[-1]["plays"]


async def test_withdrawing_a_completed_announcement_in_the_core_clears_the_controller(
    loud_factory: LoudFactory, controller: Controller, espeak: None
) -> None:
    loud = await loud_factory()
    await loud.clusters(cluster("loa-bd-1", "00004", controller))
    announcement = await loud.announce(content={"loudspeaker": {"options": {"repeats": 3}}})
    assert 3 == len(controller.pushes[-1]["plays"])
    withdrawn = await loud.engine.services.cancel_announcement(announcement)
    assert AnnouncementStatus.CANCELLED == withdrawn.status
    await loud.channel.resync()
    assert [] == controller.pushes[-1]["plays"]


async def test_a_cancel_in_the_core_reaches_a_cluster_that_was_offline(
    loud_factory: LoudFactory, controller: Controller, espeak: None
) -> None:
    loud = await loud_factory(heartbeat_timeout=300)
    await loud.clusters(cluster("loa-bd-1", "00004", controller))
    await loud.heartbeat("loa-bd-1")
    loud.clock.advance(600)
    announcement = await loud.announce()
    await loud.engine.services.cancel_announcement(announcement)
    await loud.channel.resync()
    await loud.heartbeat("loa-bd-1")
    assert all(push["plays"] == [] for push in controller.pushes)


async def test_repeats_after_expiry_are_dropped(
    loud_factory: LoudFactory, controller: Controller, espeak: None
) -> None:
    loud = await loud_factory()
    await loud.clusters(cluster("loa-bd-1", "00004", controller))
    await loud.announce(
        expires_at="2026-03-03T12:00:00+07:00",
        content={"loudspeaker": {"options": {"repeats": 4, "days": 2}}},
    )
    days = [datetime.fromisoformat(p["at"]).day for p in controller.pushes[-1]["plays"]]
    assert [2, 3] == days  # today 17:00, tomorrow 06:00; the rest would end after noon


async def test_an_unknown_option_refuses_the_announcement(loud_factory: LoudFactory) -> None:
    loud = await loud_factory()
    answer = await loud.client.post(
        "/v1/preview",
        json={
            "title": "T",
            "body": "B",
            "channels": ["loudspeaker"],
            "audience": {"areas": ["00004"]},
            "content": {"loudspeaker": {"options": {"volume": 11}}},
        },
        headers={"Authorization": f"Bearer {loud.admin}"},
    )
    assert "unknown option 'volume'" in await answer.text()
