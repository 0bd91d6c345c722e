"""A synthetic video platform with the structure the paper's method should recover.

Videos belong to a hand-written taxonomy of 12 primary classes and 50 secondary classes with
real English names. Each modality carries the class, with noise:

* tags come mostly from the video's secondary class, some from its siblings (same primary),
  a few from global noise tags; within a class they are Zipf-distributed, so tags of one class
  co-occur;
* titles are English phrases built from the class's keywords (sometimes a sibling's or a
  stranger's), and some titles say nothing about the class at all;
* covers have a palette chosen by the primary class and a motif chosen by the secondary class,
  jittered in position, size, rotation and colour, with noise; some are deliberately ambiguous.

Users prefer 1-3 secondary classes. Over ``n_days`` days they are shown videos that are either
from a preferred class or simply popular, and click with a probability that depends on how the
video's class relates to their preferences and on the video's quality. Half of the catalogue
is published on day 0, the rest day by day, and no video is shown before it is published.

Everything is drawn from random streams keyed by (seed, purpose, chunk), so a seed gives the
same data set whatever the chunk timing or the number of processes that render covers.
"""

from __future__ import annotations

import colorsys
import math
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image, ImageDraw
from tqdm import tqdm

from mtl.errors import DataError
from topic_learning.data.dataset import COVERS_DIR, Dataset, prepare_directory
from topic_learning.data.schema import TIMESTAMP, to_pandas

# fmt: off
TAXONOMY: dict[str, dict[str, tuple[str, ...]]] = {
    "sports": {
        "football": (
            "soccer", "goal", "striker", "penalty", "free kick", "goalkeeper", "midfielder", "world cup",
            "premier league", "dribbling", "offside", "derby",
        ),
        "basketball": (
            "nba", "dunk", "three pointer", "point guard", "rebound", "slam dunk", "layup", "buzzer beater",
            "crossover", "free throw", "hoops", "playoffs",
        ),
        "tennis": (
            "wimbledon", "serve", "backhand", "forehand", "racket", "grand slam", "volley", "tiebreak",
            "clay court", "ace", "baseline", "us open",
        ),
        "running": (
            "marathon", "sprint", "jogging", "trail running", "running shoes", "personal best", "5k race",
            "half marathon", "pace", "track", "ultramarathon", "interval training",
        ),
        "swimming": (
            "freestyle", "butterfly stroke", "backstroke", "breaststroke", "swimming pool", "lap", "diving",
            "open water", "goggles", "olympic pool", "relay", "flip turn",
        ),
        "fitness": (
            "workout", "gym", "squats", "deadlift", "push ups", "yoga", "stretching", "abs", "cardio",
            "weightlifting", "personal trainer", "home workout",
        ),
    },
    "music": {
        "pop": (
            "pop star", "chart hit", "music video", "boy band", "girl group", "love song", "pop ballad",
            "billboard", "catchy chorus", "remix", "singer", "album release",
        ),
        "rock": (
            "electric guitar", "drummer", "rock band", "heavy metal", "guitar solo", "punk", "concert",
            "riff", "bass guitar", "stage dive", "amplifier", "encore",
        ),
        "hip hop": (
            "rap", "rapper", "freestyle rap", "beat", "mixtape", "turntable", "dj", "lyrics", "cypher",
            "trap beat", "breakdance", "mic drop",
        ),
        "classical": (
            "piano", "violin", "orchestra", "symphony", "cello", "mozart", "beethoven", "concerto",
            "conductor", "sonata", "opera", "string quartet",
        ),
        "karaoke": (
            "karaoke night", "singing cover", "duet", "high notes", "vocal range", "sing along",
            "microphone", "acoustic cover", "vocal coach", "talent show", "choir", "humming",
        ),
    },
    "food": {
        "baking": (
            "bread", "sourdough", "cake", "cookies", "croissant", "oven", "dough", "pastry", "cupcakes",
            "frosting", "pie crust", "muffins",
        ),
        "street food": (
            "food truck", "night market", "dumplings", "tacos", "noodles", "skewers", "fried chicken",
            "food stall", "hot dog", "bubble tea", "spring rolls", "street vendor",
        ),
        "home cooking": (
            "recipe", "dinner", "kitchen", "stir fry", "pasta", "soup", "roast chicken", "meal prep",
            "salad", "curry", "omelette", "family meal",
        ),
        "barbecue": (
            "grill", "brisket", "smoked ribs", "bbq sauce", "charcoal", "steak", "pulled pork", "burgers",
            "smoker", "marinade", "kebab", "wood fire",
        ),
    },
    "travel": {
        "beaches": (
            "beach", "ocean", "sunset", "island", "surfing", "sand", "snorkeling", "palm trees", "tropical",
            "coral reef", "seaside", "waves",
        ),
        "hiking": (
            "mountain", "trail", "summit", "camping", "backpack", "forest", "waterfall", "national park",
            "hiking boots", "scenic view", "canyon", "glacier",
        ),
        "city tours": (
            "skyline", "landmarks", "museum", "old town", "city walk", "street art", "cathedral", "subway",
            "rooftop", "night view", "architecture", "walking tour",
        ),
        "road trips": (
            "road trip", "highway", "camper van", "gas station", "route 66", "scenic drive", "motel",
            "desert road", "van life", "road map", "mountain pass", "travel vlog",
        ),
    },
    "gaming": {
        "esports": (
            "tournament", "league of legends", "dota", "pro player", "team fight", "championship",
            "counter strike", "caster", "valorant", "clutch", "ranked match", "overwatch",
        ),
        "mobile games": (
            "mobile game", "pubg mobile", "clash royale", "gacha", "touch controls", "candy crush",
            "among us", "free to play", "level up", "genshin impact", "mobile legends", "idle game",
        ),
        "retro games": (
            "retro gaming", "arcade", "nintendo", "mario", "pixel art", "game boy", "sega",
            "console collection", "8 bit", "pac man", "zelda", "classic console",
        ),
        "strategy games": (
            "chess", "civilization", "starcraft", "tower defense", "base building", "real time strategy",
            "turn based", "grand strategy", "age of empires", "board game", "checkmate", "total war",
        ),
    },
    "news": {
        "politics": (
            "election", "president", "parliament", "senate", "vote", "campaign", "debate", "policy",
            "government", "minister", "referendum", "diplomacy",
        ),
        "business": (
            "stock market", "economy", "inflation", "startup", "interest rates", "wall street", "earnings",
            "investors", "cryptocurrency", "bitcoin", "trade war", "unemployment",
        ),
        "weather": (
            "storm", "hurricane", "rain", "snow", "heatwave", "forecast", "tornado", "flood", "thunderstorm",
            "typhoon", "climate", "temperature",
        ),
        "local news": (
            "traffic accident", "fire department", "police", "city council", "community event",
            "neighborhood", "rescue", "road closure", "local hero", "school board", "firefighters",
            "breaking news",
        ),
    },
    "fashion": {
        "streetwear": (
            "hoodie", "oversized fit", "outfit of the day", "thrift haul", "vintage jacket", "cargo pants",
            "graphic tee", "sneakers", "lookbook", "bucket hat", "denim", "drip",
        ),
        "makeup": (
            "lipstick", "eyeliner", "foundation", "eyeshadow", "contour", "mascara", "skincare",
            "makeup tutorial", "blush", "concealer", "beauty routine", "highlighter",
        ),
        "hairstyles": (
            "haircut", "braids", "curly hair", "hair dye", "ponytail", "barber", "bob cut", "hair care",
            "updo", "bangs", "fade", "hair tutorial",
        ),
        "jewelry": (
            "necklace", "earrings", "gold ring", "diamond", "bracelet", "pearls", "engagement ring",
            "silver", "gemstone", "pendant", "handmade jewelry", "watch collection",
        ),
    },
    "pets": {
        "dogs": (
            "puppy", "golden retriever", "dog training", "corgi", "husky", "dog park", "fetch", "labrador",
            "german shepherd", "bark", "leash", "good boy",
        ),
        "cats": (
            "kitten", "cat", "meow", "purring", "cat tree", "siamese", "catnip", "tabby", "litter box",
            "persian cat", "scratching post", "cat nap",
        ),
        "birds": (
            "parrot", "budgie", "cockatoo", "bird cage", "songbird", "parakeet", "feathers", "canary",
            "cockatiel", "bird feeder", "owl", "talking parrot",
        ),
        "aquarium": (
            "fish tank", "goldfish", "betta fish", "aquascape", "coral", "clownfish", "guppies",
            "aquarium plants", "koi pond", "shrimp tank", "water filter", "tropical fish",
        ),
    },
    "tech": {
        "smartphones": (
            "iphone", "android", "samsung galaxy", "phone review", "unboxing", "camera test", "battery life",
            "pixel phone", "foldable phone", "smartphone", "screen protector", "phone case",
        ),
        "computers": (
            "laptop", "gaming pc", "graphics card", "pc build", "motherboard", "keyboard", "monitor",
            "macbook", "cpu", "ssd", "water cooling", "desk setup",
        ),
        "gadgets": (
            "smartwatch", "drone", "earbuds", "headphones", "smart home", "vr headset", "tablet",
            "action camera", "robot vacuum", "e reader", "charger", "tech gadgets",
        ),
        "programming": (
            "python", "javascript", "coding", "software engineer", "algorithm", "web development",
            "debugging", "github", "machine learning", "data structures", "linux", "code review",
        ),
    },
    "comedy": {
        "pranks": (
            "prank", "hidden camera", "scare prank", "prank call", "practical joke", "reaction",
            "roommate prank", "fake spider", "whoopee cushion", "gotcha", "surprise", "public prank",
        ),
        "stand-up": (
            "stand up comedy", "comedian", "punchline", "open mic", "comedy club", "crowd work",
            "stand up special", "heckler", "one liner", "roast", "jokes", "late night show",
        ),
        "sketches": (
            "sketch comedy", "parody", "skit", "impressions", "funny characters", "spoof", "comedy duo",
            "satire", "improv", "blooper", "short film", "acting",
        ),
    },
    "education": {
        "math": (
            "algebra", "geometry", "calculus", "equations", "math tricks", "fractions", "probability",
            "trigonometry", "multiplication", "math olympiad", "statistics", "proof",
        ),
        "history": (
            "ancient rome", "world war", "medieval", "egypt", "pyramids", "empire", "historical facts",
            "civil war", "vikings", "renaissance", "dynasty", "archaeology",
        ),
        "language learning": (
            "english grammar", "vocabulary", "pronunciation", "spanish lessons", "learn french", "idioms",
            "accent", "language exchange", "flashcards", "japanese", "speaking practice", "ielts",
        ),
        "science": (
            "physics", "chemistry", "biology", "experiment", "space", "astronomy", "dna", "laboratory",
            "volcano", "black hole", "solar system", "microscope",
        ),
    },
    "autos": {
        "supercars": (
            "ferrari", "lamborghini", "supercar", "porsche", "mclaren", "v8 engine", "exhaust sound",
            "bugatti", "top speed", "sports car", "launch control", "horsepower",
        ),
        "motorcycles": (
            "motorbike", "harley davidson", "superbike", "motocross", "helmet", "wheelie", "scooter",
            "dirt bike", "biker", "sport bike", "cruiser", "ducati",
        ),
        "electric vehicles": (
            "tesla", "electric car", "charging station", "battery range", "autopilot", "ev", "model 3",
            "regenerative braking", "electric truck", "charging cable", "range test", "e bike",
        ),
        "car repair": (
            "mechanic", "oil change", "brake pads", "engine repair", "car wash", "detailing", "tire change",
            "garage", "diagnostics", "spark plugs", "car restoration", "dashboard",
        ),
    },
}
"""Primary class → secondary class → keywords (noun phrases, unique across the taxonomy)."""

TAG_SUFFIXES = ("highlights", "tips", "tutorial", "vlog", "compilation", "review", "challenge",
                "lovers", "daily", "life", "fans", "community")
"""Make class-specific compound tags ("football highlights") the way uploaders do."""

NOISE_TAGS = ("viral", "trending", "fyp", "for you", "must watch", "funny", "cute", "amazing",
              "weekend", "love", "follow me", "like for like", "new video", "satisfying",
              "best moments", "life hacks", "happy", "relax", "shorts", "2021")
"""Tags any uploader adds to any video to be found: they say nothing about the class."""

_ADJECTIVES = ("amazing", "incredible", "crazy", "best", "epic", "beautiful", "funny", "quick", "easy",
               "ultimate", "simple", "unbelievable", "perfect", "relaxing", "insane")
_NOUNS = ("moments", "highlights", "tips", "tutorial", "vlog", "compilation", "review", "challenge",
          "guide", "story", "clip", "session", "ideas", "fails", "reaction")
_INTROS = ("watch this", "today's", "the best", "my", "our", "new", "weekly", "classic", "random")
_FILLERS = ("you won't believe what happened", "watch till the end", "my day today", "this made my day",
            "wait for it", "so satisfying", "like and follow", "what do you think?", "must see",
            "part two", "not what I expected", "just for fun", "story time", "trying this for the first time",
            "had to share this")
_NUMBERS = tuple(str(n) for n in (3, 5, 7, 10, 15, 20))
# fmt: on

# A title template is a sequence of literals and slot names; slots are filled per video.
_SLOTS = ("k1", "k2", "adj", "noun", "intro", "filler", "num")
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

_TAGS_PER_VIDEO = np.array([0.14, 0.24, 0.24, 0.18, 0.12, 0.08])  # 1..6 tags
_PREFERENCES_PER_USER = np.array([0.4, 0.4, 0.2])  # 1..3 preferred secondary classes
MOTIFS = ("circles", "stripes", "triangles", "rings", "grid", "cross", "diamonds", "waves")
"""Cover motifs; siblings of one primary class never share one (a primary has at most 6)."""
_ROUND_MOTIFS = frozenset({"circles", "rings"})

_DAY_US = 86_400 * 1_000_000
_VIDEO_CHUNK = 250_000
_EXPOSURE_CHUNK = 1_000_000
_COVER_CHUNK = 128

# random stream ids: one per purpose, so adding draws to one purpose leaves the others unchanged
_STREAM_CLASSES, _STREAM_VIDEOS, _STREAM_SCHEDULE, _STREAM_USERS, _STREAM_EXPOSURES, _STREAM_COVERS = range(6)


@dataclass(frozen=True)
class SyntheticConfig:
    """Size, seed and knobs of a synthetic data set; defaults give overall CTR of about 7%.

    Attributes
    ----------
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
        Share of exposures drawn from the user's preferred classes (the others follow popularity).
    own_tag_share, sibling_tag_share
        Share of a video's tags from its own secondary class, and from sibling secondary
        classes of its primary class; the remainder are noise tags.
    title_keyword_noise
        Share of title keywords from a sibling class (two thirds) or any class (one third).
    uninformative_title_share
        Share of titles with no class keyword at all.
    ambiguous_cover_share
        Share of covers drawn with another class's palette or motif and low contrast.
    popularity_exponent
        Zipf exponent of video popularity.
    ctr_preferred, ctr_sibling, ctr_other
        Base click probability when the video's secondary class is preferred by the user, when
        only its primary class is, and otherwise; scaled by video quality and user propensity.
    workers
        Processes that render covers; None: every core this process may use.
    """

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
    own_tag_share: float = 0.78
    sibling_tag_share: float = 0.14
    title_keyword_noise: float = 0.15
    uninformative_title_share: float = 0.15
    ambiguous_cover_share: float = 0.1
    popularity_exponent: float = 0.8
    ctr_preferred: float = 0.11
    ctr_sibling: float = 0.045
    ctr_other: float = 0.015
    workers: int | None = None

    def __post_init__(self) -> None:
        at_least = {
            "seed": 0,
            "n_videos": 1,
            "n_users": 1,
            "n_days": 1,
            "cover_size": 16,
            "workers": 1,
            "n_exposures": 0,
        }
        for name, low in at_least.items():
            value = getattr(self, name)
            if value is not None and value < low:
                raise DataError(f"synthetic config: {name} must be at least {low}, got {value}")
        shares = (
            "initial_share",
            "preference_share",
            "own_tag_share",
            "sibling_tag_share",
            "title_keyword_noise",
            "uninformative_title_share",
            "ambiguous_cover_share",
            "ctr_preferred",
            "ctr_sibling",
            "ctr_other",
        )
        for name in shares:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise DataError(
                    f"synthetic config: {name} must be between 0 and 1, got {getattr(self, name)}"
                )
        if self.own_tag_share + self.sibling_tag_share > 1.0:
            raise DataError("synthetic config: own_tag_share + sibling_tag_share must not exceed 1")
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

    def to_dict(self) -> dict[str, object]:
        """The configuration as JSON-ready values (for the manifest)."""
        values = asdict(self)
        values["start"] = self.start.isoformat()
        values["n_exposures"] = self.total_exposures
        return values


def tag_vocabulary() -> dict[str, tuple[str, ...]]:
    """Each secondary class's tags, most frequent first.

    The class name leads, then the class's keywords alternate with compound tags built from
    :data:`TAG_SUFFIXES`; a tag belongs to exactly one class. Videos draw from this order with
    Zipf weights, so the first few tags of a class are common and co-occur.

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


def generate(config: SyntheticConfig, out_dir: Path | str, progress: bool = True) -> Dataset:
    """Generate a synthetic data set and save it to ``out_dir``.

    Writes the layout of :mod:`topic_learning.data.dataset` plus ``users.parquet``, the users'
    ground truth (preferred secondary classes and relative activity).

    Parameters
    ----------
    config
        Sizes, seed and knobs.
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
    out_dir = prepare_directory(out_dir, clear_covers=True)
    taxonomy = _Taxonomy()
    videos = _generate_videos(config, taxonomy, progress=progress)
    users = _generate_users(config, taxonomy, videos)
    interactions = _generate_exposures(config, taxonomy, videos, users, progress=progress)
    covers = None
    if config.covers:
        covers = _render_covers(config, taxonomy, videos, out_dir / COVERS_DIR, progress=progress)
    dataset = Dataset(
        name="synthetic",
        videos=to_pandas(_videos_arrow(videos, taxonomy, covers)),
        interactions=to_pandas(interactions),
        users=to_pandas(_users_arrow(users, taxonomy)),
        root=out_dir,  # the covers are already in place there
        source="synthetic",
        params=config.to_dict(),
    )
    dataset.save(out_dir)
    return dataset


class _Taxonomy:
    """:data:`TAXONOMY` and the tag vocabularies as index arrays for vectorised sampling."""

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


def _rng(seed: int, stream: int, chunk: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, chunk)))


def _bar(progress: bool, total: int, desc: str, unit: str) -> tqdm:
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=not progress, leave=False)


def _generate_videos(
    config: SyntheticConfig, taxonomy: _Taxonomy, *, progress: bool
) -> dict[str, np.ndarray]:
    """Classes, tags, titles, quality, popularity and publication times, sorted by publication."""
    rng = _rng(config.seed, _STREAM_CLASSES)
    # mildly unequal class sizes, in an order the seed decides
    class_weights = 1.0 / np.sqrt(rng.permutation(taxonomy.n_secondaries) + 1.0)
    class_weights /= class_weights.sum()
    parts: list[dict[str, np.ndarray]] = []
    with _bar(progress, config.n_videos, "videos", "video") as bar:
        for chunk, begin in enumerate(range(0, config.n_videos, _VIDEO_CHUNK)):
            size = min(_VIDEO_CHUNK, config.n_videos - begin)
            parts.append(
                _video_chunk(config, taxonomy, class_weights, size, _rng(config.seed, _STREAM_VIDEOS, chunk))
            )
            bar.update(size)
    videos = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}

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
        ("adj", _ADJECTIVES),
        ("noun", _NOUNS),
        ("intro", _INTROS),
        ("filler", _FILLERS),
        ("num", _NUMBERS),
    ):
        slots[slot] = np.array(words, dtype=object)[rng.integers(0, len(words), size)]
    uninformative = rng.random(size) < config.uninformative_title_share
    template = np.where(
        uninformative,
        len(_INFORMATIVE_TEMPLATES) + rng.integers(0, len(_UNINFORMATIVE_TEMPLATES), size),
        rng.integers(0, len(_INFORMATIVE_TEMPLATES), size),
    )
    titles = np.empty(size, dtype=object)
    for t, parts in enumerate(_INFORMATIVE_TEMPLATES + _UNINFORMATIVE_TEMPLATES):
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


def _generate_users(
    config: SyntheticConfig, taxonomy: _Taxonomy, videos: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Activity, click propensity and 1-3 preferred secondary classes (-1 pads) per user."""
    rng = _rng(config.seed, _STREAM_USERS)
    n = config.n_users
    activity = rng.lognormal(0.0, 1.0, n)
    activity /= activity.mean()
    class_sizes = np.bincount(videos["secondary"], minlength=taxonomy.n_secondaries).astype(float)
    class_p = class_sizes / class_sizes.sum()  # only classes with videos, the popular ones more often
    n_preferred = 1 + rng.choice(len(_PREFERENCES_PER_USER), size=n, p=_PREFERENCES_PER_USER)
    preferred = np.full((n, len(_PREFERENCES_PER_USER)), -1, dtype=np.int64)
    available = int((class_sizes > 0).sum())
    for column in range(preferred.shape[1]):
        needed = np.flatnonzero((n_preferred > column) & (column < available))
        for _ in range(100):  # redraw classes a user already prefers; few rounds suffice
            if not len(needed):
                break
            preferred[needed, column] = rng.choice(taxonomy.n_secondaries, size=len(needed), p=class_p)
            repeated = (preferred[needed, :column] == preferred[needed, column : column + 1]).any(axis=1)
            needed = needed[repeated]
        preferred[needed, column] = -1
    return {
        "activity": activity,
        "propensity": rng.lognormal(-0.045, 0.3, n),  # mean about 1
        "preferred": preferred,
    }


def _generate_exposures(
    config: SyntheticConfig,
    taxonomy: _Taxonomy,
    videos: dict[str, np.ndarray],
    users: dict[str, np.ndarray],
    *,
    progress: bool,
) -> pa.Table:
    """Exposures sorted by time, drawn chunk by chunk; see the module docstring for the model."""
    total = config.total_exposures
    sampler = _VideoSampler(videos, taxonomy.n_secondaries)
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
    """Draws videos by popularity among those online at a time, overall or within a secondary class.

    Video ids run in order of publication, so the videos online at a time are a prefix of the
    catalogue, and within a class a prefix of the class's videos: a draw is one lookup in
    cumulative popularity, with no rejection, whatever the time.
    """

    def __init__(self, videos: dict[str, np.ndarray], n_classes: int) -> None:
        self.published_us = videos["published_us"]
        self.cumulative = np.cumsum(videos["popularity"])
        self.by_class = np.argsort(videos["secondary"], kind="stable")  # by class, then publication
        classes = videos["secondary"][self.by_class]
        self.class_start = np.searchsorted(classes, np.arange(n_classes))
        self.class_cumulative = np.cumsum(videos["popularity"][self.by_class])
        # publication times, each class shifted into its own band, sort in by_class order
        self.origin = int(self.published_us[0])
        self.band = int(self.published_us[-1]) - self.origin + 1
        self.class_time_keys = classes * self.band + (self.published_us[self.by_class] - self.origin)

    def draw(self, ts: np.ndarray, wanted_class: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A video per exposure: of ``wanted_class`` (-1: any), published by ``ts`` where possible.

        An exposure whose class has nothing online yet takes any online video; one at a time
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


def _videos_arrow(videos: dict[str, np.ndarray], taxonomy: _Taxonomy, covers: list[str] | None) -> pa.Table:
    n = len(videos["secondary"])
    offsets = np.r_[0, np.cumsum(videos["tag_counts"])].astype(np.int32)
    tag_words = pa.array(taxonomy.tags.words.tolist(), type=pa.string())
    secondary_names = pa.array(taxonomy.secondaries, type=pa.string())
    primary_names = pa.array(taxonomy.primaries, type=pa.string())
    return pa.table(
        {
            "video_id": pa.array(np.arange(n, dtype=np.int64)),
            "title": pa.array(videos["title"], type=pa.string()),
            "tags": pa.ListArray.from_arrays(pa.array(offsets), tag_words.take(pa.array(videos["tags"]))),
            "primary_class": primary_names.take(pa.array(taxonomy.parent[videos["secondary"]])),
            "secondary_class": secondary_names.take(pa.array(videos["secondary"])),
            "cover": pa.array(covers, type=pa.string()) if covers is not None else pa.nulls(n, pa.string()),
            "published_at": pa.array(videos["published_us"], type=pa.int64()).cast(TIMESTAMP),
        }
    )


def _users_arrow(users: dict[str, np.ndarray], taxonomy: _Taxonomy) -> pa.Table:
    preferred = users["preferred"]
    counts = (preferred >= 0).sum(axis=1)
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int32)
    names = pa.array(taxonomy.secondaries, type=pa.string()).take(pa.array(preferred[preferred >= 0]))
    return pa.table(
        {
            "user_id": pa.array(np.arange(len(preferred), dtype=np.int64)),
            "preferred_classes": pa.ListArray.from_arrays(pa.array(offsets), names),
            "activity": pa.array(users["activity"]),
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
    tasks = [
        _CoverTask(
            directory=str(directory),
            seed=config.seed,
            chunk=chunk,
            first_id=begin,
            primary=taxonomy.parent[secondary[begin : begin + _COVER_CHUNK]],
            motif=_motif_index(taxonomy, secondary[begin : begin + _COVER_CHUNK]),
            ambiguous=videos["ambiguous"][begin : begin + _COVER_CHUNK],
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
    size: int


def _render_chunk(task: _CoverTask) -> int:
    """Render one chunk of covers (in a worker process); returns how many it wrote."""
    rng = _rng(task.seed, _STREAM_COVERS, task.chunk)
    n_primaries = len(TAXONOMY)
    for offset, (primary, motif, ambiguous) in enumerate(
        zip(task.primary, task.motif, task.ambiguous, strict=True)
    ):
        contrast = 1.0
        if ambiguous:
            # a cover that misleads: another class's palette or motif, faintly drawn
            if rng.random() < 0.5:
                primary = rng.integers(n_primaries)
            else:
                motif = rng.integers(len(MOTIFS))
            contrast = rng.uniform(0.3, 0.6)
        image = render_cover(int(primary), int(motif), size=task.size, rng=rng, contrast=contrast)
        # level 1 is twice as fast as the default 6 and, on these images, hardly bigger
        image.save(Path(task.directory) / f"{task.first_id + offset}.png", compress_level=1)
    return len(task.primary)


def render_cover(
    primary: int, motif: int, *, size: int, rng: np.random.Generator, contrast: float = 1.0
) -> Image.Image:
    """Draw one cover: the palette of primary class ``primary`` and motif ``MOTIFS[motif]``.

    Parameters
    ----------
    primary
        Index into :data:`TAXONOMY`'s primary classes; picks the palette.
    motif
        Index into :data:`MOTIFS`.
    size
        Width and height in pixels.
    rng
        Source of the jitter: colours, positions, sizes, rotation and noise.
    contrast
        1 draws the motif in full colour; smaller values blend it into the background.

    Returns
    -------
    PIL.Image.Image
        An RGB image.
    """
    background, ink, accent = _palette(primary, rng)
    ink = _blend(background, ink, contrast)
    accent = _blend(background, accent, contrast)
    # draw on a canvas large enough that rotating it leaves no empty corner in the visible square
    frame = _Frame(size)
    image = Image.new("RGB", (frame.canvas, frame.canvas), background)
    _MOTIF_PAINTERS[MOTIFS[motif]](ImageDraw.Draw(image), frame, rng, ink, accent)
    if MOTIFS[motif] not in _ROUND_MOTIFS:  # rotating a circle costs time and changes nothing
        image = image.rotate(float(rng.uniform(-40, 40)), resample=Image.Resampling.BILINEAR)
    image = image.crop((frame.origin, frame.origin, frame.origin + size, frame.origin + size))
    # coarse noise: texture that PNG still compresses well (per-pixel noise would not)
    blocks = max(size // 8, 1)
    noise = np.rint(rng.normal(0.0, 7.0, (blocks, blocks, 3))).astype(np.int16)
    index = np.arange(size) * blocks // size
    pixels = np.asarray(image, dtype=np.int16) + noise[index][:, index]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


Color = tuple[int, int, int]


class _Frame:
    """The visible square, ``size`` wide at ``origin``, inside a larger square canvas."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.canvas = math.ceil(size * math.sqrt(2)) + 2
        self.origin = (self.canvas - size) // 2

    def at(self, u: float | np.ndarray) -> float | np.ndarray:
        """Canvas coordinate of the point a share ``u`` across the visible square."""
        return self.origin + u * self.size


def _palette(primary: int, rng: np.random.Generator) -> tuple[Color, Color, Color]:
    """Background, ink and accent colours: hue by primary class, jittered per cover."""
    hue = primary / len(TAXONOMY) + rng.normal(0.0, 0.012)
    # alternate light and deep backgrounds so that neighbouring hues stay apart
    value = (0.92 if primary % 2 == 0 else 0.68) + rng.normal(0.0, 0.03)
    saturation = (0.45 if primary % 2 == 0 else 0.75) + rng.normal(0.0, 0.04)
    background = _hsv(hue, saturation, value)
    ink = _hsv(hue + 0.5 + rng.normal(0.0, 0.03), 0.8, 0.35 + rng.normal(0.0, 0.05))
    accent = _hsv(hue + 0.12 + rng.normal(0.0, 0.03), 0.9, 0.95)
    return background, ink, accent


def _hsv(hue: float, saturation: float, value: float) -> Color:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, min(max(saturation, 0.0), 1.0), min(max(value, 0.0), 1.0))
    return round(r * 255), round(g * 255), round(b * 255)


def _blend(background: Color, color: Color, weight: float) -> Color:
    r, g, b = (round(bg + (c - bg) * weight) for bg, c in zip(background, color, strict=True))
    return r, g, b


# Painters draw one motif. Objects (circles, polygons) stay inside the visible square;
# patterns (stripes, grid, waves) cover the whole canvas so that rotation cannot reveal an edge.
Painter = Callable[[ImageDraw.ImageDraw, _Frame, np.random.Generator, Color, Color], None]


def _paint_circles(
    draw: ImageDraw.ImageDraw, frame: _Frame, rng: np.random.Generator, ink: Color, accent: Color
) -> None:
    for _ in range(rng.integers(3, 8)):
        x, y = frame.at(rng.uniform(0.1, 0.9, 2))
        r = rng.uniform(0.06, 0.16) * frame.size
        draw.ellipse((x - r, y - r, x + r, y + r), fill=ink if rng.random() < 0.7 else accent)


def _paint_rings(
    draw: ImageDraw.ImageDraw, frame: _Frame, rng: np.random.Generator, ink: Color, accent: Color
) -> None:
    x, y = frame.at(rng.uniform(0.3, 0.7, 2))
    width = max(round(0.045 * frame.size), 1)
    for k in range(rng.integers(2, 5)):
        r = (0.12 + 0.1 * k) * frame.size
        draw.ellipse((x - r, y - r, x + r, y + r), outline=ink if k % 2 == 0 else accent, width=width)


def _paint_cross(
    draw: ImageDraw.ImageDraw, frame: _Frame, rng: np.random.Generator, ink: Color, accent: Color
) -> None:
    x, y = frame.at(rng.uniform(0.35, 0.65, 2))
    arm = rng.uniform(0.28, 0.42) * frame.size
    half = rng.uniform(0.07, 0.11) * frame.size
    draw.rectangle((x - arm, y - half, x + arm, y + half), fill=ink)
    draw.rectangle((x - half, y - arm, x + half, y + arm), fill=ink)
    draw.ellipse((x - half, y - half, x + half, y + half), fill=accent)


def _paint_triangles(
    draw: ImageDraw.ImageDraw, frame: _Frame, rng: np.random.Generator, ink: Color, accent: Color
) -> None:
    for _ in range(rng.integers(2, 5)):
        _polygon(draw, frame, rng, corners=3, radius=rng.uniform(0.12, 0.25), colors=(ink, accent))


def _paint_diamonds(
    draw: ImageDraw.ImageDraw, frame: _Frame, rng: np.random.Generator, ink: Color, accent: Color
) -> None:
    for _ in range(rng.integers(2, 6)):
        _polygon(draw, frame, rng, corners=4, radius=rng.uniform(0.08, 0.18), colors=(ink, accent))


def _polygon(
    draw: ImageDraw.ImageDraw,
    frame: _Frame,
    rng: np.random.Generator,
    *,
    corners: int,
    radius: float,
    colors: tuple[Color, Color],
) -> None:
    """A regular polygon at a random place and angle, ``radius`` a share of the frame."""
    x, y = frame.at(rng.uniform(0.2, 0.8, 2))
    angles = rng.uniform(0, 2 * math.pi) + 2 * math.pi * np.arange(corners) / corners
    points = np.stack([x + radius * frame.size * np.cos(angles), y + radius * frame.size * np.sin(angles)], 1)
    draw.polygon(
        [tuple(point) for point in points.tolist()], fill=colors[0] if rng.random() < 0.7 else colors[1]
    )


def _paint_stripes(
    draw: ImageDraw.ImageDraw, frame: _Frame, rng: np.random.Generator, ink: Color, accent: Color
) -> None:
    period = rng.uniform(0.16, 0.26) * frame.size
    width = period * rng.uniform(0.35, 0.55)
    for k, y in enumerate(np.arange(rng.uniform(-period, 0), frame.canvas, period)):
        draw.rectangle((0, y, frame.canvas, y + width), fill=ink if k % 3 else accent)


def _paint_grid(
    draw: ImageDraw.ImageDraw, frame: _Frame, rng: np.random.Generator, ink: Color, accent: Color
) -> None:
    period = rng.uniform(0.15, 0.24) * frame.size
    width = max(round(rng.uniform(0.025, 0.045) * frame.size), 1)
    for at in np.arange(rng.uniform(0, period), frame.canvas, period):
        draw.line((at, 0, at, frame.canvas), fill=ink, width=width)
        draw.line((0, at, frame.canvas, at), fill=ink, width=width)


def _paint_waves(
    draw: ImageDraw.ImageDraw, frame: _Frame, rng: np.random.Generator, ink: Color, accent: Color
) -> None:
    amplitude = rng.uniform(0.04, 0.08) * frame.size
    wavelength = rng.uniform(0.3, 0.5) * frame.size
    width = max(round(0.04 * frame.size), 1)
    phase = rng.uniform(0, 2 * math.pi)
    xs = np.linspace(0, frame.canvas, 64)
    gap = rng.uniform(0.18, 0.26) * frame.size
    for k, base in enumerate(np.arange(rng.uniform(0, gap), frame.canvas, gap)):
        ys = base + amplitude * np.sin(2 * math.pi * xs / wavelength + phase)
        draw.line(
            list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=ink if k % 2 == 0 else accent, width=width
        )


_MOTIF_PAINTERS: dict[str, Painter] = {
    "circles": _paint_circles,
    "stripes": _paint_stripes,
    "triangles": _paint_triangles,
    "rings": _paint_rings,
    "grid": _paint_grid,
    "cross": _paint_cross,
    "diamonds": _paint_diamonds,
    "waves": _paint_waves,
}
