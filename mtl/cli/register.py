"""``mtl register``: topic learning output into the Feast repo and the online store."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--topics", "topics", required=True, type=click.Path(path_type=Path), help="video_topics.parquet."
)
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Feast repo (default: feast_repo_path).",
)
def register(topics: Path, repo: Path | None) -> None:
    """Validate a video_topics table, place it for Feast, apply the repo and materialise it to Redis."""
    from mtl.features.register import register_topics

    reg = register_topics(topics, repo_path=repo)
    state = "registered" if reg.copied else "already registered (re-materialised)"
    click.echo(f"{state}: model_version {reg.model_version}, {reg.rows:,} videos -> {reg.path}")
