"""Small Kafka helpers shared by the jobs: topic creation with explicit partition counts."""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from mtl.errors import ServiceError


def admin_client(bootstrap_servers: str) -> KafkaAdminClient:
    """An admin client, or a one-line error naming the address when no broker answers."""
    try:
        return KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000)
    except Exception as exc:  # noqa: BLE001 - kafka-python raises several unrelated types here
        raise ServiceError(
            f"no Kafka broker answers at {bootstrap_servers} ({type(exc).__name__}); "
            "run `mtl devstack up` or set KAFKA_BOOTSTRAP_SERVERS"
        ) from None


def ensure_topics(
    bootstrap_servers: str, partitions: dict[str, int], *, replication_factor: int = 1
) -> list[str]:
    """Create the topics that do not exist yet (auto-creation is off); return those created."""
    admin = admin_client(bootstrap_servers)
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
