"""Landlock through raw syscalls (ctypes): file-system allow-list, TCP ports, signal/socket scoping.

Raw syscalls rather than the ``landlock`` PyPI package: that package covers only the file
system (ABI 1-3 rights) and rejects directory rights on a file path, while we need TCP port
rules (ABI 4), device ioctl (ABI 5) and signal / abstract-socket scoping (ABI 6). The
syscall numbers are the same on every architecture (444-446).

Landlock restricts the calling thread and its future children only: call :func:`restrict`
in a single-threaded process (the forked worker) before any thread starts.
"""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import Iterable
from pathlib import Path

__all__ = ["LandlockRules", "abi_version", "connect_ruleset", "restrict", "restrict_with"]

_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_RULE_NET_PORT = 2

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ = READ_FILE | READ_DIR
WRITE = (WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | MAKE_SOCK | MAKE_FIFO | MAKE_SYM
         | REFER | TRUNCATE)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel struct is __attribute__((packed)): 12 bytes
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is absent or disabled."""
    rc = _syscall(ctypes.c_long(_SYS_CREATE_RULESET), None, ctypes.c_size_t(0),
                  ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return int(rc) if rc > 0 else 0


def handled_fs(abi: int) -> int:
    """Every file-system right this ABI knows (all of them are handled: what is not granted is denied)."""
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


class LandlockRules:
    """The allow-list to apply: paths with rights, TCP ports (or any), scoping."""

    def __init__(self, abi: int) -> None:
        self.abi = abi
        self.paths: list[tuple[str, int]] = []
        self.connect_ports: set[int] = set()
        self.bind_ports: set[int] = set()
        self.restrict_tcp_connect = True
        self.restrict_tcp_bind = True
        self.skipped: list[str] = []

    def allow(self, paths: Iterable[str | Path], rights: int) -> None:
        for p in paths:
            self.paths.append((str(p), rights))


def _check(rc: int, what: str) -> int:
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock {what}: {os.strerror(err)}")
    return rc


def restrict(rules: LandlockRules) -> None:
    """Build the ruleset and restrict the calling thread (no-new-privs must already be set)."""
    abi = rules.abi
    fs_all = handled_fs(abi)
    attr = _RulesetAttr(fs_all, 0, 0)
    size = 8
    if abi >= 4:
        net = 0
        if rules.restrict_tcp_bind:
            net |= NET_BIND_TCP
        if rules.restrict_tcp_connect:
            net |= NET_CONNECT_TCP
        attr.handled_access_net = net
        size = 16
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
    ruleset = _check(int(_syscall(ctypes.c_long(_SYS_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size),
                                  ctypes.c_uint32(0))), "create_ruleset")
    try:
        for path, rights in rules.paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                rules.skipped.append(path)
                continue
            try:
                is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
                allowed = rights & fs_all
                if not is_dir:
                    allowed &= _FILE_RIGHTS
                beneath = _PathBeneathAttr(allowed, fd)
                _check(int(_syscall(ctypes.c_long(_SYS_ADD_RULE), ctypes.c_int(ruleset),
                                    ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(beneath), ctypes.c_uint32(0))),
                       f"add_rule {path}")
            finally:
                os.close(fd)
        if abi >= 4:
            ports: dict[int, int] = {}
            for port in rules.connect_ports:
                ports[port] = ports.get(port, 0) | NET_CONNECT_TCP
            for port in rules.bind_ports:
                ports[port] = ports.get(port, 0) | NET_BIND_TCP
            for port, access in sorted(ports.items()):
                access &= int(attr.handled_access_net)
                if not access:
                    continue
                net_attr = _NetPortAttr(access, port)
                _check(int(_syscall(ctypes.c_long(_SYS_ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(_RULE_NET_PORT),
                                    ctypes.byref(net_attr), ctypes.c_uint32(0))), f"add_rule port {port}")
        _check(int(_syscall(ctypes.c_long(_SYS_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0))),
               "restrict_self")
    finally:
        os.close(ruleset)



def connect_ruleset(allowed: Iterable[tuple[int, int]]) -> int:
    """A ruleset (its descriptor) that handles TCP connect only and allows the given inclusive port ranges.

    Landlock takes one rule per port: allowing everything but the reserved ports means ~37,000 rules
    (~0.2 s), so the zygote builds this once and every worker stacks it with :func:`restrict_with`.
    """
    attr = _RulesetAttr(0, NET_CONNECT_TCP, 0)
    ruleset = _check(int(_syscall(ctypes.c_long(_SYS_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(16),
                                  ctypes.c_uint32(0))), "create_ruleset (net)")
    try:
        net_attr = _NetPortAttr(NET_CONNECT_TCP, 0)
        add, ref = _syscall, ctypes.byref(net_attr)
        args = (ctypes.c_long(_SYS_ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(_RULE_NET_PORT), ref,
                ctypes.c_uint32(0))
        for low, high in allowed:
            for port in range(low, high + 1):
                net_attr.port = port
                if add(*args) < 0:
                    _check(-1, f"add_rule port {port}")
    except BaseException:
        os.close(ruleset)
        raise
    return ruleset


def restrict_with(ruleset: int) -> None:
    """Add a prebuilt ruleset as one more layer on the calling thread (no-new-privs must be set)."""
    _check(int(_syscall(ctypes.c_long(_SYS_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0))),
           "restrict_self (net)")
