"""ZNS templates: what a template declares, and filling its parameters for one message.

Template info (``GET <zns_url>/template/info/v2?template_id=…``)::

    {"error": 0, "message": "Success", "data": {"templateId": 231677,
     "templateName": "...", "status": "ENABLE", "listParams": [{"name": "customer_name",
     "require": true, "type": "STRING", "maxLength": 30, "minLength": 0,
     "acceptNull": false}], ...}}

A parameter's value comes from ``[channels.zalo.zns.params]`` (a Jinja text), else from
the announcement's variable of the same name, else from the message field of the same
name (``title``, ``body``, …). Values are checked against the declared parameters before
anything is sent; a problem fails the message with a reason, never a truncated text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

_env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


@dataclass(frozen=True)
class TemplateParam:
    """One parameter a template declares."""

    name: str
    required: bool = True
    type: str = "STRING"
    max_length: int | None = None
    min_length: int | None = None


@dataclass(frozen=True)
class TemplateInfo:
    """A ZNS template as Zalo describes it."""

    id: str
    name: str
    status: str
    params: tuple[TemplateParam, ...]

    def to_json(self) -> dict[str, Any]:
        """The form kept in the store."""
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "params": [p.__dict__ for p in self.params],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TemplateInfo:
        """Back from :meth:`to_json`."""
        params = tuple(TemplateParam(**p) for p in data["params"])
        return cls(str(data["id"]), str(data["name"]), str(data["status"]), params)


def parse_info(template_id: str, data: Any) -> TemplateInfo:
    """The ``data`` of a template-info answer; ``ValueError`` when it cannot be read."""
    if not isinstance(data, Mapping) or not isinstance(data.get("listParams"), list):
        raise ValueError(f"Zalo's description of template {template_id} has no listParams")
    params = []
    for item in data["listParams"]:
        if not isinstance(item, Mapping) or not item.get("name"):
            raise ValueError(f"a parameter of template {template_id} has no name")
        params.append(
            TemplateParam(
                name=str(item["name"]),
                required=bool(item.get("require", True)),
                type=str(item.get("type") or "STRING").upper(),
                max_length=_int(item.get("maxLength")),
                min_length=_int(item.get("minLength")),
            )
        )
    status = str(data.get("status") or "ENABLE").upper()
    return TemplateInfo(template_id, str(data.get("templateName") or ""), status, tuple(params))


def fill(
    info: TemplateInfo, rules: Mapping[str, str], context: Mapping[str, Any]
) -> tuple[dict[str, str], list[str]]:
    """``template_data`` for one message, and the problems that keep it from being sent."""
    problems: list[str] = []
    if info.status != "ENABLE":
        problems.append(f"ZNS template {info.id} is {info.status}: only enabled templates send")
    data: dict[str, str] = {}
    for param in info.params:
        try:
            value = _value(param.name, rules, context)
        except jinja2.TemplateError as exc:
            problems.append(f"parameter {param.name!r} of template {info.id}: {exc}")
            continue
        problem = _check(info.id, param, value)
        if problem:
            problems.append(problem)
        elif value:
            data[param.name] = value
    return data, problems


def _value(name: str, rules: Mapping[str, str], context: Mapping[str, Any]) -> str:
    if name in rules:
        return _env.from_string(rules[name]).render(context).strip()
    variables = context.get("variables") or {}
    if name in variables:
        return str(variables[name]).strip()
    value = context.get(name)
    return "" if value is None or isinstance(value, Mapping) else str(value).strip()


def _check(template: str, param: TemplateParam, value: str) -> str | None:
    where = f"parameter {param.name!r} of ZNS template {template}"
    if not value:
        if not param.required:
            return None
        return (
            f"{where} has no value: add a variable {param.name!r} to the announcement or "
            f"set [channels.zalo.zns.params] {param.name}"
        )
    if param.max_length is not None and len(value) > param.max_length:
        return f"{where} is {len(value)} characters; the template takes at most {param.max_length}"
    if param.min_length is not None and len(value) < param.min_length:
        return f"{where} is {len(value)} characters; the template needs at least {param.min_length}"
    if param.type == "NUMBER" and not _is_number(value):
        return f"{where} must be a number, not {value!r}"
    return None


def _is_number(value: str) -> bool:
    try:
        float(value.replace(",", ""))
    except ValueError:
        return False
    return True


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
