"""symphony-actors: the backend runtime of the Symphony IDE, supervised actors on Thespian.

``symphony_actors.connect()`` attaches to a running system from a notebook or a
script; see the README for the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["__version__", "connect"]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from symphony_actors.client import Client


def connect(address: str | int | None = None, *, data_dir: str | None = None, timeout: float = 10.0,
            **kwargs: Any) -> Client:
    """Attach to a running system (see :func:`symphony_actors.client.connect`)."""
    from symphony_actors.client import connect as _connect

    return _connect(address, data_dir=data_dir, timeout=timeout, **kwargs)
