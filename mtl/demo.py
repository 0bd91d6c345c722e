"""``mtl demo``: the main job end to end on the local stack, left running for the user to browse.

One run goes through every part of the system, in the order production would:

1. the dev stack (Kafka + Redis) up, unless it already runs or the environment names external services;
2. the corpus: the synthetic one of ``settings.demo`` (generated once, with covers), or KuaiRec / MovieLens;
3. ``mtl learn``: the topic model, reused while the corpus and ``settings.learning`` are unchanged;
4. ``mtl register``: Feast apply + materialise of the model's ``video_topics`` (idempotent);
5. the Wide&Deep ranker, trained on the whole interaction log into ``artifacts/ranker/demo-<corpus>/``
   and reused while corpus, topic model and ranker settings are unchanged (``demo.json`` beside it);
6. ``mtl stream worker`` and ``mtl serve`` as background processes;
7. ``mtl replay`` of the log (publications, exposures, clicks in time order) into the worker, bounded to
   its first :attr:`DemoConfig.replay_limit` events, then a wait until the worker has processed them all;
8. a summary read back from the running system: worker counters (``<queue_prefix>:stats``), queue sizes
   and their fresh share, three example users with their top topics and top-10 recommendations from
   ``GET /recommend``, and the explorer's URL.

**What keeps running.** After the summary the worker and the service keep running (their PIDs and logs in
``.mtl/demo/``), so the explorer can be browsed and more events replayed; ``mtl demo stop`` stops them and
deletes this run's Kafka topics and Redis keys. A failure or Ctrl-C stops what the run started, the
dev stack included when the run started it (a machine is left as it was found); after a successful run
the dev stack stays up (``mtl devstack down`` stops it).

**Re-runs.** Data, topic model, Feast registration and ranker are reused when still valid. The stream part
is re-run every time in a new namespace (``<app_id>-demo-<run>``, ``<queue_prefix>:demo:<run>``, ...): the
previous run's worker and service are stopped and its topics and keys deleted first, because replaying
the same log into old state would count the events of hot videos twice (the worker's event-id window is
bounded per video).

**Topics of published videos.** The topic model was learned on the whole catalogue, so the worker takes
the topics of every video, published ones included, from that model's ``video_topics`` file
(``stream.topics_file``) instead of re-encoding each cover and title on 2 CPU cores (~45 videos/s).

Subprocesses get their settings from the environment: this process's environment plus the locations and
names chosen here (:func:`child_environment`). ``train_and_save`` reads :func:`mtl.settings.get_settings`,
so ``run_demo`` expects ``settings`` to be the process settings (environment / YAML, as the CLI builds
them).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mtl.connections import redacted_url
from mtl.devstack import process
from mtl.errors import DataError, ServiceError, first_line
from mtl.settings import Settings, StreamSettings, get_settings
from topic_learning.clustering import max_centre_cosine
from topic_learning.data import Dataset

Echo = Callable[[str], Any]

DATASETS = ("synthetic", "kuairec", "movielens")
STATE_FILE = "demo.json"
RANKER_STAMP = "demo.json"
WORKER = "worker"
SERVICE = "service"


@dataclass
class DemoConfig:
    """Options of one ``mtl demo`` run that are not in ``mtl.settings``.

    Parameters
    ----------
    dataset : {"synthetic", "kuairec", "movielens"}, default "synthetic"
        Corpus: the synthetic one of ``settings.demo`` or a real data set read in place.
    replay_limit : int or None, default 300_000
        Events of the log replayed, the first ones in time order; None: all. The default synthetic corpus
        has ~560,000 events (the first ~2.6 of its 5 days fit in 300,000); the worker takes ~5,000/s on
        2 cores, so the whole log would cost the 10-minute budget another ~1 minute.
    ranker_kind : str, default "wide_deep"
        ``lr``, ``emlp``, ``dcn`` or ``wide_deep``.
    examples : int, default 3
        Example users in the summary (those with the most clicks in the replayed part).
    k : int, default 10
        Recommendations shown per example user.
    keep_running : bool, default True
        Leave worker and service running after the summary; False: stop them and clean up.
    progress : bool, default True
        Progress bars.
    start_timeout_s : float, default 180.0
        How long the ranking service may take to answer ``/health``.
    stall_timeout_s : float, default 180.0
        The worker fails the run when it processes nothing for this long while events are unread.
    """

    dataset: str = "synthetic"
    replay_limit: int | None = 300_000
    ranker_kind: str = "wide_deep"
    examples: int = 3
    k: int = 10
    keep_running: bool = True
    progress: bool = True
    start_timeout_s: float = 180.0
    stall_timeout_s: float = 180.0

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise DataError(f"unknown demo data set {self.dataset!r}: use {', '.join(DATASETS)}")
        if self.replay_limit is not None and self.replay_limit < 1:
            raise DataError(f"replay limit must be at least 1, got {self.replay_limit}")


# -- where a run lives and what it is called ---------------------------------------------------------


def demo_dir(settings: Settings) -> Path:
    """``.mtl/demo/`` beside the dev stack's run directory: state, PID files, logs, Faust data."""
    return settings.run_dir.parent / "demo"


@dataclass(frozen=True)
class StreamNames:
    """Kafka and Redis names of one demo run, derived from ``settings.stream`` and a run id."""

    app_id: str
    events_topic: str
    dead_letter_topic: str
    queue_prefix: str
    user_prefix: str

    @classmethod
    def for_run(cls, stream: StreamSettings, run_id: str) -> StreamNames:
        return cls(
            app_id=f"{stream.app_id}-demo-{run_id}",
            events_topic=f"{stream.events_topic}-demo-{run_id}",
            dead_letter_topic=f"{stream.dead_letter_topic}-demo-{run_id}",
            queue_prefix=f"{stream.queue_prefix}:demo:{run_id}",
            user_prefix=f"{stream.user_prefix}:demo:{run_id}",
        )

    def environment(self) -> dict[str, str]:
        return {f"MTL_STREAM__{name.upper()}": value for name, value in asdict(self).items()}

    def owns_topic(self, topic: str) -> bool:
        """The run's own Kafka topics: events, dead letters, and the app's internal ones."""
        return topic in (self.events_topic, self.dead_letter_topic) or topic.startswith(f"{self.app_id}-")


@dataclass
class DemoState:
    """What ``.mtl/demo/demo.json`` records about the running (or last) demo run."""

    run_id: str
    names: StreamNames
    url: str | None = None
    dataset: str = ""
    started_at: str = ""

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        body = {**asdict(self), "names": asdict(self.names)}
        tmp = directory / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(body, indent=2) + "\n")
        tmp.replace(directory / STATE_FILE)

    @classmethod
    def load(cls, directory: Path) -> DemoState | None:
        try:
            body = json.loads((directory / STATE_FILE).read_text())
            return cls(**{**body, "names": StreamNames(**body["names"])})
        except (OSError, ValueError, TypeError, KeyError):
            return None


def new_run_id() -> str:
    """Short, sortable, unique enough for one machine: seconds since the epoch, base 36."""
    n, digits = int(time.time() * 10), ""
    while n:
        n, r = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
    return digits


def child_environment(
    settings: Settings, names: StreamNames, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of the worker and the service: ours, plus the locations and names of this run."""
    env = dict(os.environ)
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "REDIS_URL": settings.redis_url,
            "MTL_ARTIFACT_DIR": str(settings.artifact_dir),
            "MTL_FEAST_REPO_PATH": str(settings.feast_repo_path),
            "MTL_RUN_DIR": str(settings.run_dir),
            "MTL_DATA_DIR": str(settings.data_dir),
            "MTL_CACHE_DIR": str(settings.cache_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(names.environment())
    env.update(extra or {})
    return env


# -- background processes ------------------------------------------------------------------------------


def _pid_path(directory: Path, name: str) -> Path:
    return directory / f"{name}.pid"


def _log_path(directory: Path, name: str) -> Path:
    return directory / f"{name}.log"


def start_background(directory: Path, name: str, argv: list[str], env: dict[str, str]) -> int:
    """``python -m mtl <argv>`` in its own session (Ctrl-C of the demo does not reach it); its PID."""
    import subprocess

    directory.mkdir(parents=True, exist_ok=True)
    log = _log_path(directory, name)
    log.write_bytes(b"")  # one run's log, not every run's
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mtl", *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    _pid_path(directory, name).write_text(f"{proc.pid}\n")
    return proc.pid


def running_pid(directory: Path, name: str) -> int | None:
    return process.read_pid(_pid_path(directory, name))


def _log_tail(directory: Path, name: str, lines: int = 15) -> str:
    text = process.tail(_log_path(directory, name), lines=lines)
    return f"\n{text}" if text else ""


def stop_demo(settings: Settings, *, clean: bool = True, echo: Echo | None = None) -> list[str]:
    """Stop the demo's worker and service; with ``clean``, delete the run's Kafka topics and Redis keys.

    Returns what was stopped or removed, one short phrase each. Cleaning needs Kafka and Redis; when they
    are gone (``mtl devstack down`` first) there is nothing left to delete and that step is skipped.
    """
    import shutil

    directory = demo_dir(settings)
    done = [name for name in (SERVICE, WORKER) if process.terminate(_pid_path(directory, name))]
    shutil.rmtree(directory / "faust", ignore_errors=True)  # the stopped worker's table files
    state = DemoState.load(directory)
    if clean and state is not None:
        try:
            topics, keys = _delete_stream_state(settings, state.names)
        except Exception as exc:  # noqa: BLE001 - a stopped stack has nothing left to clean
            if echo is not None:
                echo(f"    left run {state.run_id}'s topics and keys alone: {first_line(exc)}")
        else:
            done.append(f"{topics} Kafka topics and {keys:,} Redis keys of run {state.run_id}")
        (directory / STATE_FILE).unlink(missing_ok=True)
    return done


def _delete_stream_state(settings: Settings, names: StreamNames) -> tuple[int, int]:
    from mtl.connections import redis_client
    from mtl.kafka import admin_client

    client = redis_client(settings, socket_connect_timeout=5, socket_timeout=30)
    try:
        keys = 0
        for prefix in (names.queue_prefix, names.user_prefix):
            batch = []
            for key in client.scan_iter(match=f"{prefix}:*", count=5000):
                batch.append(key)
                if len(batch) >= 1000:
                    keys += client.delete(*batch)
                    batch = []
            if batch:
                keys += client.delete(*batch)
    finally:
        client.close()
    admin = admin_client(settings.kafka_bootstrap_servers, settings=settings)
    try:
        owned = [t for t in admin.list_topics() if names.owns_topic(t)]
        if owned:
            admin.delete_topics(owned)
        try:
            admin.delete_consumer_groups([names.app_id])
        except Exception:  # noqa: BLE001 - a group that never formed is not an error
            pass
    finally:
        admin.close()
    return len(owned), keys


# -- the offline steps --------------------------------------------------------------------------------


def load_dataset(settings: Settings, name: str, *, progress: bool) -> tuple[Dataset, bool]:
    """The demo corpus and whether it was reused (the real data sets are always read in place)."""
    from topic_learning.corpus import load_corpus, synthetic_corpus

    if name == "synthetic":
        return synthetic_corpus(settings, progress=progress)
    return load_corpus(name, settings, progress=progress), True


def catalogue_dir(settings: Settings, dataset: Dataset) -> Path:
    """A data set directory with the corpus' ``videos.parquet`` for the explorer's titles and covers.

    The synthetic corpus is one already; a real data set's videos are written once to the user cache
    (never into the project: the shared data is read in place).
    """
    if dataset.root is not None:
        return Path(dataset.root)
    out = settings.cache_dir / "demo-catalogue" / dataset.name
    if not (out / "manifest.json").is_file():
        Dataset(name=dataset.name, videos=dataset.videos, source=dataset.source, params=dataset.params).save(
            out
        )
    return out


def learned_topics(settings: Settings, dataset: Dataset, *, echo: Echo = click.echo, progress: bool = True):
    """Train the topic model on the corpus, or reuse the latest one trained on it with these settings."""
    from topic_learning.model import TopicModel
    from topic_learning.registry import VIDEO_TOPICS_FILE, ModelRegistry, learn_and_save, report_lines

    registry = ModelRegistry(settings.artifact_dir / "topics" / dataset.name)
    path = registry.reusable(trained_on=str(dataset.root or dataset.source), settings=settings.learning)
    if path is not None:
        echo(f"    reused topic model {path}")
        return TopicModel.load(path), path / VIDEO_TOPICS_FILE
    path, model, report = learn_and_save(
        dataset, settings.learning, registry, previous=registry.latest(), progress=progress
    )
    echo(f"    topic model {model.model_version} -> {path}")
    for line in report_lines(report, model):
        echo(f"  {line}")
    return model, path / VIDEO_TOPICS_FILE


def registered_features(settings: Settings, topics_file: Path, *, echo: Echo = click.echo) -> tuple[int, int]:
    """``mtl register`` (Feast apply + materialize), then one online fetch of N3 videos as a check."""
    from mtl.features import CandidateFetcher, open_store, register_topics

    registration = register_topics(topics_file, settings=settings)
    state = "registered" if registration.copied else "already registered, re-materialised"
    echo(f"    {state}: model_version {registration.model_version}, {registration.rows:,} videos")
    video_ids = pd.read_parquet(topics_file, columns=["video_id"])["video_id"].to_numpy()[
        : settings.ranker.candidates
    ]
    fetcher = CandidateFetcher(open_store(settings=settings))
    try:
        fetched = fetcher.fetch(video_ids, user_id=0)
    finally:
        close = getattr(fetcher, "close", None)
        if close is not None:
            close()
    return int(fetched.topics_found.sum()), len(video_ids)


def ranker_stamp(settings: Settings, dataset: Dataset, model_version: str, kind: str) -> dict[str, Any]:
    """What a demo ranker was trained from; a saved one is reused only when this is unchanged."""
    inter = dataset.interactions
    return {
        "corpus": str(dataset.root or dataset.source),
        "interactions": 0 if inter is None else len(inter),
        "topic_model": model_version,
        "kind": kind,
        "history_clicks": settings.ranker.history_clicks,
        "top_topics": settings.ranker.top_topics,
        "topic_slots": settings.learning.topic_slots,
        "prior_strength": settings.stream.prior_strength,
    }


def trained_ranker(
    settings: Settings,
    dataset: Dataset,
    *,
    topics_file: Path,
    model_version: str,
    kind: str,
    echo: Echo = click.echo,
    progress: bool = True,
) -> Path | None:
    """The demo's ranker directory, trained now or reused; None when the corpus has no interactions."""
    from ranker.scorer import default_ranker_dir, train_and_save
    from ranker.training import META_FILE

    if dataset.interactions is None:
        echo(f"    {dataset.name} has no interactions: no ranker, the service scores by smoothed CTR")
        return None
    out = default_ranker_dir(settings.artifact_dir, f"demo-{dataset.name}")
    stamp = ranker_stamp(settings, dataset, model_version, kind)
    try:
        same = json.loads((out / RANKER_STAMP).read_text()) == stamp and (out / META_FILE).is_file()
    except (OSError, ValueError):
        same = False
    if same:
        echo(f"    reused ranker {out}")
        return out
    (out / RANKER_STAMP).unlink(missing_ok=True)  # a half-trained directory must not pass for this one
    tick = time.perf_counter()
    with tqdm(total=1, desc=f"training {kind}", unit="model", disable=not progress) as bar:
        summary = train_and_save(
            corpus=str(dataset.root) if dataset.root is not None else dataset.name,
            kind=kind,
            topics_file=topics_file,
            out=out,
            progress=progress,
        )
        bar.update(1)
    (out / RANKER_STAMP).write_text(json.dumps(stamp, indent=2) + "\n")
    echo(
        f"    trained {kind} on {summary.rows:,} rows ({summary.clicks:,} clicks) in "
        f"{time.perf_counter() - tick:.0f}s -> {out}"
    )
    return out


# -- the replay ---------------------------------------------------------------------------------------


@dataclass
class ReplayPlan:
    """The part of a data set's event log that a bounded replay covers, in the order replay sends it."""

    total: int
    events: int
    publications: int
    exposures: int
    clicks: int
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    log_end: pd.Timestamp | None
    clicks_by_user: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"))

    @property
    def whole(self) -> bool:
        return self.events >= self.total

    def describe(self) -> str:
        """One line: how much of the log, and which stretch of time."""
        if self.start is None or self.end is None or self.log_end is None:
            return f"{self.events:,} events"
        span = (self.end - self.start) / pd.Timedelta(days=1)
        log_span = (self.log_end - self.start) / pd.Timedelta(days=1)
        part = "all" if self.whole else "the first"
        return (
            f"{part} {self.events:,} of {self.total:,} events, {self.start:%Y-%m-%d %H:%M} to "
            f"{self.end:%Y-%m-%d %H:%M} ({span:.1f} of {log_span:.1f} days): {self.publications:,} "
            f"publications, {self.exposures:,} exposures, {self.clicks:,} clicks"
        )


def _epoch_ns(column: pd.Series) -> np.ndarray:
    # datetime64[us] and [ns] columns both occur; int64 of the column would be in its own unit
    return pd.to_datetime(column, utc=True).dt.as_unit("ns").astype("int64").to_numpy()


def replay_plan(data: Dataset, limit: int | None) -> ReplayPlan:
    """Which events ``streams.replay.replay(data, limit=limit)`` sends (same order: time, kind, row)."""
    parts_ts, parts_kind, parts_row = [], [], []
    videos = data.videos
    parts_ts.append(_epoch_ns(videos["published_at"]))
    parts_kind.append(np.zeros(len(videos), dtype=np.int8))
    parts_row.append(np.arange(len(videos)))
    inter = data.interactions
    if inter is not None:
        ts = _epoch_ns(inter["ts"])
        clicked = inter["clicked"].to_numpy(dtype=bool)
        rows = np.arange(len(inter))
        parts_ts += [ts, ts[clicked]]
        parts_kind += [np.ones(len(inter), dtype=np.int8), np.full(int(clicked.sum()), 2, dtype=np.int8)]
        parts_row += [rows, rows[clicked]]
    ts, kind, row = (np.concatenate(p) for p in (parts_ts, parts_kind, parts_row))
    total = len(ts)
    if total == 0:
        return ReplayPlan(0, 0, 0, 0, 0, None, None, None)
    order = np.lexsort((row, kind, ts))
    n = total if limit is None else min(limit, total)
    head = order[:n]
    kinds = np.bincount(kind[head], minlength=3)
    by_user = pd.Series(dtype="int64")
    if inter is not None:
        clicked_rows = row[head][kind[head] == 2]
        by_user = inter["user_id"].iloc[clicked_rows].value_counts()

    def stamp(ns: int) -> pd.Timestamp:
        return pd.Timestamp(int(ns), unit="ns", tz="UTC")

    return ReplayPlan(
        total=total,
        events=n,
        publications=int(kinds[0]),
        exposures=int(kinds[1]),
        clicks=int(kinds[2]),
        start=stamp(ts[order[0]]),
        end=stamp(ts[head[-1]]),
        log_end=stamp(ts[order[-1]]),
        clicks_by_user=by_user,
    )


@dataclass
class WorkerProgress:
    """What the worker did with the replayed events, from ``<queue_prefix>:stats``."""

    processed: int
    good: int
    bad: int
    duplicate: int
    seconds: float
    rate: float


def worker_counters(client, prefix: str) -> dict[str, int]:
    raw = client.hgetall(f"{prefix}:stats")
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}


def processed_count(counters: dict[str, int]) -> int:
    """Events the worker is done with: counted, rejected to the dead letters, or dropped as duplicates."""
    return counters.get("good", 0) + counters.get("bad", 0) + counters.get("duplicate", 0)


def wait_for_worker(
    client,
    prefix: str,
    expected: int,
    *,
    alive: Callable[[], bool],
    stall_timeout_s: float,
    progress: bool,
    log_hint: Callable[[], str] = str,
) -> WorkerProgress:
    """Block until the worker has processed ``expected`` events and its user stage has taken every click
    the video stage sent it (user lists and topic counts written); its rate from first to last batch."""
    first: tuple[float, int] | None = None
    last_change = time.monotonic()
    done = 0
    users_done = 0
    bar = tqdm(total=expected, desc="stream worker", unit="ev", disable=not progress)
    try:
        while True:
            counters = worker_counters(client, prefix)
            now = processed_count(counters)
            if now != done:
                bar.update(now - done)
                done, last_change = now, time.monotonic()
                if first is None:
                    first = (time.monotonic(), now)
            if counters.get("user_clicks", 0) != users_done:
                users_done, last_change = counters.get("user_clicks", 0), time.monotonic()
            if done >= expected and users_done >= counters.get("clicks", 0):
                break
            if not alive():
                raise ServiceError(
                    f"the stream worker exited after {done:,} of {expected:,} events{log_hint()}"
                )
            if time.monotonic() - last_change > stall_timeout_s:
                raise ServiceError(
                    f"the stream worker processed nothing for {stall_timeout_s:.0f}s "
                    f"({done:,} of {expected:,} events){log_hint()}"
                )
            time.sleep(0.5)
    finally:
        bar.close()
    end = time.monotonic()
    t0, n0 = first if first is not None else (end, 0)
    seconds = end - t0
    rate = (done - n0) / seconds if seconds > 0 else 0.0
    return WorkerProgress(
        processed=done,
        good=counters.get("good", 0),
        bad=counters.get("bad", 0),
        duplicate=counters.get("duplicate", 0),
        seconds=seconds,
        rate=rate,
    )


# -- what the running system says ----------------------------------------------------------------------


@dataclass
class QueueStats:
    """Sizes of the topic queues ``<prefix>:<topic>`` and their fresh parts ``<prefix>:<topic>:fresh``."""

    topics: int
    entries: int
    fresh: int
    largest: int
    cold_start: int

    @property
    def fresh_share(self) -> float:
        return self.fresh / self.entries if self.entries else 0.0

    @property
    def mean(self) -> float:
        return self.entries / self.topics if self.topics else 0.0


def queue_stats(client, prefix: str) -> QueueStats:
    """Every topic queue's length and fresh length, two pipelined round trips after one SCAN."""
    pattern = re.compile(rf"^{re.escape(prefix)}:(\d+)$")
    topics = []
    for key in client.scan_iter(match=f"{prefix}:*", count=5000):
        key = key.decode() if isinstance(key, bytes) else key
        if pattern.match(key):
            topics.append(key)
    pipe = client.pipeline(transaction=False)
    for key in topics:
        pipe.zcard(key)
        pipe.zcard(f"{key}:fresh")
    pipe.zcard(f"{prefix}:global")
    sizes = pipe.execute()
    totals, fresh = sizes[0:-1:2], sizes[1:-1:2]
    return QueueStats(
        topics=len(topics),
        entries=int(sum(totals)),
        fresh=int(sum(fresh)),
        largest=int(max(totals, default=0)),
        cold_start=int(sizes[-1]),
    )


UNTAGGED = "untagged videos"


def topic_labels(videos: pd.DataFrame, video_topics: pd.DataFrame, *, n_tags: int = 3) -> dict[int, str]:
    """Each topic's most frequent tags, e.g. ``{17: "puppy, dog training, leash"}``."""
    joined = (
        video_topics[["video_id", "topic_ids"]].explode("topic_ids").rename(columns={"topic_ids": "topic"})
    )
    joined = joined[joined["topic"] >= 0].merge(videos[["video_id", "tags"]], on="video_id")
    tags = joined[["topic", "tags"]].explode("tags").dropna()
    counts = tags.groupby(["topic", "tags"]).size().rename("n").reset_index()
    counts = counts.sort_values(["topic", "n", "tags"], ascending=[True, False, True])
    top = counts.groupby("topic").head(n_tags)
    labels = {int(t): ", ".join(rows["tags"]) for t, rows in top.groupby("topic")}
    # most synthetic and KuaiRec videos have no tags: a topic of untagged videos says so
    return {int(t): labels.get(int(t), UNTAGGED) for t in joined["topic"].unique()}


def topic_examples(videos: pd.DataFrame, video_topics: pd.DataFrame, *, n: int = 3) -> list[str]:
    """The largest topics with their most frequent tags and dominant class, one line each."""
    joined = (
        video_topics[["video_id", "topic_ids"]].explode("topic_ids").rename(columns={"topic_ids": "topic"})
    )
    joined = joined[joined["topic"] >= 0].merge(
        videos[["video_id", "tags", "secondary_class", "primary_class"]], on="video_id"
    )
    lines = []
    for topic, rows in sorted(joined.groupby("topic"), key=lambda item: (-len(item[1]), item[0]))[:n]:
        tags = rows["tags"].explode().value_counts().head(4).index.tolist() or [UNTAGGED]
        cls = rows["secondary_class"].fillna(rows["primary_class"]).value_counts()
        purity = cls.iloc[0] / len(rows) if len(cls) else 0.0
        top_class = cls.index[0] if len(cls) else "-"
        lines.append(f"topic {topic}: {len(rows)} videos, tags {', '.join(tags)}; {purity:.0%} {top_class}")
    return lines


@dataclass
class ExampleUser:
    """One example user: what they clicked in the replay, what the service recommends."""

    user_id: int
    clicks: int
    source: str
    topics: list[int]
    items: list[dict[str, Any]]
    interests: list[str] = field(default_factory=list)  # planted interests of a synthetic user


def pick_users(clicks_by_user: pd.Series, n: int) -> list[int]:
    """The ``n`` users with the most clicks in the replayed part (ties: smaller id)."""
    if clicks_by_user.empty:
        return [0][:n]
    ranked = clicks_by_user.rename("clicks").rename_axis("user").reset_index()
    ranked = ranked.sort_values(["clicks", "user"], ascending=[False, True])
    return [int(u) for u in ranked["user"].head(n)]


def http_json(url: str, *, timeout_s: float = 10.0) -> tuple[int, Any]:
    """GET ``url``; its status and JSON body (or text)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


def recommendations(base_url: str, users: Sequence[int], *, k: int) -> list[ExampleUser]:
    """``GET /recommend`` of the running service for each user."""
    out = []
    for user in users:
        status, body = http_json(f"{base_url}/recommend?user_id={int(user)}&k={int(k)}")
        if status != 200 or not isinstance(body, dict):
            raise ServiceError(f"GET /recommend?user_id={user} answered {status}: {str(body)[:200]}")
        out.append(
            ExampleUser(
                user_id=int(user),
                clicks=0,
                source=str(body.get("source", "")),
                topics=[int(t) for t in body.get("user_topics", [])],
                items=list(body.get("items", [])),
            )
        )
    return out


# -- the summary ---------------------------------------------------------------------------------------


@dataclass
class DemoSummary:
    """Everything the final summary prints; :func:`summary_lines` formats it."""

    kafka: str
    redis: str
    corpus: dict[str, Any]
    corpus_dir: str
    n_topics: int
    model_version: str
    mean_topics: float
    topic_lines: list[str]
    feast_found: int
    feast_asked: int
    ranker: str
    replay: ReplayPlan
    replay_seconds: float
    worker: WorkerProgress
    queues: QueueStats
    users: list[ExampleUser]
    labels: dict[int, str]
    titles: dict[int, str]
    url: str
    pids: dict[str, int]
    log_dir: str
    keep_running: bool
    seconds: float
    step_seconds: dict[str, float] = field(default_factory=dict)
    threshold: float | None = None  # the model's tau_3
    max_centre_cosine: float | None = None


def _truncate(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def user_lines(user: ExampleUser, labels: dict[int, str], titles: dict[int, str], *, k: int) -> list[str]:
    """A user's header (clicks, top topics with their tags) and one line per recommendation."""
    topics = "; ".join(f"{t} ({labels.get(t, '?')})" for t in user.topics) or "none (cold start)"
    head = f"user {user.user_id}: {user.clicks} clicks replayed, top topics {topics}"
    lines = [head]
    if user.interests:
        lines.append(f"    planted interests: {', '.join(user.interests)}")
    if not user.items:
        lines.append("    no recommendations (empty queues)")
    for rank, item in enumerate(user.items[:k], 1):
        vid = int(item["video_id"])
        title = _truncate(titles.get(vid, ""), 44)
        lines.append(
            f"    {rank:>2}. {vid:<8} {title:<44} p={float(item['score']):.3f}  "
            f"topics {','.join(str(t) for t in item.get('topic_ids', [])[:3])}"
        )
    return lines


def summary_lines(s: DemoSummary, *, k: int = 10) -> list[str]:
    """The summary ``mtl demo`` prints, one string per line."""
    c = s.corpus
    w, q = s.worker, s.queues
    lines = [
        "== summary",
        f"services      : Kafka {s.kafka}, Redis {s.redis}",
        f"corpus        : {c['videos']:,} videos ({c['covers']:,} covers), {c['distinct_tags']:,} tags, "
        f"{c['users'] or 0:,} users, {c['exposures'] or 0:,} exposures, {c['clicks'] or 0:,} clicks "
        f"({s.corpus_dir})",
        f"topics        : {s.n_topics:,} topics learned (model {s.model_version}), "
        f"{s.mean_topics:.2f} topics per video on average"
        + (f" (tau_3 {s.threshold:.3f})" if s.threshold is not None else ""),
        *(
            [f"                closest two topics: cosine {s.max_centre_cosine:.3f}"]
            if s.max_centre_cosine is not None
            else []
        ),
        *(f"                {line}" for line in s.topic_lines),
        f"feature store : Feast's online store has topics for {s.feast_found} of {s.feast_asked} "
        "videos checked",
        f"ranker        : {s.ranker}",
        f"replay        : {s.replay.describe()} in {s.replay_seconds:.0f}s"
        + ("" if s.replay.whole else " (bounded: `mtl demo --replay-limit 0` replays it all)"),
        f"stream worker : {w.processed:,} events processed ({w.good:,} counted, {w.bad:,} rejected, "
        f"{w.duplicate:,} duplicates) at {w.rate:,.0f} events/s",
        f"queues        : {q.topics:,} topic queues, {q.entries:,} entries (mean {q.mean:.0f}, largest "
        f"{q.largest:,}), fresh share {q.fresh_share:.1%}; cold-start queue {q.cold_start:,}",
        "examples      : top topics from each user's recent clicks, top-10 from GET /recommend",
    ]
    for user in s.users:
        lines += [f"  {line}" for line in user_lines(user, s.labels, s.titles, k=k)]
    lines.append(f"explorer      : {s.url}/  (topics: {s.url}/topics/<id>, users: {s.url}/users/<id>)")
    if s.keep_running:
        pids = ", ".join(f"{name} pid {pid}" for name, pid in s.pids.items())
        lines.append(f"running       : {pids}; logs in {s.log_dir}; stop with `mtl demo stop`")
    else:
        lines.append("running       : nothing (worker and service stopped after the summary)")
    steps = ", ".join(f"{name} {sec:.0f}s" for name, sec in s.step_seconds.items())
    lines.append(f"wall time     : {s.seconds:.0f}s" + (f" ({steps})" if steps else ""))
    return lines


# -- the run ------------------------------------------------------------------------------------------


class _Steps:
    """Numbered step headers on ``echo``; the wall time of each step, for the summary."""

    def __init__(self, echo: Echo, total: int) -> None:
        self.echo, self.total = echo, total
        self.number, self.current, self.started = 0, "", 0.0
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, title: str) -> None:
        self.close()
        self.number += 1
        self.current, self.started = name, time.perf_counter()
        self.echo(f"{self.number}/{self.total} {title}")

    def close(self) -> None:
        if self.current:
            self.seconds[self.current] = time.perf_counter() - self.started
            self.current = ""


def wait_for_service(
    directory: Path, url: str | None, *, timeout_s: float, port_hint: int | None = None
) -> str:
    """The service's base URL once ``/health`` answers 200 (the port is read from its log if it was 0)."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if running_pid(directory, SERVICE) is None:
            raise ServiceError(f"the ranking service exited during start-up{_log_tail(directory, SERVICE)}")
        if url is None:
            found = re.search(
                r"http://([^\s/]+):(\d+)", process.tail(_log_path(directory, SERVICE), lines=50)
            )
            if found and int(found.group(2)) != 0:
                url = f"http://{found.group(1)}:{found.group(2)}"
        if url is not None:
            try:
                status, body = http_json(f"{url}/health", timeout_s=5)
                if status == 200:
                    return url
                last = f"/health answered {status}: {str(body)[:200]}"
            except OSError as exc:
                last = first_line(exc)
        time.sleep(0.5)
    raise ServiceError(
        f"the ranking service did not answer within {timeout_s:.0f}s ({last}){_log_tail(directory, SERVICE)}"
    )


def run_demo(settings: Settings, config: DemoConfig | None = None, *, echo: Echo = click.echo) -> DemoSummary:
    """Dev stack → corpus → topics → Feast → ranker → worker + service → replay → summary.

    Parameters
    ----------
    settings
        The process settings (see the module docstring); ``settings.demo`` sizes the synthetic corpus.
    config
        Options of this run; None: :class:`DemoConfig` defaults.
    echo
        Where the step lines and the summary go.

    Returns
    -------
    DemoSummary
        What was printed, as data.
    """
    from mtl.devstack import DevStack

    config = config or DemoConfig()
    tick = time.perf_counter()
    directory = demo_dir(settings)
    stack = DevStack(settings)
    local = [svc for svc in stack.services if not stack.external(svc)]
    was_running = {svc.name for svc in local if svc.pid() is not None}
    steps = _Steps(echo, 8)
    try:
        steps("stack", "dev stack: Kafka + Redis")
        addresses = stack.up()
        # settings read while the stack was down (a fresh machine) lack the addresses it was started at
        settings = settings.model_copy(
            update={
                "kafka_bootstrap_servers": addresses["KAFKA_BOOTSTRAP_SERVERS"],
                "redis_url": addresses["REDIS_URL"],
            }
        )
        get_settings.cache_clear()  # what reads the process settings later finds the stack's address file
        started = [svc.name for svc in local if svc.name not in was_running]
        echo(f"    {'started ' + ', '.join(started) if started else 'already running'}")
        previous = stop_demo(settings, echo=echo)
        if previous:
            echo(f"    stopped the previous demo run: {'; '.join(previous)}")
        summary = _run(settings, config, addresses, echo=echo, steps=steps, tick=tick)
    except BaseException as exc:
        stopped = stop_demo(settings, echo=echo)
        for svc in local:
            if svc.name not in was_running:
                svc.stop()
                stopped.append(svc.name)
        if stopped:
            what = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            echo(f"demo {what}; stopped what it started: {', '.join(stopped)} (logs in {directory})")
        raise
    if not config.keep_running:
        stop_demo(settings, echo=echo)
    return summary


def _run(
    settings: Settings,
    config: DemoConfig,
    addresses: dict[str, str],
    *,
    echo: Echo,
    steps: _Steps,
    tick: float,
) -> DemoSummary:
    from mtl.connections import redis_client
    from streams.replay import replay

    progress = config.progress
    directory = demo_dir(settings)

    steps("corpus", f"corpus: {config.dataset}")
    t = time.perf_counter()
    dataset, reused = load_dataset(settings, config.dataset, progress=progress)
    stats = dataset.stats()
    where = dataset.root or dataset.source
    echo(f"    {'reused' if reused else 'generated'} {where} in {time.perf_counter() - t:.1f}s")

    steps("topics", "topic learning (MMoE + tag graph + spherical K-means)")
    model, topics_file = learned_topics(settings, dataset, echo=echo, progress=progress)
    video_topics = pd.read_parquet(topics_file)

    steps("feast", "feature store: Feast apply, materialise video_topics to Redis")
    with warnings.catch_warnings():  # dask's FutureWarnings inside Feast's file offline store
        warnings.filterwarnings("ignore", category=FutureWarning)
        found, asked = registered_features(settings, topics_file, echo=echo)

    steps("ranker", f"ranker: {config.ranker_kind} with topic features")
    ranker_dir = trained_ranker(
        settings,
        dataset,
        topics_file=topics_file,
        model_version=model.model_version,
        kind=config.ranker_kind,
        echo=echo,
        progress=progress,
    )

    steps("start", "stream worker and ranking service (background processes)")
    run_id = new_run_id()
    names = StreamNames.for_run(settings.stream, run_id)
    state = DemoState(run_id=run_id, names=names, dataset=dataset.name, started_at=datetime.now().isoformat())
    state.save(directory)  # from here on `mtl demo stop` (and a failure) can clean up this run
    catalogue = catalogue_dir(settings, dataset)
    env = child_environment(
        settings,
        names,
        {
            "MTL_STREAM__TOPICS_FILE": str(topics_file),
            "MTL_STREAM__ASSIGN_WITH_MODEL": "false",
            "MTL_STREAM__MODEL_CORPUS": dataset.name,
            "MTL_STREAM__DATA_DIR": str(directory / "faust"),
            # a demo's few hundred queues are cheap to scan: the cold-start queue is there within seconds
            "MTL_STREAM__GLOBAL_REFRESH_S": "5",
            "MTL_RANKER__CATALOGUE": str(catalogue),
            **({"MTL_RANKER__MODEL_PATH": str(ranker_dir)} if ranker_dir is not None else {}),
        },
    )
    host, port = settings.ranker.serve_host, settings.ranker.serve_port
    if port and process.port_in_use(port, host):
        raise ServiceError(
            f"port {port} on {host} is already in use; stop what holds it or set MTL_RANKER__SERVE_PORT"
        )
    worker_pid = start_background(directory, WORKER, ["stream", "worker"], env)
    serve_argv = ["serve", "--host", host, "--port", str(port)]
    if ranker_dir is not None:
        serve_argv += ["--model", str(ranker_dir)]
    service_pid = start_background(directory, SERVICE, serve_argv, env)
    echo(f"    worker pid {worker_pid}, service pid {service_pid}; logs in {directory}")

    steps("replay", "replay of the event log into the worker")
    plan = replay_plan(dataset, config.replay_limit)
    echo(f"    {plan.describe()}")
    t = time.perf_counter()
    with warnings.catch_warnings():  # kafka-python's importlib.resources calls, not ours
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        replay(
            dataset,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topic=names.events_topic,
            limit=plan.events,
            source=f"demo-{run_id}",
            publish=True,
            progress=progress,
            partitions=settings.stream.partitions,
            settings=settings,
        )
    client = redis_client(settings, socket_connect_timeout=5, socket_timeout=30)
    try:
        worker = wait_for_worker(
            client,
            names.queue_prefix,
            plan.events,
            alive=lambda: running_pid(directory, WORKER) is not None,
            stall_timeout_s=config.stall_timeout_s,
            progress=progress,
            log_hint=lambda: _log_tail(directory, WORKER),
        )
        replay_seconds = time.perf_counter() - t
        steps("service", "ranking service: waiting for /health, then example recommendations")
        url = wait_for_service(
            directory,
            f"http://{host}:{port}" if port else None,
            timeout_s=config.start_timeout_s,
        )
        state.url = url
        state.save(directory)
        # the worker writes the user lists a moment after the counters of the batch that fed them
        time.sleep(min(2.0, settings.stream.batch_timeout_s * 5))
        queues = queue_stats(client, names.queue_prefix)
    finally:
        client.close()
    users = recommendations(url, pick_users(plan.clicks_by_user, config.examples), k=config.k)
    interests = _planted_interests(dataset)
    for user in users:
        user.clicks = int(plan.clicks_by_user.get(user.user_id, 0))
        user.interests = interests.get(user.user_id, [])
    shown = {t for u in users for t in u.topics} | {
        t for u in users for item in u.items for t in item.get("topic_ids", [])[:3]
    }
    labels = {t: v for t, v in topic_labels(dataset.videos, video_topics).items() if t in shown}
    wanted = {int(item["video_id"]) for u in users for item in u.items}
    titles = dict(
        zip(
            dataset.videos["video_id"].astype(int),
            dataset.videos["title"].astype(str),
            strict=True,
        )
    )
    steps.close()
    ranker_line = (
        f"{config.ranker_kind} in {ranker_dir}" if ranker_dir is not None else "none (smoothed CTR scores)"
    )
    summary = DemoSummary(
        kafka=addresses["KAFKA_BOOTSTRAP_SERVERS"],
        redis=redacted_url(addresses["REDIS_URL"]),
        corpus=stats,
        corpus_dir=str(where),
        n_topics=int(model.n_topics),
        model_version=model.model_version,
        mean_topics=float(video_topics["n_topics"].mean()),
        topic_lines=topic_examples(dataset.videos, video_topics),
        threshold=float(model.threshold),
        max_centre_cosine=max_centre_cosine(model.centres),
        feast_found=found,
        feast_asked=asked,
        ranker=ranker_line,
        replay=plan,
        replay_seconds=replay_seconds,
        worker=worker,
        queues=queues,
        users=users,
        labels=labels,
        titles={v: titles[v] for v in wanted if v in titles},
        url=url,
        pids={WORKER: worker_pid, SERVICE: service_pid},
        log_dir=str(directory),
        keep_running=config.keep_running,
        seconds=time.perf_counter() - tick,
        step_seconds=dict(steps.seconds),
    )
    echo("")
    for line in summary_lines(summary, k=config.k):
        echo(line)
    return summary


def _planted_interests(dataset: Dataset) -> dict[int, list[str]]:
    """Each synthetic user's preferred subtopics ("class/subtopic"), or classes where there are none."""
    users = dataset.users
    if users is None or "preferred_classes" not in users.columns:
        return {}
    subtopics = users["preferred_subtopics"] if "preferred_subtopics" in users.columns else None
    interests = {}
    for row, (user, classes) in enumerate(zip(users["user_id"], users["preferred_classes"], strict=True)):
        finer = subtopics.iloc[row] if subtopics is not None else None
        chosen = finer if finer is not None and len(finer) else classes
        interests[int(user)] = [str(c) for c in chosen]
    return interests


def demo_status(settings: Settings) -> list[str]:
    """Lines for ``mtl demo status``: the run, its processes, its URL."""
    directory = demo_dir(settings)
    state = DemoState.load(directory)
    if state is None:
        return ["no demo run recorded (start one with `mtl demo`)"]
    lines = [f"run {state.run_id} ({state.dataset}, started {state.started_at[:19]})"]
    for name in (WORKER, SERVICE):
        pid = running_pid(directory, name)
        lines.append(
            f"{name:<8} {'running, pid ' + str(pid) if pid else 'stopped'}  log {_log_path(directory, name)}"
        )
    if state.url:
        lines.append(f"explorer {state.url}/")
    names = state.names
    lines.append(
        f"names    events {names.events_topic}, app {names.app_id}, queues {names.queue_prefix}:*, "
        f"users {names.user_prefix}:*"
    )
    return lines


def stream_environment_lines(state: DemoState) -> Iterable[str]:
    """``export`` lines that point other ``mtl`` commands at the demo's stream (``mtl demo env``)."""
    for key, value in state.names.environment().items():
        yield f"export {key}={value}"
