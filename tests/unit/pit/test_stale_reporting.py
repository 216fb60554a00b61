"""The stale manager with nested workflow parameters (read-only mappings) and failures to save: the lineage is
kept and saved as plain JSON, and a failure is logged, counted and published instead of crashing the service."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from symphony_actors.domain.errors import UsageError
from symphony_actors.domain.workflow import freeze
from symphony_actors.pit.stale.core import derivation_key
from symphony_actors.pit.stale.service import StaleService
from symphony_actors.ports.service import ServiceSettings


class _Ctx:
    """Records what the service publishes (the timer is driven by hand)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self.published.append((topic, payload))

    def call_later(self, delay: float, method: str, **kwargs: Any) -> None:
        return None


NESTED = freeze({"model": "m", "options": {"temperature": 0.2, "stop": ["\n"]}, "list": [{"a": 1}]})


def make(tmp_path: Path) -> tuple[StaleService, _Ctx]:
    svc = StaleService(ServiceSettings("stale", tmp_path, {}))
    ctx = _Ctx()
    svc.on_start(ctx)  # type: ignore[arg-type]
    return svc, ctx


def test_nested_frozen_params_are_recorded_saved_and_found_fresh_again(tmp_path: Path) -> None:
    svc, ctx = make(tmp_path)
    out = svc.record(artifact="A1", node_type="builtin.call", params=dict(NESTED), node="n", run="r")
    svc.tick()
    assert svc.failures == 0 and not [t for t, _ in ctx.published if t == "stale.error"]
    svc.on_stop()
    again = StaleService(ServiceSettings("stale", tmp_path, {}))  # reloaded from its database
    assert again.lineage(artifact="A1")["params"] == {"model": "m", "list": [{"a": 1}],
                                                     "options": {"temperature": 0.2, "stop": ["\n"]}}
    fresh = again.fresh_nodes(nodes=[{"node": "n", "type": "builtin.call", "params": NESTED, "deps": []}])
    assert fresh["fresh"] == {"n": "A1"} and fresh["keys"]["n"] == out["key"]
    # The key of plain and of read-only parameters is the same (it used to be the mapping's repr).
    assert derivation_key("t", NESTED, [], None, None) == derivation_key(
        "t", {"model": "m", "options": {"temperature": 0.2, "stop": ["\n"]}, "list": [{"a": 1}]}, [], None, None)
    again.on_stop()


def test_params_that_are_not_json_are_refused_with_a_clear_error(tmp_path: Path) -> None:
    svc, _ = make(tmp_path)
    with pytest.raises(UsageError, match="params of node 'n' are not JSON data"):
        svc.record(artifact="A1", node_type="t", params={"blob": object()}, node="n")
    svc.on_stop()


def test_a_failure_to_save_is_logged_counted_and_published_and_the_service_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    svc, ctx = make(tmp_path)
    svc.record(artifact="A1", node_type="t", params={"k": 1})
    svc.store.db.close()  # the database is gone under the service
    with caplog.at_level(logging.ERROR, logger="symphony_actors.pit.stale.service"):
        svc.tick()
    assert svc.failures == 1 and "StorageError" in svc.stats()["last_failure"]
    errors = [p for t, p in ctx.published if t == "stale.error"]
    assert errors and errors[0]["artifacts"] == ["A1"] and errors[0]["what"] == "save"
    assert any("cannot save lineage" in r.getMessage() for r in caplog.records)
    assert svc.lineage(artifact="A1")["artifact"] == "A1"  # still known in memory
    svc.record(artifact="A2", node_type="t", params={"k": 2})  # and it still works
    svc.tick()
    assert svc.failures == 2
