"""Stable topic IDs across retrains: a new centre inherits the ID of the old centre it matches."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from topic_learning.clustering import l2_normalize

# Above this many centre pairs the O(K^3) Hungarian method gives way to greedy matching.
HUNGARIAN_MAX_PAIRS = 4_000_000


@dataclass(frozen=True)
class TopicIdMatch:
    """How the centres of a retrain map onto the previous model's topic IDs."""

    topic_ids: np.ndarray  # int64 (K_new,): the ID of every new centre
    kept: np.ndarray  # int64: previous IDs carried over
    new: np.ndarray  # int64: IDs minted for centres with no match
    retired: np.ndarray  # int64: previous IDs no centre carries any more
    next_id: int  # first ID never used so far
    merged_into: dict[int, int] = field(default_factory=dict)  # retired ID -> the ID now holding it


def match_topic_ids(
    previous_centres: np.ndarray,
    previous_ids: np.ndarray,
    centres: np.ndarray,
    *,
    next_id: int,
    min_cosine: float = 0.8,
    method: str = "auto",
) -> TopicIdMatch:
    """Give each new centre the ID of its matched previous centre, or a fresh ID.

    A pair matches when it is in the one-to-one assignment that maximises total cosine (Hungarian,
    or greedy by descending cosine for large K) and its cosine is at least ``min_cosine``.
    IDs are never reused, so a retired topic's ID never comes back meaning something else.
    A retired topic whose centre is still within ``min_cosine`` of a new centre (two old topics
    that the retrain merged into one) is recorded in ``merged_into`` with the ID that now holds it.
    """
    sim = l2_normalize(centres) @ l2_normalize(previous_centres).T
    if method == "auto":
        method = "hungarian" if sim.size <= HUNGARIAN_MAX_PAIRS else "greedy"
    rows, cols = _hungarian(sim) if method == "hungarian" else _greedy(sim, min_cosine)
    good = sim[rows, cols] >= min_cosine
    rows, cols = rows[good], cols[good]

    topic_ids = np.full(len(centres), -1, dtype=np.int64)
    topic_ids[rows] = previous_ids[cols]
    unmatched = np.flatnonzero(topic_ids < 0)
    topic_ids[unmatched] = next_id + np.arange(len(unmatched), dtype=np.int64)
    kept = np.sort(previous_ids[cols].astype(np.int64))
    retired = np.setdiff1d(previous_ids.astype(np.int64), kept)
    position = {int(pid): i for i, pid in enumerate(previous_ids.tolist())}
    merged_into = {}
    for rid in retired.tolist():
        column = sim[:, position[rid]]
        if len(column) and column.max() >= min_cosine:
            merged_into[int(rid)] = int(topic_ids[int(column.argmax())])
    return TopicIdMatch(
        topic_ids=topic_ids,
        kept=kept,
        new=topic_ids[unmatched],
        retired=retired,
        next_id=int(next_id + len(unmatched)),
        merged_into=merged_into,
    )


def _hungarian(sim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = linear_sum_assignment(sim, maximize=True)
    return rows, cols


def _greedy(sim: np.ndarray, min_cosine: float) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(sim >= min_cosine)
    order = np.argsort(-sim[rows, cols], kind="stable")
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    out_r, out_c = [], []
    for r, c in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
        if r not in used_rows and c not in used_cols:
            used_rows.add(r)
            used_cols.add(c)
            out_r.append(r)
            out_c.append(c)
    return np.asarray(out_r, dtype=np.int64), np.asarray(out_c, dtype=np.int64)
