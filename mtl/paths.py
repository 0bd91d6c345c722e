"""Where the project keeps things on disk when nothing else is configured."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The source checkout when installed editable (holds ``pyproject.toml``), else the working directory."""
    candidate = Path(__file__).resolve().parents[1]
    if (candidate / "pyproject.toml").is_file():
        return candidate
    return Path.cwd()


def user_cache_dir() -> Path:
    """A per-user cache outside the repo, for things that are costly to fetch (Kafka's jars)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mtl-topics"
