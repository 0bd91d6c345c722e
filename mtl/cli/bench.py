"""``mtl bench``: benchmarks that print their figure and a ratio against a baseline run alongside."""

from __future__ import annotations

import json

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
