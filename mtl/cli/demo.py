"""``mtl demo``: what ``make demo`` runs; ``mtl demo stop | status | env`` for what it leaves running."""

from __future__ import annotations

import click

from mtl.settings import get_settings


@click.group(invoke_without_command=True)
@click.option(
    "--dataset",
    type=click.Choice(["synthetic", "kuairec", "movielens"]),
    default="synthetic",
    show_default=True,
    help="synthetic: the corpus of settings.demo (generated once); kuairec, movielens: read in place.",
)
@click.option(
    "--replay-limit",
    type=click.IntRange(min=0),
    default=None,
    help="Replay only the first N events of the log, in time order (0: all of it)  [default: "
    "demo.replay_limit, 300,000].",
)
@click.option(
    "--ranker",
    "ranker_kind",
    type=click.Choice(["lr", "emlp", "dcn", "wide_deep"]),
    default="wide_deep",
    show_default=True,
    help="Ranking model trained on the interaction log.",
)
@click.option(
    "--keep-running/--stop-after",
    default=True,
    show_default=True,
    help="Leave the stream worker and the ranking service running after the summary.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@click.pass_context
def demo(
    ctx: click.Context,
    dataset: str,
    replay_limit: int | None,
    ranker_kind: str,
    keep_running: bool,
    quiet: bool,
) -> None:
    """Run the main job end to end on the local stack and print a summary.

    Dev stack up, corpus, topic learning, Feast registration, ranker training (each reused while still
    valid), then the stream worker and the ranking service in the background, a replay of the event log
    through them, and a summary with example recommendations and the explorer's URL. Worker and service
    keep running (`mtl demo stop` stops them); a failure or Ctrl-C stops everything the run started.
    """
    if ctx.invoked_subcommand is not None:
        return
    from mtl.demo import DemoConfig, run_demo

    settings = get_settings()
    if replay_limit is None:
        replay_limit = settings.demo.replay_limit
    config = DemoConfig(
        dataset=dataset,
        replay_limit=replay_limit or None,
        ranker_kind=ranker_kind,
        keep_running=keep_running,
        progress=not quiet,
    )
    run_demo(settings, config)


@demo.command()
@click.option("--keep-state", is_flag=True, help="Keep the run's Kafka topics and Redis keys.")
def stop(keep_state: bool) -> None:
    """Stop the worker and service of the last demo run and delete its topics and keys."""
    from mtl.demo import stop_demo

    done = stop_demo(get_settings(), clean=not keep_state, echo=click.echo)
    click.echo(f"stopped: {'; '.join(done)}" if done else "no demo was running")


@demo.command()
def status() -> None:
    """Show the last demo run: its processes, explorer URL and stream names."""
    from mtl.demo import demo_status

    for line in demo_status(get_settings()):
        click.echo(line)


@demo.command()
def env() -> None:
    """Shell exports that point other commands at the demo's stream: eval "$(mtl demo env)"."""
    from mtl.demo import DemoState, demo_dir, stream_environment_lines
    from mtl.errors import ServiceError

    state = DemoState.load(demo_dir(get_settings()))
    if state is None:
        raise ServiceError("no demo run recorded (start one with `mtl demo`)")
    for line in stream_environment_lines(state):
        click.echo(line)
