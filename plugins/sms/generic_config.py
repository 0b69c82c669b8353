"""Settings of the generic HTTP SMS gateway, and its body templates.

A gateway is described entirely in TOML; everything is checked when the settings load,
so a typo fails at start-up with the field named, never at the first send::

    [channels.sms.http]
    url = "https://sms.example.vn/api/send"
    method = "POST"                          # POST | GET | PUT
    body = "json"                            # json | form | query
    brandname = "UBND-PHUONG"
    auth = { type = "header", name = "X-Api-Key", value = { "$env" = "SMS_KEY" } }
    id_path = "data.msgId"
    error_code_path = "code"
    permanent_codes = ["101", "102"]
    transient_codes = ["99"]

    [channels.sms.http.template]
    Phone = "{{ to_national }}"
    Content = "{{ text }}"
    Brandname = "{{ brandname }}"
    IsUnicode = "{{ 1 if unicode else 0 }}"  # a whole "{{ expression }}" keeps its JSON type
    RequestId = "{{ ref }}"

    [channels.sms.http.success]
    field = "code"
    equals = ["100"]

Template variables of one message: ``to`` (E.164), ``to_national`` (``0912345678``;
foreign numbers as ``to_digits``), ``to_digits`` (``84912345678``), ``text``, ``ref`` (our
de-duplication reference), ``unicode`` (bool), ``segments`` (int), ``brandname``. A
batch's envelope template sees ``brandname`` and ``count``. Dotted paths
(``data.items.0.id``) read answers; a segment of digits indexes a list. ``""`` switches an
optional path off.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

MESSAGE_VARIABLES = frozenset(
    {"to", "to_national", "to_digits", "text", "ref", "unicode", "segments", "brandname"}
)
BATCH_VARIABLES = frozenset({"brandname", "count"})
DEFAULT_TEMPLATE: dict[str, Any] = {"to": "{{ to }}", "text": "{{ text }}", "ref": "{{ ref }}"}

_SAMPLE = {
    "to": "+84912345678",
    "to_national": "0912345678",
    "to_digits": "84912345678",
    "text": "Thông báo lịch cắt điện",
    "ref": "d1",
    "unicode": True,
    "segments": 1,
    "brandname": "BRAND",
    "count": 1,
}
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_WHOLE_EXPRESSION = re.compile(r"\{\{(?P<expr>(?:(?!\{\{|\}\}|\{%|\{#).)*)\}\}", re.DOTALL)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STRICT = ConfigDict(extra="forbid", frozen=True)


class TemplateRenderError(Exception):
    """A template failed on real values (the load-time check passed on sample ones)."""

    def __init__(self, where: str, error: Exception) -> None:
        super().__init__(f"template {where} failed: {error}")
        self.where = where


@dataclass(frozen=True)
class BodyTemplate:
    """A compiled template: ``render(variables)`` gives the value to send."""

    render: Callable[[Mapping[str, Any]], Any]
    variables: frozenset[str]


def compile_template(node: Any, where: str, allowed: frozenset[str]) -> BodyTemplate:
    """Compile a template value (text, number, bool, table or array), checking every leaf.

    Raises:
        ValueError: a leaf does not compile, uses a variable outside ``allowed``, or has a
            type a body cannot carry; the message starts with ``where``.
    """
    if isinstance(node, str):
        return _compile_text(node, where, allowed)
    if isinstance(node, bool | int | float):
        return BodyTemplate(lambda _: node, frozenset())
    if isinstance(node, dict):
        parts = {key: compile_template(val, f"{where}.{key}", allowed) for key, val in node.items()}
        return BodyTemplate(
            lambda values: {key: part.render(values) for key, part in parts.items()},
            frozenset().union(*(part.variables for part in parts.values())),
        )
    if isinstance(node, list):
        items = [compile_template(value, f"{where}[{i}]", allowed) for i, value in enumerate(node)]
        return BodyTemplate(
            lambda values: [item.render(values) for item in items],
            frozenset().union(*(item.variables for item in items)),
        )
    raise ValueError(f"{where}: a template holds text, numbers, booleans, tables or arrays")


def _compile_text(source: str, where: str, allowed: frozenset[str]) -> BodyTemplate:
    try:
        used = frozenset(meta.find_undeclared_variables(_ENV.parse(source)))
        whole = _WHOLE_EXPRESSION.fullmatch(source)
        name = whole["expr"].strip() if whole else ""
        if "{" not in source:
            run: Callable[[Mapping[str, Any]], Any] = lambda values: source  # noqa: E731
        elif whole and _NAME.fullmatch(name):
            # "{{ to }}", the usual case, per message: a lookup, not a Jinja context.
            run = lambda values: values[name]  # noqa: E731
        elif whole and not name.startswith(("-", "+")):
            # A lone "{{ expression }}" keeps its type, so JSON gets true or 8, not "True".
            expression = _ENV.compile_expression(whole["expr"], undefined_to_none=False)
            run = lambda values: expression(**values)  # noqa: E731
        else:
            template = _ENV.from_string(source)
            run = lambda values: template.render(**values)  # noqa: E731
    except TemplateSyntaxError as exc:
        raise ValueError(f"{where}: the template does not compile: {exc.message}") from exc
    unknown = sorted(used - allowed)
    if unknown:
        raise ValueError(
            f"{where}: unknown variable {unknown[0]!r}; use {', '.join(sorted(allowed))}"
        )

    def render(values: Mapping[str, Any]) -> Any:
        try:
            return run(values)
        except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
            raise TemplateRenderError(where, exc) from exc

    return BodyTemplate(render, used)


def _check_on_sample(template: BodyTemplate, where: str, brandname: str | None) -> None:
    if "brandname" in template.variables and brandname is None:
        raise ValueError(f"{where} uses brandname: set brandname")
    try:
        template.render(_SAMPLE)
    except TemplateRenderError as exc:
        raise ValueError(f"{exc.where}: fails on a sample message: {exc.__cause__}") from exc


def _no_blank_path(value: Any) -> Any:
    return None if value == "" else value


def _one_or_many(value: Any) -> Any:
    values = value if isinstance(value, list) else [value]
    # Answers are compared as text in JSON spelling: TOML true matches a JSON true.
    return [("true" if item else "false") if isinstance(item, bool) else item for item in values]


def _dotted(value: str | None) -> str | None:
    if value is not None and not all(value.split(".")):
        raise ValueError(f"{value!r} is not a dotted path such as data.items.0.id")
    return value


OptionalPath = Annotated[str | None, Field(default=None)]


class NoAuth(BaseModel):
    """No credentials (the gateway trusts the network, or the URL path is the secret)."""

    model_config = _STRICT
    type: Literal["none"] = "none"


class BearerAuth(BaseModel):
    """``Authorization: Bearer <token>``."""

    model_config = _STRICT
    type: Literal["bearer"]
    token: SecretStr


class BasicAuth(BaseModel):
    """HTTP Basic authentication."""

    model_config = _STRICT
    type: Literal["basic"]
    username: str = Field(pattern=r"^[^:]*$")  # RFC 7617: the user id has no colon
    password: SecretStr


class HeaderAuth(BaseModel):
    """A header of the gateway's choosing, e.g. ``X-Api-Key: <value>``."""

    model_config = _STRICT
    type: Literal["header"]
    name: str = Field(min_length=1)
    value: SecretStr


class QueryAuth(BaseModel):
    """A query parameter, e.g. ``?api_key=<value>`` (kept out of ``url`` so logs never show it)."""

    model_config = _STRICT
    type: Literal["query"]
    name: str = Field(min_length=1)
    value: SecretStr


Auth = Annotated[
    NoAuth | BearerAuth | BasicAuth | HeaderAuth | QueryAuth, Field(discriminator="type")
]


class FieldCheck(BaseModel):
    """A field of the answer that must hold one of ``equals`` (compared as text)."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    field: str
    equals: list[str] = Field(min_length=1)

    _one_or_many = field_validator("equals", mode="before")(_one_or_many)
    _path = field_validator("field")(_dotted)


class SuccessRule(BaseModel):
    """What a 2xx answer must look like to count as accepted.

    Attributes:
        status: the accepted statuses, all 2xx (default: any 2xx).
        field: a dotted path in the JSON answer; with ``equals``, the values meaning success.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    status: list[Annotated[int, Field(ge=200, le=299)]] | None = None
    field: str | None = None
    equals: list[str] = Field(default_factory=list)

    _one_or_many = field_validator("equals", mode="before")(_one_or_many)
    _path = field_validator("field")(_dotted)

    @model_validator(mode="after")
    def _field_and_equals_together(self) -> SuccessRule:
        if (self.field is None) != (not self.equals):
            raise ValueError("set both success.field and success.equals, or neither")
        return self

    def check(self) -> FieldCheck | None:
        """The field check, if any."""
        return FieldCheck(field=self.field, equals=self.equals) if self.field else None


class BatchShape(BaseModel):
    """How a gateway takes many messages in one request, and answers for each.

    Attributes:
        max_size: most messages a request.
        template: the envelope around the messages (variables ``brandname``, ``count``).
        items_field: dotted path in the envelope where the list of messages goes.
        item_template: one message of the list (default: the gateway's ``template``).
        results_path: dotted path of the list of per-message results in the answer.
        match: pair results with messages by ``ref`` or by their ``order``.
        result_ref_path / result_id_path / result_code_path / result_error_path: where a
            result keeps our ref, the provider id, the error code and the error text.
        result_permanent_path: a boolean field marking a refusal permanent ("" for none).
        result_success: a field a result must hold to count as accepted, besides an id.
    """

    model_config = _STRICT

    max_size: int = Field(default=100, ge=1, le=10_000)
    template: dict[str, Any] = Field(default_factory=dict)
    items_field: str = "messages"
    item_template: dict[str, Any] | None = None
    results_path: str = "results"
    match: Literal["ref", "order"] = "ref"
    result_ref_path: str = "ref"
    result_id_path: str = "id"
    result_code_path: OptionalPath = "code"
    result_error_path: OptionalPath = "error"
    result_permanent_path: OptionalPath = "permanent"
    result_success: FieldCheck | None = None

    _blank = field_validator(
        "result_code_path", "result_error_path", "result_permanent_path", mode="before"
    )(_no_blank_path)
    _paths = field_validator(
        "items_field",
        "results_path",
        "result_ref_path",
        "result_id_path",
        "result_code_path",
        "result_error_path",
        "result_permanent_path",
    )(_dotted)


class GenericHttpSettings(BaseModel):
    """An HTTP SMS gateway described in configuration (see the module docstring).

    The defaults are the original generic wire: ``POST {"to", "text", "ref"}`` answered by
    ``{"id"}``; ``batch = true`` posts ``{"messages": [...]}`` answered by ``{"results"}``.
    ``auth_token = "…"`` is kept as a shorthand for ``auth = {type = "bearer", token = "…"}``.

    Provider error codes (2xx answers that fail ``success``, and refused batch results)
    map through ``permanent_codes`` and ``transient_codes``; a code in neither list is
    ``unknown_codes`` (permanent by default: a refusal nobody documented is not retried
    blindly, and the operator sees the code). A batch result with a ``permanent`` flag
    decides by the flag instead.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    url: AnyHttpUrl
    method: Literal["POST", "GET", "PUT"] = "POST"
    auth: Auth = NoAuth()
    headers: dict[str, str] = Field(default_factory=dict)
    body: Literal["json", "form", "query"] = "json"
    template: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_TEMPLATE))
    brandname: str | None = None
    batch: BatchShape | None = None
    id_path: str = "id"
    success: SuccessRule = SuccessRule()
    error_code_path: OptionalPath = None
    error_message_path: OptionalPath = None
    permanent_codes: list[str] = Field(default_factory=list)
    transient_codes: list[str] = Field(default_factory=list)
    unknown_codes: Literal["permanent", "transient"] = "permanent"
    timeout: float = Field(default=10.0, gt=0)
    parallel: int = Field(default=10, ge=1, le=100)
    rate_per_sec: float | None = Field(default=50.0, gt=0)
    account: str | None = None

    _blank = field_validator("error_code_path", "error_message_path", mode="before")(_no_blank_path)
    _paths = field_validator("id_path", "error_code_path", "error_message_path")(_dotted)

    @model_validator(mode="before")
    @classmethod
    def _auth_token_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and "auth_token" in data:
            data = dict(data)
            token = data.pop("auth_token")
            if "auth" in data:
                raise ValueError("set auth or auth_token, not both")
            if token is not None:
                data["auth"] = {"type": "bearer", "token": token}
        return data

    @field_validator("batch", mode="before")
    @classmethod
    def _batch_flag(cls, value: Any) -> Any:
        if value is True:
            return {}
        return None if value is False else value

    @model_validator(mode="after")
    def _consistent(self) -> GenericHttpSettings:
        if self.method == "GET" and self.body != "query":
            raise ValueError('body: a GET request carries no body; set body = "query"')
        if self.batch is not None and self.body != "json":
            raise ValueError('batch: batches need body = "json"')
        both = sorted(set(self.permanent_codes) & set(self.transient_codes))
        if both:
            raise ValueError(f"permanent_codes: {both[0]!r} is also in transient_codes")
        for where, template in self.templates().items():
            _check_on_sample(template, where, self.brandname)
        return self

    def templates(self) -> dict[str, BodyTemplate]:
        """Every template, compiled and checked, by field name (``template``, ``batch.…``)."""
        found = {"template": compile_template(self.template, "template", MESSAGE_VARIABLES)}
        if self.body != "json":
            for key, value in self.template.items():
                if isinstance(value, dict | list):
                    raise ValueError(
                        f'template.{key}: {self.body} bodies are flat; nest only with body = "json"'
                    )
        if self.batch is not None:
            found["batch.template"] = compile_template(
                self.batch.template, "batch.template", BATCH_VARIABLES
            )
            if self.batch.item_template is not None:
                found["batch.item_template"] = compile_template(
                    self.batch.item_template, "batch.item_template", MESSAGE_VARIABLES
                )
        return found

    def host(self) -> str:
        """The gateway's host, the only part of its address logs and errors name."""
        return self.url.host or "gateway"
