"""The ``mtl`` command: one root group, one module per command group."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from mtl.errors import MtlError


class _Group(click.Group):
    """Every failure becomes one line on stderr: ``error: <message>``, never a traceback.

    :class:`MtlError` exits 1; click's usage errors (bad option values, unknown commands) exit 2.
    """

    def main(self, args=None, prog_name=None, **extra):  # type: ignore[override]
        extra.pop("standalone_mode", None)
        try:
            result = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            click.echo(f"error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except MtlError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MTL_CONFIG",
    help="YAML settings file (also MTL_CONFIG).",
)
@click.version_option(package_name="mtl-topics")
def main(config: Path | None) -> None:
    """mtl-topics: multimodal topic learning for video recommendation."""
    from mtl.settings import get_settings, read_yaml_config

    if config is not None:
        read_yaml_config(config)  # fail early, in one line, on a bad file
        os.environ["MTL_CONFIG"] = str(config)
    get_settings.cache_clear()


def _register() -> None:
    from mtl.cli.bench import bench
    from mtl.cli.config import config
    from mtl.cli.data import data
    from mtl.cli.demo import demo
    from mtl.cli.devstack import devstack
    from mtl.cli.eval import eval_group
    from mtl.cli.features import features
    from mtl.cli.learn import assign, learn
    from mtl.cli.ranker import ranker
    from mtl.cli.register import register
    from mtl.cli.serve import serve
    from mtl.cli.stream import replay, stream

    main.add_command(devstack)
    main.add_command(config)
    main.add_command(data)
    main.add_command(demo)
    main.add_command(learn)
    main.add_command(assign)
    main.add_command(eval_group)
    main.add_command(bench)
    main.add_command(register)
    main.add_command(features)
    main.add_command(stream)
    main.add_command(replay)
    main.add_command(ranker)
    main.add_command(serve)


_register()
