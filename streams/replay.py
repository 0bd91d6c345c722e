"""Replay a canonical data set into the events topic: publications, exposures and clicks in time order.

Every video's publication (``video_published`` at ``published_at``), every interaction row's exposure and,
when ``clicked``, a click at the same time (after the exposure) are produced in timestamp order, keyed by
``str(video_id)``, with deterministic event ids (``<source>:p:<video>``, ``<source>:x:<row>``,
``<source>:c:<row>``) so a replayed log is recognisable by the worker's dedup. Records go through one batched
kafka-python producer, as fast as possible or paced to ``rate`` events/s, with a tqdm progress bar.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import orjson
import pandas as pd

from topic_learning.data import Dataset

if TYPE_CHECKING:
    from mtl.settings import Settings


def iter_events(
    data: Dataset, *, source: str = "replay", publish: bool = True
) -> Iterator[tuple[bytes, bytes]]:
    """``(key, value)`` records of ``data`` in timestamp order."""
    parts = []
    if publish:
        v = data.videos
        parts.append(pd.DataFrame({"ts": v["published_at"], "kind": 0, "row": np.arange(len(v))}))
    inter = data.interactions
    if inter is not None:
        rows = np.arange(len(inter))
        parts.append(pd.DataFrame({"ts": inter["ts"], "kind": 1, "row": rows}))
        clicked = inter["clicked"].to_numpy(dtype=bool)
        parts.append(pd.DataFrame({"ts": inter["ts"].to_numpy()[clicked], "kind": 2, "row": rows[clicked]}))
    if not parts:
        return
    order = pd.concat(parts, ignore_index=True)
    order["ts"] = pd.to_datetime(order["ts"], utc=True)
    order = order.sort_values(["ts", "kind", "row"], kind="stable")
    tss = order["ts"].astype("int64").to_numpy() / 1e9
    kinds = order["kind"].to_numpy()
    rows = order["row"].to_numpy()
    videos = data.videos
    vid_ids = videos["video_id"].to_numpy()
    if inter is not None:
        users = inter["user_id"].to_numpy()
        ivids = inter["video_id"].to_numpy()
    for ts, kind, row in zip(tss, kinds, rows, strict=True):
        ts = float(ts)
        if kind == 0:
            r = videos.iloc[int(row)]
            vid = int(vid_ids[row])
            d = {
                "type": "video_published",
                "event_id": f"{source}:p:{vid}",
                "video_id": vid,
                "title": str(r["title"]),
                "tags": [str(t) for t in r["tags"]],
                "cover": None if pd.isna(r["cover"]) else str(r["cover"]),
                "primary_class": None if pd.isna(r["primary_class"]) else str(r["primary_class"]),
                "secondary_class": None if pd.isna(r["secondary_class"]) else str(r["secondary_class"]),
                "ts": ts,
            }
        else:
            vid = int(ivids[row])
            d = {
                "type": "exposure" if kind == 1 else "click",
                "event_id": f"{source}:{'x' if kind == 1 else 'c'}:{int(row)}",
                "user_id": int(users[row]),
                "video_id": vid,
                "ts": ts,
            }
        yield str(vid).encode(), orjson.dumps(d)


def count_events(data: Dataset, *, publish: bool = True) -> int:
    n = len(data.videos) if publish else 0
    if data.interactions is not None:
        n += len(data.interactions) + int(data.interactions["clicked"].sum())
    return n


def replay(
    data: Dataset,
    *,
    bootstrap_servers: str,
    topic: str,
    rate: float | None = None,
    limit: int | None = None,
    source: str = "replay",
    publish: bool = True,
    progress: bool = True,
    partitions: int | None = None,
    settings: Settings | None = None,
) -> dict[str, float]:
    """Produce the events of ``data``; returns ``{"events", "seconds", "rate"}``.

    The topic is created first when missing (``partitions``, default ``stream.partitions``). Connection
    security comes from ``settings.kafka`` (default: the process settings).
    """
    from kafka import KafkaProducer
    from tqdm import tqdm

    from mtl.connections import kafka_python_kwargs
    from mtl.kafka import ensure_topics
    from mtl.settings import get_settings

    settings = settings or get_settings()
    ensure_topics(bootstrap_servers, {topic: partitions or settings.stream.partitions}, settings=settings)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap_servers,
        linger_ms=20,
        batch_size=256 * 1024,
        acks="all",
        **kafka_python_kwargs(settings),
    )
    total = count_events(data, publish=publish)
    total = min(total, limit) if limit is not None else total
    bar = tqdm(total=total, unit="ev", disable=not progress, desc="replay")
    t0 = time.perf_counter()
    n = 0
    try:
        for key, value in iter_events(data, source=source, publish=publish):
            if limit is not None and n >= limit:
                break
            producer.send(topic, key=key, value=value)
            n += 1
            if n % 1000 == 0:
                bar.update(1000)
                if rate:
                    ahead = n / rate - (time.perf_counter() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
        producer.flush()
        bar.update(n - bar.n)
    finally:
        bar.close()
        producer.close()
    secs = time.perf_counter() - t0
    return {"events": n, "seconds": secs, "rate": n / secs if secs > 0 else 0.0}
