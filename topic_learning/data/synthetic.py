"""A synthetic video platform: a realistic default, and a planted corpus built to be recovered.

Videos belong to a hand-written taxonomy (:mod:`topic_learning.data.taxonomy`) of 12 primary and
50 secondary classes with real English names. Two presets draw the modalities from it:

``realistic`` (the default)
    Each secondary class has a few *subtopics*, each its own mix of the class's keywords; users
    prefer 1-3 subtopics and click those far more than the rest of the class, the rest of the
    class more than its siblings, and those more than anything else. About 43% of the videos
    carry no tags (as in KuaiRec); tagged ones have 1-6, in random order, drawn from keywords of
    the video's subtopic, keywords of sibling and unrelated classes, tags the classes of a
    primary share, format tags unrelated classes share ("tutorial"), noise tags ("fyp") and a
    long tail of rare entity tags ("mira okafor", 1-3 videos each); no tag is a class name.
    Titles are uninformative more often and borrow other classes' keywords. Covers take the
    primary class's palette and the secondary class's motif only half of the time each.
    :func:`topic_learning.data.synthetic_stats.planted_structure` measures how much of the
    class each modality carries; ``docs/synthetic.md`` lists the numbers.
``planted``
    The corpus this module first made, kept bit for bit: every tag belongs to one secondary
    class, the class name is its most frequent tag, every video carries a tag of its own class,
    covers are coloured by primary class and carry a motif per secondary class (drawn by
    :mod:`topic_learning.data.covers`), users prefer secondary classes.

In both, tags within a list are Zipf-distributed, so popular tags co-occur; titles are English
phrases from templates; covers are jittered in position, size, rotation and colour, with
noise. Over ``n_days`` days users are shown videos that are either from their preferences or
simply popular, and click with a probability that depends on how the video relates to their
preferences, on the video's quality and on the user's propensity. Half of the catalogue is
published on day 0, the rest day by day, and no video is shown before it is published.

Everything is drawn from random streams keyed by (seed, purpose, chunk), so a seed gives the
same data set whatever the chunk timing or the number of processes that render covers.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from mtl.errors import DataError
from topic_learning.data.covers import MOTIFS, render_cover
from topic_learning.data.dataset import COVERS_DIR, TRUTH_FILE, Dataset, prepare_directory
from topic_learning.data.schema import TIMESTAMP, to_pandas
from topic_learning.data.taxonomy import (
    ADJECTIVES,
    ENTITY_FIRST_NAMES,
    ENTITY_LAST_NAMES,
    FILLERS,
    GENERIC_TAGS,
    INTROS,
    NOISE_TAGS,
    NOUNS,
    NUMBERS,
    PRIMARY_TAGS,
    TAG_SUFFIXES,
    TAXONOMY,
)

__all__ = [
    "MOTIFS",
    "NOISE_TAGS",
    "PRESETS",
    "TAG_SUFFIXES",
    "TAXONOMY",
    "SyntheticConfig",
    "generate",
    "load_truth",
    "motif_of",
    "render_cover",
    "tag_vocabulary",
]

Preset = Literal["realistic", "planted"]
PRESETS: tuple[Preset, ...] = ("realistic", "planted")

# A title template is a sequence of literals and slot names; slots are filled per video.
_SLOTS = ("k1", "k2", "adj", "noun", "intro", "filler", "num", "topic", "generic", "noise")
_INFORMATIVE_TEMPLATES = (
    ("adj", " ", "k1", " ", "noun"),
    ("k1", " and ", "k2", " ", "noun"),
    ("intro", " ", "k1", " ", "noun"),
    ("k1", ": ", "filler"),
    ("top ", "num", " ", "k1", " ", "noun", " of the week"),
    ("k1", " ", "noun", " with ", "k2"),
    ("filler", " | ", "adj", " ", "k1"),
    ("my first ", "k1", " ", "noun"),
    ("how to get better at ", "k1"),
    ("k1", " vs ", "k2", ", ", "filler"),
)
_UNINFORMATIVE_TEMPLATES = (
    ("filler",),
    ("intro", " ", "noun"),
    ("filler", " part ", "num"),
    ("adj", " ", "noun", "!!"),
)
# the realistic preset adds templates with words of the primary class ("topic"), format words
# shared by unrelated classes ("generic") and noise tags, as uploaders write
_REALISTIC_INFORMATIVE_TEMPLATES = (
    *_INFORMATIVE_TEMPLATES,
    ("k1", " ", "generic"),
    ("topic", ": ", "k1", " ", "noun"),
    ("generic", " | ", "k1", " #", "noise"),
    ("topic", " ", "noun", " with ", "k1"),
)
_REALISTIC_UNINFORMATIVE_TEMPLATES = (
    *_UNINFORMATIVE_TEMPLATES,
    ("generic", ": ", "filler"),
    ("filler", " #", "noise"),
    ("adj", " ", "generic", " ", "noun"),
    ("intro", " ", "generic", " #", "noise"),
)

_TAGS_PER_VIDEO = np.array([0.14, 0.24, 0.24, 0.18, 0.12, 0.08])  # 1..6 tags
_PREFERENCES_PER_USER = np.array([0.4, 0.4, 0.2])  # 1..3 preferred classes (planted) or subtopics

_DAY_US = 86_400 * 1_000_000
_VIDEO_CHUNK = 250_000
_EXPOSURE_CHUNK = 1_000_000
_COVER_CHUNK = 128

# random stream ids: one per purpose, so adding draws to one purpose leaves the others unchanged;
# 0-5 are all the planted preset uses, the realistic preset's new purposes come after them
_STREAM_CLASSES, _STREAM_VIDEOS, _STREAM_SCHEDULE, _STREAM_USERS, _STREAM_EXPOSURES, _STREAM_COVERS = range(6)
_STREAM_WORLD, _STREAM_TAGS, _STREAM_TITLES, _STREAM_COVER_DRAWS = range(6, 10)

# the realistic preset's sources of a tag, in the order of SyntheticConfig's shares; noise takes the rest
_OWN, _SIBLING, _PRIMARY, _GENERIC, _STRANGER, _ENTITY, _NOISE = range(7)

PRESET_DEFAULTS: dict[str, dict[str, float]] = {
    "realistic": {
        "own_tag_share": 0.38,
        "sibling_tag_share": 0.07,
        "title_keyword_noise": 0.35,
        "uninformative_title_share": 0.3,
        "ambiguous_cover_share": 0.2,
        "ctr_preferred": 0.05,
        "ctr_sibling": 0.03,
    },
    "planted": {
        "own_tag_share": 0.78,
        "sibling_tag_share": 0.14,
        "title_keyword_noise": 0.15,
        "uninformative_title_share": 0.15,
        "ambiguous_cover_share": 0.1,
        "ctr_preferred": 0.11,
        "ctr_sibling": 0.045,
    },
}
"""Values the knobs left at None take, by preset."""


@dataclass(frozen=True)
class SyntheticConfig:
    """Preset, size, seed and knobs of a synthetic data set; defaults give an overall CTR of about 7%.

    Knobs that default to None take their preset's value (:data:`PRESET_DEFAULTS`, listed
    below as realistic / planted); knobs marked *realistic* are ignored by the planted preset.

    Attributes
    ----------
    preset
        ``"realistic"`` (default): subtopics, untagged videos, shared tags, weak covers;
        ``"planted"``: the easy corpus of earlier versions, bit for bit (see the module docstring).
    n_videos, n_users, n_days
        Catalogue size, number of users, and days the exposures span.
    seed
        Seeds every random draw; a seed always gives the same data set.
    covers
        Render PNG covers (``cover`` is null otherwise).
    cover_size
        Cover width and height in pixels.
    n_exposures
        Exposures in all; None: ``exposures_per_user_day * n_users * n_days``.
    exposures_per_user_day
        Average exposures a user gets a day, when ``n_exposures`` is None.
    start
        Start of day 0 (UTC).
    initial_share
        Share of the catalogue published on day 0; the rest is spread over days 1..n_days-1.
    preference_share
        Share of exposures drawn from the user's preferences (the others follow popularity).
    own_tag_share, sibling_tag_share
        Share of a video's tags from its own secondary class (realistic: its subtopic's keyword
        mix), and from sibling secondary classes of its primary class; 0.38 / 0.78 and
        0.07 / 0.14. The planted preset fills the rest with noise tags; the realistic preset
        with the shares below and noise tags.
    primary_tag_share, generic_tag_share, stranger_tag_share, entity_tag_share
        *Realistic*: share of tags the classes of the video's primary class share (0.12), of
        format tags unrelated classes share (0.18), of keywords of any class (0.05), and of
        rare entity tags used by 1-3 videos of one class (0.08).
    untagged_share
        *Realistic*: share of videos without tags (0.43, as in KuaiRec).
    title_keyword_noise
        Share of title keywords from another class: a sibling or any class, two thirds /
        one third (planted), half / half (realistic); 0.35 / 0.15.
    uninformative_title_share
        Share of titles with no class keyword at all; 0.3 / 0.15.
    ambiguous_cover_share
        Planted: share of covers drawn with another class's palette or motif and low contrast.
        Realistic: share of covers drawn faintly (low contrast); 0.2 / 0.1.
    cover_palette_tie, cover_motif_tie
        *Realistic*: probability that a cover takes its primary class's palette (else a random
        primary's), and its secondary class's motif (else a random motif); 0.5 each.
    subtopics_per_class
        *Realistic*: subtopics per secondary class (3), each with its own core keywords.
    subtopic_focus
        *Realistic*: share of a subtopic's keyword draws from its core keywords (0.75); the rest
        come from the other keywords of its class.
    subtopic_exposure_share
        *Realistic*: share of preference exposures from the preferred subtopic itself (0.7);
        the others come from anywhere in its secondary class.
    popularity_exponent
        Zipf exponent of video popularity.
    ctr_subtopic
        *Realistic*: base click probability on a video of a preferred subtopic (0.12).
    ctr_preferred, ctr_sibling, ctr_other
        Base click probability when the video's secondary class is preferred (realistic: is the
        class of a preferred subtopic; 0.05 / 0.11), when only its primary class is
        (0.03 / 0.045), and otherwise (0.015); scaled by video quality and user propensity.
    workers
        Processes that render covers; None: every core this process may use.
    """

    preset: Preset = "realistic"
    n_videos: int = 20_000
    n_users: int = 5_000
    n_days: int = 5
    seed: int = 0
    covers: bool = True
    cover_size: int = 96
    n_exposures: int | None = None
    exposures_per_user_day: float = 20.0
    start: datetime = datetime(2021, 1, 1, tzinfo=UTC)
    initial_share: float = 0.5
    preference_share: float = 0.6
    own_tag_share: float | None = None
    sibling_tag_share: float | None = None
    primary_tag_share: float = 0.12
    generic_tag_share: float = 0.18
    stranger_tag_share: float = 0.05
    entity_tag_share: float = 0.08
    untagged_share: float = 0.43
    title_keyword_noise: float | None = None
    uninformative_title_share: float | None = None
    ambiguous_cover_share: float | None = None
    cover_palette_tie: float = 0.5
    cover_motif_tie: float = 0.5
    subtopics_per_class: int = 3
    subtopic_focus: float = 0.75
    subtopic_exposure_share: float = 0.7
    popularity_exponent: float = 0.8
    ctr_subtopic: float = 0.12
    ctr_preferred: float | None = None
    ctr_sibling: float | None = None
    ctr_other: float = 0.015
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise DataError(f"synthetic config: preset must be 'realistic' or 'planted', got {self.preset!r}")
        at_least = {
            "seed": 0,
            "n_videos": 1,
            "n_users": 1,
            "n_days": 1,
            "cover_size": 16,
            "workers": 1,
            "n_exposures": 0,
            "subtopics_per_class": 1,
        }
        for name, low in at_least.items():
            value = getattr(self, name)
            if value is not None and value < low:
                raise DataError(f"synthetic config: {name} must be at least {low}, got {value}")
        if self.subtopics_per_class > _MAX_SUBTOPICS:
            raise DataError(
                f"synthetic config: subtopics_per_class must be at most {_MAX_SUBTOPICS}, "
                f"got {self.subtopics_per_class}"
            )
        shares = (
            "initial_share",
            "preference_share",
            "own_tag_share",
            "sibling_tag_share",
            *_REALISTIC_TAG_SHARES,
            "untagged_share",
            "title_keyword_noise",
            "uninformative_title_share",
            "ambiguous_cover_share",
            "cover_palette_tie",
            "cover_motif_tie",
            "subtopic_focus",
            "subtopic_exposure_share",
            "ctr_subtopic",
            "ctr_preferred",
            "ctr_sibling",
            "ctr_other",
        )
        for name in shares:
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise DataError(f"synthetic config: {name} must be between 0 and 1, got {value}")
        knobs = self.resolved() if self._unresolved() else self
        if knobs.own_tag_share + knobs.sibling_tag_share > 1.0:
            raise DataError("synthetic config: own_tag_share + sibling_tag_share must not exceed 1")
        if self.preset == "realistic" and sum(knobs._tag_shares()) > 1.0 + 1e-9:
            raise DataError(
                "synthetic config: own, sibling, primary, generic, stranger and entity tag shares "
                "must not exceed 1 together"
            )
        if self.exposures_per_user_day < 0 or self.popularity_exponent < 0:
            raise DataError("synthetic config: exposures_per_user_day and popularity_exponent must be >= 0")
        if self.start.tzinfo is None:
            raise DataError("synthetic config: start must be timezone-aware")

    @property
    def total_exposures(self) -> int:
        """Exposures the data set will hold."""
        if self.n_exposures is not None:
            return self.n_exposures
        return round(self.exposures_per_user_day * self.n_users * self.n_days)

    def resolved(self) -> SyntheticConfig:
        """This configuration with every knob left at None set to its preset's default."""
        missing = {
            name: value for name, value in PRESET_DEFAULTS[self.preset].items() if getattr(self, name) is None
        }
        return replace(self, **missing) if missing else self

    def to_dict(self) -> dict[str, object]:
        """The configuration as JSON-ready values (for the manifest), preset defaults filled in."""
        values = asdict(self.resolved())
        values["start"] = self.start.isoformat()
        values["n_exposures"] = self.total_exposures
        return values

    def _unresolved(self) -> bool:
        return any(getattr(self, name) is None for name in PRESET_DEFAULTS[self.preset])

    def _tag_shares(self) -> list[float]:
        """Shares of the realistic tag sources, in the order of ``_OWN`` .. ``_NOISE`` (resolved only)."""
        named = [
            self.own_tag_share,
            self.sibling_tag_share,
            *(getattr(self, n) for n in _REALISTIC_TAG_SHARES),
        ]
        return [float(share) for share in named]


_REALISTIC_TAG_SHARES = ("primary_tag_share", "generic_tag_share", "stranger_tag_share", "entity_tag_share")
_MAX_SUBTOPICS = 6  # a class has 12 keywords: at least 2 core keywords per subtopic


def tag_vocabulary() -> dict[str, tuple[str, ...]]:
    """Each secondary class's tags in the planted preset, most frequent first.

    The class name leads, then the class's keywords alternate with compound tags built from
    :data:`TAG_SUFFIXES`; a tag belongs to exactly one class. Videos draw from this order with
    Zipf weights, so the first few tags of a class are common and co-occur. (The realistic
    preset's tags come from :mod:`topic_learning.data.taxonomy`'s lists instead.)

    Returns
    -------
    dict
        Secondary class name → tuple of its tags (about 30).
    """
    vocabulary: dict[str, tuple[str, ...]] = {}
    for secondaries in TAXONOMY.values():
        for secondary, keywords in secondaries.items():
            compounds = [f"{secondary} {suffix}" for suffix in TAG_SUFFIXES]
            compounds += [
                f"{keyword} {suffix}"
                for keyword, suffix in zip(keywords[:5], TAG_SUFFIXES[::2], strict=False)
            ]
            interleaved = [tag for pair in zip(keywords, compounds, strict=False) for tag in pair]
            interleaved += compounds[len(keywords) :]
            vocabulary[secondary] = tuple(dict.fromkeys([secondary, *interleaved]))
    return vocabulary


def motif_of(secondary_class: str) -> str:
    """The cover motif of a secondary class (a realistic cover takes it half of the time).

    Parameters
    ----------
    secondary_class
        A secondary class of :data:`TAXONOMY`.

    Returns
    -------
    str
        One of :data:`MOTIFS`.

    Raises
    ------
    DataError
        ``secondary_class`` is not in the taxonomy.
    """
    taxonomy = _Taxonomy()
    if secondary_class not in taxonomy.secondaries:
        raise DataError(f"{secondary_class!r} is not a secondary class of the synthetic taxonomy")
    index = np.array([taxonomy.secondaries.index(secondary_class)])
    return MOTIFS[int(_motif_index(taxonomy, index)[0])]


def generate(config: SyntheticConfig, out_dir: Path | str, progress: bool = True) -> Dataset:
    """Generate a synthetic data set and save it to ``out_dir``.

    Writes the layout of :mod:`topic_learning.data.dataset` plus ``users.parquet``, the users'
    ground truth (preferred secondary classes, preferred subtopics in the realistic preset, and
    relative activity), and ``truth.parquet``, the videos' ground truth that the canonical
    videos table does not carry (see :func:`load_truth`).

    Parameters
    ----------
    config
        Preset, sizes, seed and knobs.
    out_dir
        New, empty, or holding an earlier data set (which is replaced).
    progress
        Show tqdm progress bars on stderr.

    Returns
    -------
    Dataset
        The saved data set, ``root`` set to ``out_dir``; video ids run in order of publication.

    Raises
    ------
    DataError
        ``out_dir`` holds something other than a data set.
    """
    config = config.resolved()
    out_dir = prepare_directory(out_dir, clear_covers=True)
    (out_dir / TRUTH_FILE).unlink(missing_ok=True)  # an earlier data set's truth must not survive a failure
    taxonomy = _Taxonomy()
    if config.preset == "planted":
        world = None
        videos = _generate_videos(config, taxonomy, progress=progress)
        users = _generate_users(config, videos["secondary"], taxonomy.n_secondaries)
        interactions = _generate_exposures(config, taxonomy, videos, users, progress=progress)
        tag_words = taxonomy.tags.words
    else:
        world = _World(config, taxonomy)
        videos, n_entities = _generate_realistic_videos(config, taxonomy, world, progress=progress)
        users = _generate_users(config, videos["subtopic"], world.n_subtopics)
        interactions = _generate_realistic_exposures(
            config, taxonomy, world, videos, users, progress=progress
        )
        tag_words = world.tag_words(n_entities)
    covers = None
    if config.covers:
        covers = _render_covers(config, taxonomy, videos, out_dir / COVERS_DIR, progress=progress)
    dataset = Dataset(
        name="synthetic",
        videos=to_pandas(_videos_arrow(videos, taxonomy, covers, tag_words)),
        interactions=to_pandas(interactions),
        users=to_pandas(_users_arrow(users, taxonomy, world)),
        root=out_dir,  # the covers are already in place there
        source="synthetic",
        params=config.to_dict(),
    )
    dataset.save(out_dir)
    pq.write_table(_truth_arrow(videos, taxonomy, world), out_dir / TRUTH_FILE)
    return dataset


def load_truth(directory: Path | str) -> pd.DataFrame:
    """Read the videos' ground truth that :func:`generate` wrote next to a synthetic data set.

    Parameters
    ----------
    directory
        A data set directory written by :func:`generate`.

    Returns
    -------
    pandas.DataFrame
        One row per video: ``video_id``; ``subtopic`` (the secondary class in the planted
        preset); ``cover_palette`` (the primary class whose palette the cover took),
        ``cover_motif`` (one of :data:`MOTIFS`) and ``cover_faint`` (drawn at low contrast),
        which are null in the planted preset, whose covers decide that while they are drawn.

    Raises
    ------
    DataError
        ``directory`` holds no ``truth.parquet`` (not a synthetic data set, or an older one).
    """
    path = Path(directory) / TRUTH_FILE
    if not path.is_file():
        raise DataError(f"{path}: not found; only data sets made by `mtl data synth` have one")
    try:
        return pq.read_table(path).to_pandas()
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: not a readable parquet file ({exc})") from None


class _Taxonomy:
    """:data:`TAXONOMY` and the planted tag vocabularies as index arrays for vectorised sampling."""

    def __init__(self) -> None:
        self.primaries = list(TAXONOMY)
        self.secondaries = [name for secondaries in TAXONOMY.values() for name in secondaries]
        self.parent = np.array(
            [p for p, secondaries in enumerate(TAXONOMY.values()) for _ in secondaries], dtype=np.int64
        )
        # position of a secondary among its siblings, which picks its cover motif
        self.rank_in_parent = np.array(
            [r for secondaries in TAXONOMY.values() for r in range(len(secondaries))], dtype=np.int64
        )
        # siblings[s, :n_siblings[s]] are the other secondaries of s's primary (s itself pads)
        n = len(self.parent)
        self.siblings = np.tile(np.arange(n)[:, None], (1, n))
        self.n_siblings = np.zeros(n, dtype=np.int64)
        for s in range(n):
            others = np.flatnonzero((self.parent == self.parent[s]) & (np.arange(n) != s))
            self.siblings[s, : len(others)] = others
            self.n_siblings[s] = len(others)
        vocabulary = tag_vocabulary()
        # the noise tags form one extra vocabulary, after the classes'
        self.tags = _Vocabularies([*vocabulary.values(), NOISE_TAGS], exponent=1.0)
        keywords = [keywords for secondaries in TAXONOMY.values() for keywords in secondaries.values()]
        self.keywords = _Vocabularies(keywords, exponent=0.7)
        # class s's keywords are keywords.words[keyword_start[s] : keyword_start[s + 1]]
        self.keyword_start = np.r_[0, np.cumsum([len(words) for words in keywords])]

    @property
    def n_secondaries(self) -> int:
        return len(self.secondaries)

    def random_sibling(self, secondary: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A random sibling of each secondary class (itself for an only child)."""
        pick = (rng.random(len(secondary)) * self.n_siblings[secondary]).astype(np.int64)
        return self.siblings[secondary, pick]


class _Vocabularies:
    """Several word lists in one array, each sampled with Zipf weights over its order."""

    def __init__(self, lists: list[tuple[str, ...]], *, exponent: float) -> None:
        self.words = np.array([word for words in lists for word in words], dtype=object)
        # cumulative weights of list v shifted by v: one searchsorted samples every list at once
        keys = []
        for v, words in enumerate(lists):
            weights = 1.0 / np.arange(1, len(words) + 1) ** exponent
            cdf = np.cumsum(weights) / weights.sum()
            cdf[-1] = 1.0
            keys.append(v + cdf)
        self._keys = np.concatenate(keys)

    def sample(self, which: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Indices into :attr:`words`, one drawn from list ``which[i]`` for each ``i``."""
        return np.searchsorted(self._keys, which + rng.random(len(which)), side="right")


class _WeightedLists:
    """Several lists of ids with explicit weights, all sampled by one searchsorted.

    Unlike :class:`_Vocabularies` an id may sit in several lists (a keyword in every subtopic of
    its class, a format tag in every class), each time with its own weight.
    """

    def __init__(self, ids: list[np.ndarray], weights: list[np.ndarray]) -> None:
        self.ids = np.concatenate(ids).astype(np.int64)
        keys = []
        for v, w in enumerate(weights):
            cdf = np.cumsum(w) / w.sum()
            cdf[-1] = 1.0
            keys.append(v + cdf)
        self._keys = np.concatenate(keys)
        # v + u may round up to v + 1 for u just below 1: clamp to list v's last entry
        self._last = np.cumsum([len(list_ids) for list_ids in ids]) - 1

    def sample(self, which: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Ids, one drawn from list ``which[i]`` for each ``i``."""
        position = np.searchsorted(self._keys, which + rng.random(len(which)), side="right")
        return self.ids[np.minimum(position, self._last[which])]


def _rng(seed: int, stream: int, chunk: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, chunk)))


def _bar(progress: bool, total: int, desc: str, unit: str) -> tqdm:
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=not progress, leave=False)


# --- planted preset: videos --------------------------------------------------------------------


def _class_weights(config: SyntheticConfig, taxonomy: _Taxonomy) -> np.ndarray:
    """Mildly unequal class sizes, in an order the seed decides."""
    rng = _rng(config.seed, _STREAM_CLASSES)
    class_weights = 1.0 / np.sqrt(rng.permutation(taxonomy.n_secondaries) + 1.0)
    return class_weights / class_weights.sum()


def _generate_videos(
    config: SyntheticConfig, taxonomy: _Taxonomy, *, progress: bool
) -> dict[str, np.ndarray]:
    """Classes, tags, titles, quality, popularity and publication times, sorted by publication."""
    class_weights = _class_weights(config, taxonomy)
    parts: list[dict[str, np.ndarray]] = []
    with _bar(progress, config.n_videos, "videos", "video") as bar:
        for chunk, begin in enumerate(range(0, config.n_videos, _VIDEO_CHUNK)):
            size = min(_VIDEO_CHUNK, config.n_videos - begin)
            parts.append(
                _video_chunk(config, taxonomy, class_weights, size, _rng(config.seed, _STREAM_VIDEOS, chunk))
            )
            bar.update(size)
    return _publish(config, {key: np.concatenate([part[key] for part in parts]) for key in parts[0]})


def _publish(config: SyntheticConfig, videos: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add publication times and popularity; return the videos sorted by publication."""
    rng = _rng(config.seed, _STREAM_SCHEDULE)
    n = config.n_videos
    back_catalogue = (rng.random(n) < config.initial_share) | (config.n_days == 1)
    day = np.where(back_catalogue, 0, 1 + rng.integers(0, max(config.n_days - 1, 1), n))
    start_us = int(config.start.timestamp() * 1_000_000)
    videos["published_us"] = start_us + day * _DAY_US + rng.integers(0, _DAY_US, n)
    videos["popularity"] = 1.0 / (rng.permutation(n) + 1.0) ** config.popularity_exponent
    return _sort_by_publication(videos)


def _video_chunk(
    config: SyntheticConfig,
    taxonomy: _Taxonomy,
    class_weights: np.ndarray,
    size: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    secondary = rng.choice(taxonomy.n_secondaries, size=size, p=class_weights)
    tag_counts, tags = _draw_tags(config, taxonomy, secondary, rng)
    return {
        "secondary": secondary,
        "tags": tags,
        "tag_counts": tag_counts,
        "title": _draw_titles(config, taxonomy, secondary, rng),
        "quality": rng.lognormal(-0.08, 0.4, size),  # mean about 1
        "ambiguous": rng.random(size) < config.ambiguous_cover_share,
    }


def _draw_tags(
    config: SyntheticConfig, taxonomy: _Taxonomy, secondary: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Per-video tag counts, and the tags of every video, flattened (repeats removed)."""
    wanted = 1 + rng.choice(len(_TAGS_PER_VIDEO), size=len(secondary), p=_TAGS_PER_VIDEO)
    video = np.repeat(np.arange(len(secondary)), wanted)
    first = np.r_[True, video[1:] != video[:-1]]
    source = rng.random(len(video))
    own = first | (source < config.own_tag_share)  # a video's first tag is always its own class's
    sibling = ~own & (source < config.own_tag_share + config.sibling_tag_share)
    vocabulary = taxonomy.random_sibling(secondary[video], rng)
    vocabulary[own] = secondary[video][own]
    noise_vocabulary = taxonomy.n_secondaries
    vocabulary[~own & ~sibling] = noise_vocabulary
    tag = taxonomy.tags.sample(vocabulary, rng)
    # Zipf weights repeat popular tags: keep each (video, tag) pair once, grouped by video
    pairs = np.sort(video * len(taxonomy.tags.words) + tag)
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]
    video, tag = np.divmod(pairs, len(taxonomy.tags.words))
    counts = np.bincount(video, minlength=len(secondary))
    return counts, tag


def _draw_titles(
    config: SyntheticConfig, taxonomy: _Taxonomy, secondary: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    size = len(secondary)
    slots: dict[str, np.ndarray] = {}
    for slot in ("k1", "k2"):
        source = secondary.copy()
        noisy = rng.random(size) < config.title_keyword_noise
        stranger = noisy & (rng.random(size) < 1 / 3)
        source[noisy] = taxonomy.random_sibling(secondary[noisy], rng)
        source[stranger] = rng.integers(0, taxonomy.n_secondaries, int(stranger.sum()))
        slots[slot] = taxonomy.keywords.words[taxonomy.keywords.sample(source, rng)]
    for slot, words in (
        ("adj", ADJECTIVES),
        ("noun", NOUNS),
        ("intro", INTROS),
        ("filler", FILLERS),
        ("num", NUMBERS),
    ):
        slots[slot] = np.array(words, dtype=object)[rng.integers(0, len(words), size)]
    uninformative = rng.random(size) < config.uninformative_title_share
    template = np.where(
        uninformative,
        len(_INFORMATIVE_TEMPLATES) + rng.integers(0, len(_UNINFORMATIVE_TEMPLATES), size),
        rng.integers(0, len(_INFORMATIVE_TEMPLATES), size),
    )
    return _fill_templates(_INFORMATIVE_TEMPLATES + _UNINFORMATIVE_TEMPLATES, template, slots)


def _fill_templates(
    templates: tuple[tuple[str, ...], ...], template: np.ndarray, slots: dict[str, np.ndarray]
) -> np.ndarray:
    """Title ``i`` is ``templates[template[i]]`` with each slot name replaced by ``slots[name][i]``."""
    titles = np.empty(len(template), dtype=object)
    for t, parts in enumerate(templates):
        rows = template == t
        # object arrays add element-wise in C: no Python loop over a million titles
        text = np.full(int(rows.sum()), "", dtype=object)
        for part in parts:
            text = text + (slots[part][rows] if part in _SLOTS else part)
        titles[rows] = text
    return titles


def _sort_by_publication(videos: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    order = np.argsort(videos["published_us"], kind="stable")
    # tags are ragged: reorder them through their per-video offsets
    offsets = np.r_[0, np.cumsum(videos["tag_counts"])]
    out = {key: value[order] for key, value in videos.items() if key != "tags"}
    out["tags"] = videos["tags"][_ragged_take(offsets, order)]
    return out


def _ragged_take(offsets: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Positions of the elements of ragged rows ``order``, row after row, without a Python loop."""
    lengths = np.diff(offsets)[order]
    starts = offsets[:-1][order]
    row_start_out = np.r_[0, np.cumsum(lengths)[:-1]]
    return np.repeat(starts - row_start_out, lengths) + np.arange(lengths.sum())


# --- realistic preset: hidden structure and videos ---------------------------------------------


class _World:
    """The realistic preset's hidden structure, drawn once per corpus from its own stream.

    Subtopics: class ``s`` has subtopics ``s * k .. s * k + k - 1`` (``k`` per class); each has a
    few core keywords of its class, drawn with most of the weight, and the class's other
    keywords with the rest, so subtopics of one class overlap but are told apart by their mix.

    Tag word ids: the taxonomy's keywords, then the primary classes' shared tags, the format
    tags, the noise tags, and finally the entity tags a corpus invents.
    """

    def __init__(self, config: SyntheticConfig, taxonomy: _Taxonomy) -> None:
        rng = _rng(config.seed, _STREAM_WORLD)
        k = config.subtopics_per_class
        self.per_class = k
        self.n_subtopics = taxonomy.n_secondaries * k
        self.subtopic_class = np.repeat(np.arange(taxonomy.n_secondaries), k)
        ids: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        self.subtopic_names: list[str] = []
        for s, name in enumerate(taxonomy.secondaries):
            start, end = taxonomy.keyword_start[s], taxonomy.keyword_start[s + 1]
            keywords = start + rng.permutation(end - start)
            core_size = len(keywords) // k
            for j in range(k):
                core = keywords[j * core_size : (j + 1) * core_size]
                rest = np.setdiff1d(keywords, core)
                # Zipf within the core, so a subtopic has one or two signature keywords
                core_weights = 1.0 / np.sqrt(np.arange(1, len(core) + 1))
                focus = config.subtopic_focus if len(rest) else 1.0
                core_weights *= focus / core_weights.sum()
                rest_weights = np.full(len(rest), (1.0 - focus) / max(len(rest), 1))
                ids.append(np.r_[core, rest])
                weights.append(np.r_[core_weights, rest_weights])
                self.subtopic_names.append(f"{name}/{taxonomy.keywords.words[core[0]]}")
        self.subtopic_keywords = _WeightedLists(ids, weights)
        # uneven subtopic sizes within a class, as real niches are
        self.subtopic_share = rng.dirichlet(np.full(k, 3.0), size=taxonomy.n_secondaries)

        # format tags: each is popular in a few random classes and rare elsewhere, so its purity
        # ranges from about one half (two classes) to near chance (a dozen or more)
        n_generic = len(GENERIC_TAGS)
        popularity = 1.0 / (rng.permutation(n_generic) + 1.0) ** 0.7
        affinity = np.full((taxonomy.n_secondaries, n_generic), 0.08)
        for g in range(n_generic):
            classes = rng.choice(taxonomy.n_secondaries, size=int(rng.integers(2, 16)), replace=False)
            affinity[classes, g] = 1.0
        generic = affinity * popularity
        self.generic = _WeightedLists([np.arange(n_generic)] * taxonomy.n_secondaries, list(generic))
        self.primary_tags = _Vocabularies(
            [PRIMARY_TAGS[primary] for primary in taxonomy.primaries], exponent=0.8
        )
        self.noise_tags = _Vocabularies([NOISE_TAGS], exponent=1.0)

        self.keyword_words = taxonomy.keywords.words
        self.primary_offset = len(self.keyword_words)
        self.generic_offset = self.primary_offset + len(self.primary_tags.words)
        self.noise_offset = self.generic_offset + n_generic
        self.entity_offset = self.noise_offset + len(NOISE_TAGS)

    def draw_subtopics(self, secondary: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A subtopic of each video's secondary class, in proportion to the class's subtopic shares."""
        cumulative = np.cumsum(self.subtopic_share[secondary], axis=1)
        within = (rng.random(len(secondary))[:, None] > cumulative[:, :-1]).sum(axis=1)
        return secondary * self.per_class + within

    def tag_words(self, n_entities: int) -> np.ndarray:
        """Every tag's text, indexed by tag id (entity tags last)."""
        return np.concatenate(
            [
                self.keyword_words,
                self.primary_tags.words,
                np.array(GENERIC_TAGS, dtype=object),
                self.noise_tags.words,
                _entity_names(n_entities),
            ]
        )


def _entity_names(count: int) -> np.ndarray:
    """``count`` distinct person-like names, "mira okafor"; past 1,600 they get a number."""
    n_first, n_last = len(ENTITY_FIRST_NAMES), len(ENTITY_LAST_NAMES)
    combinations = n_first * n_last
    index = np.arange(count)
    # a stride coprime with the number of combinations: neighbouring ids share no name part
    mixed = (index * 797 + 13) % combinations
    first = np.array(ENTITY_FIRST_NAMES, dtype=object)[mixed % n_first]
    last = np.array(ENTITY_LAST_NAMES, dtype=object)[mixed // n_first]
    names = first + " " + last
    repeat = index // combinations
    later = repeat > 0
    names[later] = names[later] + " " + (repeat[later] + 1).astype(str).astype(object)
    return names


def _generate_realistic_videos(
    config: SyntheticConfig, taxonomy: _Taxonomy, world: _World, *, progress: bool
) -> tuple[dict[str, np.ndarray], int]:
    """Classes, subtopics, tags, titles, cover draws, quality, popularity, publication, sorted by
    publication; and the number of entity tags invented (their ids follow the fixed tags)."""
    class_weights = _class_weights(config, taxonomy)
    parts: list[dict[str, np.ndarray]] = []
    n_entities = 0  # entity tag ids run on across chunks
    with _bar(progress, config.n_videos, "videos", "video") as bar:
        for chunk, begin in enumerate(range(0, config.n_videos, _VIDEO_CHUNK)):
            size = min(_VIDEO_CHUNK, config.n_videos - begin)
            rng = _rng(config.seed, _STREAM_VIDEOS, chunk)
            secondary = rng.choice(taxonomy.n_secondaries, size=size, p=class_weights)
            subtopic = world.draw_subtopics(secondary, rng)
            quality = rng.lognormal(-0.08, 0.4, size)  # mean about 1
            tag_counts, tags, n_entities = _draw_realistic_tags(
                config,
                taxonomy,
                world,
                secondary,
                subtopic,
                n_entities,
                _rng(config.seed, _STREAM_TAGS, chunk),
            )
            title = _draw_realistic_titles(
                config, taxonomy, world, secondary, subtopic, _rng(config.seed, _STREAM_TITLES, chunk)
            )
            cover = _draw_cover_plans(
                config, taxonomy, secondary, _rng(config.seed, _STREAM_COVER_DRAWS, chunk)
            )
            parts.append(
                {
                    "secondary": secondary,
                    "subtopic": subtopic,
                    "tags": tags,
                    "tag_counts": tag_counts,
                    "title": title,
                    "quality": quality,
                    **cover,
                }
            )
            bar.update(size)
    videos = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    return _publish(config, videos), n_entities


def _draw_realistic_tags(
    config: SyntheticConfig,
    taxonomy: _Taxonomy,
    world: _World,
    secondary: np.ndarray,
    subtopic: np.ndarray,
    entities_before: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-video tag counts, the tags of every video flattened in random order, and entities so far."""
    n = len(secondary)
    tagged = rng.random(n) >= config.untagged_share
    wanted = np.where(tagged, 1 + rng.choice(len(_TAGS_PER_VIDEO), size=n, p=_TAGS_PER_VIDEO), 0)
    video = np.repeat(np.arange(n), wanted)
    shares = config._tag_shares()
    p = np.array([*shares, max(1.0 - sum(shares), 0.0)])
    source = rng.choice(len(p), size=len(video), p=p / p.sum())
    owner = secondary[video]
    tag = np.empty(len(video), dtype=np.int64)

    rows = source == _OWN
    tag[rows] = world.subtopic_keywords.sample(subtopic[video[rows]], rng)
    rows = source == _SIBLING
    tag[rows] = taxonomy.keywords.sample(taxonomy.random_sibling(owner[rows], rng), rng)
    rows = source == _STRANGER
    tag[rows] = taxonomy.keywords.sample(rng.integers(0, taxonomy.n_secondaries, int(rows.sum())), rng)
    rows = source == _PRIMARY
    tag[rows] = world.primary_offset + world.primary_tags.sample(taxonomy.parent[owner[rows]], rng)
    rows = source == _GENERIC
    tag[rows] = world.generic_offset + world.generic.sample(owner[rows], rng)
    rows = source == _NOISE
    tag[rows] = world.noise_offset + world.noise_tags.sample(np.zeros(int(rows.sum()), dtype=np.int64), rng)
    rows = np.flatnonzero(source == _ENTITY)
    entity, created = _draw_entities(owner[rows], rng)
    tag[rows] = world.entity_offset + entities_before + entity

    # keep each (video, tag) pair once, then shuffle the tags of each video: the first tag of a
    # video is no more telling than the others
    n_tags = world.entity_offset + entities_before + created
    pairs = np.unique(video * n_tags + tag)
    video, tag = np.divmod(pairs, n_tags)
    tag = tag[np.lexsort((rng.random(len(tag)), video))]
    counts = np.bincount(video, minlength=n)
    return counts, tag, entities_before + created


def _draw_entities(owner: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Entity ids for entity-tag draws: each entity is used by 1-3 draws, all of one class.

    Returns the id of each draw (0-based, in order of class) and how many entities were made.
    """
    if not len(owner):
        return np.empty(0, dtype=np.int64), 0
    order = np.lexsort((rng.random(len(owner)), owner))  # by class, in random order within it
    ranked = owner[order]
    class_start = np.r_[True, ranked[1:] != ranked[:-1]]
    rank = np.arange(len(ranked)) - np.maximum.accumulate(np.where(class_start, np.arange(len(ranked)), 0))
    # cut each class's run into groups of 1-3 draws; every class uses the same random cuts,
    # which is harmless as draws sit in random order within their class
    bounds = np.cumsum(rng.integers(1, 4, size=len(ranked)))
    group = np.searchsorted(bounds, rank, side="right")
    new = class_start | np.r_[True, group[1:] != group[:-1]]
    entity = np.empty(len(owner), dtype=np.int64)
    entity[order] = np.cumsum(new) - 1
    return entity, int(new.sum())


def _draw_realistic_titles(
    config: SyntheticConfig,
    taxonomy: _Taxonomy,
    world: _World,
    secondary: np.ndarray,
    subtopic: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Titles from the realistic templates; keywords follow the subtopic's mix, with more noise."""
    size = len(secondary)
    slots: dict[str, np.ndarray] = {}
    for slot in ("k1", "k2"):
        u = rng.random(size)
        keyword = np.empty(size, dtype=np.int64)
        own = u >= config.title_keyword_noise
        sibling = u < config.title_keyword_noise / 2
        stranger = ~own & ~sibling
        keyword[own] = world.subtopic_keywords.sample(subtopic[own], rng)
        keyword[sibling] = taxonomy.keywords.sample(taxonomy.random_sibling(secondary[sibling], rng), rng)
        keyword[stranger] = taxonomy.keywords.sample(
            rng.integers(0, taxonomy.n_secondaries, int(stranger.sum())), rng
        )
        slots[slot] = world.keyword_words[keyword]
    for slot, words in (
        ("adj", ADJECTIVES),
        ("noun", NOUNS),
        ("intro", INTROS),
        ("filler", FILLERS),
        ("num", NUMBERS),
    ):
        slots[slot] = np.array(words, dtype=object)[rng.integers(0, len(words), size)]
    slots["topic"] = world.primary_tags.words[world.primary_tags.sample(taxonomy.parent[secondary], rng)]
    slots["generic"] = np.array(GENERIC_TAGS, dtype=object)[world.generic.sample(secondary, rng)]
    slots["noise"] = world.noise_tags.words[world.noise_tags.sample(np.zeros(size, dtype=np.int64), rng)]
    informative, uninformative = _REALISTIC_INFORMATIVE_TEMPLATES, _REALISTIC_UNINFORMATIVE_TEMPLATES
    template = np.where(
        rng.random(size) < config.uninformative_title_share,
        len(informative) + rng.integers(0, len(uninformative), size),
        rng.integers(0, len(informative), size),
    )
    return _fill_templates(informative + uninformative, template, slots)


def _draw_cover_plans(
    config: SyntheticConfig, taxonomy: _Taxonomy, secondary: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """What each realistic cover will show: a palette (primary index), a motif, and whether it is faint.

    Palette and motif follow the class independently, each with its own probability, so the
    cover's two cues disagree as often as they agree; drawn here, not while rendering, so the
    data set records them whether or not covers are rendered.
    """
    size = len(secondary)
    own_palette = rng.random(size) < config.cover_palette_tie
    own_motif = rng.random(size) < config.cover_motif_tie
    palette = np.where(
        own_palette, taxonomy.parent[secondary], rng.integers(0, len(taxonomy.primaries), size)
    )
    motif = np.where(own_motif, _motif_index(taxonomy, secondary), rng.integers(0, len(MOTIFS), size))
    return {"palette": palette, "motif": motif, "faint": rng.random(size) < config.ambiguous_cover_share}


# --- users and exposures -----------------------------------------------------------------------


def _generate_users(config: SyntheticConfig, groups: np.ndarray, n_groups: int) -> dict[str, np.ndarray]:
    """Activity, click propensity and 1-3 preferred groups (-1 pads) per user.

    The groups are the videos' secondary classes (planted) or subtopics (realistic).
    """
    rng = _rng(config.seed, _STREAM_USERS)
    activity = rng.lognormal(0.0, 1.0, config.n_users)
    activity /= activity.mean()
    sizes = np.bincount(groups, minlength=n_groups).astype(float)
    preferred = _preferences(sizes, config.n_users, rng)
    return {
        "activity": activity,
        "propensity": rng.lognormal(-0.045, 0.3, config.n_users),  # mean about 1
        "preferred": preferred,
    }


def _preferences(sizes: np.ndarray, n_users: int, rng: np.random.Generator) -> np.ndarray:
    """1-3 distinct groups (classes or subtopics) per user, -1 padded, drawn in proportion to ``sizes``.

    Only groups with videos are drawn, the large ones more often, so a preference can be served.
    """
    p = sizes / sizes.sum()
    n_preferred = 1 + rng.choice(len(_PREFERENCES_PER_USER), size=n_users, p=_PREFERENCES_PER_USER)
    preferred = np.full((n_users, len(_PREFERENCES_PER_USER)), -1, dtype=np.int64)
    available = int((sizes > 0).sum())
    for column in range(preferred.shape[1]):
        needed = np.flatnonzero((n_preferred > column) & (column < available))
        for _ in range(100):  # redraw groups a user already prefers; few rounds suffice
            if not len(needed):
                break
            preferred[needed, column] = rng.choice(len(sizes), size=len(needed), p=p)
            repeated = (preferred[needed, :column] == preferred[needed, column : column + 1]).any(axis=1)
            needed = needed[repeated]
        preferred[needed, column] = -1
    return preferred


def _generate_exposures(
    config: SyntheticConfig,
    taxonomy: _Taxonomy,
    videos: dict[str, np.ndarray],
    users: dict[str, np.ndarray],
    *,
    progress: bool,
) -> pa.Table:
    """Planted exposures sorted by time, drawn chunk by chunk; see the module docstring for the model."""
    total = config.total_exposures
    sampler = _VideoSampler(videos, videos["secondary"], taxonomy.n_secondaries)
    user_cdf = np.cumsum(users["activity"]) / users["activity"].sum()
    preferred = users["preferred"]
    n_preferred = (preferred >= 0).sum(axis=1)
    preferred_parent = np.where(preferred >= 0, taxonomy.parent[preferred], -1)
    base_ctr = np.array([config.ctr_other, config.ctr_sibling, config.ctr_preferred])
    start_us = int(config.start.timestamp() * 1_000_000)
    end_us = start_us + config.n_days * _DAY_US
    parts: list[tuple[np.ndarray, ...]] = []
    with _bar(progress, total, "exposures", "exp") as bar:
        for chunk, begin in enumerate(range(0, total, _EXPOSURE_CHUNK)):
            rng = _rng(config.seed, _STREAM_EXPOSURES, chunk)
            size = min(_EXPOSURE_CHUNK, total - begin)
            user = np.minimum(np.searchsorted(user_cdf, rng.random(size), side="right"), config.n_users - 1)
            ts = rng.integers(start_us, end_us, size)
            by_preference = (rng.random(size) < config.preference_share) & (n_preferred[user] > 0)
            wanted_class = preferred[
                user, (rng.random(size) * np.maximum(n_preferred[user], 1)).astype(np.int64)
            ]
            wanted_class[~by_preference] = -1
            video = sampler.draw(ts, wanted_class, rng)
            late = videos["published_us"][video] > ts
            # nothing at all was online yet (first minutes of day 0): show the video a little later
            ts[late] = rng.integers(videos["published_us"][video[late]], end_us)
            secondary = videos["secondary"][video]
            affinity = np.where(
                (preferred[user] == secondary[:, None]).any(axis=1),
                2,
                (preferred_parent[user] == taxonomy.parent[secondary][:, None]).any(axis=1).astype(np.int64),
            )
            p_click = np.minimum(
                base_ctr[affinity] * videos["quality"][video] * users["propensity"][user], 0.95
            )
            parts.append((user, video, ts, rng.random(size) < p_click))
            bar.update(size)
    return _exposures_arrow(parts)


def _generate_realistic_exposures(
    config: SyntheticConfig,
    taxonomy: _Taxonomy,
    world: _World,
    videos: dict[str, np.ndarray],
    users: dict[str, np.ndarray],
    *,
    progress: bool,
) -> pa.Table:
    """Realistic exposures sorted by time: preference exposures come from a preferred subtopic or,
    less often, from anywhere in its class; the click probability has four levels of affinity."""
    total = config.total_exposures
    by_subtopic = _VideoSampler(videos, videos["subtopic"], world.n_subtopics)
    by_class = _VideoSampler(videos, videos["secondary"], taxonomy.n_secondaries)
    user_cdf = np.cumsum(users["activity"]) / users["activity"].sum()
    preferred = users["preferred"]
    n_preferred = (preferred >= 0).sum(axis=1)
    # -1 pads never equal a class: a padded preference matches nothing
    preferred_class = np.where(preferred >= 0, world.subtopic_class[preferred], -1)
    preferred_parent = np.where(preferred >= 0, taxonomy.parent[preferred_class], -1)
    # affinity 0: other, 1: same primary class, 2: same secondary class, 3: a preferred subtopic
    base_ctr = np.array([config.ctr_other, config.ctr_sibling, config.ctr_preferred, config.ctr_subtopic])
    start_us = int(config.start.timestamp() * 1_000_000)
    end_us = start_us + config.n_days * _DAY_US
    parts: list[tuple[np.ndarray, ...]] = []
    with _bar(progress, total, "exposures", "exp") as bar:
        for chunk, begin in enumerate(range(0, total, _EXPOSURE_CHUNK)):
            rng = _rng(config.seed, _STREAM_EXPOSURES, chunk)
            size = min(_EXPOSURE_CHUNK, total - begin)
            user = np.minimum(np.searchsorted(user_cdf, rng.random(size), side="right"), config.n_users - 1)
            ts = rng.integers(start_us, end_us, size)
            by_preference = (rng.random(size) < config.preference_share) & (n_preferred[user] > 0)
            pick = preferred[user, (rng.random(size) * np.maximum(n_preferred[user], 1)).astype(np.int64)]
            broad = by_preference & (rng.random(size) >= config.subtopic_exposure_share)
            wanted_subtopic = np.where(by_preference & ~broad, pick, -1)
            video = by_subtopic.draw(ts, wanted_subtopic, rng)  # popularity where no subtopic is wanted
            rows = np.flatnonzero(broad)
            video[rows] = by_class.draw(ts[rows], world.subtopic_class[pick[rows]], rng)
            late = videos["published_us"][video] > ts
            # nothing at all was online yet (first minutes of day 0): show the video a little later
            ts[late] = rng.integers(videos["published_us"][video[late]], end_us)
            subtopic = videos["subtopic"][video]
            secondary = videos["secondary"][video]
            affinity = np.select(
                [
                    (preferred[user] == subtopic[:, None]).any(axis=1),
                    (preferred_class[user] == secondary[:, None]).any(axis=1),
                    (preferred_parent[user] == taxonomy.parent[secondary][:, None]).any(axis=1),
                ],
                [3, 2, 1],
                default=0,
            )
            p_click = np.minimum(
                base_ctr[affinity] * videos["quality"][video] * users["propensity"][user], 0.95
            )
            parts.append((user, video, ts, rng.random(size) < p_click))
            bar.update(size)
    return _exposures_arrow(parts)


def _exposures_arrow(parts: list[tuple[np.ndarray, ...]]) -> pa.Table:
    """The exposure chunks as one table sorted by time."""
    if parts:
        user, video, ts, clicked = (np.concatenate(column) for column in zip(*parts, strict=True))
    else:
        user, video, ts, clicked = (
            np.empty(0, dtype=dtype) for dtype in (np.int64, np.int64, np.int64, bool)
        )
    order = np.argsort(ts, kind="stable")
    return pa.table(
        {
            "user_id": pa.array(user[order]),
            "video_id": pa.array(video[order]),
            "ts": pa.array(ts[order], type=pa.int64()).cast(TIMESTAMP),
            "clicked": pa.array(clicked[order]),
        }
    )


class _VideoSampler:
    """Draws videos by popularity among those online at a time, overall or within a group.

    Groups are secondary classes or subtopics. Video ids run in order of publication, so the
    videos online at a time are a prefix of the catalogue, and within a group a prefix of the
    group's videos: a draw is one lookup in cumulative popularity, with no rejection, whatever
    the time.
    """

    def __init__(self, videos: dict[str, np.ndarray], groups: np.ndarray, n_groups: int) -> None:
        self.published_us = videos["published_us"]
        self.cumulative = np.cumsum(videos["popularity"])
        self.by_class = np.argsort(groups, kind="stable")  # by group, then publication
        classes = groups[self.by_class]
        self.class_start = np.searchsorted(classes, np.arange(n_groups))
        self.class_cumulative = np.cumsum(videos["popularity"][self.by_class])
        # publication times, each group shifted into its own band, sort in by_class order
        self.origin = int(self.published_us[0])
        self.band = int(self.published_us[-1]) - self.origin + 1
        self.class_time_keys = classes * self.band + (self.published_us[self.by_class] - self.origin)

    def draw(self, ts: np.ndarray, wanted_class: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A video per exposure: of group ``wanted_class`` (-1: any), published by ``ts`` where possible.

        An exposure whose group has nothing online yet takes any online video; one at a time
        when nothing at all is online (the first minutes of day 0) gets the first video, which
        the caller must show later.
        """
        u = rng.random(len(ts))
        video = np.empty(len(ts), dtype=np.int64)
        rows = np.flatnonzero(wanted_class >= 0)
        classes = wanted_class[rows]
        first = self.class_start[classes]
        offset = np.maximum(ts[rows] - self.origin, -1)  # before anything is published: an empty prefix
        end = np.maximum(
            np.searchsorted(self.class_time_keys, classes * self.band + offset, side="right"), first
        )
        found = end > first
        rows, first, end, classes = rows[found], first[found], end[found], classes[found]
        video[rows] = self.by_class[_draw_in_prefix(self.class_cumulative, first, end, u[rows])]

        rest = np.ones(len(ts), dtype=bool)
        rest[rows] = False
        online = np.maximum(np.searchsorted(self.published_us, ts[rest], side="right"), 1)
        video[rest] = _draw_in_prefix(self.cumulative, np.zeros_like(online), online, u[rest])
        return video


def _draw_in_prefix(cumulative: np.ndarray, first: np.ndarray, end: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Positions in ``[first, end)`` drawn in proportion to weights whose running sum is ``cumulative``."""
    below = np.where(first > 0, cumulative[np.maximum(first - 1, 0)], 0.0)
    target = below + u * (cumulative[end - 1] - below)
    return np.clip(np.searchsorted(cumulative, target, side="right"), first, end - 1)


# --- tables ------------------------------------------------------------------------------------


def _videos_arrow(
    videos: dict[str, np.ndarray], taxonomy: _Taxonomy, covers: list[str] | None, tag_words: np.ndarray
) -> pa.Table:
    n = len(videos["secondary"])
    offsets = np.r_[0, np.cumsum(videos["tag_counts"])].astype(np.int32)
    words = pa.array(tag_words.tolist(), type=pa.string())
    secondary_names = pa.array(taxonomy.secondaries, type=pa.string())
    primary_names = pa.array(taxonomy.primaries, type=pa.string())
    return pa.table(
        {
            "video_id": pa.array(np.arange(n, dtype=np.int64)),
            "title": pa.array(videos["title"], type=pa.string()),
            "tags": pa.ListArray.from_arrays(pa.array(offsets), words.take(pa.array(videos["tags"]))),
            "primary_class": primary_names.take(pa.array(taxonomy.parent[videos["secondary"]])),
            "secondary_class": secondary_names.take(pa.array(videos["secondary"])),
            "cover": pa.array(covers, type=pa.string()) if covers is not None else pa.nulls(n, pa.string()),
            "published_at": pa.array(videos["published_us"], type=pa.int64()).cast(TIMESTAMP),
        }
    )


def _users_arrow(users: dict[str, np.ndarray], taxonomy: _Taxonomy, world: _World | None) -> pa.Table:
    """Users' ground truth; in the realistic preset, the classes are those of the preferred subtopics."""
    preferred = users["preferred"]
    subtopics = pa.nulls(len(preferred), pa.list_(pa.string()))
    if world is not None:
        subtopics = _ragged_names(preferred, world.subtopic_names)
        # a user who prefers two subtopics of one class lists the class once
        classes = np.where(preferred >= 0, world.subtopic_class[preferred], -1)
        repeated = np.zeros(classes.shape, dtype=bool)
        for column in range(1, classes.shape[1]):
            repeated[:, column] = (classes[:, :column] == classes[:, column : column + 1]).any(axis=1)
        classes = _left_align(np.where(repeated, -1, classes))
    else:
        classes = preferred
    return pa.table(
        {
            "user_id": pa.array(np.arange(len(preferred), dtype=np.int64)),
            "preferred_classes": _ragged_names(classes, taxonomy.secondaries),
            "preferred_subtopics": subtopics,
            "activity": pa.array(users["activity"]),
        }
    )


def _ragged_names(ids: np.ndarray, names: list[str]) -> pa.ListArray:
    """Rows of ids (-1 pads, at the end) as lists of names."""
    counts = (ids >= 0).sum(axis=1)
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int32)
    values = pa.array(names, type=pa.string()).take(pa.array(ids[ids >= 0]))
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _left_align(ids: np.ndarray) -> np.ndarray:
    """Move each row's -1 pads to its end, keeping the order of the other ids."""
    order = np.argsort(ids < 0, axis=1, kind="stable")
    return np.take_along_axis(ids, order, axis=1)


def _truth_arrow(videos: dict[str, np.ndarray], taxonomy: _Taxonomy, world: _World | None) -> pa.Table:
    """The videos' ground truth kept out of the videos table (see :func:`load_truth`)."""
    n = len(videos["secondary"])
    if world is None:
        subtopic = pa.array(taxonomy.secondaries, type=pa.string()).take(pa.array(videos["secondary"]))
        palette = motif = pa.nulls(n, pa.string())
        faint = pa.nulls(n, pa.bool_())
    else:
        subtopic = pa.array(world.subtopic_names, type=pa.string()).take(pa.array(videos["subtopic"]))
        palette = pa.array(taxonomy.primaries, type=pa.string()).take(pa.array(videos["palette"]))
        motif = pa.array(MOTIFS, type=pa.string()).take(pa.array(videos["motif"]))
        faint = pa.array(videos["faint"])
    return pa.table(
        {
            "video_id": pa.array(np.arange(n, dtype=np.int64)),
            "subtopic": subtopic,
            "cover_palette": palette,
            "cover_motif": motif,
            "cover_faint": faint,
        }
    )


# --- covers -------------------------------------------------------------------------------------


def _render_covers(
    config: SyntheticConfig,
    taxonomy: _Taxonomy,
    videos: dict[str, np.ndarray],
    directory: Path,
    *,
    progress: bool,
) -> list[str]:
    """Render every cover to ``directory/<video_id>.png`` in parallel; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    secondary = videos["secondary"]
    n = len(secondary)
    if "palette" in videos:  # realistic: palette, motif and faintness were drawn with the video
        palette, motif = videos["palette"], videos["motif"]
        ambiguous, faint = np.zeros(n, dtype=bool), videos["faint"]
    else:  # planted: the class's palette and motif, unless the renderer makes the cover ambiguous
        palette, motif = taxonomy.parent[secondary], _motif_index(taxonomy, secondary)
        ambiguous, faint = videos["ambiguous"], np.zeros(n, dtype=bool)
    tasks = [
        _CoverTask(
            directory=str(directory),
            seed=config.seed,
            chunk=chunk,
            first_id=begin,
            primary=palette[begin : begin + _COVER_CHUNK],
            motif=motif[begin : begin + _COVER_CHUNK],
            ambiguous=ambiguous[begin : begin + _COVER_CHUNK],
            faint=faint[begin : begin + _COVER_CHUNK],
            size=config.cover_size,
        )
        for chunk, begin in enumerate(range(0, n, _COVER_CHUNK))
    ]
    workers = min(config.workers or _usable_cores(), len(tasks))
    with _bar(progress, n, "covers", "img") as bar:
        if workers <= 1:
            for task in tasks:
                bar.update(_render_chunk(task))
        else:
            # spawn, not fork: the parent may hold threads (Arrow's pools) that fork would copy mid-flight
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                for done in pool.map(_render_chunk, tasks, chunksize=4):
                    bar.update(done)
    return [str(directory / f"{video_id}.png") for video_id in range(n)]


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _motif_index(taxonomy: _Taxonomy, secondary: np.ndarray) -> np.ndarray:
    # offset by the primary so that, e.g., every first-born secondary does not get circles
    return (taxonomy.rank_in_parent[secondary] + taxonomy.parent[secondary]) % len(MOTIFS)


@dataclass(frozen=True)
class _CoverTask:
    directory: str
    seed: int
    chunk: int
    first_id: int
    primary: np.ndarray
    motif: np.ndarray
    ambiguous: np.ndarray
    faint: np.ndarray
    size: int


def _render_chunk(task: _CoverTask) -> int:
    """Render one chunk of covers (in a worker process); returns how many it wrote."""
    rng = _rng(task.seed, _STREAM_COVERS, task.chunk)
    n_primaries = len(TAXONOMY)
    for offset, (primary, motif, ambiguous, faint) in enumerate(
        zip(task.primary, task.motif, task.ambiguous, task.faint, strict=True)
    ):
        contrast = 1.0
        if ambiguous:
            # a cover that misleads: another class's palette or motif, faintly drawn
            if rng.random() < 0.5:
                primary = rng.integers(n_primaries)
            else:
                motif = rng.integers(len(MOTIFS))
            contrast = rng.uniform(0.3, 0.6)
        elif faint:  # never in the planted preset, whose draws must stay as they were
            contrast = rng.uniform(0.3, 0.6)
        image = render_cover(int(primary), int(motif), size=task.size, rng=rng, contrast=contrast)
        # level 1 is twice as fast as the default 6 and, on these images, hardly bigger
        image.save(Path(task.directory) / f"{task.first_id + offset}.png", compress_level=1)
    return len(task.primary)
