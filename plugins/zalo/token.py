"""The Official Account's access and refresh tokens, kept in the store.

Zalo's refresh token is single-use: a refresh answers a new access token *and* a new
refresh token, and the old refresh token is dead from then on. So:

- the pair lives in the store (``ctx.state``, key ``token``), shared by every worker and
  kept across restarts; ``refresh_token`` from the settings seeds it only while the store
  holds none (or after a refusal, once the operator put new credentials in the settings);
- refreshes run one at a time across processes, under the lease ``zalo:token``; a worker
  that got the lease reads the pair again first, since another may have refreshed already;
- the new pair is written to the store before the new access token is used;
- a refused refresh (the token was used, revoked or expired, or the app's key is wrong)
  is written down too: no worker calls the token endpoint again with that refresh token,
  sends wait ``token_retry_after`` seconds with the refusal as their reason, and
  ``thongbao_zalo_token_ok`` is 0 until an operator gives new credentials.

Token endpoint (Zalo OA API v4)::

    POST <oauth_url>/v4/oa/access_token   header secret_key: <app secret>
    form refresh_token=<token>&app_id=<app id>&grant_type=refresh_token
    → {"access_token": "...", "refresh_token": "...", "expires_in": "90000"}
    → {"error": -14014, "error_name": "...", "error_description": "..."}
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from dispatcher import ChannelContext, LeaseTimeoutError, TransientDeliveryError
from plugins.zalo.http import ZaloHttp
from plugins.zalo.settings import ZaloApiSettings

log = structlog.get_logger(__name__)

TOKEN_KEY = "token"
TOKEN_PATH = "/v4/oa/access_token"


class TokenUnavailableError(TransientDeliveryError):
    """No usable access token: the refresh token was refused; an operator must act."""


@dataclass(frozen=True)
class TokenHealth:
    """What the metrics show of the token."""

    ok: bool = True
    reason: str = ""


class TokenKeeper:
    """Hands out the access token, refreshing it when it expires or Zalo refuses it.

    Args:
        ctx: the channel's context (``ctx.state`` holds the pair; without a store the pair
            lives in memory, for previews and unit tests).
        settings: the app's credentials.
        http: the channel's HTTP session.
    """

    def __init__(self, ctx: ChannelContext, settings: ZaloApiSettings, http: ZaloHttp) -> None:
        self.ctx = ctx
        self.settings = settings
        self.http = http
        self.health = TokenHealth()
        self._memory: dict[str, Any] | None = None
        self._local = asyncio.Lock()
        self._url = str(settings.oauth_url).rstrip("/") + TOKEN_PATH

    async def access_token(self) -> str:
        """A usable access token, refreshed first when it is missing or about to expire.

        Raises:
            TokenUnavailableError: the refresh token was refused (see the reason).
            TransientDeliveryError: the token endpoint could not be reached.
        """
        pair = await self._load()
        if self._fresh(pair):
            return str(pair["access_token"])
        return await self.refresh(stale=pair.get("access_token"))

    async def refresh(self, *, stale: str | None) -> str:
        """Replace the access token ``stale`` (the one Zalo refused or that expired).

        One refresh at a time across workers; when another worker replaced ``stale``
        meanwhile, its token is used and the endpoint is not called.
        """
        async with self._exclusive():
            pair = await self._load()
            if pair.get("access_token") and pair.get("access_token") != stale and self._fresh(pair):
                return str(pair["access_token"])
            if pair.get("refused"):
                self.health = TokenHealth(False, str(pair["refused"]))
                raise TokenUnavailableError(str(pair["refused"]), channel=self.ctx.name)
            return await self._renew(pair)

    # -- the store -------------------------------------------------------------------------
    async def _load(self) -> dict[str, Any]:
        stored = await self._read()
        seed = self._seed()
        if stored is None or (stored.get("refused") and stored.get("seed") != seed):
            # Nothing stored yet, or a refused pair and new credentials in the settings.
            return self._from_settings(seed)
        return stored

    async def _read(self) -> dict[str, Any] | None:
        if self.ctx.state is None:
            return None if self._memory is None else dict(self._memory)
        return await self.ctx.state.get(TOKEN_KEY)

    async def _write(self, pair: dict[str, Any]) -> None:
        if self.ctx.state is None:
            self._memory = dict(pair)
        else:
            await self.ctx.state.put(TOKEN_KEY, pair)

    def _from_settings(self, seed: str) -> dict[str, Any]:
        access = self.settings.access_token
        refresh = self.settings.refresh_token
        return {
            "access_token": access.get_secret_value() if access else None,
            "refresh_token": refresh.get_secret_value() if refresh else None,
            "expires_at": None,
            "seed": seed,
            "refused": None,
        }

    def _seed(self) -> str:
        """A fingerprint of the credentials in the settings (never the secrets themselves)."""
        refresh = self.settings.refresh_token
        parts = [
            self.settings.app_id,
            self.settings.secret_key.get_secret_value(),
            refresh.get_secret_value() if refresh else "",
        ]
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]

    def _fresh(self, pair: dict[str, Any]) -> bool:
        if not pair.get("access_token") or pair.get("refused"):
            return False
        expires = pair.get("expires_at")
        if expires is None:
            return True
        margin = timedelta(seconds=self.settings.refresh_margin)
        return self.ctx.clock.now() + margin < datetime.fromisoformat(expires)

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        async with self._local:
            if self.ctx.state is None:
                yield
                return
            wait = 2 * self.settings.timeout + 5
            try:
                async with self.ctx.state.lease(TOKEN_KEY, ttl=wait, wait=wait):
                    yield
            except LeaseTimeoutError as exc:
                raise TransientDeliveryError(str(exc), channel=self.ctx.name) from exc

    # -- the endpoint ----------------------------------------------------------------------
    async def _renew(self, pair: dict[str, Any]) -> str:
        refresh = pair.get("refresh_token")
        if not refresh:
            return await self._refused(pair, "no refresh token: set api.refresh_token")
        answer = await self.http.call(
            "POST",
            self._url,
            headers={"secret_key": self.settings.secret_key.get_secret_value()},
            form={
                "refresh_token": str(refresh),
                "app_id": self.settings.app_id,
                "grant_type": "refresh_token",
            },
        )
        access, new_refresh = answer.get("access_token"), answer.get("refresh_token")
        if not (isinstance(access, str) and access and isinstance(new_refresh, str)):
            return await self._refused(pair, _refusal(answer))
        renewed = {
            "access_token": access,
            "refresh_token": new_refresh,
            "expires_at": self._expiry(answer.get("expires_in")),
            "seed": pair.get("seed"),
            "refused": None,
        }
        await self._write(renewed)  # before use: the old refresh token is dead now
        self.health = TokenHealth()
        log.info("zalo_token_refreshed", channel=self.ctx.name, expires_at=renewed["expires_at"])
        return access

    async def _refused(self, pair: dict[str, Any], reason: str) -> str:
        message = (
            f"Zalo refused to renew the access token ({reason}): authorise the OA again and "
            "put the new refresh token in [channels.zalo.api] refresh_token, then restart"
        )
        await self._write({**pair, "access_token": None, "refused": message})
        self.health = TokenHealth(False, message)
        log.error("zalo_token_refused", channel=self.ctx.name, reason=reason)
        raise TokenUnavailableError(message, channel=self.ctx.name)

    def _expiry(self, expires_in: Any) -> str | None:
        try:
            seconds = float(expires_in)
        except (TypeError, ValueError):
            return None
        return (self.ctx.clock.now() + timedelta(seconds=seconds)).isoformat()


def _refusal(answer: dict[str, Any]) -> str:
    code = answer.get("error")
    words = [
        str(answer[key])
        for key in ("error_name", "error_description", "error_reason", "message")
        if answer.get(key)
    ]
    detail = "; ".join(dict.fromkeys(words)) or "no new token in the answer"
    return f"error {code}: {detail}" if code is not None else detail
