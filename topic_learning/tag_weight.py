"""How much the tag half of ``a`` may say, chosen on videos whose classes are known.

The paper weighs z and the tag vector equally. That is right where tags are topical, and wrong
where they are not (colours, formats, sparse entity links) or where many videos have none: the tag
half then adds noise, or splits tagged from untagged videos. Here the weight ``w`` of the tag half
and what an untagged video gets in it (nothing, or the tag vector the MMoE's tag task predicts from
its cover and title) are chosen from a small grid that includes ``w = 0``, by how well a validation
split of the training videos -- held out of MMoE training -- keeps its known classes together:
the share of validation videos whose nearest neighbours share their class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from topic_learning.clustering import HalfMeans, l2_normalize, topic_representation

UntaggedFill = Literal["zero", "predicted"]
FILLS: tuple[UntaggedFill, ...] = ("zero", "predicted")

# Tags must raise the validation score (class agreement of nearest neighbours) by this much over
# w = 0 to be used at all, and a heavier tag half must beat a lighter one by as much.
MIN_GAIN = 0.01
MAX_VALIDATION = 5000


def fill_untagged(
    tag_vectors: np.ndarray, has_tags: np.ndarray, predicted: np.ndarray | None, fill: UntaggedFill
) -> np.ndarray:
    """Tag vectors with the rows of untagged videos set by ``fill`` (a zero row says nothing)."""
    if fill == "zero" or predicted is None:
        return np.where(has_tags[:, None], tag_vectors, 0.0).astype(np.float32)
    return np.where(has_tags[:, None], tag_vectors, predicted).astype(np.float32)


@dataclass(frozen=True)
class TagHalf:
    """How the tag half enters ``a``: its weight and what untagged videos get (the paper: 1, zero)."""

    weight: float = 1.0
    fill: UntaggedFill = "zero"

    def fill_vectors(
        self, tag_vectors: np.ndarray, has_tags: np.ndarray, predicted: np.ndarray | None
    ) -> np.ndarray:
        return fill_untagged(tag_vectors, has_tags, predicted, self.fill)

    def representation(
        self,
        z: np.ndarray,
        tag_vectors: np.ndarray | None,
        has_tags: np.ndarray | None,
        predicted: np.ndarray | None,
        means: HalfMeans | None,
    ) -> np.ndarray:
        """``a`` of each video; ``tag_vectors`` None: a corpus without tags, z alone."""
        if tag_vectors is None or has_tags is None:
            return topic_representation(z, None, means)
        filled = self.fill_vectors(tag_vectors, has_tags, predicted)
        return topic_representation(z, filled, means, tag_weight=self.weight)


@dataclass(frozen=True)
class TagWeightChoice:
    """The chosen weight and fill, and the validation score of every candidate.

    Attributes
    ----------
    weight : float
        w, the weight of the tag half.
    fill : {"zero", "predicted"}
        What an untagged video has in the tag half.
    scores : dict of str to float
        Validation score (:func:`class_agreement`) of each ``"w=<w> <fill>"``.
    n_validation : int
        Validation videos the scores rest on.
    """

    weight: float
    fill: UntaggedFill
    scores: dict[str, float] = field(default_factory=dict)
    n_validation: int = 0

    @property
    def half(self) -> TagHalf:
        return TagHalf(weight=self.weight, fill=self.fill)

    @property
    def gain(self) -> float:
        """Validation score of the choice over w = 0."""
        return self.scores.get(_key(self.weight, self.fill), 0.0) - self.scores.get(_key(0.0, "zero"), 0.0)


def choose_tag_weight(
    z: np.ndarray,
    tag_vectors: np.ndarray,
    has_tags: np.ndarray,
    predicted: np.ndarray | None,
    classes: pd.DataFrame,
    *,
    train: np.ndarray,
    validation: np.ndarray,
    grid: Sequence[float],
    fills: Sequence[UntaggedFill] = FILLS,
    max_validation: int = MAX_VALIDATION,
    seed: int = 0,
) -> TagWeightChoice:
    """Score every (weight, fill) on the validation videos and keep the best.

    Parameters
    ----------
    z : ndarray of shape (n, d_z)
        Video vectors of all videos (the MMoE never trained on the validation rows).
    tag_vectors, has_tags
        Mean tag vectors and whether each video has a known tag.
    predicted : ndarray of shape (n, d_t) or None
        Tag vectors predicted by the tag task; None tries only the zero fill.
    classes : DataFrame
        The videos' class columns (e.g. ``primary_class``, ``secondary_class``); nulls allowed.
    train, validation : ndarray of int
        Rows the half means are fitted on, and rows scored.
    grid : sequence of float
        Candidate weights; 0 is always tried.
    fills : sequence of {"zero", "predicted"}
        Candidate fills of untagged videos' tag half ("predicted" only when ``predicted`` is given).
    max_validation : int
        Most validation videos scored (a random sample of them above; the score is quadratic).
    seed : int
        Seed of that sample.

    Returns
    -------
    TagWeightChoice
        ``w = 0`` unless the best candidate beats it by :data:`MIN_GAIN`; else the smallest weight
        within :data:`MIN_GAIN` of the best (its best fill).
    """
    if len(validation) > max_validation:
        rng = np.random.default_rng(seed)
        validation = np.sort(rng.choice(validation, size=max_validation, replace=False))
    weights = sorted({float(w) for w in grid if w > 0})
    fills = [f for f in fills if f == "zero" or predicted is not None] or ["zero"]
    val_classes = classes.iloc[validation]
    # w = 0: the tag half says nothing, whatever the fill (the MMoE representation alone)
    alone = topic_representation(z[validation], None, HalfMeans.fit(z[train], None))
    scores: dict[str, float] = {_key(0.0, "zero"): class_agreement(alone, val_classes)}
    val_predicted = predicted[validation] if predicted is not None else None
    for fill in fills:
        means = HalfMeans.fit(z[train], fill_untagged(tag_vectors, has_tags, predicted, fill)[train])
        for w in weights:
            half = TagHalf(weight=w, fill=fill)
            a = half.representation(
                z[validation], tag_vectors[validation], has_tags[validation], val_predicted, means
            )
            scores[_key(w, fill)] = class_agreement(a, val_classes)
    weight, fill = pick_tag_weight(scores)
    return TagWeightChoice(weight=weight, fill=fill, scores=scores, n_validation=len(validation))


def pick_tag_weight(scores: dict[str, float]) -> tuple[float, UntaggedFill]:
    """The choice among scored candidates (keys ``"w=<w> <fill>"``, ``"w=0 zero"`` among them).

    ``w = 0`` unless the best beats it by :data:`MIN_GAIN`; else the smallest weight within
    :data:`MIN_GAIN` of the best: where the evidence cannot tell two weights apart, tags (often
    missing, often echoing the classes) should not crowd out z.
    """
    best = max(scores.values())
    if best - scores[_key(0.0, "zero")] < MIN_GAIN:
        return 0.0, "zero"
    near = [key for key in scores if scores[key] >= best - MIN_GAIN]
    return _parse(min(near, key=lambda key: (_parse(key)[0], -scores[key])))


def class_agreement(a: np.ndarray, classes: pd.DataFrame, *, neighbours: int = 10) -> float:
    """Share of videos whose ``neighbours`` nearest videos (cosine) vote for their own class.

    Averaged over the class levels (columns) with at least two classes; videos without a class are
    left out. Unlike a K-means score it has no optimiser luck in it: two weights compared on the
    same videos differ only by what the weights do to the neighbourhoods.
    """
    values = []
    for column in classes.columns:
        known = classes[column].notna().to_numpy()
        _, truth = np.unique(classes[column][known].astype(str).to_numpy(), return_inverse=True)
        n, n_classes = len(truth), int(truth.max(initial=-1)) + 1
        if n_classes < 2 or n <= neighbours:
            continue
        x = l2_normalize(a[known])
        sim = x @ x.T
        np.fill_diagonal(sim, -np.inf)
        nearest = np.argpartition(-sim, neighbours, axis=1)[:, :neighbours]
        votes = np.bincount(
            (np.arange(n)[:, None] * n_classes + truth[nearest]).ravel(), minlength=n * n_classes
        ).reshape(n, n_classes)
        values.append(float((votes.argmax(axis=1) == truth).mean()))
    return float(np.mean(values)) if values else 0.0


def _key(weight: float, fill: str) -> str:
    return f"w={weight:g} {fill}"


def _parse(key: str) -> tuple[float, UntaggedFill]:
    weight, fill = key.split(" ")
    return float(weight.removeprefix("w=")), fill  # type: ignore[return-value]
