"""The HTTP channel contract, run against the Zalo transport (ZNS to a phone number)."""

from __future__ import annotations

from pydantic import BaseModel

from dispatcher.testing import HttpChannelContract, ProviderAnswer, ProviderRequest
from plugins.zalo.channel import ZaloChannel
from plugins.zalo.settings import ZaloSettings

SECRET = "zalo-access-token-never-show-me"
PARAMS = [{"name": "body", "require": True, "type": "STRING", "maxLength": 400}]


class TestZaloApiContract(HttpChannelContract):
    channel_name = "zalo"
    factory = ZaloChannel
    address = "+84912345678"
    invalid_address = "+1 650 253 0000"
    secret = SECRET

    def make_settings(self, provider_url: str | None) -> BaseModel:
        base = (provider_url or "").removesuffix("/send")
        api = {
            "app_id": "1234567890",
            "secret_key": SECRET,
            "access_token": SECRET,
            "zns_url": base,
            "oa_url": base,
            "oauth_url": base,
            "timeout": 0.3,
        }
        return ZaloSettings.model_validate(
            {"transport": "zalo", "api": api, "zns": {"default_template": "231677"}}
        )

    def ok_answer(self, request: ProviderRequest) -> ProviderAnswer:
        if request.method == "GET":
            data = {"templateName": "t", "status": "ENABLE", "listParams": PARAMS}
            return ProviderAnswer(json={"error": 0, "message": "Success", "data": data})
        data = {"msg_id": f"zns-{request.json()['tracking_id']}"}
        return ProviderAnswer(json={"error": 0, "message": "Success", "data": data})
