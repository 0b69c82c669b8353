"""Zalo's endpoints, called with the OA's access token.

Every call sends the token in the ``access_token`` header. When Zalo answers that the
token is invalid or expired, the token is refreshed (one refresh across workers, see
:mod:`plugins.zalo.token`) and the call is made once more with the new token.
"""

from __future__ import annotations

from typing import Any

from dispatcher import ChannelContext
from plugins.zalo.codes import OA_CODES, ZNS_CODES, CodeTable, Kind, lookup
from plugins.zalo.http import ZaloHttp, error_code
from plugins.zalo.settings import ZaloApiSettings
from plugins.zalo.token import TokenKeeper

ZNS_SEND_PATH = "/message/template"
TEMPLATE_INFO_PATH = "/template/info/v2"
OA_SEND_PATH = "/v3.0/oa/message/cs"


class ZaloApi:
    """The ZNS and Official Account endpoints of one app.

    Args:
        ctx: the channel's context.
        settings: the app's credentials and hosts.
    """

    def __init__(self, ctx: ChannelContext, settings: ZaloApiSettings) -> None:
        self.settings = settings
        self.http = ZaloHttp(ctx.name, settings.timeout)
        self.tokens = TokenKeeper(ctx, settings, self.http)
        self._zns = str(settings.zns_url).rstrip("/")
        self._oa = str(settings.oa_url).rstrip("/")

    async def start(self) -> None:
        """Open the HTTP session."""
        await self.http.start()

    async def aclose(self) -> None:
        """Close the HTTP session; safe to call twice."""
        await self.http.aclose()

    async def send_zns(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /message/template``: one ZNS message."""
        return await self._call("POST", self._zns + ZNS_SEND_PATH, ZNS_CODES, json_body=body)

    async def template_info(self, template_id: str) -> dict[str, Any]:
        """``GET /template/info/v2``: a template's parameters and status."""
        params = {"template_id": template_id}
        return await self._call("GET", self._zns + TEMPLATE_INFO_PATH, ZNS_CODES, params=params)

    async def send_oa(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v3.0/oa/message/cs``: one message to a follower by user id."""
        return await self._call("POST", self._oa + OA_SEND_PATH, OA_CODES, json_body=body)

    async def _call(
        self,
        method: str,
        url: str,
        table: CodeTable,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        token = await self.tokens.access_token()
        for last in (False, True):
            answer = await self.http.call(
                method, url, headers={"access_token": token}, json_body=json_body, params=params
            )
            code = error_code(answer)
            if last or code is None or lookup(table, code)[0] is not Kind.TOKEN:
                return answer
            token = await self.tokens.refresh(stale=token)
        raise AssertionError("unreachable")  # pragma: no cover
