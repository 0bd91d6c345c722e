"""``mtl features``: the Feast feature repo from the command line."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def features() -> None:
    """Feast features: environment for Feast's CLI, point-in-time training data."""


@features.command(name="env")
def features_env() -> None:
    """Print the export Feast's own CLI needs: eval "$(mtl features env)"; cd feature_repo; feast apply."""
    from mtl.features.store import REDIS_ENV_VAR, redis_connection_string
    from mtl.settings import get_settings

    settings = get_settings()
    click.echo(f"export {REDIS_ENV_VAR}='{redis_connection_string(settings.redis_url, settings.redis)}'")


@features.command(name="history")
@click.option(
    "--interactions",
    required=True,
    type=click.Path(path_type=Path),
    help="Parquet: user_id, video_id, ts or event_timestamp, labels.",
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Parquet to write."
)
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Feast repo (default: feast_repo_path).",
)
def features_history(interactions: Path, out: Path, repo: Path | None) -> None:
    """Ranker training data: point-in-time correct features for every interaction row."""
    import pandas as pd

    from mtl.errors import DataError
    from mtl.features.history import training_data
    from mtl.features.store import open_store

    if not interactions.is_file():
        raise DataError(f"interactions file not found: {interactions}")
    try:
        df = pd.read_parquet(interactions)
    except Exception as exc:
        raise DataError(
            f"{interactions}: not a readable parquet file ({str(exc).splitlines()[0][:200]})"
        ) from None
    result = training_data(df, store=open_store(repo))
    out.parent.mkdir(parents=True, exist_ok=True)
    result.to_parquet(out, index=False)
    click.echo(f"written: {out} ({len(result):,} rows, {result.shape[1]} columns)")
