"""Background processes that outlive the command that started them, tracked by PID file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def spawn(cmd: list[str], *, log_path: Path, pid_path: Path, cwd: Path | None = None) -> int:
    """Start ``cmd`` in its own session (so Ctrl-C of the caller does not reach it); return its PID."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
        )
    pid_path.write_text(f"{proc.pid}\n")
    return proc.pid


def read_pid(pid_path: Path) -> int | None:
    """The PID recorded in ``pid_path`` if that process is still alive, else None."""
    try:
        pid = int(pid_path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if is_alive(pid) else None


def is_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (exited, not yet reaped) counts as dead."""
    _reap(pid)
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def terminate(pid_path: Path, *, timeout_s: float = 30.0) -> bool:
    """SIGTERM the recorded process, SIGKILL it after ``timeout_s``; True if one was running."""
    pid = read_pid(pid_path)
    pid_path.unlink(missing_ok=True)
    if pid is None:
        return False
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while is_alive(pid):
        if time.monotonic() > deadline:
            _signal(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5.0
        time.sleep(0.1)
    return True


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something already listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel reports free right now (for tests that need a private stack)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def tail(path: Path, *, lines: int = 20) -> str:
    """The last lines of a log file, for error messages and ``devstack status``."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def _signal(pid: int, sig: int) -> None:
    try:
        # The service leads its own session: signal the whole group (a JVM may fork helpers).
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _reap(pid: int) -> None:
    # Only our own children can be reaped; for anyone else waitpid raises and that is fine.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
