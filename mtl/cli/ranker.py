"""``mtl ranker``: train the ranker that ``mtl serve`` scores candidates with."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def ranker() -> None:
    """The ranking model (Wide&Deep and baselines over topic-ID features)."""


@ranker.command()
@click.option(
    "--corpus",
    default="synthetic",
    show_default=True,
    help="synthetic, kuairec, movielens, or a data set directory written by `mtl data`.",
)
@click.option(
    "--model",
    "kind",
    type=click.Choice(["wide_deep", "lr", "emlp", "dcn"]),
    default="wide_deep",
    show_default=True,
    help="Model family.",
)
@click.option("--topics/--no-topics", default=True, show_default=True, help="Use the topic-ID features.")
@click.option(
    "--topics-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="video_topics.parquet  [default: the corpus' latest topic model].",
)
@click.option(
    "--features",
    type=click.Choice(["corpus", "feast"]),
    default="corpus",
    show_default=True,
    help="corpus: computed from the corpus tables; feast: Feast's point-in-time join of what the stream "
    "pushed (get_historical_features), the definitions the service reads online.",
)
@click.option("--name", default="default", show_default=True, help="Saved as <artifact_dir>/ranker/<name>/.")
@click.option(
    "--max-users", type=click.IntRange(min=1), default=None, help="Train on a random subset of users."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def train(
    corpus: str,
    kind: str,
    topics: bool,
    topics_file: Path | None,
    features: str,
    name: str,
    max_users: int | None,
    seed: int,
    quiet: bool,
) -> None:
    """Train on a corpus' whole interaction log and save the model `mtl serve` picks up."""
    from ranker.scorer import train_and_save

    summary = train_and_save(
        corpus=corpus,
        name=name,
        kind=kind,
        use_topics=topics,
        topics_file=topics_file,
        features=features,
        max_users=max_users,
        seed=seed,
        progress=not quiet,
    )
    click.echo(f"ranker {kind}: {summary.rows:,} rows ({summary.clicks:,} clicks) -> {summary.path}")
    for note in summary.notes:
        click.echo(f"- {note}")
