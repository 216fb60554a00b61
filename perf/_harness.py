"""The benchmark convention for everything in ``perf/``.

``python perf/NAME.py [--quick]`` measures, prints a table (metric, figure,
goal, whether it is met, and the same-run baseline where there is one) and
writes flat JSON ``{"metric": number, ...}`` to ``perf/results/NAME.json``.
``--quick`` must finish within a minute on a 2-core machine.

Usage::

    bench = Bench("codec")               # parses --quick
    bench.record("codec_json_roundtrip_us", 1.9, goal=5, unit="us")   # lower is better
    bench.record("throughput_msgs_per_s", 61000, goal=50000, better="higher")
    bench.record("raw_thespian_rr_p50_ms", 0.39, unit="ms")          # a baseline: no goal
    bench.finish()                       # prints and writes
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


@dataclass
class Row:
    metric: str
    value: float
    goal: float | None
    unit: str
    better: Literal["lower", "higher"]
    note: str

    @property
    def met(self) -> str:
        if self.goal is None or math.isnan(self.value):
            return ""
        ok = self.value <= self.goal if self.better == "lower" else self.value >= self.goal
        return "yes" if ok else "NO"


class Bench:
    def __init__(self, name: str, argv: Sequence[str] | None = None, description: str = "") -> None:
        parser = argparse.ArgumentParser(description=description or f"benchmark {name}")
        parser.add_argument("--quick", action="store_true", help="finish within a minute")
        self.parser = parser
        self.args, _ = parser.parse_known_args(argv)
        self.quick: bool = self.args.quick
        self.name = name
        self.rows: list[Row] = []
        self.started = time.perf_counter()

    def record(self, metric: str, value: float, *, goal: float | None = None, unit: str = "",
               better: Literal["lower", "higher"] = "lower", note: str = "") -> None:
        self.rows.append(Row(metric, float(value), goal, unit, better, note))

    def finish(self) -> dict[str, float]:
        data = {r.metric: r.value for r in self.rows}
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{self.name}.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        w = max([len(r.metric) for r in self.rows] + [6])
        print(f"\n{self.name}  (python {platform.python_version()}, {os.cpu_count()} cores, "
              f"{'quick' if self.quick else 'full'} run, {time.perf_counter() - self.started:.1f} s)")
        print(f"{'metric':<{w}}  {'figure':>12}  {'goal':>12}  met  note")
        for r in self.rows:
            goal = "" if r.goal is None else f"{'<=' if r.better == 'lower' else '>='} {r.goal:g}"
            print(f"{r.metric:<{w}}  {r.value:>12.4g}  {goal:>12}  {r.met:>3}  {r.unit} {r.note}".rstrip())
        print(f"-> {RESULTS / (self.name + '.json')}")
        (RESULTS / f"{self.name}.md").write_text(self.markdown())
        return data

    def markdown(self) -> str:
        """The same table in Markdown (docs/PERFORMANCE.md is assembled from these)."""
        head = (f"Measured {time.strftime('%Y-%m-%d')} with `python perf/{self.name}.py"
                f"{' --quick' if self.quick else ''}` (Python {platform.python_version()}, "
                f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}).\n\n")
        rows = ["| metric | figure | goal | met | note |", "|---|---|---|---|---|"]
        for r in self.rows:
            goal = "" if r.goal is None else f"{'<=' if r.better == 'lower' else '>='} {r.goal:g}"
            rows.append(f"| `{r.metric}` | {r.value:.4g} {r.unit} | {goal} | {r.met} | {r.note} |")
        return head + "\n".join(rows) + "\n"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
