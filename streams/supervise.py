"""Keep a Faust worker process running: restart it after a crash (a broker outage can end one).

Faust gives up when the broker disappears at the wrong moment (e.g. while a table declares its changelog
topic); its state is safe in Kafka, so the cure is a restart, which is what container restart policies do.
``mtl stream worker`` does the same for a bare process: the worker runs as a child; a non-zero exit
restarts it after a short back-off; SIGTERM/SIGINT are passed on and end the loop.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import sys
import time

log = logging.getLogger("streams.supervise")

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the child then outlives a SIGKILLed supervisor


def supervise(command: list[str], *, max_restarts: int = 20, backoff_s: float = 2.0) -> int:
    """Run ``command`` until it exits 0 or is told to stop; restart it after failures. Its exit status."""
    stopping = False
    child: subprocess.Popen | None = None

    def forward(signum, _frame):
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    restarts = 0
    while True:
        child = subprocess.Popen(command, preexec_fn=_die_with_parent)
        code = child.wait()
        if stopping or code == 0:
            return code
        restarts += 1
        if restarts > max_restarts:
            print(
                f"error: stream worker failed {restarts} times; giving up (last exit {code})", file=sys.stderr
            )
            return code or 1
        print(
            f"stream worker exited with {code}; restarting in {backoff_s:.0f}s", file=sys.stderr, flush=True
        )
        time.sleep(backoff_s)
