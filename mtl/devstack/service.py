"""What the dev stack needs to know about one backing service."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from mtl.devstack import process
from mtl.errors import ServiceError


@dataclass(frozen=True)
class ServiceStatus:
    """One row of ``mtl devstack status``."""

    name: str
    address: str
    state: str  # "healthy", "unhealthy", "stopped" or "external"
    pid: int | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state in ("healthy", "external")


class Service(ABC):
    """A service run as a local process under ``run_dir/<name>``: start, probe, stop by PID."""

    name: str
    env_var: str

    def __init__(self, *, run_dir: Path, start_timeout_s: float) -> None:
        self.run_dir = run_dir / self.name
        self.start_timeout_s = start_timeout_s

    @property
    def pid_path(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_path(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    @property
    @abstractmethod
    def address(self) -> str:
        """What clients connect to, in the form the env variable takes."""

    @abstractmethod
    def check_tools(self) -> None:
        """Raise :class:`ServiceError` in one line when a binary the service needs is missing."""

    @abstractmethod
    def command(self) -> list[str]:
        """The foreground command line of the service (after :meth:`prepare`)."""

    @abstractmethod
    def ports(self) -> list[int]:
        """Ports the service will listen on."""

    @abstractmethod
    def probe(self) -> None:
        """Raise if the service does not answer a real request (Kafka metadata, Redis PING)."""

    def prepare(self) -> None:
        """One-off work before the first start (fetch jars, format storage)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def pid(self) -> int | None:
        return process.read_pid(self.pid_path)

    def start(self) -> None:
        """Start the process unless it already runs; does not wait for readiness."""
        if self.pid() is not None:
            return
        self.check_tools()
        busy = [port for port in self.ports() if process.port_in_use(port)]
        if busy:
            raise ServiceError(
                f"{self.name}: port {busy[0]} on 127.0.0.1 is already in use; stop what holds it "
                f"or choose another port (MTL_DEVSTACK__{self.name.upper()}_PORT)"
            )
        self.prepare()
        process.spawn(self.command(), log_path=self.log_path, pid_path=self.pid_path, cwd=self.run_dir)

    def wait_ready(self) -> None:
        """Block until :meth:`probe` succeeds, the process dies, or the timeout passes."""
        deadline = time.monotonic() + self.start_timeout_s
        last_error = ""
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise ServiceError(f"{self.name} exited during start-up; see {self.log_path}")
            try:
                self.probe()
                return
            except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
                last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            time.sleep(0.5)
        raise ServiceError(
            f"{self.name} did not answer within {self.start_timeout_s:.0f}s ({last_error}); "
            f"see {self.log_path}"
        )

    def stop(self) -> bool:
        return process.terminate(self.pid_path)

    def status(self) -> ServiceStatus:
        pid = self.pid()
        if pid is None:
            return ServiceStatus(self.name, self.address, "stopped")
        try:
            self.probe()
        except Exception as exc:  # noqa: BLE001
            return ServiceStatus(self.name, self.address, "unhealthy", pid, str(exc).splitlines()[0][:200])
        return ServiceStatus(self.name, self.address, "healthy", pid)
