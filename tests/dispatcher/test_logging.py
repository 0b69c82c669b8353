"""Logging: personal data and secrets are masked in every event; JSON off a terminal."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from dispatcher.errors import ConfigError
from dispatcher.logging import configure, mask_sensitive, mask_text


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put structlog's and the standard library's configuration back after the test."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


def masked(**event: Any) -> dict[str, Any]:
    return mask_sensitive(None, "info", dict(event))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("+84912345678", "+84*******678", id="e164"),
        pytest.param("+84 912 345 678", "+84*******678", id="e164-spaced"),
        pytest.param("84912345678", "84*******678", id="gateway-form"),
        pytest.param("0912345678", "0*******678", id="national"),
        pytest.param("0912.345.678", "0*******678", id="national-dotted"),
        pytest.param("024 3825 1234", "0*******234", id="landline"),
        pytest.param("+33612345678", "+33*******678", id="foreign"),
        pytest.param("nguyen.van.a@example.vn", "n***@example.vn", id="email"),
        pytest.param("Bearer tb_abcdefghijklmnopqrstuvwxyz", "Bearer ***", id="bearer"),
        pytest.param("key tb_abcdefghijklmnop leaked", "key tb_*** leaked", id="token"),
    ],
)
def test_mask_text_hides_addresses_and_tokens(text: str, expected: str) -> None:
    assert expected == mask_text(text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2026-01-31T08:00:00.123456Z", id="timestamp"),
        pytest.param("0.123456789", id="float"),
        pytest.param("01a2163a0e3fb4bb3e22c3", id="announcement-id"),
        pytest.param("12345", id="short-number"),
        pytest.param("79", id="area-code"),
    ],
)
def test_mask_text_leaves_ids_and_times_alone(text: str) -> None:
    assert text == mask_text(text)


def test_phone_inside_a_sentence_is_masked() -> None:
    assert "gửi tới 0*******678 và l***@example.vn" == mask_text(
        "gửi tới 0912345678 và lan@example.vn"
    )


@pytest.mark.parametrize(
    "key", ["token", "password", "secret", "api_key", "apikey", "Authorization", "auth_token"]
)
def test_secret_keys_lose_their_value(key: str) -> None:
    assert {key: "***", "event": "x"} == masked(**{key: "hunter2", "event": "x"})


def test_nested_values_are_masked() -> None:
    event = masked(
        event="batch_sent",
        addresses=["0912345678", "lan@example.vn"],
        headers={"Authorization": "Bearer abc", "X-Trace": "t-1"},
        pair=("+84912345678", 3),
    )
    assert {
        "event": "batch_sent",
        "addresses": ["0*******678", "l***@example.vn"],
        "headers": {"Authorization": "***", "X-Trace": "t-1"},
        "pair": ["+84*******678", 3],
    } == event


def test_non_strings_and_empty_secrets_pass_through() -> None:
    assert {"count": 12, "ok": True, "token": None, "has_token": False} == masked(
        count=12, ok=True, token=None, has_token=False
    )


def read_json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.usefixtures("restore_logging")
def test_json_events_carry_context_time_and_masks(capsys: pytest.CaptureFixture[str]) -> None:
    configure("info", json=True)
    log = structlog.get_logger("test")
    with structlog.contextvars.bound_contextvars(announcement_id="a1", delivery_id="d1"):
        log.info("delivery_sent", address="+84912345678", password="p")
    [event] = read_json_lines(capsys.readouterr().err)
    timestamp = event.pop("timestamp")
    assert {
        "event": "delivery_sent",
        "level": "info",
        "announcement_id": "a1",
        "delivery_id": "d1",
        "address": "+84*******678",
        "password": "***",
    } == event
    assert timestamp.endswith("Z")


@pytest.mark.usefixtures("restore_logging")
def test_level_filters_events(capsys: pytest.CaptureFixture[str]) -> None:
    configure("warning", json=True)
    log = structlog.get_logger("test")
    log.info("quiet")
    log.warning("loud")
    assert ["loud"] == [e["event"] for e in read_json_lines(capsys.readouterr().err)]


@pytest.mark.usefixtures("restore_logging")
def test_exceptions_are_rendered_and_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure("info", json=True)
    try:
        raise ValueError("bad number 0912345678")
    except ValueError:
        structlog.get_logger("test").exception("send_crashed")
    [event] = read_json_lines(capsys.readouterr().err)
    assert "ValueError: bad number 0*******678" in event["exception"]
    assert "0912345678" not in json.dumps(event)


@pytest.mark.usefixtures("restore_logging")
def test_standard_library_records_go_through_the_same_masks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure("info", json=True)
    logging.getLogger("aiohttp.access").info("GET /v1/x?to=%s", "0912345678")
    events = read_json_lines(capsys.readouterr().err)
    assert [("GET /v1/x?to=0*******678", "info")] == [(e["event"], e["level"]) for e in events]


@pytest.mark.usefixtures("restore_logging")
def test_configuring_twice_does_not_double_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure("info", json=True)
    configure("info", json=True)
    logging.getLogger("aiohttp.server").warning("once")
    assert 1 == len(read_json_lines(capsys.readouterr().err))


@pytest.mark.usefixtures("restore_logging")
def test_console_renderer_when_json_is_off(capsys: pytest.CaptureFixture[str]) -> None:
    configure("info", json=False)
    structlog.get_logger("test").info("hello", to="0912345678")
    err = capsys.readouterr().err
    assert "hello" in err and "0*******678" in err
    with pytest.raises(json.JSONDecodeError):
        json.loads(err)


def test_unknown_level_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown log level 'loud'"):
        configure("loud")
