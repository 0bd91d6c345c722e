"""Stream worker subprocesses for the integration tests, always stopped at teardown."""

from __future__ import annotations

import subprocess
import sys

import pytest

WORKER = [sys.executable, "-m", "mtl", "stream", "worker"]


def stop_worker(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if the worker has not exited within 20 s."""
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Workers:
    """``start(env)`` runs `mtl stream worker` with ``env``, output to one log; ``stop(proc)`` ends one."""

    stop = staticmethod(stop_worker)

    def __init__(self, log_path) -> None:
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.procs: list[subprocess.Popen] = []

    def start(self, env: dict) -> subprocess.Popen:
        proc = subprocess.Popen(WORKER, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                stop_worker(proc)
        self.log.close()
        if any(proc.returncode not in (0, -15, 143) for proc in self.procs):
            print(self.log_path.read_text()[-5000:])


@pytest.fixture
def workers(tmp_path):
    """Stream workers of one test; every one still running is stopped at teardown."""
    pool = Workers(tmp_path / "worker.log")
    yield pool
    pool.close()
