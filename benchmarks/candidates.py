"""``mtl bench candidates``: latency of one ``CandidateGenerator.generate`` call against the naive client.

A throwaway key prefix ``<run>:`` in the configured Redis is filled at realistic sizes: ``topics`` queues of
``queue_length`` videos (scores: smoothed CTRs, ``stream.fresh_share`` of each queue also in its ``:fresh``
key, videos in several topics), a global cold-start queue, and ``users`` users with ``clicks`` clicks on
videos of a few favourite topics each and the matching ``:topics`` count hash. Then, for random users:

- ours: :class:`ranker.candidates.CandidateGenerator` (one ``EVALSHA``);
- baseline, same run, same users: the naive client, one round trip per read (``LRANGE``, ``HGETALL``,
  ``ZREVRANGE`` of each top topic's queue and fresh part), merged in Python by
  :func:`ranker.candidates.reference_candidates`.

Both give the same candidates (checked on the first users). p50/p99 over ``calls`` calls each; every key of
the run is deleted afterwards. Two figures help read a p99 on a small shared machine: the p50/p99 of a bare
``PING`` round trip in the same run (the floor any one-round-trip call shares), and the server-side time of
our ``EVALSHA`` calls from Redis's own latency histogram (``LATENCY HISTOGRAM evalsha``, power-of-two
buckets, so upper bounds; other clients' EVALSHAs in the same seconds would count too).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from benchmarks.common import delete_prefix, timed_ms
from mtl.connections import redis_client
from mtl.errors import ServiceError, first_line
from mtl.settings import Settings
from ranker.candidates import GLOBAL_TOPIC, CandidateGenerator, CandidateSet, reference_candidates


@dataclass(frozen=True)
class CandidatesBenchConfig:
    """Sizes of one ``mtl bench candidates`` run.

    Attributes
    ----------
    topics
        Topic queues in Redis.
    queue_length
        Videos per queue (``stream.queue_length``'s default is 1000).
    users
        Users with a full click history (``ranker.history_clicks`` clicks) and topic counts.
    calls
        Timed ``generate`` calls (ours); the naive baseline gets the same number.
    warmup
        Untimed calls of each before timing.
    topics_per_video
        Mean topics a video carries (queues overlap through it).
    favourite_topics
        Topics a user's clicks come from.
    seed
        Seed of everything random.
    """

    topics: int = 2000
    queue_length: int = 1000
    users: int = 1000
    calls: int = 2000
    warmup: int = 50
    topics_per_video: float = 4.0
    favourite_topics: int = 6
    seed: int = 0


def naive_candidates(client, settings: Settings, user_id: int, *, n: int) -> CandidateSet:
    """The baseline: every read its own round trip, the merge in Python."""
    s, r = settings.stream, settings.ranker
    user = f"{s.user_prefix}:{user_id}"
    clicked = [int(v) for v in client.lrange(user, 0, r.history_clicks - 1)]
    counts = {int(t): int(c) for t, c in client.hgetall(f"{user}:topics").items()}
    top = sorted(((t, c) for t, c in counts.items() if c > 0), key=lambda tc: (-tc[1], tc[0]))
    wanted = [t for t, _ in top[: r.top_topics]] or [GLOBAL_TOPIC]
    queues, fresh = {}, {}
    for t in wanted:
        key = f"{s.queue_prefix}:global" if t == GLOBAL_TOPIC else f"{s.queue_prefix}:{t}"
        queues[t] = [(int(m), sc) for m, sc in client.zrevrange(key, 0, -1, withscores=True)]
        fresh[t] = {int(m) for m in client.zrange(f"{key}:fresh", 0, -1)}
    return reference_candidates(
        counts, clicked, queues, fresh, n=n, top_topics=r.top_topics, fresh_share=s.fresh_share
    )


def _fill(client, settings: Settings, config: CandidatesBenchConfig, rng: np.random.Generator) -> list[int]:
    """Write the queues, fresh parts, global queue and users; returns the user ids."""
    s, c = settings.stream, config
    qp, up = s.queue_prefix, s.user_prefix
    n_videos = max(int(c.topics * c.queue_length / c.topics_per_video), c.queue_length)
    n_fresh = int(round(s.fresh_share * c.queue_length))
    queues: list[np.ndarray] = []
    pipe = client.pipeline(transaction=False)
    for t in range(c.topics):
        members = rng.choice(n_videos, size=c.queue_length, replace=False)
        ctr = np.round(rng.beta(4, 30, size=c.queue_length) + 0.07, 6)  # ranked: smoothed CTR >= tau_2
        ctr[:n_fresh] = np.round(rng.normal(0.05, 0.005, size=n_fresh), 6)  # fresh: near the prior
        pipe.zadd(f"{qp}:{t}", dict(zip(map(str, members.tolist()), ctr.tolist(), strict=True)))
        if n_fresh:
            pipe.zadd(
                f"{qp}:{t}:fresh",
                dict(zip(map(str, members[:n_fresh].tolist()), ctr[:n_fresh].tolist(), strict=True)),
            )
        queues.append(members)
        if t % 100 == 99:
            pipe.execute()
    top = rng.choice(n_videos, size=c.queue_length, replace=False)
    pipe.zadd(f"{qp}:global", {str(v): 0.3 - i * 1e-4 for i, v in enumerate(top.tolist())})
    pipe.execute()
    popularity = 1.0 / np.arange(1, c.topics + 1) ** 0.8  # a few topics are everyone's favourites
    popularity /= popularity.sum()
    history = settings.ranker.history_clicks
    for u in range(c.users):
        favourites = rng.choice(c.topics, size=c.favourite_topics, replace=False, p=popularity)
        weights = rng.dirichlet(np.ones(c.favourite_topics))
        drawn = rng.choice(favourites, size=history, p=weights)
        clicks = [int(rng.choice(queues[t])) for t in drawn]
        counts: dict[int, int] = {}
        for t in drawn:  # the topic the click came from, plus a few others the video carries
            for topic in [int(t), *rng.choice(c.topics, size=rng.poisson(c.topics_per_video - 1)).tolist()]:
                counts[topic] = counts.get(topic, 0) + 1
        pipe.rpush(f"{up}:{u}", *clicks)
        pipe.hset(f"{up}:{u}:topics", mapping={str(t): n for t, n in counts.items()})
        if u % 200 == 199:
            pipe.execute()
    pipe.execute()
    return list(range(c.users))


def _evalsha_histogram(client) -> dict[int, int]:
    """Cumulative ``{bucket upper bound (us): calls}`` of the server's EVALSHA latencies."""
    reply = client.execute_command("LATENCY", "HISTOGRAM", "evalsha")
    if not reply:
        return {}
    fields = dict(zip(reply[1][::2], reply[1][1::2], strict=True))
    buckets = fields.get(b"histogram_usec", fields.get("histogram_usec", []))
    return {int(b): int(c) for b, c in zip(buckets[::2], buckets[1::2], strict=True)}


def _server_percentiles(before: dict[int, int], after: dict[int, int]) -> dict[str, float] | None:
    """Upper bounds of the p50/p99 of the calls between two histogram readings."""
    bounds = sorted(after)
    delta, last_before, last_after = [], 0, 0
    for b in bounds:  # cumulative counts; a bucket absent before holds what the last smaller one held
        last_before = before.get(b, last_before)
        last_after = after[b]
        delta.append(last_after - last_before)
    total = delta[-1] if delta else 0
    if total <= 0:
        return None
    return {
        f"server_p{q}_us_at_most": float(
            next(b for b, d in zip(bounds, delta, strict=True) if d >= q / 100 * total)
        )
        for q in (50, 99)
    } | {"server_calls": total}


def run(
    settings: Settings,
    config: CandidatesBenchConfig | None = None,
    *,
    name: str | None = None,
    echo: Callable[[str], object] = print,
) -> dict:
    """Fill, time ours and the baseline, clean up; returns ``{"config", "results", "details"}``.

    Parameters
    ----------
    settings
        Redis address, N1/N2/N3 and ``stream.fresh_share``; the key prefixes are replaced by ``<name>:q`` and
        ``<name>:u``.
    config
        Sizes; default :class:`CandidatesBenchConfig`.
    name
        Prefix of every Redis key of the run; default ``bench-candidates-<random>``.
    echo
        Where result and progress lines go.
    """
    config = config or CandidatesBenchConfig()
    name = name or f"bench-candidates-{uuid.uuid4().hex[:8]}"
    settings = settings.model_copy(
        update={
            "stream": settings.stream.model_copy(
                update={"queue_prefix": f"{name}:q", "user_prefix": f"{name}:u"}
            )
        }
    )
    n = settings.ranker.candidates
    rng = np.random.default_rng(config.seed)
    client = redis_client(settings)
    try:
        tick = time.perf_counter()
        try:
            users = _fill(client, settings, config, rng)
        except Exception as exc:
            import redis

            if isinstance(exc, redis.RedisError):
                raise ServiceError(
                    f"Redis at {settings.redis_url.split('@')[-1]}: {first_line(exc)}"
                ) from exc
            raise
        fill_s = time.perf_counter() - tick
        memory = client.info("memory").get("used_memory_human")
        echo(
            f"filled {config.topics} queues x {config.queue_length}, {config.users} users in {fill_s:.1f} s "
            f"(Redis used_memory {memory})"
        )
        gen = CandidateGenerator(redis=client, settings=settings)
        cold = 10**9  # a user without history: the cold-start queue
        checked = users[:20] + [cold]
        for u in checked:
            ours, naive = gen.generate(u, n=n), naive_candidates(client, settings, u, n=n)
            if not (np.array_equal(ours.video_ids, naive.video_ids) and ours.topics == naive.topics):
                raise RuntimeError(f"Lua and naive candidates differ for user {u}")
        sizes = [len(gen.generate(u, n=n)) for u in users[:50]]
        sample = rng.choice(users, size=config.calls).tolist()
        ping_ms = timed_ms(lambda u: client.ping(), sample, config.warmup)
        for u in sample[: config.warmup]:
            gen.generate(u, n=n)
        before = _evalsha_histogram(client)
        ours_ms = timed_ms(lambda u: gen.generate(u, n=n), sample, 0)
        server = _server_percentiles(before, _evalsha_histogram(client))
        naive_ms = timed_ms(lambda u: naive_candidates(client, settings, u, n=n), sample, config.warmup)
        cold_ms = timed_ms(lambda u: gen.generate(cold, n=n), [cold] * min(config.calls, 500), config.warmup)
    finally:
        delete_prefix(client, name)
        client.close()
    o50, o99 = np.percentile(ours_ms, [50, 99])
    b50, b99 = np.percentile(naive_ms, [50, 99])
    c50, c99 = np.percentile(cold_ms, [50, 99])
    p50, p99 = np.percentile(ping_ms, [50, 99])
    results = [
        {
            "stage": f"generate (N3={n}, N2={settings.ranker.top_topics})",
            "ours_p50_ms": float(o50),
            "ours_p99_ms": float(o99),
            "naive_p50_ms": float(b50),
            "naive_p99_ms": float(b99),
            "ratio_p50": float(b50 / o50),
            "ratio_p99": float(b99 / o99),
            "calls": config.calls,
            "goal": "p99 <= 2 ms",
            "goal_met": bool(o99 <= 2.0),
            **(server or {}),
        },
        {"stage": "generate, cold start", "ours_p50_ms": float(c50), "ours_p99_ms": float(c99)},
        {"stage": "PING round trip (floor)", "ours_p50_ms": float(p50), "ours_p99_ms": float(p99)},
    ]
    echo(f"{'':<30} {'ours p50':>9} {'p99':>8}  {'naive p50':>10} {'p99':>8}  {'ratio p50':>9} {'p99':>7}")
    echo(
        f"{results[0]['stage']:<30} {o50:8.3f}ms {o99:7.3f}ms  {b50:9.3f}ms {b99:7.3f}ms  "
        f"{b50 / o50:8.1f}x {b99 / o99:6.1f}x   goal p99 <= 2 ms: {'met' if o99 <= 2.0 else 'NOT met'}"
    )
    echo(f"{'generate, cold start':<30} {c50:8.3f}ms {c99:7.3f}ms")
    echo(f"{'PING round trip (floor)':<30} {p50:8.3f}ms {p99:7.3f}ms")
    if server:
        echo(
            f"{'  script time in Redis':<30} p50 <= {server['server_p50_us_at_most'] / 1e3:.3f}ms, "
            f"p99 <= {server['server_p99_us_at_most'] / 1e3:.3f}ms ({server['server_calls']} EVALSHA calls)"
        )
    load = os.getloadavg()
    return {
        "config": asdict(config),
        "results": results,
        "details": {
            "fill_seconds": fill_s,
            "redis_used_memory": memory,
            "mean_candidates": float(np.mean(sizes)),
            "checked_equal_users": len(checked),
            "load_average_1_5_15": list(load),
            "cpus": os.cpu_count(),
        },
    }
