"""The five built-in channel plugins register as any third-party plugin does."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from dispatcher.channel import Accepted, Channel
from dispatcher.plugins import make_plugin_manager
from dispatcher.registry import ChannelRegistry, collect_routes
from dispatcher.testing import FakeReceiptSink, make_context, make_message

BUILT_IN = ["email", "loudspeaker", "sms", "web", "zalo"]


@pytest.fixture
def registry() -> ChannelRegistry:
    return ChannelRegistry.from_plugins(make_plugin_manager(entrypoints=False))


def test_every_built_in_channel_is_registered(registry: ChannelRegistry) -> None:
    assert BUILT_IN == registry.names()


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in BUILT_IN])
def test_spec_is_complete(registry: ChannelRegistry, name: str) -> None:
    spec = registry.get(name)
    assert isinstance(spec.factory, type) and issubclass(spec.factory, Channel)
    assert spec.description
    assert issubclass(spec.settings, BaseModel)


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in BUILT_IN])
def test_settings_refuse_unknown_fields(registry: ChannelRegistry, name: str) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        registry.get(name).settings.model_validate({"api_key": "x"})


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in BUILT_IN])
async def test_default_settings_run_the_sandbox_end_to_end(
    registry: ChannelRegistry, tmp_path: Path, name: str
) -> None:
    spec = registry.get(name)
    sink = FakeReceiptSink()
    channel = spec.factory(make_context(tmp_path, spec.settings(), name, receipts=sink))
    await channel.start()
    try:
        [result] = await channel.send([make_message("addr", 1, name)])
        await channel.flush()  # type: ignore[attr-defined]
    finally:
        await channel.aclose()
    assert Accepted(provider_id="sbx-d1-1") == result
    assert ["sbx-d1-1"] == [r.provider_id for r in sink.receipts]
    assert (tmp_path / name / "outbox.jsonl").exists()


def test_sms_declares_its_callback_routes() -> None:
    routes = collect_routes(make_plugin_manager(entrypoints=False))
    assert {
        ("GET", "/v1/callbacks/sms/http"),
        ("POST", "/v1/callbacks/sms/http"),
        ("GET", "/v1/callbacks/sms/esms"),
        ("POST", "/v1/callbacks/sms/esms"),
        ("POST", "/v1/callbacks/sms/speedsms"),
        ("GET", "/v1/callbacks/sms/inbound"),
        ("POST", "/v1/callbacks/sms/inbound"),
    } == {(r.method, r.path) for r in routes if r.path.startswith("/v1/callbacks/sms/")}
