"""Allowed callables, the private data directory and install consent, unit by unit (issue 13, part 3)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from symphony_actors.config import callable_policy, cli_process, ensure_private_dir, private_system
from symphony_actors.domain.callables import (
    DENY_ALL,
    DISALLOWED,
    CallablePolicy,
    check_callables,
    current,
    using,
)
from symphony_actors.domain.errors import ConfigError, PermissionDenied, UsageError
from symphony_actors.domain.workflow import Param, ParamType, Template, Workflow, ref
from symphony_actors.extension_host.consent import danger, dangerous
from symphony_actors.extension_host.registry import Registry
from symphony_actors.pit.dag.operators import call


def caller(path: str) -> Workflow:
    return (Workflow.build("w").operator("c", "builtin.call", params={"callable": path})
            .build(validate=False))


@pytest.mark.parametrize(("pattern", "path", "allowed"), [
    ("math:sqrt", "math:sqrt", True),
    ("math:sqrt", "math:floor", False),
    ("math:*", "math:floor", True),
    ("os.path:*", "os:system", False),
    ("symphony_actors.testing.*:*", "symphony_actors.testing.services:scale", True),
    ("symphony_actors.testing.*:*", "symphony_actors.testingx:f", False),
    ("math:*", "math:sqrt; import os", False),
])
def test_patterns_match_module_and_function(pattern: str, path: str, allowed: bool) -> None:
    assert CallablePolicy.parse([pattern], "t").allows(path) is allowed


def test_a_malformed_pattern_is_a_usage_error_naming_it() -> None:
    with pytest.raises(UsageError, match=r"'os system'"):
        CallablePolicy.parse(["os system"], "t")


def test_nothing_is_allowed_by_default_and_the_problem_names_the_node() -> None:
    assert current() == DENY_ALL
    [problem] = check_callables(caller("math:sqrt"))
    assert (problem.path, problem.kind) == ("nodes[0].params.callable", DISALLOWED)
    assert "node 'c'" in problem.message and "SYMPHONY_ALLOWED_CALLABLES" in problem.message
    assert check_callables(caller("math:sqrt"), CallablePolicy.parse(["math:*"], "t")) == []


def test_validate_reports_it_and_a_template_placeholder_waits_for_instantiation() -> None:
    with pytest.raises(UsageError, match=r"nodes\[0\].params.callable"):
        caller("os:system").validate()
    from symphony_actors.domain.workflow.params import params_from

    template = Template("t", (Workflow.build("w").operator("c", "builtin.call", params={"callable": ref("fn")})
                              .build(validate=False)), params=params_from([Param("fn", ParamType.STRING)]))
    assert not [p for p in template.problems() if p.kind == DISALLOWED]
    with pytest.raises(UsageError, match=r"'os:system'"):
        template.instantiate({"fn": "os:system"})


def test_the_operator_refuses_before_importing(tmp_path: Path) -> None:
    with pytest.raises(PermissionDenied, match=r"'os:system'"):
        call({"callable": "os:system", "kwargs": {"command": f"touch {tmp_path / 'x'}"}}, {})
    assert not (tmp_path / "x").exists()
    with using(CallablePolicy.parse(["math:*"], "t")):
        assert call({"callable": "math:hypot", "kwargs": {}}, {}) == 0.0


def test_the_allow_list_comes_from_the_environment_and_the_data_dir(tmp_path: Path) -> None:
    assert callable_policy(tmp_path, env={}) == DENY_ALL
    (tmp_path / "allowed-callables").write_text("# mine\nmath:sqrt   # roots\n\njson:*\n")
    policy = callable_policy(tmp_path, env={"SYMPHONY_ALLOWED_CALLABLES": "os.path:join, statistics:mean"})
    assert policy.patterns == ("os.path:join", "statistics:mean", "math:sqrt", "json:*")
    (tmp_path / "allowed-callables").write_text("not a pattern\n")
    with pytest.raises(ConfigError, match="allowed-callables"):
        callable_policy(tmp_path, env={})
    with cli_process(None, tmp_path):  # a broken file: the command still runs, nothing allowed
        assert current() == DENY_ALL


def test_a_loose_data_dir_is_tightened_with_its_contents(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "f.db").write_text("x")
    for p, mode in ((data, 0o755), (data / "sub", 0o775), (data / "sub" / "f.db", 0o664)):
        p.chmod(mode)
    tightened = ensure_private_dir(data)
    assert len(tightened) == 3 and "accessible to other users" in capsys.readouterr().err
    assert [stat.S_IMODE(p.stat().st_mode) for p in (data, data / "sub", data / "sub" / "f.db")] == \
        [0o700, 0o700, 0o600]
    assert ensure_private_dir(data) == []


def test_private_system_sets_umask_and_policy_only_inside(tmp_path: Path) -> None:
    before = os.umask(0o022)
    try:
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "allowed-callables").write_text("math:*\n")
        with private_system(tmp_path / "d", env={}) as policy:
            assert current() is policy and policy.allows("math:sqrt")
            (tmp_path / "d" / "new").write_text("x")
        assert stat.S_IMODE((tmp_path / "d" / "new").stat().st_mode) == 0o600
        assert current() == DENY_ALL and os.umask(0o022) == 0o022
    finally:
        os.umask(before)


@pytest.mark.parametrize(("permission", "is_dangerous"), [
    ("net.connect:*:*", True), ("net.connect:api.example.com:443", True), ("process.spawn", True),
    ("fs.write:${workspace}", True), ("fs.write:/etc", True), ("fs.write:${data}/out", False),
    ("fs.write:${tmp}", False), ("fs.write:${extension}", False), ("fs.read:${workspace}", False),
    ("artifact.write", False), ("bus.publish:ext.x.#", False), ("env.read:HOME", False),
])
def test_dangerous_permissions(permission: str, is_dangerous: bool) -> None:
    assert (danger(permission) is not None) is is_dangerous


def test_install_grants_the_dangerous_ones_only_when_asked(tmp_path: Path) -> None:
    folder = tmp_path / "ext"
    folder.mkdir()
    (folder / "extension.toml").write_text(
        'id = "t.spawn"\nversion = "1.0.0"\ntype = "operator"\nname = "x"\ndescription = "d"\nentry = "m:E"\n'
        'permissions = ["process.spawn", "fs.write:${data}", "fs.write:${workspace}"]\n')
    (folder / "m.py").write_text("class E: pass\n")
    (folder / "m.py").chmod(0o644)
    registry = Registry(tmp_path / "reg")
    with pytest.raises(PermissionDenied) as err:
        registry.install(folder)
    assert err.value.details["permissions"] == dangerous(["process.spawn", "fs.write:${workspace}"])
    assert registry.list() == []
    safe = registry.install(folder, grant=False)
    assert safe.granted == ("fs.write:${data}",)
    registry.remove("t.spawn")
    assert registry.install(folder, grant=True).granted == ("process.spawn", "fs.write:${data}",
                                                            "fs.write:${workspace}")
    installed = registry.get("t.spawn").path / "m.py"
    assert stat.S_IMODE(installed.stat().st_mode) == 0o600
    registry.close()
