"""A private dev stack (own run dir, own ports) survives ``down`` then ``up`` with its data."""

from __future__ import annotations

import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from mtl.devstack import DevStack
from mtl.devstack.process import free_port
from mtl.errors import ServiceError
from mtl.settings import load_settings


def _private_settings(tmp_path):
    return load_settings(
        run_dir=tmp_path / "run",
        devstack={
            "kafka_port": free_port(),
            "kafka_controller_port": free_port(),
            "redis_port": free_port(),
            "start_timeout_s": 120,
        },
    )


@pytest.mark.integration
@pytest.mark.slow
def test_down_then_up_keeps_data(tmp_path):
    stack = DevStack(_private_settings(tmp_path), environ={})
    try:
        addresses = stack.up()
        assert all(row.state == "healthy" for row in stack.status())
        assert stack.env_file.read_text().count("=") == 2

        bootstrap = addresses["KAFKA_BOOTSTRAP_SERVERS"]
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        admin.create_topics([NewTopic(name="survivor", num_partitions=2, replication_factor=1)])
        admin.close()
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        producer.send("survivor", b"kept").get(timeout=30)
        producer.close()
        redis.Redis.from_url(addresses["REDIS_URL"]).set("survivor", "kept")

        assert sorted(stack.down()) == ["kafka", "redis"]
        assert all(row.state == "stopped" for row in stack.status())
        assert not stack.env_file.exists()

        addresses = stack.up()
        assert all(row.state == "healthy" for row in stack.status())
        assert redis.Redis.from_url(addresses["REDIS_URL"]).get("survivor") == b"kept"
        consumer = KafkaConsumer(
            "survivor",
            bootstrap_servers=addresses["KAFKA_BOOTSTRAP_SERVERS"],
            auto_offset_reset="earliest",
            consumer_timeout_ms=10000,
        )
        assert [m.value for m in consumer] == [b"kept"]
        consumer.close()
    finally:
        stack.down()


@pytest.mark.integration
def test_external_addresses_start_nothing(tmp_path, services):
    environ = {"KAFKA_BOOTSTRAP_SERVERS": services.kafka_bootstrap_servers, "REDIS_URL": services.redis_url}
    stack = DevStack(_private_settings(tmp_path), environ=environ)
    assert stack.up() == environ
    assert [row.state for row in stack.status()] == ["external", "external"]
    assert all(svc.pid() is None for svc in stack.services)
    assert not stack.env_file.exists()  # nothing local, so no address file is (over)written


def test_missing_java_names_docker_compose(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    stack = DevStack(_private_settings(tmp_path), environ={})
    kafka = stack.services[0]
    with pytest.raises(ServiceError, match="java not found.*docker compose up"):
        kafka.check_tools()
    redis_service = stack.services[1]
    with pytest.raises(ServiceError, match="redis-server not found.*docker compose up"):
        redis_service.check_tools()


def test_port_in_use_is_one_line_error(tmp_path):
    import socket

    settings = _private_settings(tmp_path)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", settings.devstack.redis_port))
        holder.listen()
        stack = DevStack(settings, environ={})
        with pytest.raises(ServiceError, match=f"port {settings.devstack.redis_port}.*in use"):
            stack.services[1].start()
