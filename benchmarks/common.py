"""Timing helpers shared by the benchmarks: medians of repeats, one result row format."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class BenchResult:
    """One line of a benchmark: our figure, the baseline's, and their ratio (>1: we are faster)."""

    stage: str
    figure: float
    unit: str
    baseline: str
    baseline_figure: float
    goal: str = ""

    @property
    def ratio(self) -> float:
        return self.figure / self.baseline_figure if self.baseline_figure else float("nan")

    def line(self) -> str:
        goal = f"  goal: {self.goal}" if self.goal else ""
        return (
            f"{self.stage:<22} {self.figure:>14,.1f} {self.unit:<12} | {self.baseline:<34} "
            f"{self.baseline_figure:>14,.1f}  ratio {self.ratio:6.2f}x{goal}"
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


def median_seconds(fn: Callable[[], object], *, repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs (the machine is small and noisy)."""
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tick)
    return statistics.median(times)


def timed_ms(
    fn: Callable[[int], object], args: list[int], warmup: int, *, gc_off: bool = False
) -> np.ndarray:
    """Milliseconds of each ``fn(arg)`` after ``warmup`` untimed calls; ``gc_off``: no collections while
    timing (a process that imported Feast and pandas would otherwise time a full collection now and then)."""
    for a in args[:warmup]:
        fn(a)
    gc.collect()
    if gc_off:
        gc.disable()
    try:
        times = np.empty(len(args))
        for i, a in enumerate(args):
            tick = time.perf_counter()
            fn(a)
            times[i] = time.perf_counter() - tick
    finally:
        if gc_off:
            gc.enable()
    return times * 1e3


def delete_prefix(client, prefix: str) -> None:
    """UNLINK every Redis key under ``<prefix>:``, in batches."""
    batch = []
    for key in client.scan_iter(match=f"{prefix}:*", count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            client.unlink(*batch)
            batch = []
    if batch:
        client.unlink(*batch)
