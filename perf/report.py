"""Assemble docs/PERFORMANCE.md from the Markdown tables the benchmarks wrote to perf/results/.

    python perf/run_all.py --quick && python perf/report.py

Each benchmark's section is its measured table (date, command, load) followed by the commentary kept
in docs/perf-notes/analysis.md under a heading of the benchmark's name: what bounds a missed goal and
what would move it. Nothing here is typed by hand but that commentary.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "perf" / "results"
ANALYSIS = ROOT / "docs" / "perf-notes" / "analysis.md"
OUT = ROOT / "docs" / "PERFORMANCE.md"
ORDER = ["bus", "dag", "runs", "workflow", "codec", "artifacts", "registry", "sandbox", "editor", "pool", "arbitration",
         "stale"]

HEAD = """# Performance

Every metric the issues set a goal for, with the figure measured, when, and by which command. Each
benchmark lives in `perf/` (`python perf/NAME.py [--quick]`), prints its table and writes
`perf/results/NAME.json`; `tox -e perf -- --quick` runs them all. The machine has 2 cores; absolute
timings are noisy, so compare figures from the same run (baselines such as raw Thespian are measured in
the same run as the figure they frame). Details and history per area are in `docs/perf-notes/`.

A missed goal is reported as missed, with what bounds it and what would move it.
"""


def sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## +", text, flags=re.M)
    return {p.split("\n", 1)[0].strip(): p.split("\n", 1)[1].strip() if "\n" in p else "" for p in parts[1:]}


def main() -> int:
    notes = sections(ANALYSIS.read_text()) if ANALYSIS.exists() else {}
    names = [n for n in ORDER if (RESULTS / f"{n}.md").exists()]
    names += sorted(p.stem for p in RESULTS.glob("*.md") if p.stem not in names)
    out = [HEAD]
    goals = []
    for name in names:
        for line in (RESULTS / f"{name}.md").read_text().splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 5 and cells[2] and cells[3] in ("yes", "NO"):
                goals.append(f"| {name} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |")
    met = sum(g.endswith("| yes |") for g in goals)
    out.append(f"\n## Summary: {met} of {len(goals)} goals met\n\n| benchmark | metric | figure | goal | met |\n"
               "|---|---|---|---|---|\n" + "\n".join(goals) + "\n")
    for name in names:
        out.append(f"\n## {name}\n\n{(RESULTS / (name + '.md')).read_text().strip()}\n")
        if notes.get(name):
            out.append(f"\n{notes[name]}\n")
    OUT.write_text("".join(out))
    print(f"wrote {OUT} ({len(names)} benchmarks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
