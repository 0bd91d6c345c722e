"""The faust-streaming worker: Kafka events -> per-video counts -> per-topic CTR queues in Redis.

Start it with ``mtl stream worker`` or ``faust -A streams.app worker -l info``; settings come from
:func:`mtl.settings.get_settings` (``stream`` section), so ``MTL_STREAM__APP_ID`` etc. pick names.

One agent reads the typed events topic (see :mod:`streams.events`) in batches (``stream.take_events``):

1. every record is validated; rejects go to the dead-letter topic with the reason and the original bytes;
2. exposures and clicks update the ``video_counts`` table (``video_id -> [exposures, clicks, recent
   event ids]``, changelog-backed, memory or RocksDB store). A redelivered event whose id is among the
   video's last ``stream.dedup_window`` ids is dropped (at-least-once + bounded dedup). The batch's
   changelog records go to the partition of the event that changed the key (``stream.take_events`` leaves no
   single current event, so the worker writes the store and the changelog explicitly);
3. ``video_published`` events get topics (latest topic model, batched, when one exists and
   ``stream.assign_with_model``; else ``stream.topics_file`` / Feast's online ``video_topics``), are pushed
   to Feast and enter the fresh part of their topics' queues;
4. every topic touched by the batch has its queue rebuilt from table state with the prior of the current
   epoch and the difference to what was last written goes to Redis as absolute ZADD/ZREM
   (:func:`streams.queues.write_queue_changes`); every ``stream.full_refresh_s`` a timer refits the prior
   to the global CTR and, when it moved, rewrites every known queue whole (``DEL`` + ``ZADD``), which also
   repairs a wiped Redis;
5. clicks append to each user's recent-click list in Redis (``<user_prefix>:<user_id>``, capped at N1); the
   user's top N2 topics over that list and the touched videos' stats are pushed to Feast in batches.

Counters (good, bad, duplicate events, batches) are kept in the Redis hash ``<queue_prefix>:stats``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from pathlib import Path

import faust

from mtl.settings import get_settings
from streams.events import Click, Exposure, Rejected, VideoPublished, dead_letter, parse_event
from streams.queues import build_queue, fit_prior, write_queue_changes, write_queues

log = logging.getLogger("streams.app")

settings = get_settings()
S = settings.stream


def _broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{h.strip()}" for h in bootstrap.split(",") if h.strip()]


def _datadir() -> Path:
    return S.data_dir or (settings.run_dir.parent / "faust")


class StreamApp(faust.App):
    """The app creates its input and dead-letter topics (explicit partitions) before it subscribes."""

    async def on_first_start(self) -> None:
        await super().on_first_start()
        from mtl.kafka import ensure_topics

        await asyncio.to_thread(
            ensure_topics,
            settings.kafka_bootstrap_servers,
            {S.events_topic: S.partitions, S.dead_letter_topic: S.partitions},
        )


app = StreamApp(
    S.app_id,
    broker=_broker_urls(settings.kafka_bootstrap_servers),
    store="rocksdb://" if S.store == "rocksdb" else "memory://",
    processing_guarantee=S.processing_guarantee,
    topic_partitions=S.partitions,
    topic_allow_declare=True,
    topic_disable_leader=True,
    web_enabled=False,
    datadir=str(_datadir()),
    producer_linger_ms=5,
)

events_topic = app.topic(
    S.events_topic, key_serializer="raw", value_serializer="raw", partitions=S.partitions
)
dead_letter_topic = app.topic(
    S.dead_letter_topic, key_serializer="raw", value_serializer="raw", partitions=S.partitions
)
video_counts = app.Table("video_counts", default=None, partitions=S.partitions)


class TopicResolver:
    """Topics of videos: cache, then ``stream.topics_file``, then Feast's online ``video_topics``."""

    def __init__(self) -> None:
        self.cache: dict[int, tuple[int, ...]] = {}
        self._file: dict[int, tuple[int, ...]] | None = None
        self._fetcher = None
        self._feast_failed = False
        self._model = None
        self._model_loaded = False

    def _from_file(self) -> dict[int, tuple[int, ...]]:
        if self._file is None:
            self._file = {}
            if S.topics_file is not None:
                import pandas as pd

                from streams.queues import topics_of

                self._file = topics_of(pd.read_parquet(S.topics_file, columns=["video_id", "topic_ids"]))
        return self._file

    def _from_feast(self, ids: list[int]) -> dict[int, tuple[int, ...]]:
        if self._feast_failed or not ids:
            return {}
        try:
            if self._fetcher is None:
                from mtl.features import CandidateFetcher, open_store

                self._fetcher = CandidateFetcher(open_store())
            got = self._fetcher.fetch(ids, 0)
        except Exception as exc:  # noqa: BLE001 - no registry or store: queue nothing for those videos
            log.warning("Feast video_topics unavailable (%s); unknown videos get no topics", exc)
            self._feast_failed = True
            return {}
        out = {}
        for vid, row, found in zip(ids, got.topic_ids, got.topics_found, strict=True):
            if found:
                out[vid] = tuple(int(t) for t in row if t >= 0)
        return out

    def resolve(self, ids) -> None:
        """Fill the cache for ``ids`` (blocking; call in a thread). Unknown videos cache as no topics."""
        missing = [v for v in ids if v not in self.cache]
        if not missing:
            return
        f = self._from_file()
        rest = []
        for v in missing:
            if v in f:
                self.cache[v] = f[v]
            else:
                rest.append(v)
        feast = self._from_feast(rest)
        for v in rest:
            self.cache[v] = feast.get(v, ())

    def model(self):
        if not self._model_loaded:
            self._model_loaded = True
            if S.assign_with_model:
                from topic_learning.registry import ModelRegistry

                try:
                    self._model = ModelRegistry(settings.artifact_dir / "topics" / S.model_corpus).latest()
                except Exception as exc:  # noqa: BLE001
                    log.warning("topic model unavailable (%s); published videos use Feast topics", exc)
        return self._model

    def assign(self, published: list[VideoPublished]) -> None:
        """Topics of freshly published videos (model, batched), pushed to Feast; else resolved."""
        model = self.model()
        if model is None:
            self.resolve([p.video_id for p in published])
            return
        import pandas as pd

        df = pd.DataFrame(
            {
                "video_id": [p.video_id for p in published],
                "title": [p.title for p in published],
                "tags": [list(p.tags) for p in published],
                "primary_class": [p.primary_class for p in published],
                "secondary_class": [p.secondary_class for p in published],
                "cover": [p.cover for p in published],
                "published_at": pd.to_datetime([p.ts for p in published], unit="s", utc=True),
            }
        )
        rows = model.assign(df)
        for vid, ids in zip(rows["video_id"], rows["topic_ids"], strict=True):
            self.cache[int(vid)] = tuple(int(t) for t in ids if t >= 0)
        if S.feast_push:
            from mtl.features import push_video_topics

            push_video_topics(rows)


class Worker:
    """State of the agent between batches: topic membership, totals, counters, Redis and Feast writers."""

    def __init__(self) -> None:
        self.topics = TopicResolver()
        self.members: dict[int, set[int]] = defaultdict(set)
        self.totals: list[int] | None = None
        # per-process counters, written whole to <queue_prefix>:stats after every batch
        self.counters: Counter[str] = Counter(good=0, bad=0, duplicate=0, batches=0, feast_errors=0)
        self.prior = None  # the prior of the current epoch: refitted by the refresh timer only
        self.full_prior = None
        self.written: dict[int, dict[int, float]] = {}  # last queue written per topic
        self._redis = None
        self.lock = asyncio.Lock()  # queue writes of a batch and of the refresh timer never interleave

    @property
    def redis(self):
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(settings.redis_url)
        return self._redis

    def _totals(self) -> list[int]:
        if self.totals is None:
            e = c = 0
            for rec in video_counts.data.values():
                e += rec[0]
                c += rec[1]
            self.totals = [e, c]
        return self.totals

    def _queues(self, topics) -> dict[int, dict[int, float]]:
        data = video_counts.data
        if self.prior is None:
            e, c = self._totals()
            self.prior = fit_prior(e, c, S.prior_strength)
        out = {}
        for t in topics:
            members = []
            for v in self.members.get(t, ()):
                rec = data.get(v)
                if rec is not None:
                    members.append((v, rec[0], rec[1]))
            out[t] = build_queue(t, members, self.prior, S)
        return out

    async def handle(self, events) -> None:
        good: list = []
        for ev in events:
            parsed = parse_event(ev.value, max_bytes=S.max_event_bytes, max_skew_s=S.max_clock_skew_s)
            if isinstance(parsed, Rejected):
                self.counters["bad"] += 1
                msg = ev.message
                await dead_letter_topic.send(
                    key=ev.key if isinstance(ev.key, bytes) else None,
                    value=dead_letter(parsed, topic=msg.topic, partition=msg.partition, offset=msg.offset),
                )
            else:
                good.append((ev.message.partition, parsed))
        data = video_counts.data
        if self.totals is None:
            # first batch after start (tables recovered): queues are rebuilt from every counted video
            known = list(data.keys())
            await asyncio.to_thread(self.topics.resolve, known)
            for v in known:
                for t in self.topics.cache.get(v, ()):
                    self.members[t].add(v)
        totals = self._totals()
        changed: dict[int, tuple[int, list]] = {}
        published: list[VideoPublished] = []
        clicks: dict[int, list[int]] = defaultdict(list)
        for partition, e in good:
            v = e.video_id
            if v in changed:
                rec = changed[v][1]
            else:
                old = data.get(v)
                rec = [0, 0, []] if old is None else [old[0], old[1], list(old[2])]
            if e.event_id in rec[2]:
                self.counters["duplicate"] += 1
                continue
            self.counters["good"] += 1
            if isinstance(e, VideoPublished):
                published.append(e)
            elif isinstance(e, Exposure):
                rec[0] += 1
                totals[0] += 1
            elif isinstance(e, Click):
                rec[1] += 1
                totals[1] += 1
                clicks[e.user_id].append(v)
            if S.dedup_window:
                rec[2].append(e.event_id)
                del rec[2][: -S.dedup_window]
            changed[v] = (partition, rec)
        for v, (partition, rec) in changed.items():
            data[v] = rec
            video_counts.send_changelog(partition, v, rec)
        if published:
            await asyncio.to_thread(self.topics.assign, published)
        await asyncio.to_thread(self.topics.resolve, list(changed))
        dirty: set[int] = set()
        for v in changed:
            for t in self.topics.cache.get(v, ()):
                self.members[t].add(v)
                dirty.add(t)
        self.counters["batches"] += 1
        stats = dict(self.counters)
        async with self.lock:
            queues = self._queues(dirty)
            await asyncio.to_thread(self._write, queues, clicks, stats, list(changed))

    def _write(self, queues, clicks, stats, videos) -> None:
        write_queue_changes(self.redis, S.queue_prefix, queues, self.written)
        profiles = []
        if clicks:
            pipe = self.redis.pipeline(transaction=False)
            users = list(clicks)
            for u in users:
                key = f"{S.user_prefix}:{u}"
                pipe.lpush(key, *clicks[u])
                pipe.ltrim(key, 0, settings.ranker.history_clicks - 1)
                pipe.lrange(key, 0, -1)
            res = pipe.execute()
            for i, u in enumerate(users):
                recent = [int(x) for x in res[3 * i + 2]]
                self.topics.resolve(recent)
                votes: Counter[int] = Counter()
                for vid in recent:
                    votes.update(self.topics.cache.get(vid, ()))
                top = [t for t, _ in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))]
                top = (top + [-1] * settings.ranker.top_topics)[: settings.ranker.top_topics]
                profiles.append((u, top, len(recent)))
        self.redis.hset(f"{S.queue_prefix}:stats", mapping=stats)
        if S.feast_push:
            self._push_feast(profiles, videos)

    def _push_feast(self, profiles, videos) -> None:
        import pandas as pd

        from mtl.features import push_user_topic_profile, push_video_stats

        now = pd.Timestamp.now(tz="UTC")
        try:
            if videos:
                data = video_counts.data
                recs = [(v, data[v]) for v in videos if v in data]
                prior = self.prior
                from streams.queues import smoothed_ctr

                push_video_stats(
                    pd.DataFrame(
                        {
                            "video_id": [v for v, _ in recs],
                            "exposures": [r[0] for _, r in recs],
                            "clicks": [r[1] for _, r in recs],
                            "ctr": [smoothed_ctr(r[0], r[1], prior) for _, r in recs],
                            "updated_at": now,
                            "event_timestamp": now,
                        }
                    )
                )
            if profiles:
                push_user_topic_profile(
                    pd.DataFrame(
                        {
                            "user_id": [u for u, _, _ in profiles],
                            "top_topics": [t for _, t, _ in profiles],
                            "recent_clicks": [n for _, _, n in profiles],
                            "event_timestamp": now,
                        }
                    )
                )
        except Exception as exc:  # noqa: BLE001 - Feast trouble must not stop the counts
            self.counters["feast_errors"] += 1
            log.warning("Feast push failed: %s", str(exc).splitlines()[0][:200] if str(exc) else exc)

    async def refresh_all(self) -> None:
        """Refit the prior from the totals; when it moved, rewrite every known queue whole."""
        if self.totals is None or not self.members:
            return
        prior = fit_prior(self.totals[0], self.totals[1], S.prior_strength)
        if prior == self.full_prior:
            return
        async with self.lock:
            self.prior = prior
            queues = self._queues(list(self.members))
            self.full_prior = prior
            await asyncio.to_thread(write_queues, self.redis, S.queue_prefix, queues)
            self.written = {t: dict(q) for t, q in queues.items()}


worker_state = Worker()


@app.agent(events_topic)
async def process_events(stream):
    async for events in stream.take_events(S.batch_size, within=S.batch_timeout_s):
        t0 = time.perf_counter()
        await worker_state.handle(events)
        log.debug("batch of %d in %.3fs", len(events), time.perf_counter() - t0)


@app.timer(interval=S.full_refresh_s)
async def refresh_queues():
    await worker_state.refresh_all()


def main() -> None:
    """Run the worker (what ``mtl stream worker`` does); the app creates its topics on start."""
    from faust.worker import Worker as FaustWorker

    FaustWorker(app, loglevel="info").execute_from_commandline()
