"""Exposures and clicks in the exact bytes ``mtl replay`` writes, read without an object each.

Most of the events topic is exposures and clicks that :func:`streams.events.encode_event` wrote::

    {"type":"exposure","event_id":"<id>","user_id":<int>,"video_id":<int>,"ts":<number>}

Parsing each into a dict and an event object (:func:`streams.events.parse_event`, ~1.5 us) cost about
half of the worker's budget per event at the raw consume rate. :func:`scan` hands a whole batch to a
small C routine (``streams/_wire.c``, built with the package) that checks each value against that layout
byte for byte and takes the fields from their places. What it accepts is exactly what
:func:`~streams.events.parse_event` accepts *in that layout*, with the same values; any value that
differs in the slightest (another key order, spaces, escapes or non-ASCII bytes in the id, a number in
another notation, an id of 19 digits...) is marked as not plain, and the caller parses it on its own. So
the layout is a fast path, never a rule; without the built extension every value takes the slow path.

Plain values also satisfy: an event id of 1..64 bytes of printable ASCII without ``"`` or ``\\``; ids of
at most 18 digits without leading zeros; ``ts`` as at most 24 characters of digits with an optional
fraction, correctly rounded (as ``orjson`` and Python's ``float`` do).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from streams.event_ids import table_bytes

try:
    from streams import _wire
except ImportError:  # a source tree without the built extension: every value is parsed on its own
    _wire = None
    logging.getLogger("streams.wire").warning(
        "streams._wire is not built (pip install -e . builds it): events are parsed one by one, ~6x slower"
    )


@dataclass(frozen=True, slots=True)
class Scan:
    """The plain values of a batch (``plain``, a mask over the values) and their fields.

    ``size``, ``click``, ``user``, ``video``, ``ts`` and ``hash`` (:func:`streams.event_ids.event_hash`
    of the event id) hold the plain values' fields, in order.
    """

    plain: np.ndarray  # bool, one per value
    size: np.ndarray  # int64, bytes
    click: np.ndarray  # bool
    user: np.ndarray  # int64
    video: np.ndarray  # int64
    ts: np.ndarray  # float64
    hash: np.ndarray  # int64


def scan(values: Sequence[bytes | None]) -> Scan:
    """Which of ``values`` are plain exposures and clicks (see the module), and their fields."""
    if _wire is None:
        empty = np.zeros(0, np.int64)
        return Scan(np.zeros(len(values), bool), empty, np.zeros(0, bool), empty, empty, np.zeros(0), empty)
    plain, click, size, user, video, ts, hashes, k = _wire.scan(values, table_bytes())
    return Scan(
        plain=np.frombuffer(plain, bool),
        size=np.frombuffer(size, np.int64, k),
        click=np.frombuffer(click, bool, k),
        user=np.frombuffer(user, np.int64, k),
        video=np.frombuffer(video, np.int64, k),
        ts=np.frombuffer(ts, np.float64, k),
        hash=np.frombuffer(hashes, np.int64, k),
    )
