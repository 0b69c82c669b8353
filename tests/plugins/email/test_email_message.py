"""Building e-mails: safe HTML from light markup; the sandbox keeps the whole .eml."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest

from dispatcher.testing import make_context, make_message
from plugins.email.channel import EmailChannel
from plugins.email.message import render_html
from plugins.email.settings import EmailSettings


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("<b>x</b> & y", "<p>&lt;b&gt;x&lt;/b&gt; &amp; y</p>", id="escaped"),
        pytest.param("a\nb\n\nc", "<p>a<br>\nb</p>\n<p>c</p>", id="paragraphs-and-breaks"),
        pytest.param(
            "Xem https://ubnd.gov.vn/tb?id=1&x=2.",
            '<p>Xem <a href="https://ubnd.gov.vn/tb?id=1&amp;x=2">'
            "https://ubnd.gov.vn/tb?id=1&amp;x=2</a>.</p>",
            id="bare-url-linked",
        ),
        pytest.param(
            'https://x.vn/"><script>',
            '<p><a href="https://x.vn/">https://x.vn/</a>&quot;&gt;&lt;script&gt;</p>',
            id="no-breaking-out-of-href",
        ),
    ],
)
def test_light_markup_becomes_safe_html(body: str, expected: str) -> None:
    assert expected == render_html(body)


async def test_sandbox_keeps_the_whole_eml(tmp_path: Path) -> None:
    channel = EmailChannel(make_context(tmp_path, EmailSettings(), "email"))
    await channel.start()
    try:
        await channel.send([make_message("lan@example.vn", 1, "email")])
    finally:
        await channel.aclose()
    eml = (tmp_path / "email" / "outbox" / "d1-1.eml").read_bytes()
    parsed = message_from_bytes(eml, policy=default)
    assert "Thông báo cắt điện" == parsed["Subject"]
    assert "<tb-d1@localhost.localdomain>" == parsed["Message-ID"]
