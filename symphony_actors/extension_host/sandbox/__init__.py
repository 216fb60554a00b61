"""OS-enforced sandboxing of extension workers: a warm zygote forks confined worker processes.

Public API::

    probe() -> HostCapabilities                    what this host can enforce
    SandboxPolicy(extension_id, extension_folder, data_folder, ...)   one worker's confinement
    Zygote(audit_log, allow_unconfined=False, use_cgroups=True)       start(), spawn(policy, entry), close()
    SandboxedWorker.call(method, payload, timeout) / kill() / restart() / status() / pid / guarantees
    AuditLog(path).append(...), read_audit(path, extension=None)
    session_listen_ports() -> frozenset[int]       the TCP ports this process's session listens on

Confinement (in the forked child, before extension code is imported): own session, PDEATHSIG,
cgroups (memory, cpu, pids; v1, where writable), rlimits (CORE=0, NOFILE, FSIZE, NPROC, DATA
under the watchdog, CPU), all capabilities dropped, no-new-privs, Landlock (files, TCP ports,
signal and abstract-socket scoping; TCP connect never to the system's reserved ports), seccomp
(libseccomp; refusals handed to the host, which audits them). See docs/sandbox.md.
"""

from symphony_actors.extension_host.sandbox._netguard import session_listen_ports
from symphony_actors.extension_host.sandbox.audit import AuditLog, read_audit
from symphony_actors.extension_host.sandbox.capabilities import DIMENSIONS, Guarantees, HostCapabilities, Level, probe
from symphony_actors.extension_host.sandbox.policy import SandboxPolicy
from symphony_actors.extension_host.sandbox.worker import SandboxedWorker, WorkerStatus
from symphony_actors.extension_host.sandbox.zygote import DEFAULT_PRELOAD, Zygote

Worker = SandboxedWorker

__all__ = [
    "DEFAULT_PRELOAD",
    "DIMENSIONS",
    "AuditLog",
    "Guarantees",
    "HostCapabilities",
    "Level",
    "SandboxPolicy",
    "SandboxedWorker",
    "Worker",
    "WorkerStatus",
    "Zygote",
    "probe",
    "read_audit",
    "session_listen_ports",
]
