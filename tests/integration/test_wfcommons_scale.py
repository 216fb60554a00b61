"""10k-task WfCommons workflows of seven recipes run through the runs service on a real system.

The files are written by the ``wfcommons`` package (schema 1.6; extra ``wfcommons``), generated once
and cached (:mod:`symphony_actors.testing.wfgen`). Each goes the way ``symphony run FILE`` sends it:
the client imports the WfFormat file, the runs service admits the run (arbitration), asks the stale
manager what is still fresh (reuse on), and the DAG tracker runs every node on real executors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from symphony_actors.bootstrap import default_tree
from symphony_actors.cli import main
from symphony_actors.client import Client
from symphony_actors.domain.errors import ProtocolError
from symphony_actors.domain.workflow import load_wfformat
from symphony_actors.runtime.system import RunningSystem
from symphony_actors.testing.waiting import wait_for

from .conftest import running_system

pytest.importorskip("wfcommons", reason="needs the wfcommons extra: pip install -e '.[wfcommons]'")

from symphony_actors.testing.wfgen import RECIPES, generate

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TASKS = 10_000  # the seven recipes at this size run in `tox -e long` (generating them takes minutes once)
SMALL = 1_000   # what every interpreter's suite runs


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningSystem, Client]]:
    # The production tree with its production hang limits: a 10k submit takes seconds, and runs on the
    # services' job threads, never on a loop that must answer its supervisor's pings.
    tree = default_tree({"dag": {"executors": 2}})
    with running_system(tree, tmp_path_factory.mktemp("wfscale"), timeout=600) as (sys_, c):
        yield sys_, c


@pytest.fixture
def client(system: tuple[RunningSystem, Client]) -> Iterator[Client]:
    try:
        yield system[1]
    finally:
        # what the supervisors decided (restarts, hang kills) is what explains a failure here
        log = system[0].data_dir / "logs" / f"symphony-{system[0].port}.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        decisions = [ln for ln in lines if "supervisor" in ln and " started " not in ln]
        print("system log, supervisor decisions:", *decisions[-40:], sep="\n  ")


@pytest.mark.long
@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_a_10k_recipe_runs_every_node_through_the_runs_service(client: Client, recipe: str) -> None:
    """Admitted, planned with reuse on, and every node of the generated workflow succeeds."""
    run_recipe(client, recipe, TASKS)


def test_a_1k_montage_runs_every_node_through_the_runs_service(client: Client) -> None:
    """The same path at 1k tasks, on every interpreter."""
    run_recipe(client, "montage", SMALL)


def run_recipe(client: Client, recipe: str, tasks: int) -> None:
    path = generate(recipe, tasks)
    nodes = len(load_wfformat(path).nodes)
    assert nodes >= tasks * 0.9, (recipe, nodes)
    run = client.run_workflow(path)
    snap = run.wait(300)
    assert snap["status"] == "succeeded", (recipe, snap)
    assert snap["counts"] == {"succeeded": nodes}, (recipe, snap["counts"])
    wait_for(lambda: client.call("runs", "pending") == [], timeout=60, what="end of run processed")
    decisions = client.call("arbitration", "decisions", run=run.run_id)
    assert [d["verdict"] for d in decisions][:1] == ["granted"], decisions


@pytest.mark.parametrize("tasks", [SMALL, pytest.param(TASKS, marks=pytest.mark.long)])
def test_a_re_run_of_a_workflow_reuses_and_succeeds(client: Client, tasks: int) -> None:
    """The second run of the same Montage goes through reuse (lineage of the first) and succeeds."""
    path: Path = generate("montage", tasks)
    first = client.run_workflow(path)
    assert first.wait(300)["status"] == "succeeded"
    wait_for(lambda: client.call("runs", "pending") == [], timeout=60, what="end of run processed")
    again = client.run_workflow(path)
    snap = again.wait(300)
    assert snap["status"] == "succeeded" and sum(snap["counts"].values()) == snap["counts"]["succeeded"]


def test_symphony_run_refuses_a_file_over_max_size_and_says_how_to_allow_it(
        system: tuple[RunningSystem, Client], capsys: pytest.CaptureFixture[str]) -> None:
    """Over the limit nothing is started: exit 2 naming the size and --max-size; allowed, the run succeeds."""
    path = generate("montage", 1_000)
    port = str(system[0].port)
    before = len(system[1].runs(limit=1000))
    assert main(["run", str(path), "--max-size", "64K", "--port", port]) == 2
    err = capsys.readouterr().err
    assert "over the limit of 65536" in err and "--max-size" in err, err
    with pytest.raises(ProtocolError):
        system[1].run_workflow(path, max_size=65536)
    assert len(system[1].runs(limit=1000)) == before
    assert main(["run", str(path), "--max-size", "8M", "--port", port, "--json"]) == 0
