"""Python code metrics from the ast: cyclomatic complexity, nesting, size, arguments, docstrings."""

from __future__ import annotations

import ast
import io
import tokenize
from typing import Any

from symphony_actors.sdk import Operator, UsageError

_BRANCHES = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.IfExp, ast.ExceptHandler, ast.Assert, ast.match_case)
_NESTING = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.Match)
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


def complexity(node: ast.AST) -> int:
    """McCabe: 1 + decisions (branches, boolean operators, comprehension filters), not counting nested defs."""
    total = 1
    for child in _walk_own(node):
        if isinstance(child, _BRANCHES):
            total += 1
        elif isinstance(child, ast.BoolOp):
            total += len(child.values) - 1
        elif isinstance(child, ast.comprehension):
            total += len(child.ifs) + (1 if child.is_async else 0)
    return total


def _walk_own(node: ast.AST) -> list[ast.AST]:
    """Descendants of ``node`` without entering nested functions, lambdas or classes."""
    out: list[ast.AST] = []
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        out.append(child)
        if not isinstance(child, (*_FUNCS, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(child))
    return out


def nesting(node: ast.AST, depth: int = 0) -> int:
    """Deepest block nesting; an ``elif`` counts at the level of its ``if``."""
    deepest = depth
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (*_FUNCS, ast.Lambda, ast.ClassDef)):
            continue
        is_elif = isinstance(node, ast.If) and isinstance(child, ast.If) and node.orelse == [child]
        deeper = isinstance(child, _NESTING) and not is_elif
        deepest = max(deepest, nesting(child, depth + 1 if deeper else depth))
    return deepest


def code_lines(source: str) -> int:
    """Lines holding code: not blank, not only a comment, not inside a docstring-only statement."""
    lines: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                            tokenize.ENDMARKER, tokenize.STRING):
                continue
            lines.update(range(tok.start[0], tok.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        return sum(1 for line in source.splitlines() if line.strip() and not line.strip().startswith("#"))
    return len(lines)


def _functions(tree: ast.Module, path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, _FUNCS):
                a = child.args
                args = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
                if a.vararg:
                    args.append("*" + a.vararg.arg)
                if a.kwarg:
                    args.append("**" + a.kwarg.arg)
                end = child.end_lineno or child.lineno
                out.append({"path": path, "name": child.name, "qualname": prefix + child.name,
                            "line": child.lineno, "end_line": end, "lines": end - child.lineno + 1,
                            "complexity": complexity(child), "nesting": nesting(child),
                            "args": [x for x in args if x not in ("self", "cls")],
                            "is_async": isinstance(child, ast.AsyncFunctionDef),
                            "has_docstring": ast.get_docstring(child) is not None})
                visit(child, f"{prefix}{child.name}.<locals>.")
    visit(tree, "")
    return out


def analyse(source: str, path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    tree = ast.parse(source, filename=path)
    funcs = _functions(tree, path)
    imports: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            imports.append("." * node.level + (node.module or ""))
    module = {"path": path, "lines": len(source.splitlines()), "code_lines": code_lines(source),
              "classes": sum(isinstance(n, ast.ClassDef) for n in ast.walk(tree)), "functions": len(funcs),
              "imports": sorted(set(imports)), "has_docstring": ast.get_docstring(tree) is not None,
              "max_complexity": max((f["complexity"] for f in funcs), default=0),
              "mean_complexity": round(sum(f["complexity"] for f in funcs) / len(funcs), 3) if funcs else 0.0}
    return module, funcs


class PyMetrics(Operator):
    def process(self, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        sources: list[tuple[str, str]] = []
        if inputs.get("source") is not None:
            sources.append(("<source>", inputs["source"]))
        for i, f in enumerate(inputs.get("files") or []):
            if not isinstance(f, dict) or not isinstance(f.get("text"), str):
                raise UsageError(f"files[{i}] must be a dict with 'path' and 'text'")
            path = str(f.get("path", f"files[{i}]"))
            if path.endswith((".py", ".pyi")):
                sources.append((path, f["text"]))
        if not sources and inputs.get("files") is None:
            raise UsageError("give 'source' or 'files'")
        modules: list[dict[str, Any]] = []
        functions: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for path, text in sources:
            try:
                module, funcs = analyse(text, path)
            except SyntaxError as exc:
                errors.append({"path": path, "line": exc.lineno, "error": exc.msg})
                continue
            except ValueError as exc:  # e.g. source with NUL bytes
                errors.append({"path": path, "line": None, "error": str(exc)})
                continue
            modules.append(module)
            functions.extend(funcs)
        threshold = params["complexity_threshold"]
        complex_ = sorted((f for f in functions if f["complexity"] > threshold),
                          key=lambda f: (-f["complexity"], f["path"], f["line"]))
        summary = {"files": len(modules), "errors": len(errors), "functions": len(functions),
                   "code_lines": sum(m["code_lines"] for m in modules),
                   "mean_complexity": round(sum(f["complexity"] for f in functions) / len(functions), 3)
                   if functions else 0.0,
                   "max_complexity": max((f["complexity"] for f in functions), default=0),
                   "documented_ratio": round(sum(f["has_docstring"] for f in functions) / len(functions), 3)
                   if functions else 0.0,
                   "over_threshold": [{"path": f["path"], "qualname": f["qualname"], "complexity": f["complexity"]}
                                      for f in complex_]}
        return {"modules": modules, "functions": functions, "errors": errors, "summary": summary}
