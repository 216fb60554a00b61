"""SDK: registration validates hooks and commands, the context checks every access, the loader isolates code."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from symphony_actors.domain.errors import ExtensionFailed, PermissionDenied, UsageError, ValidationError
from symphony_actors.extension_host.inprocess import load_extension
from symphony_actors.extension_host.manifest import Manifest, load_manifest, parse_manifest
from symphony_actors.extension_host.permissions import AccessGuard, AuditLog, GrantSet
from symphony_actors.sdk import Addon, ExtensionContext, GuardedContext, Instrument, Operator, command, register
from tests.unit.extensions.conftest import manifest_dict

MakeExt = Callable[..., Path]


def addon_manifest(**extra: Any) -> Manifest:
    return parse_manifest(manifest_dict("test.addon", type="addon", entry="main:A", **extra))


def problems(instance: object, manifest: Manifest) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        register(instance, manifest)
    return {p.path: p.message for p in info.value.problems}


def test_a_well_formed_addon_registers_hooks_and_commands() -> None:
    class A(Addon):
        def on_buffer_changed(self, buffer_id: str, text: str) -> int:
            return len(text)

        @command("todo.list")
        def list_(self, args: dict[str, Any]) -> list[str]:
            return []

    reg = register(A(), addon_manifest(contributes={"commands": [{"id": "todo.list", "title": "List"}]}))
    assert set(reg.hooks) == {"on_buffer_changed"} and set(reg.commands) == {"todo.list"}
    # Called with the spec's full argument set; the implementation receives only what it names.
    assert reg.hooks["on_buffer_changed"].call(buffer_id="b", text="abc", version=3, path=None) == 3


def test_unknown_hooks_get_the_closest_name_and_bad_arguments_are_named() -> None:
    class A(Addon):
        def on_bufer_changed(self, buffer_id: str) -> None: ...

        def on_buffer_saved(self, buffer_id: str, contents: str) -> None: ...

        def on_buffer_closed(self, *args: Any) -> None: ...

    found = problems(A(), addon_manifest())
    assert "did you mean on_buffer_changed" in found["hooks.on_bufer_changed"]
    assert "buffer_id, path, text" in found["hooks.on_buffer_saved.contents"]
    assert "*args" in found["hooks.on_buffer_closed"]


def test_commands_must_match_the_manifest_both_ways() -> None:
    class A(Addon):
        @command("a.undeclared")
        def x(self, args: dict[str, Any]) -> None: ...

    found = problems(A(), addon_manifest(contributes={"commands": [{"id": "a.declared", "title": "D"}]}))
    assert set(found) == {"contributes.commands.a.declared", "commands.a.undeclared"}


def test_an_empty_addon_is_refused() -> None:
    assert "entry" in problems(Addon(), addon_manifest())


def test_the_class_must_match_the_manifest_type() -> None:
    class Op(Operator):
        def process(self, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
            return {}

    with pytest.raises(ValidationError, match=r"gives a operator, but the manifest says type instrument"):
        register(Op(), parse_manifest(manifest_dict(type="instrument")))
    assert "entry" in problems(Operator(), parse_manifest(manifest_dict()))
    assert "entry" in problems(Instrument(), parse_manifest(manifest_dict(type="instrument")))


def test_operators_may_not_implement_editor_hooks() -> None:
    class Op(Operator):
        def process(self, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
            return {}

        def on_buffer_changed(self, text: str) -> None: ...

    assert "hooks.on_buffer_changed" in problems(Op(), parse_manifest(manifest_dict()))


def _context(grants: list[str], audit: AuditLog, **kw: Any) -> GuardedContext:
    return GuardedContext(AccessGuard(GrantSet("p.x", grants), audit), **kw)


def test_the_context_checks_every_access_and_audits_denials() -> None:
    audit = AuditLog(None)
    published: list[tuple[str, Any]] = []
    store: dict[str, bytes] = {}

    def write(data: bytes, media_type: str) -> str:
        store["a1"] = data
        return "a1"

    ctx = _context(["bus.publish:ext.x.#", "artifact.write", "env.read:HOME"], audit,
                   publish=lambda t, p: published.append((t, p)), write_artifact=write,
                   read_artifact=store.__getitem__, environ={"HOME": "/home/me", "SECRET": "s"})
    assert isinstance(ctx, ExtensionContext)
    ctx.publish("ext.x.done", {"n": 1})
    assert ctx.write_artifact(b"data") == "a1"
    assert ctx.getenv("HOME") == "/home/me"
    attempts: list[Callable[[], Any]] = [lambda: ctx.publish("run.r1.cancel"), lambda: ctx.read_artifact("a1"),
                                         lambda: ctx.getenv("SECRET"), lambda: ctx.check_path("/etc/passwd"),
                                         lambda: ctx.use_model("gpt", {}), lambda: ctx.subscribe("#", print)]
    for attempt in attempts:
        with pytest.raises(PermissionDenied):
            attempt()
    assert published == [("ext.x.done", {"n": 1})]
    assert [r["permission"] for r in audit.read()] == ["bus.publish", "artifact.read", "env.read", "fs.read",
                                                       "model.use", "bus.subscribe"]


def test_a_granted_service_the_host_lacks_is_a_clear_error() -> None:
    ctx = _context(["artifact.read"], AuditLog(None))
    with pytest.raises(UsageError, match=r"no artifact store"):
        ctx.read_artifact("x")


def test_logs_are_kept_without_a_sink_and_config_is_read_only() -> None:
    ctx = _context([], AuditLog(None), config={"a": 1})
    ctx.log("warning", "careful", n=2)
    ctx.log("shout", "unknown level becomes info")
    assert ctx.records == [("warning", "careful", {"n": 2}), ("info", "unknown level becomes info", {})]
    with pytest.raises(TypeError):
        ctx.config["a"] = 2  # type: ignore[index]


def _load(folder: Path) -> Any:
    return load_extension(folder, load_manifest(folder), _context([], AuditLog(None)))


def test_the_loader_imports_under_a_private_name_and_forgets_it_on_unload(make_ext: MakeExt) -> None:
    folder = make_ext(code="from .helper import VALUE\nfrom symphony_actors.sdk import Operator\n"
                           "class Echo(Operator):\n    def process(self, inputs, params):\n"
                           "        return {'v': VALUE}\n")
    (folder / "helper.py").write_text("VALUE = 42\n")
    ext = _load(folder)
    ext.activate()
    assert ext.call("process", {"inputs": {}}) == {"v": 42}
    assert ext.package in sys.modules and "helper" not in sys.modules
    ext.unload()
    assert not [n for n in sys.modules if n.startswith(ext.package)]


def test_crashes_in_extension_code_become_extension_failed(make_ext: MakeExt) -> None:
    with pytest.raises(ExtensionFailed, match=r"importing main failed: ZeroDivisionError"):
        _load(make_ext("p.imp", code="1/0\n"))
    code = ("from symphony_actors.sdk import Operator\nclass Echo(Operator):\n"
            "    def process(self, inputs, params):\n        raise KeyError('boom')\n")
    ext = _load(make_ext("p.run", code=code))
    ext.activate()
    with pytest.raises(ExtensionFailed, match=r"p.run failed in process: KeyError") as info:
        ext.call("process", {"inputs": {}})
    assert info.value.details["error_type"] == "KeyError"
    ext.unload()


def test_a_missing_entry_attribute_is_a_validation_error(make_ext: MakeExt) -> None:
    with pytest.raises(ValidationError, match=r"has no attribute 'Echo'"):
        _load(make_ext(code="X = 1\n"))


def test_inputs_params_and_outputs_are_checked_against_the_node(make_ext: MakeExt) -> None:
    folder = make_ext(contributes={"nodes": [{
        "name": "echo", "inputs": [{"name": "value", "type": "string"}],
        "outputs": [{"name": "echo", "type": "string"}, {"name": "params", "type": "object"}],
        "params": {"type": "object", "additionalProperties": False,
                   "properties": {"n": {"type": "integer", "minimum": 1, "default": 2}}}}]})
    ext = _load(folder)
    with pytest.raises(UsageError, match=r"not active"):
        ext.call("process", {"inputs": {"value": "x"}})
    ext.activate()
    assert ext.call("process", {"inputs": {"value": "x"}}) == {"echo": "x", "params": {"n": 2}}
    with pytest.raises(ValidationError, match=r"inputs.value: is required"):
        ext.call("process", {"inputs": {}})
    with pytest.raises(ValidationError, match=r"expected string, got int"):
        ext.call("process", {"inputs": {"value": 3}})
    with pytest.raises(ValidationError, match=r"params.n: must be >= 1"):
        ext.call("process", {"inputs": {"value": "x"}, "params": {"n": 0}})
    with pytest.raises(ValidationError, match=r"params.z: is not a known property"):
        ext.call("process", {"inputs": {"value": "x"}, "params": {"z": 0}})
    with pytest.raises(UsageError, match=r"does not infer"):
        ext.call("infer", {"inputs": {"value": "x"}})
    with pytest.raises(UsageError, match=r"unknown operation"):
        ext.call("explode", {})
    ext.unload()


def test_subscriptions_deliver_events_and_contain_handler_crashes(make_ext: MakeExt) -> None:
    """A subscribed handler receives matching events; if it crashes, the publisher is unharmed."""
    from symphony_actors.testing.fake_extension import FakeExtensionPort

    code = ("from symphony_actors.sdk import Operator\nclass Echo(Operator):\n"
            "    def setup(self, ctx):\n        super().setup(ctx)\n        self.seen = []\n"
            "        ctx.subscribe('run.*.done', self.handle_done)\n"
            "    def handle_done(self, topic, payload):\n"
            "        if payload == 'bad':\n            raise ValueError('x')\n"
            "        self.seen.append(topic)\n"
            "    def process(self, inputs, params):\n        return {'seen': self.seen}\n")
    port = FakeExtensionPort()
    port.install(str(make_ext(code=code, permissions=["bus.subscribe:run.*.done"])))
    port.activate("test.echo")
    port.publish("run.r1.done", "ok")
    port.publish("run.r1.started", "ok")
    port.publish("run.r2.done", "bad")
    assert port.send("test.echo", "process", {"inputs": {}}) == {"seen": ["run.r1.done"]}
    health = port.health("test.echo")
    assert health["failures"] == 1 and "ValueError" in health["last_error"]["message"]
    port.close()


def test_a_node_call_sees_its_idempotency_key_and_nothing_outside_it(make_ext: MakeExt) -> None:
    code = ("from symphony_actors.sdk import Operator\nclass Echo(Operator):\n"
            "    def process(self, inputs, params):\n        return {'v': self.ctx.idempotency_key}\n")
    ext = _load(make_ext(code=code))
    ext.activate()
    assert ext.call("process", {"inputs": {}, "idempotency_key": "run-1/n/3"}) == {"v": "run-1/n/3"}
    assert ext.ctx.idempotency_key is None  # cleared after the call
    assert ext.call("process", {"inputs": {}}) == {"v": None}
    ext.unload()
