"""Offline evaluations of the ranking module: Table II, Fig. 5 and Fig. 6 analogues (paper section IV-C/D).

- :func:`evaluate_topic_features` (Table II): AUC of LR, EMLP, DCN and Wide&Deep without and with the
  topic features, trained on the earlier interactions and tested on the last period, over several seeds,
  with a paired bootstrap interval of the gain.
- :func:`evaluate_daily_updates` (Fig. 5): Wide&Deep initialised on day 1; then each day it predicts the
  next day and is updated with it. Baseline, Baseline+CNN (a 128-dim cover embedding as a dense input)
  and Baseline+Topic.
- :func:`measure_inference_cost` (Fig. 6): per-sample inference time on a batch of 600 candidates and
  model memory of the same three configurations, measured in one run.

Rows come from :func:`ranker.features.build_rows` (point in time, no Feast needed).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mtl.errors import DataError
from mtl.settings import Settings
from ranker.features import EncodedRows, FeatureEncoder, FeatureSpec, build_rows
from ranker.models import MODEL_KINDS, RankerConfig
from ranker.training import RankerTrainer, TrainingConfig

MODEL_LABELS = {"lr": "LR", "emlp": "EMLP", "dcn": "DCN", "wide_deep": "Wide&Deep"}
CNN_DIM = 128


# -- data -------------------------------------------------------------------------------------------


@dataclass
class RankingData:
    """A corpus ready for ranking evaluations."""

    name: str
    videos: pd.DataFrame
    rows: pd.DataFrame  # build_rows output, time-sorted
    topics_dir: Path
    notes: list[str] = field(default_factory=list)


def latest_topic_model(settings: Settings, corpus: str) -> Path:
    """The newest topic model directory of ``corpus`` (``<artifact_dir>/topics/<corpus>/<version>/``)."""
    from topic_learning.registry import ModelRegistry

    return ModelRegistry(settings.artifact_dir / "topics" / corpus).latest_with_topics(corpus)


def load_ranking_data(
    corpus: str, settings: Settings, *, max_users: int | None = None, seed: int = 0, progress: bool = False
) -> RankingData:
    """Interactions of ``corpus`` as ranker rows with the topics of its latest topic model.

    Parameters
    ----------
    corpus
        ``synthetic``, ``kuairec``, ``movielens`` or a data set directory.
    max_users
        Keep a random subset of this many users (their whole history), to bound the run time.
    seed
        Seeds the user subset.
    """
    from topic_learning.corpus import load_corpus
    from topic_learning.registry import VIDEO_TOPICS_FILE

    dataset = load_corpus(corpus, settings, progress=progress)
    if dataset.interactions is None or dataset.interactions.empty:
        raise DataError(f"corpus {dataset.name}: no interactions to evaluate a ranker on")
    topics_dir = latest_topic_model(settings, dataset.name)
    video_topics = pd.read_parquet(topics_dir / VIDEO_TOPICS_FILE)
    interactions = dataset.interactions
    notes = []
    if "click_rating" in dataset.params:
        notes.append(
            f"{dataset.name}: every rating is an exposure and a rating >= {dataset.params['click_rating']:g} "
            "a click (the loader's `clicked`); CTR is the share of high ratings among rated items, not of "
            "items shown"
        )
    users = interactions["user_id"].unique()
    if max_users and len(users) > max_users:
        keep = np.random.default_rng(seed).choice(users, size=max_users, replace=False)
        interactions = interactions[interactions["user_id"].isin(keep)]
        notes.append(
            f"a random {max_users} of {len(users)} users (all their interactions), to bound run time"
        )
    rows = build_rows(
        interactions,
        video_topics,
        history_clicks=settings.ranker.history_clicks,
        user_topic_slots=settings.ranker.top_topics,
        prior_strength=settings.stream.prior_strength,
    )
    return RankingData(
        name=dataset.name, videos=dataset.videos, rows=rows, topics_dir=topics_dir, notes=notes
    )


def chronological_split(
    rows: pd.DataFrame, *, test_share: float | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """Train on earlier rows, test on the last period.

    With several calendar days and no ``test_share``: the last day is the test period (the paper's
    4 + 1 days). Otherwise the last ``test_share`` of the rows in time (default 0.1).
    """
    ts = rows["ts"]
    days = ts.dt.floor("D")
    if test_share is None and 3 <= days.nunique() <= 60:
        last = days.max()
        return (days < last).to_numpy(), (days == last).to_numpy(), f"test = last day ({last.date()})"
    share = test_share or 0.1
    cut = ts.quantile(1.0 - share)
    return (
        (ts < cut).to_numpy(),
        (ts >= cut).to_numpy(),
        f"test = last {share:.0%} of interactions in time (from {cut.date()})",
    )


# -- metrics ----------------------------------------------------------------------------------------


def auc(y: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Area under the ROC curve (ties count one half), optionally with row weights."""
    y = np.asarray(y).astype(bool)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    _, inverse = np.unique(scores, return_inverse=True)
    neg = np.bincount(inverse, weights=w * ~y)
    pos = np.bincount(inverse, weights=w * y)
    below = np.cumsum(neg) - neg
    total = pos.sum() * neg.sum()
    return float(((below + 0.5 * neg) * pos).sum() / total) if total > 0 else float("nan")


def bootstrap_gain(
    y: np.ndarray,
    without: list[np.ndarray],
    with_: list[np.ndarray],
    *,
    n_boot: int = 300,
    seed: int = 0,
    max_rows: int = 60000,
) -> tuple[float, float, float]:
    """Mean AUC gain (with - without, averaged over seeds) and its paired 95% bootstrap interval.

    Test rows are resampled with replacement (Poisson weights); each resample re-scores every seed's
    pair of predictions on the same rows, so the interval covers test-set sampling, and the seed mean
    smooths training noise.
    """
    rng = np.random.default_rng(seed)
    n = len(y)
    pick = np.sort(rng.choice(n, size=max_rows, replace=False)) if n > max_rows else np.arange(n)
    y = np.asarray(y)[pick].astype(bool)
    prepared = []
    for a, b in zip(without, with_, strict=True):
        prepared.append(tuple(np.unique(np.asarray(p)[pick], return_inverse=True)[1] for p in (a, b)))

    def gain(w: np.ndarray) -> float:
        out = []
        for ia, ib in prepared:
            values = []
            for inverse in (ia, ib):
                neg = np.bincount(inverse, weights=w * ~y)
                pos = np.bincount(inverse, weights=w * y)
                below = np.cumsum(neg) - neg
                values.append(((below + 0.5 * neg) * pos).sum() / (pos.sum() * neg.sum()))
            out.append(values[1] - values[0])
        return float(np.mean(out))

    point = gain(np.ones(len(y)))
    draws = np.array([gain(rng.poisson(1.0, len(y)).astype(np.float64)) for _ in range(n_boot)])
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return point, float(lo), float(hi)


# -- Table II ---------------------------------------------------------------------------------------


@dataclass
class TopicFeatureRow:
    model: str
    auc_without: list[float]
    auc_with: list[float]
    gain: float
    gain_low: float
    gain_high: float

    @property
    def excludes_zero(self) -> bool:
        return self.gain_low > 0 or self.gain_high < 0

    @property
    def seed_wins(self) -> int:
        """Seeds where the model with topics beat the one without (same seed, same split)."""
        return sum(w > wo for w, wo in zip(self.auc_with, self.auc_without, strict=True))


@dataclass
class TopicFeatureReport:
    corpus: str
    split: str
    n_train: int
    n_test: int
    ctr_train: float
    ctr_test: float
    seeds: list[int]
    epochs: int
    rows: list[TopicFeatureRow]
    seconds: float
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        def cell(values: list[float]) -> str:
            return f"{100 * np.mean(values):.2f} ± {100 * np.std(values):.2f}"

        labels = [MODEL_LABELS[r.model] for r in self.rows]
        lines = [
            "| AUC(%) ↑ | " + " | ".join(labels) + " |",
            "|---|" + "---|" * len(labels),
            "| w/o topics | " + " | ".join(cell(r.auc_without) for r in self.rows) + " |",
            "| w/ topics | " + " | ".join(cell(r.auc_with) for r in self.rows) + " |",
            "| gain (pp) [95% CI] | "
            + " | ".join(
                f"{100 * r.gain:+.2f} [{100 * r.gain_low:+.2f}, {100 * r.gain_high:+.2f}]"
                + (" *" if r.excludes_zero else "")
                for r in self.rows
            )
            + " |",
            "| seeds where w/ > w/o | "
            + " | ".join(f"{r.seed_wins}/{len(r.auc_with)}" for r in self.rows)
            + " |",
        ]
        return "\n".join(lines)


def _encode_split(
    data: RankingData, spec: FeatureSpec, train: np.ndarray, test: np.ndarray, image=None
) -> tuple[FeatureEncoder, EncodedRows, EncodedRows]:
    rows = data.rows
    encoder = FeatureEncoder(spec).fit(rows[train], videos=data.videos, image_embeddings=image)
    return encoder, encoder.encode_rows(rows[train]), encoder.encode_rows(rows[test])


def evaluate_topic_features(
    data: RankingData,
    *,
    settings: Settings,
    kinds: tuple[str, ...] = MODEL_KINDS,
    seeds: tuple[int, ...] = (0, 1, 2),
    epochs: int = 1,
    test_share: float | None = None,
    n_boot: int = 300,
    progress: bool = False,
) -> TopicFeatureReport:
    """Table II analogue: each model without and with the topic features, same split, same seeds."""
    start = time.perf_counter()
    train, test, split = chronological_split(data.rows, test_share=test_share)
    y_train = data.rows["clicked"].to_numpy()[train].astype(np.float32)
    y_test = data.rows["clicked"].to_numpy()[test]
    predictions: dict[tuple[str, bool], list[np.ndarray]] = {}
    for use_topics in (False, True):
        spec = _spec(settings, use_topics=use_topics)
        encoder, enc_train, enc_test = _encode_split(data, spec, train, test)
        for kind in kinds:
            for seed in seeds:
                trainer = RankerTrainer(
                    model=RankerConfig(kind=kind), training=TrainingConfig(epochs=epochs, seed=seed)
                ).fit_encoded(enc_train, y_train, encoder=encoder)
                predictions.setdefault((kind, use_topics), []).append(trainer.predict_encoded(enc_test))
                if progress:
                    last = predictions[(kind, use_topics)][-1]
                    print(
                        f"  {kind} topics={use_topics} seed={seed}: AUC {auc(y_test, last):.4f}", flush=True
                    )
    out_rows = []
    for kind in kinds:
        without, with_ = predictions[(kind, False)], predictions[(kind, True)]
        gain, lo, hi = bootstrap_gain(y_test, without, with_, n_boot=n_boot)
        out_rows.append(
            TopicFeatureRow(
                model=kind,
                auc_without=[auc(y_test, p) for p in without],
                auc_with=[auc(y_test, p) for p in with_],
                gain=gain,
                gain_low=lo,
                gain_high=hi,
            )
        )
    return TopicFeatureReport(
        corpus=data.name,
        split=split,
        n_train=int(train.sum()),
        n_test=int(test.sum()),
        ctr_train=float(y_train.mean()),
        ctr_test=float(y_test.mean()),
        seeds=list(seeds),
        epochs=epochs,
        rows=out_rows,
        seconds=time.perf_counter() - start,
        notes=list(data.notes),
    )


def _spec(settings: Settings, *, use_topics: bool, image_dim: int = 0) -> FeatureSpec:
    return FeatureSpec(
        use_topics=use_topics,
        history_clicks=settings.ranker.history_clicks,
        topic_slots=settings.learning.topic_slots,
        user_topic_slots=settings.ranker.top_topics,
        image_dim=image_dim,
    )


# -- cover embeddings (Baseline+CNN) -----------------------------------------------------------------


def cover_embeddings(
    data: RankingData, *, dim: int = CNN_DIM, cache_dir: Path | None = None, progress: bool = False
) -> tuple[tuple[np.ndarray, np.ndarray], str]:
    """A ``dim``-wide CNN embedding of each video's cover, and how it was made.

    The topic model's image encoder f_C (its pooled features) encodes each cover once (cached under
    ``cache_dir`` by model version); PCA (fitted on all covers) reduces it to ``dim``, the paper's
    128-dim CNN feature. Videos without a cover get zeros.
    """
    from sklearn.decomposition import PCA

    from topic_learning.model import TopicModel

    version = data.topics_dir.name
    cache = Path(cache_dir) / f"cover-features-{data.name}-{version}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        stored = np.load(cache)
        ids, raw = stored["video_ids"], stored["features"].astype(np.float32)
    else:
        model = TopicModel.load(data.topics_dir)
        if not model.has_image or model.net.image is None:
            raise DataError(f"topic model {version} has no image encoder: no CNN features for {data.name}")
        videos = data.videos[data.videos["cover"].notna()]
        if videos.empty:
            raise DataError(f"{data.name}: no cover images for CNN features")
        ids = videos["video_id"].to_numpy(dtype=np.int64)
        raw = model.net.image.encode_paths(videos["cover"].tolist(), batch_size=128).numpy()
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache, video_ids=ids, features=raw.astype(np.float16))
    reduced = PCA(n_components=dim, random_state=0).fit_transform(raw).astype(np.float32)
    reduced /= reduced.std() + 1e-9
    how = f"PCA-{dim} of the topic model's image encoder (f_C, `{version}`) pooled cover features"
    return (ids, reduced), how


# -- Fig. 5 -----------------------------------------------------------------------------------------

CONFIGS = ("Baseline", "Baseline+CNN", "Baseline+Topic")


@dataclass
class DailyReport:
    corpus: str
    model: str
    days: list[str]
    rows_per_day: list[int]
    auc: dict[str, list[list[float]]]  # config -> per seed -> per evaluated day
    seeds: list[int]
    cnn: str
    seconds: float
    notes: list[str] = field(default_factory=list)

    def mean_auc(self, config: str) -> list[float]:
        return list(np.mean(np.asarray(self.auc[config]), axis=0))

    def markdown(self) -> str:
        eval_days = self.days[1:]
        lines = [
            "| AUC(%) | " + " | ".join(eval_days) + " | mean |",
            "|---|" + "---|" * (len(eval_days) + 1),
        ]
        for config, values in self.auc.items():
            per_day = np.asarray(values)
            cells = [
                f"{100 * m:.2f} ± {100 * s:.2f}" for m, s in zip(per_day.mean(0), per_day.std(0), strict=True)
            ]
            lines.append(f"| {config} | " + " | ".join(cells) + f" | {100 * per_day.mean():.2f} |")
        return "\n".join(lines)


def evaluate_daily_updates(
    data: RankingData,
    *,
    settings: Settings,
    kind: str = "wide_deep",
    seeds: tuple[int, ...] = (0,),
    max_days: int = 6,
    image: tuple[tuple[np.ndarray, np.ndarray], str] | None = None,
    progress: bool = False,
) -> DailyReport:
    """Fig. 5 analogue: initialise on day 1, then predict day d and update with it, for each later day."""
    start = time.perf_counter()
    rows = data.rows
    day = rows["ts"].dt.floor("D")
    days = sorted(day.unique())[:max_days]
    if len(days) < 2:
        raise DataError(f"{data.name}: needs at least 2 days of interactions for daily updates")
    image_ids, how = image if image is not None else (None, "")
    configs = {
        "Baseline": _spec(settings, use_topics=False),
        "Baseline+Topic": _spec(settings, use_topics=True),
    }
    if image_ids is not None:
        configs = {
            "Baseline": configs["Baseline"],
            "Baseline+CNN": _spec(settings, use_topics=False, image_dim=image_ids[1].shape[1]),
            "Baseline+Topic": configs["Baseline+Topic"],
        }
    masks = [(day == d).to_numpy() for d in days]
    result: dict[str, list[list[float]]] = {name: [] for name in configs}
    for name, spec in configs.items():
        for seed in seeds:
            trainer = RankerTrainer(
                spec=spec, model=RankerConfig(kind=kind), training=TrainingConfig(epochs=1, seed=seed)
            )
            trainer.fit(
                rows[masks[0]], videos=data.videos, image_embeddings=image_ids if spec.image_dim else None
            )
            scores = []
            for mask in masks[1:]:
                today = rows[mask]
                p = trainer.predict_proba(today)[:, 1]
                scores.append(auc(today["clicked"].to_numpy(), p))
                trainer.partial_fit(today)
            result[name].append(scores)
            if progress:
                print(f"  {name} seed={seed}: " + ", ".join(f"{s:.4f}" for s in scores), flush=True)
    return DailyReport(
        corpus=data.name,
        model=kind,
        days=[pd.Timestamp(d).date().isoformat() for d in days],
        rows_per_day=[int(m.sum()) for m in masks],
        auc=result,
        seeds=list(seeds),
        cnn=how,
        seconds=time.perf_counter() - start,
        notes=list(data.notes),
    )


def plot_daily(report: DailyReport, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    eval_days = report.days[1:]
    for config in report.auc:
        values = report.mean_auc(config)
        ax.plot(
            eval_days, [100 * v for v in values], marker="o", label=f"{config} ({100 * np.mean(values):.2f})"
        )
    ax.set_ylabel("AUC (%)")
    ax.set_xlabel("predicted day (model updated daily)")
    ax.set_title(f"Fig. 5 analogue — {report.corpus}, {MODEL_LABELS[report.model]}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# -- Fig. 6 -----------------------------------------------------------------------------------------


@dataclass
class CostRow:
    config: str
    ms_per_batch: float
    us_per_sample: float
    us_per_sample_forward: float
    parameter_bytes: int
    input_bytes_per_sample: float


@dataclass
class CostReport:
    corpus: str
    model: str
    batch: int
    repeats: int
    threads: int
    rows: list[CostRow]
    seconds: float
    notes: list[str] = field(default_factory=list)

    def increments(self) -> dict[str, dict[str, float]]:
        base = self.rows[0]
        out = {}
        for r in self.rows[1:]:
            out[r.config] = {
                "us_per_sample": r.us_per_sample - base.us_per_sample,
                "us_per_sample_forward": r.us_per_sample_forward - base.us_per_sample_forward,
                "parameter_bytes": r.parameter_bytes - base.parameter_bytes,
                "input_bytes_per_sample": r.input_bytes_per_sample - base.input_bytes_per_sample,
            }
        return out

    def markdown(self) -> str:
        lines = [
            "| config | µs/sample (score) | µs/sample (forward) | parameters (KiB) | input bytes/sample |",
            "|---|---|---|---|---|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r.config} | {r.us_per_sample:.2f} | {r.us_per_sample_forward:.2f} | "
                f"{r.parameter_bytes / 1024:.1f} | {r.input_bytes_per_sample:.0f} |"
            )
        inc = self.increments()
        if "Baseline+CNN" in inc and "Baseline+Topic" in inc:
            cnn, topic = inc["Baseline+CNN"], inc["Baseline+Topic"]

            def ratio(key: str) -> str:
                return f"{cnn[key] / topic[key]:.2f}" if topic[key] > 0 else "n/a"

            lines += [
                "",
                "| increment over Baseline | µs/sample (score) | µs/sample (forward) | parameters (KiB) "
                "| input bytes/sample |",
                "|---|---|---|---|---|",
            ]
            for name, d in inc.items():
                lines.append(
                    f"| {name} | {d['us_per_sample']:+.2f} | {d['us_per_sample_forward']:+.2f} | "
                    f"{d['parameter_bytes'] / 1024:+.1f} | {d['input_bytes_per_sample']:+.0f} |"
                )
            lines.append(
                f"| ratio CNN / Topic | {ratio('us_per_sample')} | {ratio('us_per_sample_forward')} | "
                f"{ratio('parameter_bytes')} | {ratio('input_bytes_per_sample')} |"
            )
        return "\n".join(lines)


def _candidate_batch(rows: pd.DataFrame, *, size: int, settings: Settings):
    """One request of ``size`` candidates of one user, from real rows, shaped as the online fetch."""
    from mtl.features.fetch import CandidateFeatures
    from ranker.features import raw_from_frame

    user_id = int(rows["user_id"].iloc[-1])
    user_row = rows[rows["user_id"] == user_id].iloc[-1]
    sample = rows.iloc[-size:]
    spec = _spec(settings, use_topics=True)
    raw = raw_from_frame(sample, spec)
    user_top = raw_from_frame(user_row.to_frame().T.reset_index(drop=True), spec).user_top_topics[0]
    features = CandidateFeatures(
        video_ids=raw.video_id,
        topic_ids=raw.topic_ids,
        topic_scores=raw.topic_scores,
        n_topics=(raw.topic_ids >= 0).sum(axis=1),
        exposures=raw.exposures.astype(np.int64),
        clicks=raw.clicks.astype(np.int64),
        ctr=raw.ctr.astype(np.float32),
        topics_found=(raw.topic_ids >= 0).any(axis=1),
        stats_found=raw.stats_found,
        user_top_topics=user_top,
        user_recent_clicks=int(user_row["recent_clicks"]),
        user_found=True,
    )
    return user_id, [int(v) for v in user_row["recent_click_ids"]], features


def measure_inference_cost(
    data: RankingData,
    *,
    settings: Settings,
    image: tuple[tuple[np.ndarray, np.ndarray], str],
    kind: str = "wide_deep",
    batch: int = 600,
    repeats: int = 200,
    train_rows: int = 50000,
) -> CostReport:
    """Fig. 6 analogue: time per sample and memory of Baseline, Baseline+CNN and Baseline+Topic.

    Each configuration is trained briefly (inference cost does not depend on how well), then scores the
    same request of ``batch`` candidates ``repeats`` times, interleaved across configurations so that
    machine load hits all three alike; medians are reported. "score" is the whole
    :meth:`ranker.scorer.ModelScorer.score` call (feature encoding + forward), "forward" the network only.
    """
    from ranker.scorer import ModelScorer

    start = time.perf_counter()
    image_ids, how = image
    rows = data.rows.iloc[:train_rows]
    configs = {
        "Baseline": _spec(settings, use_topics=False),
        "Baseline+CNN": _spec(settings, use_topics=False, image_dim=image_ids[1].shape[1]),
        "Baseline+Topic": _spec(settings, use_topics=True),
    }
    user_id, clicks, features = _candidate_batch(data.rows, size=batch, settings=settings)
    scorers, encoded = {}, {}
    for name, spec in configs.items():
        trainer = RankerTrainer(spec=spec, model=RankerConfig(kind=kind), training=TrainingConfig(epochs=1))
        trainer.fit(rows, videos=data.videos, image_embeddings=image_ids if spec.image_dim else None)
        scorers[name] = ModelScorer(trainer)
        encoded[name] = trainer.encoder_.encode_candidates(
            user_id=user_id, recent_clicks=clicks, features=features
        )
    times = {name: [] for name in configs}
    forward = {name: [] for name in configs}
    with torch.inference_mode():
        for _ in range(repeats):
            for name, scorer in scorers.items():
                t0 = time.perf_counter()
                scorer.score(user_id=user_id, recent_clicks=clicks, features=features)
                times[name].append(time.perf_counter() - t0)
                tensors = encoded[name].tensors()
                t0 = time.perf_counter()
                scorer.trainer.model_(tensors)
                forward[name].append(time.perf_counter() - t0)
    out = []
    for name, scorer in scorers.items():
        enc = encoded[name]
        input_bytes = sum(v.nbytes for v in asdict_arrays(enc)) / batch
        out.append(
            CostRow(
                config=name,
                ms_per_batch=1e3 * float(np.median(times[name])),
                us_per_sample=1e6 * float(np.median(times[name])) / batch,
                us_per_sample_forward=1e6 * float(np.median(forward[name])) / batch,
                parameter_bytes=scorer.trainer.model_.parameter_bytes(),
                input_bytes_per_sample=input_bytes,
            )
        )
    notes = [
        f"CNN feature: {how}",
        "history input is the user's click list, shared by all candidates of a request but counted per row",
        f"trained on the first {len(rows)} rows only: cost does not depend on accuracy",
    ]
    return CostReport(
        corpus=data.name,
        model=kind,
        batch=batch,
        repeats=repeats,
        threads=torch.get_num_threads(),
        rows=out,
        seconds=time.perf_counter() - start,
        notes=notes,
    )


def asdict_arrays(encoded: EncodedRows) -> list[np.ndarray]:
    """The arrays of encoded rows (for their memory footprint)."""
    return [v for v in vars(encoded).values() if isinstance(v, np.ndarray)]


# -- reports ----------------------------------------------------------------------------------------


def _jsonable(report) -> dict:
    data = asdict(report)
    if isinstance(report, TopicFeatureReport):
        for row, obj in zip(data["rows"], report.rows, strict=True):
            row["excludes_zero"] = obj.excludes_zero
    if isinstance(report, CostReport):
        data["increments"] = report.increments()
    return data


def write_json(report, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(report), indent=2, default=str) + "\n")
    return path


def table2_section(report: TopicFeatureReport) -> str:
    stars = any(r.excludes_zero for r in report.rows)
    notes = [
        f"{report.split}; train {report.n_train} rows (CTR {report.ctr_train:.3f}), "
        f"test {report.n_test} rows (CTR {report.ctr_test:.3f}); mean ± std over seeds {report.seeds}, "
        f"{report.epochs} epoch(s) of Adam.",
        "Gain: seed-averaged AUC(w/) − AUC(w/o) in percentage points with a paired 95% bootstrap interval "
        "over test rows"
        + ("; * = the interval excludes zero." if stars else "; no interval excludes zero.")
        + " The interval holds the models fixed: it does not cover retraining noise, which the seed "
        "spread and the seed wins show.",
        "Topic features: the candidate's topic IDs (8 slots), the user's top N2 topics (point in time), "
        "slots filled, mean topic score, share of the user's top topics the candidate has.",
        *report.notes,
        f"Run time {report.seconds:.0f} s.",
    ]
    return "\n".join(
        [f"### Table II analogue — {report.corpus}", "", report.markdown(), "", *[f"- {n}" for n in notes]]
    )


def daily_section(report: DailyReport, figure: Path, doc: Path) -> str:
    notes = [
        f"{MODEL_LABELS[report.model]} initialised on {report.days[0]} ({report.rows_per_day[0]} rows), "
        f"then each day predicted before being trained on (one pass); {len(report.days) - 1} predicted days; "
        f"mean ± std "
        f"over seeds {report.seeds}.",
        f"Baseline+CNN: {report.cnn}."
        if report.cnn
        else "Baseline+CNN: not available (no cover embeddings).",
        *report.notes,
        f"Run time {report.seconds:.0f} s.",
    ]
    rel = figure.relative_to(doc.parent).as_posix() if figure.is_relative_to(doc.parent) else str(figure)
    return "\n".join(
        [
            f"### Fig. 5 analogue — {report.corpus} (daily updates)",
            "",
            report.markdown(),
            "",
            *[f"- {n}" for n in notes],
            "",
            f"![Fig. 5 analogue]({rel})",
        ]
    )


def cost_section(report: CostReport) -> str:
    notes = [
        f"{MODEL_LABELS[report.model]}; one request of {report.batch} candidates scored {report.repeats} "
        "times per "
        f"configuration (interleaved), median; torch threads {report.threads}; measured in one run.",
        *report.notes,
        f"Run time {report.seconds:.0f} s.",
    ]
    return "\n".join(
        [
            f"### Fig. 6 analogue — {report.corpus} (inference cost)",
            "",
            report.markdown(),
            "",
            *[f"- {n}" for n in notes],
        ]
    )


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
