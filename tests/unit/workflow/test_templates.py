"""Templates: typed parameters in params and structure; instantiation reports every problem; a store by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from symphony_actors.domain.errors import ConflictError, NotFoundError, UsageError, ValidationError
from symphony_actors.domain.workflow import (
    Map,
    Param,
    ParamType,
    ProblemKind,
    Template,
    TemplateStore,
    Workflow,
    dumps_json,
    ref,
)


def summarise_template() -> Template:
    return (Workflow.build("summarise", description="summarise each document")
            .operator("docs", "builtin.const", params={"value": ref("documents")}, outputs={"out": "any"})
            .map("each", max_items=ref("width"), concurrency=ref("parallel")).connect("docs", "each")
            .instrument("llm", "openai.chat/complete", inputs={"prompt": "any"}, outputs={"text": "text"},
                        params={"temperature": ref("temperature"), "system": "be brief"}, timeout=ref("timeout"),
                        retry=ref("retries"))
            .connect("each", "llm")
            .template(Param("documents", ParamType.ARRAY, required=True, min_length=1),
                      Param("width", ParamType.INTEGER, default=100, minimum=1, maximum=1000),
                      Param("parallel", ParamType.INTEGER, default=4, minimum=1),
                      Param("temperature", ParamType.NUMBER, default=0.2, minimum=0, maximum=2),
                      Param("timeout", ParamType.NUMBER, default=30, minimum=1),
                      Param("retries", ParamType.INTEGER, default=2, minimum=0, maximum=10)))


def test_instantiate_substitutes_params_and_structure() -> None:
    """Values land in node params, the map's cap and concurrency, the timeout and the retry count."""
    wf = summarise_template().instantiate(documents=["a", "b"], width=7, name="run-1")
    assert wf.name == "run-1"
    assert wf.node("docs").params["value"] == ("a", "b")
    assert wf.node("each").control == Map(7, 4)
    llm = wf.node("llm")
    assert llm.params == {"temperature": 0.2, "system": "be brief"}
    assert llm.timeout_s == 30
    assert llm.retry is not None and llm.retry.retries == 2
    assert wf.check().ok


def test_instantiation_reports_every_bad_parameter() -> None:
    """Missing, unknown, wrong type and out of range: one ValidationError listing all."""
    with pytest.raises(ValidationError) as info:
        summarise_template().instantiate(width=0, temperature="hot", colour="red", retries=11)
    assert sorted(p.path for p in info.value.problems) == [
        "params.colour", "params.documents", "params.retries", "params.temperature", "params.width"]


def test_template_problems_catch_undeclared_references() -> None:
    """A placeholder naming no declared parameter is refused when the template is made."""
    with pytest.raises(ValidationError) as info:
        (Workflow.build("t").operator("c", "builtin.const", params={"value": ref("nope")}, outputs={"o": "any"})
         .template())
    assert [(p.kind, p.path) for p in info.value.problems] == [
        (ProblemKind.UNRESOLVED_PARAM, "workflow.nodes[0].params.value")]


def test_template_structure_problems_are_reported() -> None:
    """Structural problems of the template's workflow (a dangling edge) are reported with their path."""
    b = Workflow.build("t").operator("a", "t.x/a").after("a", "a")
    with pytest.raises(ValidationError) as info:
        b.template()
    assert [p.kind for p in info.value.problems] == [ProblemKind.CYCLE]


def test_store_saves_lists_loads_deletes(tmp_path: Path) -> None:
    """Templates are kept by name in a directory."""
    store = TemplateStore(tmp_path / "templates")
    assert store.list() == []
    t = summarise_template()
    store.save(t)
    other = (Workflow.build("echo").operator("e", "builtin.identity", inputs={"in": "any?"}, outputs={"out": "any"})
             .template(name="echo-v2"))
    store.save(other)
    assert store.names() == ["echo-v2", "summarise"]
    infos = store.list()
    assert [(i.name, i.params[:2], i.error) for i in infos] == [("echo-v2", (), ""),
                                                               ("summarise", ("documents", "width"), "")]
    assert store.load("summarise") == t
    with pytest.raises(ConflictError):
        store.save(t, overwrite=False)
    store.delete("echo-v2")
    assert store.names() == ["summarise"]
    with pytest.raises(NotFoundError):
        store.load("echo-v2")
    with pytest.raises(NotFoundError):
        store.delete("echo-v2")


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "x" * 200, "sp ace"])
def test_store_refuses_unsafe_names(tmp_path: Path, name: str) -> None:
    """Names cannot escape the directory or be empty."""
    with pytest.raises(UsageError):
        TemplateStore(tmp_path).load(name)


def test_store_lists_broken_files_with_their_error(tmp_path: Path) -> None:
    """A damaged file is listed with the reason it does not load, so it can be fixed."""
    store = TemplateStore(tmp_path)
    store.save(summarise_template())
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "plain.json").write_bytes(dumps_json(Workflow("plain")))
    infos = {i.name: i for i in store.list()}
    assert infos["summarise"].error == ""
    assert "JSON" in infos["broken"].error
    assert "not a template" in infos["plain"].error
