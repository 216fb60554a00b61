"""An in-memory fake of the ConductorPort: tries each candidate once, then picks the best mean reward.

A complete, deterministic implementation (no randomness) for tests of the DAG tracker and the gateway;
it passes the conductor contract suite. The reward is the real policy's formula.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from symphony_actors.conductor.bandit import ALGORITHMS, parse_policy
from symphony_actors.domain.errors import NotFoundError, UsageError

__all__ = ["FakeConductor"]


class FakeConductor:
    """ConductorPort in plain dicts: untried candidates first, then the best mean reward per task."""

    def __init__(self, policy: Mapping[str, Any] | None = None) -> None:
        self.policy = parse_policy({"algorithm": "greedy", **dict(policy or {})})
        self.running = True
        self.log: list[dict[str, Any]] = []
        self.by_id: dict[str, dict[str, Any]] = {}
        self.sums: dict[tuple[str, str], list[float]] = {}  # (task, instrument) -> [n, total reward]

    def start(self) -> dict[str, Any]:
        self.running = True
        return self.status()

    def stop(self) -> dict[str, Any]:
        self.running = False
        return self.status()

    def status(self) -> dict[str, Any]:
        fed = sum(1 for r in self.log if "reward" in r)
        return {"running": self.running, "algorithm": self.policy["algorithm"], "decisions": len(self.log),
                "feedback": fed, "awaiting_feedback": len(self.log) - fed}

    def decide(self, *, task: str, candidates: Sequence[str], context: Mapping[str, Any] | None = None,
               decision_id: str | None = None) -> dict[str, Any]:
        if not candidates:
            raise UsageError(f"no candidate instruments for task {task!r}", task=task)
        cands = list(dict.fromkeys(candidates))
        scores = {c: (s[1] / s[0]) for c in cands if (s := self.sums.get((task, c))) and s[0]}
        if not self.running or self.policy["algorithm"] == "static":
            choice, reason = cands[0], "conductor stopped: first candidate" if not self.running else "static"
        elif len(scores) < len(cands):
            choice, reason = next(c for c in cands if c not in scores), "not tried yet"
        else:
            choice = max(cands, key=lambda c: scores[c])
            reason = f"best mean reward {scores[choice]:.3f}"
        did = decision_id or f"fake-d{len(self.log) + 1}"
        record = {"decision_id": did, "task": task, "instrument": choice, "explore": choice not in scores,
                  "reason": reason, "scores": scores, "algorithm": self.policy["algorithm"] if self.running
                  else "static", "candidates": cands}
        self.log.append(record)
        self.by_id[did] = record
        return {k: record[k] for k in ("decision_id", "instrument", "explore", "reason", "scores", "algorithm")}

    def feedback(self, *, decision_id: str, quality: float | None = None, cost: float | None = None,
                 latency_s: float | None = None, success: bool = True) -> dict[str, Any]:
        record = self.by_id.get(decision_id)
        if record is None:
            raise NotFoundError(f"no decision {decision_id!r}", decision_id=decision_id)
        if "reward" in record:
            return {"decision_id": decision_id, "reward": record["reward"], "duplicate": True}
        if any(v is not None and v < 0 for v in (quality, cost, latency_s)):
            raise UsageError("quality, cost and latency must be >= 0", decision_id=decision_id)
        rated = record.pop("rated", {})
        quality = quality if quality is not None else rated.get("quality")
        cost = cost if cost is not None else rated.get("cost")
        reward = self._reward(quality, cost, latency_s, success)
        record.update(reward=reward, quality=quality, cost=cost, latency_s=latency_s, success=success)
        s = self.sums.setdefault((record["task"], record["instrument"]), [0.0, 0.0])
        s[0] += 1
        s[1] += reward
        return {"decision_id": decision_id, "reward": reward, "duplicate": False}

    def rate(self, *, decision_id: str, quality: float | None = None, cost: float | None = None) -> dict[str, Any]:
        record = self.by_id.get(decision_id)
        if record is None:
            raise NotFoundError(f"no decision {decision_id!r}", decision_id=decision_id)
        if quality is None and cost is None:
            raise UsageError("a rating needs a quality or a cost", decision_id=decision_id)
        if any(v is not None and v < 0 for v in (quality, cost)):
            raise UsageError("quality and cost must be >= 0", decision_id=decision_id)
        if "reward" not in record:
            record.setdefault("rated", {}).update({k: v for k, v in (("quality", quality), ("cost", cost))
                                                   if v is not None})
            return {"decision_id": decision_id, "reward": None, "amended": False, "waiting": True}
        q = quality if quality is not None else record.get("quality")
        c = cost if cost is not None else record.get("cost")
        reward = self._reward(q, c, record.get("latency_s"), record["success"])
        self.sums[(record["task"], record["instrument"])][1] += reward - record["reward"]
        record.update(reward=reward, quality=q, cost=c)
        return {"decision_id": decision_id, "reward": reward, "amended": True, "waiting": False}

    def _reward(self, quality: float | None, cost: float | None, latency_s: float | None, success: bool) -> float:
        p, w = self.policy, self.policy["weights"]
        return float(p["failure_reward"]) if not success else (
            w["quality"] * (quality or 0.0) - w["cost"] * min((cost or 0.0) / p["cost_scale"], 1.0)
            - w["latency"] * min((latency_s or 0.0) / p["latency_scale"], 1.0))

    def history(self, *, task: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        rows = [dict(r) for r in self.log if task is None or r["task"] == task]
        return rows[-limit:] if limit > 0 else []

    def policies(self) -> dict[str, Any]:
        return {"current": copy.deepcopy(self.policy), "algorithms": list(ALGORITHMS)}

    def set_policy(self, *, policy: Mapping[str, Any], merge: bool = False) -> dict[str, Any]:
        self.policy = parse_policy(policy, self.policy if merge else parse_policy({"algorithm": "greedy"}))
        return copy.deepcopy(self.policy)

    def metrics(self, *, task: str | None = None) -> dict[str, Any]:
        tasks: dict[str, dict[str, Any]] = {}
        for r in self.log:
            if task is None or r["task"] == task:
                row = tasks.setdefault(r["task"], {}).setdefault(r["instrument"], {"decisions": 0, "feedback": 0})
                row["decisions"] += 1
        for (t, inst), (n, total) in self.sums.items():
            if task is None or t == task:
                row = tasks.setdefault(t, {}).setdefault(inst, {"decisions": 0, "feedback": 0})
                row.update(feedback=int(n), mean_reward=total / n)
        explored = sum(1 for r in self.log if r["explore"])
        return {"decisions": len(self.log), "feedback": sum(1 for r in self.log if "reward" in r),
                "explore_rate": explored / len(self.log) if self.log else 0.0, "tasks": tasks}
