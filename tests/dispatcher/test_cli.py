"""The ``thongbao`` command, run in-process with click's CliRunner on a temporary database."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pluggy
import pytest
import structlog
from click.testing import CliRunner, Result

from dispatcher import hookspecs
from dispatcher.cli import ThongbaoGroup, main
from dispatcher.config import load_settings
from dispatcher.engine import Dispatcher
from dispatcher.keys import hash_token
from dispatcher.plugins import make_plugin_manager
from dispatcher.store.sqlite import SQLiteStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COMMANDS = (
    "areas",
    "cancel",
    "contacts",
    "deliveries",
    "keys",
    "plugins",
    "preview",
    "send",
    "serve",
    "status",
    "worker",
)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """The CLI configures logging for its process; put the test process's back."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with a config file: sandbox receipts come at once."""
    monkeypatch.chdir(tmp_path)
    for name in ("THONGBAO_DB", "THONGBAO_CONFIG", "THONGBAO_DATA_DIR", "THONGBAO_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "thongbao.toml").write_text(
        'db = "cli.db"\ndata_dir = "data"\n[worker]\npoll_interval = 0.02\n'
        "[channels.sms.sandbox]\nreceipt_delay = 0\n[channels.zalo.sandbox]\nreceipt_delay = 0\n"
    )
    return tmp_path


Invoke = Callable[..., Result]


@pytest.fixture
def cli(workdir: Path) -> Invoke:
    """Run ``thongbao ARGS``; asserts the exit code (0 unless told)."""

    def invoke(*args: str, code: int = 0, stdin: str | None = None) -> Result:
        result = CliRunner().invoke(main, list(args), input=stdin)
        assert code == result.exit_code, (result.output, result.exception)
        return result

    return invoke


def drain(workdir: Path) -> None:
    """Run the engine on the CLI's database until no work is left."""

    async def run() -> None:
        settings = load_settings(workdir / "thongbao.toml", env={})
        async with Dispatcher(settings, pm=make_plugin_manager(entrypoints=False)) as dispatcher:
            await dispatcher.drain()

    asyncio.run(run())


def import_examples(cli: Invoke) -> None:
    cli("areas", "import", str(EXAMPLES / "areas.csv"))
    cli("contacts", "import", str(EXAMPLES / "contacts.csv"))


# -- help ----------------------------------------------------------------------------------
def test_help_lists_every_command_with_a_help_line(cli: Invoke) -> None:
    output = cli("--help").stdout
    listed = {
        line.split()[0]: line.split(maxsplit=1)[1:]
        for line in output.split("Commands:")[1].splitlines()
        if line.strip()
    }
    assert set(COMMANDS) <= set(listed)
    assert all(listed[name] for name in COMMANDS), listed


@pytest.mark.parametrize("command", [*COMMANDS, "keys create", "contacts import", "areas import"])
def test_every_command_has_help(cli: Invoke, command: str) -> None:
    assert "Usage: " in cli(*command.split(), "--help").stdout


def test_global_options_are_documented(cli: Invoke) -> None:
    output = cli("--help").stdout
    for option in ("--config", "--db", "--data-dir", "--log-level", "THONGBAO_DB"):
        assert option in output


# -- keys ----------------------------------------------------------------------------------
def test_keys_create_prints_the_token_alone(cli: Invoke, workdir: Path) -> None:
    result = cli("keys", "create", "--role", "operator", "--name", "trực ban")
    token = result.stdout.removesuffix("\n")
    assert token.startswith("tb_") and "\n" not in token and " " not in token

    async def lookup() -> tuple[str, str] | None:
        store = SQLiteStore(workdir / "cli.db")
        await store.open()
        try:
            key = await store.find_api_key(hash_token(token))
            return (key.role, key.name) if key else None
        finally:
            await store.close()

    assert ("operator", "trực ban") == asyncio.run(lookup())


def test_keys_create_refuses_an_unknown_role(cli: Invoke) -> None:
    result = cli("keys", "create", "--role", "king", code=2)
    assert "'king' is not one of" in result.stderr


def test_db_option_chooses_the_database(cli: Invoke, workdir: Path) -> None:
    cli("--db", "other.db", "keys", "create", "--role", "staff")
    assert (workdir / "other.db").exists()
    assert not (workdir / "cli.db").exists()


# -- plugins -------------------------------------------------------------------------------
def test_plugins_lists_built_ins_and_their_channels(cli: Invoke) -> None:
    report = json.loads(cli("plugins", "--json").stdout)
    plugins = {p["name"]: p for p in report["plugins"]}
    channels = {c["name"]: c["origin"] for c in report["channels"]}
    assert {"sms", "zalo", "email", "web", "loudspeaker"} <= set(plugins)
    assert "register_channels" in plugins["sms"]["hooks"]
    assert plugins["sms"]["builtin"] and plugins["sms"]["version"]
    assert "plugin 'sms' (plugins.sms)" == channels["sms"]


def test_plugins_table_shows_channels_with_origin(cli: Invoke) -> None:
    output = cli("plugins").stdout
    assert "Plugins:" in output and "Channels:" in output
    assert any(line.split()[:2] == ["zalo", "plugin"] for line in output.splitlines())


def fresh_group() -> ThongbaoGroup:
    group = ThongbaoGroup("thongbao")

    @group.command()
    def serve() -> None:
        """The built-in serve."""

    return group


def plugin_pm(*plugins: object) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("thongbao")
    pm.add_hookspecs(hookspecs)
    for number, plugin in enumerate(plugins):
        pm.register(plugin, name=f"p{number}")
    return pm


class AddsHello:
    @hookspecs.hookimpl
    def register_commands(self, cli: click.Group) -> None:
        @cli.command()
        def hello() -> None:
            """Say hello."""
            click.echo("xin chào")


class Raises:
    @hookspecs.hookimpl
    def register_commands(self, cli: click.Group) -> None:
        raise RuntimeError("broken plugin")


class ReplacesServe:
    @hookspecs.hookimpl
    def register_commands(self, cli: click.Group) -> None:
        @cli.command("serve")
        def evil() -> None:
            """Not the real serve."""


def test_plugin_commands_are_added_once() -> None:
    group = fresh_group()
    pm = plugin_pm(AddsHello())
    group.add_plugin_commands(pm)
    group.add_plugin_commands(pm)
    assert ["hello", "serve"] == sorted(group.commands)
    assert "xin chào\n" == CliRunner().invoke(group.commands["hello"]).stdout


def test_a_plugin_that_raises_costs_only_its_own_commands() -> None:
    group = fresh_group()
    with structlog.testing.capture_logs() as events:
        group.add_plugin_commands(plugin_pm(Raises(), AddsHello()))
    assert "hello" in group.commands
    assert [("plugin_commands_failed", "p0")] == [
        (e["event"], e["plugin"]) for e in events if e["event"] == "plugin_commands_failed"
    ]


def test_a_plugin_cannot_replace_a_built_in_command() -> None:
    group = fresh_group()
    builtin = group.commands["serve"]
    with structlog.testing.capture_logs() as events:
        group.add_plugin_commands(plugin_pm(ReplacesServe()))
    assert builtin is group.commands["serve"]
    assert ["plugin_command_clash"] == [e["event"] for e in events]


# -- contacts and areas --------------------------------------------------------------------
def test_importing_the_examples(cli: Invoke) -> None:
    assert "imported 22 areas\n" == cli("areas", "import", str(EXAMPLES / "areas.csv")).stdout
    assert (
        "imported 1000 contacts\n"
        == cli("contacts", "import", str(EXAMPLES / "contacts.csv")).stdout
    )


def test_old_codes_partial_import_consent_export_and_erasure(cli: Invoke, workdir: Path) -> None:
    assert "loaded 3355 official areas\n" == cli("areas", "load-official").stdout
    assert "00004\tPhường Ba Đình\t01" in cli("areas", "search", "phuong ba dinh").stdout
    rows = workdir / "old.csv"
    rows.write_text("id,name,old_area_code,sms\nh1,A,00001,0912345678\nh2,B,99999,0912345679\n")
    cli("contacts", "import", str(rows), code=1)
    result = cli("contacts", "import", "--partial", str(rows))
    assert "imported 1 contacts (1 pre-2025 area codes mapped); 1 row(s) left out" in result.stdout
    cli("contacts", "consent", "h1", "sms", "out", "--source", "gọi điện")
    [line] = cli("contacts", "export").stdout.splitlines()
    exported = json.loads(line)
    assert ("00097", ["sms"]) == (exported["area_code"], exported["opt_outs"])
    cli("contacts", "erase", "h1")
    assert "" == cli("contacts", "export").stdout


def test_bad_rows_are_listed_and_nothing_is_imported(cli: Invoke, workdir: Path) -> None:
    bad = workdir / "bad.csv"
    bad.write_text("id,name,area_code,sms\nc1,An,01,0912345678\nc1,Bình,01,\n,Chi,@@,\n")
    result = cli("contacts", "import", str(bad), code=1)
    assert [
        "row 2: id 'c1' repeats row 1",
        "row 3: id: Field required; area_code: String should match pattern '^[A-Za-z0-9._-]+$'",
    ] == result.stdout.splitlines()
    assert "nothing imported: 2 bad row(s)" in result.stderr
    cli("send", "--title", "t", "--body", "b", "--channel", "sms", "--contact", "c1")
    good = workdir / "good.json"
    good.write_text(json.dumps([{"id": "c2", "area_code": "01"}]))
    assert "imported 1 contacts\n" == cli("contacts", "import", str(good)).stdout


def test_json_contacts_with_an_unknown_extension_need_format(cli: Invoke, workdir: Path) -> None:
    rows = workdir / "rows.txt"
    rows.write_text(json.dumps({"contacts": [{"id": "c9", "addresses": {"sms": "0912345678"}}]}))
    assert "add --format csv or json" in cli("contacts", "import", str(rows), code=2).stderr
    assert (
        "imported 1 contacts\n" == cli("contacts", "import", "--format", "json", str(rows)).stdout
    )


def test_invalid_json_file_is_a_clear_error(cli: Invoke, workdir: Path) -> None:
    (workdir / "broken.json").write_text("[{")
    result = cli("areas", "import", str(workdir / "broken.json"), code=2)
    assert "is not valid JSON" in result.stderr and "Traceback" not in result.output


# -- send, status, deliveries, cancel -------------------------------------------------------
def test_send_prints_the_id_alone(cli: Invoke) -> None:
    result = cli("send", "--title", "Thử", "--body", "Xin chào", "--to", "sms:0912345678")
    announcement_id = result.stdout.strip()
    assert [announcement_id] == result.stdout.splitlines()
    status = json.loads(cli("status", announcement_id, "--json").stdout)
    assert (announcement_id, "scheduled", ["sms"]) == (
        status["id"],
        status["status"],
        status["channels"],
    )
    assert {"sms": ["0912345678"]} == status["audience"]["addresses"]


def test_send_builds_the_whole_announcement_from_flags(cli: Invoke, workdir: Path) -> None:
    (workdir / "body.txt").write_text("Nội dung {{ place }}")
    announcement_id = cli(
        "send",
        "--title",
        "Bão",
        "--body-file",
        "body.txt",
        "--channel",
        "sms",
        "--channel",
        "zalo",
        "--mode",
        "fallback",
        "--priority",
        "emergency",
        "--area",
        "79",
        "--tag",
        "ngu-dan",
        "--contact",
        "c0001",
        "--var",
        "place=Cần Giờ",
        "--send-at",
        "2030-01-01T08:00:00+07:00",
        "--expires-at",
        "2030-01-01T20:00:00+07:00",
        "--test",
    ).stdout.strip()
    got = json.loads(cli("status", announcement_id, "--json").stdout)
    assert {
        "title": "Bão",
        "body": "Nội dung {{ place }}",
        "channels": ["sms", "zalo"],
        "mode": "fallback",
        "priority": "emergency",
        "test": True,
        "variables": {"place": "Cần Giờ"},
        "send_at": "2030-01-01T08:00:00+07:00",
    } == {
        k: got[k]
        for k in ("title", "body", "channels", "mode", "priority", "test", "variables", "send_at")
    }
    assert (["79"], ["ngu-dan"], ["c0001"]) == (
        got["audience"]["areas"],
        got["audience"]["tags"],
        got["audience"]["contact_ids"],
    )


def test_send_from_a_json_file_with_flags_on_top(cli: Invoke) -> None:
    announcement_id = cli(
        "send", "--json", str(EXAMPLES / "announcement.json"), "--priority", "bulk", "--test"
    ).stdout.strip()
    got = json.loads(cli("status", announcement_id, "--json").stdout)
    assert ("bulk", True, ["sms", "zalo"], ["79"]) == (
        got["priority"],
        got["test"],
        got["channels"],
        got["audience"]["areas"],
    )


def test_idempotency_key_returns_the_first_announcement(cli: Invoke) -> None:
    args = ("send", "--title", "t", "--body", "b", "--to", "sms:0912345678")
    first = cli(*args, "--idempotency-key", "k-1").stdout
    second = cli(*args, "--idempotency-key", "k-1")
    assert first == second.stdout
    assert "already created" in second.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--channel", "fax", "--area", "79"], "no channel named 'fax'", id="unknown-channel"
        ),
        pytest.param(["--channel", "sms"], "the audience is empty", id="no-audience"),
        pytest.param(
            ["--to", "sms:0912345678", "--send-at", "2030-01-01T08:00:00"],
            "send_at has no time zone",
            id="naive-time",
        ),
        pytest.param(["--to", "sms0912345678"], "must look like CHANNEL:ADDRESS", id="bad-to"),
    ],
)
def test_send_refuses_bad_input_cleanly(cli: Invoke, args: list[str], message: str) -> None:
    result = cli("send", "--title", "t", "--body", "b", *args, code=2)
    assert message in result.stderr
    assert "Traceback" not in result.output and "" == result.stdout


def test_status_of_an_unknown_announcement(cli: Invoke) -> None:
    result = cli("status", "nope", code=1)
    assert "Error: no announcement 'nope'\n" == result.stderr


def test_config_error_exits_2_without_traceback(cli: Invoke, workdir: Path) -> None:
    (workdir / "bad.toml").write_text("[api]\nport = 'x'\n")
    result = cli("--config", "bad.toml", "status", "x", code=2)
    assert result.stderr.startswith("Error: invalid settings: api.port")


def test_a_commune_announcement_reaches_exactly_its_contacts(cli: Invoke, workdir: Path) -> None:
    import_examples(cli)
    announcement_id = cli(
        "send",
        "--title",
        "t",
        "--body",
        "Chào {{ contact.name }}",
        "--channel",
        "sms",
        "--area",
        "00070",
    ).stdout.strip()
    drain(workdir)
    status = json.loads(cli("status", announcement_id, "--json").stdout)
    assert ("completed", {"sms": {"delivered": 50}}) == (status["status"], status["counts"])
    table = cli("status", announcement_id).stdout.splitlines()
    assert ["channel", "delivered", "total", "progress"] == table[3].split()
    assert ["sms", "50", "50"] == table[4].split()[:3] and table[4].endswith("100%")
    rows = [
        json.loads(line)
        for line in cli(
            "deliveries", announcement_id, "--limit", "100", "--json"
        ).stdout.splitlines()
    ]
    in_commune = {
        line.split(",")[0]
        for line in (EXAMPLES / "contacts.csv").read_text().splitlines()
        if line.split(",")[2] == "00070"
    }
    assert in_commune == {row["contact_id"] for row in rows}
    assert {"delivered"} == {row["status"] for row in rows}


def test_watch_returns_once_the_announcement_is_finished(cli: Invoke, workdir: Path) -> None:
    announcement_id = cli(
        "send", "--title", "t", "--body", "b", "--to", "sms:0912345678"
    ).stdout.strip()
    drain(workdir)
    output = cli("status", announcement_id, "--watch", "--interval", "0.1").stdout
    assert "status: completed" in output


def test_deliveries_filters_by_status_and_channel(cli: Invoke, workdir: Path) -> None:
    announcement_id = cli(
        "send",
        "--title",
        "t",
        "--body",
        "b",
        "--to",
        "sms:0912345678",
        "--to",
        "zalo:0912345678",
        "--to",
        "sms:not-a-number",
    ).stdout.strip()
    drain(workdir)
    rows = cli("deliveries", announcement_id, "--channel", "sms", "--json").stdout.splitlines()
    assert {("sms", "delivered"), ("sms", "suppressed")} == {
        (json.loads(r)["channel"], json.loads(r)["status"]) for r in rows
    }
    text = cli("deliveries", announcement_id, "--status", "suppressed").stdout.splitlines()
    assert 1 == len(text) and "not-a-number" in text[0]


def test_cancel_stops_what_has_not_gone_out(cli: Invoke, workdir: Path) -> None:
    announcement_id = cli(
        "send",
        "--title",
        "t",
        "--body",
        "b",
        "--to",
        "sms:0912345678",
        "--send-at",
        "2099-01-01T00:00:00+07:00",
    ).stdout.strip()
    assert f"{announcement_id}: cancelled\n" == cli("cancel", announcement_id).stdout
    drain(workdir)
    status: dict[str, Any] = json.loads(cli("status", announcement_id, "--json").stdout)
    assert ("cancelled", {}) == (status["status"], status["counts"])
    assert "no announcement 'nope'" in cli("cancel", "nope", code=1).stderr


# -- preview -------------------------------------------------------------------------------
def test_preview_shows_segments_and_recipients_and_writes_nothing(cli: Invoke) -> None:
    import_examples(cli)
    body = "Ngày mai cắt nước toàn phường từ 8 giờ đến 17 giờ."
    result = cli(
        "preview",
        "--title",
        "Cắt nước",
        "--body",
        body,
        "--channel",
        "sms",
        "--area",
        "79",
        "--as-json",
    )
    [sms] = json.loads(result.output)["channels"]
    assert ("UCS-2", 1, []) == (
        sms["details"]["encoding"],
        sms["details"]["segments"],
        sms["problems"],
    )
    assert sms["recipients"] > 0
    assert [] == asyncio.run(_announcement_ids(workdir_db()))


def workdir_db() -> Path:
    return Path("cli.db")


async def _announcement_ids(db: Path) -> list[str]:
    store = SQLiteStore(db)
    await store.open()
    try:
        return [
            a.id for a in (await store.list_announcements(status=None, after=None, limit=5)).items
        ]
    finally:
        await store.close()


def test_preview_exits_1_when_the_text_is_too_long(cli: Invoke) -> None:
    result = cli("preview", "--title", "T", "--body", "ồ" * 400, "--to", "sms:0912345678", code=1)
    assert "PROBLEM" in result.output
