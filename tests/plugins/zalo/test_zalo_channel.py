"""The Zalo channel: addresses and settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dispatcher.errors import ConfigError, InvalidAddressError
from dispatcher.testing import FakeSettings, make_context
from plugins.zalo.channel import ZaloChannel, normalize_zalo_address
from plugins.zalo.settings import ZaloSettings


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param("0912345678", "+84912345678", id="national-phone"),
        pytest.param("84912345678", "+84912345678", id="country-code-no-plus"),
        pytest.param("+84 912 345 678", "+84912345678", id="international-phone"),
        pytest.param("4367228941206354210", "4367228941206354210", id="user-id"),
        pytest.param(" 1234567890 ", "1234567890", id="short-user-id-trimmed"),
    ],
)
def test_zalo_addresses_are_normalised(address: str, expected: str) -> None:
    assert expected == normalize_zalo_address(address)


@pytest.mark.parametrize(
    ("address", "advice"),
    [
        pytest.param("", "Zalo user id", id="empty"),
        pytest.param("+1 650 253 0000", "Vietnamese mobile number", id="foreign-phone"),
        pytest.param("024 3825 1234", "landline", id="landline"),
        pytest.param("012345678901", "Zalo user id", id="leading-zero-not-a-phone"),
        pytest.param("43672289412063542101234567", "Zalo user id", id="id-too-long"),
        pytest.param("zalo:lan", "Zalo user id", id="letters"),
    ],
)
def test_bad_zalo_addresses_are_refused_with_advice(address: str, advice: str) -> None:
    with pytest.raises(InvalidAddressError, match=advice):
        normalize_zalo_address(address)


def test_the_sandbox_stays_the_default_even_with_credentials() -> None:
    api = {"app_id": "1", "secret_key": "s", "refresh_token": "r"}
    assert "sandbox" == ZaloSettings.model_validate({"api": api}).transport


@pytest.mark.parametrize(
    ("data", "advice"),
    [
        pytest.param({"transport": "zns"}, "sandbox", id="unknown-transport"),
        pytest.param({"transport": "zalo"}, "api.app_id", id="zalo-without-api"),
        pytest.param(
            {"transport": "zalo", "api": {"app_id": "1", "secret_key": "s"}},
            "refresh_token",
            id="no-token-at-all",
        ),
        pytest.param({"zns": {"default_template": "abc"}}, "template id", id="bad-template"),
        pytest.param(
            {
                "api": {
                    "app_id": "1",
                    "secret_key": "s",
                    "refresh_token": "r",
                    "quota_timezone": "Mars/Base",
                }
            },
            "time zone",
            id="bad-zone",
        ),
    ],
)
def test_bad_settings_are_refused_with_advice(data: dict[str, object], advice: str) -> None:
    with pytest.raises(ValidationError, match=advice):
        ZaloSettings.model_validate(data)


def test_wrong_settings_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ZaloSettings"):
        ZaloChannel(make_context(tmp_path, FakeSettings(), "zalo"))
