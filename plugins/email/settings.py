"""Settings of the e-mail channel: the sandbox (default) or an SMTP server."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from dispatcher import SandboxSettings


class SmtpSettings(BaseModel):
    """How to reach one SMTP server (the office's own or a relay).

    Attributes:
        host: the server's name or address.
        port: 25 or 587 for ``plain``/``starttls``, 465 for ``tls``.
        security: ``plain`` (no TLS), ``starttls`` (upgrade after EHLO, required) or ``tls``
            (TLS from the first byte, "SMTPS").
        username: log in with this name when set.
        password: the password for ``username``.
        ca_file: a PEM bundle to trust instead of the system's (a relay with its own CA).
        timeout: seconds for connecting and for each SMTP command.
        pool_size: most connections open to the server at once; they are reused.
        rate_per_sec: most messages a second to this server (None: unpaced).
        max_batch: most messages handed to one send.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["plain", "starttls", "tls"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None
    timeout: float = Field(default=30.0, gt=0)
    pool_size: int = Field(default=4, ge=1, le=100)
    rate_per_sec: float | None = Field(default=10.0, gt=0)
    max_batch: int = Field(default=50, ge=1, le=1000)

    @model_validator(mode="after")
    def _password_with_username(self) -> SmtpSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("set both smtp.username and smtp.password, or neither")
        return self


class EmailSettings(BaseModel):
    """How the e-mail channel sends.

    Attributes:
        transport: ``"sandbox"`` writes to a local outbox (each message also as an .eml) and
            simulates receipts; ``"smtp"`` sends through the server of the ``smtp`` table.
        sandbox: how the sandbox simulates the provider.
        smtp: the SMTP server (required with ``transport = "smtp"``).
        sender: the envelope and ``From`` address.
        sender_name: the display name in ``From`` (Vietnamese is fine).
        message_id_domain: the right side of Message-IDs (default: the sender's domain).
        unsubscribe_secret: signs unsubscribe links; default: a random secret kept in the
            channel's data folder (links stop working if that folder is lost).
        bounce_limit: hard bounces after which an address is opted out.
        max_attachment_bytes: the largest attachment fetched; a bigger one fails the delivery.
        attachment_timeout: seconds for fetching one attachment.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Literal["sandbox", "smtp"] = "sandbox"
    sandbox: SandboxSettings = SandboxSettings()
    smtp: SmtpSettings | None = None
    sender: str = "thongbao@localhost.localdomain"
    sender_name: str = "Thông báo"
    message_id_domain: str | None = None
    unsubscribe_secret: SecretStr | None = None
    bounce_limit: int = Field(default=3, ge=1)
    max_attachment_bytes: int = Field(default=10_000_000, ge=1)
    attachment_timeout: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _smtp_needs_its_table(self) -> EmailSettings:
        if self.transport == "smtp" and self.smtp is None:
            raise ValueError(
                'transport = "smtp" needs a [channels.email.smtp] table with at least host'
            )
        return self

    @property
    def domain(self) -> str:
        """The domain of Message-IDs."""
        return self.message_id_domain or self.sender.rpartition("@")[2] or "localhost"
