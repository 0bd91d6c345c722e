"""Small Kafka helpers shared by the jobs: topic creation with explicit partition counts."""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from mtl.connections import kafka_python_kwargs
from mtl.errors import ServiceError
from mtl.settings import Settings, get_settings


def admin_client(bootstrap_servers: str, *, settings: Settings | None = None) -> KafkaAdminClient:
    """An admin client, or a one-line error naming the address when no broker answers.

    Connection security comes from ``settings.kafka`` (default: the process settings).
    """
    settings = settings or get_settings()
    security = kafka_python_kwargs(settings)
    try:
        return KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000, **security)
    except Exception as exc:  # noqa: BLE001 - kafka-python raises several unrelated types here
        hint = "run `mtl devstack up` or set KAFKA_BOOTSTRAP_SERVERS"
        if security:  # a refused handshake or login looks like a missing broker to kafka-python
            hint = f"check that it speaks {settings.kafka.security_protocol} and the kafka.* settings"
        raise ServiceError(
            f"no Kafka broker answers at {bootstrap_servers} ({type(exc).__name__}); {hint}"
        ) from None


def ensure_topics(
    bootstrap_servers: str,
    partitions: dict[str, int],
    *,
    replication_factor: int = 1,
    settings: Settings | None = None,
) -> list[str]:
    """Create the topics that do not exist yet (auto-creation is off); return those created."""
    admin = admin_client(bootstrap_servers, settings=settings)
    try:
        existing = set(admin.list_topics())
        missing = [name for name in partitions if name not in existing]
        if missing:
            try:
                admin.create_topics(
                    [
                        NewTopic(name=n, num_partitions=partitions[n], replication_factor=replication_factor)
                        for n in missing
                    ]
                )
            except TopicAlreadyExistsError:
                pass  # created concurrently by another worker: same outcome
        return missing
    finally:
        admin.close()
