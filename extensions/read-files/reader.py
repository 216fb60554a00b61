"""Read the text files of a project: globbed, bounded, no binaries, no symlinks, every skip explained."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any

from symphony_actors.sdk import Operator, UsageError

SNIFF = 8192


def matches_any(name: str, rel: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(rel, p) for p in patterns)


class ReadFiles(Operator):
    def process(self, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        root = self.ctx.check_path(inputs["root"], "read")
        if not root.is_dir():
            raise UsageError(f"{root} is not a folder")
        include, exclude = params["include"], params["exclude"]
        files: list[dict[str, Any]] = []
        skipped: list[dict[str, str]] = []
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            base = Path(dirpath)
            rel_dir = base.relative_to(root).as_posix()
            dirnames[:] = sorted(d for d in dirnames
                                 if not matches_any(d, f"{rel_dir}/{d}".lstrip("./"), exclude))
            for name in sorted(filenames):
                path = base / name
                rel = path.relative_to(root).as_posix()
                if matches_any(name, rel, exclude) or not matches_any(name, rel, include):
                    continue
                reason = self._skip_reason(path, params["max_bytes"])
                if reason:
                    skipped.append({"path": rel, "reason": reason})
                    continue
                if len(files) >= params["max_files"]:
                    skipped.append({"path": rel, "reason": f"more than {params['max_files']} files"})
                    continue
                data = path.read_bytes()
                text = data.decode("utf-8", errors="replace")
                files.append({"path": rel, "text": text, "bytes": len(data),
                              "lines": text.count("\n") + (1 if text and not text.endswith("\n") else 0)})
        files.sort(key=lambda f: f["path"])
        self.ctx.log("info", "read project files", root=str(root), files=len(files), skipped=len(skipped))
        return {"root": str(root), "files": files, "skipped": skipped}

    @staticmethod
    def _skip_reason(path: Path, max_bytes: int) -> str:
        if path.is_symlink():
            return "symbolic link"
        if not path.is_file():
            return "not a regular file"
        size = path.stat().st_size
        if size > max_bytes:
            return f"{size} bytes, over the {max_bytes}-byte limit"
        with path.open("rb") as fh:
            if b"\x00" in fh.read(SNIFF):
                return "binary"
        return ""
