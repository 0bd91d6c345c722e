"""The configuration reference (docs/configuration.md), generated from the settings' own descriptions."""

from __future__ import annotations

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from mtl.settings import Settings

_MACHINE_DEFAULTS = {"feast_repo_path", "artifact_dir", "data_dir", "run_dir", "cache_dir"}


def _default(name: str, field) -> str:
    if name in _MACHINE_DEFAULTS:
        return "(see description)"
    if field.default is PydanticUndefined:
        return "-"
    value = field.default
    if value is None:
        return "none"
    return f"`{value}`" if not isinstance(value, bool) else f"`{str(value).lower()}`"


def _rows(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    rows = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows += _rows(ann, f"{prefix}{name}.")
            continue
        env = "MTL_" + (prefix.replace(".", "__") + name).upper()
        meaning = (field.description or "").replace("|", "\\|")
        rows.append((prefix + name, _default(name, field), env, meaning))
    return rows


def configuration_reference() -> str:
    """Markdown: one table per settings section, every key with its default, variable and meaning."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `mtl.settings` by `mtl config reference`; do not edit by hand. Sources, highest",
        "priority first: environment variables (`MTL_` prefix, `__` between nested names; also",
        "`KAFKA_BOOTSTRAP_SERVERS` and `REDIS_URL`), a YAML file (`mtl --config FILE` or `MTL_CONFIG`), the",
        "dev stack's address file, these defaults. Unknown keys are errors.",
    ]
    section = None
    for key, default, env, desc in _rows(Settings):
        head = key.split(".")[0] if "." in key else "general"
        if head != section:
            section = head
            lines += ["", f"## {section}", "", "| key | default | environment | meaning |"]
            lines.append("|---|---|---|---|")
        lines.append(f"| `{key}` | {default} | `{env}` | {desc} |")
    return "\n".join(lines) + "\n"
