"""``mtl config``: the settings in effect and their reference."""

from __future__ import annotations

import click


@click.group()
def config() -> None:
    """Settings: the values in effect, the reference of every key."""


@config.command()
def show() -> None:
    """The settings in effect (defaults, YAML, environment), as YAML; secrets hidden."""
    import yaml

    from mtl.connections import redacted_url
    from mtl.settings import get_settings

    values = get_settings().model_dump(mode="json")
    values["redis_url"] = redacted_url(values["redis_url"])
    click.echo(yaml.safe_dump(values, sort_keys=False).rstrip())


@config.command()
def reference() -> None:
    """Markdown reference of every key (what docs/configuration.md holds)."""
    from mtl.reference import configuration_reference

    click.echo(configuration_reference(), nl=False)
