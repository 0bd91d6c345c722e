"""How strongly a data set carries its classes, in numbers: the planted structure of a synthetic corpus.

:func:`planted_structure` measures, from a generated data set (and the ground truth the generator
writes next to it), what share of videos is untagged, how pure tags are, how often titles and
covers follow the class, how users' preferences are shaped and how CTR depends on them. It also
works on a real data set such as KuaiRec, where only the tag numbers have a meaning, which gives
the synthetic numbers something to be compared with.

:func:`modality_probe` adds how well a linear classifier tells the class from each modality.

Run ``python -m topic_learning.data.synthetic_stats --probe --dataset kuairec`` to print the table
of ``docs/synthetic.md`` (both presets at the demo size, seed 0, and KuaiRec); ``--help`` lists
the options.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mtl.errors import DataError
from topic_learning.data.dataset import Dataset
from topic_learning.data.synthetic import PRESETS, TAXONOMY, SyntheticConfig, generate, load_truth, motif_of

Number = int | float | str | None

LABELS: dict[str, str] = {
    "preset": "preset",
    "videos": "videos",
    "users": "users",
    "exposures": "exposures",
    "untagged_share": "untagged videos (share)",
    "mean_tags_per_tagged_video": "tags per tagged video (mean)",
    "distinct_tags": "distinct tags",
    "rare_tag_share": "tags used by 1-3 videos (share of distinct tags)",
    "multi_class_tag_share": "tags used in 2+ secondary classes (share of distinct tags)",
    "multi_class_use_share": "tag uses of such tags (share of uses)",
    "tags_naming_a_class": "distinct tags equal to a class name",
    "tag_purity_mean": "tag purity, mean (weighted by uses)",
    "tag_purity_q10": "tag purity, 10% quantile",
    "tag_purity_q25": "tag purity, 25% quantile",
    "tag_purity_median": "tag purity, median",
    "tag_purity_q75": "tag purity, 75% quantile",
    "tag_purity_q90": "tag purity, 90% quantile",
    "tag_purity_chance": "tag purity by chance (largest class's share of uses)",
    "first_tag_own_class": "first tag's dominant class is the video's (share of tagged)",
    "title_own_keyword_share": "titles with a keyword of their own class",
    "title_other_keyword_only_share": "titles with keywords of other classes only",
    "title_no_keyword_share": "titles with no class keyword",
    "cover_palette_follows_primary": "covers with their primary class's palette",
    "cover_motif_follows_secondary": "covers with their secondary class's motif",
    "cover_faint_share": "covers drawn faintly",
    "subtopics": "subtopics (with videos)",
    "subtopics_per_class": "subtopics per secondary class",
    "mean_preferred_subtopics": "preferred subtopics per user (mean)",
    "users_with_2plus_subtopics": "users preferring 2+ subtopics (share)",
    "ctr": "CTR, overall",
    "ctr_subtopic": "CTR, video of a preferred subtopic",
    "ctr_class": "CTR, other subtopic of a preferred class",
    "ctr_primary": "CTR, sibling class of a preferred class",
    "ctr_other": "CTR, anything else",
    "exposure_share_subtopic": "exposures: preferred subtopic (share)",
    "exposure_share_class": "exposures: other subtopic, preferred class",
    "exposure_share_primary": "exposures: sibling class",
    "exposure_share_other": "exposures: anything else",
}
"""Every key :func:`planted_structure` returns, in order, with what it means."""

PROBE_LABELS: dict[str, str] = {
    f"probe_{target}_{modality}": f"linear probe, {target} class from {label}"
    for target in ("primary", "secondary")
    for modality, label in (
        ("title", "title"),
        ("cover", "cover (drawn palette and motif)"),
        ("title_cover", "title + cover"),
        ("tags", "tags (tagged videos)"),
        ("all", "title + cover + tags"),
    )
}
"""Every key :func:`modality_probe` returns, in order, with what it means."""

_QUANTILES = {"tag_purity_q10": 0.1, "tag_purity_q25": 0.25, "tag_purity_median": 0.5}
_QUANTILES |= {"tag_purity_q75": 0.75, "tag_purity_q90": 0.9}


def planted_structure(dataset: Dataset, truth: pd.DataFrame | None = None) -> dict[str, Number]:
    """Measure how strongly each modality and the exposures carry a data set's classes.

    Parameters
    ----------
    dataset
        A synthetic data set (or any canonical one: numbers that need what it lacks are None).
    truth
        The videos' ground truth (:func:`~topic_learning.data.synthetic.load_truth`); None reads it
        from ``dataset.root`` if it is there, and otherwise takes each video's secondary class as
        its subtopic and leaves the cover numbers out.

    Returns
    -------
    dict
        The keys of :data:`LABELS`, in that order. Purity is the share of a tag's uses in its
        most frequent secondary class; its mean and quantiles weight tags by uses. In the
        planted preset a preferred subtopic is a preferred class, so the class level is empty.
    """
    videos = dataset.videos
    if truth is None and dataset.root is not None and (Path(dataset.root) / "truth.parquet").is_file():
        truth = load_truth(dataset.root)
    stats: dict[str, Number] = dict.fromkeys(LABELS)
    stats["preset"] = str(dataset.params.get("preset", "planted" if dataset.source == "synthetic" else "-"))
    stats["videos"] = len(videos)
    stats["users"] = len(dataset.users) if dataset.users is not None else None
    stats["exposures"] = len(dataset.interactions) if dataset.interactions is not None else None
    stats |= _tag_stats(videos)
    stats |= _title_stats(videos)
    subtopic = _subtopics(videos, truth)
    stats["subtopics"] = int(subtopic.nunique())
    stats["subtopics_per_class"] = stats["subtopics"] / max(int(videos["secondary_class"].nunique()), 1)
    if truth is not None and truth["cover_palette"].notna().any():
        stats |= _cover_stats(videos, truth)
    if dataset.users is not None:
        stats |= _user_stats(dataset.users)
        if dataset.interactions is not None:
            stats |= _ctr_stats(videos, subtopic, dataset.users, dataset.interactions)
    return stats


def _tag_stats(videos: pd.DataFrame) -> dict[str, Number]:
    lengths = videos["tags"].map(len).to_numpy()
    tagged = lengths > 0
    stats: dict[str, Number] = {
        "untagged_share": float(1.0 - tagged.mean()),
        "mean_tags_per_tagged_video": float(lengths[tagged].mean()) if tagged.any() else None,
    }
    if not tagged.any():
        return stats
    uses = pd.DataFrame(
        {
            "tag": np.concatenate([np.asarray(tags, dtype=object) for tags in videos["tags"][tagged]]),
            "class": np.repeat(videos["secondary_class"].to_numpy()[tagged], lengths[tagged]),
        }
    )
    names = set(videos["secondary_class"].dropna()) | set(videos["primary_class"].dropna())
    distinct = uses["tag"].unique()
    stats["distinct_tags"] = len(distinct)
    stats["tags_naming_a_class"] = int(sum(tag in names for tag in distinct))
    stats["rare_tag_share"] = float((uses["tag"].value_counts() <= 3).mean())

    known = uses.dropna(subset=["class"])
    per_class = known.groupby(["tag", "class"]).size()
    total = per_class.groupby(level="tag").sum()
    top = per_class.groupby(level="tag").max()
    n_classes = per_class.groupby(level="tag").size()
    purity = (top / total).to_numpy()
    weight = total.to_numpy().astype(float)
    stats["multi_class_tag_share"] = float((n_classes >= 2).mean())
    stats["multi_class_use_share"] = float(weight[n_classes.to_numpy() >= 2].sum() / weight.sum())
    stats["tag_purity_mean"] = float(np.average(purity, weights=weight))
    order = np.argsort(purity, kind="stable")
    cumulative = np.cumsum(weight[order]) / weight.sum()
    for key, q in _QUANTILES.items():
        stats[key] = float(purity[order][min(np.searchsorted(cumulative, q), len(order) - 1)])
    stats["tag_purity_chance"] = float(known["class"].value_counts(normalize=True).iloc[0])

    # the class a tag is used in most; a video's first tag "tells" its class if that is the video's
    dominant = (
        per_class.reset_index(name="n").sort_values("n", kind="stable").drop_duplicates("tag", keep="last")
    )
    dominant_class = dominant.set_index("tag")["class"]
    first = videos.loc[tagged & videos["secondary_class"].notna().to_numpy()]
    first_tags = first["tags"].map(lambda tags: tags[0])
    stats["first_tag_own_class"] = float((first_tags.map(dominant_class) == first["secondary_class"]).mean())
    return stats


def _title_stats(videos: pd.DataFrame) -> dict[str, Number]:
    """Shares of titles naming a keyword of their class, of another class only, or none (whole words)."""
    owner = {
        keyword: secondary
        for secondaries in TAXONOMY.values()
        for secondary, keywords in secondaries.items()
        for keyword in keywords
    }
    known = videos["secondary_class"].isin({owner_class for owner_class in owner.values()})
    if not known.any():  # not the synthetic taxonomy: keywords mean nothing here
        return {}
    # longest first, so "free kick" wins over a shorter keyword inside it
    pattern = re.compile(
        r"\b(?:" + "|".join(re.escape(k) for k in sorted(owner, key=len, reverse=True)) + r")\b"
    )
    own = other = 0
    for title, secondary in zip(videos["title"][known], videos["secondary_class"][known], strict=True):
        classes = {owner[keyword] for keyword in pattern.findall(title)}
        own += secondary in classes
        other += bool(classes) and secondary not in classes
    n = int(known.sum())
    return {
        "title_own_keyword_share": own / n,
        "title_other_keyword_only_share": other / n,
        "title_no_keyword_share": 1.0 - (own + other) / n,
    }


def _subtopics(videos: pd.DataFrame, truth: pd.DataFrame | None) -> pd.Series:
    """Each video's subtopic (aligned with ``videos``): the truth's, or its secondary class."""
    if truth is None:
        return videos["secondary_class"].reset_index(drop=True)
    subtopic = truth.set_index("video_id")["subtopic"].reindex(videos["video_id"].to_numpy())
    return subtopic.reset_index(drop=True)


def _cover_stats(videos: pd.DataFrame, truth: pd.DataFrame) -> dict[str, Number]:
    """Share of covers whose drawn palette / motif is their class's (by chance included)."""
    drawn = truth.set_index("video_id").reindex(videos["video_id"].to_numpy())
    motifs = videos["secondary_class"].map(
        {s: motif_of(s) for s in videos["secondary_class"].dropna().unique()}
    )
    return {
        "cover_palette_follows_primary": float(
            (drawn["cover_palette"].to_numpy() == videos["primary_class"]).mean()
        ),
        "cover_motif_follows_secondary": float((drawn["cover_motif"].to_numpy() == motifs).mean()),
        "cover_faint_share": float(drawn["cover_faint"].astype(bool).mean()),
    }


def _preferred(users: pd.DataFrame) -> pd.Series:
    """Each user's preferred subtopics, or classes where the data set has no subtopics."""
    if "preferred_subtopics" in users.columns and users["preferred_subtopics"].notna().all():
        return users["preferred_subtopics"]
    return users["preferred_classes"]


def _user_stats(users: pd.DataFrame) -> dict[str, Number]:
    counts = _preferred(users).map(len)
    return {
        "mean_preferred_subtopics": float(counts.mean()),
        "users_with_2plus_subtopics": float((counts >= 2).mean()),
    }


def _ctr_stats(
    videos: pd.DataFrame, subtopic: pd.Series, users: pd.DataFrame, interactions: pd.DataFrame
) -> dict[str, Number]:
    """CTR and share of exposures at each level of affinity between the user and the video."""
    # codes for subtopics, classes and primaries, and each subtopic's class and primary
    sub_code, sub_names = pd.factorize(subtopic)
    cls_code, cls_names = pd.factorize(videos["secondary_class"])
    prim_code, _ = pd.factorize(videos["primary_class"])
    sub_class = np.full(len(sub_names), -1)
    sub_class[sub_code] = cls_code
    class_primary = np.full(len(cls_names), -1)
    class_primary[cls_code] = prim_code
    preferred = _preferred(users)
    width = max(int(preferred.map(len).max()), 1)
    lookup = pd.Index(sub_names)
    # users x preferred subtopics, -1 pads (also where a preference names no video here)
    pref = np.full((int(users["user_id"].max()) + 1, width), -1)
    for u, names in zip(users["user_id"], preferred, strict=True):
        codes = lookup.get_indexer(list(names))
        pref[u, : len(codes)] = codes
    pref_class = np.where(pref >= 0, sub_class[pref], -1)
    pref_primary = np.where(pref_class >= 0, class_primary[pref_class], -1)

    row = pd.Index(videos["video_id"]).get_indexer(interactions["video_id"])
    user = interactions["user_id"].to_numpy()
    s, c, p = sub_code[row], cls_code[row], prim_code[row]
    level = np.select(
        [
            (pref[user] == s[:, None]).any(axis=1),
            (pref_class[user] == c[:, None]).any(axis=1),
            (pref_primary[user] == p[:, None]).any(axis=1),
        ],
        [3, 2, 1],
        default=0,
    )
    clicked = interactions["clicked"].to_numpy()
    stats: dict[str, Number] = {"ctr": float(clicked.mean()) if len(clicked) else None}
    for name, value in (("subtopic", 3), ("class", 2), ("primary", 1), ("other", 0)):
        at = level == value
        stats[f"ctr_{name}"] = float(clicked[at].mean()) if at.any() else None
        stats[f"exposure_share_{name}"] = float(at.mean()) if len(at) else None
    return stats


def modality_probe(
    dataset: Dataset, truth: pd.DataFrame | None = None, *, seed: int = 0
) -> dict[str, Number]:
    """How well a linear classifier tells a video's class from each modality, alone and together.

    A ridge classifier (least squares, one class against the rest; fast and deterministic) fit
    on 80% of the videos, accuracy on the rest: titles as TF-IDF of words and word pairs, tags
    as a bag of tags, covers as the palette and motif the generator drew (an idealised image
    reader that sees through jitter and faintness). It shows whether the modalities carry
    partly independent signal: together they should beat each alone. Titles are split on
    whitespace, so the title numbers mean nothing for languages written without spaces.

    Parameters
    ----------
    dataset
        A synthetic data set (covers need its ``truth.parquet``; without it they are left out).
    truth
        As for :func:`planted_structure`.
    seed
        Seeds the train/test split.

    Returns
    -------
    dict
        The keys of :data:`PROBE_LABELS`; None where a modality is missing.
    """
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import RidgeClassifier
    from sklearn.preprocessing import MultiLabelBinarizer, OneHotEncoder

    videos = dataset.videos.reset_index(drop=True)
    if truth is None and dataset.root is not None and (Path(dataset.root) / "truth.parquet").is_file():
        truth = load_truth(dataset.root)
    features = {
        "title": TfidfVectorizer(ngram_range=(1, 2), min_df=2).fit_transform(videos["title"]),
        "tags": sparse.csr_matrix(
            MultiLabelBinarizer(sparse_output=True).fit_transform(videos["tags"].map(list))
        ),
    }
    if truth is not None and truth["cover_palette"].notna().all():
        drawn = truth.set_index("video_id").reindex(videos["video_id"].to_numpy())
        features["cover"] = sparse.csr_matrix(
            OneHotEncoder().fit_transform(drawn[["cover_palette", "cover_motif"]])
        )
        features["title_cover"] = sparse.hstack([features["title"], features["cover"]]).tocsr()
        features["all"] = sparse.hstack([features["title"], features["cover"], features["tags"]]).tocsr()
    test = np.random.default_rng(seed).random(len(videos)) < 0.2
    tagged = (videos["tags"].map(len) > 0).to_numpy()
    stats: dict[str, Number] = dict.fromkeys(PROBE_LABELS)
    for target in ("primary", "secondary"):
        labels = videos[f"{target}_class"]
        for modality, matrix in features.items():
            rows = labels.notna().to_numpy() & (tagged if modality == "tags" else True)
            train, held_out = rows & ~test, rows & test
            y = labels.to_numpy()
            model = RidgeClassifier(alpha=1.0).fit(matrix[train], y[train])
            stats[f"probe_{target}_{modality}"] = float(
                (model.predict(matrix[held_out]) == y[held_out]).mean()
            )
    return stats


def structure_table(columns: dict[str, dict[str, Number]]) -> str:
    """A markdown table: one row per key of :data:`LABELS` (and :data:`PROBE_LABELS` where measured),
    one column per data set.

    Parameters
    ----------
    columns
        Column heading → :func:`planted_structure` of a data set.

    Returns
    -------
    str
        The table, shares and CTRs to three decimals.
    """
    lines = ["| | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for key, label in (LABELS | PROBE_LABELS).items():
        if key == "preset" or all(key not in stats for stats in columns.values()):
            continue
        lines.append(f"| {label} | " + " | ".join(_cell(stats.get(key)) for stats in columns.values()) + " |")
    return "\n".join(lines)


def _cell(value: Number) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the planted-structure table of generated corpora, and of other data sets if named."""
    parser = argparse.ArgumentParser(
        prog="python -m topic_learning.data.synthetic_stats", description=main.__doc__
    )
    parser.add_argument("--videos", type=int, default=10_000, help="videos per corpus (default 10000)")
    parser.add_argument("--users", type=int, default=2_500, help="users (default 2500)")
    parser.add_argument("--days", type=int, default=5, help="days (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument(
        "--preset", choices=[*PRESETS, "both"], default="both", help="which preset to generate (default both)"
    )
    parser.add_argument(
        "--probe", action="store_true", help="also fit linear probes per modality (half a minute)"
    )
    parser.add_argument(
        "--dataset",
        action="append",
        default=[],
        metavar="DIR|kuairec",
        help="also measure a data set directory, or 'kuairec' read from the shared data (repeatable)",
    )
    args = parser.parse_args(argv)
    presets = PRESETS if args.preset == "both" else (args.preset,)
    columns: dict[str, dict[str, Number]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for preset in presets:
                config = SyntheticConfig(
                    preset=preset,
                    n_videos=args.videos,
                    n_users=args.users,
                    n_days=args.days,
                    seed=args.seed,
                    covers=False,
                )
                dataset = generate(config, Path(tmp) / preset, progress=False)
                columns[preset] = planted_structure(dataset)
                if args.probe:
                    columns[preset] |= modality_probe(dataset)
        for name in args.dataset:
            dataset = _load(name)
            columns[name] = planted_structure(dataset)
            if args.probe:
                columns[name] |= modality_probe(dataset)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(structure_table(columns))
    return 0


def _load(name: str) -> Dataset:
    if name == "kuairec":
        from topic_learning.data.kuairec import load_kuairec

        return load_kuairec()
    return Dataset.load(name)


if __name__ == "__main__":
    sys.exit(main())
