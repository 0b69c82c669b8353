"""The ``thongbao`` command.

``serve`` and ``worker`` run the engine; every other command opens the store directly (see
:mod:`dispatcher.cli_support`) and returns. Plugins add commands through the
``register_commands`` hook, loaded the first time a command is looked up.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path
from typing import Any

import click
import pluggy
import structlog

from dispatcher import heap
from dispatcher import logging as tb_logging
from dispatcher.cli_import import areas, contacts
from dispatcher.cli_preview import preview
from dispatcher.cli_send import send
from dispatcher.cli_status import deliveries, status
from dispatcher.cli_support import (
    CliState,
    default_log_level,
    open_services,
    pass_state,
    plugin_manager,
    reported_errors,
    run,
)
from dispatcher.config import Settings
from dispatcher.errors import ConfigError
from dispatcher.keys import Role
from dispatcher.plugins import DEFAULT_PLUGINS, ENTRY_POINT_GROUP, PluginInfo, get_plugins
from dispatcher.registry import ChannelRegistry
from dispatcher.store.sqlite_memory import turn_off_memory_statistics

log = structlog.get_logger(__name__)

_LEVELS = ("debug", "info", "warning", "error", "critical")
_BUILTIN_NAMES = frozenset(path.rsplit(".", 1)[-1] for path in DEFAULT_PLUGINS)


class ThongbaoGroup(click.Group):
    """The top-level group: reports thongbao's errors cleanly and adds plugin commands."""

    _plugin_commands_added = False

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # Logging must be set up before plugins load, so that a broken plugin is reported
        # on stderr and never pollutes stdout (``keys create`` prints only the token).
        try:
            tb_logging.configure(default_log_level())
        except ConfigError:
            tb_logging.configure("warning")  # click reports the bad --log-level value itself
        return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        with reported_errors():
            return super().invoke(ctx)

    def add_plugin_commands(self, pm: pluggy.PluginManager) -> None:
        """Let every plugin add its commands (``register_commands``), once.

        Each plugin is called on its own, so one that raises costs only its own commands;
        a plugin may add commands but not replace a built-in one.
        """
        if self._plugin_commands_added:
            return
        self._plugin_commands_added = True
        builtin = dict(self.commands)
        for impl in pm.hook.register_commands.get_hookimpls():
            try:
                impl.function(cli=self)
            except Exception as exc:
                log.error(
                    "plugin_commands_failed", plugin=pm.get_name(impl.plugin), error=repr(exc)
                )
        for name, command in builtin.items():
            if self.commands.get(name) is not command:
                log.error("plugin_command_clash", command=name)
                self.commands[name] = command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.add_plugin_commands(plugin_manager())
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self.add_plugin_commands(plugin_manager())
        return super().get_command(ctx, cmd_name)


@click.group(cls=ThongbaoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="THONGBAO_CONFIG",
    show_envvar=True,
    help="TOML settings file (default: ./thongbao.toml when present).",
)
@click.option(
    "--db",
    metavar="PATH",
    envvar="THONGBAO_DB",
    show_envvar=True,
    help="SQLite database file (default: thongbao.db).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="THONGBAO_DATA_DIR",
    show_envvar=True,
    help="Folder for outboxes and files (default: thongbao-data).",
)
@click.option(
    "--log-level",
    type=click.Choice(_LEVELS, case_sensitive=False),
    envvar="THONGBAO_LOG_LEVEL",
    show_envvar=True,
    help="Least severe log level written to stderr.",
)
@click.version_option(package_name="thongbao")
@click.pass_context
def main(
    ctx: click.Context,
    config: Path | None,
    db: str | None,
    data_dir: Path | None,
    log_level: str | None,
) -> None:
    """thongbao: send public announcements over SMS, Zalo, e-mail, the web and ward
    loudspeakers, and follow every delivery.

    Start the service with `thongbao serve`; the other commands work on the same database.
    """
    # Before any command opens the store: SQLite's threads would otherwise queue for the
    # one mutex its allocation statistics take (see dispatcher.store.sqlite_memory).
    turn_off_memory_statistics()
    overrides = {"db": db, "data_dir": str(data_dir) if data_dir else None, "log_level": log_level}
    state = ctx.ensure_object(CliState)
    state.config = config
    state.override(overrides)


# Seconds a thread may keep the interpreter while another waits for it (Python's default
# is 5 ms). The store's writer thread needs it back after each SQL statement, while the
# event loop runs a send; a transaction of 8 ms of CPU took 24 ms during a single-endpoint
# send (bench/store_trace.py). At 1 ms, batch sends went 7.8 % faster (five interleaved
# pairs, medians 18,327 against 17,004 deliveries/s); single-endpoint ones were unchanged.
SWITCH_INTERVAL = 0.001


def _serve(settings: Settings, *, api: bool) -> None:
    # Imported here: the engine and the web app are not needed by the one-shot commands.
    from dispatcher.server import serve

    # Set by the command, not by serve(): the interval is the whole process's, and an
    # application embedding thongbao keeps its own.
    sys.setswitchinterval(SWITCH_INTERVAL)

    def started(url: str | None) -> None:
        # Before the first send: what the start built lives as long as the process.
        log.info("heap_settled", frozen=heap.settle())
        where = f"listening on {url}" if url else f"working on {settings.db}"
        click.echo(f"thongbao {where} (Ctrl-C to stop)")

    run(serve(settings, api=api, on_started=started))
    click.echo("thongbao stopped")


@main.command(short_help="Run the API, the scheduler and the workers.")
@click.option("--host", help="Interface to listen on (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port to listen on (default 8080).")
@pass_state
def serve(state: CliState, host: str | None, port: int | None) -> None:
    """Run the HTTP API, the scheduler and the workers in one process."""
    state.service = True
    state.override({"api.host": host, "api.port": port})
    _serve(state.settings, api=True)


@main.command(short_help="Run the scheduler and the workers, without the API.")
@pass_state
def worker(state: CliState) -> None:
    """Run the scheduler and the workers only, without the HTTP API."""
    state.service = True
    _serve(state.settings, api=False)


@main.group()
def keys() -> None:
    """Manage API keys."""


@keys.command("create")
@click.option(
    "--role",
    required=True,
    type=click.Choice([role.value for role in Role]),
    help="What the key may do: staff, system, operator or admin.",
)
@click.option("--name", default="", help="A label to recognise the key by.")
@pass_state
def keys_create(state: CliState, role: str, name: str) -> None:
    """Create an API key and print its token, alone, on stdout (it is shown only once)."""

    async def create() -> str:
        async with open_services(state.settings) as services:
            _, token = await services.create_api_key(Role(role), name)
            return token

    click.echo(run(create()))


@main.command(short_help="Cancel an announcement.")
@click.argument("announcement_id")
@pass_state
def cancel(state: CliState, announcement_id: str) -> None:
    """Cancel an announcement: what has not gone out yet stops."""

    async def cancel_it() -> str:
        async with open_services(state.settings) as services:
            announcement = await services.cancel_announcement(announcement_id)
            return announcement.status.value

    outcome = run(cancel_it())
    click.echo(f"{announcement_id}: {outcome}")


def _version(info: PluginInfo) -> str | None:
    # pluggy knows the distribution only of plugins it loaded itself; ours are registered
    # by hand (built-ins by module path), so look the version up from the entry point.
    if info.version is not None:
        return info.version
    if info.name in _BUILTIN_NAMES:
        return importlib.metadata.version("thongbao")
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=info.name):
        if ep.dist is not None:
            return ep.dist.version
    return None


def _plugins_report() -> dict[str, Any]:
    pm = plugin_manager()
    registry = ChannelRegistry.from_plugins(pm)
    return {
        "plugins": [
            {
                "name": p.name,
                "version": _version(p),
                "builtin": p.name in _BUILTIN_NAMES,
                "hooks": list(p.hooks),
            }
            for p in get_plugins(pm)
        ],
        "channels": [
            {"name": s.name, "origin": registry.origin(s.name), "description": s.description}
            for s in registry
        ],
    }


@main.command(short_help="List plugins and the channels they declare.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins(as_json: bool) -> None:
    """List the loaded plugins (version, hooks) and the channels they declare."""
    with reported_errors():
        report = _plugins_report()
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    click.echo("Plugins:")
    for p in report["plugins"]:
        origin = "built-in" if p["builtin"] else "installed"
        click.echo(
            f"  {p['name']:<14} {p['version'] or '-':<9} {origin:<10} {', '.join(p['hooks'])}"
        )
    click.echo("Channels:")
    for c in report["channels"]:
        click.echo(f"  {c['name']:<14} {c['origin']}")
        if c["description"]:
            click.echo(f"  {'':<14} {c['description']}")


main.add_command(send)
main.add_command(preview)
main.add_command(status)
main.add_command(deliveries)
main.add_command(contacts)
main.add_command(areas)


if __name__ == "__main__":  # python -m dispatcher.cli, where the thongbao script is not installed
    main()
