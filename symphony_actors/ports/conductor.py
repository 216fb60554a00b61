"""The Conductor's port: which instrument serves a task, learned from feedback.

The DAG tracker asks :meth:`ConductorPort.decide` with a task kind and the candidate instruments that
can serve it, runs the chosen one, then reports :meth:`ConductorPort.feedback` (quality, cost, latency,
success). The policy turns feedback into a reward and learns per task kind and context. A stopped
conductor still answers ``decide`` (with the first candidate, saying so) so runs never wait on it.

Errors: ``NotFoundError`` (unknown decision id), ``UsageError`` (no candidates, bad policy: a
``ValidationError`` listing every problem).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["ConductorPort"]


@runtime_checkable
class ConductorPort(Protocol):
    """Start/stop, decide, feedback, history, policies and metrics of the Conductor."""

    def start(self) -> dict[str, Any]:
        """Begin deciding by the policy (idempotent); returns :meth:`status`."""
        ...

    def stop(self) -> dict[str, Any]:
        """Stop exploring and learning-driven choice: ``decide`` returns the first candidate until started."""
        ...

    def status(self) -> dict[str, Any]:
        """``running``, the policy's algorithm, decisions made, feedback received, decisions awaiting feedback."""
        ...

    def decide(self, *, task: str, candidates: Sequence[str], context: Mapping[str, Any] | None = None,
               decision_id: str | None = None) -> dict[str, Any]:
        """Pick an instrument: ``{"decision_id", "instrument", "explore", "reason", "scores", "algorithm"}``."""
        ...

    def feedback(self, *, decision_id: str, quality: float | None = None, cost: float | None = None,
                 latency_s: float | None = None, success: bool = True) -> dict[str, Any]:
        """Report how the decision went; returns the ``reward`` learned from it (idempotent per decision)."""
        ...

    def rate(self, *, decision_id: str, quality: float | None = None, cost: float | None = None) -> dict[str, Any]:
        """A quality score or cost known later (from the user or a node downstream), merged into the
        decision's feedback: given already, its sample is replaced (``amended``); still to come, it takes
        these values where it gives none (``waiting``). ``{decision_id, reward, amended, waiting}``."""
        ...

    def history(self, *, task: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Recent decisions, newest last, with their feedback and reward once known."""
        ...

    def policies(self) -> dict[str, Any]:
        """``{"current": policy, "algorithms": [...]}``."""
        ...

    def set_policy(self, *, policy: Mapping[str, Any], merge: bool = False) -> dict[str, Any]:
        """Replace the policy (keys not given take their defaults) or, with ``merge``, update only the keys
        given; learned statistics are kept. ``ValidationError`` lists every problem."""
        ...

    def metrics(self, *, task: str | None = None) -> dict[str, Any]:
        """Per task kind and instrument: decisions, feedback count, mean reward, quality, cost, latency."""
        ...
