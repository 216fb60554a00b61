"""resolve(): flags, then the environment, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from symphony_actors.config import DEFAULT_PORT, resolve
from symphony_actors.domain.errors import ConfigError


def test_defaults_follow_xdg(tmp_path: Path) -> None:
    addr = resolve(env={"HOME": str(tmp_path)})
    assert addr.port == DEFAULT_PORT
    assert addr.data_dir == (tmp_path / ".local" / "share" / "symphony").resolve()
    addr = resolve(env={"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg")})
    assert addr.data_dir == (tmp_path / "xdg" / "symphony").resolve()


def test_a_relative_xdg_data_home_is_ignored(tmp_path: Path) -> None:
    addr = resolve(env={"HOME": str(tmp_path), "XDG_DATA_HOME": "relative/dir"})
    assert addr.data_dir == (tmp_path / ".local" / "share" / "symphony").resolve()


def test_environment_beats_defaults_and_flags_beat_environment(tmp_path: Path) -> None:
    env = {"SYMPHONY_PORT": "20001", "SYMPHONY_HOME": str(tmp_path / "env-home"), "HOME": str(tmp_path)}
    addr = resolve(env=env)
    assert (addr.port, addr.data_dir) == (20001, (tmp_path / "env-home").resolve())
    addr = resolve(20002, tmp_path / "flag-home", env=env)
    assert (addr.port, addr.data_dir) == (20002, (tmp_path / "flag-home").resolve())
    assert resolve("20003", env=env).port == 20003


def test_empty_environment_values_mean_unset(tmp_path: Path) -> None:
    addr = resolve(env={"SYMPHONY_PORT": "", "SYMPHONY_HOME": "", "HOME": str(tmp_path)})
    assert addr.port == DEFAULT_PORT
    assert addr.data_dir == (tmp_path / ".local" / "share" / "symphony").resolve()


def test_tilde_and_relative_dirs_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve(data_dir="~/sym", env={}).data_dir == (tmp_path / "sym").resolve()
    monkeypatch.chdir(tmp_path)
    assert resolve(data_dir="rel", env={}).data_dir == (tmp_path / "rel").resolve()


@pytest.mark.parametrize("port", ["abc", "1.5", 80, 0, 65536, -1])
def test_bad_ports_are_config_errors_that_say_why(port: int | str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(port, env={})
    assert "port" in str(info.value)


def test_bad_port_from_the_environment_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        resolve(env={"SYMPHONY_PORT": "nope"})
    assert "SYMPHONY_PORT" in str(info.value)


def test_derived_paths(tmp_path: Path) -> None:
    addr = resolve(20010, tmp_path, env={})
    assert addr.run_dir == tmp_path.resolve() / "run"
    assert addr.pid_file == tmp_path.resolve() / "run" / "symphony-20010.pid"
    assert addr.log_file == tmp_path.resolve() / "logs" / "symphony-20010.log"


def test_the_process_environment_is_read_when_none_is_given(monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    monkeypatch.setenv("SYMPHONY_PORT", "20020")
    monkeypatch.setenv("SYMPHONY_HOME", str(tmp_path))
    addr = resolve()
    assert (addr.port, addr.data_dir) == (20020, tmp_path.resolve())
