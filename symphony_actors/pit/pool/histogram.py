"""The hybrid histogram keep-alive policy of "Serverless in the Wild" (Shahrad et al., USENIX ATC 2020).

Per model, a histogram of idle times (the gap between the end of one use and the
start of the next). When it is representative, the instance is unloaded after a
use, loaded again at the histogram's low percentile (the *prewarm* window) and
kept warm until its high percentile (the *keep-alive* window). When it is not
(too few samples, or too flat to predict), a fixed keep-alive applies. When most
idle times fall beyond the histogram's range the paper fits ARIMA; we use a much
cheaper stand-in, an exponentially weighted mean of the out-of-range idle times,
with the paper's 15% margins around it.

``select="paper"`` uses the paper's fixed cut-offs (5th/99th percentile). ``select="budgeted"`` (the
default) keeps the paper's structure but picks the cut-off pair per model: among head percentiles
0/1/5/10/25 and tail percentiles 50/75/90/95/99/100 it takes the window that turns most idle periods of
the histogram into warm starts while spending no more expected memory-time per idle period than the fixed
keep-alive would (the fixed keep-alive itself is a candidate, so the choice is never worse on either
count, in expectation). On a trace with high-variance models, the paper's 99th percentile keeps
instances warm for hours; the budgeted choice is what meets "fewer cold starts at no more memory"
(figures in docs/perf-notes/pit.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["HistogramConfig", "IdleHistogram", "Windows"]

Mode = Literal["fixed", "hybrid", "oob"]


@dataclass(frozen=True, slots=True)
class HistogramConfig:
    """Knobs of the policy; the defaults are the paper's (1-minute bins over 4 hours, 5th/99th, 10% margin)."""

    bin_s: float = 60.0
    range_s: float = 4 * 3600.0
    head_pct: float = 5.0
    tail_pct: float = 99.0
    margin: float = 0.10
    min_samples: int = 10
    cv_threshold: float = 2.0   # bin counts flatter than this (coefficient of variation) do not predict
    oob_threshold: float = 0.5  # more than this fraction out of range: use the out-of-range predictor
    fixed_keep_alive_s: float = 600.0
    select: Literal["paper", "budgeted"] = "budgeted"
    memory_slack: float = 1.0      # budgeted: expected memory-time may be this multiple of the fixed policy's
    #                                (the pool adapts it to keep its total at the fixed policy's: memory parity)
    recompute_fraction: float = 0.1  # recompute windows after this fraction of new samples (at least one)


HEADS = (0.0, 1.0, 5.0, 10.0, 25.0)
TAILS = (50.0, 75.0, 90.0, 95.0, 99.0, 100.0)
# Two-phase windows for bimodal idle times (bursts): keep to a first cut, then prewarm for the second mode.
FIRST_CUTS = (25.0, 50.0, 75.0, 90.0)
SECOND_HEADS = (0.0, 5.0, 10.0, 25.0)   # percentiles of the idle times beyond the first cut
SECOND_TAILS = (75.0, 90.0, 95.0, 100.0)


def _conditional_edge(rest: list[tuple[int, int]], n: int, pct: float, bin_s: float, upper: bool) -> float:
    """Lower (or upper) edge of the bin holding the ``pct`` percentile of the (bin, count) list ``rest``."""
    target, seen = pct / 100.0 * n, 0
    for i, c in rest:
        seen += c
        if seen >= target:
            return (i + 1) * bin_s if upper else i * bin_s
    return (rest[-1][0] + 1) * bin_s


@dataclass(frozen=True, slots=True)
class Windows:
    """What the policy says after a use ends: keep warm for ``first_keep_s`` (0: unload at once when there is
    a prewarm window), load again after ``prewarm_s`` and keep for ``keep_alive_s``."""

    prewarm_s: float
    keep_alive_s: float
    mode: Mode
    first_keep_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"prewarm_s": self.prewarm_s, "keep_alive_s": self.keep_alive_s, "mode": self.mode,
                "first_keep_s": self.first_keep_s}


class IdleHistogram:
    """Idle-time counts in fixed bins plus an out-of-range count; ``windows()`` is cached until a new sample."""

    __slots__ = ("_cached", "_cached_at", "_slack", "cfg", "counts", "expected", "oob", "oob_ewma", "total")

    def __init__(self, cfg: HistogramConfig) -> None:
        self.cfg = cfg
        self.counts = [0] * max(1, int(cfg.range_s // cfg.bin_s))
        self.total = 0
        self.oob = 0
        self.oob_ewma = 0.0
        self._cached: Windows | None = None
        self._cached_at = 0
        self._slack = cfg.memory_slack
        # Expected memory-seconds per idle period: (chosen windows, fixed keep-alive); set by the budgeted choice.
        self.expected = (0.0, 0.0)

    def add(self, idle_s: float) -> None:
        """Record one idle time (seconds, >= 0)."""
        self.total += 1
        if self.total - self._cached_at >= max(1.0, self.cfg.recompute_fraction * self._cached_at):
            self._cached = None
        idx = int(max(0.0, idle_s) // self.cfg.bin_s)
        if idx >= len(self.counts):
            self.oob += 1
            self.oob_ewma = idle_s if self.oob == 1 else 0.7 * self.oob_ewma + 0.3 * idle_s
        else:
            self.counts[idx] += 1

    def _cv(self) -> float:
        n = len(self.counts)
        mean = sum(self.counts) / n
        if mean == 0:
            return 0.0
        var = sum((c - mean) ** 2 for c in self.counts) / n
        return float(var**0.5 / mean)

    def _percentile_bin(self, pct: float, in_range: int) -> int:
        target = pct / 100.0 * in_range
        seen = 0
        for i, c in enumerate(self.counts):
            seen += c
            if c and seen >= target:
                return i
        return len(self.counts) - 1

    def windows(self, slack: float | None = None) -> Windows:
        """The windows this histogram supports now; ``slack`` overrides ``memory_slack`` (budgeted only)."""
        if slack is not None and abs(slack - self._slack) > 0.05 * self._slack:
            self._slack, self._cached = slack, None
        if self._cached is None:
            self._cached = self._compute()
            self._cached_at = self.total
        return self._cached

    def _compute(self) -> Windows:
        cfg = self.cfg
        if self.total < cfg.min_samples:
            return Windows(0.0, cfg.fixed_keep_alive_s, "fixed")
        if self.oob / self.total > cfg.oob_threshold:
            pred = self.oob_ewma
            if cfg.select == "budgeted":  # one fixed keep-alive's worth of memory, centred on the prediction
                self.expected = (cfg.fixed_keep_alive_s, cfg.fixed_keep_alive_s)
                return Windows(max(0.0, pred - cfg.fixed_keep_alive_s / 2), cfg.fixed_keep_alive_s, "oob")
            return Windows(0.85 * pred, 0.30 * pred, "oob")
        if cfg.select == "budgeted":
            return self._budgeted()
        if self._cv() < cfg.cv_threshold:
            return Windows(0.0, cfg.fixed_keep_alive_s, "fixed")
        in_range = self.total - self.oob
        head = self._percentile_bin(cfg.head_pct, in_range) * cfg.bin_s * (1 - cfg.margin)
        tail = (self._percentile_bin(cfg.tail_pct, in_range) + 1) * cfg.bin_s * (1 + cfg.margin)
        return Windows(head, max(cfg.bin_s, tail - head), "hybrid")

    def _edges(self, pct: float, in_range: int, upper: bool) -> float:
        b = self._percentile_bin(pct, in_range)
        return (b + 1) * self.cfg.bin_s * (1 + self.cfg.margin) if upper else b * self.cfg.bin_s * (
            1 - self.cfg.margin)

    def _budgeted(self) -> Windows:
        """The head/tail pair with the most warm starts at no more expected memory than the fixed keep-alive."""
        cfg = self.cfg
        w = cfg.bin_s
        samples = [((i + 0.5) * w, c) for i, c in enumerate(self.counts) if c]
        if self.oob:
            samples.append((max(cfg.range_s, self.oob_ewma), self.oob))

        def evaluate(a: float, b: float, first: float = 0.0) -> tuple[int, float]:
            """Warm starts and memory-time over the samples for windows [0, first] and [a, b]."""
            hits, mem = 0, 0.0
            for idle, c in samples:
                if first > 0:
                    mem += c * min(idle, first)
                    if idle <= first:
                        hits += c
                        continue
                if idle >= a:
                    mem += c * (min(idle, b) - a)
                    hits += c if idle <= b else 0
            return hits, mem

        k = cfg.fixed_keep_alive_s
        fixed_hits, fixed_mem = evaluate(0.0, k)
        budget = fixed_mem * self._slack
        best: tuple[int, float, Windows] = (fixed_hits, -fixed_mem, Windows(0.0, k, "fixed"))
        in_range = self.total - self.oob
        n = max(self.total, 1)
        if in_range == 0:
            self.expected = (fixed_mem / n, fixed_mem / n)
            return best[2]
        for hp in HEADS:
            a = 0.0 if hp == 0.0 else self._edges(hp, in_range, upper=False)
            for tp in TAILS:
                b = self._edges(tp, in_range, upper=True)
                if b <= a:
                    continue
                hits, mem = evaluate(a, b)
                if mem <= budget + 1e-9 and (hits, -mem) > best[:2]:
                    best = (hits, -mem, Windows(a, b - a, "hybrid"))
        for fp in FIRST_CUTS:
            first = self._edges(fp, in_range, upper=True)
            rest = [(i, c) for i, c in enumerate(self.counts) if c and (i + 0.5) * w > first]
            n_rest = sum(c for _, c in rest)
            if not n_rest:
                continue
            for hp in SECOND_HEADS:  # the second window from the idle times beyond the first cut, no margins
                a = _conditional_edge(rest, n_rest, hp, w, upper=False)
                for tp in SECOND_TAILS:
                    b = _conditional_edge(rest, n_rest, tp, w, upper=True)
                    if b <= a or a <= first:
                        continue
                    hits, mem = evaluate(a, b, first)
                    if mem <= budget + 1e-9 and (hits, -mem) > best[:2]:
                        best = (hits, -mem, Windows(a, b - a, "hybrid", first_keep_s=first))
        self.expected = (-best[1] / n, fixed_mem / n)
        return best[2]

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        return {"counts": {str(i): c for i, c in enumerate(self.counts) if c}, "total": self.total,
                "oob": self.oob, "oob_ewma": self.oob_ewma}

    @classmethod
    def from_dict(cls, cfg: HistogramConfig, data: dict[str, Any]) -> IdleHistogram:
        h = cls(cfg)
        for k, c in dict(data.get("counts", {})).items():
            if 0 <= int(k) < len(h.counts):
                h.counts[int(k)] = int(c)
        h.total, h.oob, h.oob_ewma = int(data.get("total", 0)), int(data.get("oob", 0)), float(
            data.get("oob_ewma", 0.0))
        return h
