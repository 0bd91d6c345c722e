"""Connection security for every Kafka and Redis client built from settings.

For the defaults (``PLAINTEXT`` Kafka, a plain ``redis://`` URL) the keyword helpers return nothing, so a
client built with them is exactly the client built without.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from mtl.settings import KafkaSettings, RedisSettings, Settings

if TYPE_CHECKING:
    import redis
    from faust.auth import Credentials


def _paths(section: KafkaSettings | RedisSettings, names: tuple[str, ...]) -> dict[str, str]:
    """The named file settings that are set, as strings (the clients want str, not Path)."""
    values: dict[str, Path | None] = {name: getattr(section, name) for name in names}
    return {name: str(path) for name, path in values.items() if path is not None}


def _sasl_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    # kafka-python and aiokafka spell the SASL arguments the same way.
    assert kafka.sasl_password is not None  # the settings validator guarantees it for SASL_*
    return {
        "sasl_mechanism": kafka.sasl_mechanism,
        "sasl_plain_username": kafka.sasl_username,
        "sasl_plain_password": kafka.sasl_password.get_secret_value(),
    }


def kafka_python_kwargs(settings: Settings) -> dict[str, Any]:
    """Security arguments for kafka-python's ``KafkaProducer``, ``KafkaConsumer`` and ``KafkaAdminClient``."""
    kafka = settings.kafka
    if kafka.security_protocol == "PLAINTEXT":
        return {}
    kwargs: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    if kafka.uses_sasl:
        kwargs.update(_sasl_kwargs(kafka))
    if kafka.uses_tls:
        kwargs["ssl_check_hostname"] = kafka.ssl_check_hostname
        kwargs.update(_paths(kafka, ("ssl_cafile", "ssl_certfile", "ssl_keyfile")))
    return kwargs


def kafka_ssl_context(settings: Settings) -> ssl.SSLContext:
    """The TLS context of aiokafka and Faust clients: CA file, client certificate and key, hostname check."""
    from aiokafka.helpers import create_ssl_context

    kafka = settings.kafka
    files = _paths(kafka, ("ssl_cafile", "ssl_certfile", "ssl_keyfile"))
    context = create_ssl_context(
        cafile=files.get("ssl_cafile"), certfile=files.get("ssl_certfile"), keyfile=files.get("ssl_keyfile")
    )
    context.check_hostname = kafka.ssl_check_hostname
    return context


def aiokafka_kwargs(settings: Settings) -> dict[str, Any]:
    """Security arguments for aiokafka's ``AIOKafkaProducer``, ``AIOKafkaConsumer`` and admin client."""
    kafka = settings.kafka
    if kafka.security_protocol == "PLAINTEXT":
        return {}
    kwargs: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    if kafka.uses_sasl:
        kwargs.update(_sasl_kwargs(kafka))
    if kafka.uses_tls:
        kwargs["ssl_context"] = kafka_ssl_context(settings)
    return kwargs


def faust_broker_credentials(settings: Settings) -> Credentials | None:
    """``broker_credentials`` for ``faust.App``: None for PLAINTEXT, else SASL or SSL credentials.

    Faust derives the protocol from the credentials: SASL with an SSL context is SASL_SSL.
    """
    kafka = settings.kafka
    if kafka.security_protocol == "PLAINTEXT":
        return None
    from faust.auth import SASLCredentials, SSLCredentials

    context = kafka_ssl_context(settings) if kafka.uses_tls else None
    if not kafka.uses_sasl:
        return SSLCredentials(context)
    assert kafka.sasl_password is not None  # the settings validator guarantees it for SASL_*
    return SASLCredentials(
        username=kafka.sasl_username,
        password=kafka.sasl_password.get_secret_value(),
        mechanism=kafka.sasl_mechanism,
        ssl_context=context,
    )


def redis_tls_kwargs(url: str, tls: RedisSettings) -> dict[str, str]:
    """redis-py ``ssl_*`` arguments for a ``rediss://`` URL; none for ``redis://`` (no TLS to configure)."""
    if urlparse(url).scheme != "rediss":
        return {}
    kwargs = _paths(tls, ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"))
    if tls.ssl_cert_reqs != "required":  # redis-py's default; leaving it out keeps the defaults untouched
        kwargs["ssl_cert_reqs"] = tls.ssl_cert_reqs
    return kwargs


def redis_client(settings: Settings, **kwargs: Any) -> redis.Redis:
    """``redis.Redis`` on ``redis_url`` with the TLS files of ``settings.redis``; ``kwargs`` go to redis-py.

    The URL carries the password and, as ``rediss://``, TLS itself.
    """
    import redis

    tls = redis_tls_kwargs(settings.redis_url, settings.redis)
    return redis.Redis.from_url(settings.redis_url, **{**tls, **kwargs})


def redacted_url(url: str) -> str:
    """``url`` without its password, for logs, /health and ``mtl config show``."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    if parsed.password is None:
        return url
    return parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)).geturl()
