"""The Conductor's policy: a contextual bandit over instruments, learning from feedback.

Arms are instruments; the context is the task kind plus the caller's (coarse) context values. Each
feedback becomes one reward::

    reward = w_quality * quality - w_cost * min(cost / cost_scale, 1) - w_latency * min(latency / latency_scale, 1)

or ``failure_reward`` when the task failed. Statistics are kept per (context, instrument) and per
(task, instrument); a context with fewer than ``min_context_samples`` feedbacks for an arm borrows the
task-level statistics as its prior, so a new context starts from what the task already knows.

Algorithms: ``thompson`` (Gaussian Thompson sampling: sample each arm's mean from its posterior, pick the
best), ``epsilon_greedy`` (explore uniformly with probability ``epsilon``, else the best mean; untried
arms first), ``greedy`` and ``static`` (always the first candidate). Randomness comes from one seeded
generator, so the same calls in the same order give the same decisions.
"""

from __future__ import annotations

import copy
import math
import random
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from symphony_actors.domain.errors import NotFoundError, Problem, UsageError, ValidationError

__all__ = ["ALGORITHMS", "DEFAULT_POLICY", "Arm", "Bandit", "parse_policy"]

ALGORITHMS = ("thompson", "epsilon_greedy", "greedy", "static")

DEFAULT_POLICY: dict[str, Any] = {
    "algorithm": "thompson",
    "epsilon": 0.1,
    "weights": {"quality": 1.0, "cost": 0.3, "latency": 0.3},
    "cost_scale": 1.0,
    "latency_scale": 10.0,
    "failure_reward": -1.0,
    "prior_mean": 0.0,
    "prior_strength": 1.0,
    "prior_var": 0.25,
    "min_context_samples": 5,
    "seed": 0,
}


def parse_policy(data: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Validate a policy (missing keys from ``base`` or the defaults); every problem at once."""
    merged = copy.deepcopy(dict(base or DEFAULT_POLICY))
    problems: list[Problem] = []
    for key, value in data.items():
        if key not in DEFAULT_POLICY:
            problems.append(Problem(str(key), f"unknown key (known: {', '.join(sorted(DEFAULT_POLICY))})"))
        elif key == "weights":
            if not isinstance(value, Mapping) or set(value) - {"quality", "cost", "latency"}:
                problems.append(Problem("weights", "must map quality, cost and latency to numbers"))
            else:
                merged["weights"] = {**merged["weights"], **value}
        else:
            merged[key] = value
    if merged["algorithm"] not in ALGORITHMS:
        problems.append(Problem("algorithm", f"{merged['algorithm']!r} is not one of {', '.join(ALGORITHMS)}"))
    for key in ("epsilon", "cost_scale", "latency_scale", "failure_reward", "prior_mean", "prior_strength",
                "prior_var", "min_context_samples", "seed"):
        v = merged[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            problems.append(Problem(key, f"must be a finite number, not {v!r}"))
    for key, value in merged["weights"].items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            problems.append(Problem(f"weights.{key}", f"must be a finite number, not {value!r}"))
    if not problems:
        if not 0.0 <= merged["epsilon"] <= 1.0:
            problems.append(Problem("epsilon", "must be within [0, 1]"))
        for key in ("cost_scale", "latency_scale", "prior_strength", "prior_var"):
            if merged[key] <= 0:
                problems.append(Problem(key, "must be > 0"))
    if problems:
        raise ValidationError(problems, subject="conductor policy")
    return merged


@dataclass(slots=True)
class Arm:
    """Running statistics of rewards (Welford) and of the raw signals."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    quality: float = 0.0
    cost: float = 0.0
    latency: float = 0.0
    failures: int = 0

    def add(self, reward: float, quality: float, cost: float, latency: float, failed: bool) -> None:
        self.n += 1
        delta = reward - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (reward - self.mean)
        self.quality += (quality - self.quality) / self.n
        self.cost += (cost - self.cost) / self.n
        self.latency += (latency - self.latency) / self.n
        self.failures += int(failed)

    def remove(self, reward: float, quality: float, cost: float, latency: float, failed: bool) -> None:
        """Take back one sample given to :meth:`add` (reverse Welford): to replace it with a better one."""
        self.failures = max(0, self.failures - int(failed))
        if self.n <= 1:
            self.n, self.mean, self.m2, self.quality, self.cost, self.latency = 0, 0.0, 0.0, 0.0, 0.0, 0.0
            return
        n = self.n - 1
        mean = (self.n * self.mean - reward) / n
        self.m2 = max(0.0, self.m2 - (reward - mean) * (reward - self.mean))
        self.quality = (self.n * self.quality - quality) / n
        self.cost = (self.n * self.cost - cost) / n
        self.latency = (self.n * self.latency - latency) / n
        self.mean, self.n = mean, n

    def to_list(self) -> list[float]:
        return [self.n, self.mean, self.m2, self.quality, self.cost, self.latency, self.failures]

    @classmethod
    def from_list(cls, v: Sequence[float]) -> Arm:
        return cls(int(v[0]), float(v[1]), float(v[2]), float(v[3]), float(v[4]), float(v[5]), int(v[6]))


def _check_signals(decision_id: str, **signals: float | None) -> None:
    for name, value in signals.items():
        if value is not None and (not isinstance(value, int | float) or not math.isfinite(value) or value < 0):
            raise UsageError(f"{name} must be a finite number >= 0, not {value!r}", decision_id=decision_id)


def context_key(task: str, context: Mapping[str, Any] | None) -> str:
    if not context:
        return task
    return task + "|" + ",".join(f"{k}={context[k]}" for k in sorted(context))


class Bandit:
    """Decisions, feedback and statistics; ``dirty`` names arm keys changed since the last save."""

    def __init__(self, policy: Mapping[str, Any] | None = None, history_size: int = 10_000,
                 pending_size: int = 100_000) -> None:
        self.policy = parse_policy(policy or {})
        self.rng = random.Random(self.policy["seed"])
        self.running = True
        self.arms: dict[str, Arm] = {}  # "<context or task>\x1f<instrument>" -> stats
        self.pending: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.pending_size = pending_size
        self.log: deque[dict[str, Any]] = deque(maxlen=history_size)
        self.decisions = 0
        self.feedbacks = 0
        self.explorations = 0
        self.decided: dict[str, int] = {}  # "<task>\x1f<instrument>" -> times chosen
        self._n = 0
        self.dirty: set[str] = set()

    # ------------------------------------------------------------------ estimates
    def _prior(self, task: str, instrument: str) -> tuple[float, float]:
        """Prior mean and strength for a context arm: the task-level arm if it has data, else the policy's."""
        p = self.policy
        t = self.arms.get(f"{task}\x1f{instrument}")
        if t is not None and t.n:
            return t.mean, min(float(t.n), float(p["min_context_samples"]))
        return float(p["prior_mean"]), float(p["prior_strength"])

    def _posterior(self, ctx: str, task: str, instrument: str) -> tuple[float, float]:
        """Posterior mean and standard deviation of an arm's mean reward."""
        p = self.policy
        arm = self.arms.get(f"{ctx}\x1f{instrument}") or Arm()
        mu0, k0 = self._prior(task, instrument)
        k = k0 + arm.n
        mean = (k0 * mu0 + arm.n * arm.mean) / k
        var = (float(p["prior_var"]) * k0 + arm.m2) / k  # pooled reward variance, shrunk to the prior
        return mean, math.sqrt(var / k)

    # ------------------------------------------------------------------ decide
    def decide(self, task: str, candidates: Sequence[str], context: Mapping[str, Any] | None = None,
               decision_id: str | None = None) -> dict[str, Any]:
        if not candidates:
            raise UsageError(f"no candidate instruments for task {task!r}", task=task)
        cands = list(dict.fromkeys(candidates))
        ctx = context_key(task, context)
        algo = self.policy["algorithm"] if self.running else "static"
        scores: dict[str, float] = {}
        explore = False
        if algo == "static":
            choice = cands[0]
            reason = "conductor stopped: first candidate" if not self.running else "static policy: first candidate"
        elif algo == "thompson":
            best = -math.inf
            means = {}
            choice = cands[0]
            for c in cands:
                mean, sd = self._posterior(ctx, task, c)
                means[c] = mean
                scores[c] = s = self.rng.gauss(mean, sd)
                if s > best:
                    best, choice = s, c
            explore = choice != max(cands, key=lambda c: means[c])
            reason = (f"thompson: sampled {scores[choice]:.3f} (posterior mean {means[choice]:.3f}) "
                      f"best of {len(cands)}")
        else:
            for c in cands:
                arm = self.arms.get(f"{ctx}\x1f{c}")
                scores[c] = self._posterior(ctx, task, c)[0] if arm and arm.n else math.inf
            untried = [c for c in cands if scores[c] == math.inf]
            if algo == "epsilon_greedy" and self.rng.random() < float(self.policy["epsilon"]):
                choice, explore = self.rng.choice(cands), True
                reason = f"epsilon_greedy: exploring (epsilon {self.policy['epsilon']:g})"
            elif untried:
                choice, explore = untried[0], True
                reason = f"{algo}: {choice} not tried in this context yet"
            else:
                choice = max(cands, key=lambda c: scores[c])
                reason = f"{algo}: best mean reward {scores[choice]:.3f}"
            scores = {c: (v if v != math.inf else float("nan")) for c, v in scores.items()}
        self._n += 1
        did = decision_id or f"d{self._n}"
        record = {"decision_id": did, "task": task, "context": ctx, "instrument": choice, "candidates": cands,
                  "explore": explore, "reason": reason, "scores": scores, "algorithm": algo}
        self.pending[did] = record
        if len(self.pending) > self.pending_size:
            self.pending.popitem(last=False)
        self.log.append(record)
        self.decisions += 1
        self.explorations += int(explore)
        k = f"{task}\x1f{choice}"
        self.decided[k] = self.decided.get(k, 0) + 1
        return {k2: record[k2] for k2 in ("decision_id", "instrument", "explore", "reason", "scores", "algorithm")}

    # ------------------------------------------------------------------ feedback
    def reward(self, quality: float | None, cost: float | None, latency_s: float | None, success: bool) -> float:
        p = self.policy
        if not success:
            return float(p["failure_reward"])
        w = p["weights"]
        r = w["quality"] * (quality if quality is not None else 0.0)
        r -= w["cost"] * min((cost or 0.0) / p["cost_scale"], 1.0)
        r -= w["latency"] * min((latency_s or 0.0) / p["latency_scale"], 1.0)
        return float(r)

    def feedback(self, decision_id: str, quality: float | None = None, cost: float | None = None,
                 latency_s: float | None = None, success: bool = True) -> dict[str, Any]:
        record = self._record(decision_id)
        if "reward" in record:
            return {"decision_id": decision_id, "reward": record["reward"], "duplicate": True}
        _check_signals(decision_id, quality=quality, cost=cost, latency_s=latency_s)
        rated = record.pop("rated", {})  # a rating that came first fills what this feedback leaves out
        quality = quality if quality is not None else rated.get("quality")
        cost = cost if cost is not None else rated.get("cost")
        r = self.reward(quality, cost, latency_s, success)
        record.update(reward=r, quality=quality, cost=cost, latency_s=latency_s, success=success)
        for key in self._arm_keys(record):
            self.arms.setdefault(key, Arm()).add(r, quality or 0.0, cost or 0.0, latency_s or 0.0, not success)
            self.dirty.add(key)
        self.feedbacks += 1
        return {"decision_id": decision_id, "reward": r, "duplicate": False}

    def rate(self, decision_id: str, quality: float | None = None, cost: float | None = None) -> dict[str, Any]:
        """A quality score or a cost known later (from the user, or a node downstream): merged into the
        decision's feedback. Feedback given already has its sample replaced (``amended``); feedback still to
        come takes these values where it gives none (``waiting``)."""
        record = self._record(decision_id)
        if quality is None and cost is None:
            raise UsageError("a rating needs a quality or a cost", decision_id=decision_id)
        _check_signals(decision_id, quality=quality, cost=cost)
        if "reward" not in record:
            rated = record.setdefault("rated", {})
            rated.update({k: v for k, v in (("quality", quality), ("cost", cost)) if v is not None})
            return {"decision_id": decision_id, "reward": None, "amended": False, "waiting": True}
        old_q, old_c, lat = record.get("quality"), record.get("cost"), record.get("latency_s")
        new_q = quality if quality is not None else old_q
        new_c = cost if cost is not None else old_c
        failed = not record["success"]
        r = self.reward(new_q, new_c, lat, record["success"])
        for key in self._arm_keys(record):
            arm = self.arms.setdefault(key, Arm())
            arm.remove(record["reward"], old_q or 0.0, old_c or 0.0, lat or 0.0, failed)
            arm.add(r, new_q or 0.0, new_c or 0.0, lat or 0.0, failed)
            self.dirty.add(key)
        record.update(reward=r, quality=new_q, cost=new_c)
        return {"decision_id": decision_id, "reward": r, "amended": True, "waiting": False}

    def _record(self, decision_id: str) -> dict[str, Any]:
        record = self.pending.get(decision_id)
        if record is None:
            raise NotFoundError(f"no decision {decision_id!r} awaits feedback", decision_id=decision_id)
        return record

    @staticmethod
    def _arm_keys(record: Mapping[str, Any]) -> tuple[str, ...]:
        ctx, task, inst = record["context"], record["task"], record["instrument"]
        # a context-free decision: the task arm is the context arm
        return (f"{task}\x1f{inst}",) if ctx == task else (f"{ctx}\x1f{inst}", f"{task}\x1f{inst}")

    # ------------------------------------------------------------------ queries
    def history(self, task: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        rows = [dict(r) for r in self.log if task is None or r["task"] == task]
        return rows[-limit:] if limit > 0 else []

    def metrics(self, task: str | None = None) -> dict[str, Any]:
        per: dict[str, dict[str, Any]] = {}
        for key, arm in self.arms.items():
            t, inst = key.split("\x1f", 1)
            if "|" in t or (task is not None and t != task):
                continue
            per.setdefault(t, {})[inst] = {"feedback": arm.n, "mean_reward": arm.mean, "quality": arm.quality,
                                           "cost": arm.cost, "latency_s": arm.latency, "failures": arm.failures}
        for key, n in self.decided.items():
            t, inst = key.split("\x1f", 1)
            if task is None or t == task:
                per.setdefault(t, {}).setdefault(inst, {"feedback": 0})["decisions"] = n
        return {"decisions": self.decisions, "feedback": self.feedbacks,
                "explore_rate": self.explorations / self.decisions if self.decisions else 0.0, "tasks": per}

    def status(self) -> dict[str, Any]:
        return {"running": self.running, "algorithm": self.policy["algorithm"], "decisions": self.decisions,
                "feedback": self.feedbacks, "awaiting_feedback": sum(1 for r in self.pending.values()
                                                                     if "reward" not in r)}

    def set_policy(self, data: Mapping[str, Any], merge: bool = False) -> dict[str, Any]:
        new = parse_policy(data, self.policy if merge else None)
        if new["seed"] != self.policy["seed"]:
            self.rng = random.Random(new["seed"])
        self.policy = new
        return copy.deepcopy(new)
