"""``mtl devstack``: the services of docker-compose.yml as local processes."""

from __future__ import annotations

import sys

import click

from mtl.settings import get_settings


def _stack():
    from mtl.devstack import DevStack

    return DevStack(get_settings())


@click.group()
def devstack() -> None:
    """Run Apache Kafka and Redis locally (or use KAFKA_BOOTSTRAP_SERVERS / REDIS_URL)."""


@devstack.command()
def up() -> None:
    """Start Kafka and Redis, wait until both answer, and record their addresses."""
    stack = _stack()
    click.echo(f"starting dev stack in {stack.run_dir} (first run fetches Kafka's jars with Maven)")
    addresses = stack.up()
    for name, address in addresses.items():
        click.echo(f"{name}={address}")
    click.echo(f"addresses written to {stack.env_file}")


@devstack.command()
def down() -> None:
    """Stop the services that `mtl devstack up` started (and a demo's worker and service first)."""
    from mtl.demo import stop_demo

    demo = stop_demo(get_settings())
    if demo:
        click.echo(f"stopped demo: {'; '.join(demo)}")
    stopped = _stack().down()
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@devstack.command()
def status() -> None:
    """Show each service's address and health; exit 1 unless all are healthy."""
    rows = _stack().status()
    for row in rows:
        pid = f"pid {row.pid}" if row.pid else ""
        click.echo(f"{row.name:<6} {row.state:<9} {row.address:<32} {pid} {row.detail}".rstrip())
    if not all(row.ok for row in rows):
        sys.exit(1)


@devstack.command()
def env() -> None:
    """Print the addresses as shell exports: eval "$(mtl devstack env)"."""
    for name, address in _stack().addresses().items():
        click.echo(f"export {name}={address}")
