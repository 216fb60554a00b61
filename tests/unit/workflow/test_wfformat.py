"""WfFormat 1.5 import: tasks become nodes, shared files data edges, other dependencies control edges."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from symphony_actors.domain.errors import ProtocolError, ValidationError
from symphony_actors.domain.workflow import EdgeKind, ProblemKind, import_wfformat, is_wfformat


def instance(tasks: list[Any], **extra: Any) -> dict[str, Any]:
    return {"name": "tiny", "schemaVersion": "1.5", "description": "d",
            "workflow": {"specification": {"tasks": tasks, "files": [{"id": "x.dat", "sizeInBytes": 10}]},
                         "execution": {"makespanInSeconds": 3.5, "tasks": [
                             {"id": "a", "runtimeInSeconds": 1.0, "command": {"program": "gen", "arguments": ["-n"]}},
                         ]}}, **extra}


TASKS = [
    {"id": "a", "name": "a", "parents": [], "children": ["b", "c"], "inputFiles": ["in.txt"],
     "outputFiles": ["x.dat"]},
    {"id": "b", "name": "b", "parents": ["a"], "children": [], "inputFiles": ["x.dat"], "outputFiles": ["y"]},
    {"id": "c", "name": "c", "parents": ["a"], "children": [], "inputFiles": [], "outputFiles": []},
]


def test_import_maps_tasks_files_and_execution() -> None:
    """Nodes, ports, data and control edges, params and meta from a small instance."""
    wf = import_wfformat(instance(TASKS))
    assert [n.id for n in wf.nodes] == ["a", "b", "c"]
    a, b = wf.node("a"), wf.node("b")
    assert a.type == "wfcommons.task/gen"
    assert a.params == {"program": "gen", "arguments": ("-n",), "external_inputs": ("in.txt",)}
    assert a.meta["execution"]["runtimeInSeconds"] == 1.0
    assert [p.name for p in a.outputs] == ["x.dat"]
    assert [(p.name, p.type, p.required) for p in b.inputs] == [("x.dat", "file", True)]
    kinds = {(e.source, e.target): e.kind for e in wf.edges}
    assert kinds == {("a", "b"): EdgeKind.DATA, ("a", "c"): EdgeKind.CONTROL}
    assert wf.meta["file_sizes"] == {"x.dat": 10}
    assert wf.meta["makespanInSeconds"] == 3.5
    assert wf.check().ok


def test_import_accepts_json_text_and_detects_format() -> None:
    """Bytes work as well as parsed documents; is_wfformat recognises instances."""
    data = orjson.dumps(instance(TASKS))
    assert import_wfformat(data) == import_wfformat(instance(TASKS))
    assert is_wfformat(instance(TASKS))
    assert not is_wfformat({"format": "symphony.workflow"})


def test_ids_are_rewritten_to_fit_and_kept_in_meta() -> None:
    """Task ids with characters our ids refuse are rewritten; the original stays in meta."""
    tasks = [{"id": "odd id.1", "parents": [], "children": ["odd/id.1"]},
             {"id": "odd/id.1", "parents": ["odd id.1"], "children": []}]
    wf = import_wfformat(instance(tasks))
    assert [n.id for n in wf.nodes] == ["odd_id_1", "odd_id_1-2"]
    assert wf.nodes[1].meta["wf_id"] == "odd/id.1"
    assert wf.check().ok


def test_unknown_parent_is_reported_by_validation() -> None:
    """A parent that is not a task stays as a dangling edge for validation to report."""
    tasks = [{"id": "a", "parents": ["ghost"], "children": []}]
    kinds = [p.kind for p in import_wfformat(instance(tasks)).check().problems]
    assert kinds == [ProblemKind.DANGLING]


def test_cycles_in_an_instance_are_reported() -> None:
    """parents that form a loop are a cycle problem, with its path."""
    tasks = [{"id": "a", "parents": ["b"], "children": []}, {"id": "b", "parents": ["a"], "children": []}]
    analysis = import_wfformat(instance(tasks)).check()
    assert analysis.cycles == (("a", "b", "a"),)


@pytest.mark.parametrize(("doc", "error"), [
    (b"{", ProtocolError),
    ({"schemaVersion": "1.5"}, ProtocolError),
    ({**instance(TASKS), "schemaVersion": "0.9"}, ProtocolError),
    ({"schemaVersion": "1.5", "workflow": {"specification": {"tasks": {}}}}, ValidationError),
    (instance([{"id": 3}, {"id": "a", "parents": "b"}, 5, {"id": "x"}, {"id": "x"}]), ValidationError),
])
def test_bad_instances(doc: Any, error: type[Exception]) -> None:
    """Undecodable or ill-shaped instances give typed errors."""
    with pytest.raises(error):
        import_wfformat(doc)


def test_shape_problems_have_paths() -> None:
    """Every bad task is reported with its path."""
    with pytest.raises(ValidationError) as info:
        import_wfformat(instance([{"id": 3}, {"id": "a", "parents": "b"}, 5, {"id": "x"}, {"id": "x"}]))
    assert [p.path for p in info.value.problems] == [
        "workflow.specification.tasks[0].id", "workflow.specification.tasks[1].parents",
        "workflow.specification.tasks[2]", "workflow.specification.tasks[4].id"]


def test_schema_1_6_imports_like_1_5() -> None:
    """The wfcommons package writes 1.6 today; the same tasks give the same workflow as under 1.5."""
    wf15 = import_wfformat(instance(TASKS))
    wf16 = import_wfformat({**instance(TASKS), "schemaVersion": "1.6", "runtimeSystem": {"name": "wfcommons"}})
    assert wf16.replace(meta=wf15.meta) == wf15 and wf16.meta["schemaVersion"] == "1.6"


def test_schema_1_4_tasks_with_inline_files_are_rewritten() -> None:
    """1.4 keeps tasks, files and run figures under workflow.tasks; parents may name tasks by name."""
    doc = {"name": "old", "schemaVersion": "1.4", "workflow": {"makespanInSeconds": 9.0, "tasks": [
        {"name": "gen_ID01", "id": "ID01", "category": "gen", "type": "compute", "parents": [],
         "children": ["ID02"], "command": {"program": "gen.sh", "arguments": ["-n", 3]}, "runtimeInSeconds": 2.5,
         "files": [{"link": "output", "name": "x.dat", "sizeInBytes": 10}, {"link": "input", "name": "in"}]},
        {"name": "use_ID02", "id": "ID02", "category": "use", "type": "compute", "parents": ["gen_ID01"],
         "children": [], "files": [{"link": "input", "name": "x.dat", "size": 10}]}]}}
    wf = import_wfformat(doc)
    assert [(n.id, n.type) for n in wf.nodes] == [("ID01", "wfcommons.task/gen"), ("ID02", "wfcommons.task/use")]
    assert [(e.source, e.target, e.kind) for e in wf.edges] == [("ID01", "ID02", EdgeKind.DATA)]
    assert wf.node("ID01").params == {"program": "gen.sh", "arguments": ("-n", 3), "external_inputs": ("in",)}
    assert wf.node("ID01").meta["execution"]["runtimeInSeconds"] == 2.5
    assert wf.meta["file_sizes"] == {"x.dat": 10} and wf.meta["makespanInSeconds"] == 9.0
    assert is_wfformat(doc) and wf.check().ok


def test_nextflow_dash_programs_and_script_names_give_valid_types() -> None:
    """A program named '-' and a task named by a whole shell script still make valid node types."""
    script = "#!/bin/bash -euo pipefail\nsamtools sort -@ 4 in.bam > out.bam\n"
    tasks = [{"id": "a", "name": script, "parents": [], "children": ["b"]},
             {"id": "b", "name": script, "category": "NFCORE_RNASEQ:SAMTOOLS_SORT", "parents": ["a"], "children": []},
             {"id": "c", "name": "MULTIQC", "parents": [], "children": []}]
    doc = instance(tasks)
    doc["workflow"]["execution"]["tasks"] = [{"id": t, "command": {"program": "-"}} for t in "abc"]
    wf = import_wfformat(doc)
    assert [n.type for n in wf.nodes] == ["wfcommons.task", "wfcommons.task/NFCORE_RNASEQ:SAMTOOLS_SORT",
                                          "wfcommons.task/MULTIQC"]
    assert wf.node("a").params["program"] == "-"
    assert wf.check().ok
