"""``mtl eval``: the paper's offline evaluations, written as tables and plots under docs/."""

from __future__ import annotations

from pathlib import Path

import click

from mtl.results import replace_results_section
from mtl.settings import get_settings


@click.group(name="eval")
def eval_group() -> None:
    """Offline evaluations: Table I / Fig. 3, recall, Table II / Fig. 5 / Fig. 6 analogues."""


def _report_options(fn):
    """--corpus, --out and --doc, shared by every evaluation."""
    fn = click.option(
        "--doc",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Markdown file whose section for this corpus is replaced  [default: docs/results.md].",
    )(fn)
    fn = click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Directory for JSON/markdown/PNG  [default: docs/results/].",
    )(fn)
    return click.option(
        "--corpus",
        default="synthetic",
        show_default=True,
        help="synthetic, kuairec, movielens, or a data set directory written by `mtl data`.",
    )(fn)


def _report_paths(out: Path | None, doc: Path | None) -> tuple[Path, Path]:
    from mtl.paths import project_root

    docs = project_root() / "docs"
    return out or docs / "results", doc or docs / "results.md"


def _refresh_readme(doc_path: Path) -> None:
    """README's results summary follows docs/results.md (not a --doc elsewhere)."""
    from mtl.paths import project_root
    from mtl.results import refresh_readme_summary

    if doc_path.resolve() == (project_root() / "docs" / "results.md").resolve():
        refresh_readme_summary(doc_path, project_root() / "README.md")


@eval_group.command()
@_report_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def representations(corpus: str, out: Path | None, doc: Path | None, quiet: bool) -> None:
    """Table I: ARI/NMI of K-means on image, title, MMoE and MMoE+tags representations (held-out 10%)."""
    from topic_learning.corpus import load_corpus
    from topic_learning.evaluation import evaluate_representations, update_results_doc, write_report

    settings = get_settings()
    dataset = load_corpus(corpus, settings, progress=not quiet)
    report = evaluate_representations(
        dataset.videos, settings.learning, corpus=dataset.name, progress=not quiet
    )
    out_dir, doc_path = _report_paths(out, doc)
    paths = write_report(report, out_dir)
    update_results_doc(doc_path, report, paths["png"])
    _refresh_readme(doc_path)
    click.echo(report.markdown())
    for note in report.notes:
        click.echo(f"- {note}")
    click.echo(f"written: {', '.join(str(p) for p in paths.values())}")


@eval_group.command()
@_report_options
@click.option(
    "--test-share",
    type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
    default=0.2,
    show_default=True,
    help="Latest share of the time span held out.",
)
def recall(corpus: str, test_share: float, out: Path | None, doc: Path | None) -> None:
    """Recall@N3 of topic-queue candidates on a held-out period vs global CTR/popularity queues."""
    from mtl.errors import DataError
    from ranker.recall import (
        RecallConfig,
        evaluate_recall,
        latest_video_topics,
        update_recall_doc,
        write_recall_report,
    )
    from topic_learning.corpus import load_corpus

    settings = get_settings()
    dataset = load_corpus(corpus, settings, progress=False)
    if dataset.interactions is None or dataset.interactions.empty:
        raise DataError(f"corpus {dataset.name!r} has no interactions to evaluate recall on")
    video_topics, version = latest_video_topics(settings, dataset.name)
    report = evaluate_recall(
        dataset.interactions,
        dataset.videos,
        video_topics,
        settings,
        config=RecallConfig(test_share=test_share),
        corpus=dataset.name,
        model_version=version,
    )
    out_dir, doc_path = _report_paths(out, doc)
    paths = write_recall_report(report, out_dir)
    update_recall_doc(doc_path, report)
    _refresh_readme(doc_path)
    click.echo(report.markdown())
    for note in report.notes:
        click.echo(f"- {note}")
    click.echo(f"written: {', '.join(str(p) for p in paths.values())}, {doc_path}")


@eval_group.group(name="ranking")
def ranking_group() -> None:
    """Ranking with and without topic features (Table II, Fig. 5, Fig. 6 analogues)."""


def _ranking_options(default_users: int | None):
    def wrap(fn):
        fn = click.option("--quiet", "-q", is_flag=True, help="No per-model progress lines.")(fn)
        fn = click.option(
            "--max-users",
            type=click.IntRange(min=1),
            default=default_users,
            show_default=True,
            help="Random subset of users (all their interactions), to bound the run time.",
        )(fn)
        return _report_options(fn)

    return wrap


@ranking_group.command(name="table2")
@_ranking_options(default_users=1500)
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True, help="Seeds 0..N-1.")
@click.option(
    "--models",
    default="lr,emlp,dcn,wide_deep",
    show_default=True,
    help="Comma-separated: lr, emlp, dcn, wide_deep.",
)
def ranking_table2(
    corpus: str,
    max_users: int | None,
    out: Path | None,
    doc: Path | None,
    quiet: bool,
    seeds: int,
    models: str,
) -> None:
    """AUC of LR/EMLP/DCN/Wide&Deep without vs with topic features (Table II analogue)."""
    from mtl.errors import ConfigError
    from ranker.evaluation import (
        evaluate_topic_features,
        load_ranking_data,
        table2_section,
        write_json,
    )
    from ranker.models import MODEL_KINDS

    kinds = tuple(m.strip() for m in models.split(",") if m.strip())
    unknown = [k for k in kinds if k not in MODEL_KINDS]
    if unknown or not kinds:
        raise ConfigError(f"unknown model(s) {', '.join(unknown) or '(none)'}: use {', '.join(MODEL_KINDS)}")
    settings = get_settings()
    out_dir, doc_path = _report_paths(out, doc)
    data = load_ranking_data(corpus, settings, max_users=max_users, progress=not quiet)
    report = evaluate_topic_features(
        data, settings=settings, kinds=kinds, seeds=tuple(range(seeds)), progress=not quiet
    )
    path = write_json(report, out_dir / f"ranking-table2-{report.corpus}.json")
    replace_results_section(doc_path, f"ranking-table2:{report.corpus}", table2_section(report))
    _refresh_readme(doc_path)
    click.echo(table2_section(report))
    click.echo(f"written: {path}, {doc_path}")


@ranking_group.command(name="daily")
@_ranking_options(default_users=2000)
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True, help="Seeds 0..N-1.")
@click.option("--no-cnn", is_flag=True, help="Skip Baseline+CNN (no cover encoding).")
def ranking_daily(
    corpus: str,
    max_users: int | None,
    out: Path | None,
    doc: Path | None,
    quiet: bool,
    seeds: int,
    no_cnn: bool,
) -> None:
    """Daily predict-then-update AUC of Baseline, Baseline+CNN, Baseline+Topic (Fig. 5 analogue)."""
    from ranker.evaluation import (
        cover_embeddings,
        daily_section,
        evaluate_daily_updates,
        load_ranking_data,
        plot_daily,
        write_json,
    )

    settings = get_settings()
    out_dir, doc_path = _report_paths(out, doc)
    data = load_ranking_data(corpus, settings, max_users=max_users, progress=not quiet)
    image = None
    if not no_cnn:
        image = cover_embeddings(
            data, cache_dir=settings.artifact_dir / "ranker" / "cache", progress=not quiet
        )
    report = evaluate_daily_updates(
        data, settings=settings, seeds=tuple(range(seeds)), image=image, progress=not quiet
    )
    path = write_json(report, out_dir / f"ranking-daily-{report.corpus}.json")
    figure = plot_daily(report, out_dir / f"ranking-daily-{report.corpus}.png")
    section = daily_section(report, figure, doc_path)
    replace_results_section(doc_path, f"ranking-daily:{report.corpus}", section)
    _refresh_readme(doc_path)
    click.echo(section)
    click.echo(f"written: {path}, {figure}, {doc_path}")


@ranking_group.command(name="cost")
@_ranking_options(default_users=2000)
@click.option("--repeats", type=click.IntRange(min=5), default=200, show_default=True, help="Timed repeats.")
@click.option("--batch", type=click.IntRange(min=1), default=600, show_default=True, help="Candidates (N3).")
def ranking_cost(
    corpus: str,
    max_users: int | None,
    out: Path | None,
    doc: Path | None,
    quiet: bool,
    repeats: int,
    batch: int,
) -> None:
    """Per-sample inference time and memory of Baseline, +CNN, +Topic (Fig. 6 analogue)."""
    from ranker.evaluation import (
        cost_section,
        cover_embeddings,
        load_ranking_data,
        measure_inference_cost,
        write_json,
    )

    settings = get_settings()
    out_dir, doc_path = _report_paths(out, doc)
    data = load_ranking_data(corpus, settings, max_users=max_users, progress=not quiet)
    image = cover_embeddings(data, cache_dir=settings.artifact_dir / "ranker" / "cache", progress=not quiet)
    report = measure_inference_cost(data, settings=settings, image=image, batch=batch, repeats=repeats)
    path = write_json(report, out_dir / f"ranking-cost-{report.corpus}.json")
    replace_results_section(doc_path, f"ranking-cost:{report.corpus}", cost_section(report))
    _refresh_readme(doc_path)
    click.echo(cost_section(report))
    click.echo(f"written: {path}, {doc_path}")
