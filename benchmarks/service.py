"""``mtl bench service``: end-to-end latency of ``GET /recommend`` against the feature fetch alone.

A throwaway world is written to the configured Redis under names unique to the run: ``topics`` topic
queues (``<run>:q:<topic>``, with fresh parts and the global cold-start queue), ``users`` users with N1
clicks and their topic counts (``<run>:u:<user>``), and, in a copy of the Feast repo under its own
project, ``video_topics`` and ``video_stats`` of every video and the users' ``user_topic_profile``. Every
video carries 1-8 topics and queues hold the videos of their topic, so a user's top N2 topics give the
full N3 (600) candidates.

Then the real ``mtl serve`` runs as a subprocess (uvicorn, one worker) on a free port, and one
keep-alive ``httpx.Client`` calls ``/recommend?user_id=<random user>&k=<k>`` ``requests`` times after a
warm-up: p50/p99 of the client-side latency, and the median server-side stage times (``Server-Timing``).
Baseline, same run: :meth:`CandidateFetcher.fetch` of one user's same N3 candidate ids, in this process,
as many times: the share of the request that the Feast read alone takes (and ``generate`` alone, for the
breakdown). Everything the run wrote (keys of both prefixes and of the Feast project) is deleted afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from benchmarks.common import delete_prefix, timed_ms
from mtl.connections import redis_client
from mtl.errors import ServiceError, first_line
from mtl.features.store import VIDEO_TOPICS_SCHEMA
from mtl.paths import project_root
from mtl.settings import Settings

SERVER_START_TIMEOUT_S = 120.0  # imports of Feast, FastAPI (and torch for a model) on a loaded 2-core machine


@dataclass(frozen=True)
class ServiceBenchConfig:
    """Sizes of one ``mtl bench service`` run.

    Attributes
    ----------
    videos
        Videos with topics and stats in Feast.
    topics
        Topic queues; a queue holds every video of its topic (at most ``stream.queue_length``).
    users
        Users with a full click history; requests pick among them at random.
    candidates
        N3 of the server and of the fetch baseline.
    requests
        Timed ``/recommend`` calls (and baseline fetches).
    warmup
        Untimed calls before timing.
    k
        Videos each request asks for.
    favourite_topics
        Topics a user's clicks come from.
    model
        Trained ranker for the server; None: what ``mtl serve`` picks (the latest, else CTR).
    seed
        Seed of everything random.
    """

    videos: int = 20_000
    topics: int = 100
    users: int = 500
    candidates: int = 600
    requests: int = 1000
    warmup: int = 50
    k: int = 20
    favourite_topics: int = 5
    model: Path | None = None
    seed: int = 0


@dataclass
class World:
    """What :func:`fill_world` wrote: enough to predict the service's answers in tests."""

    topic_ids: np.ndarray  # [videos, 8] int64, -1 padded
    ctr: np.ndarray  # [videos] float32, also each video's score in its queues
    clicks: dict[int, list[int]] = field(default_factory=dict)  # user -> clicked videos, newest first
    topic_counts: dict[int, dict[int, int]] = field(default_factory=dict)


def bench_settings(settings: Settings, *, name: str, repo: Path, candidates: int) -> Settings:
    """``settings`` with the run's key prefixes, Feast repo copy and N3."""
    return settings.model_copy(
        update={
            "feast_repo_path": repo,
            "stream": settings.stream.model_copy(
                update={"queue_prefix": f"{name}:q", "user_prefix": f"{name}:u"}
            ),
            "ranker": settings.ranker.model_copy(update={"candidates": candidates}),
        }
    )


def fill_world(
    client,
    store,
    settings: Settings,
    *,
    videos: int,
    topics: int,
    users: int,
    favourite_topics: int,
    seed: int,
) -> World:
    """Write queues, the global queue, user clicks and topic counts to Redis and the features to Feast.

    Users are ``0..users-1``; video ``v``'s queue score is its smoothed CTR ``ctr[v]``.
    """
    from mtl.features.push import push_user_topic_profile, push_video_stats, push_video_topics
    from streams.global_queue import write_global_queue

    rng = np.random.default_rng(seed)
    s, r = settings.stream, settings.ranker
    slots = settings.learning.topic_slots
    n_topics = rng.integers(1, slots + 1, size=videos)
    popularity = 1.0 / np.arange(1, topics + 1) ** 0.5
    popularity /= popularity.sum()
    topic_ids = np.full((videos, slots), -1, dtype=np.int64)
    for v in range(videos):
        k = min(int(n_topics[v]), topics)
        topic_ids[v, :k] = rng.choice(topics, size=k, replace=False, p=popularity)
    n_topics = (topic_ids >= 0).sum(axis=1)
    exposures = rng.integers(0, 2000, size=videos)
    clicks = rng.binomial(exposures, rng.beta(4, 40, size=videos))
    ctr = ((clicks + 1.4) / (exposures + 20)).astype(np.float32)  # Beta-prior smoothed, as the worker does

    members: dict[int, np.ndarray] = {}
    pipe = client.pipeline(transaction=False)
    fresh_every = max(int(round(1 / s.fresh_share)), 1) if s.fresh_share > 0 else 0
    for t in range(topics):
        vids = np.flatnonzero((topic_ids == t).any(axis=1))
        vids = vids[np.argsort(-ctr[vids], kind="stable")][: s.queue_length]
        members[t] = vids
        if vids.size == 0:
            continue
        pipe.zadd(
            f"{s.queue_prefix}:{t}", dict(zip(map(str, vids.tolist()), ctr[vids].tolist(), strict=True))
        )
        fresh = vids[::fresh_every] if fresh_every else vids[:0]
        if fresh.size:
            pipe.zadd(
                f"{s.queue_prefix}:{t}:fresh",
                dict(zip(map(str, fresh.tolist()), ctr[fresh].tolist(), strict=True)),
            )
    pipe.execute()
    write_global_queue(client, s)

    world = World(topic_ids=topic_ids, ctr=ctr)
    profiles = []
    for u in range(users):
        favourites = rng.choice(topics, size=min(favourite_topics, topics), replace=False, p=popularity)
        pool = np.unique(np.concatenate([members[t] for t in favourites]))
        if pool.size == 0:
            continue
        picked = rng.choice(pool, size=min(r.history_clicks, pool.size), replace=False).tolist()
        counts: dict[int, int] = {}
        for v in picked:
            for t in topic_ids[v][topic_ids[v] >= 0].tolist():
                counts[t] = counts.get(t, 0) + 1
        world.clicks[u], world.topic_counts[u] = picked, counts
        pipe.rpush(f"{s.user_prefix}:{u}", *picked)
        pipe.hset(f"{s.user_prefix}:{u}:topics", mapping={str(t): c for t, c in counts.items()})
        top = sorted(counts, key=lambda t: (-counts[t], t))[: r.top_topics]
        profiles.append((u, top + [-1] * (r.top_topics - len(top)), len(picked)))
    pipe.execute()

    now = datetime.now(UTC).replace(microsecond=0)
    scores = np.where(topic_ids >= 0, rng.uniform(0.6, 1.0, size=topic_ids.shape), 0.0).astype(np.float32)
    table = pa.table(
        {
            "video_id": np.arange(videos, dtype=np.int64),
            "topic_ids": list(topic_ids),
            "topic_scores": list(scores),
            "n_topics": n_topics.astype(np.int64),
            "model_version": ["bench"] * videos,
            "event_timestamp": pa.array([now] * videos, type=pa.timestamp("us", tz="UTC")),
        },
        schema=VIDEO_TOPICS_SCHEMA,
    )
    push_video_topics(table.to_pandas(), store=store)
    push_video_stats(
        pd.DataFrame(
            {
                "video_id": np.arange(videos, dtype=np.int64),
                "exposures": exposures,
                "clicks": clicks,
                "ctr": ctr,
                "updated_at": now,
                "event_timestamp": now,
            }
        ),
        store=store,
    )
    if profiles:
        push_user_topic_profile(
            pd.DataFrame(
                {
                    "user_id": [p[0] for p in profiles],
                    "top_topics": [p[1] for p in profiles],
                    "recent_clicks": [p[2] for p in profiles],
                    "event_timestamp": now,
                }
            ),
            store=store,
        )
    return world


def server_env(settings: Settings) -> dict[str, str]:
    """Environment that makes a child ``mtl serve`` read the same world as ``settings``."""
    env = dict(os.environ)
    root = str(project_root())
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.update(
        {
            "REDIS_URL": settings.redis_url,
            "MTL_FEAST_REPO_PATH": str(settings.feast_repo_path),
            "MTL_ARTIFACT_DIR": str(settings.artifact_dir),
            "MTL_STREAM__QUEUE_PREFIX": settings.stream.queue_prefix,
            "MTL_STREAM__USER_PREFIX": settings.stream.user_prefix,
            "MTL_RANKER__CANDIDATES": str(settings.ranker.candidates),
            "MTL_RANKER__TOP_TOPICS": str(settings.ranker.top_topics),
            "MTL_RANKER__HISTORY_CLICKS": str(settings.ranker.history_clicks),
        }
    )
    return env


def start_server(settings: Settings, *, port: int, model: Path | None, log: Path) -> subprocess.Popen:
    """``mtl serve`` on ``127.0.0.1:port`` as a child process, once /health answers 200."""
    import httpx

    cmd = [sys.executable, "-m", "mtl", "serve", "--port", str(port)]
    if model is not None:
        cmd += ["--model", str(model)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=server_env(settings), cwd=project_root(), stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise ServiceError(f"mtl serve exited with {proc.returncode}: {tail[0]}")
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2.0)
            if r.status_code == 200:
                return proc
            if time.monotonic() > deadline:
                raise ServiceError(f"mtl serve is unhealthy: {r.text[:300]}")
        except httpx.TransportError:
            if time.monotonic() > deadline:
                stop_server(proc)
                raise ServiceError(
                    f"mtl serve did not answer within {SERVER_START_TIMEOUT_S:.0f} s"
                ) from None
        time.sleep(0.2)


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM (uvicorn shuts down gracefully), SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _server_timings(header: str) -> dict[str, float]:
    out = {}
    for part in header.split(","):
        name, _, dur = part.strip().partition(";dur=")
        if dur:
            out[name] = float(dur)
    return out


def run(
    settings: Settings,
    config: ServiceBenchConfig | None = None,
    *,
    name: str | None = None,
    echo: Callable[[str], object] = print,
) -> dict:
    """Fill, serve, time, clean up; returns ``{"config", "results", "details"}``.

    Parameters
    ----------
    settings
        Redis address and N1/N2; key prefixes, Feast repo and N3 are replaced for the run.
    config
        Sizes; default :class:`ServiceBenchConfig`.
    name
        Prefix of every Redis key of the run (and base of the Feast project); default random.
    echo
        Where result and progress lines go.
    """
    import httpx

    from mtl.devstack.process import free_port
    from mtl.features.fetch import CandidateFetcher
    from mtl.features.store import apply_repo, copy_repo, delete_project_keys, open_store
    from ranker.candidates import CandidateGenerator

    config = config or ServiceBenchConfig()
    name = name or f"bench-service-{uuid.uuid4().hex[:8]}"
    project = "b_" + uuid.uuid4().hex[:10]
    rng = np.random.default_rng(config.seed + 1)
    client = redis_client(settings)
    with tempfile.TemporaryDirectory() as tmp:
        repo = copy_repo(Path(tmp) / "repo", project, settings.feast_repo_path)
        s = bench_settings(settings, name=name, repo=repo, candidates=config.candidates)
        proc = None
        try:
            tick = time.perf_counter()
            store = open_store(repo, s)
            apply_repo(store)
            try:
                world = fill_world(
                    client,
                    store,
                    s,
                    videos=config.videos,
                    topics=config.topics,
                    users=config.users,
                    favourite_topics=config.favourite_topics,
                    seed=config.seed,
                )
            except Exception as exc:
                import redis

                if isinstance(exc, redis.RedisError):
                    raise ServiceError(f"Redis: {first_line(exc)}") from exc
                raise
            fill_s = time.perf_counter() - tick
            users = sorted(world.clicks)
            echo(
                f"filled {config.videos:,} videos, {config.topics} queues, {len(users)} users "
                f"(Redis + Feast project {project}) in {fill_s:.1f} s"
            )

            port = free_port()
            tick = time.perf_counter()
            proc = start_server(s, port=port, model=config.model, log=Path(tmp) / "serve.log")
            start_s = time.perf_counter() - tick
            http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0)
            health = http.get("/health").json()
            echo(
                f"server up in {start_s:.1f} s, scorer={health['scorer']}"
                + (f" ({health['model']})" if health["model"] else "")
            )

            sample = rng.choice(users, size=config.requests).tolist()
            stages: list[dict[str, float]] = []
            sizes: list[int] = []

            def call(u: int) -> None:
                r = http.get("/recommend", params={"user_id": u, "k": config.k})
                if r.status_code != 200:
                    raise ServiceError(f"/recommend answered {r.status_code}: {r.text[:300]}")
                stages.append(_server_timings(r.headers.get("server-timing", "")))
                sizes.append(r.json()["candidates"])

            e2e_ms = timed_ms(call, sample, config.warmup, gc_off=True)
            stages, sizes = stages[config.warmup :], sizes[config.warmup :]
            http.close()
            stop_server(proc)
            proc = None

            # baselines in this process, on the same data: the Feast read and candidate generation alone
            gen = CandidateGenerator(redis=client, settings=s)
            ids = gen.generate(users[0]).video_ids
            fetcher = CandidateFetcher(store, user_slots=s.ranker.top_topics)
            fetch_ms = timed_ms(
                lambda _: fetcher.fetch(ids, users[0]), [0] * config.requests, config.warmup, gc_off=True
            )
            fetcher.close()
            gen_ms = timed_ms(lambda u: gen.generate(u), sample, config.warmup, gc_off=True)
        finally:
            if proc is not None:
                stop_server(proc)
            delete_prefix(client, name)
            delete_project_keys(settings.redis_url, project, settings=settings)
            client.close()

    e50, e99 = np.percentile(e2e_ms, [50, 99])
    f50, f99 = np.percentile(fetch_ms, [50, 99])
    g50, g99 = np.percentile(gen_ms, [50, 99])
    names = list(stages[0]) if stages else []
    stage_medians = {k: float(np.median([st[k] for st in stages if k in st])) for k in names}
    stage_p99 = {k: float(np.percentile([st[k] for st in stages if k in st], 99)) for k in names}
    goal_ms = 30.0
    n3 = config.candidates
    results = [
        {
            "stage": f"GET /recommend (N3={n3}, k={config.k})",
            "p50_ms": float(e50),
            "p99_ms": float(e99),
            "baseline": f"CandidateFetcher.fetch {ids.size} ids",
            "baseline_p50_ms": float(f50),
            "baseline_p99_ms": float(f99),
            "ratio_p50": float(e50 / f50),
            "ratio_p99": float(e99 / f99),
            "requests": config.requests,
            "goal": f"p99 <= {goal_ms:.0f} ms",
            "goal_met": bool(e99 <= goal_ms),
        },
        {"stage": "CandidateGenerator.generate", "p50_ms": float(g50), "p99_ms": float(g99)},
    ]
    echo(
        f"{'':<36} {'p50':>8} {'p99':>8}  | {'baseline (same run)':<32} {'p50':>8} {'p99':>8}  "
        f"{'x p50':>6} {'x p99':>6}"
    )
    echo(
        f"{results[0]['stage']:<36} {e50:6.2f}ms {e99:6.2f}ms  | {results[0]['baseline']:<32} "
        f"{f50:6.2f}ms {f99:6.2f}ms  {e50 / f50:5.1f}x {e99 / f99:5.1f}x   "
        f"goal p99 <= {goal_ms:.0f} ms: {'met' if e99 <= goal_ms else 'NOT met'}"
    )
    echo(f"{'CandidateGenerator.generate':<36} {g50:6.2f}ms {g99:6.2f}ms  (in-process, for the breakdown)")
    echo(
        "server-side p50 / p99: "
        + ", ".join(f"{k} {stage_medians[k]:.2f} / {stage_p99[k]:.2f} ms" for k in names)
    )
    return {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
        "results": results,
        "details": {
            "fill_seconds": fill_s,
            "server_start_seconds": start_s,
            "scorer": health["scorer"],
            "model": health["model"],
            "mean_candidates": float(np.mean(sizes)) if sizes else 0.0,
            "server_stage_medians_ms": stage_medians,
            "server_stage_p99_ms": stage_p99,
        },
    }
