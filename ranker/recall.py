"""Offline recall@N3 of topic-queue candidate generation on a held-out period, against global queues.

The interactions are split in time: the last ``test_share`` of the time span is held out. From the training
period alone, and by the stream's own rules (:func:`streams.queues.recompute_queues`: Beta-smoothed CTR,
τ1/τ2, fresh share, queue length), every topic's queue is built; a video with fewer than τ1 training
exposures is fresh. Videos published before the cut without an exposure join their topics' fresh parts.
A user's topic counts come from their last N1 training clicks, and those clicks are their click list.

For each user with test clicks, the targets are the distinct videos they clicked in the test period and had
not clicked in training; ``recall = |candidates ∩ targets| / |targets|``, averaged over users. Methods, each
giving N3 videos that are not in the user's click list:

- ``topic queues``: :func:`ranker.candidates.reference_candidates` (what the Lua script returns); users
  without training clicks get the cold-start queue (:func:`streams.global_queue.global_queue`);
- ``global CTR``: the N3 videos of best smoothed CTR among those with at least τ1 training exposures;
- ``global popularity``: the N3 most clicked videos of the training period;
- ``random``: N3 videos drawn uniformly from those known before the cut (seeded);
- ``..., same count``: the global queues cut to as many videos as the topic queues gave that user (short
  topic queues can give far fewer than N3).

``reachable`` is the share of targets known before the cut at all (a later video cannot be recalled by any
method).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mtl.errors import DataError
from mtl.results import replace_results_section
from mtl.settings import Settings
from ranker.candidates import reference_candidates
from streams.global_queue import GLOBAL_TOPIC, global_queue
from streams.queues import fit_prior, recompute_queues, smoothed_ctr, topics_of

METHODS = (
    "topic queues",
    "global CTR",
    "global popularity",
    "random",
    "global CTR, same count",
    "global popularity, same count",
)


@dataclass(frozen=True)
class RecallConfig:
    """How the offline recall evaluation splits and samples.

    Attributes
    ----------
    test_share
        Share of the interactions' time span (the latest part) held out.
    seed
        Seed of the random baseline.
    """

    test_share: float = 0.2
    seed: int = 0


@dataclass
class RecallReport:
    corpus: str
    model_version: str
    n: int
    top_topics: int
    history_clicks: int
    cutoff: str
    train_interactions: int
    test_interactions: int
    users: int
    warm_users: int
    topics_with_queue: int
    mean_queue_length: float
    mean_candidates: float
    reachable: float
    recall: dict[str, dict[str, float | None]]
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        def pct(value: float | None) -> str:
            return "–" if value is None else f"{100 * value:.1f}"

        cold = self.users - self.warm_users
        lines = [
            f"| recall@{self.n} (%) | all users ({self.users}) | with training clicks ({self.warm_users}) "
            f"| without ({cold}) |",
            "|---|---|---|---|",
        ]
        for method in METHODS:
            r = self.recall[method]
            lines.append(f"| {method} | {pct(r['all'])} | {pct(r['warm'])} | {pct(r['cold'])} |")
        return "\n".join(lines)


def split_by_time(interactions: pd.DataFrame, *, test_share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows before the cut, test rows from it on; the cut is ``test_share`` of the span from the
    end."""
    if not 0.0 < test_share < 1.0:
        raise DataError(f"test_share must be between 0 and 1, got {test_share}")
    if interactions.empty:
        raise DataError("no interactions to split")
    ts = interactions["ts"]
    cutoff = ts.max() - (ts.max() - ts.min()) * test_share
    return interactions[ts < cutoff], interactions[ts >= cutoff]


def _last_clicks(train: pd.DataFrame, history: int) -> dict[int, list[int]]:
    clicks = train[train["clicked"]].sort_values(["ts", "video_id"], ascending=False, kind="stable")
    return {int(u): g["video_id"].head(history).astype(int).tolist() for u, g in clicks.groupby("user_id")}


def _recall(candidates, targets: set[int]) -> float:
    return len(targets.intersection(np.asarray(candidates).tolist())) / len(targets)


def _top_excluding(ranked: list[int], excluded: set[int], n: int) -> list[int]:
    out: list[int] = []
    if n <= 0:
        return out
    for v in ranked:
        if v not in excluded:
            out.append(v)
            if len(out) == n:
                break
    return out


def evaluate_recall(
    interactions: pd.DataFrame,
    videos: pd.DataFrame,
    video_topics: pd.DataFrame,
    settings: Settings,
    *,
    config: RecallConfig | None = None,
    corpus: str = "",
    model_version: str = "",
) -> RecallReport:
    """Recall@N3 of the topic queues and of the baselines (module docstring).

    Parameters
    ----------
    interactions : pd.DataFrame
        The canonical table: ``user_id``, ``video_id``, ``ts``, ``clicked`` (one row per exposure).
    videos : pd.DataFrame
        ``video_id`` and ``published_at``.
    video_topics : pd.DataFrame
        ``video_id`` and ``topic_ids`` (-1 padded), as written by ``mtl learn``.
    settings : Settings
        ``ranker`` (N1, N2, N3) and ``stream`` (queue rules).
    config : RecallConfig, optional
        Split share and seed.

    Returns
    -------
    RecallReport
    """
    config = config or RecallConfig()
    r, s = settings.ranker, settings.stream
    n = r.candidates
    train, test = split_by_time(interactions, test_share=config.test_share)
    cutoff = test["ts"].min()
    published = videos.loc[videos["published_at"] < cutoff, "video_id"].astype(int)
    known = set(published.tolist()) | set(train["video_id"].astype(int).tolist())

    topics = topics_of(video_topics)
    counts, queues = recompute_queues(train, topics, s, videos=published.tolist())
    fresh = {t: {v for v in q if counts[v][0] < s.min_exposures} for t, q in queues.items()}
    lists = {t: list(q.items()) for t, q in queues.items()}
    cold_queue, cold_fresh = global_queue(lists, fresh, s)
    lists[GLOBAL_TOPIC], fresh[GLOBAL_TOPIC] = cold_queue, cold_fresh

    total_e = sum(e for e, _ in counts.values())
    prior = fit_prior(total_e, sum(c for _, c in counts.values()), s.prior_strength)
    by_ctr = sorted(
        (v for v, (e, _) in counts.items() if e >= s.min_exposures),
        key=lambda v: (-smoothed_ctr(*counts[v], prior), v),
    )
    by_clicks = sorted((v for v, (_, c) in counts.items() if c > 0), key=lambda v: (-counts[v][1], v))
    pool = np.array(sorted(known), dtype=np.int64)
    rng = np.random.default_rng(config.seed)

    history = _last_clicks(train, r.history_clicks)
    all_train_clicks = train[train["clicked"]].groupby("user_id")["video_id"].agg(set).to_dict()
    test_clicks = test[test["clicked"]].groupby("user_id")["video_id"].agg(set).to_dict()

    scores: dict[str, dict[str, list[float]]] = {m: {"warm": [], "cold": []} for m in METHODS}
    sizes, reachable, n_targets = [], 0, 0
    for user, clicked_later in sorted(test_clicks.items()):
        targets = {int(v) for v in clicked_later} - {int(v) for v in all_train_clicks.get(user, ())}
        if not targets:
            continue
        reachable += len(targets & known)
        n_targets += len(targets)
        clicked = history.get(int(user), [])
        excluded = set(clicked)
        votes = Counter(t for v in clicked for t in topics.get(v, ()))
        cands = reference_candidates(
            votes, clicked, lists, fresh, n=n, top_topics=r.top_topics, fresh_share=s.fresh_share
        )
        sizes.append(len(cands))
        group = "warm" if clicked else "cold"
        scores["topic queues"][group].append(_recall(cands.video_ids, targets))
        scores["global CTR"][group].append(_recall(_top_excluding(by_ctr, excluded, n), targets))
        scores["global popularity"][group].append(_recall(_top_excluding(by_clicks, excluded, n), targets))
        drawn = rng.choice(pool, size=min(len(pool), n + len(excluded)), replace=False)
        scores["random"][group].append(_recall(_top_excluding(drawn.tolist(), excluded, n), targets))
        k = len(cands)
        scores["global CTR, same count"][group].append(_recall(_top_excluding(by_ctr, excluded, k), targets))
        scores["global popularity, same count"][group].append(
            _recall(_top_excluding(by_clicks, excluded, k), targets)
        )

    def mean(values: list[float]) -> float | None:
        return float(np.mean(values)) if values else None

    recall = {
        m: {
            "all": mean(g["warm"] + g["cold"]),
            "warm": mean(g["warm"]),
            "cold": mean(g["cold"]),
        }
        for m, g in scores.items()
    }
    users = len(sizes)
    warm = len(scores["topic queues"]["warm"])
    notes = [
        f"held out: interactions from {cutoff} on (last {100 * config.test_share:.0f}% of the time span)",
        f"{100 * reachable / max(n_targets, 1):.1f}% of the {n_targets} held-out clicks (new to their user) "
        "are on videos known before the cut; no method can recall the rest",
    ]
    if not users:
        notes.append("no user has held-out clicks on videos new to them")
    elif warm < 50:
        notes.append(
            f"only {warm} users have both training and held-out clicks: the middle column rests on few users"
        )
    return RecallReport(
        corpus=corpus,
        model_version=model_version,
        n=n,
        top_topics=r.top_topics,
        history_clicks=r.history_clicks,
        cutoff=str(cutoff),
        train_interactions=len(train),
        test_interactions=len(test),
        users=users,
        warm_users=warm,
        topics_with_queue=sum(1 for t, q in queues.items() if q),
        mean_queue_length=float(np.mean([len(q) for q in queues.values()])) if queues else 0.0,
        mean_candidates=float(np.mean(sizes)) if sizes else 0.0,
        reachable=reachable / n_targets if n_targets else 0.0,
        recall=recall,
        notes=notes,
    )


def latest_video_topics(settings: Settings, corpus: str) -> tuple[pd.DataFrame, str]:
    """``video_topics`` of the latest topic model of ``corpus`` and its model version."""
    from topic_learning.registry import VIDEO_TOPICS_FILE, ModelRegistry

    latest = ModelRegistry(settings.artifact_dir / "topics" / corpus).latest_with_topics(corpus)
    return pd.read_parquet(latest / VIDEO_TOPICS_FILE), latest.name


def write_recall_report(report: RecallReport, out_dir: Path) -> dict[str, Path]:
    """JSON and markdown of one corpus under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / f"recall-{report.corpus}.json",
        "markdown": out_dir / f"recall-{report.corpus}.md",
    }
    paths["json"].write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False))
    paths["markdown"].write_text(report.markdown() + "\n")
    return paths


def results_section(report: RecallReport) -> str:
    """The docs/results.md section body (between the ``recall:<corpus>`` markers)."""
    return "\n".join(
        [
            f"### Candidate generation recall — {report.corpus} (topics `{report.model_version}`)",
            "",
            f"Recall@{report.n} of the held-out clicks: candidates from the queues of each user's top "
            f"{report.top_topics} topics over their last {report.history_clicks} training clicks (queues "
            f"built from the training period by the stream's rules: {report.topics_with_queue} topics, "
            f"mean length {report.mean_queue_length:.0f}; {report.mean_candidates:.0f} candidates per user "
            f"on average), against global queues of the same size. Trained on {report.train_interactions} "
            f"interactions, tested on {report.test_interactions}.",
            "",
            report.markdown(),
            "",
            *[f"- {note}" for note in report.notes],
        ]
    )


def update_recall_doc(doc: Path, report: RecallReport) -> None:
    """Replace (or add) the ``recall:<corpus>`` section of docs/results.md, leaving the rest alone."""
    replace_results_section(doc, f"recall:{report.corpus}", results_section(report))
