"""Event schemas of the stream and validation of raw Kafka bytes.

Topic layout: ONE typed topic (``stream.events_topic``), JSON values, keyed by ``str(video_id)``. Every
event carries ``type``:

- ``{"type": "exposure", "event_id": str, "user_id": int, "video_id": int, "ts": float}``
- ``{"type": "click", "event_id": str, "user_id": int, "video_id": int, "ts": float}``
- ``{"type": "video_published", "event_id": str, "video_id": int, "title": str, "tags": [str],
  "cover": str|null, "primary_class": str|null, "secondary_class": str|null, "ts": float}``
  (``event_id`` optional for publications: it defaults to ``"p:<video_id>"``).

``ts`` is the event time in Unix seconds. One topic keyed by video keeps a video's exposures, clicks and
publication in one partition, in order, so the per-video tables are co-partitioned with their input and
an unknown ``type`` is just another rejection reason. Rejected events go to ``stream.dead_letter_topic`` as
``{"reason": str, "original": <base64 of the original bytes>, "topic", "partition", "offset"}``.

:func:`parse_event` never raises on input: it returns an event or a :class:`Rejected` with a one-line
reason (``bad json``, ``missing field``, ``mistyped field``, ``unknown event type``, ``absurd
timestamp``, ``oversized payload``).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import orjson

from streams.event_ids import event_hash
from streams.wire import scan

MIN_TS = 631152000.0  # 1990-01-01T00:00:00Z: older event times are absurd (MovieLens starts in 1995)
MAX_ID = 2**63 - 1  # ids are int64 in Feast, in the stage's columns (EventColumns) and in Kafka keys


# exposures and clicks are most of the stream: named tuples, built ~4x faster than frozen dataclasses


class Exposure(NamedTuple):
    event_id: str
    user_id: int
    video_id: int
    ts: float
    type: str = "exposure"


class Click(NamedTuple):
    event_id: str
    user_id: int
    video_id: int
    ts: float
    type: str = "click"


@dataclass(frozen=True, slots=True)
class VideoPublished:
    event_id: str
    video_id: int
    title: str
    tags: tuple[str, ...]
    ts: float
    cover: str | None = None
    primary_class: str | None = None
    secondary_class: str | None = None
    type: str = "video_published"


Event = Exposure | Click | VideoPublished


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    original: bytes


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_id(v: object) -> bool:
    # ids key the state tables, whose negative keys are reserved (streams.positions)
    return _is_int(v) and 0 <= v <= MAX_ID


def _is_num(v: object) -> bool:
    return (isinstance(v, int | float)) and not isinstance(v, bool)


ID = "an integer from 0 to 2**63 - 1"


def _check(d: dict, name: str, ok, what: str, *, optional: bool = False) -> str | None:
    if name not in d or (optional and d[name] is None):
        return None if optional else f"missing field: {name}"
    if not ok(d[name]):
        return f"mistyped field: {name} must be {what}"
    return None


def parse_event(
    raw: bytes | None, *, max_bytes: int = 65536, max_skew_s: float = 86400.0, now: float | None = None
) -> Event | Rejected:
    """Typed event from raw bytes, or the reason it is rejected."""
    raw = raw if isinstance(raw, bytes) else (raw or b"")
    if len(raw) > max_bytes:
        return Rejected(f"oversized payload: {len(raw)} bytes > {max_bytes}", raw)
    try:
        d = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejected(f"bad json: {str(exc).splitlines()[0][:120]}", raw)
    if not isinstance(d, dict):
        return Rejected("bad json: not an object", raw)
    now = time.time() if now is None else now
    kind = d.get("type")
    if kind == "exposure" or kind == "click":
        # the common case in one expression; anything else takes the checks below for its reason
        eid, user, video, ts = d.get("event_id"), d.get("user_id"), d.get("video_id"), d.get("ts")
        if (
            type(eid) is str
            and eid
            and type(user) is int
            and 0 <= user <= MAX_ID
            and type(video) is int
            and 0 <= video <= MAX_ID
            and (type(ts) is float or type(ts) is int)
            and MIN_TS <= ts <= now + max_skew_s
        ):
            return (Exposure if kind == "exposure" else Click)(eid, user, video, float(ts))
    if kind not in ("exposure", "click", "video_published"):
        return Rejected(f"unknown event type: {str(kind)[:40]!r}", raw)
    if kind == "video_published":
        checks = [
            _check(d, "video_id", _is_id, ID),
            _check(d, "title", lambda v: isinstance(v, str), "a string"),
            _check(
                d, "tags", lambda v: isinstance(v, list) and all(isinstance(t, str) for t in v), "strings"
            ),
            _check(d, "ts", _is_num, "a number"),
            _check(d, "event_id", lambda v: isinstance(v, str) and v != "", "a string", optional=True),
            _check(d, "cover", lambda v: isinstance(v, str), "a string", optional=True),
            _check(d, "primary_class", lambda v: isinstance(v, str), "a string", optional=True),
            _check(d, "secondary_class", lambda v: isinstance(v, str), "a string", optional=True),
        ]
    else:
        checks = [
            _check(d, "event_id", lambda v: isinstance(v, str) and v != "", "a non-empty string"),
            _check(d, "user_id", _is_id, ID),
            _check(d, "video_id", _is_id, ID),
            _check(d, "ts", _is_num, "a number"),
        ]
    for problem in checks:
        if problem:
            return Rejected(problem, raw)
    ts = float(d["ts"])
    if not (MIN_TS <= ts <= now + max_skew_s):
        return Rejected(f"absurd timestamp: {ts}", raw)
    if kind == "video_published":
        return VideoPublished(
            event_id=d.get("event_id") or f"p:{d['video_id']}",
            video_id=d["video_id"],
            title=d["title"],
            tags=tuple(d["tags"]),
            ts=ts,
            cover=d.get("cover"),
            primary_class=d.get("primary_class"),
            secondary_class=d.get("secondary_class"),
        )
    cls = Exposure if kind == "exposure" else Click
    return cls(event_id=d["event_id"], user_id=d["user_id"], video_id=d["video_id"], ts=ts)


EXPOSURE, CLICK, PUBLISHED = 0, 1, 2
_KIND = {Exposure: EXPOSURE, Click: CLICK, VideoPublished: PUBLISHED}


@dataclass(frozen=True, slots=True)
class EventColumns:
    """The valid events of a batch as columns, in the batch's order (see :func:`parse_batch`).

    ``rows`` are the events' places in the batch; ``kind`` is :data:`EXPOSURE`, :data:`CLICK` or
    :data:`PUBLISHED`; ``hash`` is :func:`streams.event_ids.event_hash` of the event id; a publication's
    ``user`` is -1 and its event is ``published[row]``.
    """

    rows: np.ndarray  # int64
    kind: np.ndarray  # int8
    video: np.ndarray  # int64
    user: np.ndarray  # int64
    ts: np.ndarray  # float64
    hash: np.ndarray  # int64
    published: dict[int, VideoPublished]

    def __len__(self) -> int:
        return len(self.rows)


def parse_batch(
    raws: Sequence[bytes | None],
    *,
    max_bytes: int = 65536,
    max_skew_s: float = 86400.0,
    now: float | None = None,
) -> tuple[EventColumns, list[tuple[int, Rejected]]]:
    """:func:`parse_event` of every value of a batch: its valid events as columns, and ``(row, reason)``
    of the rejected ones.

    Exposures and clicks in the layout :func:`encode_event` writes are read together, without an object
    each (:mod:`streams.wire`); every other value (publications, other layouts, anything malformed) goes
    through :func:`parse_event` on its own. Either way the events and reasons are :func:`parse_event`'s.
    """
    now = time.time() if now is None else now
    found = scan(raws)
    # the checks of parse_event that are not about the layout
    ok = (found.ts >= MIN_TS) & (found.ts <= now + max_skew_s) & (found.size <= max_bytes)
    rows = np.flatnonzero(found.plain)[ok]
    kind = found.click[ok].astype(np.int8)  # EXPOSURE 0, CLICK 1
    video, user, ts, hashes = found.video[ok], found.user[ok], found.ts[ok], found.hash[ok]
    rejected: list[tuple[int, Rejected]] = []
    others: list[tuple[int, Event]] = []
    if len(rows) < len(raws):
        rest = np.ones(len(raws), bool)
        rest[rows] = False
        for row in np.flatnonzero(rest).tolist():
            event = parse_event(raws[row], max_bytes=max_bytes, max_skew_s=max_skew_s, now=now)
            (rejected if type(event) is Rejected else others).append((row, event))
    if not others:
        return EventColumns(rows, kind, video, user, ts, hashes, {}), rejected
    more = [
        (row, _KIND[type(e)], e.video_id, getattr(e, "user_id", -1), e.ts, event_hash(e.event_id))
        for row, e in others
    ]
    order = np.argsort(np.concatenate([rows, [m[0] for m in more]]), kind="stable")

    def column(plain_values: np.ndarray, i: int, dtype) -> np.ndarray:
        return np.concatenate([plain_values, np.array([m[i] for m in more], dtype)])[order]

    return (
        EventColumns(
            rows=column(rows, 0, np.int64),
            kind=column(kind, 1, np.int8),
            video=column(video, 2, np.int64),
            user=column(user, 3, np.int64),
            ts=column(ts, 4, np.float64),
            hash=column(hashes, 5, np.int64),
            published={row: e for row, e in others if type(e) is VideoPublished},
        ),
        rejected,
    )


def encode_event(event: Event) -> bytes:
    """JSON bytes of an event (what ``mtl replay`` produces)."""
    if isinstance(event, VideoPublished):
        d = {
            "type": event.type,
            "event_id": event.event_id,
            "video_id": event.video_id,
            "title": event.title,
            "tags": list(event.tags),
            "cover": event.cover,
            "primary_class": event.primary_class,
            "secondary_class": event.secondary_class,
            "ts": event.ts,
        }
    else:
        d = {
            "type": event.type,
            "event_id": event.event_id,
            "user_id": event.user_id,
            "video_id": event.video_id,
            "ts": event.ts,
        }
    return orjson.dumps(d)


def dead_letter(rejected: Rejected, *, topic: str = "", partition: int = -1, offset: int = -1) -> bytes:
    """The dead-letter record of a rejected event: the reason and the original bytes (base64)."""
    return orjson.dumps(
        {
            "reason": rejected.reason,
            "original": base64.b64encode(rejected.original).decode("ascii"),
            "topic": topic,
            "partition": partition,
            "offset": offset,
        }
    )
