"""Resolve extension dependencies with resolvelib (pip's resolver core) and packaging version ranges.

:func:`resolve` picks one version of every extension reachable from the roots,
refuses dependency cycles (naming the cycle), and explains an impossible
request in words: ``a.x 1.0 needs b.y >=2, c.z 1.0 needs b.y <2 (installed: b.y 1.5)``.
The returned activation order puts every extension after its dependencies.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version
from resolvelib import AbstractProvider, BaseReporter, ResolutionImpossible, ResolutionTooDeep, Resolver

from symphony_actors import __version__
from symphony_actors.domain.errors import DependencyError
from symphony_actors.extension_host.manifest import Manifest

__all__ = ["Requirement", "Resolution", "explain_conflict", "find_cycle", "resolve"]


@dataclass(frozen=True, slots=True)
class Requirement:
    """``id`` in ``spec``, asked for by ``parent`` (None: by the user)."""

    id: str
    spec: SpecifierSet
    parent: Manifest | None = None

    def __str__(self) -> str:
        return f"{self.id} {self.spec}".rstrip()


@dataclass(frozen=True, slots=True)
class Resolution:
    """The chosen manifests; ``order`` is the activation order (dependencies first)."""

    order: tuple[Manifest, ...]

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.order]

    def get(self, ext_id: str) -> Manifest | None:
        return next((m for m in self.order if m.id == ext_id), None)


def _label(m: Manifest | None) -> str:
    return "you" if m is None else f"{m.id} {m.version}"


class _Provider(AbstractProvider[Requirement, Manifest, str]):
    def __init__(self, available: Mapping[str, list[Manifest]], symphony: Version) -> None:
        self.available = available
        self.symphony = symphony

    def identify(self, requirement_or_candidate: Requirement | Manifest) -> str:
        return requirement_or_candidate.id

    def get_preference(self, identifier: str, resolutions: Mapping[str, Manifest],
                       candidates: Mapping[str, Iterator[Manifest]], information: Mapping[str, Iterator[Any]],
                       backtrack_causes: Sequence[Any]) -> tuple[int, str]:
        # Fewest candidates first narrows the search; the id keeps the order deterministic.
        return (sum(1 for _ in candidates[identifier]), identifier)

    def find_matches(self, identifier: str, requirements: Mapping[str, Iterator[Requirement]],
                     incompatibilities: Mapping[str, Iterator[Manifest]]) -> list[Manifest]:
        reqs = list(requirements[identifier])
        bad = {m.version for m in incompatibilities[identifier]}
        out = [m for m in self.available.get(identifier, ())
               if m.version not in bad and m.symphony.contains(self.symphony, prereleases=True)
               and all(r.spec.contains(m.version, prereleases=True) for r in reqs)]
        return sorted(out, key=lambda m: m.version, reverse=True)  # newest first

    def is_satisfied_by(self, requirement: Requirement, candidate: Manifest) -> bool:
        return candidate.id == requirement.id and requirement.spec.contains(candidate.version, prereleases=True)

    def get_dependencies(self, candidate: Manifest) -> list[Requirement]:
        return [Requirement(d.id, d.spec, candidate) for d in candidate.dependencies]


def resolve(roots: Sequence[Manifest | Requirement], available: Iterable[Manifest], *,
            symphony_version: str = __version__) -> Resolution:
    """Choose versions for ``roots`` and everything they need from ``available``.

    A root ``Manifest`` asks for exactly its own version (it must also be in ``available`` or is added).
    Raises ``DependencyError`` with a plain-words explanation on a conflict, a missing extension, an
    unsupported Symphony version or a cycle.
    """
    pool: dict[str, list[Manifest]] = {}
    for m in available:
        versions = pool.setdefault(m.id, [])
        if all(v.version != m.version for v in versions):
            versions.append(m)
    reqs: list[Requirement] = []
    symphony = Version(symphony_version)
    for r in roots:
        if isinstance(r, Manifest):
            if not r.symphony.contains(symphony, prereleases=True):
                raise DependencyError(f"{r.id} {r.version} supports Symphony {r.symphony}, "
                                      f"but this is Symphony {symphony}", extension=r.id)
            versions = pool.setdefault(r.id, [])
            if all(v.version != r.version for v in versions):
                versions.append(r)
            reqs.append(Requirement(r.id, SpecifierSet(f"=={r.version}")))
        else:
            reqs.append(r)
    provider = _Provider(pool, symphony)
    try:
        result = Resolver(provider, BaseReporter()).resolve(reqs, max_rounds=1000)
    except ResolutionImpossible as exc:
        raise DependencyError(explain_conflict(list(exc.causes), pool, symphony),
                              causes=[{"needs": str(c.requirement), "by": _label(c.parent)} for c in exc.causes]
                              ) from None
    except ResolutionTooDeep:
        raise DependencyError("dependency resolution gave up after 1000 rounds; the version ranges are too "
                              "tangled to settle") from None
    chosen: dict[str, Manifest] = dict(result.mapping)
    cycle = find_cycle(chosen)
    if cycle:
        raise DependencyError("dependency cycle: " + " -> ".join(cycle) + "; extensions must not depend on "
                              "each other in a loop", cycle=cycle)
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for ext_id in sorted(chosen):
        sorter.add(ext_id, *sorted(d.id for d in chosen[ext_id].dependencies))
    return Resolution(tuple(chosen[i] for i in sorter.static_order()))


def find_cycle(manifests: Mapping[str, Manifest]) -> list[str]:
    """A dependency cycle among ``manifests`` as ``[a, b, ..., a]``, or ``[]`` (deterministic: ids sorted)."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for dep in sorted(d.id for d in manifests[node].dependencies):
            if dep not in manifests:
                continue
            if state.get(dep) == 1:
                return [*stack[stack.index(dep):], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for ext_id in sorted(manifests):
        if ext_id not in state:
            found = visit(ext_id)
            if found:
                return found
    return []


def explain_conflict(causes: Sequence[Any], pool: Mapping[str, list[Manifest]], symphony: Version) -> str:
    """Turn resolvelib's causes into one sentence per extension that cannot be satisfied."""
    by_id: dict[str, list[Any]] = {}
    for cause in causes:
        by_id.setdefault(cause.requirement.id, []).append(cause)
    sentences: list[str] = []
    for ext_id in sorted(by_id):
        needs: list[str] = []
        for cause in by_id[ext_id]:
            spec = str(cause.requirement.spec) or "any version"
            text = f"{_label(cause.parent)} need{'' if cause.parent is None else 's'} {ext_id} {spec}"
            if text not in needs:
                needs.append(text)
        versions = sorted(pool.get(ext_id, ()), key=lambda m: m.version)
        if not versions:
            tail = f"{ext_id} is not installed"
        else:
            listed = ", ".join(str(m.version) for m in versions)
            tail = f"installed: {ext_id} {listed}"
            unsupported = [str(m.version) for m in versions if not m.symphony.contains(symphony, prereleases=True)]
            if unsupported:
                tail += f"; {', '.join(unsupported)} do{'es' if len(unsupported) == 1 else ''} not support " \
                        f"Symphony {symphony}"
        sentences.append(", ".join(needs) + f" ({tail})")
    return "cannot resolve dependencies: " + "; ".join(sentences)
