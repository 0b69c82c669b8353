"""Settings of the e-mail channel. Only the sandbox transport exists so far."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from dispatcher import SandboxSettings


class EmailSettings(BaseModel):
    """How the e-mail channel sends.

    Attributes:
        transport: ``"sandbox"`` writes to a local outbox and simulates receipts.
        sandbox: how the sandbox simulates the provider.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Literal["sandbox"] = "sandbox"
    sandbox: SandboxSettings = SandboxSettings()
