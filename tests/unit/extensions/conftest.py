"""Fixtures for extension tests: the example extensions and a builder of throwaway ones."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "extensions"

OPERATOR_CODE = '''
from symphony_actors.sdk import Operator

class Echo(Operator):
    def process(self, inputs, params):
        return {"echo": inputs.get("value"), "params": params}
'''


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # TOML basic strings accept JSON escapes
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f'"{k}" = {_toml_value(x)}' for k, x in v.items()) + " }"
    raise TypeError(v)


def write_extension(folder: Path, manifest: Mapping[str, Any], code: str = OPERATOR_CODE,
                    module: str = "main") -> Path:
    """Write ``extension.toml`` (from a dict) and ``<module>.py`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"{k} = {_toml_value(v)}" for k, v in manifest.items()]
    (folder / "extension.toml").write_text("\n".join(lines) + "\n")
    (folder / f"{module}.py").write_text(code)
    return folder


def manifest_dict(ext_id: Any = "test.echo", version: Any = "1.0.0", **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": ext_id, "version": version, "type": "operator", "name": "Echo",
                            "description": "Echoes its input.", "entry": "main:Echo"}
    base.update(extra)
    return base


@pytest.fixture
def examples() -> Path:
    return EXAMPLES


@pytest.fixture
def make_ext(tmp_path: Path) -> Callable[..., Path]:
    """``make_ext("pub.name", "1.0", dependencies={...}, code=..., ...)`` -> a folder holding the extension."""
    def make(ext_id: str = "test.echo", version: str = "1.0.0", *, code: str = OPERATOR_CODE,
             folder: str | None = None, **extra: Any) -> Path:
        return write_extension(tmp_path / "src" / (folder or f"{ext_id}-{version}"),
                               manifest_dict(ext_id, version, **extra), code)
    return make
