"""Synthetic WfCommons workflows (WfFormat files) for tests and benchmarks, generated once and cached.

``generate("montage", 10_000)`` returns the path of a WfFormat file written by
the ``wfcommons`` package (``pip install 'symphony-actors[wfcommons]'``): the
recipe's ``from_num_tasks`` and ``WorkflowGenerator``, seeded so the same call
gives the same workflow. Files are kept in ``SYMPHONY_WFGEN_CACHE`` (default
``~/.cache/symphony-actors/wfgen``) under a name holding the wfcommons
version, the recipe, the size and the seed; generating a 10k workflow takes
seconds, a 100k one minutes, so they are made once and reused.
"""

from __future__ import annotations

import os
import random
from importlib import import_module
from pathlib import Path

__all__ = ["RECIPES", "cache_dir", "generate"]

# Our short name -> the wfcommons recipe class (1000Genome is GenomeRecipe).
RECIPES = {"montage": "MontageRecipe", "epigenomics": "EpigenomicsRecipe", "cycles": "CyclesRecipe",
           "blast": "BlastRecipe", "1000genome": "GenomeRecipe", "soykb": "SoykbRecipe",
           "seismology": "SeismologyRecipe"}


def cache_dir() -> Path:
    root = os.environ.get("SYMPHONY_WFGEN_CACHE") or str(Path.home() / ".cache" / "symphony-actors" / "wfgen")
    return Path(root)


def generate(recipe: str, tasks: int, *, seed: int = 1) -> Path:
    """The path of a generated WfFormat file for ``recipe`` with about ``tasks`` tasks (made if not cached)."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}: expected one of {', '.join(RECIPES)}")
    import numpy
    import wfcommons  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from wfcommons import WorkflowGenerator  # type: ignore[import-untyped, import-not-found, unused-ignore]

    version = getattr(wfcommons, "__version__", "x")
    path = cache_dir() / f"{recipe}-{tasks}-s{seed}-wfc{version}.json"
    if path.exists():
        return path
    random.seed(seed)
    numpy.random.seed(seed)
    cls = getattr(import_module("wfcommons.wfchef.recipes"), RECIPES[recipe])
    workflow = WorkflowGenerator(cls.from_num_tasks(tasks)).build_workflow()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    workflow.write_json(tmp)
    tmp.replace(path)  # atomic: a concurrent or interrupted run never sees half a file
    return path
