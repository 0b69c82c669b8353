"""The e-mail channel: addresses and settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dispatcher.errors import ConfigError, InvalidAddressError
from dispatcher.testing import FakeSettings, make_context
from plugins.email.channel import EmailChannel, normalize_email
from plugins.email.settings import EmailSettings


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param("lan@ubnd.gov.vn", "lan@ubnd.gov.vn", id="plain"),
        pytest.param(
            "Lan.Nguyen@UBND.HaNoi.gov.vn", "Lan.Nguyen@ubnd.hanoi.gov.vn", id="domain-case"
        ),
        pytest.param("  lan@ubnd.gov.vn ", "lan@ubnd.gov.vn", id="blanks"),
        pytest.param("lan@bộ.vn", "lan@bộ.vn", id="unicode-domain"),
    ],
)
def test_email_addresses_are_normalised(address: str, expected: str) -> None:
    assert expected == normalize_email(address)


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("", id="empty"),
        pytest.param("lan.nguyen", id="no-at"),
        pytest.param("lan@localhost", id="no-dot-in-domain"),
        pytest.param("lan@@ubnd.gov.vn", id="two-ats"),
        pytest.param("Lan <lan@ubnd.gov.vn>", id="display-name"),
    ],
)
def test_bad_email_addresses_are_refused_with_advice(address: str) -> None:
    with pytest.raises(InvalidAddressError, match=r"ten@example\.gov\.vn"):
        normalize_email(address)


def test_smtp_transport_needs_its_table() -> None:
    with pytest.raises(ValidationError, match=r"\[channels\.email\.smtp\]"):
        EmailSettings.model_validate({"transport": "smtp"})


def test_wrong_settings_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="EmailSettings"):
        EmailChannel(make_context(tmp_path, FakeSettings(), "email"))


def test_a_non_ascii_local_part_is_refused_before_sending() -> None:
    from dispatcher import InvalidAddressError
    from plugins.email.channel import normalize_email

    with pytest.raises(InvalidAddressError, match="SMTPUTF8"):
        normalize_email("hạnh@example.vn")
    assert "hanh@example.vn" == normalize_email("hanh@Example.VN")
