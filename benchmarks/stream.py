"""``mtl bench stream``: one stream worker's throughput, the freshness of its queues, and its memory.

Everything runs on the configured Kafka and Redis under names unique to the run (topics ``<run>-*``, the
worker's internal topics ``<run>-<phase>-*``, Redis keys ``<run>:*``), deleted afterwards. The worker is the
real ``mtl stream worker`` subprocess with ``stream.assign_with_model=false`` and ``stream.feast_push=false``:
the figures are those of the Kafka -> per-video counts -> Redis queues path, without topic-model inference
or Feast pushes. Videos get stand-in topics from a ``video_topics`` parquet (``stream.topics_file``).

1. Throughput: a backlog of N events of a synthetic corpus (publications, exposures and clicks in time
   order, :func:`streams.replay.iter_events`) is produced first; then a worker with a fresh app id (consumer
   group) and queue prefix drains it, once per repeat. The figure is the counted rate (Redis
   ``<queue_prefix>:stats``, good + bad + duplicate) from the first counted batch to the last. Baseline, on
   the same topic in the same run: a bare ``AIOKafkaConsumer`` reading every partition from the beginning
   to the end offsets, values left as bytes, timed the same way (first records to last).
2. Freshness: under a background load at ``rate`` events/s (a separate process, aiokafka batches), a
   probe event about every 100 ms for one of a few dedicated probe videos, spread over every partition
   and the only members of a dedicated probe topic (at most one probe in flight per video); latency runs
   from the produce call to the moment ``ZMSCORE`` of the probe in its queue shows that event (polled
   every ~5 ms). A probe not seen within 10 s counts as 10 s. Probes go out before the memory run's
   prefill (below), whose clicks skew CTRs and so the prior for a while. Baseline: the delivery latency of the
   partition-0 probes to a bare aiokafka consumer tailing that partition, i.e. the share of the figure
   that Kafka itself takes.
3. Memory: the worker's RSS sampled during the same load run; baseline the RSS after the prefill (or the
   warm-up), figure the RSS at the end. It plateaus when it grows by less than 5 % over the last half of
   the run. The load cycles the corpus' exposures, so the ids are bounded, but the per-id state fills
   slowly: up to ``stream.dedup_window`` event ids per partition and ``ranker.history_clicks`` clicks per
   user, and a user clicks a few times a cycle. So after the probes a *prefill* backlog
   (:func:`_prefill`) gives every user of the load that many clicks and every partition that many counted
   events (the load goes on meanwhile); the memory run then starts and measures the steady state at the
   configured limits (``--no-prefill`` measures the filling instead; the run prints how far the state
   got). A worker that lags the load also holds more in flight (fetch buffers grow for a minute or two).
Every figure is a median over repeats (throughput) or a percentile over probes (freshness). The machine
may be small (broker, Redis, worker, load producer and probes share its cores), so compare only figures
of one run; the CPU each of them used is printed alongside, to tell a slow worker from a starved one.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import redis

from benchmarks.common import BenchResult
from mtl.connections import aiokafka_kwargs, kafka_python_kwargs, redis_client
from mtl.errors import ServiceError
from mtl.kafka import admin_client, ensure_topics
from mtl.settings import Settings
from streams.replay import iter_events
from topic_learning.data import Dataset, SyntheticConfig, generate

STATS_FIELDS = ("good", "bad", "duplicate")
PROBE_VIDEO_BASE = 1_000_000_000  # probe video ids: far above any corpus id, so the load never hits them
PROBE_USER = 999_999_999
PROBE_SEED_EXPOSURES = 20
PROBE_SEED_CLICKS = 10
PROBE_TIMEOUT_S = 10.0  # a probe not seen by then counts as this (a lower bound) in the percentiles
PREFILL_TIMEOUT_S = 900.0
WORKER_START_TIMEOUT_S = 180.0  # import, group join and the first batch on a loaded 2-core machine


@dataclass(frozen=True)
class StreamBenchConfig:
    """Sizes and durations of one ``mtl bench stream`` run.

    Attributes
    ----------
    events
        Backlog the worker drains for the throughput figure.
    repeats
        Drains of that backlog (fresh consumer group each); the median is reported.
    rate
        Background load (events/s) of the freshness and memory run.
    freshness_seconds
        How long probes are sent (after warm-up); 0 skips freshness.
    memory_minutes
        Length of the load run for the memory figure (after warm-up); 0 skips memory.
    partitions
        Partitions of the events topics and of the worker's tables.
    videos
        Videos of the synthetic corpus (and so of per-video state).
    warmup_seconds
        Load before freshness is probed and the baseline RSS is taken.
    probe_interval_s
        Spacing of the probe events.
    probes
        Probe videos; probes alternate between them, exposures and clicks, so each stays ranked.
    sample_every_s
        Spacing of the RSS samples.
    prefill
        Before a memory run, fill the worker's bounded state (see :func:`_prefill`), so that the run
        measures the steady state at the configured limits rather than the state filling up.
    seed
        Seed of the corpus and of the stand-in topics.
    """

    events: int = 1_000_000
    repeats: int = 3
    rate: float = 5000.0
    freshness_seconds: float = 45.0
    memory_minutes: float = 10.0
    partitions: int = 4
    videos: int = 5000
    warmup_seconds: float = 10.0
    probe_interval_s: float = 0.1
    probes: int = 20
    sample_every_s: float = 5.0
    prefill: bool = True
    seed: int = 0

    @classmethod
    def quick(cls) -> StreamBenchConfig:
        """A run of about a minute and a half: small backlog, one drain, short freshness and memory runs."""
        return cls(
            events=60_000,
            repeats=1,
            freshness_seconds=15.0,
            memory_minutes=0.5,
            warmup_seconds=5.0,
            sample_every_s=2.0,
        )


class LowerIsBetter(BenchResult):
    """A result whose figure is a latency or a size: the ratio is baseline / figure (>1: we are better)."""

    @property
    def ratio(self) -> float:
        return self.baseline_figure / self.figure if self.figure else float("nan")


@dataclass(frozen=True)
class _Names:
    """Kafka topic names and Redis prefixes of one run; everything starts with ``run``."""

    run: str

    @property
    def events(self) -> str:
        return f"{self.run}-events"

    @property
    def live_events(self) -> str:
        return f"{self.run}-live-events"

    @property
    def dead_letters(self) -> str:
        return f"{self.run}-dlq"

    def app_id(self, phase: str) -> str:
        return f"{self.run}-{phase}"

    def queue_prefix(self, phase: str) -> str:
        return f"{self.run}:{phase}:q"

    def user_prefix(self, phase: str) -> str:
        return f"{self.run}:{phase}:u"


def run(
    settings: Settings,
    config: StreamBenchConfig | None = None,
    *,
    name: str | None = None,
    profile: Path | None = None,
    echo: Callable[[str], object] = print,
) -> dict:
    """Run the three measurements and return ``{"config", "results", "details"}``.

    Parameters
    ----------
    settings
        Kafka and Redis addresses; ``stream.prior_strength`` to recognise a probe's own score change.
    config
        Sizes and durations; default :class:`StreamBenchConfig`.
    name
        Prefix of every topic and Redis key of the run; default ``bench-stream-<random>``.
    profile
        When given, the first drain's worker runs under cProfile and its stats are written here.
    echo
        Where result and progress lines go.

    Returns
    -------
    dict
        ``config`` (the config as a dict), ``results`` (BenchResult dicts) and ``details`` (per repeat
        figures, percentiles, RSS samples).

    Raises
    ------
    ServiceError
        Kafka or Redis do not answer, or the worker exits or stalls (the message has its log's tail).
    """
    cfg = config or StreamBenchConfig()
    names = _Names(name or f"bench-stream-{uuid.uuid4().hex[:8]}")
    client = redis_client(settings)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ServiceError(f"Redis does not answer at {settings.redis_url} ({type(exc).__name__})") from None
    results: list[BenchResult] = []
    details: dict = {"run": names.run}
    echo(
        f"stream worker: {cfg.partitions} partitions, stream.assign_with_model=false, "
        "stream.feast_push=false (Kafka -> counts -> Redis queues only)"
    )
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp_dir:
        tmp = Path(tmp_dir)
        try:
            data = generate(
                SyntheticConfig(
                    n_videos=cfg.videos,
                    n_users=max(100, cfg.videos),
                    n_days=1,
                    # publications + exposures + clicks (CTR ~7.6 %) >= events; the tail is cut
                    n_exposures=max(1000, int(cfg.events / 1.05)),
                    covers=False,
                    seed=cfg.seed,
                ),
                tmp / "corpus",
                progress=False,
            )
            probes = _probe_videos(cfg.probes, cfg.partitions)
            topics_file = tmp / "video_topics.parquet"
            n_topics = _write_topics(data.videos, probes, topics_file, seed=cfg.seed)
            echo(
                f"corpus: {len(data.videos):,} videos, {n_topics - 1:,} topics (+1 probe topic), "
                f"{len(data.interactions):,} exposures"
            )
            worker = _WorkerFactory(settings, cfg, names, topics_file, tmp)
            if cfg.events > 0 and cfg.repeats > 0:
                results.append(
                    _throughput(settings, cfg, names, data, worker, client, details, profile, echo)
                )
                echo(results[-1].line())
            if cfg.freshness_seconds > 0 or cfg.memory_minutes > 0:
                results.extend(
                    _live(settings, cfg, names, data, probes, n_topics - 1, worker, client, details, echo)
                )
        finally:
            _cleanup(settings, client, names.run)
            client.close()
    return {"config": asdict(cfg), "results": [r.to_dict() for r in results], "details": details}


# ---------------------------------------------------------------------------------------------- set-up


def kafka_partition(key: bytes, partitions: int) -> int:
    """The partition of a keyed record: kafka-python's (and the Java client's) default partitioner."""
    from kafka.partitioner.default import murmur2

    return (murmur2(key) & 0x7FFFFFFF) % partitions


def _probe_videos(n: int, partitions: int) -> dict[int, int]:
    """``n`` probe video ids spread evenly over the partitions: ``{video_id: partition}``, partitions taking
    turns in iteration order.

    Every partition is probed because a lagging worker need not lag evenly: probes in one partition
    alone could miss a backlog in the others.
    """
    by_partition: list[list[int]] = [[] for _ in range(partitions)]
    per_partition = -(-n // partitions)
    vid = PROBE_VIDEO_BASE
    while sum(len(b) for b in by_partition) < per_partition * partitions:
        p = kafka_partition(str(vid).encode(), partitions)
        if len(by_partition[p]) < per_partition:
            by_partition[p].append(vid)
        vid += 1
    turns = [(i, p, v) for p, videos in enumerate(by_partition) for i, v in enumerate(videos)]
    return {v: p for _, p, v in sorted(turns)[:n]}


def _write_topics(videos: pd.DataFrame, probes: Collection[int], path: Path, *, seed: int) -> int:
    """Stand-in ``video_topics``: a topic from the video's class plus 0-2 random ones; probes share one.

    Returns the number of topics including the probe topic (whose id is the largest).
    """
    rng = np.random.default_rng(seed)
    # about 25 videos per topic and two topics per video: queues of ~50 members, as a few thousand
    # videos spread over a paper-sized K would never give
    n_topics = max(8, len(videos) // 25)
    ids = []
    for cls in videos["secondary_class"]:
        first = zlib.crc32(str(cls).encode()) % n_topics
        extra = rng.choice(n_topics, size=int(rng.integers(0, 3)), replace=False)
        ids.append(list(dict.fromkeys([first, *(int(t) for t in extra)])))
    probe_topic = n_topics
    frame = pd.DataFrame(
        {
            "video_id": np.concatenate([videos["video_id"].to_numpy(), list(probes)]).astype("int64"),
            "topic_ids": ids + [[probe_topic]] * len(probes),
        }
    )
    frame.to_parquet(path)
    return n_topics + 1


class _WorkerFactory:
    """Environment and command of ``mtl stream worker`` subprocesses for one phase of the run."""

    def __init__(
        self, settings: Settings, cfg: StreamBenchConfig, names: _Names, topics_file: Path, tmp: Path
    ) -> None:
        self.settings = settings
        self.cfg = cfg
        self.names = names
        self.topics_file = topics_file
        self.tmp = tmp

    def env(self, phase: str, events_topic: str) -> dict[str, str]:
        # a drain needs a few writes to be timed: a small backlog (--quick, tests) goes in smaller batches
        batch = min(self.settings.stream.bulk_batch_size, max(1000, self.cfg.events // 10))
        return dict(
            os.environ,
            MTL_STREAM__BULK_BATCH_SIZE=str(batch),
            KAFKA_BOOTSTRAP_SERVERS=self.settings.kafka_bootstrap_servers,
            REDIS_URL=self.settings.redis_url,
            MTL_STREAM__APP_ID=self.names.app_id(phase),
            MTL_STREAM__EVENTS_TOPIC=events_topic,
            MTL_STREAM__DEAD_LETTER_TOPIC=self.names.dead_letters,
            MTL_STREAM__QUEUE_PREFIX=self.names.queue_prefix(phase),
            MTL_STREAM__USER_PREFIX=self.names.user_prefix(phase),
            MTL_STREAM__TOPICS_FILE=str(self.topics_file),
            MTL_STREAM__ASSIGN_WITH_MODEL="false",
            MTL_STREAM__FEAST_PUSH="false",
            MTL_STREAM__DATA_DIR=str(self.tmp / "faust" / phase),
            MTL_STREAM__PARTITIONS=str(self.cfg.partitions),
        )

    @contextlib.contextmanager
    def running(self, phase: str, events_topic: str, *, profile: Path | None = None) -> Iterator[_Worker]:
        cmd = [sys.executable, "-m", "mtl", "stream", "worker", *_worker_options()]
        if profile is not None:
            cmd = [sys.executable, "-m", "cProfile", "-o", str(profile), *cmd[1:]]
        log_path = self.tmp / f"worker-{phase}.log"
        (self.tmp / "faust").mkdir(exist_ok=True)  # Faust creates its data dir, not the parents
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                cmd, env=self.env(phase, events_topic), stdout=log, stderr=subprocess.STDOUT
            )
            worker = _Worker(proc, log_path)
            try:
                yield worker
            finally:
                worker.stop()


def _worker_options() -> list[str]:
    """``--no-restart`` where ``mtl stream worker`` supervises a child worker by default.

    The bench measures (RSS, CPU, cProfile) the process it started, which must be the worker itself, and a
    crash must fail the run rather than restart behind its back.
    """
    from mtl.cli.stream import worker

    return ["--no-restart"] if any(p.name == "restart" for p in worker.params) else []


class _Worker:
    """A running worker subprocess: liveness, RSS, CPU time, and its log's tail for error messages."""

    def __init__(self, proc: subprocess.Popen, log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    def check(self, what: str) -> None:
        if self.proc.poll() is not None:
            raise ServiceError(
                f"stream worker exited with {self.proc.returncode} while {what}:\n{self.tail()}"
            )

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def rss(self) -> int:
        """Resident set size in bytes (psutil when installed, else ``/proc``)."""
        try:
            import psutil
        except ImportError:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
            return 0
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def cpu_seconds(self) -> float:
        return _cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        """SIGTERM (Faust commits and leaves the group), SIGKILL after 20 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid``, all threads (psutil when installed, else ``/proc``)."""
    try:
        import psutil
    except ImportError:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


def _partition_lag(settings: Settings, group: str, topic: str) -> dict[int, int]:
    """End offset minus the group's committed offset, per partition of ``topic`` (empty if unknown).

    Commits trail processing by Faust's commit interval, so this overstates a small lag; it is here to show
    whether a lag is spread evenly or sits in some partitions.
    """
    from kafka import KafkaConsumer

    try:
        admin = admin_client(settings.kafka_bootstrap_servers, settings=settings)
        try:
            committed = {
                tp: meta.offset
                for tp, meta in admin.list_group_offsets(group).get(group, {}).items()
                if tp.topic == topic
            }
        finally:
            admin.close()
        consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers, **kafka_python_kwargs(settings)
        )
        try:
            end = consumer.end_offsets(list(committed))
        finally:
            consumer.close()
    except Exception:  # noqa: BLE001 - a diagnostic: the figures stand without it
        return {}
    return {tp.partition: end[tp] - max(off, 0) for tp, off in committed.items()}


def _counted(client: redis.Redis, stats_key: str) -> int:
    """Events the worker has counted: good + bad + duplicate of ``<queue_prefix>:stats``."""
    return sum(int(v) for v in client.hmget(stats_key, STATS_FIELDS) if v is not None)


def _cleanup(settings: Settings, client: redis.Redis, run: str) -> None:
    """Delete every topic, consumer group and Redis key of the run (the worker's internal topics too)."""
    with contextlib.suppress(Exception):  # cleanup must not hide the error that got us here
        admin = admin_client(settings.kafka_bootstrap_servers, settings=settings)
        try:
            mine = [t for t in admin.list_topics() if t.startswith(run)]
            if mine:
                admin.delete_topics(mine)
            groups = [g["group_id"] for g in admin.list_groups() if g["group_id"].startswith(run)]
            if groups:
                admin.delete_groups(groups)
        finally:
            admin.close()
    with contextlib.suppress(redis.RedisError):
        keys = list(client.scan_iter(match=f"{run}:*", count=1000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i : i + 1000])


# ------------------------------------------------------------------------------------------ throughput


def _throughput(
    settings: Settings,
    cfg: StreamBenchConfig,
    names: _Names,
    data: Dataset,
    worker: _WorkerFactory,
    client: redis.Redis,
    details: dict,
    profile: Path | None,
    echo: Callable[[str], object],
) -> BenchResult:
    bootstrap = settings.kafka_bootstrap_servers
    ensure_topics(
        bootstrap, {names.events: cfg.partitions, names.dead_letters: cfg.partitions}, settings=settings
    )
    records = []
    for record in iter_events(data, source=names.run):
        records.append(record)
        if len(records) >= cfg.events:
            break
    n, secs = asyncio.run(_produce_backlog(settings, names.events, cfg.partitions, records))
    del records
    echo(f"backlog: {n:,} events produced in {secs:.1f} s ({n / secs:,.0f}/s, aiokafka batches)")

    raw_rates: list[float] = []
    parse_rates: list[float] = []  # context for the ratio: what validating alone leaves of the raw rate
    drains: list[_Drain] = []
    for i in range(cfg.repeats):
        raw_n, raw_rate = asyncio.run(_raw_consume(settings, names.events, cfg.partitions))
        if raw_n != n:
            raise ServiceError(f"bare consumer read {raw_n:,} of {n:,} backlog events")
        _, parse_rate = asyncio.run(_raw_consume(settings, names.events, cfg.partitions, parse=True))
        phase = f"r{i}"
        with worker.running(phase, names.events, profile=profile if i == 0 else None) as proc:
            drain = _drain(proc, client, f"{names.queue_prefix(phase)}:stats", n)
        raw_rates.append(raw_rate)
        parse_rates.append(parse_rate)
        drains.append(drain)
        echo(
            f"  repeat {i + 1}: worker {drain.events_per_s:>9,.0f} events/s  bare aiokafka {raw_rate:>9,.0f} "
            f"events/s  bare + parse_event {parse_rate:>9,.0f} events/s  | busy: worker "
            f"{drain.worker_cores:.2f} cores, Redis {drain.redis_cores:.2f} cores; "
            f"{drain.batch_size:,.0f} events/batch"
        )
    worker_rates = [d.events_per_s for d in drains]
    details["throughput"] = {
        "events": n,
        "produce_events_per_s": n / secs,
        "worker_events_per_s": worker_rates,
        "worker_cores_busy": [d.worker_cores for d in drains],
        "redis_cores_busy": [d.redis_cores for d in drains],
        "batches": [d.batches for d in drains],
        "raw_events_per_s": raw_rates,
        "raw_parse_events_per_s": parse_rates,
    }
    echo(
        f"  bare consumer + parse_event alone: {statistics.median(parse_rates):,.0f} events/s "
        f"({statistics.median(parse_rates) / statistics.median(raw_rates):.2f}x raw)"
    )
    return BenchResult(
        "worker throughput",
        statistics.median(worker_rates),
        "events/s",
        "bare AIOKafkaConsumer, bytes",
        statistics.median(raw_rates),
        goal=">= 20,000 events/s and >= 0.30x raw",
    )


class _Batches:
    """Records into per-partition aiokafka batches, far cheaper per record than one ``send`` each.

    Keys go to the partition kafka-python's (and the Java client's) default partitioner would pick, as
    with ``mtl replay``, so a video's events stay in one partition, in order.
    """

    def __init__(self, producer, topic: str, partitions: int) -> None:
        self.producer = producer
        self.topic = topic
        self.partitions = partitions
        self._partition: dict[bytes, int] = {}

    def partition(self, key: bytes) -> int:
        p = self._partition.get(key)
        if p is None:
            p = self._partition[key] = kafka_partition(key, self.partitions)
        return p

    async def send(self, records: Iterable[tuple[bytes, bytes]]) -> None:
        """Send ``records`` and wait until the broker has acknowledged them all."""
        builders: dict[int, object] = {}
        acks = []
        for key, value in records:
            p = self.partition(key)
            batch = builders.get(p)
            if batch is None:
                batch = builders[p] = self.producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: send, start another
                acks.append(await self.producer.send_batch(batch, self.topic, partition=p))
                batch = builders[p] = self.producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        for p, batch in builders.items():
            acks.append(await self.producer.send_batch(batch, self.topic, partition=p))
        await asyncio.gather(*acks)


def _producer(settings: Settings):
    from aiokafka import AIOKafkaProducer

    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks=1,
        linger_ms=5,
        max_batch_size=512 * 1024,
        **aiokafka_kwargs(settings),
    )


async def _produce_backlog(
    settings: Settings, topic: str, partitions: int, records: list[tuple[bytes, bytes]]
) -> tuple[int, float]:
    """Produce ``records`` as fast as aiokafka batches go; returns (count, seconds)."""
    producer = _producer(settings)
    await producer.start()
    try:
        tick = time.perf_counter()
        batches = _Batches(producer, topic, partitions)
        for i in range(0, len(records), 50_000):
            await batches.send(records[i : i + 50_000])
        return len(records), time.perf_counter() - tick
    finally:
        await producer.stop()


async def _raw_consume(
    settings: Settings, topic: str, partitions: int, *, parse: bool = False
) -> tuple[int, float]:
    """Read every partition of ``topic`` from the beginning to the end offsets with a bare consumer.

    Returns the records read and the rate from the first fetched records to the last, the way the
    worker's rate is timed (so neither figure includes start-up or group join). ``parse``: every value also
    goes through the worker's validation (:func:`streams.events.parse_event`), the least a worker does.
    """
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition

    from streams.events import parse_event

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        **aiokafka_kwargs(settings),
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        start = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        total = sum(end[tp] - start[tp] for tp in tps)
        n = 0
        first: tuple[float, int] | None = None
        deadline = time.monotonic() + 120
        while n < total and time.monotonic() < deadline:
            # a bounded batch, as a poll loop would take, so even a small backlog spans several
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            got = sum(len(records) for records in batches.values())
            if parse:
                now = time.time()
                for records in batches.values():
                    for r in records:
                        parse_event(r.value, now=now)
            n += got
            if got and first is None:
                first = (time.perf_counter(), n)
        elapsed = time.perf_counter() - first[0] if first else 0.0
        return n, (n - first[1]) / elapsed if first and elapsed > 0 else 0.0
    finally:
        await consumer.stop()


def _redis_cpu_seconds(client: redis.Redis) -> float:
    """CPU time the Redis server has used (``INFO cpu``; works for a remote server too)."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


@dataclass(frozen=True)
class _Drain:
    """One drain of the backlog: the counted rate and how busy the worker and Redis were meanwhile."""

    events_per_s: float
    worker_cores: float
    redis_cores: float
    batches: int
    events: int

    @property
    def batch_size(self) -> float:
        return self.events / self.batches if self.batches else float("nan")


def _drain(proc: _Worker, client: redis.Redis, stats_key: str, total: int) -> _Drain:
    """Wait for the worker to count ``total`` events; figures from its first reported batch to the last."""
    first: tuple[float, int, float, float, int] | None = None
    deadline = time.monotonic() + WORKER_START_TIMEOUT_S
    while True:
        proc.check("draining the backlog")
        n = _counted(client, stats_key)
        now = time.perf_counter()
        if first is None and n > 0:
            # timing starts at the first batch the worker reports, so start-up and group join are excluded
            batches = int(client.hget(stats_key, "batches") or 0)
            first = (now, n, proc.cpu_seconds(), _redis_cpu_seconds(client), batches)
            deadline = time.monotonic() + max(60.0, total / 1000)
        if n >= total:
            break
        if time.monotonic() > deadline:
            raise ServiceError(
                f"stream worker counted {n:,} of {total:,} events before the deadline:\n{proc.tail()}"
            )
        time.sleep(0.02)
    if first is None or now <= first[0] or n <= first[1]:
        raise ServiceError(f"the backlog ({total:,} events) was drained in one batch: use more --events")
    elapsed = now - first[0]
    return _Drain(
        (n - first[1]) / elapsed,
        (proc.cpu_seconds() - first[2]) / elapsed,
        (_redis_cpu_seconds(client) - first[3]) / elapsed,
        int(client.hget(stats_key, "batches") or 0) - first[4],
        n - first[1],
    )


# ------------------------------------------------------------------------------ freshness and memory


def _load_main(
    settings: Settings, topic: str, partitions: int, rate: float, rows: np.ndarray, run: str, stop, sent
) -> None:
    """Child process: produce exposures (and their clicks) of ``rows`` cyclically at ``rate`` events/s.

    ``rows`` is ``[user_id, video_id, clicked]`` per exposure; event ids are unique to the run and times
    are now, so the worker neither drops them as redeliveries nor rejects them as absurd.
    """
    events: list[tuple[str, int, int]] = []
    for user, video, clicked in rows.tolist():
        events.append(("exposure", user, video))
        if clicked:
            events.append(("click", user, video))
    asyncio.run(_load(settings, topic, partitions, rate, events, run, stop, sent))


async def _load(
    settings: Settings, topic: str, partitions: int, rate: float, events: list, run: str, stop, sent
) -> None:
    producer = _producer(settings)
    await producer.start()
    batches = _Batches(producer, topic, partitions)
    n = 0
    tick = time.perf_counter()
    try:
        while not stop.is_set():
            # paced in small steps: the load arrives about evenly, not in bursts a second apart
            due = min(int(rate * (time.perf_counter() - tick)) - n, 10_000)
            if due <= 0:
                await asyncio.sleep(0.005)
                continue
            ts = time.time()
            records = []
            for i in range(n, n + due):
                kind, user, video = events[i % len(events)]
                value = orjson.dumps(
                    {"type": kind, "event_id": f"{run}:L:{i}", "user_id": user, "video_id": video, "ts": ts}
                )
                records.append((str(video).encode(), value))
            await batches.send(records)
            n += due
            sent.value = n
    finally:
        await producer.stop()


class _Load:
    """The background load process: started at ``rate``, stopped on exit; ``sent`` counts its events."""

    def __init__(
        self, settings: Settings, topic: str, partitions: int, rate: float, data: Dataset, run: str
    ) -> None:
        ctx = multiprocessing.get_context("spawn")  # no inherited client threads or sockets
        inter = data.interactions
        rows = np.stack(
            [inter["user_id"].to_numpy(), inter["video_id"].to_numpy(), inter["clicked"].to_numpy()], axis=1
        ).astype(np.int64)
        self.stop_event = ctx.Event()
        self._sent = ctx.Value("q", 0)
        self.proc = ctx.Process(
            target=_load_main,
            args=(
                settings,
                topic,
                partitions,
                rate,
                rows,
                run,
                self.stop_event,
                self._sent,
            ),
            daemon=True,
        )

    @property
    def sent(self) -> int:
        return int(self._sent.value)

    def cpu_seconds(self) -> float:
        return _cpu_seconds(self.proc.pid)

    def __enter__(self) -> _Load:
        self.proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.proc.join(30)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


def shows_event(
    score: float, before: tuple[int, int], after: tuple[int, int], alpha: float, strength: float
) -> bool:
    """Whether a probe video's queue ``score`` reflects its counts ``after`` an event rather than ``before``.

    Parameters
    ----------
    score
        The smoothed CTR read from the queue, ``(clicks + alpha') / (exposures + strength)``.
    before, after
        The video's (exposures, clicks) before and after the probe event.
    alpha
        The prior's alpha when the event was sent (from the score read then and ``before``).
    strength
        ``stream.prior_strength``, alpha + beta of the prior.

    Returns
    -------
    bool
        True when the alpha that ``score`` implies with ``after`` is closer to ``alpha`` than the one it
        implies with ``before``; a prior re-fit alone moves alpha far less than one event would.
    """
    alpha_after = score * (after[0] + strength) - after[1]
    alpha_before = score * (before[0] + strength) - before[1]
    return abs(alpha_after - alpha) < abs(alpha_before - alpha)


@dataclass
class _InFlight:
    """A probe event on its way: what was sent, when, and the counts and prior alpha around it."""

    value: bytes
    sent_at: float
    before: tuple[int, int]
    after: tuple[int, int]
    alpha: float
    partition: int
    fresh: float | None = None
    delivered: float | None = None


class _Tail(threading.Thread):
    """A bare aiokafka consumer tailing partition 0 in its own thread: when each awaited record arrived.

    The caller adds a record's value to ``wanted`` before producing it and later pops its arrival time
    (``time.perf_counter``) from ``arrived``. aiokafka prefetches and waits in the event loop, so this costs
    little CPU beside the worker on a small machine (a polling kafka-python consumer cost ~0.3 ms a poll).
    """

    def __init__(self, settings: Settings, topic: str) -> None:
        super().__init__(name="bench-stream-tail", daemon=True)
        self.settings = settings
        self.topic = topic
        self.wanted: set[bytes] = set()
        self.arrived: dict[bytes, float] = {}
        self.ready = threading.Event()
        self._stop_event = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._tail())
        except BaseException as exc:  # noqa: BLE001 - reported by the probe loop, not lost in a thread
            self.error = exc
            self.ready.set()

    async def _tail(self) -> None:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.structs import TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            enable_auto_commit=False,
            **aiokafka_kwargs(self.settings),
        )
        await consumer.start()
        try:
            tp = TopicPartition(self.topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_end(tp)
            await consumer.position(tp)  # the end is fixed now, before the first probe is produced
            self.ready.set()
            while not self._stop_event.is_set():
                batches = await consumer.getmany(tp, timeout_ms=100)
                now = time.perf_counter()
                for record in batches.get(tp, ()):
                    if record.value in self.wanted:
                        self.arrived[record.value] = now
        finally:
            await consumer.stop()

    def close(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(10)


class _Probe:
    """Probe events of the probe topic's videos, every ``interval`` s, and when each shows in Redis.

    Several probes may be in flight, at most one per video (a video still in flight is skipped), so the
    cadence does not depend on the latency and each probe's effect is its own. ``poll`` reads the
    scores of the videos in flight (one ``ZMSCORE``) and a bare consumer tailing their partition.

    A probe's own change is told apart from the worker's periodic re-fit of the prior (which rewrites every
    score a little) without knowing the prior: see :func:`shows_event`.
    """

    def __init__(
        self,
        settings: Settings,
        topic: str,
        probes: dict[int, int],
        queue_key: str,
        client: redis.Redis,
        run: str,
    ) -> None:
        from kafka import KafkaProducer

        bootstrap = settings.kafka_bootstrap_servers
        self.m = settings.stream.prior_strength
        self.topic = topic
        self.partition = probes
        self.probes = list(probes)
        self.queue_key = queue_key
        self.client = client
        self.run = run
        self.counts = {v: (0, 0) for v in probes}
        self.flying: dict[int, _InFlight] = {}
        self.fresh: list[float] = []
        self.delivered: list[float] = []
        self.missed = 0
        self.by_partition: dict[int, list[float]] = {p: [] for p in sorted(set(probes.values()))}
        self.sent = 0  # every event produced here, seeds included
        self._k = 0
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap, linger_ms=0, acks=1, **kafka_python_kwargs(settings)
        )
        self.tail = _Tail(settings, topic)

    def close(self) -> None:
        self.producer.close()
        self.tail.close()

    def _value(self, kind: str, video: int) -> bytes:
        self.sent += 1
        return orjson.dumps(
            {
                "type": kind,
                "event_id": f"{self.run}:P:{self.sent}",
                "user_id": PROBE_USER,
                "video_id": video,
                "ts": time.time(),
            }
        )

    def seed(self) -> None:
        """Enough exposures and clicks that every probe is ranked in the probe topic's queue."""
        for video in self.probes:
            for kind, k in (("exposure", PROBE_SEED_EXPOSURES), ("click", PROBE_SEED_CLICKS)):
                for _ in range(k):
                    self.producer.send(
                        self.topic,
                        key=str(video).encode(),
                        value=self._value(kind, video),
                        partition=self.partition[video],
                    )
            self.counts[video] = (PROBE_SEED_EXPOSURES, PROBE_SEED_CLICKS)
        self.producer.flush()

    def seeded(self) -> bool:
        return all(s is not None for s in self.client.zmscore(self.queue_key, [str(v) for v in self.probes]))

    def start(self) -> None:
        """Tail from now on: the bare consumer never reads the load produced before the first probe."""
        self.tail.start()
        if not self.tail.ready.wait(60) or self.tail.error is not None:
            raise ServiceError(f"the bare consumer could not tail {self.topic}: {self.tail.error}")

    def send(self) -> None:
        """The next probe event, for the next video not in flight (none when all are)."""
        for _ in range(len(self.probes)):
            video = self.probes[self._k % len(self.probes)]
            # each video alternates exposure and click, so its CTR (and rank) stays put over long runs
            kind = "exposure" if (self._k // len(self.probes)) % 2 == 0 else "click"
            self._k += 1
            if video not in self.flying:
                break
        else:
            return
        before = self.counts[video]
        after = (before[0] + 1, before[1]) if kind == "exposure" else (before[0], before[1] + 1)
        member = str(video)
        s0 = self.client.zscore(self.queue_key, member)
        if s0 is None:  # out of its queue (cannot happen while the worker is healthy): a miss
            self.missed += 1
            return
        value = self._value(kind, video)
        self.counts[video] = after
        alpha = s0 * (before[0] + self.m) - before[1]
        sent_at = time.perf_counter()
        partition = self.partition[video]
        if partition == 0:  # the bare consumer tails partition 0 only: the Kafka share is the same in all
            self.tail.wanted.add(value)
        self.producer.send(self.topic, key=member.encode(), value=value, partition=partition)
        self.producer.flush()
        self.flying[video] = _InFlight(value, sent_at, before, after, alpha, partition)

    def poll(self, timeout: float = PROBE_TIMEOUT_S) -> None:
        """Record the probes now visible in Redis and in the bare consumer; give up on timed-out ones."""
        if self.tail.error is not None:
            raise ServiceError(f"the bare consumer tailing {self.topic} failed: {self.tail.error}")
        if not self.flying:
            return
        videos = list(self.flying)
        scores = self.client.zmscore(self.queue_key, [str(v) for v in videos])
        now = time.perf_counter()
        for video, score in zip(videos, scores, strict=True):
            p = self.flying[video]
            arrived = self.tail.arrived.pop(p.value, None) if p.delivered is None else None
            if arrived is not None:
                p.delivered = arrived - p.sent_at
            if (
                p.fresh is None
                and score is not None
                and shows_event(score, p.before, p.after, p.alpha, self.m)
            ):
                p.fresh = now - p.sent_at
            timed_out = now - p.sent_at > timeout
            delivered = p.delivered is not None or p.partition != 0
            if (p.fresh is not None and delivered) or timed_out:
                if p.fresh is None:
                    self.missed += 1
                else:
                    self.fresh.append(p.fresh)
                self.by_partition[p.partition].append(timeout if p.fresh is None else p.fresh)
                if p.delivered is not None:
                    self.delivered.append(p.delivered)
                del self.flying[video]
                self.tail.wanted.discard(p.value)


def _live(
    settings: Settings,
    cfg: StreamBenchConfig,
    names: _Names,
    data: Dataset,
    probes: dict[int, int],
    probe_topic: int,
    worker: _WorkerFactory,
    client: redis.Redis,
    details: dict,
    echo: Callable[[str], object],
) -> list[BenchResult]:
    """One worker under a steady load: probes for freshness, then RSS samples until the run's end."""
    bootstrap = settings.kafka_bootstrap_servers
    topic = names.live_events
    ensure_topics(bootstrap, {topic: cfg.partitions, names.dead_letters: cfg.partitions}, settings=settings)
    phase = "live"
    stats_key = f"{names.queue_prefix(phase)}:stats"
    queue_key = f"{names.queue_prefix(phase)}:{probe_topic}"
    results: list[BenchResult] = []
    probe = _Probe(settings, topic, probes, queue_key, client, names.run)
    samples: list[tuple[float, int, int]] = []  # (seconds into the load, worker RSS, events counted)
    try:
        with worker.running(phase, topic) as proc:
            probe.seed()
            deadline = time.monotonic() + WORKER_START_TIMEOUT_S
            while not probe.seeded():
                proc.check("waiting for the probe videos in their queue")
                if time.monotonic() > deadline:
                    raise ServiceError(f"probe videos never reached their queue {queue_key}:\n{proc.tail()}")
                time.sleep(0.1)
            rss_start = proc.rss()
            with _Load(settings, topic, cfg.partitions, cfg.rate, data, names.run) as load:
                t0 = time.perf_counter()
                cpu0 = (proc.cpu_seconds(), _redis_cpu_seconds(client))

                def sample() -> None:
                    proc.check("under load")
                    samples.append((time.perf_counter() - t0, proc.rss(), _counted(client, stats_key)))

                time.sleep(cfg.warmup_seconds)
                sample()
                next_sample = time.perf_counter() + cfg.sample_every_s
                if cfg.freshness_seconds > 0:
                    probe.start()
                next_probe = probe_t0 = time.perf_counter()
                own_cpu = time.process_time()
                stop_probes = next_probe + cfg.freshness_seconds
                # probes go out on a fixed cadence; the last ones get their full timeout to show
                while time.perf_counter() < stop_probes or probe.flying:
                    now = time.perf_counter()
                    if now >= next_probe and now < stop_probes:
                        probe.send()
                        next_probe += cfg.probe_interval_s
                    probe.poll()
                    if now >= next_sample:
                        sample()
                        next_sample += cfg.sample_every_s
                    # ~5 ms resolution against a 1 s goal: finer polling would take cores from the worker
                    time.sleep(0.005)
                probe_s = time.perf_counter() - probe_t0
                own_cpu = time.process_time() - own_cpu
                if cfg.memory_minutes > 0 and cfg.prefill:
                    # the memory run starts with full state; the load goes on meanwhile
                    details["prefill"] = _prefill(
                        settings, cfg, names, data, proc, client, echo, lambda: load.sent + probe.sent
                    )
                    samples.clear()
                    sample()
                    next_sample = time.perf_counter() + cfg.sample_every_s
                end = t0 + samples[0][0] + cfg.memory_minutes * 60
                while time.perf_counter() < end:
                    time.sleep(max(0.0, min(next_sample, end) - time.perf_counter()))
                    sample()
                    next_sample += cfg.sample_every_s
                load_s = time.perf_counter() - t0
                busy = {
                    "worker": (proc.cpu_seconds() - cpu0[0]) / load_s,
                    "redis": (_redis_cpu_seconds(client) - cpu0[1]) / load_s,
                    "load_producer": load.cpu_seconds() / load_s,
                    "bench_probes": own_cpu / probe_s if cfg.freshness_seconds > 0 else 0.0,
                }
            # the worker keeps up when it has counted what was produced soon after the load stops
            produced = load.sent + probe.sent + details.get("prefill", {}).get("events", 0)
            lag = produced - _counted(client, stats_key)
            lag_by_partition = _partition_lag(settings, names.app_id(phase), topic)
            catch_up = time.perf_counter()
            while _counted(client, stats_key) < produced and time.perf_counter() - catch_up < 60:
                proc.check("catching up")
                time.sleep(0.1)
            catch_up_s = time.perf_counter() - catch_up
            counted = _counted(client, stats_key)
    finally:
        probe.close()

    echo(
        f"load: {load.sent:,} events in {load_s:.0f} s ({load.sent / load_s:,.0f}/s, "
        f"target {cfg.rate:,.0f}); "
        f"worker lag at stop {lag:,} events, counted all {produced:,} after {catch_up_s:.1f} s"
        + ("" if counted >= produced else f" (NOT: {counted:,})")
    )
    details["load"] = {
        "events": load.sent,
        "seconds": load_s,
        "events_per_s": load.sent / load_s,
        "lag_at_stop": lag,
        "catch_up_s": catch_up_s,
        "counted_all": counted >= produced,
        "lag_by_partition_at_stop": lag_by_partition,
        "cores_busy": busy,
    }
    echo(
        f"  busy during the load: worker {busy['worker']:.2f} cores, Redis {busy['redis']:.2f}, "
        f"load producer {busy['load_producer']:.2f}, probe loop {busy['bench_probes']:.2f} "
        f"(of {os.cpu_count()})"
    )
    rates = _counting_rates(samples)
    if len(rates) >= 2:
        # a worker whose per-event cost grows with its state slows down over the run: show the trend
        details["load"]["counted_per_s"] = rates
        echo(
            "  worker counting rate under load, events/s: "
            + ", ".join(f"{a:.0f}-{b:.0f} s {r:,.0f}" for a, b, r in rates)
        )
    fresh, delivered, missed = probe.fresh, probe.delivered, probe.missed
    if cfg.freshness_seconds > 0:
        if not fresh and not missed:
            raise ServiceError("no probe was sent: --freshness-seconds too short")
        # missed probes are censored at the timeout: leaving them out would flatter a worker that lags
        f50, f99 = np.percentile(fresh + [PROBE_TIMEOUT_S] * missed, [50, 99])
        d50, d99 = np.percentile(delivered, [50, 99]) if delivered else (float("nan"), float("nan"))
        details["freshness"] = {
            "probes": len(fresh) + missed,
            "missed": missed,
            "timeout_s": PROBE_TIMEOUT_S,
            "p50_s": float(f50),
            "p99_s": float(f99),
            "max_s": float(max(fresh, default=float("nan"))),
            "kafka_delivery_p50_s": float(d50),
            "kafka_delivery_p99_s": float(d99),
            "rate": cfg.rate,
            "p50_s_by_partition": {
                p: float(np.percentile(v, 50)) for p, v in probe.by_partition.items() if v
            },
        }
        # milliseconds: BenchResult prints one decimal
        results.append(
            LowerIsBetter("freshness p50", f50 * 1e3, "ms", "Kafka delivery p50 (bare consumer)", d50 * 1e3)
        )
        echo(results[-1].line())
        results.append(
            LowerIsBetter(
                "freshness p99",
                f99 * 1e3,
                "ms",
                "Kafka delivery p99 (bare consumer)",
                d99 * 1e3,
                "p99 <= 1,000 ms",
            )
        )
        echo(results[-1].line())
        echo(
            f"  {len(fresh) + missed} probes at {cfg.rate:,.0f} events/s background load; "
            f"{missed} not seen within {PROBE_TIMEOUT_S:.0f} s (counted as {PROBE_TIMEOUT_S:.0f} s); "
            f"max seen {max(fresh, default=float('nan')):.3f} s"
            + ("" if lag < cfg.rate else "; the worker did NOT keep up with the load")
        )
        echo(
            "  p50 by partition: "
            + ", ".join(
                f"{p}: {np.percentile(v, 50) * 1e3:,.0f} ms" for p, v in probe.by_partition.items() if v
            )
            + "; committed-offset lag at stop: "
            + ", ".join(f"{p}: {n:,}" for p, n in sorted(lag_by_partition.items()))
        )
    if cfg.memory_minutes > 0:
        base_t, base, _ = samples[0]
        mid_t = base_t + (samples[-1][0] - base_t) / 2
        mid = min(samples, key=lambda s: abs(s[0] - mid_t))[1]
        end_rss = samples[-1][1]
        growth = end_rss / mid - 1.0
        mib = 1 << 20
        fill_events, full_mib = _state_fill(data, settings, cfg.partitions)
        counted_end = samples[-1][2]
        details["memory"] = {
            "rss_before_load_mib": rss_start / mib,
            "samples": [{"t_s": t, "rss_mib": r / mib, "counted": n} for t, r, n in samples],
            "growth_last_half": growth,
            "plateau": growth < 0.05,
            "state_fill_events": fill_events,
            "state_full_mib": full_mib,
            "state_full": bool(details.get("prefill")) or counted_end >= fill_events,
        }
        results.append(
            LowerIsBetter(
                "worker RSS at end",
                end_rss / mib,
                "MiB",
                "RSS after the prefill"
                if details.get("prefill")
                else f"RSS after {cfg.warmup_seconds:.0f} s warm-up",
                base / mib,
                "plateau (< 5% growth over the last half)",
            )
        )
        echo(results[-1].line())
        echo(
            f"  RSS before load {rss_start / mib:.0f} MiB, "
            f"{'after the prefill' if details.get('prefill') else 'after warm-up'} {base / mib:.0f} MiB, "
            f"middle {mid / mib:.0f} MiB, end {end_rss / mib:.0f} MiB over {samples[-1][0] - base_t:.0f} s: "
            f"growth over the last half {growth:+.1%} -> {'plateau' if growth < 0.05 else 'NO plateau'}"
        )
        if details.get("prefill"):
            echo(
                f"  event-id windows and user click lists full from the start (prefill; ~{full_mib:.0f} MiB)"
            )
        else:
            echo(
                f"  event-id windows and user click lists are full after ~{fill_events:,} counted events "
                f"(~{full_mib:.0f} MiB of Python objects then); counted {counted_end:,}: "
                + ("state full" if counted_end >= fill_events else "state still filling, growth includes it")
            )
    return results


def _prefill(
    settings: Settings,
    cfg: StreamBenchConfig,
    names: _Names,
    data: Dataset,
    proc: _Worker,
    client: redis.Redis,
    echo: Callable[[str], object],
    produced: Callable[[], int],
) -> dict:
    """Fill the worker's bounded state to its limits before the memory run, and wait until it has.

    ``produced()``: the events the load and the probes have sent so far (the worker counts those too).

    The load cycles the corpus, which fills ``ranker.history_clicks`` clicks per user only after many
    cycles (see :func:`_state_fill`); so every user who clicks in the load gets that many clicks, and every
    partition's event-id window (``stream.dedup_window``) as many counted events and a chunk more (those
    clicks, then exposures), with event ids of their own, produced as one backlog. From then on the load
    replaces state instead of adding to it, and RSS growth is the worker's own. A user's prefill clicks
    cycle that user's clicks of the corpus, so the lists hold the topics the load gives them; the clicked
    videos' CTRs come out higher than the load's (clicks without their exposures).
    """
    from streams.dedup import CHUNK

    window, history = settings.stream.dedup_window, settings.ranker.history_clicks
    inter = data.interactions
    users = np.unique(inter.loc[inter["clicked"] == 1, "user_id"].to_numpy()).tolist()
    videos = np.unique(inter["video_id"].to_numpy()).tolist()
    rng = np.random.default_rng(cfg.seed)
    partition = {v: kafka_partition(str(v).encode(), cfg.partitions) for v in videos}
    need = dict.fromkeys(range(cfg.partitions), window + CHUNK if window else 0)
    ts = time.time()
    records: list[tuple[bytes, bytes]] = []

    def add(kind: str, user: int, video: int) -> None:
        event_id = f"{names.run}:F:{len(records)}"
        value = {"type": kind, "event_id": event_id, "user_id": user, "video_id": video, "ts": ts}
        records.append((str(video).encode(), orjson.dumps(value)))
        need[partition[video]] -= 1

    # each user's own clicks of the corpus, cycled: a history with the topics the load gives that user
    clicks = inter[inter["clicked"] == 1]
    own = clicks.groupby("user_id")["video_id"].apply(lambda v: v.to_numpy()).to_dict()
    for i in range(history):
        for user in users:
            add("click", user, int(own[user][i % len(own[user])]))
    n_clicks = len(records)
    by_partition: dict[int, list[int]] = {}
    for v in videos:
        by_partition.setdefault(partition[v], []).append(v)
    for p, vids in by_partition.items():
        exposed_by = rng.choice(users or videos, size=max(0, need[p]))
        for i, user in enumerate(exposed_by.tolist()):
            add("exposure", user, vids[i % len(vids)])
    stats_key = f"{names.queue_prefix('live')}:stats"
    tick = time.perf_counter()
    asyncio.run(_produce_backlog(settings, names.live_events, cfg.partitions, records))
    target = produced() + len(records)  # everything sent up to the prefill's end, the prefill included

    def stat(name: str) -> int:
        return int(client.hget(stats_key, name) or 0)

    def wait(done: Callable[[], bool]) -> None:
        while not done():
            proc.check("taking the prefill")
            if time.perf_counter() - tick > PREFILL_TIMEOUT_S:
                raise ServiceError(f"the worker did not take the prefill within {PREFILL_TIMEOUT_S:.0f} s")
            time.sleep(0.2)

    wait(lambda: _counted(client, stats_key) >= target)
    clicks_sent = stat("clicks")  # then the user stage has every click the video stage sent it until then
    wait(lambda: stat("user_clicks") >= clicks_sent)
    seconds = time.perf_counter() - tick
    echo(
        f"prefill: {len(records):,} events ({n_clicks:,} clicks: {history} for each of {len(users):,} users; "
        f"then exposures up to {window:,} + {CHUNK} counted events in each of {cfg.partitions} partitions) "
        f"taken in {seconds:.0f} s ({len(records) / seconds:,.0f}/s)"
    )
    return {"events": len(records), "clicks": n_clicks, "users": len(users), "seconds": seconds}


def _state_fill(data: Dataset, settings: Settings, partitions: int) -> tuple[int, float]:
    """Counted events of the cyclic load after which every partition's event-id window and every user's
    click list is full, and the size of that state then (MiB, CPython: ~70 B an id, ~252 B a click).

    Each cycle of the load brings a partition its share of the events and a user its clicks; the slowest
    of them sets how many cycles fill everything.
    """
    from streams.dedup import CHUNK

    inter = data.interactions
    events = inter.groupby("video_id").size() + inter.groupby("video_id")["clicked"].sum()
    keys = [str(v).encode() for v in events.index]
    per_partition = events.groupby([kafka_partition(k, partitions) for k in keys]).sum()
    clicks = inter[inter["clicked"] == 1].groupby("user_id").size()
    window, history = settings.stream.dedup_window, settings.ranker.history_clicks
    cycle = len(inter) + int(inter["clicked"].sum())
    cycles = max(
        int(np.ceil((window + CHUNK) / per_partition.min())) if window else 0,
        int(np.ceil(history / clicks).max()) if len(clicks) else 0,
    )
    full = partitions * (window + CHUNK) * 70 + len(clicks) * history * 252
    return cycles * cycle, full / (1 << 20)


def _counting_rates(
    samples: list[tuple[float, int, int]], parts: int = 4
) -> list[tuple[float, float, float]]:
    """The worker's counted events/s over ``parts`` equal stretches of the sampled load run."""
    if len(samples) < 2 * parts:
        parts = len(samples) // 2
    if parts < 1:
        return []
    step = (len(samples) - 1) / parts
    out = []
    for i in range(parts):
        a, b = samples[round(i * step)], samples[round((i + 1) * step)]
        if b[0] > a[0]:
            out.append((a[0], b[0], (b[2] - a[2]) / (b[0] - a[0])))
    return out


def configure(*, quick: bool = False, **overrides: object) -> StreamBenchConfig:
    """The default (or ``quick``) config with ``overrides``; None values keep the config's own."""
    base = StreamBenchConfig.quick() if quick else StreamBenchConfig()
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})
