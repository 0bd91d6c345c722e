"""The canonical tables every data source is turned into, and their validation.

A data set is two tables, plus the users' ground truth for synthetic data:

``videos``
    One row per video: ``video_id`` (unique), ``title``, ``tags``, ``primary_class``,
    ``secondary_class``, ``cover`` (path to an image file) and ``published_at``.
``interactions``
    One row per exposure of a video to a user, ``clicked`` telling whether the user clicked it.
``users``
    One row per synthetic user: the secondary classes the user prefers, the subtopics (null
    where the generator has none) and a relative activity.

Validation coerces what it can without losing information (integral floats to integers, naive
timestamps to UTC, nanoseconds to microseconds, categoricals to strings) and raises a one-line
:class:`~mtl.errors.DataError` naming the source for everything else. It works on pandas frames
(what loaders build) and on Arrow tables (what :func:`pyarrow.parquet.read_table` gives), so a
data set read back from disk is checked by the same rules that wrote it.

Loaders of raw data sets read their CSV files with :func:`read_csv`, which gives the same
one-line errors for files that are missing or malformed.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mtl.errors import DataError, first_line

SCHEMA_VERSION = 1
"""Bumped whenever a table below changes; :mod:`~topic_learning.data.dataset` refuses other versions."""

TIMESTAMP = pa.timestamp("us", tz="UTC")

VIDEOS_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.int64(), nullable=False),
        pa.field("title", pa.string(), nullable=False),
        pa.field("tags", pa.list_(pa.string()), nullable=False),
        pa.field("primary_class", pa.string()),
        pa.field("secondary_class", pa.string()),
        pa.field("cover", pa.string()),
        pa.field("published_at", TIMESTAMP, nullable=False),
    ]
)

INTERACTIONS_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.int64(), nullable=False),
        pa.field("video_id", pa.int64(), nullable=False),
        pa.field("ts", TIMESTAMP, nullable=False),
        pa.field("clicked", pa.bool_(), nullable=False),
    ]
)

USERS_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.int64(), nullable=False),
        pa.field("preferred_classes", pa.list_(pa.string()), nullable=False),
        pa.field("preferred_subtopics", pa.list_(pa.string())),
        pa.field("activity", pa.float64(), nullable=False),
    ]
)
"""Ground truth of synthetic users: the secondary classes and subtopics each prefers, and a relative
activity rate. ``preferred_subtopics`` may be missing (data sets written before it existed): it
is read as null."""

_OPTIONAL_USERS_COLUMNS = ("preferred_subtopics",)

TableLike = pd.DataFrame | pa.Table


def videos_table(data: TableLike, *, source: str) -> pa.Table:
    """Check and coerce a videos table into :data:`VIDEOS_SCHEMA`.

    Parameters
    ----------
    data
        A pandas frame or Arrow table holding at least the columns of :data:`VIDEOS_SCHEMA`;
        other columns are dropped.
    source
        What the table was read from (a file path, a loader name); starts every error message.

    Returns
    -------
    pyarrow.Table
        The table in the canonical schema and column order.

    Raises
    ------
    DataError
        A column is missing, has the wrong type, holds nulls where none are allowed, or
        ``video_id`` repeats.
    """
    return _conform(data, VIDEOS_SCHEMA, source=source, unique="video_id")


def interactions_table(data: TableLike, *, source: str) -> pa.Table:
    """Check and coerce an interactions table into :data:`INTERACTIONS_SCHEMA`.

    Parameters
    ----------
    data
        A pandas frame or Arrow table with ``user_id``, ``video_id``, ``ts`` and ``clicked``;
        ``clicked`` may also be 0/1 integers.
    source
        What the table was read from; starts every error message.

    Returns
    -------
    pyarrow.Table
        The table in the canonical schema and column order.

    Raises
    ------
    DataError
        A column is missing, has the wrong type, or holds nulls.
    """
    return _conform(data, INTERACTIONS_SCHEMA, source=source)


def users_table(data: TableLike, *, source: str) -> pa.Table:
    """Check and coerce a users table into :data:`USERS_SCHEMA` (``user_id`` unique).

    Parameters
    ----------
    data
        A pandas frame or Arrow table with ``user_id``, ``preferred_classes`` and ``activity``,
        and optionally ``preferred_subtopics``.
    source
        What the table was read from; starts every error message.

    Returns
    -------
    pyarrow.Table
        The table in the canonical schema and column order.

    Raises
    ------
    DataError
        As :func:`videos_table`, for the users' columns.
    """
    missing = [name for name in _OPTIONAL_USERS_COLUMNS if name not in _column_names(data)]
    if missing:
        # older data sets lack the optional columns: read them as null rather than refuse them
        if isinstance(data, pa.Table):
            for name in missing:
                data = data.append_column(name, pa.nulls(data.num_rows, USERS_SCHEMA.field(name).type))
        else:
            data = data.assign(**{name: None for name in missing})
    return _conform(data, USERS_SCHEMA, source=source, unique="user_id")


def validate_videos(df: TableLike, *, source: str) -> pd.DataFrame:
    """Return ``df`` as a canonical videos frame, or raise :class:`DataError` naming ``source``.

    Parameters
    ----------
    df
        Videos as a pandas frame (or an Arrow table).
    source
        What the frame was read from; starts every error message.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`VIDEOS_SCHEMA` in order: ``video_id`` int64, strings as ``object``
        (``None`` where missing), ``tags`` as numpy arrays of strings, ``published_at`` as
        ``datetime64[us, UTC]``.
    """
    return to_pandas(videos_table(df, source=source))


def validate_interactions(df: TableLike, *, source: str) -> pd.DataFrame:
    """Return ``df`` as a canonical interactions frame, or raise :class:`DataError` naming ``source``.

    Parameters
    ----------
    df
        Exposures as a pandas frame (or an Arrow table).
    source
        What the frame was read from; starts every error message.

    Returns
    -------
    pandas.DataFrame
        ``user_id`` and ``video_id`` int64, ``ts`` ``datetime64[us, UTC]``, ``clicked`` bool.
    """
    return to_pandas(interactions_table(df, source=source))


def validate_users(df: TableLike, *, source: str) -> pd.DataFrame:
    """Return ``df`` as a canonical users frame, or raise :class:`DataError` naming ``source``.

    Parameters
    ----------
    df
        Users as a pandas frame (or an Arrow table).
    source
        What the frame was read from; starts every error message.

    Returns
    -------
    pandas.DataFrame
        ``user_id`` int64, ``preferred_classes`` and ``preferred_subtopics`` (None where unknown) numpy
        arrays of strings, ``activity`` float64.
    """
    return to_pandas(users_table(df, source=source))


def check_references(videos: TableLike, interactions: TableLike, *, source: str) -> None:
    """Raise :class:`DataError` when an interaction names a video that is not in ``videos``.

    Parameters
    ----------
    videos, interactions
        Canonical tables (pandas or Arrow) of one data set.
    source
        Where the interactions came from; starts the error message.
    """
    referenced = _arrow_column(interactions, "video_id")
    known = pc.is_in(referenced, value_set=_arrow_column(videos, "video_id").combine_chunks())
    unknown = pc.invert(known)
    count = pc.sum(unknown).as_py() or 0
    if count:
        example = pc.filter(referenced, unknown)[0].as_py()
        raise DataError(f"{source}: {count} interactions name videos not in the catalogue (e.g. {example})")


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """Convert a canonical Arrow table to the canonical pandas form.

    Parameters
    ----------
    table
        A table already in one of the canonical schemas.

    Returns
    -------
    pandas.DataFrame
        Integers as int64, strings as ``object`` (None for null), lists as numpy arrays,
        timestamps as ``datetime64[us, UTC]``.
    """
    return table.to_pandas()


def shared_data_dir(data_dir: Path | str | None = None) -> Path:
    """Where the raw data sets are.

    Parameters
    ----------
    data_dir
        An explicit directory, or None for ``get_settings().data_dir`` (read-only, shared).

    Returns
    -------
    pathlib.Path
    """
    if data_dir is not None:
        return Path(data_dir)
    from mtl.settings import get_settings  # settings read YAML and env; only loaders need them

    return get_settings().data_dir


def read_csv(
    path: Path,
    *,
    columns: Mapping[str, str],
    unique: str | None = None,
    clean: Callable[[str], str] | None = None,
) -> pd.DataFrame:
    """Read a UTF-8 CSV file of a raw data set, checking the columns a loader needs.

    Every cell is read as text (empty cells stay ``""``, nothing becomes NaN behind the
    loader's back) and the columns named in ``columns`` are then converted.

    Parameters
    ----------
    path
        The CSV file; its path starts every error message.
    columns
        Required column name → ``"str"``, ``"int"`` or ``"float"``.
    unique
        A column whose values must not repeat (the file's key).
    clean
        Applied to the decoded text before parsing, to repair known defects of a file.

    Returns
    -------
    pandas.DataFrame
        All columns of the file; the required ones converted.

    Raises
    ------
    DataError
        The file is missing, unreadable, not UTF-8, not CSV, lacks a required column, has a
        value that does not convert, or repeats a key.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    if clean is not None:
        text = clean(text)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: not a valid CSV file ({first_line(exc)})") from None
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column{_names(missing)}")
    for name, kind in columns.items():
        if kind == "str":
            continue
        converted = pd.to_numeric(frame[name], errors="coerce")
        as_float = converted.to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(as_float)
        if kind == "int":
            bad |= as_float % 1 != 0
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            value = frame[name].iat[row]
            noun = "an integer" if kind == "int" else "a number"
            raise DataError(f"{path}: column {name!r} is not {noun} in data row {row + 1}: {value!r}")
        frame[name] = converted.astype("int64" if kind == "int" else "float64")
    if unique is not None:
        _check_unique(_arrow_column(frame, unique), unique, source=str(path))
    return frame


def _column_names(data: TableLike) -> list[str]:
    return data.column_names if isinstance(data, pa.Table) else [str(name) for name in data.columns]


def _conform(data: TableLike, schema: pa.Schema, *, source: str, unique: str | None = None) -> pa.Table:
    names = _column_names(data)
    missing = [field.name for field in schema if field.name not in names]
    if missing:
        raise DataError(f"{source}: missing column{_names(missing)}")
    columns = []
    for field in schema:
        values = data.column(field.name) if isinstance(data, pa.Table) else data[field.name]
        columns.append(_conform_column(values, field, source=source))
    table = pa.Table.from_arrays(columns, schema=schema)
    if unique is not None:
        _check_unique(table.column(unique), unique, source=source)
    return table


def _conform_column(values: pd.Series | pa.ChunkedArray, field: pa.Field, *, source: str) -> pa.ChunkedArray:
    where = f"{source}: column {field.name!r}"
    if isinstance(values, pd.Series):
        try:
            values = pa.chunked_array([pa.array(values, from_pandas=True)])
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise DataError(f"{where} has values of the wrong type ({first_line(exc)})") from None
    if not _castable(values.type, field.type):
        raise DataError(f"{where} must be {field.type}, got {values.type}")
    if pa.types.is_integer(values.type) and pa.types.is_boolean(field.type):
        # a cast would turn any non-zero integer into True; only 0/1 flags are unambiguous
        if not pc.all(pc.is_in(values, pa.array([0, 1], values.type)), skip_nulls=True).as_py():
            raise DataError(f"{where} must be boolean or 0/1, got other integers")
    try:
        # timestamps may drop sub-microsecond digits; every other cast must be lossless
        values = pc.cast(values, field.type, safe=not pa.types.is_timestamp(field.type))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(f"{where} cannot be read as {field.type} ({first_line(exc)})") from None
    if not field.nullable and values.null_count:
        raise DataError(f"{where} has {values.null_count} missing values")
    if pa.types.is_list(field.type):
        inner_nulls = pc.list_flatten(values).null_count
        if inner_nulls:
            raise DataError(f"{where} has {inner_nulls} missing values inside its lists")
    return values


def _castable(actual: pa.DataType, target: pa.DataType) -> bool:
    """Whether ``actual`` may be coerced to ``target`` without guessing what the data means."""
    if pa.types.is_null(actual):
        return True
    if pa.types.is_dictionary(actual):
        return _castable(actual.value_type, target)
    if pa.types.is_string(target):
        return pa.types.is_string(actual) or pa.types.is_large_string(actual)
    if pa.types.is_list(target):
        return (pa.types.is_list(actual) or pa.types.is_large_list(actual)) and _castable(
            actual.value_type, target.value_type
        )
    if pa.types.is_timestamp(target):
        # integers would need a unit and an epoch we would have to guess
        return pa.types.is_timestamp(actual)
    if pa.types.is_integer(target):
        return pa.types.is_integer(actual) or pa.types.is_floating(actual)
    if pa.types.is_floating(target):
        return pa.types.is_integer(actual) or pa.types.is_floating(actual)
    if pa.types.is_boolean(target):
        return pa.types.is_boolean(actual) or pa.types.is_integer(actual)
    return actual == target


def _check_unique(column: pa.ChunkedArray, name: str, *, source: str) -> None:
    counts = pc.value_counts(column)
    repeated = pc.filter(counts, pc.greater(counts.field("counts"), 1))
    if len(repeated):
        example = repeated[0]["values"].as_py()
        raise DataError(f"{source}: column {name!r} has {len(repeated)} duplicate values (e.g. {example})")


def _arrow_column(data: TableLike, name: str) -> pa.ChunkedArray:
    if isinstance(data, pa.Table):
        return data.column(name)
    return pa.chunked_array([pa.array(data[name], from_pandas=True)])


def _names(names: list[str]) -> str:
    """`` 'a'`` or ``s 'a', 'b'``, to follow the word "column"."""
    listed = ", ".join(repr(name) for name in names)
    return f" {listed}" if len(names) == 1 else f"s {listed}"
