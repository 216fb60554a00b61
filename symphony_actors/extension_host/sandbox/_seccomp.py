"""seccomp-bpf through libseccomp (ctypes): the syscall deny-list of a worker.

Why libseccomp directly: it is the C library every seccomp user relies on (systemd, Docker,
Chromium's tooling), ships in Debian's ``libseccomp2`` that systemd depends on, resolves syscall
numbers per architecture and handles the x32/compat traps a hand-written BPF program gets wrong.
``pyseccomp`` (last release 2021) is a thin ctypes wrapper over the same library; the part we use
is ~60 lines, so we skip the dependency. When libseccomp is missing the host probe says so and the
syscall dimension is reported ``none``.

Actions: plainly hostile calls (ptrace, mount, bpf, namespaces, keyctl, module loading, ...)
kill the process (the host sees SIGSYS and reports ``reason=syscall``); calls an ordinary library
may try (exec, fork, sockets, io_uring, file metadata changes) are refused: with ``notify`` the
kernel hands each attempt to the host (``SECCOMP_RET_USER_NOTIF``), which answers EPERM and audits
it, so an extension that catches its own ``PermissionError`` (or calls ``syscall()`` through
ctypes) still leaves a record; without it they fail with EPERM straight away. The host never
answers "continue": reading a notified call's arguments races with the worker's other threads,
so a notification only ever becomes a refusal.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["SeccompSpec", "available", "compile_filter", "load_program", "notify_available", "syscall_names"]

_ACT_KILL_PROCESS = 0x80000000
_ACT_ALLOW = 0x7FFF0000
_ACT_NOTIFY = 0x7FC00000
_CMP_GT = 6
_CMP_MASKED_EQ = 7
_LOW32 = 0xFFFFFFFF


def _act_errno(err: int) -> int:
    return 0x00050000 | (err & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


_lib: ctypes.CDLL | None = None


def _library() -> ctypes.CDLL | None:
    global _lib
    if _lib is None:
        for name in ("libseccomp.so.2", "libseccomp.so"):
            try:
                lib = ctypes.CDLL(name, use_errno=True)
            except OSError:
                continue
            lib.seccomp_init.restype = ctypes.c_void_p
            lib.seccomp_init.argtypes = [ctypes.c_uint32]
            lib.seccomp_release.argtypes = [ctypes.c_void_p]
            lib.seccomp_load.argtypes = [ctypes.c_void_p]
            lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
            lib.seccomp_syscall_resolve_num_arch.argtypes = [ctypes.c_uint32, ctypes.c_int]
            lib.seccomp_syscall_resolve_num_arch.restype = ctypes.c_void_p
            lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
            lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                                   ctypes.POINTER(_ArgCmp)]
            _lib = lib
            break
    return _lib


def available() -> bool:
    """Whether libseccomp can be loaded (the kernel side is checked by the probe)."""
    return _library() is not None


# Killed on sight: nothing an extension legitimately needs, each a known escape or escalation path.
KILL = ("ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root", "chroot",
        "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr", "bpf",
        "unshare", "setns", "keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load",
        "init_module", "finit_module", "delete_module", "open_by_handle_at", "name_to_handle_at",
        "swapon", "swapoff", "reboot", "acct", "quotactl", "iopl", "ioperm", "syslog", "uselib",
        "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "perf_event_open", "userfaultfd",
        "lookup_dcookie", "vhangup")
# Refused with EPERM: probed by ordinary libraries.
DENY = ("io_uring_setup", "io_uring_enter", "io_uring_register")
SPAWN = ("execve", "execveat", "fork", "vfork")
SIGNALS = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open")
_NAMESPACE_FLAGS = (0x00000080, 0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                    0x40000000)
_CLONE_THREAD = 0x00010000
_AF_UNIX, _AF_INET, _AF_INET6, _AF_PACKET = 1, 2, 10, 17
_SOCK_RAW = 3
_SOCK_TYPE_MASK = 0xF
_NON_STREAM_TYPES = (2, 4, 5, 10)  # DGRAM, RDM, SEQPACKET, PACKET (RAW is refused for every family)
_IPPROTO_TCP = 6
_IPPROTO_UDP = 17
_SOCK_DGRAM = 2
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C
# File metadata: Landlock has no right for these, so without ``fs.metadata`` seccomp refuses them.
METADATA = ("chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "utime", "utimes",
            "utimensat", "futimesat", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr",
            "fremovexattr", "setxattrat", "removexattrat", "file_setattr")
# Syscalls newer than the libseccomp we load may know; numbers are shared by every architecture (but alpha).
_NUMBERS = {"fchmodat2": 452, "setxattrat": 463, "removexattrat": 466, "file_setattr": 469}
# (syscall, index of its mode argument): setuid/setgid bits stay refused even with ``fs.metadata``.
_MODE_ARG = (("chmod", 1), ("fchmod", 1), ("fchmodat", 2), ("fchmodat2", 2))
_S_ISUID, _S_ISGID = 0o4000, 0o2000


@dataclass(frozen=True, slots=True)
class SeccompSpec:
    """What this worker's filter allows beyond the baseline."""

    allow_spawn: bool
    allow_inet: bool
    protected_pids: tuple[int, ...]  # signals to these (and to -1, 1) fail with EPERM
    allow_metadata: bool = False
    allow_udp: bool = False  # datagram internet sockets (UDP) allowed: ``net.udp``
    notify: bool = False  # refusals go to the host's listener (SECCOMP_RET_USER_NOTIF) instead of EPERM


def _number(lib: ctypes.CDLL, name: str) -> int:
    nr = int(lib.seccomp_syscall_resolve_name(name.encode()))
    return nr if nr >= 0 else _NUMBERS.get(name, -1)


def syscall_names() -> dict[int, str]:
    """Number -> name of every syscall a filter may refuse (to name them in audit records)."""
    lib = _library()
    if lib is None:
        return {}
    names = (*DENY, *SPAWN, *SIGNALS, *METADATA, "clone", "socket", "ioctl", "connect")
    return {nr: name for name in names if (nr := _number(lib, name)) >= 0}


def _rule(lib: ctypes.CDLL, ctx: int, action: int, name: str, args: Iterable[tuple[int, int, int, int]] = ()) -> bool:
    nr = _number(lib, name)
    if nr < 0:  # not a syscall on this architecture (e.g. fork on arm64)
        return False
    cmps = [(_ArgCmp(a, op, da, db)) for a, op, da, db in args]
    array = (_ArgCmp * max(1, len(cmps)))(*cmps)
    rc = lib.seccomp_rule_add_array(ctypes.c_void_p(ctx), ctypes.c_uint32(action), nr, len(cmps), array)
    if rc < 0:
        raise OSError(-rc, f"seccomp rule {name}: {errno.errorcode.get(-rc, rc)}")
    return True


def compile_filter(spec: SeccompSpec) -> bytes:
    """The filter as a raw BPF program (``struct sock_filter[]``), built once and cached by the zygote.

    libseccomp takes ~1.2 ms to build ~100 rules; loading a prebuilt program takes ~0.05 ms.
    """
    lib = _library()
    if lib is None:
        raise OSError(errno.ENOSYS, "libseccomp is not available")
    ctx = lib.seccomp_init(ctypes.c_uint32(_ACT_ALLOW))
    if not ctx:
        raise OSError(errno.ENOMEM, "seccomp_init failed")
    try:
        _add_rules(lib, ctx, spec)
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            rc = lib.seccomp_export_bpf(ctypes.c_void_p(ctx), fd)
            if rc < 0:
                raise OSError(-rc, f"seccomp_export_bpf: {errno.errorcode.get(-rc, rc)}")
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctypes.c_void_p(ctx))


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2


_SECCOMP_GET_ACTION_AVAIL = 2


def notify_available() -> bool:
    """Whether this kernel supports SECCOMP_RET_USER_NOTIF (a host answers refused calls and audits them)."""
    nr = _SYS_SECCOMP.get(os.uname().machine)
    if nr is None:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    action = ctypes.c_uint32(_ACT_NOTIFY)
    return int(libc.syscall(ctypes.c_long(nr), ctypes.c_uint(_SECCOMP_GET_ACTION_AVAIL), ctypes.c_uint(0),
                            ctypes.byref(action))) == 0


_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277, "riscv64": 277, "ppc64le": 358, "s390x": 348}
_SECCOMP_SET_MODE_FILTER = 1  # the seccomp() operation (prctl's mode constant is 2)
_SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3


def load_program(program: bytes, listener: bool = False) -> tuple[int, int | None]:
    """Install a program from :func:`compile_filter` in the calling thread (needs no-new-privs).

    Returns its length and, with ``listener``, the notification descriptor the host must answer
    (the caller hands it over and closes its own copy: a worker holding it could answer itself).
    """
    if not program or len(program) % 8:
        raise OSError(errno.EINVAL, "not a BPF program")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if listener:
        nr = _SYS_SECCOMP.get(os.uname().machine)
        if nr is None:
            raise OSError(errno.ENOSYS, f"seccomp listener: unknown syscall number on {os.uname().machine}")
        libc.syscall.restype = ctypes.c_long
        fd = int(libc.syscall(ctypes.c_long(nr), ctypes.c_uint(_SECCOMP_SET_MODE_FILTER),
                              ctypes.c_uint(_SECCOMP_FILTER_FLAG_NEW_LISTENER), ctypes.byref(fprog)))
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"seccomp(NEW_LISTENER): {os.strerror(err)}")
        return len(program) // 8, fd
    rc = libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0)
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"PR_SET_SECCOMP: {os.strerror(err)}")
    return len(program) // 8, None


def _add_rules(lib: ctypes.CDLL, ctx: int, spec: SeccompSpec) -> int:
    eperm = _ACT_NOTIFY if spec.notify else _act_errno(errno.EPERM)
    count = 0
    for name in KILL:
        count += _rule(lib, ctx, _ACT_KILL_PROCESS, name)
    for name in DENY:
        count += _rule(lib, ctx, eperm, name)
    # clone3 passes its flags in memory seccomp cannot read: ENOSYS makes glibc fall back to clone.
    count += _rule(lib, ctx, _act_errno(errno.ENOSYS), "clone3")
    for flag in _NAMESPACE_FLAGS:
        count += _rule(lib, ctx, _ACT_KILL_PROCESS, "clone", [(0, _CMP_MASKED_EQ, flag, flag)])
    if not spec.allow_spawn:
        for name in SPAWN:
            count += _rule(lib, ctx, eperm, name)
        # a new process (not a thread): clone without CLONE_THREAD
        count += _rule(lib, ctx, eperm, "clone", [(0, _CMP_MASKED_EQ, _CLONE_THREAD, 0)])
    for pid in {*spec.protected_pids, 1, -1}:
        targets = {pid & _LOW32}
        if pid > 1:
            targets.add(-pid & _LOW32)  # its process group
        for target in targets:
            for name in SIGNALS:
                count += _rule(lib, ctx, eperm, name, [(0, _CMP_MASKED_EQ, _LOW32, target)])
    for family in ((_AF_UNIX, _AF_PACKET) if spec.allow_inet else (_AF_UNIX, _AF_PACKET, _AF_INET, _AF_INET6)):
        count += _rule(lib, ctx, eperm, "socket", [(0, _CMP_MASKED_EQ, _LOW32, family)])
    count += _rule(lib, ctx, eperm, "socket", [(1, _CMP_MASKED_EQ, 0xF, _SOCK_RAW)])
    if spec.allow_inet:
        count += _inet_tcp_only(lib, ctx, eperm, spec.allow_udp)
    count += _metadata_rules(lib, ctx, eperm, spec.allow_metadata)
    if spec.allow_inet and spec.notify:
        # every connect() goes past the host: it refuses (and audits) one to a reserved or ungranted
        # TCP port and lets the rest continue to Landlock, which enforces either way
        count += _rule(lib, ctx, _ACT_NOTIFY, "connect")
    for request in (_TIOCSTI, _TIOCLINUX):
        count += _rule(lib, ctx, eperm, "ioctl", [(1, _CMP_MASKED_EQ, _LOW32, request)])
    return count


def _inet_tcp_only(lib: ctypes.CDLL, ctx: int, action: int, udp: bool) -> int:
    """Internet sockets are TCP (and with ``udp`` UDP) only: Landlock filters TCP ports, nothing else."""
    count = 0
    allowed = {0, _IPPROTO_TCP, _IPPROTO_UDP} if udp else {0, _IPPROTO_TCP}
    for family in (_AF_INET, _AF_INET6):
        fam = (0, _CMP_MASKED_EQ, _LOW32, family)
        for kind in _NON_STREAM_TYPES:
            if not (udp and kind == _SOCK_DGRAM):
                count += _rule(lib, ctx, action, "socket", [fam, (1, _CMP_MASKED_EQ, _SOCK_TYPE_MASK, kind)])
        # the allowed protocols only; the upper half of a 64-bit register makes a value larger still
        count += _rule(lib, ctx, action, "socket", [fam, (2, _CMP_GT, max(allowed), 0)])
        for proto in range(1, max(allowed)):
            if proto not in allowed:
                count += _rule(lib, ctx, action, "socket", [fam, (2, _CMP_MASKED_EQ, _LOW32, proto)])
    return count


def _metadata_rules(lib: ctypes.CDLL, ctx: int, action: int, allowed: bool) -> int:
    """Mode, owner, times, extended attributes: refused, or with ``fs.metadata`` only setuid/setgid bits."""
    count = 0
    if not allowed:
        for name in METADATA:
            count += _rule(lib, ctx, action, name)
        return count
    for name, index in _MODE_ARG:
        for bit in (_S_ISUID, _S_ISGID):
            count += _rule(lib, ctx, action, name, [(index, _CMP_MASKED_EQ, bit, bit)])
    return count
