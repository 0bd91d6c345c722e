"""``mtl stream worker`` and ``mtl replay``: the Faust stream worker and the event log that feeds it."""

from __future__ import annotations

import click


@click.group()
def stream() -> None:
    """The stream worker: Kafka events into per-topic CTR queues in Redis."""


@stream.command()
@click.option(
    "--restart/--no-restart",
    default=True,
    show_default=True,
    help="Restart the worker after a crash (e.g. a broker outage); Ctrl-C or SIGTERM stops it.",
)
def worker(restart: bool) -> None:
    """Run the Faust worker (same as `faust -A streams.app worker -l info`); Ctrl-C stops it."""
    import sys

    if restart:
        from streams.supervise import supervise

        code = supervise([sys.executable, "-m", "mtl", "stream", "worker", "--no-restart"])
        raise SystemExit(code)
    sys.argv = [sys.argv[0]]  # Faust's worker parses argv itself
    from streams.app import main

    main()


@stream.command(name="rebuild-queues")
def rebuild_queues() -> None:
    """Rewrite every topic queue and user click list in Redis from the worker's table changelogs."""
    from mtl.settings import get_settings
    from streams.rebuild import rebuild_queues as run

    out = run(get_settings())
    click.echo(f"rebuilt {out.topics:,} topic queues from {out.videos:,} videos and {out.users:,} user lists")


@click.command()
@click.option("--source", required=True, help="synthetic, movielens, kuairec or a data set directory.")
@click.option(
    "--rate", type=click.FloatRange(min=0, min_open=True), default=None, help="Events/s (default: max)."
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Stop after N events.")
@click.option("--topic", default=None, help="Events topic (default: stream.events_topic).")
@click.option("--no-publish", is_flag=True, help="Skip video_published events.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def replay(source: str, rate, limit, topic, no_publish: bool, quiet: bool) -> None:
    """Produce exposure, click and publication events of a canonical data set in timestamp order."""
    from mtl.errors import DataError
    from mtl.settings import get_settings
    from streams.replay import replay as run_replay
    from topic_learning.corpus import load_corpus

    settings = get_settings()
    s = settings.stream
    data = load_corpus(source, settings, progress=not quiet)
    if data.interactions is None and no_publish:
        raise DataError(f"{source}: no interactions and --no-publish: nothing to replay")
    topic = topic or s.events_topic
    out = run_replay(
        data,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topic=topic,
        rate=rate,
        limit=limit,
        source=data.name or "replay",
        publish=not no_publish,
        progress=not quiet,
        partitions=s.partitions,
    )
    click.echo(
        f"replayed {out['events']:,} events to {topic} in {out['seconds']:.1f}s ({out['rate']:,.0f}/s)"
    )
