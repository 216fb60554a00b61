"""The symphony command: discovered command groups, system options anywhere, one-line errors."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import symphony_actors.commands as commands
from symphony_actors.cli import build_parser, main, one_line
from symphony_actors.domain.errors import Problem, ValidationError

PROBE = textwrap.dedent('''
    """A command group written by the test."""
    from symphony_actors.config import resolve
    from symphony_actors.domain.errors import NotFoundError, Problem, StorageError, ValidationError

    def show(args):
        addr = resolve(args.port, args.data_dir)
        print(f"port={addr.port} dir={addr.data_dir}")
        return 0

    def raise_(error):
        def handler(args):
            raise error
        return handler

    def register(sub):
        p = sub.add_parser("zzprobe", help="print the system address")
        p.set_defaults(func=show)
        group = sub.add_parser("zzgroup", help="a group with its own sub-commands")
        inner = group.add_subparsers(dest="zzinner")
        i = inner.add_parser("inner")
        i.set_defaults(func=show)
        sub.add_parser("zzmissing").set_defaults(func=raise_(NotFoundError("no run 'r9'", run_id="r9")))
        sub.add_parser("zzdisk").set_defaults(func=raise_(StorageError("disk full at /data")))
        sub.add_parser("zzinvalid").set_defaults(func=raise_(ValidationError(
            [Problem("nodes[0]", "no id"), Problem("edges[2]", "cycle a -> b -> a")], subject="workflow")))
        sub.add_parser("zzexit").set_defaults(func=lambda args: 3)
''')


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Adds a command module to symphony_actors.commands, as a feature would."""
    folder = tmp_path / "cmds"
    folder.mkdir()
    (folder / "zzprobe_cmds.py").write_text(PROBE)
    (folder / "_private_helpers.py").write_text("raise RuntimeError('private modules are not imported')\n")
    monkeypatch.setattr(commands, "__path__", [*commands.__path__, str(folder)])
    yield
    sys.modules.pop("symphony_actors.commands.zzprobe_cmds", None)


def test_command_groups_are_discovered(probe: None) -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"zzprobe", "zzgroup", "zzmissing"} <= set(sub.choices)  # type: ignore[attr-defined]


@pytest.mark.parametrize("argv", [
    ["--port", "20100", "--data-dir", "{d}", "zzprobe"],
    ["zzprobe", "--port", "20100", "--data-dir", "{d}"],
    ["--port", "20100", "zzprobe", "--data-dir", "{d}"],
    ["zzgroup", "inner", "--port", "20100", "--data-dir", "{d}"],
    ["--data-dir", "{d}", "zzgroup", "--port", "20100", "inner"],
])
def test_port_and_data_dir_work_before_or_after_the_command(probe: None, argv: list[str], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main([a.format(d=tmp_path) for a in argv]) == 0
    assert capsys.readouterr().out.strip() == f"port=20100 dir={tmp_path.resolve()}"


def test_options_default_to_the_environment(probe: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SYMPHONY_PORT", "20200")
    monkeypatch.setenv("SYMPHONY_HOME", str(tmp_path))
    assert main(["zzprobe"]) == 0
    assert capsys.readouterr().out.strip() == f"port=20200 dir={tmp_path.resolve()}"


@pytest.mark.parametrize(("cmd", "code", "line"), [
    ("zzmissing", 2, "symphony: NotFoundError: no run 'r9'"),
    ("zzdisk", 1, "symphony: StorageError: disk full at /data"),
    ("zzinvalid", 2, "symphony: ValidationError: workflow is invalid (2 problems): nodes[0]: no id; "
                     "edges[2]: cycle a -> b -> a"),
])
def test_errors_print_one_line_with_an_exit_code(probe: None, cmd: str, code: int, line: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Misuse exits 2, failures of the world 1; no traceback."""
    assert main([cmd]) == code
    err = capsys.readouterr().err
    assert err == line + "\n"


def test_bad_config_is_a_one_line_usage_error(probe: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zzprobe", "--port", "80"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symphony: ConfigError: port 80 is out of range")
    assert err.count("\n") == 1


def test_handler_exit_codes_are_returned(probe: None) -> None:
    assert main(["zzexit"]) == 3


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: symphony" in capsys.readouterr().out


def test_unknown_commands_are_argparse_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2


def test_one_line_flattens_multi_line_messages() -> None:
    err = ValidationError([Problem("a", "x")])
    assert one_line(err) == "input is invalid (1 problem): a: x"
