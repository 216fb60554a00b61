"""Which Python callables ``builtin.call`` nodes may run: workflows are data, not code.

A workflow file comes from anywhere (a colleague, a download, a generated run), so a
node ``builtin.call`` with ``callable = "os:system"`` must not be able to run a shell
command. Only callables on the user's allow-list run; the list is empty by default.

A :class:`CallablePolicy` holds the allowed patterns: ``module:function`` exactly, or
``module:*`` for every function of a module (``pkg.*:*`` for a package and its
sub-modules). :func:`check_callables` names every ``builtin.call`` node the policy
refuses (one :class:`Problem` per node); :func:`check` in ``validate.py`` runs it, and the
``builtin.call`` operator checks again before it imports anything.

The policy in force in a process is :func:`current` (deny-all until the process's entry
point installs one with :func:`use`): ``symphony_actors.config.callable_policy`` reads the
user's allow-list (``SYMPHONY_ALLOWED_CALLABLES``, ``<data dir>/allowed-callables``) and
the runtime installs it before the system's processes are forked, so every actor inherits it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from symphony_actors.domain.errors import Problem, UsageError

if TYPE_CHECKING:
    from symphony_actors.domain.workflow.model import Workflow

__all__ = ["CALL_TYPE", "DENY_ALL", "DISALLOWED", "CallablePolicy", "check_callables", "current", "use", "using"]

CALL_TYPE = "builtin.call"
DISALLOWED = "disallowed_callable"  # the Problem.kind of a refused callable
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PATTERN = re.compile(rf"^{_NAME}(\.{_NAME})*(\.\*)?:({_NAME}(\.{_NAME})*|\*)$")
_PATH = re.compile(rf"^{_NAME}(\.{_NAME})*:{_NAME}(\.{_NAME})*$")


@dataclass(frozen=True, slots=True)
class CallablePolicy:
    """Allowed ``module:function`` patterns (``module:*``, ``package.*:*``); empty allows nothing."""

    patterns: tuple[str, ...] = ()
    source: str = "the default (nothing allowed)"

    @classmethod
    def parse(cls, items: Iterable[str], source: str) -> CallablePolicy:
        """Patterns from a list of strings; a malformed one is a ``UsageError`` naming it and ``source``."""
        out: list[str] = []
        for raw in items:
            item = raw.strip()
            if not item:
                continue
            if not _PATTERN.match(item):
                raise UsageError(f"{source}: {item!r} is not an allowed-callable pattern (module:function, "
                                 "module:* or package.*:*)", pattern=item)
            if item not in out:
                out.append(item)
        return cls(tuple(out), source)

    def allows(self, path: str) -> bool:
        """Whether ``path`` (``module:function``) may be called."""
        if not _PATH.match(path):
            return False
        module, _, function = path.partition(":")
        for pattern in self.patterns:
            p_module, _, p_function = pattern.partition(":")
            if p_function not in ("*", function):
                continue
            if p_module == module or (p_module.endswith(".*") and
                                      (module == p_module[:-2] or module.startswith(p_module[:-1]))):
                return True
        return False

    def refusal(self, path: object) -> str:
        """The message for a refused callable: what was refused and how to allow it."""
        return (f"callable {path!r} is not on the allowed-callables list ({self.source}); workflows are data, "
                "so builtin.call runs only callables the user allows: add it to SYMPHONY_ALLOWED_CALLABLES or "
                "<data dir>/allowed-callables (docs/workflows.md)")


DENY_ALL = CallablePolicy()
_current: list[CallablePolicy] = [DENY_ALL]


def current() -> CallablePolicy:
    """The policy this process enforces (deny-all unless its entry point installed one)."""
    return _current[0]


def use(policy: CallablePolicy) -> CallablePolicy:
    """Install ``policy`` for this process (and the processes it forks from now on); returns the previous one."""
    previous = _current[0]
    _current[0] = policy
    return previous


@contextmanager
def using(policy: CallablePolicy) -> Iterator[CallablePolicy]:
    """``policy`` in force inside the block, the previous one restored after (tests, boot)."""
    previous = use(policy)
    try:
        yield policy
    finally:
        use(previous)


def check_callables(wf: Workflow, policy: CallablePolicy | None = None) -> list[Problem]:
    """One problem per ``builtin.call`` node whose ``params.callable`` the policy (default: current) refuses."""
    problems: list[Problem] = []
    from symphony_actors.domain.workflow.params import ParamRef  # here: config imports this module, cheaply

    pol = current() if policy is None else policy
    for i, node in enumerate(wf.nodes):
        if node.type != CALL_TYPE:
            continue
        path = node.params.get("callable") if hasattr(node.params, "get") else None
        if isinstance(path, ParamRef):
            continue  # a template's placeholder: checked once the template is instantiated
        if not isinstance(path, str) or not pol.allows(path):
            problems.append(Problem(f"nodes[{i}].params.callable", f"node {node.id!r}: {pol.refusal(path)}",
                                    DISALLOWED))
    return problems
