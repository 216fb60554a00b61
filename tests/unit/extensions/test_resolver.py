"""Dependency resolution: choices, activation order, conflicts explained in words, cycles refused."""

from __future__ import annotations

from typing import Any

import pytest
from packaging.specifiers import SpecifierSet

from symphony_actors.domain.errors import DependencyError
from symphony_actors.extension_host.manifest import Manifest, parse_manifest
from symphony_actors.extension_host.versions import Requirement, resolve
from tests.unit.extensions.conftest import manifest_dict


def m(ext_id: str, version: str = "1.0", deps: dict[str, str] | None = None, **extra: Any) -> Manifest:
    return parse_manifest(manifest_dict(ext_id, version, dependencies=deps or {}, **extra))


def test_activation_order_puts_dependencies_first() -> None:
    """A diamond resolves with each extension after everything it needs."""
    top = m("p.top", deps={"p.left": ">=1", "p.right": ">=1"})
    left, right = m("p.left", deps={"p.base": ">=1"}), m("p.right", deps={"p.base": ">=1"})
    base = m("p.base")
    ids = resolve([top], [left, right, base]).ids
    assert ids[0] == "p.base" and ids[-1] == "p.top" and set(ids) == {"p.top", "p.left", "p.right", "p.base"}


def test_the_newest_version_in_range_is_chosen() -> None:
    a = m("p.a", deps={"p.b": ">=1,<3"})
    chosen = resolve([a], [m("p.b", "1.0"), m("p.b", "2.5"), m("p.b", "3.0")]).get("p.b")
    assert chosen is not None and str(chosen.version) == "2.5"


def test_a_version_satisfying_both_ranges_is_found_by_backtracking() -> None:
    """a needs c>=1, b needs c<2: c 1.5 is picked though 2.0 is newer."""
    a, b = m("p.a", deps={"p.c": ">=1"}), m("p.b", deps={"p.c": "<2"})
    top = m("p.top", deps={"p.a": "", "p.b": ""})
    res = resolve([top], [a, b, m("p.c", "1.5"), m("p.c", "2.0")])
    assert str(res.get("p.c").version) == "1.5"  # type: ignore[union-attr]


def test_a_conflict_is_explained_in_words() -> None:
    """'a.x needs b.y >=2, c.z needs b.y <2' with the installed versions."""
    ax, cz = m("a.x", deps={"b.y": ">=2"}), m("c.z", deps={"b.y": "<2"})
    top = m("p.app", deps={"a.x": "", "c.z": ""})
    with pytest.raises(DependencyError) as info:
        resolve([top], [ax, cz, m("b.y", "1.5"), m("b.y", "2.1")])
    text = str(info.value)
    assert "a.x 1.0 needs b.y >=2" in text and "c.z 1.0 needs b.y <2" in text
    assert "installed: b.y 1.5, 2.1" in text


def test_a_missing_dependency_is_named() -> None:
    with pytest.raises(DependencyError, match=r"p.a 1.0 needs p.gone >=1 \(p.gone is not installed\)"):
        resolve([m("p.a", deps={"p.gone": ">=1"})], [])


def test_no_installed_version_in_range_is_explained() -> None:
    with pytest.raises(DependencyError, match=r"p.a 1.0 needs p.b >=2 \(installed: p.b 1.0\)"):
        resolve([m("p.a", deps={"p.b": ">=2"})], [m("p.b", "1.0")])


def test_a_cycle_is_refused_with_its_path() -> None:
    x, y, z = m("p.x", deps={"p.y": ""}), m("p.y", deps={"p.z": ""}), m("p.z", deps={"p.x": ""})
    with pytest.raises(DependencyError, match=r"dependency cycle: p.x -> p.y -> p.z -> p.x") as info:
        resolve([x], [x, y, z])
    assert info.value.details["cycle"] == ["p.x", "p.y", "p.z", "p.x"]


def test_an_unsupported_symphony_version_is_refused() -> None:
    with pytest.raises(DependencyError, match=r"supports Symphony >=9"):
        resolve([m("p.a", symphony=">=9")], [], symphony_version="0.1.0")


def test_dependencies_that_do_not_support_this_symphony_are_explained() -> None:
    with pytest.raises(DependencyError, match=r"do(es)? not support Symphony 0.1.0"):
        resolve([m("p.a", deps={"p.b": ""})], [m("p.b", symphony=">=5")], symphony_version="0.1.0")


def test_requirements_can_be_roots() -> None:
    res = resolve([Requirement("p.b", SpecifierSet("<2"))], [m("p.b", "1.0"), m("p.b", "2.0")])
    assert [str(x.version) for x in res.order] == ["1.0"]


def test_prereleases_of_installed_extensions_are_accepted() -> None:
    res = resolve([m("p.a", deps={"p.b": ">=1"})], [m("p.b", "1.1rc1")])
    assert str(res.get("p.b").version) == "1.1rc1"  # type: ignore[union-attr]
