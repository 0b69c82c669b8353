"""Rendering: per-channel content, variables, and templates checked at intake."""

from __future__ import annotations

from dispatcher.render import Rendered, render, template_problems, uses_contact
from schemas import AnnouncementIn


def announcement(**fields: object) -> AnnouncementIn:
    data = {"title": "T", "body": "B", "channels": ["sms", "email"], "audience": {"areas": ["01"]}}
    data.update(fields)
    return AnnouncementIn.model_validate(data)


def test_channel_override_wins_on_that_channel_only() -> None:
    a = announcement(body="long body", content={"sms": {"body": "short"}})
    assert Rendered("T", "short") == render(a, "sms")
    assert Rendered("T", "long body") == render(a, "email")


def test_variables_and_contact_fields_fill_the_template() -> None:
    a = announcement(body="{{ contact.name }}: nước cúp lúc {{ gio }}", variables={"gio": "9h"})
    assert "Lan: nước cúp lúc 9h" == render(a, "sms", {"name": "Lan"}).body


def test_a_text_names_the_contact_only_where_it_uses_it() -> None:
    a = announcement(
        title="{{ gio }}",
        body="Họp lúc {{ gio }}",
        variables={"gio": "9h"},
        channels=["sms", "zalo", "email"],
        content={"sms": {"body": "{{ contact.name }} ơi"}, "zalo": {"title": "{{contact}}"}},
    )
    assert uses_contact(a, "sms")
    assert uses_contact(a, "zalo")
    assert not uses_contact(a, "email")  # needs no contact loaded to be rendered


def test_template_reaching_for_python_internals_is_refused_at_intake() -> None:
    a = announcement(body="{{ contact.__class__.__mro__ }}")
    [problem] = template_problems(a)
    assert ["body"] == problem["loc"]
    assert "cannot be rendered" in str(problem["msg"])


def test_unknown_variable_and_syntax_error_are_reported_with_their_place() -> None:
    a = announcement(body="{{ missing }}", content={"sms": {"title": "{% if %}"}})
    problems = template_problems(a)
    assert [["body"], ["content", "sms", "title"]] == [p["loc"] for p in problems]
    assert "missing" in str(problems[0]["msg"])
