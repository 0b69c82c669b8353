"""The loudspeaker channel: cluster ids and settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dispatcher.errors import ConfigError, InvalidAddressError
from dispatcher.testing import FakeSettings, make_context
from plugins.loudspeaker.channel import LoudspeakerChannel, normalize_cluster_id
from plugins.loudspeaker.settings import LoudspeakerSettings


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


def test_only_the_sandbox_transport_exists() -> None:
    with pytest.raises(ValidationError):
        LoudspeakerSettings.model_validate({"transport": "controller"})


def test_wrong_settings_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LoudspeakerSettings"):
        LoudspeakerChannel(make_context(tmp_path, FakeSettings(), "loudspeaker"))
