"""Fixtures for attacks that need a second local user.

``other_user`` creates a real, unprivileged account for the session when the tests run as root (as CI
does) and deletes it afterwards; otherwise the tests that need it are skipped with the reason.
``run_as`` runs a short Python program as that user with the system interpreter (``/usr/bin/python3``,
readable by every user, unlike a venv under ``/root``), so an attack uses nothing but the standard library.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SYSTEM_PYTHON = "/usr/bin/python3"


@dataclass(frozen=True)
class LocalUser:
    name: str
    uid: int
    gid: int
    home: Path

    def run(self, code: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run ``code`` as this user (uid, gid and no supplementary groups) and capture its output."""
        python = SYSTEM_PYTHON if os.path.exists(SYSTEM_PYTHON) else sys.executable
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "LANG": "C.UTF-8"}
        return subprocess.run(
            [python, "-I", "-c", code, *args], capture_output=True, text=True, timeout=timeout, env=env,
            user=self.uid, group=self.gid, extra_groups=[], cwd=str(self.home), check=False,
        )


@pytest.fixture(scope="session")
def other_user() -> Iterator[LocalUser]:
    """A second local user, created for the session and removed after it (root only)."""
    if os.geteuid() != 0:
        pytest.skip("creating a second local user needs root (CI runs as root)")
    if shutil.which("useradd") is None or shutil.which("userdel") is None:
        pytest.skip("useradd/userdel not installed")
    name = "symtest" + secrets.token_hex(3)
    home = Path(tempfile.mkdtemp(prefix="symtest-home-"))  # under /tmp: pytest's basetemp is 0700 root
    subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/usr/sbin/nologin",
                    "--user-group", name], check=True, capture_output=True)
    try:
        import pwd

        entry = pwd.getpwnam(name)
        os.chown(home, entry.pw_uid, entry.pw_gid)
        yield LocalUser(name, entry.pw_uid, entry.pw_gid, home)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
