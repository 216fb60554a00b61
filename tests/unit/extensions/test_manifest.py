"""Manifest validation: every field, hostile inputs, every problem reported with its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from symphony_actors.domain.errors import ValidationError
from symphony_actors.extension_host.manifest import MANIFEST_NAME, load_manifest, parse_manifest
from tests.unit.extensions.conftest import manifest_dict


def problems_of(data: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        parse_manifest(data)
    return {p.path: p.message for p in info.value.problems}


def test_a_minimal_manifest_parses_with_defaults() -> None:
    """Only the required fields: defaults for the rest."""
    m = parse_manifest(manifest_dict())
    assert (m.id, str(m.version), m.type, m.entry_module, m.entry_attribute) == \
        ("test.echo", "1.0.0", "operator", "main", "Echo")
    assert m.dependencies == () and m.permissions == () and m.limits.memory_mb == 512


def test_a_full_manifest_round_trips_through_to_dict() -> None:
    """to_dict gives data that parses back to an equal manifest."""
    data = manifest_dict(keywords=["Text", "chunk"], symphony=">=0.1,<1", dependencies={"a.b": ">=1"},
                         permissions=["artifact.read", "bus.publish:ext.echo.#"],
                         limits={"memory_mb": 64, "cpu_share": 0.25, "timeout_s": 5},
                         contributes={"nodes": [{"name": "echo", "inputs": [{"name": "value", "type": "any"}],
                                                 "outputs": [{"name": "echo"}],
                                                 "params": {"type": "object", "properties": {
                                                     "n": {"type": "integer", "default": 2}}}}],
                                      "configuration": {"type": "object"}},
                         license="MIT", homepage="https://example.org")
    m = parse_manifest(data)
    assert m.keywords == ("text", "chunk")
    again = parse_manifest(m.to_dict())
    assert again == m


def test_every_problem_is_reported_at_once_with_its_field() -> None:
    """A manifest wrong everywhere lists a problem for each field."""
    found = problems_of({"id": "Not An Id", "version": "one", "type": "widget", "name": 5, "description": "",
                         "entry": "../../etc/passwd:x", "keywords": "text", "symphony": "~~1",
                         "dependencies": ["a"], "permissions": "all", "limits": {"memory_mb": -1},
                         "contributes": {"nodes": 3}, "surprise": True})
    assert set(found) >= {"id", "version", "type", "name", "entry", "keywords", "symphony", "dependencies",
                          "permissions", "limits.memory_mb", "contributes.nodes", "surprise"}


def test_a_manifest_must_be_a_table() -> None:
    """Lists, strings and None are refused."""
    bad: object
    for bad in ([], "id = 1", None, 42):
        assert "" in problems_of(bad)


def test_missing_required_fields_are_named() -> None:
    """Each required field is reported missing."""
    found = problems_of({})
    assert {k for k, v in found.items() if v == "is required"} == \
        {"id", "version", "type", "name", "description", "entry"}


@pytest.mark.parametrize("value", ["echo", "Test.echo", "test.", ".echo", "a" * 70 + ".b", "test/echo",
                                   "test.echo\n", "tést.echo", "", 7, None])
def test_hostile_ids_are_refused(value: object) -> None:
    """Ids must be publisher.name in lower case."""
    assert "id" in problems_of(manifest_dict(id=value))


@pytest.mark.parametrize("value", ["1.0.0", "2", "0.1.0rc1", "1.0.post2", "3.2.1.dev4"])
def test_pep440_versions_are_accepted(value: str) -> None:
    assert str(parse_manifest(manifest_dict(version=value)).version)


@pytest.mark.parametrize("value", ["latest", "1.0.0-beta+x y", "", "v" * 100, 1.0, ["1"]])
def test_bad_versions_are_refused(value: object) -> None:
    assert "version" in problems_of(manifest_dict(version=value))


@pytest.mark.parametrize("value", ["Operator", "tool", "", None, 1])
def test_unknown_types_are_refused(value: object) -> None:
    data = manifest_dict(type=value)
    assert "type" in problems_of(data)


@pytest.mark.parametrize("field", ["name", "description"])
def test_texts_are_bounded_and_printable(field: str) -> None:
    """Overlong text, control characters and non-strings are refused."""
    values: list[object] = ["x" * 5000, "bell\x07", ["list"]]
    for value in values:
        assert field in problems_of({**manifest_dict(), field: value})


def test_descriptions_may_span_lines_but_names_may_not() -> None:
    assert parse_manifest(manifest_dict(description="one\ntwo")).description == "one\ntwo"
    assert "name" in problems_of(manifest_dict(name="one\ntwo"))


@pytest.mark.parametrize("value", ["main", ":Echo", "main:", "../main:Echo", "/abs:Echo", "a/b:C", "main:Echo()",
                                   "class:Echo", "main:import", "main.:Echo", 3])
def test_hostile_entry_points_are_refused(value: object) -> None:
    """module:Attribute with identifiers only: no paths, no traversal, no keywords."""
    assert "entry" in problems_of(manifest_dict(entry=value))


def test_keywords_are_bounded_lowered_and_deduplicated() -> None:
    assert parse_manifest(manifest_dict(keywords=["A", "a", "b"])).keywords == ("a", "b")
    assert "keywords" in problems_of(manifest_dict(keywords=[str(i) for i in range(30)]))
    assert "keywords[0]" in problems_of(manifest_dict(keywords=["x" * 41]))
    assert "keywords[1]" in problems_of(manifest_dict(keywords=["ok", 5]))


@pytest.mark.parametrize("value", ["=>1", "1.0", ">=1;<2", ">= one", 5])
def test_bad_symphony_ranges_are_refused(value: object) -> None:
    assert "symphony" in problems_of(manifest_dict(symphony=value))


def test_dependencies_need_valid_ids_and_ranges_and_not_self() -> None:
    found = problems_of(manifest_dict(dependencies={"Bad Id": ">=1", "a.b": "=>2", "test.echo": ">=1"}))
    assert set(found) == {"dependencies.Bad Id", "dependencies.a.b", "dependencies.test.echo"}
    assert "itself" in found["dependencies.test.echo"]
    assert "dependencies" in problems_of(manifest_dict(dependencies=[">=1"]))


def test_an_empty_range_means_any_version() -> None:
    m = parse_manifest(manifest_dict(dependencies={"a.b": ""}))
    assert str(m.dependencies[0]) == "a.b"


def test_permissions_are_checked_one_by_one() -> None:
    found = problems_of(manifest_dict(permissions=["artifact.read", "fs.read:relative", "root", "artifact.read"]))
    assert set(found) == {"permissions[1]", "permissions[2]", "permissions[3]"}
    assert "duplicate" in found["permissions[3]"]


@pytest.mark.parametrize("limits,field", [
    ({"memory_mb": 0}, "limits.memory_mb"), ({"memory_mb": 1.5}, "limits.memory_mb"),
    ({"memory_mb": True}, "limits.memory_mb"), ({"memory_mb": 10**9}, "limits.memory_mb"),
    ({"cpu_share": 0}, "limits.cpu_share"), ({"cpu_share": float("nan")}, "limits.cpu_share"),
    ({"cpu_share": float("inf")}, "limits.cpu_share"), ({"timeout_s": -1}, "limits.timeout_s"),
    ({"timeout_s": "10"}, "limits.timeout_s"), ({"swap": 1}, "limits.swap"),
])
def test_limits_are_range_checked(limits: dict[str, Any], field: str) -> None:
    assert field in problems_of(manifest_dict(limits=limits))


def test_node_contributions_are_validated() -> None:
    found = problems_of(manifest_dict(contributes={"nodes": [
        {"name": "Bad Name"},
        {"name": "ok", "inputs": [{"name": "x", "type": "tensor"}, {"name": "x"}, {"name": "2bad"}],
         "params": {"type": "object", "properties": {"n": {"type": "integer", "default": "two"}}, "oneOf": []}},
        {"name": "ok"},
    ], "themes": []}))
    assert {"contributes.nodes[0].name", "contributes.nodes[1].inputs[0].type", "contributes.nodes[1].inputs[1].name",
            "contributes.nodes[1].inputs[2].name", "contributes.nodes[1].params.properties.n.default",
            "contributes.nodes[1].params.oneOf", "contributes.nodes[2].name", "contributes.themes"} <= set(found)


def test_addons_contribute_commands_not_nodes() -> None:
    found = problems_of(manifest_dict(type="addon", contributes={"nodes": [{"name": "x"}],
                                                                 "commands": [{"id": "Bad Id", "title": "t"},
                                                                              {"id": "a.b"}]}))
    assert {"contributes.nodes", "contributes.commands[0].id", "contributes.commands[1].title"} <= set(found)


def test_configuration_must_be_an_object_schema() -> None:
    assert "contributes.configuration.type" in problems_of(
        manifest_dict(contributes={"configuration": {"type": "string"}}))
    assert "contributes.configuration.properties.x.type" in problems_of(
        manifest_dict(contributes={"configuration": {"type": "object", "properties": {"x": {"type": "float"}}}}))


def test_homepage_must_be_http() -> None:
    assert "homepage" in problems_of(manifest_dict(homepage="javascript:alert(1)"))


def test_deeply_nested_schemas_are_refused() -> None:
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(40):
        schema = {"type": "object", "properties": {"x": schema}}
    found = problems_of(manifest_dict(contributes={"configuration": schema}))
    assert any("deeper" in m for m in found.values())


def test_load_manifest_reads_toml_and_checks_the_entry_module(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_NAME).write_text('id = "test.echo"\nversion = "1"\ntype = "operator"\nname = "n"\n'
                                          'description = "d"\nentry = "missing:Echo"\n')
    with pytest.raises(ValidationError) as info:
        load_manifest(tmp_path)
    assert info.value.problems[0].path == "entry"
    (tmp_path / "missing.py").write_text("")
    assert load_manifest(tmp_path).id == "test.echo"


def test_load_manifest_refuses_bad_toml_huge_files_and_absence(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"no extension.toml"):
        load_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("id = [unclosed")
    with pytest.raises(ValidationError, match=r"not valid TOML"):
        load_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_bytes(b"\xff\xfe")
    with pytest.raises(ValidationError, match=r"not UTF-8 text"):
        load_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("# " + "x" * 300_000)
    with pytest.raises(ValidationError, match=r"limit"):
        load_manifest(tmp_path)


def test_every_example_manifest_is_valid(examples: Path) -> None:
    """The shipped examples validate, two instruments, three operators, one addon."""
    manifests = [load_manifest(p) for p in sorted(examples.iterdir()) if (p / MANIFEST_NAME).exists()]
    kinds = sorted(m.type for m in manifests)
    assert kinds.count("instrument") >= 2 and kinds.count("operator") >= 3 and kinds.count("addon") >= 1
