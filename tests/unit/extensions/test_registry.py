"""Registry: install/remove round trips from folders and archives, hostile archives, enable/disable, grants."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from symphony_actors.domain.errors import ConflictError, DependencyError, NotFoundError, UsageError, ValidationError
from symphony_actors.extension_host.archives import ArchiveLimits, UnsafeArchive
from symphony_actors.extension_host.registry import Registry
from tests.unit.extensions.conftest import OPERATOR_CODE

MakeExt = Callable[..., Path]


@pytest.fixture
def registry(data_dir: Path) -> Iterator[Registry]:
    reg = Registry(data_dir / "extensions", clock=lambda: 1000.0)
    yield reg
    reg.close()


def leftovers(reg: Registry) -> list[str]:
    """Files under installed/ and staging/ (both empty after a failed install)."""
    out = []
    for sub in ("installed", "staging"):
        base = reg.root / sub
        if base.exists():
            out += [str(p.relative_to(reg.root)) for p in base.rglob("*")]
    return out


def zip_of(folder: Path, dest: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            zf.write(p, prefix + p.relative_to(folder).as_posix())
    return dest


def tar_of(folder: Path, dest: Path, prefix: str = "") -> Path:
    with tarfile.open(dest, "w:gz") as tf:
        for p in sorted(folder.rglob("*")):
            tf.add(p, prefix + p.relative_to(folder).as_posix(), recursive=False)
    return dest


def test_install_list_info_remove_round_trip_from_a_folder(registry: Registry, make_ext: MakeExt) -> None:
    src = make_ext(permissions=["artifact.read"])
    ext = registry.install(src)
    assert (ext.id, str(ext.manifest.version), ext.enabled, ext.granted) == \
        ("test.echo", "1.0.0", True, ("artifact.read",))
    assert (ext.path / "main.py").read_text() == OPERATOR_CODE
    assert ext.path.is_relative_to(registry.root / "installed")
    assert [e.id for e in registry.list()] == ["test.echo"]
    assert registry.get("test.echo").to_dict()["requested"] == ["artifact.read"]
    registry.remove("test.echo")
    assert registry.list() == [] and not ext.path.exists() and leftovers(registry) == []
    with pytest.raises(NotFoundError):
        registry.get("test.echo")


def test_the_registry_persists_across_instances(data_dir: Path, make_ext: MakeExt) -> None:
    a = Registry(data_dir / "extensions")
    a.install(make_ext())
    a.close()
    b = Registry(data_dir / "extensions")
    assert [e.id for e in b.list()] == ["test.echo"]
    b.close()


@pytest.mark.parametrize("pack,prefix", [(zip_of, ""), (zip_of, "echo-1.0/"), (tar_of, ""), (tar_of, "pkg/")])
def test_install_from_archives_with_or_without_a_top_folder(registry: Registry, make_ext: MakeExt, tmp_path: Path,
                                                            pack: Callable[..., Path], prefix: str) -> None:
    suffix = ".zip" if pack is zip_of else ".tar.gz"
    archive = pack(make_ext(), tmp_path / f"echo{suffix}", prefix)
    ext = registry.install(archive)
    assert ext.id == "test.echo" and (ext.path / "main.py").is_file()
    registry.remove(ext.id)
    assert leftovers(registry) == []


def _zip_with(tmp_path: Path, make_ext: MakeExt, name: str, data: bytes = b"x", attr: int | None = None) -> Path:
    dest = zip_of(make_ext(), tmp_path / "evil.zip")
    with zipfile.ZipFile(dest, "a") as zf:
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        if attr is not None:
            info.external_attr = attr << 16
        zf.writestr(info, data)
    return dest


@pytest.mark.parametrize("name", ["../escape.py", "a/../../escape.py", "/etc/cron.d/evil", "C:/evil.py",
                                  "a\\..\\..\\evil.py", "x" * 600])
def test_zip_path_traversal_is_refused(registry: Registry, make_ext: MakeExt, tmp_path: Path, name: str) -> None:
    archive = _zip_with(tmp_path, make_ext, name)
    with pytest.raises(UnsafeArchive):
        registry.install(archive)
    assert registry.list() == [] and leftovers(registry) == []
    assert not (tmp_path / "escape.py").exists() and not (registry.root / "escape.py").exists()


def test_zip_symlinks_are_refused(registry: Registry, make_ext: MakeExt, tmp_path: Path) -> None:
    archive = _zip_with(tmp_path, make_ext, "link", b"/etc/passwd", attr=0o120777)
    with pytest.raises(UnsafeArchive, match=r"link"):
        registry.install(archive)


def test_a_zip_bomb_is_refused_by_ratio(registry: Registry, make_ext: MakeExt, tmp_path: Path) -> None:
    archive = _zip_with(tmp_path, make_ext, "zeros.bin", b"\0" * (20 * 1024 * 1024))
    with pytest.raises(UnsafeArchive, match=r"zip bomb"):
        registry.install(archive)
    assert leftovers(registry) == []


def test_archives_over_the_size_or_count_limits_are_refused(data_dir: Path, make_ext: MakeExt,
                                                           tmp_path: Path) -> None:
    reg = Registry(data_dir / "x", limits=ArchiveLimits(max_files=5, max_total_bytes=10_000, max_file_bytes=4_000))
    src = make_ext()
    (src / "big.txt").write_bytes(os.urandom(5_000))
    with pytest.raises(UnsafeArchive, match=r"larger than 4000"):
        reg.install(tar_of(src, tmp_path / "big.tar.gz"))
    (src / "big.txt").unlink()
    for i in range(6):
        (src / f"f{i}.txt").write_text("x")
    with pytest.raises(UnsafeArchive, match=r"at most 5"):
        reg.install(zip_of(src, tmp_path / "many.zip"))
    with pytest.raises(UnsafeArchive, match=r"more than 5 files"):
        reg.install(src)
    assert leftovers(reg) == []
    reg.close()


def _tar_with(tmp_path: Path, make_ext: MakeExt, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    dest = tmp_path / "evil.tar.gz"
    src = make_ext()
    with tarfile.open(dest, "w:gz") as tf:
        for p in sorted(src.rglob("*")):
            tf.add(p, p.relative_to(src).as_posix(), recursive=False)
        member.size = len(data)
        tf.addfile(member, io.BytesIO(data) if data else None)
    return dest


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE])
def test_tar_links_and_devices_are_refused(registry: Registry, make_ext: MakeExt, tmp_path: Path,
                                           kind: bytes) -> None:
    member = tarfile.TarInfo("sneaky")
    member.type = kind
    member.linkname = "/etc/passwd"
    with pytest.raises(UnsafeArchive, match=r"link or special file"):
        registry.install(_tar_with(tmp_path, make_ext, member))
    assert leftovers(registry) == []


def test_tar_traversal_is_refused(registry: Registry, make_ext: MakeExt, tmp_path: Path) -> None:
    with pytest.raises(UnsafeArchive, match=r"'\.\.'"):
        registry.install(_tar_with(tmp_path, make_ext, tarfile.TarInfo("../../escape.py"), b"print(1)"))
    with pytest.raises(UnsafeArchive, match=r"absolute"):
        registry.install(_tar_with(tmp_path, make_ext, tarfile.TarInfo("/tmp/escape.py"), b"print(1)"))


def test_a_folder_with_a_symlink_is_refused(registry: Registry, make_ext: MakeExt) -> None:
    src = make_ext()
    os.symlink("/etc/passwd", src / "passwd")
    with pytest.raises(UnsafeArchive, match=r"symbolic link"):
        registry.install(src)
    assert leftovers(registry) == []


def test_garbage_archives_are_usage_errors(registry: Registry, tmp_path: Path) -> None:
    for name in ("x.zip", "x.tar.gz"):
        (tmp_path / name).write_bytes(b"not an archive at all")
        with pytest.raises(UsageError, match=r"not a readable archive"):
            registry.install(tmp_path / name)
    (tmp_path / "x.rar").write_bytes(b"")
    with pytest.raises(UsageError, match=r"neither"):
        registry.install(tmp_path / "x.rar")
    with pytest.raises(NotFoundError):
        registry.install(tmp_path / "missing")


def test_an_invalid_manifest_installs_nothing(registry: Registry, make_ext: MakeExt) -> None:
    with pytest.raises(ValidationError):
        registry.install(make_ext(version="banana"))
    assert registry.list() == [] and leftovers(registry) == []


def test_installing_twice_conflicts_unless_replacing(registry: Registry, make_ext: MakeExt) -> None:
    first = registry.install(make_ext(version="1.0"))
    with pytest.raises(ConflictError, match=r"already installed"):
        registry.install(make_ext(version="1.1"))
    second = registry.install(make_ext(version="1.1"), replace=True)
    assert str(second.manifest.version) == "1.1" and not first.path.exists()


def test_install_resolves_dependencies_against_installed_extensions(registry: Registry, make_ext: MakeExt) -> None:
    with pytest.raises(DependencyError, match=r"p.base is not installed"):
        registry.install(make_ext("p.app", dependencies={"p.base": ">=1"}))
    registry.install(make_ext("p.base", "1.2"))
    registry.install(make_ext("p.app", dependencies={"p.base": ">=1"}))
    assert [m.id for m in registry.resolve("p.app").order] == ["p.base", "p.app"]


def test_replacing_a_dependency_with_an_out_of_range_version_is_refused(registry: Registry,
                                                                        make_ext: MakeExt) -> None:
    registry.install(make_ext("p.base", "1.2"))
    registry.install(make_ext("p.app", dependencies={"p.base": "<2"}))
    with pytest.raises(DependencyError, match=r"p.app 1.0.0 needs p.base <2"):
        registry.install(make_ext("p.base", "2.0"), replace=True)


def test_remove_and_disable_refuse_while_others_depend(registry: Registry, make_ext: MakeExt) -> None:
    registry.install(make_ext("p.base"))
    registry.install(make_ext("p.app", dependencies={"p.base": ""}))
    with pytest.raises(ConflictError, match=r"p.app depends on it"):
        registry.remove("p.base")
    with pytest.raises(ConflictError, match=r"p.app depends on it"):
        registry.set_enabled("p.base", False)
    registry.set_enabled("p.app", False)
    assert registry.set_enabled("p.base", False).enabled is False
    with pytest.raises(DependencyError):
        registry.set_enabled("p.app", True)
    with pytest.raises(ConflictError, match=r"disabled"):
        registry.resolve("p.app")
    registry.set_enabled("p.base", True)
    assert registry.set_enabled("p.app", True).enabled
    registry.remove("p.base", force=True)
    assert [e.id for e in registry.list()] == ["p.app"]


def test_grants_are_a_subset_of_what_is_requested(registry: Registry, make_ext: MakeExt) -> None:
    src = make_ext(permissions=["artifact.read", "bus.publish:ext.echo.#"])
    ext = registry.install(src, grant=["artifact.read"])
    assert ext.granted == ("artifact.read",) and ext.to_dict()["denied"] == ["bus.publish:ext.echo.#"]
    assert registry.grant("test.echo", ["bus.publish:ext.echo.#"]).granted == \
        ("artifact.read", "bus.publish:ext.echo.#")
    assert registry.revoke("test.echo", ["artifact.read"]).granted == ("bus.publish:ext.echo.#",)
    with pytest.raises(UsageError, match=r"does not request process.spawn"):
        registry.grant("test.echo", ["process.spawn"])
    with pytest.raises(UsageError, match=r"list of permission strings"):
        registry.set_grants("test.echo", "artifact.read")


def test_the_generation_moves_on_every_change(registry: Registry, make_ext: MakeExt) -> None:
    g0 = registry.generation
    registry.install(make_ext())
    g1 = registry.generation
    registry.set_enabled("test.echo", False)
    assert g0 < g1 < registry.generation


def test_a_failed_write_leaves_no_files(registry: Registry, make_ext: MakeExt, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    import orjson

    def boom(*_: object, **__: object) -> bytes:
        raise RuntimeError("disk full")

    monkeypatch.setattr("symphony_actors.extension_host.registry.orjson.dumps", boom)
    with pytest.raises(RuntimeError):
        registry.install(make_ext())
    monkeypatch.setattr("symphony_actors.extension_host.registry.orjson.dumps", orjson.dumps)
    assert registry.list() == [] and leftovers(registry) == []


def test_all_examples_install_together(registry: Registry, examples: Path) -> None:
    """Installed in dependency order, the six examples all resolve."""
    for name in ("hash-embed", "summarise", "read-files", "chunk-text", "py-metrics", "todo-finder"):
        registry.install(examples / name)
    assert len(registry.list()) == 6
    assert [m.id for m in registry.resolve("symphony.summarise").order] == \
        ["symphony.hash-embed", "symphony.summarise"]


def test_two_registries_on_one_directory_see_each_others_changes(data_dir: Path, make_ext: MakeExt) -> None:
    """The CLI and a running host share the data directory: changes show up, duplicates still conflict."""
    a, b = Registry(data_dir / "extensions"), Registry(data_dir / "extensions")
    assert b.list() == []
    a.install(make_ext())
    assert [e.id for e in b.list()] == ["test.echo"]
    with pytest.raises(ConflictError):
        b.install(make_ext())
    b.set_enabled("test.echo", False)
    assert a.get("test.echo").enabled is False
    a.close()
    b.close()


def test_an_install_racing_another_process_does_not_replace_silently(data_dir: Path, make_ext: MakeExt,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = Registry(data_dir / "extensions"), Registry(data_dir / "extensions")
    monkeypatch.setattr(b, "_all", dict)  # b checked before a's install committed
    a.install(make_ext(version="1.0"))
    with pytest.raises(ConflictError, match="installed meanwhile"):
        b.install(make_ext(version="2.0"))
    assert str(a.get("test.echo").manifest.version) == "1.0"
    assert len(list((a.root / "installed" / "test.echo").iterdir())) == 1  # b's copy was cleaned up
    assert not list((a.root / "staging").iterdir())
    a.close()
    b.close()
