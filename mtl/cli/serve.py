"""``mtl serve``: the ranking service over HTTP (FastAPI on uvicorn, one worker)."""

from __future__ import annotations

from pathlib import Path

import click


def bind(host: str, port: int):
    """A listening socket on ``host:port`` (0: any free port), or a one-line error."""
    import socket

    from mtl.errors import ServiceError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ServiceError(f"cannot resolve host {host!r}: {exc.strerror or exc}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ServiceError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def serve_settings(
    *,
    host: str | None = None,
    port: int | None = None,
    model: Path | None = None,
    catalogue: Path | None = None,
    redis_timeout: float | None = None,
):
    """The settings with the given ``mtl serve`` options (None: not given) over ``settings.ranker``."""
    from mtl.settings import get_settings, load_settings

    options = {
        "serve_host": host,
        "serve_port": port,
        "model_path": model,
        "catalogue": catalogue,
        "redis_timeout_s": redis_timeout,
    }
    overrides = {name: value for name, value in options.items() if value is not None}
    # an option replaces one key of the ranker section; env and YAML keep the others
    return load_settings(ranker=overrides) if overrides else get_settings()


@click.command()
@click.option("--host", default=None, help="Interface to listen on.  [default: ranker.serve_host, 127.0.0.1]")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port (0: any free one).  [default: ranker.serve_port, 8000]",
)
@click.option(
    "--model",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Saved ranker directory to score with.  [default: ranker.model_path, else artifacts/ranker/default "
    "if trained, else CTR]",
)
@click.option(
    "--catalogue",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Data set directory whose titles, tags and covers the topic explorer shows.  "
    "[default: ranker.catalogue, else the demo corpus]",
)
@click.option("--access-log/--no-access-log", default=False, show_default=True, help="Log every request.")
@click.option(
    "--redis-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds a Redis call may take before the request is answered 503.  "
    "[default: ranker.redis_timeout_s, 1.0]",
)
def serve(
    host: str | None,
    port: int | None,
    model: Path | None,
    catalogue: Path | None,
    access_log: bool,
    redis_timeout: float | None,
) -> None:
    """Serve recommendations and the topic explorer.

    GET /recommend?user_id=..&k=.., GET /health, GET /docs (OpenAPI); the topic explorer at GET /
    (topics), /topics/<id> (a live queue of covers), /users/<id>.
    """
    import gc

    import uvicorn

    from ranker.api import create_app
    from ranker.explorer import Catalogue
    from ranker.service import RankingService

    settings = serve_settings(
        host=host, port=port, model=model, catalogue=catalogue, redis_timeout=redis_timeout
    )
    r = settings.ranker
    # Built before uvicorn starts so a bad model, catalogue or Feast repo fails as one `error:` line, not
    # a traceback.
    titles = Catalogue.from_settings(settings)
    service = RankingService.from_settings(settings)
    sock = bind(r.serve_host, r.serve_port)
    bound_host, bound_port = sock.getsockname()[:2]
    click.echo(
        f"ranker: http://{bound_host}:{bound_port}  scorer={service.scorer_name}"
        + (f" ({service.model_path})" if service.model_path else "")
        + f"  N3={r.candidates}  queues={settings.stream.queue_prefix}:*"
        + f"  catalogue={titles.root or 'none'}",
        err=True,
    )
    config = uvicorn.Config(
        create_app(service, catalogue=titles),
        log_level="info",
        access_log=access_log,
        workers=1,
        timeout_graceful_shutdown=5,
    )
    # Feast, torch and pandas leave ~350k long-lived objects; a full collection walks them all (~200 ms on
    # a busy 2-core machine), and one landing in a request is a 200 ms answer. Frozen, they are skipped.
    gc.collect()
    gc.freeze()
    uvicorn.Server(config).run(sockets=[sock])
