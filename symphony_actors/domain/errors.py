"""The one error tree of symphony-actors.

Every error the project raises derives from :class:`SymphonyError`. The tree
splits in two: *misuse* (the caller passed something wrong; these also derive
from ``ValueError``/``TypeError``/``LookupError`` so generic handlers keep
working) and *failures of the world* (a process died, a deadline passed, a disk
broke), which derive from :class:`SymphonyFailure`::

    SymphonyError
    ├── UsageError (ValueError)              you passed something wrong
    │   ├── ValidationError                  many problems at once, each with a path
    │   ├── ProtocolError                    bytes that do not decode (truncated, bad type, oversize, ...)
    │   ├── ConfigError                      bad settings, flags or environment
    │   │   ├── AuthenticationError          a missing or wrong system key (names the key file)
    │   │   └── UnsafePathError              a socket/run directory or key file others could tamper with
    │   ├── ConflictError                    a request that contradicts state (duplicate id, in-use artifact)
    │   └── DependencyError                  extension dependencies that cannot be resolved
    ├── InvalidTypeError (TypeError)         a value of the wrong type
    ├── NotFoundError (LookupError)          no such run, node, buffer, artifact, extension, service
    ├── PermissionDenied                     an extension asked for what it was not granted
    └── SymphonyFailure                      the world broke; retrying may help
        ├── NotRunningError                  no actor system answers at that address
        ├── DeadlineExceeded (TimeoutError)  a request got no reply in time
        ├── BusyError                        a bounded queue is full: back off and retry
        ├── ServiceCrashed                   the service crashed while handling the request
        ├── RemoteError                      a remote error whose type is not known locally
        ├── IntegrityError                   stored bytes do not match their hash
        ├── StorageError                     the data directory cannot be read or written
        ├── ExtensionFailed                  an extension crashed, hung or ran out of memory
        └── SandboxError                     confinement could not be set up

Errors cross process boundaries as plain dicts (:meth:`SymphonyError.to_wire`)
and come back as the same class (:func:`error_from_wire`), so a client of a
remote service catches ``NotFoundError`` exactly as it would in-process.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "AuthenticationError",
    "BusyError",
    "ConfigError",
    "ConflictError",
    "DeadlineExceeded",
    "DependencyError",
    "ExtensionFailed",
    "IntegrityError",
    "InvalidTypeError",
    "NotFoundError",
    "NotRunningError",
    "PermissionDenied",
    "Problem",
    "ProtocolError",
    "RemoteError",
    "SandboxError",
    "ServiceCrashed",
    "StorageError",
    "SymphonyError",
    "SymphonyFailure",
    "UnsafePathError",
    "UsageError",
    "ValidationError",
    "error_from_wire",
]

_REGISTRY: dict[str, type[SymphonyError]] = {}


class SymphonyError(Exception):
    """Root of every error symphony-actors raises.

    ``details`` is a JSON-friendly mapping of context (which node, which file,
    which permission); it travels with the error across processes.
    """

    code: ClassVar[str] = "symphony_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        code = cls.__dict__.get("code")
        if code is None:
            raise TypeError(f"{cls.__name__} must define a 'code' class attribute")
        if code in _REGISTRY and _REGISTRY[code] is not cls:
            raise TypeError(f"error code {code!r} is used by {_REGISTRY[code].__name__} already")
        _REGISTRY[code] = cls

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions with keyword-only details do not pickle by default; Thespian pickles.
        return (_rebuild, (type(self).code, self.to_wire()))

    def to_wire(self) -> dict[str, Any]:
        """A JSON/CBOR-friendly form that :func:`error_from_wire` turns back into this class."""
        return {"code": type(self).code, "type": type(self).__name__, "message": self.message,
                "details": self.details}

    @classmethod
    def _from_wire(cls, message: str, details: dict[str, Any]) -> SymphonyError:
        # Not through __init__: subclasses may take other arguments, and details from a
        # peer may hold any key (even "message").
        err = cls.__new__(cls)
        Exception.__init__(err, message)
        err.message = message
        err.details = dict(details)
        return err


def _rebuild(code: str, wire: dict[str, Any]) -> SymphonyError:
    return error_from_wire(wire)


_REGISTRY[SymphonyError.code] = SymphonyError


def error_from_wire(wire: Mapping[str, Any]) -> SymphonyError:
    """Rebuild an error sent by :meth:`SymphonyError.to_wire`; unknown codes become :class:`RemoteError`.

    It never raises: whatever a peer sent, the caller gets a ``SymphonyError`` to raise.
    """
    if not isinstance(wire, Mapping):
        return RemoteError._from_wire(f"malformed error from a peer: {wire!r:.200}",
                                      {"remote_type": type(wire).__name__})
    code = str(wire.get("code", ""))
    message = str(wire.get("message", ""))
    raw = wire.get("details")
    details = {str(k): v for k, v in raw.items()} if isinstance(raw, Mapping) else {}
    cls = _REGISTRY.get(code)
    if cls is None:
        details.setdefault("remote_type", str(wire.get("type", code)))
        return RemoteError._from_wire(message, details)
    return cls._from_wire(message, details)


# --------------------------------------------------------------------------- misuse


class UsageError(SymphonyError, ValueError):
    """The caller passed something wrong; fix the input, do not retry."""

    code = "usage"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, located by a path such as ``nodes[12].params.temperature``."""

    path: str
    message: str
    kind: str = "invalid"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def to_wire(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message, "kind": self.kind}


class ValidationError(UsageError):
    """An input with one or more problems; ``problems`` lists every one of them."""

    code = "validation"

    def __init__(self, problems: Iterable[Problem], subject: str = "input") -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        head = f"{subject} is invalid ({count} problem{'s' if count != 1 else ''})"
        body = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{head}:\n{body}" if body else head, subject=subject,
                         problems=[p.to_wire() for p in self.problems])

    @classmethod
    def _from_wire(cls, message: str, details: dict[str, Any]) -> SymphonyError:
        raw = details.get("problems")
        problems = [Problem(str(p.get("path", "")), str(p.get("message", "")), str(p.get("kind", "invalid")))
                    for p in (raw if isinstance(raw, list | tuple) else ()) if isinstance(p, Mapping)]
        return cls(problems, subject=str(details.get("subject", "input")))


class ProtocolError(UsageError):
    """Bytes that cannot be decoded; ``reason`` is one of truncated, bad_type, unknown_kind, oversize,
    bad_version, malformed, too_deep."""

    code = "protocol"

    def __init__(self, message: str, reason: str = "malformed", **details: Any) -> None:
        super().__init__(message, reason=reason, **details)
        self.reason = reason

    @classmethod
    def _from_wire(cls, message: str, details: dict[str, Any]) -> SymphonyError:
        err = super()._from_wire(message, details)
        assert isinstance(err, ProtocolError)
        err.reason = str(details.get("reason", "malformed"))
        err.details["reason"] = err.reason
        return err


class ConfigError(UsageError):
    """Bad settings: a flag, an environment variable, a port taken by something else."""

    code = "config"


class AuthenticationError(ConfigError):
    """The system's key is missing, unreadable or not the key of the system at that address."""

    code = "authentication"


class UnsafePathError(ConfigError):
    """A directory or key file is owned by another user, open to group/world, or a symlink."""

    code = "unsafe_path"


class ConflictError(UsageError):
    """The request contradicts current state (duplicate id, artifact still referenced, already running)."""

    code = "conflict"


class DependencyError(UsageError):
    """Extension dependencies cannot be satisfied; the message explains the conflict in words."""

    code = "dependency"


class InvalidTypeError(SymphonyError, TypeError):
    """A value of the wrong type was passed."""

    code = "invalid_type"


class NotFoundError(SymphonyError, LookupError):
    """No such thing: run, node, buffer, view, artifact, extension, service, template."""

    code = "not_found"

    def __str__(self) -> str:  # LookupError would repr() the message
        return self.message


class PermissionDenied(SymphonyError, PermissionError):
    """An extension attempted something its grants do not allow; the attempt is audited."""

    code = "permission_denied"


# --------------------------------------------------------------------------- failures of the world


class SymphonyFailure(SymphonyError):
    """Something outside the caller's control failed; the same request may succeed later."""

    code = "failure"


class NotRunningError(SymphonyFailure):
    """No Symphony system answers at the given address (start it with ``symphony start``)."""

    code = "not_running"


class DeadlineExceeded(SymphonyFailure, TimeoutError):
    """A request got no reply before its deadline."""

    code = "deadline_exceeded"


class BusyError(SymphonyFailure):
    """A bounded queue is full; nothing was dropped, the request was refused: back off and retry."""

    code = "busy"


class ServiceCrashed(SymphonyFailure):
    """The service crashed while handling this request; its supervisor restarts it."""

    code = "service_crashed"


class RemoteError(SymphonyFailure):
    """An error raised remotely whose type has no local class; ``details['remote_type']`` names it."""

    code = "remote"


class IntegrityError(SymphonyFailure):
    """Stored bytes do not match their content hash; never returns wrong bytes."""

    code = "integrity"


class StorageError(SymphonyFailure):
    """The data directory or a database in it cannot be used."""

    code = "storage"


class ExtensionFailed(SymphonyFailure):
    """An extension crashed, hung past its timeout, or was killed for memory, CPU or a forbidden syscall."""

    code = "extension_failed"


class SandboxError(SymphonyFailure):
    """A sandbox could not be set up with the requested confinement."""

    code = "sandbox"
