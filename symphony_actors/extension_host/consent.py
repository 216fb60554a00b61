"""Which requested permissions need the user's explicit consent at install, and the refusal that says so.

Installing an extension grants what it requests; the dangerous ones are granted only when the
caller says so explicitly (``symphony ext install --yes`` or an interactive yes, ``grant=True``
or the permission named in ``grant=[...]``), as Deno asks before it lets a script reach the
network. Dangerous: any network access, starting processes, writing outside the extension's own
folders (``${extension}``, ``${data}``, ``${tmp}``), and changing file metadata.
"""

from __future__ import annotations

from collections.abc import Iterable

from symphony_actors.domain.errors import PermissionDenied
from symphony_actors.extension_host.permissions import Permission, parse_permission

__all__ = ["CONSENT_REASON", "ConsentRequired", "danger", "dangerous", "describe"]

CONSENT_REASON = "consent_required"
_OWN_FOLDERS = ("${extension}", "${data}", "${tmp}")


def danger(permission: Permission | str) -> str | None:
    """Why ``permission`` needs explicit consent, or None when installing may grant it by default."""
    p = parse_permission(permission) if isinstance(permission, str) else permission
    if p.kind.startswith("net."):
        return "network access"
    if p.kind == "process.spawn":
        return "starts other programs (which the sandbox's file rules still confine)"
    if "meta" in p.kind or "chmod" in p.kind or "chown" in p.kind:
        return "changes file metadata (mode, owner, times)"
    if p.kind == "fs.write":
        target = p.target or ""
        if not any(target == own or target.startswith(own + "/") for own in _OWN_FOLDERS):
            return "writes outside the extension's own folders"
    return None


def dangerous(permissions: Iterable[Permission | str]) -> list[str]:
    """The dangerous ones among ``permissions``, as strings, in order."""
    return [str(p) for p in permissions if danger(p) is not None]


def describe(permission: str) -> str:
    """``permission`` with why it is dangerous, for prompts and refusals."""
    why = danger(permission)
    return f"{permission} ({why})" if why else permission


def ConsentRequired(extension: str, permissions: list[str]) -> PermissionDenied:
    """The refusal of an install that requests dangerous permissions without the caller's explicit consent."""
    listed = "; ".join(describe(p) for p in permissions)
    return PermissionDenied(
        f"{extension} requests permissions that need your explicit consent: {listed}. Install with "
        "'symphony ext install --yes' (or answer yes at the prompt), grant=True in the API, or grant them "
        "by name (--grant PERMISSION / grant=[...])", extension=extension, permissions=permissions,
        reason=CONSENT_REASON)
