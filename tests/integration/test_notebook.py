"""docs/quickstart.ipynb runs top to bottom on a real Jupyter kernel against a launcher-started system."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

pytestmark = pytest.mark.integration

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "quickstart.ipynb"


def test_the_quickstart_notebook_runs_cleanly_in_a_kernel(cli, monkeypatch, tmp_path):
    started = cli("start")
    assert started.returncode == 0, started.stderr
    monkeypatch.setenv("SYMPHONY_PORT", str(cli.port))  # the kernel inherits it
    monkeypatch.setenv("PYTHONWARNINGS", "default")       # surface any fork-with-threads warning
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", out
            text = out.get("text", "")
            assert "DeprecationWarning" not in text and "fork" not in text.lower(), text
            outputs.append(text)
    joined = "".join(outputs)
    assert "healthy: True" in joined
    assert "succeeded" in joined and "long -> long text" in joined
    assert "NotFoundError: no run 'no-such-run'" in joined
    assert "{'from': 'a notebook'}" in joined
    assert "restarts 1" in joined
    assert os.environ["SYMPHONY_PORT"] == str(cli.port)
