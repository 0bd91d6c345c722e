"""Redis from the ``redis-server`` binary (Debian package ``redis-server``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from mtl.devstack.service import Service
from mtl.errors import ServiceError


class RedisService(Service):
    name = "redis"
    env_var = "REDIS_URL"

    def __init__(self, *, run_dir: Path, start_timeout_s: float, port: int, password: str | None) -> None:
        super().__init__(run_dir=run_dir, start_timeout_s=start_timeout_s)
        self.port = port
        self.password = password

    @property
    def address(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def check_tools(self) -> None:
        if shutil.which("redis-server") is None:
            raise ServiceError(
                "redis-server not found: install it (apt-get install redis-server) "
                "or run `docker compose up` and set REDIS_URL"
            )

    def ports(self) -> list[int]:
        return [self.port]

    def command(self) -> list[str]:
        data_dir = self.run_dir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(data_dir),
            "--daemonize", "no",
            "--save", "300 100",
            "--appendonly", "no",
        ]  # fmt: skip
        if self.password:
            cmd += ["--requirepass", self.password]
        return cmd

    def probe(self) -> None:
        client = redis.Redis.from_url(self.address, socket_timeout=2, socket_connect_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
