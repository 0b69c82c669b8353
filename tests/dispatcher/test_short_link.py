"""``{{ link }}``: the short link to an announcement's public page, in any channel's text."""

from __future__ import annotations

from engine_helpers import announce, directory
from scripted import scripted

from dispatcher import announcement_id, page_url, short_code
from schemas import AnnouncementIn


def test_a_short_code_turns_back_into_its_id() -> None:
    ann_id = "019b76daa80a1b2c3d4e5f"
    code = short_code(ann_id)
    assert (15, ann_id) == (len(code), announcement_id(code))
    assert "https://tb.example.vn/a/" + code == page_url("https://tb.example.vn/", ann_id)


async def test_an_sms_carries_the_link_to_the_public_page(dispatcher_factory) -> None:
    d = await dispatcher_factory(
        {"sms": scripted("sms")}, api={"public_url": "https://tb.example.vn"}
    )
    await directory(d, per_commune=1)
    ann = await announce(
        d, body="Cắt điện. Chi tiết: {{ link }}", audience={"contact_ids": ["c00000"]}
    )
    await d.run(until_idle=True)
    [message] = d.channels["sms"].sent
    assert f"Cắt điện. Chi tiết: https://tb.example.vn/a/{short_code(ann.id)}" == message.body
    preview = await d.services.preview(
        AnnouncementIn.model_validate(
            {"title": "T", "body": "{{ link }}", "channels": ["sms"], "audience": {"areas": ["01"]}}
        )
    )
    assert preview.channels[0].text.startswith("https://tb.example.vn/a/")
