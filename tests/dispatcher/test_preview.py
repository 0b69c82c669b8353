"""Preview: per channel, the text, the channel's verdict and who would be reached."""

from __future__ import annotations

from engine_helpers import directory
from scripted import scripted

from schemas import AnnouncementIn, ChannelPreview, Preview


def draft(**fields: object) -> AnnouncementIn:
    data = {
        "title": "T",
        "body": "Chào {{ contact.name }}",
        "channels": ["sms", "email"],
        "audience": {"areas": ["01"]},
    }
    data.update(fields)
    return AnnouncementIn.model_validate(data)


async def test_preview_counts_recipients_and_suppressions_without_writing(
    dispatcher_factory,
) -> None:
    d = await dispatcher_factory({"sms": scripted("sms"), "email": scripted("email")})
    await directory(d, per_commune=3)
    await d.services.opt_out("sms", "+84910000000", "test")
    got = await d.services.preview(
        draft(audience={"areas": ["01"], "addresses": {"sms": ["+84910000001"]}})
    )
    assert (
        Preview(
            channels=[
                ChannelPreview(
                    channel="sms",
                    text="Chào Người 0",
                    details={"characters": 12},
                    recipients=5,
                    # +84910000001 is listed and is a contact's too: one message, once counted.
                    suppressed={"opted out of this channel": 1, "duplicate": 1},
                ),
                ChannelPreview(
                    channel="email",
                    text="Chào Người 0",
                    details={"characters": 12},
                    recipients=0,
                    suppressed={"no address for this channel": 6},
                ),
            ],
            recipients=5,
            duplicates=1,
        )
        == got
    )
    assert [] == (await d.services.list_announcements()).items


async def test_preview_reports_what_a_channel_refuses(dispatcher_factory) -> None:
    d = await dispatcher_factory({"sms": scripted("sms", max_length=5), "email": scripted("email")})
    got = await d.services.preview(
        draft(body="too long for sms", audience={"addresses": {"sms": ["+84910000001"]}})
    )
    [sms, email] = got.channels
    assert ["takes at most 5" in p for p in sms.problems] == [True]
    assert [] == email.problems
