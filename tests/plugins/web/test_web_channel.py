"""The web channel: webhook URLs and settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dispatcher.errors import ConfigError, InvalidAddressError
from dispatcher.testing import FakeSettings, make_context
from plugins.web.channel import WebChannel, normalize_webhook_url
from plugins.web.settings import WebSettings


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param("https://cong.gov.vn/hook", "https://cong.gov.vn/hook", id="https"),
        pytest.param("HTTP://Cong.GOV.vn/Hook?x=1", "http://cong.gov.vn/Hook?x=1", id="case"),
        pytest.param(" https://cong.gov.vn/hook#top ", "https://cong.gov.vn/hook", id="fragment"),
        pytest.param("http://cms:8080/in", "http://cms:8080/in", id="intranet-host-port"),
    ],
)
def test_webhook_urls_are_normalised(address: str, expected: str) -> None:
    assert expected == normalize_webhook_url(address)


@pytest.mark.parametrize(
    ("address", "advice"),
    [
        pytest.param("", "https://example.gov.vn", id="empty"),
        pytest.param("cong.gov.vn/hook", "https://example.gov.vn", id="no-scheme"),
        pytest.param("ftp://cong.gov.vn/", "https://example.gov.vn", id="ftp"),
        pytest.param("https:///hook", "https://example.gov.vn", id="no-host"),
        pytest.param("https://cong.gov.vn/a b", "https://example.gov.vn", id="blank-inside"),
        pytest.param("https://lan:pw@cong.gov.vn/", "user name or password", id="credentials"),
    ],
)
def test_bad_webhook_urls_are_refused_with_advice(address: str, advice: str) -> None:
    with pytest.raises(InvalidAddressError, match=advice):
        normalize_webhook_url(address)


def test_refusal_does_not_repeat_the_password() -> None:
    with pytest.raises(InvalidAddressError) as info:
        normalize_webhook_url("https://lan:pw-8c1d@cong.gov.vn/")
    assert "pw-8c1d" not in str(info.value)


def test_the_sandbox_is_the_default_and_unknown_transports_are_refused() -> None:
    assert "sandbox" == WebSettings().transport
    with pytest.raises(ValidationError):
        WebSettings.model_validate({"transport": "webhook"})


def test_a_signing_secret_must_be_a_whsec_secret() -> None:
    with pytest.raises(ValidationError, match="whsec_"):
        WebSettings.model_validate({"signing_secrets": ["hunter2"]})


def test_subscription_ids_are_addresses_too(tmp_path: Path) -> None:
    channel = WebChannel(make_context(tmp_path, WebSettings(), "web"))
    assert "sub_0123456789abcdef" == channel.normalize_address(" sub_0123456789abcdef ")
    with pytest.raises(InvalidAddressError):
        channel.normalize_address("sub_nothex")


def test_wrong_settings_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WebSettings"):
        WebChannel(make_context(tmp_path, FakeSettings(), "web"))
