"""``mtl demo``: what ``make demo`` runs."""

import click

from mtl.settings import get_settings


@click.command()
def demo() -> None:
    """Run the main job end to end on the local stack and print a summary."""
    from mtl.demo import run_demo

    run_demo(get_settings())
