"""Settings: a TOML file, then THONGBAO_* variables, then flags; secrets by reference."""

from __future__ import annotations

from pathlib import Path

import pluggy
import pytest

from dispatcher.config import Settings, load_settings
from dispatcher.errors import ConfigError
from dispatcher.registry import ChannelRegistry


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def toml(tmp_path: Path) -> Path:
    return write(
        tmp_path / "thongbao.toml",
        """
db = "/var/lib/thongbao/main.db"
log_level = "debug"

[api]
port = 9000

[worker]
poll_interval = 0.25

[channels.sms.sandbox]
receipt_delay = 0.2
""",
    )


def test_file_values_are_read(toml: Path) -> None:
    settings = load_settings(toml, env={})
    assert ("/var/lib/thongbao/main.db", "debug", 9000, 0.25) == (
        settings.db,
        settings.log_level,
        settings.api.port,
        settings.worker.poll_interval,
    )
    assert {"sms": {"sandbox": {"receipt_delay": 0.2}}} == settings.channels


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    assert Settings() == settings
    assert ("thongbao.db", "127.0.0.1", 8080) == (settings.db, settings.api.host, settings.api.port)


def test_thongbao_toml_in_the_working_folder_is_read(
    toml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(toml.parent)
    assert 9000 == load_settings(env={}).api.port


def test_thongbao_config_names_the_file(tmp_path: Path, toml: Path) -> None:
    other = write(tmp_path / "other.toml", "[api]\nport = 9100\n")
    assert 9100 == load_settings(env={"THONGBAO_CONFIG": str(other)}).api.port


def test_environment_beats_the_file(toml: Path) -> None:
    env = {"THONGBAO_DB": "env.db", "THONGBAO_PORT": "9001", "THONGBAO_HOST": "0.0.0.0"}
    settings = load_settings(toml, env=env)
    assert ("env.db", 9001, "0.0.0.0") == (settings.db, settings.api.port, settings.api.host)


def test_flags_beat_the_environment(toml: Path) -> None:
    settings = load_settings(
        toml,
        env={"THONGBAO_DB": "env.db", "THONGBAO_PORT": "9001"},
        overrides={"db": "flag.db", "api.port": 9002, "data_dir": None},
    )
    assert ("flag.db", 9002) == (settings.db, settings.api.port)
    assert Path("thongbao-data") == settings.data_dir


def test_public_url_defaults_to_host_and_port(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path / "t.toml", "[api]\nport = 9000\n"), env={})
    assert "http://127.0.0.1:9000" == settings.public_url
    explicit = load_settings(
        tmp_path / "t.toml", env={"THONGBAO_PUBLIC_URL": "https://thongbao.example.vn"}
    )
    assert "https://thongbao.example.vn" == explicit.public_url


def test_env_secret_is_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TB_TEST_SMS_TOKEN", "s3cret")
    path = write(
        tmp_path / "t.toml",
        '[channels.sms.http]\nauth_token = { "$env" = "TB_TEST_SMS_TOKEN" }\n',
    )
    assert "s3cret" == load_settings(path, env={}).channels["sms"]["http"]["auth_token"]


def test_file_secret_is_resolved_without_its_newline(tmp_path: Path) -> None:
    secret = write(tmp_path / "token.txt", "from-a-file\n")
    path = write(
        tmp_path / "t.toml",
        f'[channels.zalo]\naccess_token = {{ "$file" = "{secret}" }}\n',
    )
    assert "from-a-file" == load_settings(path, env={}).channels["zalo"]["access_token"]


def test_missing_env_secret_names_the_variable_and_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TB_TEST_NOT_SET", raising=False)
    path = write(
        tmp_path / "t.toml", '[channels.sms.http]\nauth_token = { "$env" = "TB_TEST_NOT_SET" }\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert "channels.sms.http.auth_token refers to $TB_TEST_NOT_SET: set that variable" == str(
        caught.value
    )


def test_missing_file_secret_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "t.toml", 'secret = { "$file" = "/nonexistent/token" }\n')
    with pytest.raises(ConfigError, match=r"secret refers to file /nonexistent/token"):
        load_settings(path, env={})


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read config file .*nope\.toml"):
        load_settings(tmp_path / "nope.toml", env={})


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.toml", "[api\nport = 1\n")
    with pytest.raises(ConfigError, match=r"config file .*broken\.toml is not valid TOML"):
        load_settings(path, env={})


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param("[api]\nport = 'eighty'\n", "api.port", id="wrong-type"),
        pytest.param("[api]\nport = 70000\n", "api.port", id="out-of-range"),
        pytest.param("[apii]\nport = 1\n", "apii", id="unknown-section"),
        pytest.param("[worker]\nlease_seconds = 0\n", "worker.lease_seconds", id="not-positive"),
    ],
)
def test_invalid_values_name_the_field(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path / "t.toml", text)
    with pytest.raises(ConfigError, match=rf"^invalid settings: {where}: "):
        load_settings(path, env={})


def test_bad_environment_value_names_the_field(toml: Path) -> None:
    with pytest.raises(ConfigError, match=r"api\.port"):
        load_settings(toml, env={"THONGBAO_PORT": "http"})


def test_the_example_file_holds_the_defaults_and_valid_channel_settings(
    pm: pluggy.PluginManager,
) -> None:
    settings = load_settings(Path(__file__).parents[2] / "thongbao.example.toml", env={})
    assert Settings(channels=settings.channels) == settings
    registry = ChannelRegistry.from_plugins(pm)
    assert set(registry.names()) == set(settings.channels)
    for name, raw in settings.channels.items():
        registry.get(name).settings.model_validate(raw)
