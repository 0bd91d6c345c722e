"""``mtl bench features``: the ranker's online read and ``feast materialize``, on the configured Redis.

- online fetch of 1, 100 and 600 candidate videos (+ the user): :class:`CandidateFetcher` vs
  ``FeatureStore.get_online_features`` on the ``ranker`` FeatureService, same keys, same run; p50/p99;
- ``materialize`` of N ``video_topics`` rows from the offline parquet into Redis (rows/s).

Everything runs in a temporary copy of the repo under its own project name; its keys are deleted afterwards.
"""

from __future__ import annotations

import contextlib
import gc
import io
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mtl.features.fetch import CandidateFetcher
from mtl.features.push import push_user_topic_profile, push_video_stats
from mtl.features.store import (
    VIDEO_TOPICS_DIR,
    VIDEO_TOPICS_SCHEMA,
    apply_repo,
    copy_repo,
    delete_project_keys,
    open_store,
)
from mtl.settings import Settings


def random_topics(n: int, *, slots: int = 8, seed: int = 0, version: str = "bench", ts=None) -> pa.Table:
    rng = np.random.default_rng(seed)
    k = rng.integers(1, slots + 1, size=n)
    ids = rng.integers(0, 6000, size=(n, slots))
    ids[np.arange(slots)[None, :] >= k[:, None]] = -1
    scores = np.where(ids >= 0, rng.random((n, slots)), 0.0).astype(np.float32)
    ts = ts or datetime.now(UTC).replace(microsecond=0)
    return pa.table(
        {
            "video_id": np.arange(n, dtype=np.int64),
            "topic_ids": list(ids),
            "topic_scores": list(scores),
            "n_topics": k.astype(np.int64),
            "model_version": [version] * n,
            "event_timestamp": pa.array([ts] * n, type=pa.timestamp("us", tz="UTC")),
        },
        schema=VIDEO_TOPICS_SCHEMA,
    )


def _percentiles(fn, repeats: int) -> tuple[float, float]:
    times = []
    gc.collect()
    for _ in range(repeats):
        tick = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tick)
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


def run(settings: Settings, *, repeats: int = 200, materialize_rows: int = 100_000, echo=print) -> list[dict]:
    project = f"bench_{uuid.uuid4().hex[:8]}"
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = copy_repo(Path(tmp) / "repo", project, settings.feast_repo_path)
        store = open_store(repo, settings)
        try:
            apply_repo(store)
            table = random_topics(materialize_rows)
            out = repo / VIDEO_TOPICS_DIR / "video_topics-bench.parquet"
            pq.write_table(table, out)
            ts = table["event_timestamp"][0].as_py()
            tick = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                store.materialize(ts - timedelta(seconds=1), ts + timedelta(seconds=1), ["video_topics"])
            secs = time.perf_counter() - tick
            results.append(
                {
                    "stage": "materialize video_topics",
                    "rows": materialize_rows,
                    "seconds": secs,
                    "rows_per_s": materialize_rows / secs,
                }
            )
            echo(
                f"materialize video_topics  {materialize_rows:>9,} rows  {secs:8.1f} s  "
                f"{materialize_rows / secs:10,.0f} rows/s"
            )

            now = datetime.now(UTC)
            n_stats = min(materialize_rows, 5000)
            rng = np.random.default_rng(1)
            exp = rng.integers(0, 1000, n_stats)
            clk = rng.binomial(exp, 0.1)
            push_video_stats(
                pd.DataFrame(
                    {
                        "video_id": np.arange(n_stats, dtype=np.int64),
                        "exposures": exp,
                        "clicks": clk,
                        "ctr": ((clk + 1) / (exp + 10)).astype(np.float32),
                        "updated_at": now,
                        "event_timestamp": now,
                    }
                ),
                store=store,
            )
            push_user_topic_profile(
                pd.DataFrame(
                    {
                        "user_id": [7],
                        "top_topics": [[1, 2, 3, -1]],
                        "recent_clicks": [3],
                        "event_timestamp": [now],
                    }
                ),
                store=store,
            )

            fetcher = CandidateFetcher(store)
            service = store.get_feature_service("ranker")
            echo(
                f"{'entities':>8}  {'ours p50':>9} {'p99':>8}  {'stock p50':>10} {'p99':>8}  "
                f"{'ratio p50':>9} {'p99':>7}"
            )
            for n in (1, 100, 600):
                ids = rng.choice(materialize_rows, size=n, replace=False)
                rows = [{"video_id": int(v), "user_id": 7} for v in ids]
                fetcher.fetch(ids, 7)
                store.get_online_features(features=service, entity_rows=rows)
                o50, o99 = _percentiles(lambda ids=ids: fetcher.fetch(ids, 7), repeats)
                s50, s99 = _percentiles(
                    lambda rows=rows: store.get_online_features(features=service, entity_rows=rows),
                    max(20, repeats // 10),
                )
                results.append(
                    {
                        "stage": f"online fetch {n}",
                        "ours_p50_ms": o50,
                        "ours_p99_ms": o99,
                        "stock_p50_ms": s50,
                        "stock_p99_ms": s99,
                        "ratio_p50": s50 / o50,
                        "ratio_p99": s99 / o99,
                    }
                )
                echo(
                    f"{n:>8}  {o50:8.2f}ms {o99:7.2f}ms  {s50:9.2f}ms {s99:7.2f}ms  "
                    f"{s50 / o50:8.1f}x {s99 / o99:6.1f}x" + ("   goal p99 <= 5 ms" if n == 600 else "")
                )
            fetcher.close()
        finally:
            delete_project_keys(settings.redis_url, project)
    return results
