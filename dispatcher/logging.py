"""Logging: structlog configured once, for every process thongbao runs.

Events are JSON lines when stderr is not a terminal (or ``json=True``) and coloured
key-value lines on a terminal. Every event carries an ISO-8601 UTC timestamp, its level and
whatever the engine bound in context variables (``announcement_id``, ``delivery_id``).
Before anything is rendered, :func:`mask_sensitive` hides phone numbers, e-mail addresses,
bearer tokens and the values of secret-looking keys, in every string of the event, so a
log file never holds a citizen's address or a credential. Records of the standard library
(aiohttp's access and error logs) go through the same chain.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from dispatcher.errors import ConfigError

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

REDACTED = "***"
_STARS = "*******"  # fixed width, so the mask does not tell a number's length

_SECRET_KEY = re.compile(
    r"token|passw|secret|api_?key|authori[sz]ation|credential|private_?key|cookie|signature",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"(?<![\w.+-])([\w%+-])[\w.%+-]*@((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})")
# "+84 912 345 678", "+33612345678": codes are prefix-free, so +1 and +7 are whole codes.
_INTL_PHONE = re.compile(r"(?<![\w+])(\+(?:84|1|7|\d{2}))((?:[ .-]?\d){7,12})(?!\w)")
# "84912345678": the form SMS gateways use.
_BARE_84_PHONE = re.compile(r"(?<![\w+])(84)(\d{9})(?!\w)")
# "0912345678", "0912 345 678", "024.3825.1234": the national forms.
_LOCAL_PHONE = re.compile(r"(?<![\w+])(0)(\d{2,3}(?:[ .-]?\d){6,8})(?!\w)")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]+")
_TOKEN = re.compile(r"\btb_[\w-]{8,}")


def _mask_phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(2))
    return f"{match.group(1)}{_STARS}{digits[-3:]}"


def mask_text(text: str) -> str:
    """Hide phone numbers, e-mail addresses and bearer tokens inside ``text``.

    Example:
        >>> mask_text("gửi tới +84912345678 và lan@example.vn")
        'gửi tới +84*******678 và l***@example.vn'
    """
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _TOKEN.sub("tb_" + REDACTED, text)
    text = _EMAIL.sub(lambda m: f"{m.group(1)}{REDACTED}@{m.group(2)}", text)
    for pattern in (_INTL_PHONE, _BARE_84_PHONE, _LOCAL_PHONE):
        text = pattern.sub(_mask_phone, text)
    return text


def _mask_value(key: object, value: Any) -> Any:
    if isinstance(key, str) and _SECRET_KEY.search(key):
        return value if value is None or isinstance(value, bool) else REDACTED
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: _mask_value(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask_value(None, v) for v in value]
    return value


def mask_sensitive(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask personal data and secrets in every value of the event.

    Keys that look secret (``token``, ``password``, ``secret``, ``api_key``,
    ``authorization``…) lose their value entirely; every other string, however deeply
    nested, has its phone numbers (``+84*******678``, ``0*******678``), e-mail addresses
    (``n***@example.vn``) and bearer tokens masked.
    """
    return {key: _mask_value(key, value) for key, value in event_dict.items()}


class _StderrLoggerFactory:
    """Builds loggers that write to whatever ``sys.stderr`` is at the time of the call.

    Binding the stream once would keep writing to a stream that a test runner or
    ``click.testing`` swapped in and closed since.
    """

    def __call__(self, *args: Any) -> structlog.PrintLogger:
        return structlog.PrintLogger(sys.stderr)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that, like :class:`_StderrLoggerFactory`, writes to the current
    ``sys.stderr`` rather than to the one there was when logging was configured."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # StreamHandler.__init__ assigns the stream; we always look it up


def _renderer(json: bool) -> Processor:
    if json:
        return structlog.processors.JSONRenderer(ensure_ascii=False)
    return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())


def _configure_stdlib(level: int, shared: list[Processor], renderer: Processor) -> None:
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    handler.set_name("thongbao")
    root = logging.getLogger()
    # Replace only our own handler, so configuring twice neither doubles lines nor removes
    # handlers that someone else (pytest's capture, an embedding app) installed.
    for old in [h for h in root.handlers if h.get_name() == "thongbao"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def configure(level: str = "info", json: bool | None = None) -> None:
    """Configure structlog (and the standard library's logging) for this process.

    Args:
        level: the least severe level written: debug, info, warning, error or critical.
        json: JSON lines when True, console lines when False; None picks JSON unless
            stderr is a terminal.

    Raises:
        ConfigError: for an unknown level.
    """
    try:
        numeric = _LEVELS[level.lower()]
    except KeyError:
        raise ConfigError(f"unknown log level {level!r}: use one of {', '.join(_LEVELS)}") from None
    if json is None:
        json = not sys.stderr.isatty()
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        mask_sensitive,
    ]
    renderer = _renderer(json)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_StderrLoggerFactory(),
        # Not cached: configure() may run again (tests, the CLI) and must take effect on
        # module-level loggers that were already used.
        cache_logger_on_first_use=False,
    )
    _configure_stdlib(numeric, shared, renderer)
