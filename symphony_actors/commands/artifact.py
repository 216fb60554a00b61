"""``symphony artifact ...``: the Artifact Store of a data directory, opened in-process.

SQLite in WAL mode lets these commands run beside a running system. Sub-commands:
``put FILE [--tag T]``, ``get ID [-o FILE] [--raw]`` (a CBOR payload, as node results are stored, is
printed as JSON unless ``--raw``), ``ls``, ``search QUERY``, ``verify [ID]``,
``gc``, ``stats``. IDs may be given by a unique prefix of at least 4 hex digits.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import mimetypes
import sys
import time
from pathlib import Path
from typing import Any

from symphony_actors.config import resolve
from symphony_actors.domain.errors import IntegrityError, UsageError
from symphony_actors.pit.artifacts.store import ArtifactStore
from symphony_actors.ports.artifacts import DEFAULT_MEDIA_TYPE, MAX_PART_BYTES

__all__ = ["register"]

CBOR = "application/cbor"


def register(subparsers: Any) -> None:
    from symphony_actors.cli import add_system_options

    group = subparsers.add_parser("artifact", help="store, read, search and check artifacts",
                                  description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = group.add_subparsers(dest="artifact_command", metavar="SUBCOMMAND")
    group.set_defaults(func=lambda args: _usage(group))

    p = sub.add_parser("put", help="store a file; prints its artifact id")
    p.add_argument("file", type=Path)
    p.add_argument("--tag", "-t", action="append", default=[], help="a tag (repeat for more)")
    p.add_argument("--name", help="artifact name (default: the file's name)")
    p.add_argument("--media-type", help="media type (default: guessed from the name and contents)")
    p.add_argument("--run", dest="run_id", help="the run that produced it")
    p.add_argument("--node", dest="node_id", help="the node that produced it")
    p.add_argument("--parent", action="append", default=[], help="an input artifact id (repeat for more)")
    p.set_defaults(func=_put)

    p = sub.add_parser("get", help="write an artifact's bytes to a file or standard output (CBOR as JSON)")
    p.add_argument("id")
    p.add_argument("-o", "--output", type=Path, help="file to write, byte for byte (default: standard output)")
    p.add_argument("--raw", action="store_true", help="on standard output too, the bytes as stored (CBOR stays CBOR)")
    p.set_defaults(func=_get)

    p = sub.add_parser("ls", help="list artifacts, newest first")
    p.add_argument("--tag")
    p.add_argument("--run", dest="run_id")
    p.add_argument("--node", dest="node_id")
    p.add_argument("--name", help="exact name or glob (*.py)")
    p.add_argument("--media-type", help="exact, or major type with /* (text/*)")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=_ls)

    p = sub.add_parser("search", help="ranked full-text search over text artifacts and metadata")
    p.add_argument("query")
    p.add_argument("--media-type")
    p.add_argument("--tag")
    p.add_argument("--run", dest="run_id")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_search)

    p = sub.add_parser("verify", help="re-hash every chunk and artifact (or one); exit 1 on any problem")
    p.add_argument("id", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_verify)

    p = sub.add_parser("gc", help="free chunks no artifact references; report bytes freed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_gc)

    p = sub.add_parser("stats", help="count, logical bytes, stored bytes, dedup ratio")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_stats)

    for choice in sub.choices.values():
        add_system_options(choice)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _open(args: argparse.Namespace) -> ArtifactStore:
    address = resolve(getattr(args, "port", None), getattr(args, "data_dir", None))
    return ArtifactStore.open(address.data_dir)


def _guess_media_type(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed:
        return guessed
    with path.open("rb") as fh:
        head = fh.read(8192)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return DEFAULT_MEDIA_TYPE
    return "text/plain" if head else DEFAULT_MEDIA_TYPE


def _put(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        raise UsageError(f"{path} is not a readable file", path=str(path))
    with _open(args) as store:
        parents = [store.resolve(p) for p in args.parent]
        artifact_id = store.store_file(path, name=args.name if args.name is not None else path.name,
                                       media_type=args.media_type or _guess_media_type(path), tags=args.tag,
                                       run_id=args.run_id, node_id=args.node_id, parents=parents)
    print(artifact_id)
    return 0


def _get(args: argparse.Namespace) -> int:
    with _open(args) as store:
        artifact_id = store.resolve(args.id)
        size = store.info(artifact_id).size
        if args.output is not None:
            tmp = args.output.with_name(args.output.name + ".part")
            with tmp.open("wb") as out:
                _copy(store, artifact_id, size, out.write)
            tmp.replace(args.output)
        elif not args.raw and store.info(artifact_id).media_type == CBOR:
            print(_decoded(store.retrieve(artifact_id), artifact_id))  # a node's result, readable
        else:
            _copy(store, artifact_id, size, sys.stdout.buffer.write)
            sys.stdout.buffer.flush()
    return 0


def _decoded(data: bytes, artifact_id: str) -> str:
    import cbor2

    from symphony_actors.cli import to_json

    try:
        value = cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError) as exc:
        raise IntegrityError(f"artifact {artifact_id} says application/cbor but does not decode: {exc} "
                             f"(--raw writes its bytes)", artifact=artifact_id) from None
    return to_json(value, indent=2)


def _copy(store: ArtifactStore, artifact_id: str, size: int, write: Any) -> None:
    if size <= 4 * MAX_PART_BYTES:
        write(store.retrieve(artifact_id))  # one whole-digest check
        return
    for offset in range(0, size, MAX_PART_BYTES):  # each chunk verified as it is read
        write(store.read_range(artifact_id, offset=offset, length=MAX_PART_BYTES))


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _jsonable(obj: Any) -> Any:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) and not isinstance(obj, type) else obj


def _ls(args: argparse.Namespace) -> int:
    with _open(args) as store:
        items = store.list(tag=args.tag, run_id=args.run_id, node_id=args.node_id, name=args.name,
                           media_type=args.media_type, limit=args.limit)
    for info in items:
        if args.json:
            print(json.dumps(_jsonable(info)))
        else:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.created))
            tags = ",".join(info.tags)
            print(f"{info.artifact_id[:16]}  {_human(info.size):>10}  {when}  {info.media_type:<24}  "
                  f"{info.name}{'  [' + tags + ']' if tags else ''}")
    return 0


def _search(args: argparse.Namespace) -> int:
    with _open(args) as store:
        store.flush_index()  # the whole queue: a command line search should see everything stored
        hits = store.search(args.query, media_type=args.media_type, tag=args.tag, run_id=args.run_id,
                            limit=args.limit)
    for hit in hits:
        if args.json:
            print(json.dumps(_jsonable(hit)))
        else:
            print(f"{hit.score:8.3f}  {hit.artifact_id[:16]}  {hit.media_type:<24}  {hit.name}")
    if not hits and not args.json:
        print("no matches", file=sys.stderr)
    return 0


def _verify(args: argparse.Namespace) -> int:
    with _open(args) as store:
        report = store.verify(store.resolve(args.id) if args.id else None)
    if args.json:
        print(json.dumps({**_jsonable(report), "ok": report.ok}))
    else:
        for problem in report.problems:
            print(f"PROBLEM {problem.message}")
        print(f"{'ok' if report.ok else 'FAILED'}: {report.artifacts_checked} artifacts, "
              f"{report.chunks_checked} chunks, {_human(report.bytes_checked)} checked, "
              f"{len(report.problems)} problem(s)")
    return 0 if report.ok else 1


def _gc(args: argparse.Namespace) -> int:
    with _open(args) as store:
        report = store.gc()
    if args.json:
        print(json.dumps(_jsonable(report)))
    else:
        print(f"freed {_human(report.bytes_freed)} in {report.chunks_removed} chunks"
              f"{f'; dropped {report.uploads_expired} abandoned uploads' if report.uploads_expired else ''}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    with _open(args) as store:
        s = store.stats()
    if args.json:
        print(json.dumps({**_jsonable(s), "dedup_ratio": s.dedup_ratio, "compression_ratio": s.compression_ratio}))
        return 0
    print(f"artifacts       {s.artifacts}")
    print(f"logical bytes   {s.logical_bytes}  ({_human(s.logical_bytes)})")
    print(f"unique bytes    {s.unique_bytes}  ({_human(s.unique_bytes)}, {s.chunks} chunks)")
    print(f"stored bytes    {s.stored_bytes}  ({_human(s.stored_bytes)})")
    print(f"dedup ratio     {s.dedup_ratio:.2f}  (logical / unique)")
    print(f"compression     {s.compression_ratio:.2f}  (unique / stored)")
    print(f"reclaimable     {s.reclaimable_bytes}  ({_human(s.reclaimable_bytes)}, run gc)")
    return 0
