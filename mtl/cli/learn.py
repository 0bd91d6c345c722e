"""``mtl learn`` and ``mtl assign``: train a topic model, assign topics with one."""

from __future__ import annotations

from pathlib import Path

import click

from mtl.settings import get_settings

_CORPUS = click.option(
    "--corpus",
    default="synthetic",
    show_default=True,
    help="synthetic, kuairec, movielens, or a data set directory written by `mtl data`.",
)
_QUIET = click.option("--quiet", "-q", is_flag=True, help="No progress bars.")


@click.command()
@_CORPUS
@click.option(
    "--previous",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Topic model this run retrains: matched topics keep their IDs.  [default: the corpus' latest]",
)
@click.option("--fresh", is_flag=True, help="Start topic IDs from 0 instead of continuing the latest model.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Model directory  [default: <artifact_dir>/topics/<corpus>/<model_version>].",
)
@_QUIET
def learn(corpus: str, previous: Path | None, fresh: bool, out: Path | None, quiet: bool) -> None:
    """Train the multimodal topic model and write it with its video_topics parquet."""
    from topic_learning.corpus import load_corpus
    from topic_learning.registry import ModelRegistry, learn_and_save, report_lines

    settings = get_settings()
    dataset = load_corpus(corpus, settings, progress=not quiet)
    registry = ModelRegistry(settings.artifact_dir / "topics" / dataset.name)
    prior = None if fresh else registry.load(previous) if previous else registry.latest()

    path, model, report = learn_and_save(
        dataset, settings.learning, registry, previous=prior, progress=not quiet, directory=out
    )
    click.echo(f"topic model {model.model_version} -> {path}")
    for line in report_lines(report, model):
        click.echo(line)
    click.echo(f"  video_topics: {path / 'video_topics.parquet'}")


@click.command()
@click.option(
    "--model",
    "model_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Topic model directory written by `mtl learn`.",
)
@_CORPUS
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Parquet file for the video_topics rows.",
)
@_QUIET
def assign(model_dir: Path, corpus: str, out: Path, quiet: bool) -> None:
    """Assign topics to the videos of a corpus with a saved topic model."""
    from topic_learning.corpus import load_corpus
    from topic_learning.model import TopicModel

    settings = get_settings()
    model = TopicModel.load(model_dir)
    dataset = load_corpus(corpus, settings, progress=not quiet)
    video_topics = model.assign(dataset.videos, progress=not quiet)
    out.parent.mkdir(parents=True, exist_ok=True)
    video_topics.to_parquet(out, index=False)
    click.echo(
        f"{len(video_topics)} videos, mean topics per video {video_topics['n_topics'].mean():.2f} -> {out}"
    )
