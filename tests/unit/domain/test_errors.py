"""The error tree: misuse vs failure, wire round trips, pickling, ValidationError problems."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from symphony_actors.domain import errors as E
from symphony_actors.domain.errors import (
    Problem,
    ProtocolError,
    RemoteError,
    SymphonyError,
    SymphonyFailure,
    UsageError,
    ValidationError,
    error_from_wire,
)

ALL_CLASSES: list[type[SymphonyError]] = sorted(
    {obj for obj in vars(E).values() if isinstance(obj, type) and issubclass(obj, SymphonyError)},
    key=lambda c: c.__name__)
MISUSE = {"UsageError", "ValidationError", "ProtocolError", "ConfigError", "ConflictError", "DependencyError",
          "InvalidTypeError", "NotFoundError", "PermissionDenied"} | {"AuthenticationError", "UnsafePathError"}
FAILURES = {"SymphonyFailure", "NotRunningError", "DeadlineExceeded", "BusyError", "ServiceCrashed", "RemoteError",
            "IntegrityError", "StorageError", "ExtensionFailed", "SandboxError"}


def make(cls: type[SymphonyError]) -> SymphonyError:
    if cls is ValidationError:
        return ValidationError([Problem("nodes[1].params.t", "must be <= 2"), Problem("", "no edges", "missing")],
                               subject="workflow")
    if cls is ProtocolError:
        return ProtocolError("frame ends early", reason="truncated", offset=7)
    return cls(f"a {cls.__name__}", node="n1", attempts=3)


def test_every_class_is_listed_in_all_and_has_a_unique_code() -> None:
    codes = [c.code for c in ALL_CLASSES]
    assert len(codes) == len(set(codes))
    assert {c.__name__ for c in ALL_CLASSES} <= set(E.__all__)
    assert {c.__name__ for c in ALL_CLASSES} == MISUSE | FAILURES | {"SymphonyError"}


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_every_error_comes_back_from_the_wire_as_its_own_class(cls: type[SymphonyError]) -> None:
    err = make(cls)
    back = error_from_wire(err.to_wire())
    assert type(err) is type(back)
    assert err.message == back.message
    assert err.details == back.details
    assert str(err) == str(back)


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_every_error_pickles_as_its_own_class(cls: type[SymphonyError]) -> None:
    """Thespian pickles messages: an error raised in an actor must arrive intact."""
    err = make(cls)
    back = pickle.loads(pickle.dumps(err))
    assert type(err) is type(back)
    assert err.to_wire() == back.to_wire()


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_misuse_and_failures_split(cls: type[SymphonyError]) -> None:
    """Misuse also derives from ValueError/TypeError/LookupError/PermissionError; failures from SymphonyFailure."""
    err = make(cls)
    if cls.__name__ in FAILURES:
        assert isinstance(err, SymphonyFailure)
        assert not isinstance(err, UsageError)
    elif cls.__name__ in MISUSE:
        assert not isinstance(err, SymphonyFailure)
        assert isinstance(err, ValueError | TypeError | LookupError | PermissionError)


def test_generic_handlers_keep_working() -> None:
    with pytest.raises(ValueError):
        raise E.ConfigError("bad port")
    with pytest.raises(TypeError):
        raise E.InvalidTypeError("not a str")
    with pytest.raises(LookupError):
        raise E.NotFoundError("no run r1")
    with pytest.raises(TimeoutError):
        raise E.DeadlineExceeded("no reply in 5 s")


def test_not_found_prints_its_message_not_a_repr() -> None:
    assert str(E.NotFoundError("no buffer 'b1'")) == "no buffer 'b1'"


def test_to_wire_is_plain_data() -> None:
    wire = E.NotFoundError("no run", run_id="r1").to_wire()
    assert wire == {"code": "not_found", "type": "NotFoundError", "message": "no run",
                    "details": {"run_id": "r1"}}


def test_validation_error_lists_every_problem_with_its_path() -> None:
    err = ValidationError([Problem("nodes[0].id", "duplicate"), Problem("edges[3]", "cycle: a -> b -> a")],
                          subject="workflow 'w'")
    text = str(err)
    assert text.startswith("workflow 'w' is invalid (2 problems):")
    assert "  - nodes[0].id: duplicate" in text
    assert "  - edges[3]: cycle: a -> b -> a" in text
    back = error_from_wire(err.to_wire())
    assert isinstance(back, ValidationError)
    assert err.problems == back.problems


def test_validation_error_with_one_problem_or_none() -> None:
    assert str(ValidationError([Problem("", "empty")])) == "input is invalid (1 problem):\n  - empty"
    assert str(ValidationError([])) == "input is invalid (0 problems)"


def test_problem_prints_path_then_message() -> None:
    assert str(Problem("a.b", "bad")) == "a.b: bad"
    assert str(Problem("", "bad")) == "bad"
    assert Problem("a", "b", "type").to_wire() == {"path": "a", "message": "b", "kind": "type"}


def test_protocol_error_keeps_its_reason() -> None:
    err = ProtocolError("bad", reason="oversize", size=10)
    assert err.reason == "oversize"
    back = error_from_wire(err.to_wire())
    assert isinstance(back, ProtocolError)
    assert back.reason == "oversize"
    assert back.details["size"] == 10
    assert ProtocolError("x").reason == "malformed"


def test_unknown_codes_become_remote_errors_naming_the_type() -> None:
    back = error_from_wire({"code": "quota", "type": "QuotaExceeded", "message": "over quota", "details": {"n": 1}})
    assert isinstance(back, RemoteError)
    assert back.message == "over quota"
    assert back.details == {"n": 1, "remote_type": "QuotaExceeded"}


@pytest.mark.parametrize("wire", [None, "text", 12, [1, 2], {}, {"code": 5}, {"details": [1, 2]},
                                  {"code": "not_found", "details": {"message": "clash"}},
                                  {"code": "validation", "details": {"problems": [1, "x", {"path": 3}]}},
                                  {"code": "validation", "details": {"problems": "nope"}},
                                  {"code": "protocol", "details": {"message": "clash", "reason": 4}}])
def test_error_from_wire_never_raises_on_garbage(wire: Any) -> None:
    """Whatever a peer sends as an error, the caller gets a SymphonyError to raise."""
    err = error_from_wire(wire)
    assert isinstance(err, SymphonyError)
    assert isinstance(err.to_wire(), dict)


def test_subclasses_must_define_a_unique_code() -> None:
    with pytest.raises(TypeError):
        class NoCode(SymphonyError):
            pass

    with pytest.raises(TypeError):
        class Clash(SymphonyError):
            code = "not_found"


def test_a_new_subclass_round_trips_and_pickles() -> None:
    class QuotaExceeded(SymphonyFailure):
        code = "test_quota_exceeded"

    err = QuotaExceeded("over", used=11)
    assert isinstance(error_from_wire(err.to_wire()), QuotaExceeded)
    assert err.details == error_from_wire(err.to_wire()).details
