"""A data set in canonical form, and its layout on disk.

::

    DIR/manifest.json          name, source, parameters, schema version, row counts, counts
    DIR/videos.parquet         VIDEOS_SCHEMA; ``cover`` relative to DIR ("covers/17.png")
    DIR/interactions.parquet   INTERACTIONS_SCHEMA (absent when the source has no interactions)
    DIR/users.parquet          USERS_SCHEMA (synthetic ground truth; absent otherwise)
    DIR/truth.parquet          synthetic videos' ground truth, written by the generator after saving
    DIR/covers/<video_id>.png  cover images

The manifest is written last and removed first, so a directory with a manifest is complete.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mtl.errors import DataError
from topic_learning.data.schema import (
    SCHEMA_VERSION,
    check_references,
    first_line,
    interactions_table,
    to_pandas,
    users_table,
    videos_table,
)

MANIFEST_FILE = "manifest.json"
VIDEOS_FILE = "videos.parquet"
INTERACTIONS_FILE = "interactions.parquet"
USERS_FILE = "users.parquet"
TRUTH_FILE = "truth.parquet"
COVERS_DIR = "covers"

_OWN_ENTRIES = {
    MANIFEST_FILE,
    f".{MANIFEST_FILE}.tmp",
    VIDEOS_FILE,
    INTERACTIONS_FILE,
    USERS_FILE,
    TRUTH_FILE,
    COVERS_DIR,
}
"""What a data set directory may hold: anything else belongs to someone else and stops a write."""

_TABLES = {
    "videos": (VIDEOS_FILE, videos_table),
    "interactions": (INTERACTIONS_FILE, interactions_table),
    "users": (USERS_FILE, users_table),
}


@dataclass
class Dataset:
    """Videos, optionally exposures and users, and where they came from.

    Attributes
    ----------
    name
        Short name: ``"synthetic"``, ``"kuairec"``, ``"movielens"``.
    videos
        Canonical videos frame (see :func:`~topic_learning.data.schema.validate_videos`);
        ``cover`` holds absolute paths once loaded from disk.
    interactions
        Canonical exposures frame, or None when the source has no interaction log.
    users
        Ground truth of synthetic users (:data:`~topic_learning.data.schema.USERS_SCHEMA`), or None.
    root
        The directory the data set was loaded from or generated into; None for one built in memory.
    source
        Where the data came from: a file, a directory, ``"synthetic"``.
    params
        Parameters that produced it (seed, sizes, constants a loader assumed); JSON-serialisable.
    """

    name: str
    videos: pd.DataFrame
    interactions: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    root: Path | None = None
    source: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def stats(self) -> dict[str, int | float | None]:
        """Counts that describe the data set, as printed by ``mtl data info``.

        Returns
        -------
        dict
            ``videos``, ``tagged_videos``, ``distinct_tags``, ``tag_applications``,
            ``primary_classes``, ``secondary_classes``, ``covers``, ``users``, ``exposures``,
            ``clicks`` and ``ctr``; the last four are None when nothing records them.
        """
        videos = self.videos
        tags = videos["tags"]
        lengths = np.fromiter((len(t) for t in tags), dtype=np.int64, count=len(tags))
        interactions = self.interactions
        if interactions is not None:
            users: int | None = int(interactions["user_id"].nunique())
        else:
            users = len(self.users) if self.users is not None else None
        exposures = len(interactions) if interactions is not None else None
        clicks = int(interactions["clicked"].sum()) if interactions is not None else None
        return {
            "videos": len(videos),
            "tagged_videos": int((lengths > 0).sum()),
            "distinct_tags": len(set(itertools.chain.from_iterable(tags))),
            "tag_applications": int(lengths.sum()),
            "primary_classes": int(videos["primary_class"].nunique()),
            "secondary_classes": int(videos["secondary_class"].nunique()),
            "covers": int(videos["cover"].notna().sum()),
            "users": users,
            "exposures": exposures,
            "clicks": clicks,
            "ctr": clicks / exposures if exposures else None,
        }

    def save(self, directory: Path | str) -> Path:
        """Write the data set to ``directory`` in the layout of this module.

        Cover images that are not already ``directory/covers/<video_id>.<ext>`` are copied
        there. An earlier data set in ``directory`` is replaced, its covers included.

        Parameters
        ----------
        directory
            New, empty, holding an earlier data set, or this data set's own ``root``.

        Returns
        -------
        pathlib.Path
            ``directory``, absolute.

        Raises
        ------
        DataError
            ``directory`` holds something other than a data set, a table does not validate, or
            a cover image is missing.
        """
        # validate everything before touching the directory
        tables = {
            table_name: conform(getattr(self, table_name), source=f"{self.name} {table_name}")
            for table_name, (_, conform) in _TABLES.items()
            if getattr(self, table_name) is not None
        }
        if "interactions" in tables:
            check_references(tables["videos"], tables["interactions"], source=f"{self.name} interactions")
        directory = Path(directory).absolute()
        if self.root is None or Path(self.root).absolute() != directory:
            # an earlier data set's covers go, unless they are the ones being saved
            covers_dir = f"{directory / COVERS_DIR}{os.sep}"
            ours = self.videos["cover"].dropna().astype(str).str.startswith(covers_dir).any()
            prepare_directory(directory, clear_covers=not ours)
            # an earlier synthetic data set's truth would describe videos that are no longer there
            (directory / TRUTH_FILE).unlink(missing_ok=True)
        # a half-written directory must not pass for a complete one
        (directory / MANIFEST_FILE).unlink(missing_ok=True)
        videos = tables["videos"]
        tables["videos"] = videos.set_column(
            videos.schema.get_field_index("cover"),
            "cover",
            pa.array(self._store_covers(directory), type=pa.string()),
        )
        rows: dict[str, int] = {}
        for table_name, (file_name, _) in _TABLES.items():
            path = directory / file_name
            if table_name in tables:
                pq.write_table(tables[table_name], path)
                rows[table_name] = tables[table_name].num_rows
            else:
                path.unlink(missing_ok=True)
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "source": self.source,
            "params": self.params,
            "rows": rows,
            "counts": self.stats(),
        }
        temporary = directory / f".{MANIFEST_FILE}.tmp"
        temporary.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        temporary.replace(directory / MANIFEST_FILE)
        return directory

    @classmethod
    def load(cls, directory: Path | str) -> Dataset:
        """Read a data set written by :meth:`save`, checking every table against its schema.

        Parameters
        ----------
        directory
            A directory holding ``manifest.json`` and the tables it lists.

        Returns
        -------
        Dataset
            With ``root`` set to ``directory`` (absolute) and covers as absolute paths.

        Raises
        ------
        DataError
            One line naming the missing or corrupt file.
        """
        directory = Path(directory).absolute()
        if not directory.is_dir():
            raise DataError(f"{directory}: data set directory not found")
        manifest = _read_manifest(directory / MANIFEST_FILE)
        tables: dict[str, pa.Table] = {}
        for table_name, (file_name, conform) in _TABLES.items():
            expected = manifest["rows"].get(table_name)
            if expected is None:
                continue
            path = directory / file_name
            tables[table_name] = conform(_read_parquet(path), source=str(path))
            if tables[table_name].num_rows != expected:
                found = tables[table_name].num_rows
                raise DataError(f"{path}: holds {found} rows, {MANIFEST_FILE} says {expected}")
        if "interactions" in tables:
            check_references(
                tables["videos"], tables["interactions"], source=str(directory / INTERACTIONS_FILE)
            )
        frames = {table_name: to_pandas(table) for table_name, table in tables.items()}
        videos = frames["videos"]
        videos["cover"] = _resolve_covers(videos["cover"], directory)
        return cls(
            name=manifest["name"],
            videos=videos,
            interactions=frames.get("interactions"),
            users=frames.get("users"),
            root=directory,
            source=manifest["source"],
            params=manifest["params"],
        )

    def _store_covers(self, directory: Path) -> np.ndarray:
        """Copy covers into ``directory/covers`` where needed; return their paths relative to it."""
        covers = self.videos["cover"].to_numpy()
        ids = self.videos["video_id"].to_numpy()
        stored = np.full(len(covers), None, dtype=object)
        base = self.root if self.root is not None else Path.cwd()
        for row in np.flatnonzero(pd.notna(covers)):
            src = Path(covers[row])
            src = src if src.is_absolute() else base / src
            relative = f"{COVERS_DIR}/{ids[row]}{src.suffix or '.png'}"
            target = directory / relative
            # comparing strings first spares a resolve() per cover when they were rendered in place
            if str(src) != str(target) and src.resolve() != target.resolve():
                if not src.is_file():
                    raise DataError(f"{src}: cover image of video {ids[row]} not found")
                target.parent.mkdir(exist_ok=True)
                shutil.copyfile(src, target)
            stored[row] = relative
        return stored


def prepare_directory(directory: Path | str, *, clear_covers: bool = False) -> Path:
    """Make ``directory`` ready to receive a data set, refusing to write into foreign files.

    Parameters
    ----------
    directory
        Created if missing. If it exists it may hold only the files of a data set (complete,
        or left half-written by an interrupted run).
    clear_covers
        Delete an earlier data set's ``covers/`` so that no stale image survives.

    Returns
    -------
    pathlib.Path
        ``directory``, absolute.

    Raises
    ------
    DataError
        ``directory`` is a file, or holds something other than data set files.
    """
    directory = Path(directory).absolute()
    if directory.exists() and not directory.is_dir():
        raise DataError(f"{directory}: exists and is not a directory")
    if directory.is_dir():
        foreign = sorted(entry.name for entry in directory.iterdir() if entry.name not in _OWN_ENTRIES)
        if foreign:
            raise DataError(
                f"{directory}: holds {foreign[0]!r}, which is not part of a data set; "
                "choose a new or empty directory"
            )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{directory}: cannot create directory ({exc.strerror})") from None
    if clear_covers and (directory / COVERS_DIR).is_dir():
        shutil.rmtree(directory / COVERS_DIR)
    return directory


def _read_manifest(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"{path}: not found; {path.parent} is not a data set directory")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a valid manifest ({exc})") from None
    if not isinstance(manifest, dict):
        raise DataError(f"{path}: not a valid manifest (expected a JSON object)")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DataError(f"{path}: schema version {version!r}, this code reads version {SCHEMA_VERSION}")
    rows = manifest.get("rows")
    if not isinstance(rows, dict) or not isinstance(rows.get("videos"), int):
        raise DataError(f"{path}: not a valid manifest (no row count for videos)")
    for key in ("name", "source"):
        if not isinstance(manifest.get(key), str):
            raise DataError(f"{path}: not a valid manifest (no {key!r})")
    manifest.setdefault("params", {})
    return manifest


def _read_parquet(path: Path) -> pa.Table:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: not a readable parquet file ({first_line(exc)})") from None


def _resolve_covers(covers: pd.Series, directory: Path) -> pd.Series:
    """Turn cover paths relative to ``directory`` into absolute ones; keep absolute ones and nulls."""
    if covers.isna().all():
        return covers
    return covers.map(lambda cover: cover if cover is None else os.path.join(directory, cover))
