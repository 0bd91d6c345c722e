"""Name a corpus on the command line: ``synthetic``, ``kuairec``, ``movielens`` or a data set directory."""

from __future__ import annotations

from pathlib import Path

from mtl.errors import DataError
from mtl.settings import Settings
from topic_learning.data import LOADERS, Dataset, SyntheticConfig, generate

CORPUS_NAMES = ("synthetic", "kuairec", "movielens")


def synthetic_dir(settings: Settings) -> Path:
    """Where the synthetic corpus of ``settings.demo`` lives under the artifact directory."""
    d = settings.demo
    return settings.artifact_dir / "data" / f"synthetic-v{d.videos}-u{d.users}-d{d.days}-s{d.seed}"


def synthetic_corpus(settings: Settings, *, progress: bool = True) -> tuple[Dataset, bool]:
    """The demo-sized synthetic corpus, generated once; returns it and whether it was reused."""
    out = synthetic_dir(settings)
    d = settings.demo
    config = SyntheticConfig(n_videos=d.videos, n_users=d.users, n_days=d.days, seed=d.seed, covers=d.covers)
    if (out / "manifest.json").is_file():
        try:
            cached = Dataset.load(out)
        except DataError:
            cached = None  # an unreadable cache is regenerated
        # so is one made with other knobs, or by an older generator (the planted corpus before
        # the realistic preset became the default recorded no preset)
        if cached is not None and cached.params == config.to_dict():
            return cached, True
    return generate(config, out, progress=progress), False


def load_corpus(name: str, settings: Settings, *, progress: bool = True) -> Dataset:
    """Resolve ``name`` to a data set: a known corpus name, or a directory written by ``mtl data``."""
    if name == "synthetic":
        return synthetic_corpus(settings, progress=progress)[0]
    if name in LOADERS:
        return LOADERS[name](settings.data_dir)
    path = Path(name)
    if path.is_dir():
        return Dataset.load(path)
    raise DataError(f"unknown corpus {name!r}: use {', '.join(CORPUS_NAMES)} or a data set directory")
