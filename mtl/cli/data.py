"""``mtl data``: make, import and inspect data sets in the canonical layout."""

from __future__ import annotations

import time
from pathlib import Path

import click

from mtl.errors import DataError

_OUT = click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the data set to (new, empty, or holding an earlier data set).",
)


@click.group()
def data() -> None:
    """Make, import and inspect data sets (videos, exposures, covers)."""


@data.command()
@click.option(
    "--preset",
    type=click.Choice(["realistic", "planted"]),
    default="realistic",
    show_default=True,
    help="realistic: subtopics, untagged videos, shared tags, weak covers; "
    "planted: the easy corpus of earlier versions (see docs/synthetic.md).",
)
@click.option("--videos", "n_videos", default=20_000, show_default=True, help="Videos in the catalogue.")
@click.option("--users", "n_users", default=5_000, show_default=True, help="Users.")
@click.option("--days", "n_days", default=5, show_default=True, help="Days the exposures span.")
@click.option(
    "--exposures",
    "n_exposures",
    type=int,
    default=None,
    help="Exposures in all  [default: 20 per user per day].",
)
@click.option("--seed", default=0, show_default=True, help="Random seed; a seed always gives the same data.")
@_OUT
@click.option("--covers/--no-covers", default=True, show_default=True, help="Render PNG cover images.")
@click.option("--cover-size", default=96, show_default=True, help="Cover width and height in pixels.")
@click.option("--workers", type=int, default=None, help="Processes rendering covers  [default: all cores].")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def synth(
    preset: str,
    n_videos: int,
    n_users: int,
    n_days: int,
    n_exposures: int | None,
    seed: int,
    out: Path,
    covers: bool,
    cover_size: int,
    workers: int | None,
    quiet: bool,
) -> None:
    """Generate a synthetic data set: classes, tags, titles, covers, user preferences and exposures."""
    from topic_learning.data import SyntheticConfig, generate

    config = SyntheticConfig(
        preset=preset,  # click.Choice keeps it to the two presets
        n_videos=n_videos,
        n_users=n_users,
        n_days=n_days,
        n_exposures=n_exposures,
        seed=seed,
        covers=covers,
        cover_size=cover_size,
        workers=workers,
    )
    started = time.perf_counter()
    dataset = generate(config, out, progress=not quiet)
    click.echo(f"wrote {dataset.root} in {time.perf_counter() - started:.1f}s")
    _echo_stats(dataset.stats())


@data.command()
@click.argument("name", metavar="kuairec|movielens")
@_OUT
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory holding the raw data sets  [default: settings' data_dir].",
)
def load(name: str, out: Path, data_dir: Path | None) -> None:
    """Convert a real data set (read in place) to the canonical layout in --out."""
    from topic_learning.data import LOADERS

    if name not in LOADERS:
        raise DataError(f"unknown data set {name!r}; choose one of {', '.join(sorted(LOADERS))}")
    dataset = LOADERS[name](data_dir)
    click.echo(f"wrote {dataset.save(out)}")
    _echo_stats(dataset.stats())


@data.command()
@click.argument("directory", type=click.Path(path_type=Path))
def info(directory: Path) -> None:
    """Print the counts of a data set directory: videos, tags, classes, users, exposures, CTR."""
    from topic_learning.data import Dataset

    dataset = Dataset.load(directory)
    click.echo(f"{dataset.name} data set in {dataset.root} (source: {dataset.source})")
    _echo_stats(dataset.stats())


_LABELS = {
    "videos": "videos",
    "tagged_videos": "tagged videos",
    "distinct_tags": "distinct tags",
    "tag_applications": "tag applications",
    "primary_classes": "primary classes",
    "secondary_classes": "secondary classes",
    "covers": "covers",
    "users": "users",
    "exposures": "exposures",
    "clicks": "clicks",
    "ctr": "CTR",
}


def _echo_stats(stats: dict[str, int | float | None]) -> None:
    for key, label in _LABELS.items():
        value = stats.get(key)
        if value is None:
            shown = "-"
        elif key == "ctr":
            shown = f"{value:.2%}"
        else:
            shown = f"{value:,}"
        click.echo(f"  {label:<18} {shown:>12}")
