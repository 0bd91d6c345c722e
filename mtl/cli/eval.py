"""``mtl eval``: the paper's offline evaluations, written as tables and plots under docs/."""

from __future__ import annotations

from pathlib import Path

import click

from mtl.settings import get_settings


@click.group(name="eval")
def eval_group() -> None:
    """Offline evaluations (Table I / Fig. 3 analogues)."""


@eval_group.command()
@click.option(
    "--corpus",
    default="synthetic",
    show_default=True,
    help="synthetic, kuairec, movielens, or a data set directory written by `mtl data`.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for JSON/markdown/PNG  [default: docs/results/].",
)
@click.option(
    "--doc",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Markdown file whose section for this corpus is replaced  [default: docs/results.md].",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def representations(corpus: str, out: Path | None, doc: Path | None, quiet: bool) -> None:
    """Table I: ARI/NMI of K-means on image, title, MMoE and MMoE+tags representations (held-out 10%)."""
    from mtl.paths import project_root
    from topic_learning.corpus import load_corpus
    from topic_learning.evaluation import evaluate_representations, update_results_doc, write_report

    settings = get_settings()
    dataset = load_corpus(corpus, settings, progress=not quiet)
    report = evaluate_representations(
        dataset.videos, settings.learning, corpus=dataset.name, progress=not quiet
    )
    docs = project_root() / "docs"
    paths = write_report(report, out or docs / "results")
    update_results_doc(doc or docs / "results.md", report, paths["png"])
    click.echo(report.markdown())
    for note in report.notes:
        click.echo(f"- {note}")
    click.echo(f"written: {', '.join(str(p) for p in paths.values())}")
