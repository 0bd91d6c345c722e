"""Table I and Fig. 3 analogues: how well each representation clusters into the known classes.

On a held-out split, K-means with K = number of primary (then secondary) classes runs on each
representation — image only (pretrained CNN), title only (pretrained text encoder), MMoE, MMoE + tags —
and ARI / NMI against the classes measure it (paper section IV-C). Fig. 3's analogue is the ratio of
mean inter-cluster to mean intra-cluster distance over repeated clusterings.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from mtl.results import replace_results_section
from mtl.settings import LearningSettings
from topic_learning.clustering import SphericalKMeans, best_of_kmeans, l2_normalize
from topic_learning.encoders import build_image_encoder, build_text_encoder
from topic_learning.pipeline import (
    LearnedRepresentations,
    has_covers,
    learn_representations,
    topics_from_representations,
)
from topic_learning.quality import TopicQuality, topic_quality
from topic_learning.tag_weight import TagHalf
from topic_learning.training import embed_videos_and_tags

PAPER_TAGS = "MMoE + tags, w=1 (paper)"


@dataclass
class RepresentationScores:
    name: str
    ari_primary: float | None
    nmi_primary: float | None
    ari_secondary: float | None
    nmi_secondary: float | None


@dataclass
class RepresentationReport:
    corpus: str
    n_train: int
    n_test: int
    n_primary: int
    n_secondary: int
    text_model: str
    image_model: str | None
    frozen_encoders: bool
    representation: str
    rows: list[RepresentationScores]
    topics: dict[str, TopicQuality] = field(default_factory=dict)
    distance_ratios: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        def pct(value: float | None) -> str:
            return "–" if value is None else f"{100 * value:.1f}"

        head = "| metric | " + " | ".join(r.name for r in self.rows) + " |"
        sep = "|---|" + "---|" * len(self.rows)
        lines = [head, sep]
        for label, attr in (
            ("ARI(%) PC", "ari_primary"),
            ("ARI(%) SC", "ari_secondary"),
            ("NMI(%) PC", "nmi_primary"),
            ("NMI(%) SC", "nmi_secondary"),
        ):
            lines.append(f"| {label} | " + " | ".join(pct(getattr(r, attr)) for r in self.rows) + " |")
        if self.topics:
            lines += ["", *self.topics_markdown()]
        if self.distance_ratios:
            lines.append("")
            lines.append("| Fig. 3 analogue | " + " | ".join(self.distance_ratios) + " |")
            lines.append("|---|" + "---|" * len(self.distance_ratios))
            means = [f"{np.mean(v):.3f} ± {np.std(v):.3f}" for v in self.distance_ratios.values()]
            lines.append("| inter/intra distance ratio (10 clusterings) | " + " | ".join(means) + " |")
        return "\n".join(lines)

    def topics_markdown(self) -> list[str]:
        """The learned model's own topics on the held-out videos, one column per variant."""

        def pct(value: float | None) -> str:
            return "–" if value is None else f"{100 * value:.1f}"

        names = list(self.topics)
        cells = {
            "topics (K after merging)": lambda q: str(q.n_topics),
            "tau_3": lambda q: f"{q.threshold:.3f}",
            "mean topics per video": lambda q: f"{q.mean_topics_per_video:.2f}",
            "near-duplicate centre pairs (cos > {dup:g})": lambda q: (
                f"{q.near_duplicate_pairs} ({100 * q.near_duplicate_share:.2f}%)"
            ),
            "max centre cosine": lambda q: f"{q.max_centre_cosine:.3f}",
            "topics used as a top topic": lambda q: str(q.topics_used),
            "purity(%) SC": lambda q: pct(q.purity_secondary),
            "purity(%) PC": lambda q: pct(q.purity_primary),
            "coverage(%) of SC": lambda q: pct(q.coverage_secondary),
            "NMI(%) top topic vs PC": lambda q: pct(q.nmi_primary),
            "NMI(%) top topic vs SC": lambda q: pct(q.nmi_secondary),
        }
        dup = next(iter(self.topics.values())).duplicate_cosine
        lines = ["| topics of the model | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for label, cell in cells.items():
            values = " | ".join(cell(self.topics[name]) for name in names)
            lines.append(f"| {label.format(dup=dup)} | {values} |")
        return lines


def split_held_out(
    videos: pd.DataFrame, *, share: float = 0.1, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random ``share`` of videos held out for evaluation; the rest trains."""
    rng = np.random.default_rng(seed)
    test = rng.random(len(videos)) < share
    return videos[~test].reset_index(drop=True), videos[test].reset_index(drop=True)


def cluster_scores(
    x: np.ndarray, labels: pd.Series, *, seed: int, n_init: int = 3
) -> tuple[float, float] | None:
    """ARI and NMI of spherical K-means (K = number of classes) against ``labels`` (missing ignored)."""
    known = labels.notna().to_numpy()
    if known.sum() < 2:
        return None
    x = centred(x)
    truth = labels[known].astype(str).to_numpy()
    k = len(np.unique(truth))
    if k < 2:
        return None
    predicted = best_of_kmeans(x[known], k, seeds=range(seed, seed + n_init))
    return adjusted_rand_score(truth, predicted), normalized_mutual_info_score(truth, predicted)


def centred(x: np.ndarray) -> np.ndarray:
    """Unit rows minus their mean, so that no common direction dominates the cosine."""
    unit = l2_normalize(x)
    return l2_normalize(unit - unit.mean(axis=0))


def distance_ratio(x: np.ndarray, assignment: np.ndarray) -> float:
    """Mean cosine distance between cluster centres over mean distance of videos to their centre."""
    x = l2_normalize(x)
    clusters = np.unique(assignment)
    centres = l2_normalize(np.stack([x[assignment == c].mean(axis=0) for c in clusters]))
    lookup = {c: i for i, c in enumerate(clusters)}
    own = centres[[lookup[c] for c in assignment]]
    intra = float(np.mean(1.0 - np.sum(x * own, axis=1)))
    sims = centres @ centres.T
    upper = np.triu_indices(len(centres), k=1)
    inter = float(np.mean(1.0 - sims[upper])) if len(upper[0]) else 0.0
    return inter / max(intra, 1e-12)


def evaluate_representations(
    videos: pd.DataFrame,
    settings: LearningSettings,
    *,
    corpus: str,
    progress: bool = True,
    n_clusterings: int = 10,
) -> RepresentationReport:
    """Train on 90% of ``videos``, cluster the held-out 10% with each representation, score it."""
    train, test = split_held_out(videos, seed=settings.seed)
    notes: list[str] = []
    learned = learn_representations(train, settings, progress=progress)
    notes += learned.notes
    batch = settings.embed_batch_size

    reps: dict[str, np.ndarray] = {}
    with_image = has_covers(videos)
    if with_image:
        image = build_image_encoder(settings, image_size=settings.image_size)
        reps["image only"] = _encode_images(image, test, batch)
    text = build_text_encoder(settings, max_length=settings.text_max_length)
    reps[f"title only ({settings.text_model})"] = text.encode(
        test["title"].fillna("").astype(str).tolist(), batch_size=batch
    ).numpy()
    z, predicted = embed_videos_and_tags(
        learned.net,
        test,
        batch_size=batch,
        representation=settings.video_representation,
        tag_table=learned.labels.tag_table(learned.tag_embedding),
        progress=False,
    )
    reps["MMoE"] = z
    # the paper's rule on the same trained parts: equal halves, untagged videos zero
    paper = replace(learned, tag_half=TagHalf())
    tag_vectors = has_tags = None
    if learned.tag_embedding is not None:
        tag_vectors, has_tags = learned.tag_embedding.video_vectors([list(t) for t in test["tags"]])
        half = learned.tag_half
        reps["MMoE + tags"] = half.representation(z, tag_vectors, has_tags, predicted, learned.means)
        reps[PAPER_TAGS] = paper.tag_half.representation(z, tag_vectors, has_tags, None, paper.means)
        notes.append(f"{int((~has_tags).sum())} of {len(test)} held-out videos have no known tag")
        notes.append(
            f"MMoE + tags: tag weight {half.weight:g}, untagged videos {half.fill} (chosen on a validation "
            f"split of the training videos); {PAPER_TAGS}: the paper's equal halves, untagged zero"
        )

    rows = []
    for name, x in reps.items():
        primary = cluster_scores(x, test["primary_class"], seed=settings.seed)
        secondary = cluster_scores(x, test["secondary_class"], seed=settings.seed)
        rows.append(
            RepresentationScores(
                name=name,
                ari_primary=primary[0] if primary else None,
                nmi_primary=primary[1] if primary else None,
                ari_secondary=secondary[0] if secondary else None,
                nmi_secondary=secondary[1] if secondary else None,
            )
        )

    topics = _topic_quality_rows(train, test, learned, paper, settings, z, tag_vectors, has_tags, predicted)

    ratios: dict[str, list[float]] = {}
    fig3 = [("image" if with_image else "title", next(iter(reps.values())))]
    fig3.append(("image+title (MMoE)" if with_image else "title (MMoE)", reps["MMoE"]))
    if "MMoE + tags" in reps:
        fig3.append(("image+title+tags" if with_image else "title+tags", reps["MMoE + tags"]))
    k = max(2, int(test["secondary_class"].nunique()) or int(test["primary_class"].nunique()))
    for name, x in fig3:
        x = centred(x)
        ratios[name] = [
            distance_ratio(x, SphericalKMeans(n_clusters=k, seed=settings.seed + run).fit(x).predict(x))
            for run in range(n_clusterings)
        ]

    return RepresentationReport(
        corpus=corpus,
        n_train=len(train),
        n_test=len(test),
        n_primary=int(test["primary_class"].nunique()),
        n_secondary=int(test["secondary_class"].nunique()),
        text_model=settings.text_model,
        image_model=settings.image_model if with_image else None,
        frozen_encoders=settings.frozen_encoders,
        representation=settings.video_representation,
        rows=rows,
        topics=topics,
        distance_ratios=ratios,
        notes=notes,
    )


def _topic_quality_rows(
    train: pd.DataFrame,
    test: pd.DataFrame,
    learned: LearnedRepresentations,
    paper: LearnedRepresentations,
    settings: LearningSettings,
    z: np.ndarray,
    tag_vectors: np.ndarray | None,
    has_tags: np.ndarray | None,
    predicted: np.ndarray | None,
) -> dict[str, TopicQuality]:
    """The learned model's own topics on the held-out videos, next to the paper's rules.

    "paper rules": K-means with K centres, equal halves, tau_3 = 0.6; "this model": the defaults
    in ``settings`` (merged near-duplicates, chosen tag weight, calibrated tau_3 when auto).
    """
    paper_settings = settings.model_copy(update={"merge_threshold": 1.0, "topic_threshold": 0.6})
    variants = {
        "paper rules": (paper, paper_settings),
        "this model": (learned, settings),
    }
    duplicate = settings.merge_threshold if settings.merge_threshold < 1.0 else 0.8
    out = {}
    for name, (variant, variant_settings) in variants.items():
        model, _, _ = topics_from_representations(train, variant, variant_settings)
        a = model.tag_half.representation(z, tag_vectors, has_tags, predicted, model.means)
        video_topics = model.assign_representations(test["video_id"].to_numpy(), a)
        out[name] = topic_quality(
            np.stack(video_topics["topic_ids"].to_numpy()),
            model.centres,
            test,
            threshold=model.threshold,
            duplicate_cosine=duplicate,
        )
    return out


def _encode_images(image, videos: pd.DataFrame, batch_size: int) -> np.ndarray:
    covers = videos["cover"].tolist()
    out = np.zeros((len(covers), image.out_dim), dtype=np.float32)
    present = [i for i, c in enumerate(covers) if isinstance(c, str) and c]
    if present:
        out[present] = image.encode_paths([covers[i] for i in present], batch_size=batch_size).numpy()
    return out


def write_report(report: RepresentationReport, out_dir: Path) -> dict[str, Path]:
    """JSON, markdown and the Fig. 3 PNG for one corpus."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"representations-{report.corpus}-{_slug(report.text_model)}"
    paths = {
        "json": out_dir / f"{stem}.json",
        "markdown": out_dir / f"{stem}.md",
        "png": out_dir / f"{stem}.png",
    }
    paths["json"].write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False))
    paths["markdown"].write_text(report.markdown() + "\n")
    _plot_ratios(report, paths["png"])
    return paths


def _plot_ratios(report: RepresentationReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, values in report.distance_ratios.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", label=name)
    ax.set_xlabel("clustering run")
    ax.set_ylabel("mean inter / mean intra distance")
    ax.set_title(f"Fig. 3 analogue — {report.corpus}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def update_results_doc(doc: Path, report: RepresentationReport, figure: Path) -> None:
    """Replace (or add) this corpus/text-model section of docs/results.md, leaving the rest alone."""
    encoders = f"text `{report.text_model}`" + (
        f", image `{report.image_model}`" if report.image_model else ""
    )
    body = "\n".join(
        [
            f"### Table I analogue — {report.corpus} ({encoders})",
            "",
            f"Held-out {report.n_test} videos (trained on {report.n_train}); K-means with K = "
            f"{report.n_primary} primary (PC) / {report.n_secondary} secondary (SC) classes. Encoders "
            f"{'frozen, MMoE = expert mixture' if report.frozen_encoders else 'fine-tuned, MMoE = z'}.",
            "",
            report.markdown(),
            "",
            *[f"- {note}" for note in report.notes],
            "- Second table: the topics a model trained on the rest gives the held-out videos. paper rules: "
            "K-means with K = learning.n_topics (capped at one topic per "
            "learning.min_videos_per_topic videos), equal halves, tau_3 = 0.6; this model: the defaults "
            "(near-duplicate centres merged, tag weight chosen on validation, tau_3 calibrated to "
            "learning.target_topics_per_video). Purity: share of a topic's videos (by top topic) in its "
            "largest class; coverage: share of classes that are some topic's largest.",
            "",
            f"![Fig. 3 analogue]({figure.relative_to(doc.parent).as_posix()})",
        ]
    )
    replace_results_section(doc, f"representations:{report.corpus}:{_slug(report.text_model)}", body)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-")
