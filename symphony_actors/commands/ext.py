"""``symphony ext ...``: install, list, search, inspect, enable/disable, remove and audit extensions.

These commands open the registry in the data directory in-process (SQLite in WAL
mode is safe beside a running system); they need no running system. ``load`` and
``unload`` need one (they start and stop extension actors); ``info`` adds the
running extension's state and guarantee levels when a system is running.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from symphony_actors.cli import add_system_options
from symphony_actors.config import resolve
from symphony_actors.domain.errors import NotRunningError, PermissionDenied, UsageError
from symphony_actors.extension_host.consent import CONSENT_REASON, describe
from symphony_actors.extension_host.permissions import parse_permission
from symphony_actors.extension_host.service import ExtensionHost
from symphony_actors.ports.service import ServiceSettings

__all__ = ["register"]


def _host(args: argparse.Namespace) -> ExtensionHost:
    address = resolve(getattr(args, "port", None), getattr(args, "data_dir", None))
    return ExtensionHost(ServiceSettings("extensions", address.data_dir))


def _json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)] if rows else \
        [len(h) for h in headers]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _permissions(title: str, perms: Sequence[str]) -> None:
    print(f"{title}:" + ("" if perms else " none"))
    for p in perms:
        print(f"  - {p}")


def _consent(refusal: PermissionDenied, denied: list[str]) -> bool:
    """After an install was refused for dangerous permissions: False (install without them) when --deny names
    them all, True on an interactive yes; re-raises the refusal without a terminal, refuses on a no."""
    risky = [str(p) for p in refusal.details.get("permissions", ())]
    if all(p in denied for p in risky):
        return False
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise refusal  # its message lists the permissions and the flags that grant them
    ext_id = refusal.details.get("extension", "the extension")
    print(f"{ext_id} requests permissions that need your consent:")
    for p in risky:
        print(f"  - {describe(p)}")
    answer = input("Grant them and install? [y/N] ").strip().lower()
    if answer in ("y", "yes"):
        return True
    raise PermissionDenied(f"{ext_id} was not installed: you did not grant {', '.join(risky)}",
                           extension=ext_id, permissions=risky, reason="declined")


def _install(args: argparse.Namespace) -> int:
    host = _host(args)
    denied = [str(parse_permission(d)) for d in args.deny or ()]  # checked before anything is installed
    if args.yes and args.grant:
        raise UsageError("--yes grants every requested permission: leave out --grant, or name them all")
    grant: list[str] | bool | None = True if args.yes else args.grant
    try:
        info = host.install(args.path, grant=grant, replace=args.replace)
    except PermissionDenied as refusal:
        if refusal.details.get("reason") != CONSENT_REASON:
            raise
        info = host.install(args.path, grant=_consent(refusal, denied), replace=args.replace)
    drop = [p for p in denied if p in info["granted"]]
    if drop:
        info = host.revoke(info["id"], drop)
    if args.json:
        _json(info)
        return 0
    print(f"installed {info['id']} {info['version']} ({info['type']})")
    _permissions("requested permissions", [describe(p) for p in info["requested"]])
    if info["denied"]:
        _permissions("denied (not granted)", info["denied"])
    elif info["requested"]:
        print("all requested permissions granted (revoke with: symphony ext revoke ID PERMISSION)")
    return 0


def _list(args: argparse.Namespace) -> int:
    items = _host(args).list(enabled_only=args.enabled)
    if args.json:
        _json(items)
        return 0
    if not items:
        print("no extensions installed")
        return 0
    _table([[e["id"], e["version"], e["type"], "yes" if e["enabled"] else "no", e["name"]] for e in items],
           ["ID", "VERSION", "TYPE", "ENABLED", "NAME"])
    return 0


def _search(args: argparse.Namespace) -> int:
    hits = _host(args).search(args.query, type=args.type, permission=args.permission, limit=args.limit)
    if args.json:
        _json(hits)
        return 0
    if not hits:
        print("no matches")
        return 0
    _table([[h["id"], h["version"], h["type"], f"{h['score']:.2f}", textwrap.shorten(h["description"], 60)]
            for h in hits], ["ID", "VERSION", "TYPE", "SCORE", "DESCRIPTION"])
    return 0


def _running_client(args: argparse.Namespace) -> Any:
    """A client of the running system on this port/data dir, or None."""
    from symphony_actors.client import Client
    from symphony_actors.commands.system import _running_info

    address = resolve(getattr(args, "port", None), getattr(args, "data_dir", None))
    if _running_info(address) is None:
        return None
    try:
        return Client(address.port, timeout=10.0)
    except NotRunningError:
        return None


def _require_system(args: argparse.Namespace) -> Any:
    client = _running_client(args)
    if client is None:
        raise NotRunningError("Symphony is not running; 'symphony start' first (loading starts extension actors)")
    return client


def _load(args: argparse.Namespace) -> int:
    from symphony_actors.extension_host.service import ExtensionPortClient

    with _require_system(args) as client:
        port = ExtensionPortClient(client)
        if args.workspace:
            client.call("exthost", "set_workspace", path=str(Path(args.workspace).resolve()))
        reply = (port.activate if args.activate else port.load)(args.id, allow_unconfined=args.allow_unconfined)
        statuses = {e["id"]: e for e in port.loaded_extensions()}
    if args.json:
        _json({**reply, "extensions": [statuses.get(i) for i in reply["order"]]})
        return 0
    print(f"{reply['state']} {args.id} (order: {' -> '.join(reply['order'])})")
    for ext_id in reply["order"]:
        st = statuses.get(ext_id, {})
        print(f"  {ext_id}: worker pid {st.get('pid') or '-'}, {st.get('guarantee_summary', '?')}")
    return 0


def _unload(args: argparse.Namespace) -> int:
    from symphony_actors.extension_host.service import ExtensionPortClient

    with _require_system(args) as client:
        reply = ExtensionPortClient(client).unload(args.id)
    print(f"unloaded {args.id} ({reply['state']})")
    return 0


def _print_runtime(info: dict[str, Any]) -> None:
    runtime = info.get("runtime")
    if not runtime:
        print(f"state: {info.get('state', 'installed')}")
        return
    print(f"state: {info['state']}   worker pid {runtime.get('pid') or '-'}   calls {runtime.get('calls', 0)}   "
          f"restarts {runtime.get('restarts', 0)}   failures {runtime.get('failures', 0)}")
    guarantees = runtime.get("guarantees") or {}
    if guarantees:
        print("guarantees (enforced = the kernel stops it; best_effort = a watchdog, bounded overshoot):")
        for dim, level in guarantees.items():
            if dim != "notes":
                print(f"  {dim:<14} {level}")
        for note in guarantees.get("notes") or ():
            print(f"  note: {note}")


def _info(args: argparse.Namespace) -> int:
    client = _running_client(args)
    if client is not None:
        with client:
            info = client.call("exthost", "info", extension_id=args.id)
    else:
        info = _host(args).info(args.id)
        info["state"] = "installed (no system running)"
    if args.json:
        _json(info)
        return 0
    m = info["manifest"]
    print(f"{m['id']} {m['version']}  ({m['type']}, {'enabled' if info['enabled'] else 'disabled'})")
    print(f"name: {m['name']}")
    print("description: " + textwrap.fill(m["description"], 100, subsequent_indent="  "))
    if m["keywords"]:
        print(f"keywords: {', '.join(m['keywords'])}")
    print(f"entry: {m['entry']}    symphony: {m['symphony'] or 'any'}")
    print(f"path: {info['path']}")
    deps = m["dependencies"]
    print("dependencies: " + (", ".join(f"{k} {v}".rstrip() for k, v in deps.items()) or "none"))
    print("dependents: " + (", ".join(info["dependents"]) or "none"))
    lim = m["limits"]
    print(f"limits: memory {lim['memory_mb']} MiB, cpu share {lim['cpu_share']}, timeout {lim['timeout_s']} s")
    _permissions("requested", info["requested"])
    _permissions("granted", info["granted"])
    for node in m["contributes"]["nodes"]:
        ins = ", ".join(f"{p['name']}: {p['type']}" for p in node["inputs"])
        outs = ", ".join(f"{p['name']}: {p['type']}" for p in node["outputs"])
        print(f"node {node['name']}: ({ins}) -> ({outs})")
    for cmd in m["contributes"]["commands"]:
        print(f"command {cmd['id']}: {cmd['title']}")
    _print_runtime(info)
    return 0


def _enable(args: argparse.Namespace) -> int:
    e = _host(args).enable(args.id)
    print(f"{e['id']} enabled")
    return 0


def _disable(args: argparse.Namespace) -> int:
    e = _host(args).disable(args.id, force=args.force)
    print(f"{e['id']} disabled")
    return 0


def _remove(args: argparse.Namespace) -> int:
    e = _host(args).remove(args.id, force=args.force)
    print(f"removed {e['id']} {e['version']}")
    return 0


def _grant(args: argparse.Namespace) -> int:
    info = _host(args).grant(args.id, args.permissions)
    _permissions(f"{info['id']} granted", info["granted"])
    return 0


def _revoke(args: argparse.Namespace) -> int:
    info = _host(args).revoke(args.id, args.permissions)
    _permissions(f"{info['id']} granted", info["granted"])
    return 0


def _audit(args: argparse.Namespace) -> int:
    records = _host(args).audit(args.id, limit=args.limit)
    if args.json:
        _json(records)
        return 0
    if not records:
        print("no audit records" + (f" for {args.id}" if args.id else ""))
        return 0
    _table([[str(r.get("time")), str(r.get("extension")), str(r.get("decision")), str(r.get("permission")),
             str(r.get("source") or "-"), str(r.get("target") or "")] for r in records],
           ["TIME", "EXTENSION", "DECISION", "PERMISSION", "SOURCE", "TARGET"])
    return 0


def register(subparsers: Any) -> None:
    ext = subparsers.add_parser("ext", help="manage extensions (install, list, search, info, remove, audit)")
    sub = ext.add_subparsers(dest="ext_command", metavar="ACTION", required=True)

    def add(name: str, func: Any, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        add_system_options(p)  # so `symphony ext list --data-dir D` works as well as `symphony --data-dir D ext list`
        return p

    p = add("install", _install, "install an extension from a folder or a .zip/.tar.gz archive")
    p.add_argument("path")
    p.add_argument("--grant", action="append", metavar="PERMISSION",
                   help="grant only these requested permissions (repeat); default: all requested, except that "
                        "dangerous ones (network, processes, writes outside its folders, file metadata) "
                        "need --yes or a yes at the prompt")
    p.add_argument("--yes", "-y", "--grant-all", dest="yes", action="store_true",
                   help="grant every requested permission, dangerous ones included (no prompt)")
    p.add_argument("--deny", action="append", metavar="PERMISSION", help="do not grant this permission (repeat)")
    p.add_argument("--replace", action="store_true", help="replace an installed version")
    p.add_argument("--json", action="store_true")

    p = add("list", _list, "list installed extensions")
    p.add_argument("--enabled", action="store_true", help="only enabled ones")
    p.add_argument("--json", action="store_true")

    p = add("search", _search, "search installed extensions by id, name, description and keywords")
    p.add_argument("query")
    p.add_argument("--type", choices=["instrument", "operator", "addon"])
    p.add_argument("--permission", help="only extensions requesting this permission (kind or full string)")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")

    p = add("info", _info, "show an installed extension: manifest, grants, dependencies")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")

    for name, func, text in (("enable", _enable, "enable an extension"), ("disable", _disable, "disable an extension"),
                             ("remove", _remove, "uninstall an extension")):
        p = add(name, func, text)
        p.add_argument("id")
        if name != "enable":
            p.add_argument("--force", action="store_true", help="even if other extensions depend on it")

    for name, func, text in (("grant", _grant, "grant requested permissions"),
                             ("revoke", _revoke, "revoke granted permissions")):
        p = add(name, func, text)
        p.add_argument("id")
        p.add_argument("permissions", nargs="+", metavar="PERMISSION")

    p = add("load", _load, "load an extension and its dependencies into the running system (sandboxed actors)")
    p.add_argument("id")
    p.add_argument("--activate", action="store_true", help="also activate it (and its dependencies)")
    p.add_argument("--allow-unconfined", action="store_true",
                   help="run it even if this host cannot confine it (no Landlock): you trust the code")
    p.add_argument("--workspace", help="the project folder ${workspace} grants refer to (from now on)")
    p.add_argument("--json", action="store_true")

    p = add("unload", _unload, "stop an extension's actor and worker in the running system")
    p.add_argument("id")

    p = add("audit", _audit, "show permission denials and sandbox kills (all, or of one extension)")
    p.add_argument("id", nargs="?")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")
