"""Shared fixtures: the real Kafka and Redis of the dev stack, per-test unique names, and stream worker
subprocesses with a known event log (``workers``, ``stream_case_factory``).

Integration tests (marked ``integration``) use ``KAFKA_BOOTSTRAP_SERVERS`` / ``REDIS_URL`` when set,
else the running dev stack, else they bring the dev stack up once for the session and take it down.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mtl.settings import get_settings, load_settings


@dataclass(frozen=True)
class Services:
    kafka_bootstrap_servers: str
    redis_url: str


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    # Tests that change the environment must not leak a cached Settings into the next test.
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    from mtl.devstack import DevStack

    env_kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    env_redis = os.environ.get("REDIS_URL")
    if env_kafka and env_redis:
        yield Services(env_kafka, env_redis)
        return
    stack = DevStack(load_settings())
    with stack.running() as addresses:
        yield Services(addresses["KAFKA_BOOTSTRAP_SERVERS"], addresses["REDIS_URL"])


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name no other test (or earlier run) uses: for Kafka topics, groups and Redis key prefixes."""
    base = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name).strip("-")[:40]
    return f"t-{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def redis_client(services: Services, unique_name: str):
    """A Redis client; every key under ``<unique_name>:`` is deleted after the test."""
    import redis

    client = redis.Redis.from_url(services.redis_url)
    yield client
    keys = list(client.scan_iter(match=f"{unique_name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def kafka_admin(services: Services, request: pytest.FixtureRequest):
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=services.kafka_bootstrap_servers)
    created: list[str] = []
    admin.created_topics = created  # tests append what they create; removed afterwards
    # the test's stream workers stop before its topics go: a running worker would create them again
    pool = request.getfixturevalue("workers") if "workers" in request.fixturenames else None
    yield admin
    if pool is not None:
        pool.stop_all()
    if created:
        admin.delete_topics(created)
    admin.close()


# -- stream worker subprocesses (tests/streams, and the ranker tests that need queues filled by it) --

WORKER = [sys.executable, "-m", "mtl", "stream", "worker"]


def stop_worker(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL of its whole process group if it has not exited within 20 s."""
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        kill_worker(proc)


def kill_worker(proc: subprocess.Popen) -> None:
    """SIGKILL the worker and its supervisor at once (a crashed machine)."""
    import os
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class Workers:
    """``start(env)`` runs `mtl stream worker` with ``env``, output to one log; ``stop(proc)`` ends one."""

    stop = staticmethod(stop_worker)
    kill = staticmethod(kill_worker)

    def __init__(self, log_path) -> None:
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.procs: list[subprocess.Popen] = []

    def start(self, env: dict) -> subprocess.Popen:
        proc = subprocess.Popen(
            WORKER, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                stop_worker(proc)

    def close(self) -> None:
        self.stop_all()
        self.log.close()
        if any(proc.returncode not in (0, -9, -15, 143) for proc in self.procs):
            print(self.log_path.read_text()[-5000:])


@pytest.fixture
def workers(tmp_path):
    """Stream workers of one test; every one still running is stopped at teardown."""
    pool = Workers(tmp_path / "worker.log")
    yield pool
    pool.close()


class StreamCase:
    """A replayable synthetic log, the worker environment for it, and checks against batch references.

    References: per-video counts and topic queues (:func:`streams.queues.recompute_queues`) and each
    user's last N1 clicks by event time; the worker's counts are read back from its table changelog.
    """

    N_TOPICS = 5

    def __init__(self, *, data, tmp_path, name: str, kafka: str, redis_url: str, partitions: int = 4):
        import os

        import pandas as pd

        from mtl.settings import StreamSettings
        from streams.replay import iter_events

        self.data, self.name, self.kafka, self.redis_url = data, name, kafka, redis_url
        self.partitions = partitions
        self.events, self.dlq, self.prefix, self.user_prefix = (
            f"{name}-events",
            f"{name}-dlq",
            f"{name}:q",
            f"{name}:u",
        )
        self.topics = self._topics(data.videos)
        self.topics_file = tmp_path / "video_topics.parquet"
        pd.DataFrame(
            {"video_id": list(self.topics), "topic_ids": [list(t) for t in self.topics.values()]}
        ).to_parquet(self.topics_file)
        self.records = list(iter_events(data, source="t"))
        self.settings = StreamSettings(queue_length=40, min_fresh=1, partitions=partitions)
        self.base_env = dict(
            os.environ,
            KAFKA_BOOTSTRAP_SERVERS=kafka,
            REDIS_URL=redis_url,
            MTL_STREAM__APP_ID=name,
            MTL_STREAM__EVENTS_TOPIC=self.events,
            MTL_STREAM__DEAD_LETTER_TOPIC=self.dlq,
            MTL_STREAM__QUEUE_PREFIX=self.prefix,
            MTL_STREAM__USER_PREFIX=self.user_prefix,
            MTL_STREAM__STALL_TIMEOUT_S="15",  # a stalled Faust stream is restarted within the test's waits
            MTL_STREAM__TOPICS_FILE=str(self.topics_file),
            MTL_STREAM__ASSIGN_WITH_MODEL="false",
            MTL_STREAM__FEAST_PUSH="false",
            MTL_STREAM__FULL_REFRESH_S="1",
            MTL_STREAM__PARTITIONS=str(partitions),
            MTL_STREAM__QUEUE_LENGTH="40",
            MTL_STREAM__MIN_FRESH="1",  # tiny queues: measure the proportional fresh share
        )
        self.tmp_path = tmp_path
        self.counts, self.expected = self._reference()

    @property
    def kafka_topics(self) -> list[str]:
        """Every topic the worker app of this case creates (for deletion after the test)."""
        internal = ("user-clicks", "video_counts-changelog", "user_clicks-changelog")
        return [self.events, self.dlq, *(f"{self.name}-{t}" for t in internal)]

    @classmethod
    def _topics(cls, videos) -> dict[int, tuple[int, ...]]:
        """Stand-in topic assignment: one topic from the secondary class, a second one for a third."""
        import zlib

        out = {}
        for vid, cls_ in zip(videos["video_id"], videos["secondary_class"], strict=True):
            t = zlib.crc32(str(cls_).encode()) % cls.N_TOPICS
            out[int(vid)] = (t, (t + 1) % cls.N_TOPICS) if vid % 3 == 0 else (t,)
        return out

    def env(self, worker: str = "w0", **extra) -> dict:
        return {**self.base_env, "MTL_STREAM__DATA_DIR": str(self.tmp_path / f"faust-{worker}"), **extra}

    def _reference(self):
        from streams.queues import recompute_queues

        return recompute_queues(
            self.data.interactions, self.topics, self.settings, videos=self.data.videos["video_id"].tolist()
        )

    def produce(self, records=None) -> int:
        from kafka import KafkaProducer

        from mtl.kafka import ensure_topics

        ensure_topics(self.kafka, {self.events: self.partitions})
        producer = KafkaProducer(bootstrap_servers=self.kafka, linger_ms=5, batch_size=256 * 1024)
        records = self.records if records is None else records
        for key, value in records:
            producer.send(self.events, key=key, value=value)  # keyed by video: Kafka's partitioner
        producer.flush()
        producer.close()
        return len(records)

    def mismatched_topics(self, client) -> list[int]:
        from streams.queue_store import read_queue

        bad = []
        for t, q in self.expected.items():
            got = read_queue(client, self.prefix, t)
            want = sorted(q, key=lambda v: (q[v], str(v)), reverse=True)
            if [v for v, _ in got] != want or any(abs(sc - q[v]) > 1e-12 for v, sc in got):
                bad.append(t)
        return bad

    def expected_users(self) -> dict[int, list[int]]:
        from streams.event_ids import event_hash

        inter = self.data.interactions
        clicked = inter[inter["clicked"]]
        rows: dict[int, list] = {}
        for row, (u, v, ts) in zip(
            clicked.index,
            zip(clicked["user_id"], clicked["video_id"], clicked["ts"], strict=True),
            strict=True,
        ):
            rows.setdefault(int(u), []).append((ts.value / 1e9, event_hash(f"t:c:{int(row)}"), int(v)))
        return {u: [v for *_, v in sorted(r, reverse=True)[:128]] for u, r in rows.items()}

    def mismatched_users(self, client) -> list[int]:
        """Users whose click list or topic counts (``<user_prefix>:<user>:topics``) differ from the log's."""
        from collections import Counter

        bad = []
        for u, vids in self.expected_users().items():
            key = f"{self.user_prefix}:{u}"
            votes = Counter(t for v in vids for t in self.topics.get(v, ()))
            got_votes = {int(t): int(n) for t, n in client.hgetall(f"{key}:topics").items()}
            if [int(x) for x in client.lrange(key, 0, -1)] != vids or got_votes != dict(votes):
                bad.append(u)
        return bad

    def changelog_counts(self) -> dict[int, tuple[int, int]]:
        from streams.rebuild import read_table

        table = read_table(self.kafka, f"{self.name}-video_counts-changelog")
        return {int(v): (rec[0], rec[1]) for v, rec in table.items()}

    def short_partitions(self) -> dict:
        """Missing exposures per events partition (changelog vs reference), and where they stop."""
        from kafka.partitioner.default import murmur2

        got = self.changelog_counts()
        short: dict = {}
        for v, (e, c) in self.counts.items():
            g = got.get(v, (0, 0))
            if g != (e, c):
                p = (murmur2(str(v).encode()) & 0x7FFFFFFF) % self.partitions
                short.setdefault(p, []).append((v, g, (e, c)))
        return {p: (len(rows), rows[:3]) for p, rows in short.items()}

    def counts_upto(self, n: int) -> dict[int, tuple[int, int]]:
        """Reference per-video counts of the first ``n`` records of the log."""
        import orjson

        counts: dict[int, list[int]] = {}
        for _, value in self.records[:n]:
            ev = orjson.loads(value)
            rec = counts.setdefault(ev["video_id"], [0, 0])
            if ev["type"] != "video_published":
                rec[ev["type"] == "click"] += 1
        return {v: tuple(r) for v, r in counts.items()}

    def stat(self, client, name: str) -> int:
        return int(client.hget(f"{self.prefix}:stats", name) or 0)

    @staticmethod
    def wait(predicate, timeout: float, what: str, procs=(), detail=None) -> None:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in procs:
                if proc.poll() is not None:
                    raise AssertionError(f"worker exited with {proc.returncode} while waiting for {what}")
            if predicate():
                return
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}: {detail() if detail else ''}")


@pytest.fixture
def stream_case_factory(tmp_path, unique_name, request):
    """``make(config)`` -> :class:`StreamCase` on a synthetic corpus of ``config`` (generated under
    ``tmp_path / "corpus"``), named after the test.

    On the dev stack by default (its Kafka topics are removed after the test); ``kafka`` and
    ``redis_url`` name another stack, which the caller cleans up.
    """
    from topic_learning.data import generate

    def make(config, *, kafka: str | None = None, redis_url: str | None = None, partitions: int = 4):
        data = generate(config, tmp_path / "corpus", progress=False)
        admin = None
        if kafka is None:
            services = request.getfixturevalue("services")
            admin = request.getfixturevalue("kafka_admin")
            kafka, redis_url = services.kafka_bootstrap_servers, services.redis_url
        case = StreamCase(
            data=data,
            tmp_path=tmp_path,
            name=unique_name,
            kafka=kafka,
            redis_url=redis_url,
            partitions=partitions,
        )
        if admin is not None:
            admin.created_topics += case.kafka_topics
        return case

    return make


# -- the ranking service's ASGI app on a real HTTP server --


@contextlib.contextmanager
def _serving(app) -> Iterator[str]:
    import threading
    import time

    import uvicorn

    from mtl.devstack.process import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def serve_app():
    """``with serve_app(app) as url:`` runs ``app`` on uvicorn in a thread on a free port."""
    return _serving
