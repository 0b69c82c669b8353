"""The loudspeaker channel: cluster ids and settings."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from loudspeaker_helpers import Controller, LoudFactory, silence
from pydantic import ValidationError

from dispatcher.errors import ConfigError, InvalidAddressError
from dispatcher.testing import FakeSettings, make_context, make_message
from plugins.loudspeaker.channel import LoudspeakerChannel, normalize_cluster_id
from plugins.loudspeaker.settings import LoudspeakerSettings
from schemas import DeliveryStatus


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param("hn-hoankiem.hangbac-1", "hn-hoankiem.hangbac-1", id="canonical"),
        pytest.param(" HN-HoanKiem.HangBac-1 ", "hn-hoankiem.hangbac-1", id="case-and-blanks"),
        pytest.param("ward_07", "ward_07", id="underscore"),
        pytest.param("7", "7", id="one-digit"),
    ],
)
def test_cluster_ids_are_normalised(address: str, expected: str) -> None:
    assert expected == normalize_cluster_id(address)


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("", id="empty"),
        pytest.param("hàng-bạc", id="diacritics"),
        pytest.param("hang bac", id="blank-inside"),
        pytest.param("-hangbac", id="leading-dash"),
        pytest.param("x" * 65, id="too-long"),
    ],
)
def test_bad_cluster_ids_are_refused_with_advice(address: str) -> None:
    with pytest.raises(InvalidAddressError, match="lower-case letters, digits"):
        normalize_cluster_id(address)


def test_unknown_transports_are_refused() -> None:
    with pytest.raises(ValidationError):
        LoudspeakerSettings.model_validate({"transport": "controller"})


def test_wrong_settings_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LoudspeakerSettings"):
        LoudspeakerChannel(make_context(tmp_path, FakeSettings(), "loudspeaker"))


async def test_a_sandbox_cluster_is_scheduled_and_its_schedule_written_locally(
    loud_factory: LoudFactory,
) -> None:
    loud = await loud_factory(sandbox={"receipt_delay": 0})
    await loud.clusters({"id": "loa-sbx", "name": "Loa sandbox", "area_code": "00004"})
    announcement = await loud.announce()
    await loud.engine.run(until_idle=True)
    await loud.channel.flush()
    [delivery] = await loud.deliveries(announcement)
    assert (DeliveryStatus.DELIVERED, f"sbx-{delivery.id}-1") == (
        delivery.status,
        delivery.provider_id,
    )
    [line] = (loud.channel.ctx.data_dir / "schedules.jsonl").read_text().splitlines()
    [play] = json.loads(line)["plays"]
    assert "2026-03-02T17:00:00+07:00" == play["at"]
    outbox = json.loads((loud.channel.ctx.data_dir / "outbox.jsonl").read_text())
    assert "bảy giờ ba mươi phút" in outbox["body"]


async def test_an_uploaded_recording_replaces_the_spoken_script(
    loud_factory: LoudFactory, controller: Controller
) -> None:
    loud = await loud_factory()
    await loud.clusters(
        {
            "id": "loa-1",
            "name": "Loa 1",
            "area_code": "00004",
            "transport": "http",
            "endpoint": controller.url,
        }
    )
    upload = await loud.client.post(
        "/v1/loudspeaker/recordings",
        data=silence(42.0),
        headers={"Authorization": f"Bearer {loud.admin}"},
    )
    recording = (await upload.json())["recording"]
    await loud.announce(content={"loudspeaker": {"options": {"recording": recording}}})
    [play] = controller.pushes[-1]["plays"]
    assert (42.0, recording) == (play["duration"], play["audio_sha256"])


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        pytest.param({"volume": 3}, "unknown option 'volume'", id="unknown"),
        pytest.param({"repeats": 0}, "repeats must be a whole number", id="zero-repeats"),
        pytest.param({"repeats": 2, "days": 3}, "days (3) is more than repeats", id="days"),
        pytest.param({"recording": "x.wav"}, "recording must be the id", id="recording"),
    ],
)
def test_inspect_refuses_bad_options(tmp_path: Path, options: dict, problem: str) -> None:
    channel = LoudspeakerChannel(make_context(tmp_path, LoudspeakerSettings(), "loudspeaker"))
    message = dataclasses.replace(make_message("loa-1", 1, "loudspeaker"), options=options)
    [found] = channel.inspect(message).problems
    assert problem in found


def test_inspect_shows_the_script_and_its_plays(tmp_path: Path) -> None:
    channel = LoudspeakerChannel(make_context(tmp_path, LoudspeakerSettings(), "loudspeaker"))
    message = dataclasses.replace(
        make_message("loa-1", 1, "loudspeaker"), options={"repeats": 3, "days": 2}
    )
    inspection = channel.inspect(message)
    assert [] == inspection.problems
    assert "tin số một" in inspection.text
    assert (3, 2) == (inspection.details["repeats"], inspection.details["days"])
