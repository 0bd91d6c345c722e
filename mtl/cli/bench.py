"""``mtl bench``: benchmarks that print their figure and a ratio against a baseline run alongside."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mtl.settings import get_settings


@click.group()
def bench() -> None:
    """Performance benchmarks (medians; compare only figures from the same run)."""


@bench.command(name="learn")
@click.option("--videos", default=2000, show_default=True, help="Synthetic videos for encoding/tag stages.")
@click.option("--repeats", default=3, show_default=True, help="Repeats per stage; the median is reported.")
def bench_learn(videos: int, repeats: int) -> None:
    """Topic learning stages: encoding, walks, skip-gram, K-means, assignment."""
    from benchmarks.learn import run

    settings = get_settings()
    click.echo(f"{'stage':<22} {'figure':>14} {'':<12} | {'baseline (same run)':<34} {'figure':>14}")
    results = run(settings.learning, videos=videos, repeats=repeats, echo=click.echo)
    out = settings.artifact_dir / "bench" / "learn.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([r.to_dict() for r in results], indent=2))
    click.echo(f"written: {out}")


@bench.command(name="features")
@click.option(
    "--repeats",
    default=200,
    show_default=True,
    help="Fetches per size for our path (stock: a tenth, at least 20).",
)
@click.option(
    "--materialize-rows",
    default=100_000,
    show_default=True,
    help="video_topics rows to materialise (1000000 for the big run).",
)
def bench_features(repeats: int, materialize_rows: int) -> None:
    """Online fetch (1/100/600 entities) vs get_online_features, and materialize rows/s."""
    from benchmarks.features import run

    settings = get_settings()
    results = run(settings, repeats=repeats, materialize_rows=materialize_rows, echo=click.echo)
    out = settings.artifact_dir / "bench" / "features.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    click.echo(f"written: {out}")


@bench.command(name="stream")
@click.option(
    "--quick",
    is_flag=True,
    help="~1.5 min: 60k events, 1 repeat, 15 s freshness, 0.5 min memory; options override.",
)
@click.option(
    "--events", type=click.IntRange(min=10_000), default=None, help="Backlog to drain.  [default: 1000000]"
)
@click.option(
    "--repeats",
    type=click.IntRange(min=1),
    default=None,
    help="Drains; the median is reported.  [default: 3]",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Background load of the freshness and memory run, events/s.  [default: 5000]",
)
@click.option(
    "--freshness-seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="Probing time; 0 skips freshness.  [default: 45]",
)
@click.option(
    "--memory-minutes",
    type=click.FloatRange(min=0),
    default=None,
    help="Load run for the RSS figure; 0 skips memory.  [default: 10]",
)
@click.option(
    "--partitions", type=click.IntRange(min=1), default=None, help="Events topic partitions.  [default: 4]"
)
@click.option(
    "--prefill/--no-prefill",
    default=True,
    show_default=True,
    help="Fill the worker's per-video and per-user state to its limits before the memory run.",
)
@click.option("--profile", is_flag=True, help="Run the first drain's worker under cProfile (main thread).")
def bench_stream(
    quick: bool,
    events: int | None,
    repeats: int | None,
    rate: float | None,
    freshness_seconds: float | None,
    memory_minutes: float | None,
    partitions: int | None,
    prefill: bool,
    profile: bool,
) -> None:
    """One stream worker: throughput vs a bare consumer, queue freshness under load, RSS over time."""
    from benchmarks.stream import configure, run

    settings = get_settings()
    config = configure(
        quick=quick,
        events=events,
        repeats=repeats,
        rate=rate,
        freshness_seconds=freshness_seconds,
        memory_minutes=memory_minutes,
        partitions=partitions,
        prefill=prefill,
    )
    out = settings.artifact_dir / "bench" / "stream.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    prof = out.with_name("stream-worker.prof") if profile else None
    if prof is not None:
        prof.unlink(missing_ok=True)  # never print an earlier run's profile as this one's
    click.echo(f"{'stage':<22} {'figure':>14} {'':<12} | {'baseline (same run)':<34} {'figure':>14}")
    report = run(settings, config, profile=prof, echo=click.echo)
    out.write_text(json.dumps(report, indent=2))
    click.echo(f"written: {out}")
    if prof is not None and prof.exists():
        import io
        import pstats

        text = io.StringIO()
        pstats.Stats(str(prof), stream=text).sort_stats("tottime").print_stats(15)
        click.echo(text.getvalue())
        click.echo(f"written: {prof}")


@bench.command(name="candidates")
@click.option("--topics", type=click.IntRange(min=1), default=2000, show_default=True, help="Topic queues.")
@click.option(
    "--queue-length", type=click.IntRange(min=1), default=1000, show_default=True, help="Videos per queue."
)
@click.option(
    "--users", type=click.IntRange(min=1), default=1000, show_default=True, help="Users with N1 clicks."
)
@click.option(
    "--calls",
    type=click.IntRange(min=1),
    default=2000,
    show_default=True,
    help="Timed generate calls (the naive baseline gets as many).",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the filled data.")
def bench_candidates(topics: int, queue_length: int, users: int, calls: int, seed: int) -> None:
    """Candidate generation: p50/p99 of one Lua round trip vs the naive multi-round-trip client."""
    from benchmarks.candidates import CandidatesBenchConfig, run

    settings = get_settings()
    config = CandidatesBenchConfig(
        topics=topics, queue_length=queue_length, users=users, calls=calls, seed=seed
    )
    report = run(settings, config, echo=click.echo)
    out = settings.artifact_dir / "bench" / "candidates.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    click.echo(f"written: {out}")


@bench.command(name="service")
@click.option(
    "--requests", type=click.IntRange(min=1), default=1000, show_default=True, help="Timed /recommend calls."
)
@click.option(
    "--candidates", type=click.IntRange(min=1), default=600, show_default=True, help="N3 per request."
)
@click.option(
    "--k", type=click.IntRange(min=1), default=20, show_default=True, help="Videos each request asks for."
)
@click.option(
    "--videos", type=click.IntRange(min=10), default=20_000, show_default=True, help="Videos in Feast."
)
@click.option("--topics", type=click.IntRange(min=1), default=100, show_default=True, help="Topic queues.")
@click.option(
    "--users", type=click.IntRange(min=1), default=500, show_default=True, help="Users with clicks."
)
@click.option(
    "--model",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Saved ranker for the server (default: what `mtl serve` picks).",
)
def bench_service(
    requests: int, candidates: int, k: int, videos: int, topics: int, users: int, model: Path | None
) -> None:
    """GET /recommend end to end (real server, HTTP keep-alive) vs the Feast fetch of the same candidates."""
    from benchmarks.service import ServiceBenchConfig, run

    settings = get_settings()
    config = ServiceBenchConfig(
        requests=requests,
        candidates=candidates,
        k=min(k, candidates),
        videos=videos,
        topics=topics,
        users=users,
        model=model,
    )
    report = run(settings, config, echo=click.echo)
    out = settings.artifact_dir / "bench" / "service.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    click.echo(f"written: {out}")
