"""The channel contract, run against every built-in channel and transport."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from dispatcher.testing import ChannelContract, HttpChannelContract, ProviderAnswer, ProviderRequest
from plugins.email.channel import EmailChannel
from plugins.email.settings import EmailSettings
from plugins.loudspeaker.channel import LoudspeakerChannel
from plugins.loudspeaker.settings import LoudspeakerSettings
from plugins.sms.channel import SmsChannel
from plugins.sms.settings import SmsSettings
from plugins.web.channel import WebChannel
from plugins.web.settings import WebSettings
from plugins.zalo.channel import ZaloChannel
from plugins.zalo.settings import ZaloSettings

SECRET = "tok-3f9c2b7e-never-show-me"


class TestSmsSandboxContract(ChannelContract):
    channel_name = "sms"
    factory = SmsChannel
    address = "+84912345678"
    invalid_address = "0912"

    def make_settings(self, provider_url: str | None) -> BaseModel:
        return SmsSettings()


class TestSmsHttpContract(HttpChannelContract):
    channel_name = "sms"
    factory = SmsChannel
    address = "+84912345678"
    invalid_address = "not a phone"
    secret = SECRET

    def make_settings(self, provider_url: str | None) -> BaseModel:
        http = {"url": provider_url, "auth_token": SECRET, "timeout": 0.3}
        return SmsSettings.model_validate({"transport": "http", "http": http})

    def ok_answer(self, request: ProviderRequest) -> ProviderAnswer:
        return ProviderAnswer(json={"id": f"gw-{request.json()['ref']}"})


class TestSmsHttpBatchContract(TestSmsHttpContract):
    def make_settings(self, provider_url: str | None) -> BaseModel:
        http = {"url": provider_url, "auth_token": SECRET, "timeout": 0.3, "batch": True}
        return SmsSettings.model_validate({"transport": "http", "http": http})

    def ok_answer(self, request: ProviderRequest) -> ProviderAnswer:
        messages: list[dict[str, Any]] = request.json()["messages"]
        results = [{"ref": m["ref"], "id": f"gw-{m['ref']}"} for m in messages]
        return ProviderAnswer(json={"results": results})


class TestZaloContract(ChannelContract):
    channel_name = "zalo"
    factory = ZaloChannel
    address = "+84912345678"
    invalid_address = "+1 650 253 0000"

    def make_settings(self, provider_url: str | None) -> BaseModel:
        return ZaloSettings()


class TestEmailContract(ChannelContract):
    channel_name = "email"
    factory = EmailChannel
    address = "lan.nguyen@ubnd.hoankiem.gov.vn"
    invalid_address = "lan.nguyen at ubnd"

    def make_settings(self, provider_url: str | None) -> BaseModel:
        return EmailSettings()


class TestWebContract(ChannelContract):
    channel_name = "web"
    factory = WebChannel
    address = "https://cong.hoankiem.gov.vn/hooks/thongbao"
    invalid_address = "ftp://cong.hoankiem.gov.vn/"

    def make_settings(self, provider_url: str | None) -> BaseModel:
        return WebSettings()


class TestLoudspeakerContract(ChannelContract):
    channel_name = "loudspeaker"
    factory = LoudspeakerChannel
    address = "hn-hoankiem.hangbac-1"
    invalid_address = "Hàng Bạc 1"

    def make_settings(self, provider_url: str | None) -> BaseModel:
        return LoudspeakerSettings()
