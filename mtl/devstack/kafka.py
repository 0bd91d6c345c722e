"""Apache Kafka as a single-node KRaft broker+controller, run from Maven Central's jars with ``java``."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import uuid
from importlib import resources
from pathlib import Path

from mtl.devstack.service import Service
from mtl.errors import ServiceError

MIN_JAVA = 17  # Kafka 4.x brokers need Java 17


class KafkaService(Service):
    name = "kafka"
    env_var = "KAFKA_BOOTSTRAP_SERVERS"

    def __init__(
        self,
        *,
        run_dir: Path,
        start_timeout_s: float,
        cache_dir: Path,
        version: str,
        port: int,
        controller_port: int,
        heap: str,
    ) -> None:
        super().__init__(run_dir=run_dir, start_timeout_s=start_timeout_s)
        self.jar_dir = cache_dir / "kafka" / version
        self.version = version
        self.port = port
        self.controller_port = controller_port
        self.heap = heap

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def libs(self) -> Path:
        return self.jar_dir / "libs"

    def ports(self) -> list[int]:
        return [self.port, self.controller_port]

    def check_tools(self) -> None:
        java = shutil.which("java")
        if java is None:
            raise ServiceError(
                f"java not found: install Java {MIN_JAVA}+ and Maven, or run `docker compose up` "
                "and set KAFKA_BOOTSTRAP_SERVERS"
            )
        if not self._jars_complete() and shutil.which("mvn") is None:
            raise ServiceError(
                "mvn not found: install Maven (it fetches the Kafka broker jars once), or run "
                "`docker compose up` and set KAFKA_BOOTSTRAP_SERVERS"
            )
        major = _java_major(java)
        if major is not None and major < MIN_JAVA:
            raise ServiceError(
                f"java {major} found but Kafka {self.version} needs Java {MIN_JAVA}+ "
                "(set JAVA_HOME/PATH), or run `docker compose up`"
            )

    def prepare(self) -> None:
        super().prepare()
        self.ensure_jars()
        (self.run_dir / "server.properties").write_text(self._server_properties())
        if not (self.run_dir / "data" / "meta.properties").is_file():
            self._format_storage()

    def ensure_jars(self) -> None:
        """Resolve ``kafka_2.13`` and its runtime dependencies into the user cache, once."""
        if self._jars_complete():
            return
        self.jar_dir.mkdir(parents=True, exist_ok=True)
        pom = resources.files("mtl.devstack").joinpath("pom.xml").read_text()
        (self.jar_dir / "pom.xml").write_text(pom.replace("@KAFKA_VERSION@", self.version))
        staging = self.jar_dir / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        result = subprocess.run(
            [
                "mvn",
                "-B",
                "-q",
                "-f",
                str(self.jar_dir / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
            ],  # fmt: skip
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            lines = [ln for ln in (result.stdout + result.stderr).splitlines() if "ERROR" in ln] or ["?"]
            raise ServiceError(f"maven could not resolve kafka_2.13:{self.version}: {lines[0].strip()}")
        shutil.rmtree(self.libs, ignore_errors=True)
        staging.rename(self.libs)  # atomic: an interrupted download never looks complete

    def command(self) -> list[str]:
        log4j = resources.files("mtl.devstack").joinpath("log4j2.properties")
        return [
            "java",
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.run_dir}",
            "-cp",
            f"{self.libs}/*",
            "kafka.Kafka",
            str(self.run_dir / "server.properties"),
        ]

    def probe(self) -> None:
        # A metadata round trip: the broker is registered and serving, not merely listening.
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.address, request_timeout_ms=3000)
        try:
            if not admin.describe_cluster().get("brokers"):
                raise ServiceError("kafka answered metadata with no brokers")
        finally:
            admin.close()

    def _jars_complete(self) -> bool:
        return (self.libs / f"kafka_2.13-{self.version}.jar").is_file()

    def _server_properties(self) -> str:
        host = "127.0.0.1"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{host}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{host}:{self.port},CONTROLLER://{host}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.run_dir / "data"),
            # Apps create their topics with explicit partition counts.
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            # Single node: internal topics cannot be replicated; fewer partitions start faster.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "8",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "168",
        }
        return "".join(f"{key}={value}\n" for key, value in props.items())

    def _format_storage(self) -> None:
        cluster_id = new_cluster_id()
        result = subprocess.run(
            [
                "java",
                "-cp",
                f"{self.libs}/*",
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(self.run_dir / "server.properties"),
                "--ignore-formatted",
            ],  # fmt: skip
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise ServiceError(f"kafka storage format failed: {detail[-1] if detail else result.returncode}")


def new_cluster_id() -> str:
    """A random Kafka cluster id: 16 bytes, URL-safe base64 without padding.

    Like Kafka's own ``Uuid.randomUuid``, an id starting with ``-`` is drawn again: the storage tool's
    argument parser reads ``-t -abc...`` as a missing value followed by an option (1 draw in 64).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _java_major(java: str) -> int | None:
    out = subprocess.run([java, "-version"], capture_output=True, text=True)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major
