"""Connection security: the client arguments built for each Kafka protocol and Redis TLS, the one-line
config errors, and real clients (dev-stack Kafka in PLAINTEXT, a TLS-only Redis started here)."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from click.testing import CliRunner

from mtl.cli import main
from mtl.connections import (
    aiokafka_kwargs,
    faust_broker_credentials,
    kafka_python_kwargs,
    redis_client,
    redis_tls_kwargs,
)
from mtl.devstack.process import free_port, port_in_use
from mtl.errors import ConfigError
from mtl.features.store import redis_connection_string
from mtl.settings import Settings, load_settings

REDIS_PASSWORD = "tls-s3cret"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed certificate for 127.0.0.1: the CA, the server's and the client's certificate at once."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    out = tmp_path_factory.mktemp("tls")
    cert, key = out / "cert.pem", out / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return {"cert": cert, "key": key}


def _kafka(tls_files: dict[str, Path] | None = None, **kafka: Any) -> Settings:
    if tls_files is not None:
        kafka |= {"ssl_cafile": tls_files["cert"], "ssl_certfile": tls_files["cert"]}
        kafka |= {"ssl_keyfile": tls_files["key"]}
    return load_settings(kafka=kafka)


SASL = {"sasl_username": "alice", "sasl_password": "pw"}


# --- Kafka arguments, no broker needed ---


def test_plaintext_adds_nothing():
    settings = load_settings(redis_url="redis://127.0.0.1:6379/0")
    assert settings.kafka.security_protocol == "PLAINTEXT"
    assert kafka_python_kwargs(settings) == {} and aiokafka_kwargs(settings) == {}
    assert faust_broker_credentials(settings) is None
    assert redis_tls_kwargs(settings.redis_url, settings.redis) == {}


def test_sasl_plaintext():
    settings = _kafka(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256", **SASL)
    expected = {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "alice",
        "sasl_plain_password": "pw",
    }
    assert kafka_python_kwargs(settings) == expected
    assert aiokafka_kwargs(settings) == expected
    creds = faust_broker_credentials(settings)
    assert type(creds).__name__ == "SASLCredentials" and creds.ssl_context is None
    assert (creds.protocol.value, creds.mechanism.value) == ("SASL_PLAINTEXT", "SCRAM-SHA-256")
    assert (creds.username, creds.password) == ("alice", "pw")


def test_ssl_with_client_certificate(tls_files):
    settings = _kafka(tls_files, security_protocol="SSL", ssl_check_hostname=False)
    assert kafka_python_kwargs(settings) == {
        "security_protocol": "SSL",
        "ssl_check_hostname": False,
        "ssl_cafile": str(tls_files["cert"]),
        "ssl_certfile": str(tls_files["cert"]),
        "ssl_keyfile": str(tls_files["key"]),
    }
    kwargs = aiokafka_kwargs(settings)
    assert set(kwargs) == {"security_protocol", "ssl_context"} and kwargs["security_protocol"] == "SSL"
    context = kwargs["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and not context.check_hostname
    assert len(context.get_ca_certs()) == 1  # our CA, not the system bundle
    creds = faust_broker_credentials(settings)
    assert type(creds).__name__ == "SSLCredentials" and creds.protocol.value == "SSL"
    assert creds.context.get_ca_certs() == context.get_ca_certs()


def test_sasl_ssl(tls_files):
    settings = load_settings(
        kafka={
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "ssl_cafile": tls_files["cert"],
        }
        | SASL
    )
    py = kafka_python_kwargs(settings)
    assert py["security_protocol"] == "SASL_SSL" and py["sasl_mechanism"] == "SCRAM-SHA-512"
    assert py["ssl_cafile"] == str(tls_files["cert"]) and py["ssl_check_hostname"] is True
    assert "ssl_certfile" not in py and "ssl_keyfile" not in py
    aio = aiokafka_kwargs(settings)
    assert aio["ssl_context"].check_hostname and aio["sasl_plain_password"] == "pw"
    creds = faust_broker_credentials(settings)
    assert type(creds).__name__ == "SASLCredentials" and creds.protocol.value == "SASL_SSL"
    assert creds.ssl_context is not None and creds.mechanism.value == "SCRAM-SHA-512"

    # What Faust hands aiokafka for these credentials is what aiokafka_kwargs gives our own clients.
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    faust_side = dict(credentials_to_aiokafka_auth(creds))
    assert faust_side.pop("ssl_context") is creds.ssl_context
    assert faust_side == {k: v for k, v in aio.items() if k != "ssl_context"}


def test_client_libraries_accept_the_arguments(tls_files):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    settings = load_settings(
        kafka={
            "security_protocol": "SASL_SSL",
            "ssl_cafile": tls_files["cert"],
            "ssl_certfile": tls_files["cert"],
        }
        | {"ssl_keyfile": tls_files["key"]}
        | SASL
    )
    for cls in (KafkaProducer, KafkaConsumer, KafkaAdminClient):
        assert set(kafka_python_kwargs(settings)) <= set(cls.DEFAULT_CONFIG), cls

    async def build() -> None:  # construction validates the configuration without connecting
        for cls in (AIOKafkaProducer, AIOKafkaConsumer):
            cls(bootstrap_servers="127.0.0.1:1", **aiokafka_kwargs(settings))

    asyncio.run(build())


def test_admin_client_and_replay_pass_the_security_on(monkeypatch, tmp_path):
    import kafka

    import mtl.kafka
    from streams.replay import replay
    from topic_learning.data import SyntheticConfig, generate

    calls: list[dict[str, Any]] = []

    class Recorder:
        """Stands in for kafka-python's admin client and producer: records how it was built."""

        def __init__(self, **kwargs: Any) -> None:
            calls.append(kwargs)

        def list_topics(self) -> list[str]:
            return ["events"]

        def send(self, *args: Any, **kwargs: Any) -> None:
            pass

        def flush(self) -> None:
            pass

        def close(self) -> None:
            pass

    settings = _kafka(security_protocol="SASL_PLAINTEXT", **SASL)
    monkeypatch.setattr(mtl.kafka, "KafkaAdminClient", Recorder)
    monkeypatch.setattr(kafka, "KafkaProducer", Recorder)
    assert mtl.kafka.ensure_topics("b:1", {"events": 1}, settings=settings) == []
    assert calls[-1]["sasl_plain_password"] == "pw" and calls[-1]["request_timeout_ms"] == 10000
    data = generate(
        SyntheticConfig(n_videos=10, n_users=5, n_days=1, n_exposures=20, covers=False, seed=0),
        tmp_path / "corpus",
        progress=False,
    )
    replay(data, bootstrap_servers="b:1", topic="events", progress=False, settings=settings)
    admin, producer = calls[-2:]  # replay creates its topic first
    assert admin["security_protocol"] == producer["security_protocol"] == "SASL_PLAINTEXT"
    assert producer["sasl_plain_username"] == "alice" and producer["acks"] == "all"

    # Without settings, the process settings apply: PLAINTEXT by default, the call of old.
    monkeypatch.delenv("MTL_CONFIG", raising=False)
    mtl.kafka.admin_client("b:1")
    assert calls[-1] == {"bootstrap_servers": "b:1", "request_timeout_ms": 10000}


def test_environment_variables_configure_kafka(monkeypatch):
    monkeypatch.setenv("MTL_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("MTL_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("MTL_KAFKA__SASL_USERNAME", "bob")
    monkeypatch.setenv("MTL_KAFKA__SASL_PASSWORD", "hunter2")
    settings = load_settings()
    assert kafka_python_kwargs(settings)["sasl_plain_username"] == "bob"
    assert "hunter2" not in repr(settings)  # a SecretStr: never in logs or reprs


# --- Redis arguments ---


def test_redis_tls_arguments_and_feast_connection_string(tls_files):
    url = "rediss://:pw@cache:6380/1"
    settings = load_settings(
        redis_url=url,
        redis={
            "ssl_ca_certs": tls_files["cert"],
            "ssl_certfile": tls_files["cert"],
            "ssl_keyfile": tls_files["key"],
        },
    )
    files = {
        "ssl_ca_certs": str(tls_files["cert"]),
        "ssl_certfile": str(tls_files["cert"]),
        "ssl_keyfile": str(tls_files["key"]),
    }
    assert redis_tls_kwargs(url, settings.redis) == files
    client = redis_client(settings, socket_timeout=3)
    pool = client.connection_pool
    assert pool.connection_class is redis.SSLConnection
    assert {k: pool.connection_kwargs[k] for k in files} == files
    assert pool.connection_kwargs["socket_timeout"] == 3 and pool.connection_kwargs["password"] == "pw"

    # Feast hands every connection-string option to redis.Redis: the same arguments must come back out.
    from feast.infra.online_stores.redis import RedisOnlineStore

    unverified = settings.redis.model_copy(update={"ssl_cert_reqs": "none"})
    text = redis_connection_string(url, unverified)
    nodes, params = RedisOnlineStore._parse_connection_string(text)
    assert nodes == [{"host": "cache", "port": "6380"}]
    assert params == {"db": 1, "password": "pw", "ssl": True, **files, "ssl_cert_reqs": "none"}
    assert redis_connection_string(url) == "cache:6380,db=1,password=pw,ssl=true"  # as before
    with pytest.raises(ConfigError, match="cannot contain ','"):
        redis_connection_string(url, unverified.model_copy(update={"ssl_ca_certs": Path("/a,b.pem")}))


def test_plain_redis_url_keeps_its_client():
    settings = load_settings(redis_url="redis://:pw@cache:6379/0")
    pool = redis_client(settings).connection_pool
    assert pool.connection_class is redis.Connection
    assert not any(k.startswith("ssl") for k in pool.connection_kwargs)
    assert redis_connection_string(settings.redis_url, settings.redis) == "cache:6379,db=0,password=pw"


# --- one-line configuration errors ---


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"kafka": {"security_protocol": "SASL_SSL"}},
            "invalid setting kafka: security_protocol SASL_SSL needs sasl_username and sasl_password",
        ),
        (
            {"kafka": {"security_protocol": "SASL_PLAINTEXT", "sasl_username": "u"}},
            "invalid setting kafka: security_protocol SASL_PLAINTEXT needs sasl_username and sasl_password",
        ),
        (
            {"kafka": {"security_protocol": "SSL", "ssl_cafile": "/no/such/ca.pem"}},
            "invalid setting kafka.ssl_cafile: file not found: /no/such/ca.pem",
        ),
        (
            {"kafka": {"ssl_keyfile": "/etc/hostname"}},
            "invalid setting kafka: ssl_keyfile set but PLAINTEXT has no TLS; use SSL or SASL_SSL",
        ),
        (
            {"kafka": {"sasl_mechanism": "GSSAPI"}},
            "invalid setting kafka.sasl_mechanism: Input should be 'PLAIN', 'SCRAM-SHA-256' or "
            "'SCRAM-SHA-512'",
        ),
        (
            {"redis_url": "rediss://h:1/0", "redis": {"ssl_certfile": "/no/such/cert.pem"}},
            "invalid setting redis.ssl_certfile: file not found: /no/such/cert.pem",
        ),
        (
            {"redis_url": "redis://h:1/0", "redis": {"ssl_ca_certs": "/etc/hostname"}},
            "invalid settings: redis.ssl_ca_certs set but redis_url is not rediss://",
        ),
    ],
)
def test_bad_security_settings_are_one_line(overrides, message):
    with pytest.raises(ConfigError) as info:
        load_settings(**overrides)
    assert str(info.value) == message


def test_cli_reports_missing_sasl_credentials_in_one_line(monkeypatch):
    monkeypatch.delenv("MTL_CONFIG", raising=False)
    monkeypatch.setenv("MTL_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("MTL_KAFKA__SASL_USERNAME", "alice")
    result = CliRunner().invoke(main, ["features", "env"])
    assert result.exit_code == 1
    assert result.output == (
        "error: invalid setting kafka: security_protocol SASL_SSL needs sasl_username and sasl_password\n"
    )


# --- real clients ---


@pytest.mark.integration
def test_explicit_plaintext_settings_against_the_dev_stack(services, unique_name, kafka_admin, tmp_path):
    from kafka import KafkaConsumer

    from mtl.kafka import ensure_topics
    from streams.replay import replay
    from topic_learning.data import SyntheticConfig, generate

    settings = load_settings(kafka={"security_protocol": "PLAINTEXT"})
    bootstrap = services.kafka_bootstrap_servers
    kafka_admin.created_topics.append(unique_name)
    assert ensure_topics(bootstrap, {unique_name: 2}, settings=settings) == [unique_name]
    assert ensure_topics(bootstrap, {unique_name: 2}, settings=settings) == []

    data = generate(
        SyntheticConfig(n_videos=20, n_users=10, n_days=1, n_exposures=200, covers=False, seed=1),
        tmp_path / "corpus",
        progress=False,
    )
    out = replay(data, bootstrap_servers=bootstrap, topic=unique_name, progress=False, settings=settings)
    assert out["events"] > 200

    consumer = KafkaConsumer(
        unique_name,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        consumer_timeout_ms=2000,
        **kafka_python_kwargs(settings),
    )
    got, deadline = 0, time.monotonic() + 30
    try:
        while got < out["events"] and time.monotonic() < deadline:
            got += sum(1 for _ in consumer)
    finally:
        consumer.close()
    assert got == out["events"]


@pytest.fixture
def tls_redis(tmp_path: Path, tls_files: dict[str, Path]) -> Iterator[str]:
    """A redis-server that speaks only TLS and wants a password and a client certificate; its URL."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    cert, key = str(tls_files["cert"]), str(tls_files["key"])
    cmd = [
        "redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
        "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", cert,
        "--tls-auth-clients", "yes",
        "--requirepass", REDIS_PASSWORD, "--save", "", "--appendonly", "no", "--dir", str(tmp_path),
    ]  # fmt: skip
    log = tmp_path / "redis.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not port_in_use(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"redis-server with TLS did not start: {log.read_text()[-300:]}")
            time.sleep(0.05)
        yield f"rediss://:{REDIS_PASSWORD}@127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.integration
def test_redis_client_over_tls_with_client_certificate(tls_redis, tls_files):
    cert, key = tls_files["cert"], tls_files["key"]

    def client(**tls: Any) -> redis.Redis:
        return redis_client(load_settings(redis_url=tls_redis, redis=tls), socket_timeout=5)

    assert client(ssl_ca_certs=cert, ssl_certfile=cert, ssl_keyfile=key).ping()
    assert client(ssl_cert_reqs="none", ssl_certfile=cert, ssl_keyfile=key).ping()  # encrypted, unverified
    with pytest.raises(redis.ConnectionError):  # no client certificate: the server hangs up
        client(ssl_ca_certs=cert).ping()
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        client(ssl_certfile=cert, ssl_keyfile=key).ping()  # the system CAs do not know ours


@pytest.mark.integration
def test_feast_and_the_fast_fetch_over_tls(tls_redis, tls_files, tmp_path, monkeypatch):
    from benchmarks.features import random_topics
    from mtl.features import CandidateFetcher, apply_repo, open_store, push_video_topics
    from mtl.features.store import REDIS_ENV_VAR, copy_repo

    monkeypatch.setenv(REDIS_ENV_VAR, "")  # open_store sets it; restored after the test
    monkeypatch.setenv("REDIS_URL", tls_redis)
    monkeypatch.setenv("MTL_REDIS__SSL_CA_CERTS", str(tls_files["cert"]))
    monkeypatch.setenv("MTL_REDIS__SSL_CERTFILE", str(tls_files["cert"]))
    monkeypatch.setenv("MTL_REDIS__SSL_KEYFILE", str(tls_files["key"]))
    store = open_store(copy_repo(tmp_path / "repo", f"t_{uuid.uuid4().hex[:10]}"))
    apply_repo(store)
    topics = random_topics(4, version="tls").to_pandas()
    push_video_topics(topics, store=store)  # Feast's own redis-py client
    fetcher = CandidateFetcher(store)  # the raw TLS socket
    try:
        got = fetcher.fetch(np.array([0, 1, 2, 3, 42]), user_id=1)
    finally:
        fetcher.close()
    assert got.topics_found.tolist() == [True] * 4 + [False]
    np.testing.assert_array_equal(got.topic_ids[:4], np.stack(topics["topic_ids"]))
