"""The dev stack: the services of docker-compose.yml, run as local processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mtl.devstack.kafka import KafkaService
from mtl.devstack.redis import RedisService
from mtl.devstack.service import Service, ServiceStatus
from mtl.settings import DEVSTACK_ENV_FILE, Settings


class DevStack:
    """Kafka and Redis for development and tests.

    A service whose address is already given by the environment (``KAFKA_BOOTSTRAP_SERVERS``,
    ``REDIS_URL``) is treated as external: nothing is started for it.

    Parameters
    ----------
    settings : Settings
        ``run_dir``, ``cache_dir`` and the ``devstack`` section are read.
    environ : mapping, optional
        Where to look for external addresses; defaults to ``os.environ``.
    """

    def __init__(self, settings: Settings, *, environ: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.environ = dict(os.environ if environ is None else environ)
        cfg = settings.devstack
        self.run_dir = settings.run_dir
        self.services: list[Service] = [
            KafkaService(
                run_dir=self.run_dir,
                start_timeout_s=cfg.start_timeout_s,
                cache_dir=settings.cache_dir,
                version=cfg.kafka_version,
                port=cfg.kafka_port,
                controller_port=cfg.kafka_controller_port,
                heap=cfg.kafka_heap,
            ),
            RedisService(
                run_dir=self.run_dir,
                start_timeout_s=cfg.start_timeout_s,
                port=cfg.redis_port,
                password=cfg.redis_password,
            ),
        ]

    @property
    def env_file(self) -> Path:
        return self.run_dir / DEVSTACK_ENV_FILE

    def external(self, service: Service) -> str | None:
        """The address the environment gives for ``service``, if any."""
        return self.environ.get(service.env_var) or None

    def addresses(self) -> dict[str, str]:
        """Env-variable name → address, for every service (external or local)."""
        return {svc.env_var: self.external(svc) or svc.address for svc in self.services}

    def up(self) -> dict[str, str]:
        """Start what is not running, wait until every service answers, write the address file."""
        local = [svc for svc in self.services if not self.external(svc)]
        started: list[Service] = []
        try:
            for svc in local:
                if svc.pid() is None:
                    svc.start()
                    started.append(svc)
            for svc in local:
                svc.wait_ready()
        except BaseException:
            for svc in started:  # leave nothing half-started behind
                svc.stop()
            raise
        if local:  # all-external: leave the address file of a local stack, if any, alone
            self.run_dir.mkdir(parents=True, exist_ok=True)
            lines = "".join(f"{svc.env_var}={svc.address}\n" for svc in local)
            self.env_file.write_text(
                "# written by `mtl devstack up`; removed by `mtl devstack down`\n" + lines
            )
        return self.addresses()

    def down(self) -> list[str]:
        """Stop the local services by PID; return the names of those that were running."""
        stopped = [svc.name for svc in self.services if svc.stop()]
        self.env_file.unlink(missing_ok=True)
        return stopped

    def status(self) -> list[ServiceStatus]:
        rows = []
        for svc in self.services:
            address = self.external(svc)
            if address:
                rows.append(ServiceStatus(svc.name, address, "external", detail=f"from ${svc.env_var}"))
            else:
                rows.append(svc.status())
        return rows

    @contextmanager
    def running(self) -> Iterator[dict[str, str]]:
        """``up`` for the duration of a block, then ``down`` of whatever this block started."""
        already = {svc.name for svc in self.services if svc.pid() is not None}
        try:
            yield self.up()
        finally:
            for svc in self.services:
                if svc.name not in already and not self.external(svc):
                    svc.stop()
            if not already:
                self.env_file.unlink(missing_ok=True)
