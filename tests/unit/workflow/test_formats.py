"""JSON and binary formats: everything round-trips; bad or hostile input gives a typed error with a path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2
import orjson
import pytest
import zstandard

from symphony_actors.domain.errors import ProtocolError, UsageError, ValidationError
from symphony_actors.domain.workflow import (
    FORMAT_VERSION,
    Edge,
    Limits,
    Node,
    NodeKind,
    Param,
    ParamType,
    Port,
    Template,
    Workflow,
    document_of,
    dumps_binary,
    dumps_json,
    freeze,
    load,
    loads,
    loads_binary,
    loads_json,
    ref,
    register_migration,
    save,
)
from symphony_actors.domain.workflow import formats as formats_module
from symphony_actors.domain.workflow.formats import MAGIC


def doc(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"format": "symphony.workflow", "version": FORMAT_VERSION, "name": "w",
                            "nodes": [{"id": "a", "kind": "operator", "type": "t.x/a", "outputs": {"out": "text"}},
                                      {"id": "b", "kind": "operator", "type": "t.x/b", "inputs": {"in": "text"}}],
                            "edges": [{"source": "a", "source_port": "out", "target": "b", "target_port": "in"}]}
    base.update(changes)
    return base


def problems_of(data: bytes) -> list[str]:
    with pytest.raises(ValidationError) as info:
        loads_json(data)
    return [p.path for p in info.value.problems]


def test_sample_round_trips_both_formats(sample: Workflow) -> None:
    """Every field survives JSON and binary, including predicates, control specs, retry and meta."""
    assert loads_json(dumps_json(sample)) == sample
    assert loads_binary(dumps_binary(sample)) == sample
    assert loads(dumps_binary(sample)) == sample
    assert loads(dumps_json(sample, indent=True)) == sample


def test_unusual_values_round_trip() -> None:
    """Optional/multi ports with descriptions, nested params, unicode, big ints, dangling edges."""
    n = Node.make("ü-1", "instrument", "pub.ext/node", params={"nested": {"list": [1, 2.5, None, True, "é"]},
                                                               "big": 2**63 - 1, "neg": -(2**63)},
                  inputs=[Port("a", "text", False, True, "optional many")],
                  outputs=[Port("o", "json", True, False, "required out")], label="L", meta={"x": 1, "y": [1]})
    wf = Workflow("w ü", (n,), (Edge.control("ü-1", "ghost"), Edge.data("nobody", "p", "ü-1", "a")),
                  description="d", entries=("ü-1",), meta=freeze({"k": {"v": 1}}))
    assert loads_json(dumps_json(wf)) == wf
    assert loads_binary(dumps_binary(wf)) == wf


def test_template_round_trips(tmp_path: Path) -> None:
    """Templates (params, placeholders) round-trip too, also through files."""
    t = (Workflow.build("t").operator("c", "builtin.const", params={"value": ref("v")}, outputs={"out": "any"})
         .map("m", max_items=ref("w")).connect("c", "m")
         .template(Param("v", ParamType.INTEGER, default=1, choices=(1, 2)), Param("w", ParamType.INTEGER,
                                                                                   required=True, minimum=1)))
    assert isinstance(t, Template)
    assert loads_json(dumps_json(t)) == t
    assert loads_binary(dumps_binary(t)) == t
    assert load(save(t, tmp_path / "t.wfb")) == t
    assert load(save(t, tmp_path / "t.json")) == t


def test_files_by_suffix(tmp_path: Path, sample: Workflow) -> None:
    """save() picks the format by suffix; an unknown suffix is a usage error."""
    p = save(sample, tmp_path / "w.wfb")
    assert p.read_bytes().startswith(MAGIC)
    assert load(p) == sample
    assert load(save(sample, tmp_path / "w.json")) == sample
    with pytest.raises(UsageError, match="suffix"):
        save(sample, tmp_path / "w.txt")
    assert load(save(sample, tmp_path / "w.txt", format="json")) == sample


def test_document_paths_for_wrong_shapes() -> None:
    """Shape errors name their place: nodes[12].params.temperature and friends, all at once."""
    nodes: list[dict[str, Any]] = [{"id": f"n{i}", "type": "t.x/a"} for i in range(13)]
    nodes[12]["params"] = {"temperature": {"$param": 3}}
    nodes[3]["kind"] = "wizard"
    nodes[4]["inputs"] = {"p": 5}
    nodes[5]["retry"] = {"retries": "many"}
    nodes[6]["control"] = {"kind": "loop"}
    nodes[7]["timeout_s"] = "soon"
    nodes[8]["surprise"] = 1
    edges = [{"source": "n0"}, {"kind": "conditional", "source": "n0", "target": "n1",
                                "when": {"field": "x", "op": "~"}}, 7]
    paths = problems_of(orjson.dumps(doc(nodes=nodes, edges=edges)))
    for expected in ["nodes[12].params.temperature.$param", "nodes[3].kind", "nodes[4].inputs.p",
                     "nodes[5].retry.retries", "nodes[6].control.kind", "nodes[7].timeout_s", "nodes[8].surprise",
                     "edges[0].target", "edges[0].source_port", "edges[1].when.op", "edges[2]"]:
        assert expected in paths, (expected, paths)


def test_top_level_shape_errors() -> None:
    """Wrong top-level types are reported with their field name."""
    assert problems_of(orjson.dumps(doc(nodes={}, edges="x", entries=[1], meta=[]))) == [
        "entries", "meta", "nodes", "edges"]


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "malformed"),
    (b"{", "malformed"),
    (b"\xff\xfe", "malformed"),
    (b"[1, 2]", "unknown_kind"),
    (orjson.dumps({"format": "something.else", "version": 1}), "unknown_kind"),
    (orjson.dumps(doc(version=FORMAT_VERSION + 1)), "bad_version"),
    (orjson.dumps(doc(version="1")), "bad_version"),
    (orjson.dumps(doc(version=0)), "bad_version"),
    (b"[" * 5000 + b"]" * 5000, "too_deep"),
])
def test_undecodable_json_is_a_protocol_error(data: bytes, reason: str) -> None:
    """Bytes that are not a document of ours give ProtocolError with a reason, never a traceback."""
    with pytest.raises((ProtocolError, ValidationError)) as info:
        loads_json(data)
    if isinstance(info.value, ProtocolError):
        assert info.value.reason == reason
    else:
        assert reason == "unknown_kind"


def test_deep_params_give_too_deep_with_path() -> None:
    """Nesting deeper than the limit in params is refused with the path where it happened."""
    deep: Any = 1
    for _ in range(100):
        deep = {"d": deep}
    nodes = [{"id": "a", "type": "t.x/a", "params": {"p": deep}}]
    with pytest.raises(ProtocolError) as info:
        loads_json(orjson.dumps(doc(nodes=nodes, edges=[])))
    assert info.value.reason == "too_deep"
    assert info.value.details["path"].startswith("nodes[0].params.p.d.d")


def test_size_limits() -> None:
    """Oversize input, too many nodes and over-long strings are refused."""
    small = Limits(max_bytes=100)
    with pytest.raises(ProtocolError) as info:
        loads_json(orjson.dumps(doc()), small)
    assert info.value.reason == "oversize"
    with pytest.raises(ProtocolError) as info:
        loads_json(orjson.dumps(doc()), Limits(max_nodes=1))
    assert info.value.reason == "oversize"
    nodes = [{"id": "a", "type": "t.x/a", "params": {"s": "x" * 50}}]
    with pytest.raises(ValidationError) as err:
        loads_json(orjson.dumps(doc(nodes=nodes, edges=[])), Limits(max_string=10))
    assert err.value.problems[0].path == "nodes[0].params.s"


def test_migration_hook_upgrades_old_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    """A document of an older version is passed through the registered migrations in order."""
    monkeypatch.setattr(formats_module, "FORMAT_VERSION", 3)
    monkeypatch.setattr(formats_module, "_MIGRATIONS", {})

    @register_migration(1)
    def rename_steps(d: dict[str, Any]) -> dict[str, Any]:
        d["nodes"] = d.pop("steps")
        return d

    @register_migration(2)
    def add_edges(d: dict[str, Any]) -> dict[str, Any]:
        d.setdefault("edges", [])
        return d

    old = {"format": "symphony.workflow", "version": 1, "name": "old", "steps": [{"id": "a", "type": "t.x/a"}]}
    wf = loads_json(orjson.dumps(old))
    assert isinstance(wf, Workflow) and [n.id for n in wf.nodes] == ["a"]
    with pytest.raises(ProtocolError) as info:
        loads_json(orjson.dumps({**old, "version": 4}))
    assert info.value.reason == "bad_version"


def test_missing_migration_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a migration for an old version, the error names the version."""
    monkeypatch.setattr(formats_module, "FORMAT_VERSION", 2)
    monkeypatch.setattr(formats_module, "_MIGRATIONS", {})
    with pytest.raises(ProtocolError, match="too old"):
        loads_json(orjson.dumps(doc(version=1)))


def frame(payload: Any, *, raw: bytes | None = None) -> bytes:
    body = raw if raw is not None else cbor2.dumps(payload)
    return MAGIC + b"\x01\x00" + zstandard.ZstdCompressor().compress(body)


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "unknown_kind"),
    (b"PK\x03\x04", "unknown_kind"),
    (MAGIC, "truncated"),
    (MAGIC + b"\x09\x00", "bad_version"),
    (MAGIC + b"\x01\x07", "malformed"),
    (MAGIC + b"\x01\x00not zstd at all", "malformed"),
    (MAGIC + b"\x01\x00" + zstandard.ZstdCompressor().compress(b"x" * 1000)[:-5], "truncated"),
    (frame(None, raw=b"\x9f\x01"), "truncated"),
    (frame(None, raw=b"\xff\xff\xff"), "malformed"),
    (frame([1, 2]), "malformed"),
    (frame({"format": "other"}), "unknown_kind"),
    (frame({"format": "symphony.workflow", "version": 1, "name": "x", "strings": "no"}), "malformed"),
    (frame(None, raw=b"\x81" * 100_000 + b"\x01"), "too_deep"),
])
def test_damaged_binary_is_a_protocol_error(data: bytes, reason: str) -> None:
    """Bad magic, versions, flags, zstd or CBOR damage: ProtocolError with the right reason."""
    with pytest.raises(ProtocolError) as info:
        loads_binary(data)
    assert info.value.reason == reason, str(info.value)


def test_zstd_bomb_is_refused() -> None:
    """A small frame that expands past the decompressed limit is refused before expanding."""
    bomb = MAGIC + b"\x01\x00" + zstandard.ZstdCompressor().compress(b"\x00" * 5_000_000)
    with pytest.raises(ProtocolError) as info:
        loads_binary(bomb, Limits(max_decompressed=1_000_000))
    assert info.value.reason == "oversize"
    no_size = zstandard.ZstdCompressor(write_content_size=False).compress(b"\x00" * 5_000_000)
    with pytest.raises(ProtocolError) as info:
        loads_binary(MAGIC + b"\x01\x00" + no_size, Limits(max_decompressed=1_000_000))
    assert info.value.reason in ("oversize", "malformed")


def columnar(sample: Workflow) -> dict[str, Any]:
    payload: dict[str, Any] = cbor2.loads(zstandard.ZstdDecompressor().decompress(dumps_binary(sample)[6:]))
    return payload


def test_hostile_columns_are_caught(sample: Workflow) -> None:
    """Out-of-range indices and mismatched column lengths in the binary tables give ProtocolError."""
    mutations: list[Callable[[dict[str, Any]], Any]] = [
        lambda p: p["node_cols"]["id"].__setitem__(0, 10**6),
        lambda p: p["node_cols"]["sig"].__setitem__(0, -5),
        lambda p: p["node_cols"]["params"].__setitem__(0, 10**6),
        lambda p: p["node_cols"]["kind"].pop(),
        lambda p: p["edge_cols"]["source"].__setitem__(0, 10**6),
        lambda p: p["edge_cols"]["target"].__setitem__(0, -(10**6)),
        lambda p: p["edge_cols"]["kind"].__setitem__(0, "data"),
        lambda p: p.__setitem__("edge_when", [[999, {}]]),
        lambda p: p.__setitem__("node_rest", [[0, "x"]]),
        lambda p: p.__setitem__("edge_names", [[0, 5, None]]),
        lambda p: p.__setitem__("sigs", [[None]]),
    ]
    for mutate in mutations:
        payload = columnar(sample)
        mutate(payload)
        with pytest.raises(ProtocolError) as info:
            loads_binary(frame(payload))
        assert info.value.reason == "malformed"


def test_binary_values_that_json_cannot_hold_are_problems(sample: Workflow) -> None:
    """NaN, bytes, tags and huge integers smuggled into binary params are reported with paths."""
    payload = columnar(sample)
    payload["params_table"][0] = {"nan": float("nan"), "raw": b"\x00", "huge": 2**80, "set": {1, 2}}
    with pytest.raises(ValidationError) as info:
        loads_binary(frame(payload))
    paths = {p.path for p in info.value.problems}
    assert {"nodes[0].params.nan", "nodes[0].params.raw", "nodes[0].params.huge", "nodes[0].params.set"} <= paths


def test_binary_is_much_smaller_than_json(sample: Workflow) -> None:
    """Even on a small workflow the binary form is well under half the JSON."""
    assert len(dumps_binary(sample)) < 0.5 * len(dumps_json(sample))


def test_document_of_rejects_other_objects() -> None:
    """Only workflows and templates encode."""
    with pytest.raises(UsageError):
        document_of("nope")  # type: ignore[arg-type]


def test_control_defaults_type_when_missing() -> None:
    """A control node may leave out its type: builtin.<control kind>."""
    d = doc(nodes=[{"id": "m", "kind": "control", "control": {"kind": "map", "max_items": {"$param": "w"}}}],
            edges=[])
    wf = loads_json(orjson.dumps(d))
    assert isinstance(wf, Workflow)
    assert wf.nodes[0].type == "builtin.map"
    assert wf.nodes[0].kind is NodeKind.CONTROL
